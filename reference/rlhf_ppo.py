r"""RLHF-PPO at the token level, as DeepSpeed-Chat implements it (seed 003, chapter 3).

Conventions (shared by every function here, and by ``rlspec.reference.grpo`` and
``rlspec.reference.loss_aggregation``)
--------------------------------------------------------------------------------------
A batch holds ``B`` token rows ``x[b, 0 .. L-1]``: the prompt, the response the actor
generated (its EOS token included) and right padding.  Every per-token tensor has
``T = L - 1`` columns, **aligned with the predicted token**:

    ``log_probs[b, t] = log pi(x[b, t+1] | x[b, 0..t])``

which is what ``log_softmax(logits[:, :-1]).gather(-1, x[:, 1:])`` gives (the logit at
position t predicts token t+1).  This one-step shift is the most common off-by-one in RLHF
code: column t holds the log-probability of token ``t + 1``, not of token t.

``action_mask[b, t] = 1`` exactly when token ``x[b, t+1]`` is a response token (EOS
included); it is 0 where ``x[b, t+1]`` is a prompt token or padding.  So prompt tokens never
contribute to a reward, an advantage or a loss.  The ones of a row are contiguous; the last
one marks the *last response token*, where the reward model's score goes.

Rewards, values and advantages use the same columns: ``values[b, t]`` is the critic's V at
the state before the response token in column t, ``rewards[b, t]`` the reward for emitting
it.  Every function returns 0 in the columns the mask excludes.

float64 throughout.  The losses take and return torch tensors (numpy arrays are converted)
so that they can be differentiated; the other functions work on numpy arrays.
"""

from __future__ import annotations

import numpy as np
import torch

from rlspec import validation
from rlspec.reference._token_inputs import checked_mask, float64_tensor, nonnegative, same_shape
from rlspec.validation import InvalidInputError

__all__ = [
    "token_log_probs",
    "kl_penalised_rewards",
    "masked_gae",
    "actor_clip_loss",
    "critic_clip_loss",
]


def _response_spans(mask: np.ndarray) -> list[tuple[int, int] | None]:
    """(first, last) column of each row's response, or None for a row without one."""
    spans = []
    for row in mask:
        ones = np.flatnonzero(row)
        spans.append((int(ones[0]), int(ones[-1])) if ones.size else None)
    return spans


# ------------------------------------------------------------------ log-probabilities

def token_log_probs(logits, input_ids) -> np.ndarray:
    r"""Per-token log-probabilities of a token row under the model that produced ``logits``.

    .. math:: \text{log\_probs}[b, t] = \log \operatorname{softmax}(\text{logits}[b, t])_{x[b, t+1]},
              \qquad t = 0, \dots, L-2

    Source: seed 003, 3.3.2 (`log_probs`, `ref_log_probs`: "response中每一个token肯定有它对应
    的log_prob") and 3.4.1 (5) (the actor's log-probs); DeepSpeed-Chat's ``gather_log_probs(
    logits[:, :-1, :], seq[:, 1:])``.

    Conventions: ``logits[B, L, V]`` float, ``input_ids[B, L]`` integers in ``[0, V)``.  The
    logit at position t predicts token t + 1, so the result has ``L - 1`` columns and column
    t is the log-probability of token ``t + 1`` (see the module docstring).  The log-sum-exp
    subtracts the row maximum first so that large logits do not overflow.

    Example: two tokens, logits 0 and log 3 at every position, so p = (1/4, 3/4):

    >>> logits = np.tile([0.0, np.log(3.0)], (1, 3, 1))
    >>> np.exp(token_log_probs(logits, [[1, 0, 1]])).round(12)   # tokens 1 and 2: 0, then 1
    array([[0.25, 0.75]])
    """
    logits = validation.as_float_array(logits, "logits[B, L, V]", ndim=3)
    ids = np.asarray(input_ids)
    if ids.shape != logits.shape[:2]:
        raise InvalidInputError(f"input_ids must have shape {logits.shape[:2]} (the first two "
                                f"axes of logits), got {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        if not np.all(np.asarray(ids, dtype=np.float64) == np.round(ids)):
            raise InvalidInputError("input_ids must be integer token ids")
        ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= logits.shape[2]):
        raise InvalidInputError(f"input_ids must lie in [0, {logits.shape[2]}), the vocabulary "
                                f"of logits; got values in [{ids.min()}, {ids.max()}]")
    batch, length, _ = logits.shape
    if length < 2:
        raise InvalidInputError(f"a row needs at least 2 tokens (one to condition on, one to "
                                f"predict), got L = {length}")
    out = np.zeros((batch, length - 1))
    for b in range(batch):
        for t in range(length - 1):
            row = logits[b, t]  # predicts token t + 1
            shifted = row - row.max()
            out[b, t] = shifted[ids[b, t + 1]] - np.log(np.exp(shifted).sum())
    return out


# ------------------------------------------------------------------ rewards

