r"""GRPO and its successors: Dr. GRPO, DAPO, GSPO, DCPO.

The notes name these methods (seed 000 "群体相对策略优化（GRPO）"; seed 001 "GRPO", "GSPO";
seed 003 "# 6. GRPO" .. "# 9. DCPO") but state almost none of their formulas, and seed 000's
description of GRPO disagrees with the paper (spec entry ``grpo.objective``, erratum).  The
formulas here are the papers':

* GRPO: Shao et al. (2024), "DeepSeekMath", §4.1, eqs. (3) and (4), outcome supervision.
* Dr. GRPO: Liu et al. (2025), "Understanding R1-Zero-like training: a critical perspective", §3.
* DAPO: Yu et al. (2025), "DAPO: an open-source LLM reinforcement learning system at scale",
  §3 (its objective, clip-higher, dynamic sampling, token-level loss, overlong shaping).
* GSPO: Zheng et al. (2025), "Group sequence policy optimization", §4 (GSPO and GSPO-token).
* DCPO: Yang et al. (2025), "DCPO: Dynamic clipping policy optimization": its dynamic
  clipping bounds, smooth advantage standardisation, dual-clipped loss and OTM aggregation,
  as the authors' released code and README state them (spec entries ``dcpo.*`` say exactly
  what is and is not checked against the paper).

Conventions: those of ``rlspec.reference.rlhf_ppo`` (columns aligned with the predicted
token; ``response_mask[b, t] = 1`` on response tokens, EOS included, 0 on prompt and
padding).  A batch is ``B = n_groups * G`` responses; ``rewards[n_groups, G]`` holds the
scalar reward of each response, group by group.  Sequence-level advantages ``advantages[B]``
are broadcast to every token of their response (outcome supervision).  The losses are the
negated objectives (to be minimised) and return 0-d float64 torch tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rlspec import validation
from rlspec.reference.kl_estimators import kl_estimator_k3
from rlspec.reference._token_inputs import checked_mask, float64_tensor, nonnegative, same_shape
from rlspec.validation import InvalidInputError

__all__ = [
    "group_advantages",
    "dr_grpo_advantages",
    "grpo_loss",
    "dr_grpo_loss",
    "dapo_token_loss",
    "overlong_penalty",
    "dynamic_sampling_filter",
    "gspo_loss",
    "gspo_token_loss",
    "dcpo_clip_bounds",
    "dcpo_smooth_advantages",
    "dcpo_dual_clip_loss",
    "dcpo_otm_loss",
]


def _groups(rewards, name="rewards[n_groups, G]") -> np.ndarray:
    rewards = validation.as_float_array(rewards, name, ndim=2)
    if rewards.shape[1] < 2:
        raise InvalidInputError(
            f"{name}: a group needs at least 2 responses (the group statistics of one "
            f"response are undefined), got G = {rewards.shape[1]}")
    return rewards


# ------------------------------------------------------------------ advantages

def group_advantages(rewards, epsilon) -> np.ndarray:
    r"""GRPO's group-relative advantage of each response (outcome supervision).

    .. math:: \hat A_i = \frac{r_i - \operatorname{mean}(r_1, \dots, r_G)}
                              {\operatorname{std}(r_1, \dots, r_G) + \varepsilon},
              \qquad \operatorname{std} = \sqrt{\tfrac{1}{G-1}\textstyle\sum_j (r_j - \bar r)^2}

    and :math:`\hat A_i = 0` for every response of a group whose rewards are all equal
    (the numerator is 0; with ε = 0 the quotient is read as 0, not 0/0).

    Source: DeepSeekMath §4.1.2 (the rewards of a group are normalised by subtracting the
    group average and dividing by the group standard deviation); seed 000 "群体相对策略优化（GRPO）" says otherwise
    (it describes GAE; spec entry ``grpo.objective``).  The paper does not say which
    standard deviation; rlspec fixes the sample one (Bessel's correction, G - 1), which is
    what TRL, verl and OpenRLHF compute with ``torch.std``.  numpy's ``np.std`` defaults to
    the population one (G) and gives advantages larger by sqrt(G / (G - 1)).

    Conventions: ``rewards[n_groups, G]`` float64, one row per prompt, G >= 2; ε >= 0
    (TRL 1e-4, verl 1e-6).  "All equal" is decided on the values, not on a computed std:
    the float std of (0.1, 0.1, 0.1) is about 1e-17, and dividing by it gives advantages of
    size 1 (NVIDIA-NeMo/RL#4161 met this in float32).

    Example: rewards (1, 0, 0, 1): mean 1/2, sample std sqrt(1/3), so ±sqrt(3)/2.

    >>> group_advantages([[1.0, 0.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.5]], 0.0).round(6)
    array([[ 0.866025, -0.866025, -0.866025,  0.866025],
           [ 0.      ,  0.      ,  0.      ,  0.      ]])
    """
    rewards = _groups(rewards)
    epsilon = nonnegative(epsilon, "epsilon")
    advantages = np.zeros_like(rewards)
    for g, group in enumerate(rewards):
        if group.max() == group.min():
            continue  # every advantage is exactly 0
        size = len(group)
        mean = math.fsum(group) / size
        std = math.sqrt(math.fsum((r - mean) ** 2 for r in group) / (size - 1))
        for i, reward in enumerate(group):
            advantages[g, i] = (reward - mean) / (std + epsilon)
    return advantages


def dr_grpo_advantages(rewards) -> np.ndarray:
    r"""Dr. GRPO's advantage: the group mean subtracted, no division by the std.

    .. math:: \hat A_i = r_i - \operatorname{mean}(r_1, \dots, r_G)

    Source: Liu et al. (2025), §3 (Dr. GRPO drops the std normalisation): dividing
    by the std gives questions whose rewards barely vary (too easy or too hard) larger
    weight.  verl: ``norm_adv_by_std_in_grpo=False``; TRL: ``scale_rewards=False`` (or
    ``"none"``).  Not stated in the notes.

    >>> dr_grpo_advantages([[1.0, 0.0, 0.0, 0.0]])
    array([[ 0.75, -0.25, -0.25, -0.25]])
    """
    rewards = _groups(rewards)
    advantages = np.zeros_like(rewards)
    for g, group in enumerate(rewards):
        mean = math.fsum(group) / len(group)
        for i, reward in enumerate(group):
            advantages[g, i] = reward - mean
    return advantages


# ------------------------------------------------------------------ the clipped surrogate

def _clipped_objective(ratio: torch.Tensor, advantage: torch.Tensor, low: float | torch.Tensor,
                       high: float | torch.Tensor) -> torch.Tensor:
    """min(ratio A, clip(ratio, low, high) A), elementwise: the PPO surrogate (maximised)."""
    return torch.minimum(ratio * advantage, torch.clamp(ratio, low, high) * advantage)


def _loss_inputs(log_probs, old_log_probs, advantages, response_mask, per_token=False):
    log_probs = float64_tensor(log_probs, "log_probs[B, T]", 2)
    old = float64_tensor(old_log_probs, "old_log_probs[B, T]", 2).detach()
    same_shape(log_probs, old, "old_log_probs")
    if per_token:
        adv = float64_tensor(advantages, "advantages[B, T]", 2).detach()
        same_shape(log_probs, adv, "advantages")
    else:
        adv = float64_tensor(advantages, "advantages[B]", 1).detach()
        if tuple(adv.shape) != (log_probs.shape[0],):
            raise InvalidInputError(f"advantages must have shape ({log_probs.shape[0]},), one "
                                    f"per response, got {tuple(adv.shape)}")
    mask = checked_mask(response_mask, tuple(log_probs.shape), name="response_mask[B, T]",
                 nonempty_rows=True)
    inside = torch.as_tensor(mask, dtype=torch.bool)
    # Prompt and padding columns may hold anything; keep them out of exp entirely.
    log_ratio = torch.where(inside, log_probs - old, torch.zeros_like(log_probs))
    return log_probs, old, adv, mask, inside, log_ratio


def _any_tensor(value, name: str) -> torch.Tensor:
    """A float64 tensor of any shape; a tensor given is kept, so gradients flow."""
    if isinstance(value, torch.Tensor):
        return float64_tensor(value, name, value.ndim)
    return float64_tensor(value, name, np.ndim(value))


def _clip_range(epsilon_low, epsilon_high) -> tuple[float, float]:
    low = nonnegative(epsilon_low, "epsilon_low")
    high = nonnegative(epsilon_high, "epsilon_high")
    if low >= 1.0:
        raise InvalidInputError(f"epsilon_low must be below 1 (the ratio's lower clip 1 - "
                                f"epsilon_low must stay positive), got {epsilon_low!r}")
    return 1.0 - low, 1.0 + high


# ------------------------------------------------------------------ GRPO

def grpo_loss(log_probs, old_log_probs, ref_log_probs, advantages, response_mask, clip_epsilon,
              beta) -> torch.Tensor:
    r"""The GRPO loss: the clipped surrogate minus a KL penalty, averaged over each
    response's own tokens, then over the responses.

    .. math::
        \mathcal L = -\frac{1}{B}\sum_{i=1}^{B}\frac{1}{|o_i|}\sum_{t=1}^{|o_i|}
        \Big\{ \min\big(\rho_{i,t}\hat A_i,\ \operatorname{clip}(\rho_{i,t}, 1-\epsilon, 1+\epsilon)\hat A_i\big)
        - \beta\,\hat D_{i,t} \Big\}

    with :math:`\rho_{i,t} = \pi_\theta(o_{i,t}|q,o_{i,<t}) / \pi_{\theta_{old}}(o_{i,t}|q,o_{i,<t})`
    and :math:`\hat D` the k3 estimator (``rlspec.reference.kl_estimators.kl_estimator_k3``)
    against the frozen
    reference model.  Over one group (B = G) this is DeepSeekMath eq. (3) negated; over
    several groups it is their mean.

    Source: DeepSeekMath §4.1.1, eq. (3) (β = 0.04 in its experiments).  The notes (seed 000)
    describe a KL to the previous policy and an adaptive β instead (spec entry
    ``grpo.objective``, erratum).

    Conventions: module docstring.  ``advantages[B]`` from :func:`group_advantages`;
    ``old_log_probs`` and ``ref_log_probs`` are constants.  The per-response 1/|o_i| makes a
    token of a short response weigh more than one of a long response (spec entry
    ``agg.seq-mean-token-mean``); TRL since v0.16 and DAPO average over all tokens instead
    (``agg.token-mean``).

    Example: one response of two tokens, ρ = 1, A = 1, β = 0 (no penalty): -(1 + 1) / 2.

    >>> grpo_loss([[-1.0, -2.0]], [[-1.0, -2.0]], [[-1.0, -2.0]], [1.0], [[1, 1]], 0.2, 0.0).item()
    -1.0
    """
    log_probs, old, adv, mask, inside, log_ratio = _loss_inputs(
        log_probs, old_log_probs, advantages, response_mask)
    ref = float64_tensor(ref_log_probs, "ref_log_probs[B, T]", 2).detach()
    same_shape(log_probs, ref, "ref_log_probs")
    epsilon = nonnegative(clip_epsilon, "clip_epsilon")
    beta = nonnegative(beta, "beta")
    low, high = _clip_range(epsilon, epsilon)
    ratio = torch.exp(log_ratio)
    on_response = torch.where(inside, log_probs, ref)  # k3 is 0 off the response
    penalty = kl_estimator_k3(on_response.reshape(-1), ref.reshape(-1)).reshape(ref.shape)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(log_probs.shape[0]):
        row = inside[i]
        per_token = _clipped_objective(ratio[i][row], adv[i], low, high) - beta * penalty[i][row]
        total = total + per_token.sum() / row.sum()
    return -total / log_probs.shape[0]


def dr_grpo_loss(log_probs, old_log_probs, advantages, response_mask, clip_epsilon,
                 max_length) -> torch.Tensor:
    r"""The Dr. GRPO loss: token sums per response divided by a constant, not by |o_i|.

    .. math::
        \mathcal L = -\frac{1}{B}\sum_{i=1}^{B}\frac{1}{L_{\max}}\sum_{t=1}^{|o_i|}
        \min\big(\rho_{i,t}\hat A_i,\ \operatorname{clip}(\rho_{i,t}, 1-\epsilon, 1+\epsilon)\hat A_i\big)

    with :math:`\hat A_i` from :func:`dr_grpo_advantages` (no std) and no KL term.

    Source: Liu et al. (2025), §3, the Dr. GRPO objective (the 1/|o_i| removed) and their
    code, which divides each response's token sum by a constant ``MAX_TOKENS`` (the
    generation budget) so the loss keeps a familiar scale; verl ``loss_agg_mode=
    "seq-mean-token-sum-norm"``.  The constant only rescales the gradient.

    >>> dr_grpo_loss([[0.0, 0.0]], [[0.0, 0.0]], [0.5], [[1, 1]], 0.2, 4).item()
    -0.25
    """
    log_probs, old, adv, mask, inside, log_ratio = _loss_inputs(
        log_probs, old_log_probs, advantages, response_mask)
    low, high = _clip_range(clip_epsilon, clip_epsilon)
    constant = nonnegative(max_length, "max_length")
    if constant <= 0:
        raise InvalidInputError(f"max_length must be positive, got {max_length!r}")
    ratio = torch.exp(log_ratio)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(log_probs.shape[0]):
        row = inside[i]
        total = total + _clipped_objective(ratio[i][row], adv[i], low, high).sum() / constant
    return -total / log_probs.shape[0]


# ------------------------------------------------------------------ DAPO

def dapo_token_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                    epsilon_high) -> torch.Tensor:
    r"""DAPO's loss: decoupled clipping ("clip-higher") and a token-level mean over every
    token of the batch.

    .. math::
        \mathcal L = -\frac{1}{\sum_{i}|o_i|}\sum_{i=1}^{B}\sum_{t=1}^{|o_i|}
        \min\big(\rho_{i,t}\hat A_i,\ \operatorname{clip}(\rho_{i,t}, 1-\epsilon_{\text{low}}, 1+\epsilon_{\text{high}})\hat A_i\big)

    Source: DAPO's objective (ε_low = 0.2, ε_high = 0.28; no KL term), §3.1 "clip-higher"
    and §3.3 "token-level policy gradient loss": every token counts the same, so a long response is not diluted.
    Not stated in the notes (seed 003 "# 7. DAPO" is an empty heading).

    Conventions: module docstring; ``advantages[B]`` from :func:`group_advantages` of groups
    kept by :func:`dynamic_sampling_filter`.  ε_high > ε_low raises the ceiling for tokens
    with A > 0 (letting unlikely tokens grow) and keeps the floor for A < 0.

    Example: two tokens, ρ = (1.5, 0.5), A = 1: min(1.5, 1.28) + min(0.5, 0.8) = 1.78,
    over 2 tokens:

    >>> round(dapo_token_loss([[np.log(1.5), np.log(0.5)]], [[0.0, 0.0]], [1.0], [[1, 1]],
    ...                       0.2, 0.28).item(), 12)
    -0.89
    """
    log_probs, old, adv, mask, inside, log_ratio = _loss_inputs(
        log_probs, old_log_probs, advantages, response_mask)
    low, high = _clip_range(epsilon_low, epsilon_high)
    ratio = torch.exp(log_ratio)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(log_probs.shape[0]):
        row = inside[i]
        total = total + _clipped_objective(ratio[i][row], adv[i], low, high).sum()
    return -total / float(mask.sum())


def overlong_penalty(lengths, max_length, cache_length) -> np.ndarray:
    r"""DAPO's soft overlong punishment, added to the correctness reward.

    .. math::
        R_{\text{length}}(y) = \begin{cases}
            0, & |y| \le L_{\max} - L_{\text{cache}} \\
            \dfrac{(L_{\max} - L_{\text{cache}}) - |y|}{L_{\text{cache}}}, & L_{\max} - L_{\text{cache}} < |y| \le L_{\max} \\
            -1, & L_{\max} < |y|
        \end{cases}

    Source: DAPO eq. (13) (L_max = 20480, L_cache = 4096 in the paper).  The penalty is 0 up
    to the start of the cache interval, falls linearly to -1 at L_max, and stays -1 beyond
    (it is continuous).  verl's DAPO reward manager writes it as
    ``min(-(|y| - (L_max - L_cache)) / L_cache, 0)``, with no floor at -1: the same only
    because verl truncates responses at L_max.

    >>> overlong_penalty([10, 12, 14, 16, 20], max_length=16, cache_length=4)
    array([ 0. ,  0. , -0.5, -1. , -1. ])
    """
    lengths = validation.as_float_array(lengths, "lengths[n]", ndim=1)
    if np.any(lengths < 0) or np.any(lengths != np.round(lengths)):
        raise InvalidInputError("lengths must be non-negative whole numbers of tokens")
    if not (0 < cache_length <= max_length):
        raise InvalidInputError(f"need 0 < cache_length <= max_length, got cache_length = "
                                f"{cache_length!r}, max_length = {max_length!r}")
    start = max_length - cache_length  # the last length without a penalty
    penalty = np.zeros_like(lengths)
    for n, length in enumerate(lengths):
        if length <= start:
            penalty[n] = 0.0
        elif length <= max_length:
            penalty[n] = (start - length) / cache_length
        else:
            penalty[n] = -1.0
    return penalty


def dynamic_sampling_filter(accuracies) -> np.ndarray:
    r"""DAPO's dynamic sampling: keep a group only if some but not all of its responses are
    correct.

    .. math:: \text{keep}(q) \iff 0 < \big|\{o_i : \text{is\_equivalent}(a, o_i)\}\big| < G

    Source: the constraint of DAPO's objective, and its §3.2: a group whose responses
    are all right or all wrong has advantages all 0 (:func:`group_advantages`) and gives no
    gradient, so DAPO over-samples and drops it.  verl's DAPO recipe keeps groups whose
    chosen metric has std > 0, the same thing for 0/1 accuracies.

    Conventions: ``accuracies[n_groups, G]`` of 0 (wrong) and 1 (correct), G >= 2; returns a
    bool array ``keep[n_groups]``.  Filter on correctness, not on the shaped reward: with
    the overlong penalty added, an all-correct group has unequal rewards but still nothing
    to learn about correctness.

    >>> dynamic_sampling_filter([[1, 1, 1], [0, 1, 0], [0, 0, 0]])
    array([False,  True, False])
    """
    accuracies = _groups(accuracies, "accuracies[n_groups, G]")
    if not np.all((accuracies == 0.0) | (accuracies == 1.0)):
        raise InvalidInputError("accuracies must be 0 (wrong) or 1 (correct)")
    return np.array([bool(group.max() != group.min()) for group in accuracies])


# ------------------------------------------------------------------ GSPO

def _sequence_ratios(log_ratio: torch.Tensor, inside: torch.Tensor) -> list[torch.Tensor]:
    """s_i = exp(mean of the log-ratios over response i's own tokens), one 0-d tensor each."""
    return [torch.exp(log_ratio[i][inside[i]].sum() / inside[i].sum())
            for i in range(log_ratio.shape[0])]


def gspo_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
              epsilon_high) -> torch.Tensor:
    r"""GSPO: one length-normalised importance ratio per response, clipped per response.

    .. math::
        \mathcal L = -\frac{1}{B}\sum_{i=1}^{B}\min\big(s_i\hat A_i,\
        \operatorname{clip}(s_i, 1-\epsilon_{\text{low}}, 1+\epsilon_{\text{high}})\hat A_i\big),
        \qquad s_i = \Big(\frac{\pi_\theta(y_i|x)}{\pi_{\theta_{old}}(y_i|x)}\Big)^{1/|y_i|}
        = \exp\Big(\frac{1}{|y_i|}\sum_t \log\frac{\pi_\theta(y_{i,t}|x,y_{i,<t})}{\pi_{\theta_{old}}(y_{i,t}|x,y_{i,<t})}\Big)

    Source: GSPO §4 (its clip ranges are tiny: about 3e-4 below, 4e-4 above).  Without the
    1/|y_i| power the ratio of a long response is a product of hundreds of token ratios and
    almost always clipped.  Not stated in the notes (seed 001 "GSPO" and seed 003 "# 8. GSPO"
    only link elsewhere).

    Example: two tokens with log-ratios (0.1, -0.3): s = e^{-0.1} = 0.905, inside (0.8, 1.2):
    the loss is -s A.

    >>> round(gspo_loss([[0.1, -0.3]], [[0.0, 0.0]], [2.0], [[1, 1]], 0.2, 0.2).item(), 9)
    -1.809674836
    """
    log_probs, old, adv, mask, inside, log_ratio = _loss_inputs(
        log_probs, old_log_probs, advantages, response_mask)
    low, high = _clip_range(epsilon_low, epsilon_high)
    total = torch.zeros((), dtype=torch.float64)
    for i, ratio in enumerate(_sequence_ratios(log_ratio, inside)):
        total = total + _clipped_objective(ratio, adv[i], low, high)
    return -total / log_probs.shape[0]


def gspo_token_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                    epsilon_high) -> torch.Tensor:
    r"""GSPO-token: the sequence ratio's value with a per-token gradient, for token-level
    advantages.

    .. math::
        \mathcal L = -\frac{1}{B}\sum_{i}\frac{1}{|y_i|}\sum_{t}
        \min\big(s_{i,t}\hat A_{i,t},\ \operatorname{clip}(s_{i,t}, 1-\epsilon_{\text{low}}, 1+\epsilon_{\text{high}})\hat A_{i,t}\big),
        \qquad s_{i,t} = \operatorname{sg}[s_i]\cdot\frac{\pi_\theta(y_{i,t}|x,y_{i,<t})}{\operatorname{sg}[\pi_\theta(y_{i,t}|x,y_{i,<t})]}

    (sg = stop gradient).  Numerically :math:`s_{i,t} = s_i`; the gradient of token t flows
    through its own log-probability only.  With :math:`\hat A_{i,t} = \hat A_i` for every t
    its value and gradient equal :func:`gspo_loss`'s.

    Source: GSPO §4, the GSPO-token variant.  ``advantages[B, T]`` here (per token).

    >>> round(gspo_token_loss([[0.1, -0.3]], [[0.0, 0.0]], [[2.0, 2.0]], [[1, 1]], 0.2, 0.2).item(), 9)
    -1.809674836
    """
    log_probs, old, adv, mask, inside, log_ratio = _loss_inputs(
        log_probs, old_log_probs, advantages, response_mask, per_token=True)
    low, high = _clip_range(epsilon_low, epsilon_high)
    sequence = _sequence_ratios(log_ratio.detach(), inside)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(log_probs.shape[0]):
        row = inside[i]
        own = log_probs[i][row]
        ratio = sequence[i] * torch.exp(own - own.detach())  # value s_i, gradient per token
        total = total + _clipped_objective(ratio, adv[i][row], low, high).sum() / row.sum()
    return -total / log_probs.shape[0]


