"""DPO and its variants, exactly; and the enumerable language model summed response by response. (The note below covers its chapter's other oracle modules too.)

Exact answers for the preference-learning chapter: reward-model and DPO-family losses with
their gradients, the reward a preference distribution identifies, and KL estimators.

Method, independent of ``rlspec.reference``: every input float is converted *exactly* to a
rational (``fractions.Fraction``), differences such as the DPO log-ratio difference h are
formed exactly, and the transcendental functions (log, exp, sigmoid) are evaluated with
mpmath at ``DIGITS`` significant digits, then rounded once to float64.  Gradients come from
closed-form derivatives written out here (checked against sympy's differentiation and
against torch autograd in ``tests/test_dpo.py``, ``tests/test_reward_model.py`` and
``tests/test_kl_estimators.py``), not from autograd.

Accuracy: with 50 digits, every returned value is the correctly rounded float64 of the
exact value up to one unit in the last place; no cancellation can reach float64 precision
because the only subtraction of inputs is exact.  A candidate in float64 differs from this
by its own rounding: for the DPO loss at most a few ulps of max(|log-probs|) * beta in h,
far inside the checks' relative tolerance of 1e-6.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
from rlspec import validation
from rlspec.oracles.methods.conversions import fraction_list
from rlspec.oracles.methods.high_precision import log_sigmoid, mpf, sigmoid
from rlspec.oracles.reward_model import checked_pair_weights
from rlspec.toy_mdps.language_model import LanguageModel
from rlspec.validation import InvalidInputError

__all__ = [
    "preference_loss_and_gradient",
    "dpo_population_gradient",
    "implicit_reward_exact",
    "sequence_log_probs",
    "response_log_probs_by_tree",
    "kl_between_models",
    "kl_between_models_by_chain_rule",
    "optimal_policy_by_soft_bellman",
]


#: Significant decimal digits of the mpmath evaluations.
DIGITS = 50


VARIANTS = ("dpo", "ipo", "hinge")


def preference_loss_and_gradient(policy_chosen_logps, policy_rejected_logps,
                                 reference_chosen_logps, reference_rejected_logps, beta,
                                 variant: str = "dpo", label_smoothing: float = 0.0):
    r"""``(loss, grad_chosen[N], grad_rejected[N], kinks[N])`` for the DPO family, the loss
    being the mean over pairs and the gradient taken with respect to the *policy's*
    log-probabilities.  With h exact and z = beta h:

    ========  =========================================  ==================================
    variant   per-pair loss                              d loss / d h
    ========  =========================================  ==================================
    dpo       -(1-eps) log sigma(z) - eps log sigma(-z)  beta (-(1-eps) sigma(-z) + eps sigma(z))
    ipo       (h - 1 / (2 beta))^2                       2 (h - 1 / (2 beta))
    hinge     max(0, 1 - z)                              -beta if z < 1, 0 if z > 1
    ========  =========================================  ==================================

    and d h / d log pi(y_w) = 1, d h / d log pi(y_l) = -1.  ``kinks[n]`` is True where the
    hinge has z = 1 exactly: there any subgradient in [-beta, 0] / N is right, and the
    gradient entry returned is NaN.
    """
    if variant not in VARIANTS:
        raise InvalidInputError(f"variant must be one of {VARIANTS}, got {variant!r}")
    columns = [fraction_list(v, f"{name}[N]") for v, name in (
        (policy_chosen_logps, "policy_chosen_logps"), (policy_rejected_logps, "policy_rejected_logps"),
        (reference_chosen_logps, "reference_chosen_logps"),
        (reference_rejected_logps, "reference_rejected_logps"))]
    n = len(columns[0])
    if n == 0 or any(len(column) != n for column in columns):
        raise InvalidInputError("the four log-probability vectors must have the same, non-zero length")
    beta_exact = Fraction(float(beta))
    if not beta_exact > 0:
        raise InvalidInputError(f"beta must be positive, got {beta!r}")
    epsilon = Fraction(float(label_smoothing))
    losses, slopes, kinks = [], [], []
    with mpmath.workdps(DIGITS):
        for a, b, c, d in zip(*columns):
            h = (a - c) - (b - d)                      # exact
            z = beta_exact * h                         # exact
            kinks.append(variant == "hinge" and z == 1)
            if variant == "dpo":
                zm = mpf(z)
                losses.append(-(1 - mpf(epsilon)) * log_sigmoid(zm) - mpf(epsilon) * log_sigmoid(-zm))
                slopes.append(mpf(beta_exact) * (-(1 - mpf(epsilon)) * sigmoid(-zm)
                                                  + mpf(epsilon) * sigmoid(zm)))
            elif variant == "ipo":
                gap = h - 1 / (2 * beta_exact)         # exact
                losses.append(mpf(gap * gap))
                slopes.append(mpf(2 * gap))
            else:
                losses.append(mpf(max(Fraction(0), 1 - z)))
                slopes.append(mpf(-beta_exact) if z < 1 else mpmath.mpf(0))
        loss = float(mpmath.fsum(losses) / n)
        grad_chosen = np.array([float(s / n) for s in slopes])
    grad_rejected = -grad_chosen
    kinks = np.array(kinks, dtype=bool)
    grad_chosen[kinks] = np.nan
    grad_rejected[kinks] = np.nan
    return loss, grad_chosen, grad_rejected, kinks


def dpo_population_gradient(policy_logits, reference_log_probs, pair_weights, beta) -> np.ndarray:
    r"""The exact gradient of the DPO population loss (``rlspec.reference.dpo.dpo_population_loss``)
    with respect to response-level logits theta, pi(. | x) = softmax(theta[x]):

    .. math:: \frac{\partial\mathcal L}{\partial\theta_{xk}} = \beta\Big(g_{xk} - \pi(y_k|x)\sum_i g_{xi}\Big),
              \qquad g = \nabla_{\hat r} L(\hat r) \text{ at } \hat r = \beta\log\frac{\pi}{\pi_{\rm ref}}

    (chain rule through d log pi(y_i) / d theta_k = 1[i = k] - pi(y_k)).  Zero at the
    KL-regularised optimum pi* under Bradley-Terry weights (``dpo.population-minimiser``).
    """
    weights = checked_pair_weights(pair_weights)
    theta = validation.as_float_array(policy_logits, "policy_logits[prompt, response]", ndim=2)
    reference = validation.as_float_array(reference_log_probs, "reference_log_probs[prompt, response]", ndim=2)
    validation.check_shape(theta, weights.shape[:2], "policy_logits")
    validation.check_shape(reference, theta.shape, "reference_log_probs")
    n_prompts, n_responses = theta.shape
    out = np.zeros_like(theta)
    with mpmath.workdps(DIGITS):
        b = mpmath.mpf(float(beta))
        for x in range(n_prompts):
            row = [mpmath.mpf(float(v)) for v in theta[x]]
            log_z = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))
            log_pi = [v - log_z for v in row]
            implicit = [b * (log_pi[i] - mpmath.mpf(float(reference[x, i]))) for i in range(n_responses)]
            g = [mpmath.fsum(-mpmath.mpf(float(weights[x, k, j])) * sigmoid(implicit[j] - implicit[k])
                             + mpmath.mpf(float(weights[x, j, k])) * sigmoid(implicit[k] - implicit[j])
                             for j in range(n_responses)) for k in range(n_responses)]
            total = mpmath.fsum(g)
            for k in range(n_responses):
                out[x, k] = float(b * (g[k] - mpmath.exp(log_pi[k]) * total))
    return out


def implicit_reward_exact(policy_log_probs, reference_log_probs, beta) -> np.ndarray:
    """``beta * (log pi(y|x) - log pi_ref(y|x))`` per response, formed in exact rationals and
    rounded once."""
    policy = fraction_list(policy_log_probs, "policy_log_probs[N]")
    reference = fraction_list(reference_log_probs, "reference_log_probs[N]")
    if len(policy) != len(reference):
        raise InvalidInputError("policy_log_probs and reference_log_probs must have the same length")
    b = Fraction(float(beta))
    return np.array([float(b * (p - q)) for p, q in zip(policy, reference)])


DIGITS = 50


def _softmax(row) -> list:
    values = [mpmath.mpf(float(v)) for v in row]
    total = mpmath.fsum(mpmath.exp(v) for v in values)
    return [mpmath.exp(v) / total for v in values]


def sequence_log_probs(logits, tokens, mask) -> np.ndarray:
    r"""``log prod_{t: mask[n, t] = 1} softmax(logits[n, t])[tokens[n, t]]`` for each row n.

    ``logits[n, t]`` is the next-token distribution from which ``tokens[n, t]`` was drawn
    (aligned: no shift), ``mask[n, t]`` is 1 on the response's tokens, 0 on padding.
    """
    table = validation.as_float_array(logits, "logits[N, L, V]", ndim=3)
    tokens = np.asarray(tokens)
    mask = validation.as_float_array(mask, "mask[N, L]", ndim=2)
    validation.check_shape(tokens, table.shape[:2], "tokens")
    validation.check_shape(mask, table.shape[:2], "mask")
    out = np.zeros(table.shape[0])
    with mpmath.workdps(DIGITS):
        for n in range(table.shape[0]):
            product = mpmath.mpf(1)
            for t in range(table.shape[1]):
                if mask[n, t] == 1:
                    product *= _softmax(table[n, t])[int(tokens[n, t])]
                elif mask[n, t] != 0:
                    raise InvalidInputError("mask must hold only 0 and 1")
            out[n] = float(mpmath.log(product))
    return out


def _prefix_probabilities(model: LanguageModel, prompt: int) -> dict:
    """Probability of reaching each prefix, and each prefix's next-token distribution."""
    reach = {(): mpmath.mpf(1)}
    step = {}
    for p, prefix in enumerate(model.prefixes):   # parents come before children
        step[prefix] = _softmax(model.logits[prompt, p])
        for token in range(1, model.vocabulary_size):
            child = prefix + (token,)
            if len(child) < model.max_length:
                reach[child] = reach[prefix] * step[prefix][token]
    return {"reach": reach, "step": step}