def kl_penalised_rewards(log_probs, ref_log_probs, reward_score, action_mask, kl_coef,
                         clip_reward_value) -> np.ndarray:
    r"""The per-token reward of RLHF-PPO: a KL penalty at every response token, and the
    clipped reward-model score added at the last response token.

    .. math::
        R_t = -\beta\,\big(\log\pi(a_t|s_t) - \log\pi_{\text{ref}}(a_t|s_t)\big)
              + \mathbb 1[t = T_b]\ \operatorname{clip}(r_\phi(x, y), -c, c)

    for the response columns t of row b, whose last response column is :math:`T_b`; 0 in
    every other column.

    Source: seed 003, 3.4.1 (3) 重新设计 :math:`R_t` (``kl_ctl`` = β, default 0.1;
    ``clip_reward_value`` = c, default 5) and its ``compute_rewards``.

    Conventions: module docstring; ``reward_score[B]`` is the reward model's score of each
    whole prompt + response.  The score goes to the last column whose ``action_mask`` is 1.
    (The notes' code puts it one column further, ``ends = start + mask.sum() + 1``: right
    only when the mask leaves out the EOS token; spec entry ``rlhf.token-rewards``.)

    Example: β = 0.1, c = 5, a two-token response after a one-token prompt, log π - log π_ref
    = (1, -2) and a score of 7, clipped to 5:

    >>> kl_penalised_rewards([[9.0, 1.0, -2.0]], [[0.0, 0.0, 0.0]], [7.0], [[0, 1, 1]], 0.1, 5.0)
    array([[ 0. , -0.1,  5.2]])
    """
    log_probs = validation.as_float_array(log_probs, "log_probs[B, T]", ndim=2)
    ref_log_probs = validation.as_float_array(ref_log_probs, "ref_log_probs[B, T]", ndim=2)
    same_shape(log_probs, ref_log_probs, "ref_log_probs")
    mask = checked_mask(action_mask, log_probs.shape, contiguous=True, nonempty_rows=True)
    score = validation.as_float_array(reward_score, "reward_score[B]", ndim=1)
    validation.check_shape(score, (log_probs.shape[0],), "reward_score[B]")
    beta = nonnegative(kl_coef, "kl_coef")
    clip = nonnegative(clip_reward_value, "clip_reward_value")
    rewards = np.zeros_like(log_probs)
    for b, (first, last) in enumerate(_response_spans(mask)):
        for t in range(first, last + 1):
            rewards[b, t] = -beta * (log_probs[b, t] - ref_log_probs[b, t])
        rewards[b, last] += min(max(score[b], -clip), clip)
    return rewards


# ------------------------------------------------------------------ advantages

def masked_gae(rewards, values, action_mask, gamma, lam) -> np.ndarray:
    r"""Generalised advantage estimation over the response tokens of each row.

    .. math:: \delta_t = R_t + \gamma V_{t+1} - V_t, \qquad A_t = \delta_t + \gamma\lambda A_{t+1}

    run backwards over the response columns of a row, with :math:`V_{T_b+1} = 0` and
    :math:`A_{T_b+1} = 0` after the last response column :math:`T_b` (the episode ends with
    the response: "对于最后一个时刻 t，它的未来收益和未来优势都是0").  Columns outside the
    mask get 0.  The critic's target is ``returns = advantages + values`` on the response.

    Source: seed 003, 3.4.1 (4) 重新设计优势 and its ``get_advantages_and_returns``.

    Conventions: module docstring.  Values in padding columns are ignored: the last response
    token bootstraps from 0, not from ``values`` at the first padding column.  (The notes'
    loop runs to the end of the row and relies on DeepSpeed-Chat zeroing rewards and values
    after the response first, which the notes do not show; spec entry ``rlhf.masked-gae``.)

    Example: one prompt column, then two response tokens with rewards (0, 1), values
    (0.5, 0.25), γ = 1, λ = 1/2: δ = (0 + 0.25 - 0.5, 1 - 0.25) = (-0.25, 0.75), A_2 = 0.75,
    A_1 = -0.25 + 0.5 * 0.75 = 0.125.

    >>> masked_gae([[3.0, 0.0, 1.0]], [[9.0, 0.5, 0.25]], [[0, 1, 1]], 1.0, 0.5)
    array([[0.   , 0.125, 0.75 ]])
    """
    rewards = validation.as_float_array(rewards, "rewards[B, T]", ndim=2)
    values = validation.as_float_array(values, "values[B, T]", ndim=2)
    same_shape(rewards, values, "values")
    mask = checked_mask(action_mask, rewards.shape, contiguous=True)
    gamma = validation.check_gamma(gamma)
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise InvalidInputError(f"lam must lie in [0, 1], got {lam!r}")
    advantages = np.zeros_like(rewards)
    for b, span in enumerate(_response_spans(mask)):
        if span is None:
            continue
        first, last = span
        next_value, next_advantage = 0.0, 0.0  # after the last response token
        for t in range(last, first - 1, -1):
            delta = rewards[b, t] + gamma * next_value - values[b, t]
            advantages[b, t] = delta + gamma * lam * next_advantage
            next_value, next_advantage = values[b, t], advantages[b, t]
    return advantages


# ------------------------------------------------------------------ losses