# ------------------------------------------------------------------ DCPO

def dcpo_clip_bounds(old_log_probs, epsilon_low, epsilon_high, max_ratio) -> np.ndarray:
    r"""DCPO's dynamic clipping bounds of the token ratio, from the old token probability.

    With :math:`q = \pi_{\theta_{old}}(o_t|\cdot)`:

    .. math::
        \ell(q) = \tfrac12\Big(1 + \sqrt{\max(0,\ 1 - 4\epsilon_{\text{low}}/q)}\Big), \qquad
        h(q) = \min\Big(\tfrac12\Big(1 + \sqrt{1 + 4\epsilon_{\text{high}}/q}\Big),\ r_{\max}\Big)

    that is, the larger roots of :math:`q\rho(1-\rho) = \epsilon_{\text{low}}` and of
    :math:`q\rho(\rho-1) = \epsilon_{\text{high}}` (ℓ = 1/2 where the first has no real
    root, 4ε_low > q), the upper one capped at r_max.  The ratio is then clipped to [ℓ, h]
    in place of [1 - ε, 1 + ε].  For q = 1 and ε = 0.2 they are (0.724, 1.171); as q falls
    the upper bound grows (like sqrt(ε_high / q)) and the lower one falls to 1/2.

    Source: as computed by ``get_clip_low_high`` in the authors' code (lime-RL/DCPO,
    ``verl/trainer/ppo/core_algos.py``), which caps h at ``max(clip_ratio_c, 10)``, i.e. 10
    with its defaults.  The notes' "# 9. DCPO" heading is empty, and rlspec has not read the
    paper's equation; spec entry ``dcpo.dynamic-clipping`` says exactly what is verified.

    Conventions: ``old_log_probs[n]`` finite log-probabilities (<= 0); returns
    ``bounds[2, n]`` = (lower, upper).  As q -> 0 the bounds tend to (1/2, r_max).

    Example: q = 1/2, ε_low = 0.1, ε_high = 0.2: ℓ = (1 + sqrt(0.2)) / 2, h = (1 + sqrt(2.6)) / 2.

    >>> dcpo_clip_bounds([np.log(0.5)], 0.1, 0.2, 10.0).round(6)
    array([[0.723607],
           [1.306226]])
    """
    old = validation.as_float_array(old_log_probs, "old_log_probs[n]", ndim=1)
    if np.any(old > 0):
        raise InvalidInputError("old_log_probs must be log-probabilities, <= 0")
    low_eps = nonnegative(epsilon_low, "epsilon_low")
    high_eps = nonnegative(epsilon_high, "epsilon_high")
    cap = nonnegative(max_ratio, "max_ratio")
    if cap < 1.0:
        raise InvalidInputError(f"max_ratio must be at least 1, got {max_ratio!r}")
    bounds = np.zeros((2, old.size))
    for n, log_q in enumerate(old):
        q = math.exp(log_q)
        if q == 0.0:  # the limit q -> 0
            bounds[:, n] = (0.5, cap)
            continue
        bounds[0, n] = 0.5 * (1.0 + math.sqrt(max(0.0, 1.0 - 4.0 * low_eps / q)))
        bounds[1, n] = min(0.5 * (1.0 + math.sqrt(1.0 + 4.0 * high_eps / q)), cap)
    return bounds