def response_log_probs_by_tree(model: LanguageModel) -> np.ndarray:
    """``log pi(y | x)`` for every prompt and response, ``[prompt, response]``, computed by
    propagating prefix probabilities forward through the prefix tree."""
    out = np.zeros((model.n_prompts, model.n_responses))
    with mpmath.workdps(DIGITS):
        for x in range(model.n_prompts):
            tree = _prefix_probabilities(model, x)
            for i, response in enumerate(model.responses):
                prefix, last = response[:-1], response[-1]
                out[x, i] = float(mpmath.log(tree["reach"][prefix] * tree["step"][prefix][last]))
    return out


def _check_same_shape(policy: LanguageModel, reference: LanguageModel) -> None:
    if policy.logits.shape != reference.logits.shape or policy.max_length != reference.max_length:
        raise InvalidInputError(
            f"the two models must have the same shape, got {policy!r} and {reference!r}")


def kl_between_models(policy: LanguageModel, reference: LanguageModel) -> np.ndarray:
    r"""``KL(pi(.|x) || pi_ref(.|x)) = sum_y pi(y|x) log(pi(y|x) / pi_ref(y|x))`` over whole
    responses, one value per prompt, by enumerating every response."""
    _check_same_shape(policy, reference)
    out = np.zeros(policy.n_prompts)
    with mpmath.workdps(DIGITS):
        for x in range(policy.n_prompts):
            p_tree, q_tree = _prefix_probabilities(policy, x), _prefix_probabilities(reference, x)
            terms = []
            for response in policy.responses:
                prefix, last = response[:-1], response[-1]
                p = p_tree["reach"][prefix] * p_tree["step"][prefix][last]
                q = q_tree["reach"][prefix] * q_tree["step"][prefix][last]
                terms.append(p * mpmath.log(p / q))
            out[x] = float(mpmath.fsum(terms))
    return out


