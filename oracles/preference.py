"""Exact answers for the preference-learning chapter: reward-model and DPO-family losses with
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
from rlspec.validation import InvalidInputError

__all__ = [
    "bradley_terry_loss_and_gradient", "preference_loss_and_gradient",
    "reward_from_pair_weights", "population_loss_gradient", "dpo_population_gradient",
    "kl_estimates_and_slopes", "categorical_kl", "estimator_loss_gradient_closed_form",
    "implicit_reward_exact",
]

#: Significant decimal digits of the mpmath evaluations.
DIGITS = 50

VARIANTS = ("dpo", "ipo", "hinge")


def _fractions(values, name: str) -> list[Fraction]:
    array = validation.as_float_array(values, name, ndim=1)
    return [Fraction(float(v)) for v in array]


def _mpf(value: Fraction) -> mpmath.mpf:
    return mpmath.mpf(value.numerator) / value.denominator


def _log_sigmoid(z: mpmath.mpf) -> mpmath.mpf:
    """log sigma(z) = -log(1 + e^-z); mpmath has no overflow, so the plain form is exact."""
    return -mpmath.log1p(mpmath.exp(-z))


def _sigmoid(z: mpmath.mpf) -> mpmath.mpf:
    return 1 / (1 + mpmath.exp(-z))


# ---------------------------------------------------------------- pairwise losses

def bradley_terry_loss_and_gradient(chosen_rewards, rejected_rewards
                                    ) -> tuple[float, np.ndarray, np.ndarray]:
    """``(loss, d loss / d chosen_rewards, d loss / d rejected_rewards)`` of the mean
    Bradley-Terry negative log-likelihood ``mean_n -log sigma(r_w - r_l)``:
    d/d r_w = -sigma(r_l - r_w) / N and d/d r_l = +sigma(r_l - r_w) / N."""
    chosen = _fractions(chosen_rewards, "chosen_rewards[N]")
    rejected = _fractions(rejected_rewards, "rejected_rewards[N]")
    if len(chosen) != len(rejected) or not chosen:
        raise InvalidInputError("chosen_rewards and rejected_rewards must have the same, "
                                "non-zero length")
    n = len(chosen)
    with mpmath.workdps(DIGITS):
        margins = [_mpf(w - l) for w, l in zip(chosen, rejected)]
        loss = -mpmath.fsum(_log_sigmoid(z) for z in margins) / n
        pulls = [_sigmoid(-z) / n for z in margins]
        return (float(loss), np.array([-float(p) for p in pulls]),
                np.array([float(p) for p in pulls]))


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
    columns = [_fractions(v, f"{name}[N]") for v, name in (
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
                zm = _mpf(z)
                losses.append(-(1 - _mpf(epsilon)) * _log_sigmoid(zm) - _mpf(epsilon) * _log_sigmoid(-zm))
                slopes.append(_mpf(beta_exact) * (-(1 - _mpf(epsilon)) * _sigmoid(-zm)
                                                  + _mpf(epsilon) * _sigmoid(zm)))
            elif variant == "ipo":
                gap = h - 1 / (2 * beta_exact)         # exact
                losses.append(_mpf(gap * gap))
                slopes.append(_mpf(2 * gap))
            else:
                losses.append(_mpf(max(Fraction(0), 1 - z)))
                slopes.append(_mpf(-beta_exact) if z < 1 else mpmath.mpf(0))
        loss = float(mpmath.fsum(losses) / n)
        grad_chosen = np.array([float(s / n) for s in slopes])
    grad_rejected = -grad_chosen
    kinks = np.array(kinks, dtype=bool)
    grad_chosen[kinks] = np.nan
    grad_rejected[kinks] = np.nan
    return loss, grad_chosen, grad_rejected, kinks


# ---------------------------------------------------------------- population identities

def _pair_weights(pair_weights) -> np.ndarray:
    weights = validation.as_float_array(pair_weights, "pair_weights[prompt, i, j]", ndim=3)
    if weights.shape[1] != weights.shape[2]:
        raise InvalidInputError(f"pair_weights must be [prompt, winner, loser], got {weights.shape}")
    if (weights < 0).any():
        raise InvalidInputError("pair_weights must be non-negative")
    return weights


def reward_from_pair_weights(pair_weights) -> np.ndarray:
    r"""The reward a Bradley-Terry preference distribution identifies, in closed form:

    .. math:: r(x, y_i) - r(x, y_0) = \log\frac{w_{x i 0}}{w_{x 0 i}}

    because w_xij / w_xji = sigma(r_i - r_j) / sigma(r_j - r_i) = exp(r_i - r_j) (the
    sampling weights of the pair cancel).  Normalised by r[x, 0] = 0.  Needs every response
    compared with response 0 in both orders (w_xi0, w_x0i > 0), which holds when the pairs
    are sampled from a reference model with full support.  Evaluated at 50 digits.
    """
    weights = _pair_weights(pair_weights)
    n_prompts, n_responses, _ = weights.shape
    rewards = np.zeros((n_prompts, n_responses))
    with mpmath.workdps(DIGITS):
        for x in range(n_prompts):
            for i in range(1, n_responses):
                if weights[x, i, 0] <= 0 or weights[x, 0, i] <= 0:
                    raise InvalidInputError(
                        f"prompt {x}: response {i} is never compared with response 0 in both "
                        f"orders, so the log-odds identity cannot be used")
                rewards[x, i] = float(mpmath.log(mpmath.mpf(float(weights[x, i, 0])))
                                      - mpmath.log(mpmath.mpf(float(weights[x, 0, i]))))
    return rewards


def population_loss_gradient(rewards, pair_weights) -> np.ndarray:
    r"""The exact gradient of the population loss
    ``L(r) = sum_{x,i,j} w_xij (-log sigma(r_xi - r_xj))`` with respect to ``r[x, k]``:

    .. math:: \frac{\partial L}{\partial r_{xk}} = \sum_j \big(-w_{xkj}\,\sigma(r_{xj} - r_{xk})
              + w_{xjk}\,\sigma(r_{xk} - r_{xj})\big)

    It vanishes exactly at the minimiser (the loss is convex).  Evaluated at 50 digits.
    """
    weights = _pair_weights(pair_weights)
    table = validation.as_float_array(rewards, "rewards[prompt, response]", ndim=2)
    validation.check_shape(table, weights.shape[:2], "rewards")
    n_prompts, n_responses = table.shape
    gradient = np.zeros_like(table)
    with mpmath.workdps(DIGITS):
        r = [[mpmath.mpf(float(v)) for v in row] for row in table]
        for x in range(n_prompts):
            for k in range(n_responses):
                gradient[x, k] = float(mpmath.fsum(
                    -mpmath.mpf(float(weights[x, k, j])) * _sigmoid(r[x][j] - r[x][k])
                    + mpmath.mpf(float(weights[x, j, k])) * _sigmoid(r[x][k] - r[x][j])
                    for j in range(n_responses)))
    return gradient


def dpo_population_gradient(policy_logits, reference_log_probs, pair_weights, beta) -> np.ndarray:
    r"""The exact gradient of the DPO population loss (``rlspec.reference.dpo.dpo_population_loss``)
    with respect to response-level logits theta, pi(. | x) = softmax(theta[x]):

    .. math:: \frac{\partial\mathcal L}{\partial\theta_{xk}} = \beta\Big(g_{xk} - \pi(y_k|x)\sum_i g_{xi}\Big),
              \qquad g = \nabla_{\hat r} L(\hat r) \text{ at } \hat r = \beta\log\frac{\pi}{\pi_{\rm ref}}

    (chain rule through d log pi(y_i) / d theta_k = 1[i = k] - pi(y_k)).  Zero at the
    KL-regularised optimum pi* under Bradley-Terry weights (``dpo.population-minimiser``).
    """
    weights = _pair_weights(pair_weights)
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
            g = [mpmath.fsum(-mpmath.mpf(float(weights[x, k, j])) * _sigmoid(implicit[j] - implicit[k])
                             + mpmath.mpf(float(weights[x, j, k])) * _sigmoid(implicit[k] - implicit[j])
                             for j in range(n_responses)) for k in range(n_responses)]
            total = mpmath.fsum(g)
            for k in range(n_responses):
                out[x, k] = float(b * (g[k] - mpmath.exp(log_pi[k]) * total))
    return out


# ---------------------------------------------------------------- KL estimators

ESTIMATORS = ("k1", "k2", "k3")


def kl_estimates_and_slopes(log_probs, reference_log_probs, estimator: str
                            ) -> tuple[np.ndarray, np.ndarray]:
    r"""Per sample, ``(k(x), dk / d log pi(x))`` with ``d = log pi_ref(x) - log pi(x)`` exact:

    ===  =====================  ======================
    k    value                  d k / d log pi(x)
    ===  =====================  ======================
    k1   -d                     1
    k2   d^2 / 2                -d
    k3   e^d - 1 - d            1 - e^d
    ===  =====================  ======================

    (log pi_ref is held fixed: the reference model is frozen.)
    """
    if estimator not in ESTIMATORS:
        raise InvalidInputError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    policy = _fractions(log_probs, "log_probs[N]")
    reference = _fractions(reference_log_probs, "reference_log_probs[N]")
    if len(policy) != len(reference):
        raise InvalidInputError("log_probs and reference_log_probs must have the same length")
    values, slopes = [], []
    with mpmath.workdps(DIGITS):
        for p, q in zip(policy, reference):
            d = q - p                                   # exact
            if estimator == "k1":
                values.append(float(-d))
                slopes.append(1.0)
            elif estimator == "k2":
                values.append(float(d * d / 2))
                slopes.append(float(-d))
            else:
                e = mpmath.exp(_mpf(d))
                values.append(float(e - 1 - _mpf(d)))
                slopes.append(float(1 - e))
    return np.array(values), np.array(slopes)


def _log_softmax_exact(values) -> list:
    row = [mpmath.mpf(float(v)) for v in values]
    log_z = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))
    return [v - log_z for v in row]


def categorical_kl(log_probs, reference_log_probs) -> float:
    """KL(pi || pi_ref) = sum_x pi(x) log(pi(x) / pi_ref(x)) at 50 digits.  The inputs are
    renormalised exactly first (log-softmax), so log-probabilities that sum to 1 only up to
    rounding describe the distribution they round."""
    policy = validation.as_float_array(log_probs, "log_probs[K]", ndim=1)
    reference = validation.as_float_array(reference_log_probs, "reference_log_probs[K]", ndim=1)
    validation.check_shape(reference, policy.shape, "reference_log_probs")
    with mpmath.workdps(DIGITS):
        lp, lq = _log_softmax_exact(policy), _log_softmax_exact(reference)
        return float(mpmath.fsum(mpmath.exp(a) * (a - b) for a, b in zip(lp, lq)))


def estimator_loss_gradient_closed_form(logits, reference_logits, estimator: str) -> np.ndarray:
    r"""E_{x~pi}[grad_theta k(x)] with the sample fixed, for pi = softmax(logits), from the
    closed forms (derived in the spec entry ``kl.estimator-loss-gradient``):

    * k1: ``E[grad log pi(x)] = 0`` (the score has mean zero);
    * k2: ``E[log(pi/pi_ref)(x) grad log pi(x)] = grad KL(pi || pi_ref)``
      ``= pi_j (log(pi_j / pi_ref_j) - KL(pi || pi_ref))``;
    * k3: ``E[(1 - pi_ref/pi)(x) grad log pi(x)] = -sum_x pi_ref(x) grad log pi(x)``
      ``= grad KL(pi_ref || pi) = pi_j - pi_ref_j``.
    """
    if estimator not in ESTIMATORS:
        raise InvalidInputError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    theta = validation.as_float_array(logits, "logits[K]", ndim=1)
    reference_theta = validation.as_float_array(reference_logits, "reference_logits[K]", ndim=1)
    validation.check_shape(reference_theta, theta.shape, "reference_logits")
    if estimator == "k1":
        return np.zeros_like(theta)
    with mpmath.workdps(DIGITS):
        lp, lq = _log_softmax_exact(theta), _log_softmax_exact(reference_theta)
        if estimator == "k3":
            return np.array([float(mpmath.exp(a) - mpmath.exp(b)) for a, b in zip(lp, lq)])
        kl = mpmath.fsum(mpmath.exp(a) * (a - b) for a, b in zip(lp, lq))
        return np.array([float(mpmath.exp(a) * (a - b - kl)) for a, b in zip(lp, lq)])


def implicit_reward_exact(policy_log_probs, reference_log_probs, beta) -> np.ndarray:
    """``beta * (log pi(y|x) - log pi_ref(y|x))`` per response, formed in exact rationals and
    rounded once."""
    policy = _fractions(policy_log_probs, "policy_log_probs[N]")
    reference = _fractions(reference_log_probs, "reference_log_probs[N]")
    if len(policy) != len(reference):
        raise InvalidInputError("policy_log_probs and reference_log_probs must have the same length")
    b = Fraction(float(beta))
    return np.array([float(b * (p - q)) for p, q in zip(policy, reference)])