def dcpo_smooth_advantages(rewards, previous_steps, previous_mean, previous_std) -> np.ndarray:
    r"""DCPO's smooth advantage standardisation: the current step's group statistics mixed
    with the cumulative statistics of the same prompt, keeping the smaller mixture.

    For a prompt seen at k = ``previous_steps`` earlier steps (this is step i = k + 1), with
    current rewards r_1..r_G of mean :math:`\mu_{new}` and sample variance :math:`\sigma^2_{new}`,
    and cumulative statistics :math:`(\mu_{old}, \sigma_{old})` of the k earlier steps:

    .. math::
        \mu_{total} = \frac{k\mu_{old} + \mu_{new}}{k+1}, \qquad
        \sigma^2_{total} = \frac{k\sigma^2_{old} + \sigma^2_{new}}{k+1}
                         + \frac{k(\mu_{new} - \mu_{old})^2}{(k+1)^2}

    .. math::
        A_{new,j} = \frac{r_j - \mu_{new}}{\sigma_{new}}, \quad
        A_{total,j} = \frac{r_j - \mu_{total}}{\sigma_{total}}, \quad
        SA_{new,j} = \tfrac{i-1}{i}A_{new,j} + \tfrac1i A_{total,j}, \quad
        SA_{total,j} = \tfrac1i A_{new,j} + \tfrac{i-1}{i} A_{total,j}

    and :math:`\hat A_j = SA_{new,j}` if :math:`|SA_{new,j}| < |SA_{total,j}|`, else
    :math:`SA_{total,j}`.  A standardised advantage whose std is 0 is 0 (the code's
    ``std > 0`` guards).  At k = 0 every statistic is the current one and this is GRPO's
    advantage (:func:`group_advantages` with ε = 0).

    Source: the authors' README ("Smooth Advantage Standardization") and code
    (``compute_dcpo_outcome_advantage`` and ``get_mean_std`` in lime-RL/DCPO's
    ``verl/trainer/ppo/core_algos.py``), with ``norm_adv_by_std_in_grpo=True`` and
    ``user_old_mean_ratio=1``; spec entry ``dcpo.smooth-advantage-standardization``.
    Unrolled, the update makes :math:`\mu_{total}` the mean of the per-step means and
    :math:`\sigma^2_{total}` the mean of the per-step sample variances plus the population
    variance of the per-step means: each step weighs the same, whatever its group size.

    Conventions: ``rewards[n_groups, G]`` (G >= 2) one row per prompt;
    ``previous_steps[n_groups]`` whole numbers >= 0; ``previous_mean[n_groups]``,
    ``previous_std[n_groups]`` (>= 0) the cumulative statistics after those steps (ignored
    where k = 0).  "All rewards equal" is decided on the values, as in :func:`group_advantages`.

    Example: rewards (1, 0, 0, 0) at step 4 (k = 3) of a prompt whose earlier steps had
    mean 1/2, std 1/2: μ_new = 1/4, σ_new = 1/2, so A_new = (3/2, -1/2); μ_total = 7/16,
    σ²_total = (3/4 + 1/4 + (3/4)(1/16)) / 4 = 67/256, so A_total = (9, -7) / sqrt(67).  With
    weights 1/4, 3/4 the correct response keeps SA_total = 3/8 + (3/4)(1.0995) = 1.1996 and the
    others SA_new = -3/8 + (1/4)(-0.8552) = -0.5888.  At k = 0 it is GRPO's advantage.

    >>> dcpo_smooth_advantages([[1.0, 0.0, 0.0, 0.0]], [3], [0.5], [0.5]).round(4)
    array([[ 1.1996, -0.5888, -0.5888, -0.5888]])
    >>> dcpo_smooth_advantages([[1.0, 0.0, 0.0, 0.0]], [0], [0.0], [0.0])
    array([[ 1.5, -0.5, -0.5, -0.5]])
    """
    rewards = _groups(rewards)
    count = rewards.shape[0]
    steps = validation.as_float_array(previous_steps, "previous_steps[n_groups]", ndim=1)
    old_mean = validation.as_float_array(previous_mean, "previous_mean[n_groups]", ndim=1)
    old_std = validation.as_float_array(previous_std, "previous_std[n_groups]", ndim=1)
    for name, array in (("previous_steps", steps), ("previous_mean", old_mean),
                        ("previous_std", old_std)):
        if array.shape != (count,):
            raise InvalidInputError(f"{name} must have shape ({count},), one per group, got "
                                    f"{array.shape}")
    if np.any(steps < 0) or np.any(steps != np.round(steps)):
        raise InvalidInputError("previous_steps must be whole numbers >= 0 (how many earlier "
                                "steps saw the prompt)")
    if np.any(old_std < 0):
        raise InvalidInputError("previous_std must be >= 0")
    advantages = np.zeros_like(rewards)
    for g, group in enumerate(rewards):
        size, k = len(group), float(steps[g])
        if group.max() == group.min():
            mean, variance = float(group[0]), 0.0
        else:
            mean = math.fsum(group) / size
            variance = math.fsum((r - mean) ** 2 for r in group) / (size - 1)
        if k == 0:
            total_mean, total_variance = mean, variance
        else:
            shift = mean - old_mean[g]
            total_mean = (k * old_mean[g] + mean) / (k + 1)
            total_variance = (k * old_std[g] ** 2 + variance + k / (k + 1) * shift ** 2) / (k + 1)
        new_std, total_std = math.sqrt(variance), math.sqrt(total_variance)
        weight = 1.0 / (k + 1)  # 1 / i
        for j, reward in enumerate(group):
            a_new = (reward - mean) / new_std if new_std > 0 else 0.0
            a_total = (reward - total_mean) / total_std if total_std > 0 else 0.0
            smooth_new = weight * a_total + (1 - weight) * a_new
            smooth_total = weight * a_new + (1 - weight) * a_total
            advantages[g, j] = smooth_new if abs(smooth_new) < abs(smooth_total) else smooth_total
    return advantages