def kl_between_models_by_chain_rule(policy: LanguageModel, reference: LanguageModel) -> np.ndarray:
    r"""The same KL by the chain rule: ``sum_prefix P_pi(reach prefix | x) *
    KL(pi(.|x, prefix) || pi_ref(.|x, prefix))``, the token-level KLs weighted by how often
    the policy reaches each prefix."""
    _check_same_shape(policy, reference)
    out = np.zeros(policy.n_prompts)
    with mpmath.workdps(DIGITS):
        for x in range(policy.n_prompts):
            p_tree, q_tree = _prefix_probabilities(policy, x), _prefix_probabilities(reference, x)
            terms = []
            for prefix in policy.prefixes:
                p, q = p_tree["step"][prefix], q_tree["step"][prefix]
                token_kl = mpmath.fsum(a * mpmath.log(a / b) for a, b in zip(p, q))
                terms.append(p_tree["reach"][prefix] * token_kl)
            out[x] = float(mpmath.fsum(terms))
    return out


def optimal_policy_by_soft_bellman(reference: LanguageModel, rewards, beta
                                   ) -> tuple[np.ndarray, np.ndarray]:
    r"""``(pi*[prompt, response], log Z[prompt])``: the maximiser of
    E_pi[r] - beta KL(pi || pi_ref) over response distributions, by a backward recursion on
    the prefix tree (soft value iteration of the token-level MDP with reward r at the end):

    .. math:: V(y) = r(x, y) \text{ for a complete response } y, \qquad
              V(p) = \beta \log \sum_v \pi_{\rm ref}(v|x,p)\, e^{V(p+v)/\beta},

    .. math:: \pi^*(v|x,p) = \pi_{\rm ref}(v|x,p)\, e^{(V(p+v) - V(p))/\beta}

    and ``beta log Z(x) = V(())``.  Multiplying the token-level probabilities along a
    response telescopes to pi_ref(y|x) e^{(r(x,y) - V(()))/beta}, the response-level closed
    form, which the reference computes directly.
    """
    rewards = validation.as_float_array(rewards, "rewards[prompt, response]", ndim=2)
    validation.check_shape(rewards, (reference.n_prompts, reference.n_responses), "rewards")
    beta = float(beta)
    if not beta > 0:
        raise InvalidInputError(f"beta must be positive, got {beta!r}")
    probabilities = np.zeros((reference.n_prompts, reference.n_responses))
    log_partition = np.zeros(reference.n_prompts)
    with mpmath.workdps(DIGITS):
        b = mpmath.mpf(beta)
        for x in range(reference.n_prompts):
            step = {prefix: _softmax(reference.logits[x, p])
                    for p, prefix in enumerate(reference.prefixes)}
            value = {response: mpmath.mpf(float(rewards[x, i]))
                     for i, response in enumerate(reference.responses)}
            for prefix in reversed(reference.prefixes):   # children before parents
                children = [prefix + (v,) for v in range(reference.vocabulary_size)]
                value[prefix] = b * mpmath.log(mpmath.fsum(
                    step[prefix][v] * mpmath.exp(value[child] / b)
                    for v, child in enumerate(children)))
            for i, response in enumerate(reference.responses):
                probability = mpmath.mpf(1)
                for t, token in enumerate(response):
                    prefix = response[:t]
                    probability *= step[prefix][token] * mpmath.exp(
                        (value[prefix + (token,)] - value[prefix]) / b)
                probabilities[x, i] = float(probability)
            log_partition[x] = float(value[()] / b)
    return probabilities, log_partition