def actor_clip_loss(log_probs, old_log_probs, advantages, action_mask, clip_range) -> torch.Tensor:
    r"""The PPO clipped actor loss, averaged over the response tokens of the batch.

    .. math::
        \mathcal L = \frac{1}{\sum_{b,t} m_{b,t}} \sum_{b,t} m_{b,t}\,
        \max\big(-A_{b,t}\,\rho_{b,t},\ -A_{b,t}\operatorname{clip}(\rho_{b,t}, 1-\epsilon, 1+\epsilon)\big),
        \qquad \rho_{b,t} = e^{\log\pi_\theta - \log\pi_{\text{old}}}

    Source: seed 003, 3.4.1 (5) and (6) (clip range (0.8, 1.2), ``cliprange`` = 0.2) and
    ``actor_loss_fn``: "取每个非mask的response token的平均loss".

    Conventions: module docstring; ``log_probs`` are the current actor's (the tensor to
    differentiate), ``old_log_probs`` and ``advantages`` are constants from the rollout.
    Returns a 0-d float64 tensor.  The gradient is 0 for a token only where the clipped
    term is the larger one: ρ > 1 + ε with A > 0, or ρ < 1 - ε with A < 0 (not whenever ρ
    leaves the range, as the notes say; spec entry ``rlhf.actor-loss``).

    Example: one token, A = 1, ρ = e^{0.5} > 1.2: the loss is -1.2 and its gradient is 0.

    >>> lp = torch.tensor([[0.5]], dtype=torch.float64, requires_grad=True)
    >>> loss = actor_clip_loss(lp, [[0.0]], [[1.0]], [[1]], 0.2)
    >>> round(loss.item(), 12), torch.autograd.grad(loss, lp)[0].item()
    (-1.2, 0.0)
    """
    log_probs = float64_tensor(log_probs, "log_probs[B, T]", 2)
    old = float64_tensor(old_log_probs, "old_log_probs[B, T]", 2)
    adv = float64_tensor(advantages, "advantages[B, T]", 2)
    same_shape(log_probs, old, "old_log_probs")
    same_shape(log_probs, adv, "advantages")
    mask = checked_mask(action_mask, tuple(log_probs.shape))
    epsilon = nonnegative(clip_range, "clip_range")
    if mask.sum() == 0:
        raise InvalidInputError("action_mask has no response token: the mean is undefined")
    inside = torch.as_tensor(mask, dtype=torch.bool)
    # Masked columns may hold anything (prompt, padding): keep them out of exp entirely.
    log_ratio = torch.where(inside, log_probs - old.detach(), torch.zeros_like(log_probs))
    ratio = torch.exp(log_ratio)
    unclipped = -adv.detach() * ratio
    clipped = -adv.detach() * torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon)
    per_token = torch.where(inside, torch.maximum(unclipped, clipped), torch.zeros_like(ratio))
    return per_token.sum() / float(mask.sum())


def critic_clip_loss(values, old_values, returns, action_mask, clip_range_value) -> torch.Tensor:
    r"""The critic loss with value clipping around the *old* values, averaged over tokens.

    .. math::
        \mathcal L_V = \frac{1}{2}\,\frac{1}{\sum m}\sum_{b,t} m_{b,t}
        \max\Big( (V_{b,t} - G_{b,t})^2,\
                  \big(\operatorname{clip}(V_{b,t},\ V^{\text{old}}_{b,t} - c,\ V^{\text{old}}_{b,t} + c) - G_{b,t}\big)^2 \Big)

    where :math:`G = A + V^{\text{old}}` are the returns of ``masked_gae``.

    Source: seed 003, 3.4.2 Critic loss, (1) 实际收益优化 and (2) 预估收益优化, and its
    ``critic_loss_fn`` (``cliprange_value`` = c = 0.2; the factor 0.5 as DeepSpeed-Chat).

    Conventions: module docstring; ``values`` are the current critic's (the tensor to
    differentiate); ``old_values`` and ``returns`` are constants from the rollout.
    Returns a 0-d float64 tensor.

    Example: V = 1, V_old = 0, c = 0.2, G = 0: max(1, 0.2^2) / 2 = 0.5.

    >>> round(critic_clip_loss([[1.0]], [[0.0]], [[0.0]], [[1]], 0.2).item(), 12)
    0.5
    """
    values = float64_tensor(values, "values[B, T]", 2)
    old = float64_tensor(old_values, "old_values[B, T]", 2)
    target = float64_tensor(returns, "returns[B, T]", 2)
    same_shape(values, old, "old_values")
    same_shape(values, target, "returns")
    mask = checked_mask(action_mask, tuple(values.shape))
    c = nonnegative(clip_range_value, "clip_range_value")
    if mask.sum() == 0:
        raise InvalidInputError("action_mask has no response token: the mean is undefined")
    inside = torch.as_tensor(mask, dtype=torch.bool)
    old, target = old.detach(), target.detach()
    clipped = torch.clamp(values, old - c, old + c)  # stays within c of the OLD value
    per_token = torch.maximum((values - target) ** 2, (clipped - target) ** 2)
    per_token = torch.where(inside, per_token, torch.zeros_like(per_token))
    return 0.5 * per_token.sum() / float(mask.sum())