def _dcpo_objective(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                    epsilon_high, max_ratio, clip_ratio_c):
    """Per-token DCPO objective J[B, T] (0 off the response) and the response mask."""
    log_probs, old, adv, mask, inside, log_ratio = _loss_inputs(
        log_probs, old_log_probs, advantages, response_mask)
    dual = nonnegative(clip_ratio_c, "clip_ratio_c")
    if dual <= 1.0:
        raise InvalidInputError(f"clip_ratio_c must be above 1 (the dual clip bounds the loss "
                                f"of a negative advantage at ratio c > 1), got {clip_ratio_c!r}")
    low = torch.ones_like(old)
    high = torch.ones_like(old)
    bounds = dcpo_clip_bounds(old[inside].numpy(), epsilon_low, epsilon_high, max_ratio)
    low[inside], high[inside] = torch.as_tensor(bounds[0]), torch.as_tensor(bounds[1])
    ratio = torch.exp(log_ratio)
    advantage = adv[:, None].expand_as(ratio)
    clipped = torch.minimum(ratio * advantage,
                            torch.minimum(torch.maximum(ratio, low), high) * advantage)
    dual_clipped = torch.maximum(clipped, dual * advantage)  # only where A < 0
    objective = torch.where(advantage < 0, dual_clipped, clipped)
    return torch.where(inside, objective, torch.zeros_like(objective)), mask


