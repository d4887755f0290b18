r"""DPO: the KL-regularised optimum, the DPO loss and its gradient, and its variants.

Notation (Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is
Secretly a Reward Model", NeurIPS; seed 003, "# 4. DPO"):

* ``pi`` the policy being trained, ``pi_ref`` the frozen reference policy, beta > 0;
* the implicit reward ``r_hat(x, y) = beta * log(pi(y|x) / pi_ref(y|x))`` (paper, Sec. 5);
* for a pair, the log-ratio difference

  .. math:: h = \big(\log\pi(y_w|x) - \log\pi_{\rm ref}(y_w|x)\big)
               - \big(\log\pi(y_l|x) - \log\pi_{\rm ref}(y_l|x)\big),

  so that the DPO loss of the pair is ``-log sigmoid(beta * h)`` (paper, Eq. 7).

Batch conventions shared by every loss here (TRL's, OpenRLHF's and the paper's code's):
``policy_chosen_logps[N]``, ``policy_rejected_logps[N]``, ``reference_chosen_logps[N]``,
``reference_rejected_logps[N]`` are *sequence* log-probabilities ``log pi(y|x)`` (sums of
token log-probs over the response, see ``rlspec.toy_mdps.language_model``), and the loss is
the *mean* over the N pairs, a torch scalar differentiable with respect to the policy's
log-probs.  Response-level tables (the KL-regularised optimum) are ``[prompt, response]``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from rlspec import validation
from rlspec.reference.reward_model import as_vector, same_length
from rlspec.validation import InvalidInputError

__all__ = [
    "kl_regularised_objective", "kl_regularised_optimal_policy", "implicit_reward",
    "dpo_loss", "dpo_loss_gradient", "ipo_loss", "hinge_dpo_loss", "conservative_dpo_loss",
    "dpo_population_loss", "sequence_log_probs",
]

#: Log-probabilities may exceed 0 by this much (rounding in a sum of token log-probs);
#: anything larger is a probability above 1, almost always logits passed by mistake.
LOG_PROBABILITY_SLACK = 1e-9


# ---------------------------------------------------------------- checks

def check_beta(beta, name: str = "beta") -> float:
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a positive number, got {beta!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise InvalidInputError(f"{name} must be a positive finite number, got {beta!r}")
    return value


def _log_probability_vector(value, name: str) -> torch.Tensor:
    tensor = as_vector(value, name)
    largest = float(tensor.detach().max())
    if largest > LOG_PROBABILITY_SLACK:
        raise InvalidInputError(
            f"{name} holds {largest!r} > 0, which is not a log-probability (were logits or "
            f"probabilities passed instead of log pi(y|x)?)")
    return tensor


def _pair_batch(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                reference_rejected_logps):
    names = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
             "reference_rejected_logps")
    values = (policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
              reference_rejected_logps)
    tensors = [_log_probability_vector(value, f"{name}[N]") for name, value in zip(names, values)]
    for name, tensor in zip(names[1:], tensors[1:]):
        same_length(names[0], tensors[0], name, tensor)
    return tensors


def log_ratio_difference(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                         reference_rejected_logps) -> torch.Tensor:
    r"""``h[n] = (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l))``, per pair.

    The reference model is frozen: its log-probs are detached, so no gradient reaches it."""
    chosen, rejected, reference_chosen, reference_rejected = _pair_batch(
        policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
        reference_rejected_logps)
    return (chosen - reference_chosen.detach()) - (rejected - reference_rejected.detach())


# ---------------------------------------------------------------- the KL-regularised optimum

def _response_table(value, name: str) -> np.ndarray:
    return validation.as_float_array(value, name, ndim=2)


def kl_regularised_objective(policy_log_probs, reference_log_probs, rewards, beta) -> np.ndarray:
    r"""The RLHF objective per prompt, over whole responses:

    .. math:: J_x(\pi) = \sum_y \pi(y|x)\, r(x,y)
              - \beta \sum_y \pi(y|x) \log\frac{\pi(y|x)}{\pi_{\rm ref}(y|x)}

    Source: seed 003, 4.2.3 "RL 微调阶段" (paper, Eq. 3), for one prompt; average over the
    prompt distribution for the notes' E_x.  Tables are ``[prompt, response]``; responses
    with pi(y|x) = 0 contribute 0 (the convention 0 log 0 = 0).

    Example: two responses, pi_ref uniform, r = (1, 0), beta = 1, pi = (1, 0):
    J = 1 - 1 * log(1 / (1/2)) = 1 - log 2 ~ 0.306853.

    >>> kl_regularised_objective(np.log([[1.0, 1e-300]]), np.log([[0.5, 0.5]]),
    ...                          [[1.0, 0.0]], 1.0).round(6)
    array([0.306853])
    """
    policy = _response_table(policy_log_probs, "policy_log_probs[prompt, response]")
    reference = _response_table(reference_log_probs, "reference_log_probs[prompt, response]")
    reward = _response_table(rewards, "rewards[prompt, response]")
    beta = check_beta(beta)
    validation.check_shape(reference, policy.shape, "reference_log_probs")
    validation.check_shape(reward, policy.shape, "rewards")
    values = np.zeros(policy.shape[0])
    for x in range(policy.shape[0]):
        terms = []
        for y in range(policy.shape[1]):
            probability = math.exp(policy[x, y])
            if probability > 0.0:
                terms.append(probability * (reward[x, y] - beta * (policy[x, y] - reference[x, y])))
        values[x] = math.fsum(terms)
    return values


def kl_regularised_optimal_policy(reference_log_probs, rewards, beta) -> np.ndarray:
    r"""The maximiser of :func:`kl_regularised_objective`, in closed form:

    .. math:: \pi^*(y|x) = \frac{1}{Z(x)}\,\pi_{\rm ref}(y|x)\,\exp\!\Big(\frac{r(x,y)}{\beta}\Big),
              \qquad Z(x) = \sum_y \pi_{\rm ref}(y|x)\, e^{r(x,y)/\beta}

    Source: Rafailov et al. (2023), Eq. 4 and Appendix A.1; the notes quote the objective
    (seed 003, 4.2.3) and defer the derivation to the paper (4.3.1).  Its objective value is
    J_x(pi*) = beta log Z(x) (spec entry ``dpo.kl-regularised-optimum``).

    Computed in log space, ``log pi*(y|x) = log pi_ref + r / beta - logsumexp(...)``, with
    the largest term subtracted before exponentiating: for beta = 1/512 and r = 2, r / beta
    = 1024 and a naive exp overflows to inf (inf / inf = NaN).

    Conventions: ``reference_log_probs[x, y] = log pi_ref(y|x)`` and ``rewards[x, y]`` over
    the same [prompt, response] table; returns probabilities ``[prompt, response]``.

    Example: pi_ref = (1/2, 1/2), r = (log 3, 0), beta = 1: pi* = (3, 1) / 4.

    >>> kl_regularised_optimal_policy(np.log([[0.5, 0.5]]), [[math.log(3.0), 0.0]], 1.0)
    array([[0.75, 0.25]])
    """
    reference = _response_table(reference_log_probs, "reference_log_probs[prompt, response]")
    reward = _response_table(rewards, "rewards[prompt, response]")
    validation.check_shape(reward, reference.shape, "rewards")
    beta = check_beta(beta)
    policy = np.zeros_like(reference)
    for x in range(reference.shape[0]):
        scores = reference[x] + reward[x] / beta
        weights = np.exp(scores - scores.max())
        policy[x] = weights / weights.sum()
    return policy


# ---------------------------------------------------------------- DPO

def implicit_reward(policy_log_probs, reference_log_probs, beta) -> np.ndarray:
    r"""The reward DPO's policy defines implicitly: ``r_hat(x, y) = beta log(pi(y|x) / pi_ref(y|x))``.

    Source: Rafailov et al. (2023), Sec. 5.1 and Eq. 5 (the reparameterisation
    r = beta log pi*/pi_ref + beta log Z, whose last term cancels in every preference).
    The same formula for the chosen and the rejected response; the notes' r_l (seed 003,
    4.3.1 "DPO 目标函数") drops beta and flips the sign for y_l (spec entry
    ``dpo.implicit-reward``, erratum).

    >>> implicit_reward([math.log(0.5)], [math.log(0.25)], 0.5).round(6)
    array([0.346574])
    """
    policy = _log_probability_vector(policy_log_probs, "policy_log_probs[N]").detach().numpy()
    reference = _log_probability_vector(reference_log_probs,
                                        "reference_log_probs[N]").detach().numpy()
    if policy.shape != reference.shape:
        raise InvalidInputError("policy_log_probs and reference_log_probs must have the same length")
    beta = check_beta(beta)
    return np.array([beta * (policy[n] - reference[n]) for n in range(len(policy))])


def dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
             reference_rejected_logps, beta) -> torch.Tensor:
    r"""The DPO loss, averaged over the batch:

    .. math:: \mathcal L_{\rm DPO} = -\frac1N\sum_n \log\sigma\big(\beta\, h_n\big)

    with h the log-ratio difference of the module docstring.  Source: seed 003, 4.3.1
    "DPO 目标函数"; Rafailov et al. (2023), Eq. 7.

    ``-log sigmoid`` is ``-F.logsigmoid``: for beta h = -1000 the loss is 1000, where
    ``-log(sigmoid(-1000))`` gives inf in float64 (sigmoid underflows to 0).

    Example: pi = pi_ref gives h = 0 and the loss log 2 for any beta (not 0: DPO's loss is
    not a divergence between pi and pi_ref; spec entry ``dpo.loss``):

    >>> round(float(dpo_loss([-1.0], [-2.0], [-1.0], [-2.0], beta=0.1)), 6)
    0.693147
    """
    beta = check_beta(beta)
    h = log_ratio_difference(policy_chosen_logps, policy_rejected_logps,
                             reference_chosen_logps, reference_rejected_logps)
    return -F.logsigmoid(beta * h).mean()


def dpo_loss_gradient(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                      reference_rejected_logps, beta) -> tuple[np.ndarray, np.ndarray]:
    r"""The gradient of :func:`dpo_loss` with respect to the policy's log-probabilities:

    .. math:: \frac{\partial\mathcal L}{\partial\log\pi(y^{(n)}_w)}
              = -\frac{\beta}{N}\,\sigma\big(\hat r^{(n)}_l - \hat r^{(n)}_w\big),
              \qquad
              \frac{\partial\mathcal L}{\partial\log\pi(y^{(n)}_l)}
              = +\frac{\beta}{N}\,\sigma\big(\hat r^{(n)}_l - \hat r^{(n)}_w\big)

    with r_hat = beta log(pi / pi_ref), so r_hat_l - r_hat_w = -beta h.  By the chain rule,
    the gradient in the model's parameters is the paper's Eq. (Sec. 4, "What does the DPO
    update do?"): -beta E[sigma(r_hat_l - r_hat_w) (grad log pi(y_w) - grad log pi(y_l))].
    The weight is large when the *implicit reward* orders the pair wrongly; it depends on
    pi_ref(y_w) and pi_ref(y_l) only through r_hat (spec entry ``dpo.gradient``, erratum).

    >>> [g.tolist() for g in dpo_loss_gradient([-1.0], [-1.0], [-1.0], [-1.0], beta=0.5)]
    [[-0.25], [0.25]]
    """
    beta = check_beta(beta)
    h = log_ratio_difference(policy_chosen_logps, policy_rejected_logps,
                             reference_chosen_logps, reference_rejected_logps).detach().numpy()
    n = len(h)
    weight = np.array([_sigmoid(-beta * h[k]) for k in range(n)])
    return -beta * weight / n, beta * weight / n


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    return math.exp(z) / (1.0 + math.exp(z))


def ipo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
             reference_rejected_logps, beta) -> torch.Tensor:
    r"""The IPO loss (Azar et al. 2023, "A General Theoretical Paradigm to Understand
    Learning from Human Preferences", Eq. 17), averaged over the batch:

    .. math:: \mathcal L_{\rm IPO} = \frac1N \sum_n \Big(h_n - \frac{1}{2\tau}\Big)^2,
              \qquad \tau = \beta

    Azar et al. call the KL-regularisation strength tau; TRL's ``loss_type="ipo"`` and the
    DPO authors' code pass beta in its place, as here.  The square pulls h towards
    1/(2 tau) > 0 from both sides: IPO does not drive the chosen log-ratio to infinity on
    deterministic preferences, as DPO does.  Not in the notes (a variant of seed 003,
    4.3.1).  h is built from *summed* sequence log-probs, as in the paper; TRL averages them
    over tokens for IPO instead (huggingface/trl#1265, #1677), which rescales h by the length.

    >>> float(ipo_loss([-1.0], [-1.0], [-1.0], [-1.0], beta=0.25))
    4.0
    """
    beta = check_beta(beta)
    h = log_ratio_difference(policy_chosen_logps, policy_rejected_logps,
                             reference_chosen_logps, reference_rejected_logps)
    return ((h - 1.0 / (2.0 * beta)) ** 2).mean()


def hinge_dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                   reference_rejected_logps, beta) -> torch.Tensor:
    r"""The hinge variant (SLiC-HF, Zhao et al. 2023; TRL's ``loss_type="hinge"``):

    .. math:: \mathcal L_{\rm hinge} = \frac1N \sum_n \max(0,\ 1 - \beta h_n)

    Zero once beta h >= 1: confidently ordered pairs stop contributing.  At the kink
    beta h = 1 any subgradient in [-beta/N, 0] is valid; torch's relu takes 0.

    >>> float(hinge_dpo_loss([-1.0], [-2.0], [-1.0], [-1.0], beta=0.5))
    0.5
    """
    beta = check_beta(beta)
    h = log_ratio_difference(policy_chosen_logps, policy_rejected_logps,
                             reference_chosen_logps, reference_rejected_logps)
    return torch.relu(1.0 - beta * h).mean()


def check_label_smoothing(label_smoothing) -> float:
    try:
        value = float(label_smoothing)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"label_smoothing must be a number in [0, 0.5], got {label_smoothing!r}") from None
    if not 0.0 <= value <= 0.5:
        raise InvalidInputError(
            f"label_smoothing is the probability that a preference label is flipped and must "
            f"lie in [0, 0.5], got {label_smoothing!r} (above 1/2 the labels would be more often "
            f"wrong than right: swap chosen and rejected instead)")
    return value


def conservative_dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                          reference_rejected_logps, beta, label_smoothing) -> torch.Tensor:
    r"""Conservative DPO (Mitchell 2023, "A note on DPO with noisy preferences & relationship
    to IPO", Eq. 3; TRL's and the DPO authors' ``label_smoothing``): each label is assumed
    flipped with probability epsilon, so the per-pair loss is the cross-entropy against the
    smoothed label:

    .. math:: \mathcal L_\epsilon = \frac1N \sum_n -(1-\epsilon)\log\sigma(\beta h_n)
              - \epsilon \log\sigma(-\beta h_n)

    epsilon = 0 is DPO.  For epsilon > 0 the per-pair minimiser is finite,
    beta h = log((1 - epsilon) / epsilon); epsilon = 1/2 pulls h to 0 (no preference).

    >>> round(float(conservative_dpo_loss([-1.0], [-1.0], [-1.0], [-1.0], 1.0, 0.25)), 6)
    0.693147
    """
    beta = check_beta(beta)
    epsilon = check_label_smoothing(label_smoothing)
    h = log_ratio_difference(policy_chosen_logps, policy_rejected_logps,
                             reference_chosen_logps, reference_rejected_logps)
    return (-(1.0 - epsilon) * F.logsigmoid(beta * h) - epsilon * F.logsigmoid(-beta * h)).mean()


# ---------------------------------------------------------------- the population loss

def dpo_population_loss(policy_log_probs, reference_log_probs, pair_weights, beta) -> float:
    r"""The DPO loss in expectation over a preference distribution, over whole responses:

    .. math:: \mathcal L(\pi) = \sum_{x,i,j} w_{xij}\,
              \big(-\log\sigma(\hat r(x, y_i) - \hat r(x, y_j))\big),
              \qquad \hat r = \beta\log\frac{\pi}{\pi_{\rm ref}}

    where ``pair_weights[x, i, j]`` is the probability of the datum (x, y_w = y_i, y_l = y_j)
    (``rlspec.toy_mdps.language_model.preference_pair_distribution``).  Under Bradley-Terry
    preferences with reward r, its minimiser over all policies is the KL-regularised optimum
    pi* of :func:`kl_regularised_optimal_policy` (Rafailov et al. 2023, Theorem 1 and
    Sec. 5; spec entry ``dpo.population-minimiser``).

    >>> round(dpo_population_loss(np.log([[0.5, 0.5]]), np.log([[0.5, 0.5]]),
    ...                           [[[0.25, 0.25], [0.25, 0.25]]], 1.0), 6)   # log 2
    0.693147
    """
    policy = _response_table(policy_log_probs, "policy_log_probs[prompt, response]")
    reference = _response_table(reference_log_probs, "reference_log_probs[prompt, response]")
    validation.check_shape(reference, policy.shape, "reference_log_probs")
    weights = validation.as_float_array(pair_weights, "pair_weights[prompt, i, j]", ndim=3)
    validation.check_shape(weights, (*policy.shape, policy.shape[1]), "pair_weights")
    beta = check_beta(beta)
    implicit = beta * (policy - reference)
    terms = []
    for x in range(policy.shape[0]):
        for i in range(policy.shape[1]):
            for j in range(policy.shape[1]):
                if weights[x, i, j] > 0:
                    z = implicit[x, i] - implicit[x, j]
                    terms.append(weights[x, i, j] * (max(-z, 0.0) + math.log1p(math.exp(-abs(z)))))
    return math.fsum(terms)


# ---------------------------------------------------------------- sequence log-probabilities

def sequence_log_probs(logits, tokens, mask) -> np.ndarray:
    r"""``log pi(y|x)`` of each padded response: the masked sum of its token log-probs,

    .. math:: \log\pi(y_n|x_n) = \sum_t m_{nt}\,\log\operatorname{softmax}(\ell_{nt})[y_{nt}]

    the input every loss of this chapter needs (``policy_chosen_logps`` and the others).
    Conventions (``rlspec.toy_mdps.language_model``): ``logits[n, t]`` is the next-token
    distribution that ``tokens[n, t]`` was drawn from, already aligned (a Hugging Face
    causal LM's ``logits[:, t]`` predicts token t + 1, so shift it by one before calling);
    ``mask[n, t]`` is 1 on the response's tokens *including its EOS* and 0 on padding.
    Padding uses the EOS id, so ``tokens != EOS`` is not a mask: it would drop the EOS token.
    The sum, not the mean over tokens: the mean is not a log-probability of the response.

    Example: uniform logits over 2 tokens, responses (1, EOS) and (EOS,) padded to L = 2:
    log-probs 2 log(1/2) and log(1/2).

    >>> sequence_log_probs(np.zeros((2, 2, 2)), [[1, 0], [0, 0]], [[1, 1], [1, 0]]).round(6)
    array([-1.386294, -0.693147])
    """
    table = validation.as_float_array(logits, "logits[N, L, V]", ndim=3)
    token_ids = np.asarray(tokens)
    weights = validation.as_float_array(mask, "mask[N, L]", ndim=2)
    validation.check_shape(token_ids, table.shape[:2], "tokens")
    validation.check_shape(weights, table.shape[:2], "mask")
    if not np.all((weights == 0) | (weights == 1)):
        raise InvalidInputError("mask must hold only 0 (padding) and 1 (response tokens)")
    if not np.issubdtype(token_ids.dtype, np.integer) or token_ids.min() < 0 \
            or token_ids.max() >= table.shape[2]:
        raise InvalidInputError(f"tokens must be integer ids in [0, {table.shape[2]})")
    out = np.zeros(table.shape[0])
    for n in range(table.shape[0]):
        total = []
        for t in range(table.shape[1]):
            if weights[n, t] == 1:
                row = table[n, t] - table[n, t].max()
                total.append(row[token_ids[n, t]] - math.log(float(np.exp(row).sum())))
        out[n] = math.fsum(total)
    return out