def dcpo_dual_clip_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                        epsilon_high, max_ratio, clip_ratio_c) -> torch.Tensor:
    r"""DCPO's policy loss: the clipped surrogate with the dynamic bounds, dual-clipped for
    negative advantages, averaged over all response tokens of the batch.

    .. math::
        J_{i,t} = \begin{cases}
            \min\big(\rho_{i,t}\hat A_i,\ \operatorname{clip}(\rho_{i,t}, \ell(q_{i,t}), h(q_{i,t}))\hat A_i\big), & \hat A_i \ge 0 \\
            \max\Big(\min\big(\rho_{i,t}\hat A_i,\ \operatorname{clip}(\rho_{i,t}, \ell, h)\hat A_i\big),\ c\,\hat A_i\Big), & \hat A_i < 0
        \end{cases}
        \qquad \mathcal L = -\frac{1}{\sum_i |o_i|}\sum_{i,t} J_{i,t}

    with ℓ, h the bounds of :func:`dcpo_clip_bounds` at :math:`q_{i,t} = \pi_{\theta_{old}}`
    (capped at ``max_ratio``) and c = ``clip_ratio_c`` > 1.  For A < 0 this is
    :math:`A\min(\max(\rho, \ell), c)`: a ratio above c gives a constant loss and no gradient
    (Ye et al. 2020's dual clip, which bounds the loss of an unlikely token that became likely).

    Source: ``compute_policy_loss_dcpo`` with ``clip_type="dynamic"`` in lime-RL/DCPO's
    ``verl/trainer/ppo/core_algos.py``, with its default ``loss_agg_mode="token-mean"``
    (:func:`dcpo_otm_loss` is the same terms with the OTM aggregation the authors' recipe
    uses).  The code caps h at ``max(clip_ratio_c, 10)``; pass that as ``max_ratio`` to
    match it.  Spec entry ``dcpo.dual-clip-loss``.

    Example: one token, q = 1, ε = (0.16, 0.2): ℓ = 0.8; ratio e^{1.5} = 4.48, A = -1, c = 3:
    the dual clip binds, J = -3.

    >>> dcpo_dual_clip_loss([[1.5]], [[0.0]], [-1.0], [[1]], 0.16, 0.2, 10.0, 3.0).item()
    3.0
    """
    objective, mask = _dcpo_objective(log_probs, old_log_probs, advantages, response_mask,
                                      epsilon_low, epsilon_high, max_ratio, clip_ratio_c)
    return -objective.sum() / float(mask.sum())


def dcpo_otm_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                  epsilon_high, max_ratio, clip_ratio_c) -> torch.Tensor:
    r"""DCPO's loss with its "only token mean" (OTM) aggregation: each response's token sum,
    averaged over the responses, with no division by a length.

    .. math:: \mathcal L = -\frac{1}{B}\sum_{i=1}^{B}\sum_{t=1}^{|o_i|} J_{i,t}

    with :math:`J_{i,t}` the dual-clipped, dynamically bounded term of
    :func:`dcpo_dual_clip_loss`.  Every token weighs 1/B, so a response's weight grows with
    its advantage and its length; GRPO's 1/|o_i| would give each token of a long response
    less weight than one of a short response whatever their advantages.

    Source: the authors' README (Chinese version, section "OTM": the DCPO objective
    (1/G) Σ_i Σ_t, and a table giving each token the weight of its advantage); their
    released ``agg_loss`` computes something else (spec entry ``dcpo.otm-loss``).  It is
    ``agg.seq-mean-token-sum`` applied to DCPO's terms.

    Example: two responses of 1 and 3 tokens, ratios 1, A = (1, -1): -(1 - 3) / 2 = 1.

    >>> dcpo_otm_loss([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0] * 3] * 2, [1.0, -1.0],
    ...               [[1, 0, 0], [1, 1, 1]], 0.16, 0.2, 10.0, 3.0).item()
    1.0
    """
    objective, mask = _dcpo_objective(log_probs, old_log_probs, advantages, response_mask,
                                      epsilon_low, epsilon_high, max_ratio, clip_ratio_c)
    return -objective.sum() / mask.shape[0]
