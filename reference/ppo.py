"""Proximal policy optimisation (PPO): the clipped objective, the KL-penalty objective and its
adaptive coefficient, the clipped value loss, advantage normalisation, the entropy bonus,
and the total loss as implementations combine them.

Source: seed 000 "信赖域策略优化（TRPO） & 近端策略优化（PPO）", seed 001 "7. 两个分布的差距不能过大",
seed 002 "PPO: Proximal Policy Optimization", seed 003 "2.4 PPO" and "3.4 RLHF中的loss计算";
Schulman, Wolski, Dhariwal, Radford & Klimov (2017), "Proximal policy optimization
algorithms" (https://arxiv.org/abs/1707.06347), cited below as "PPO".

Conventions for the whole module:

- Losses are to be *minimised*: each is minus the paper's objective, averaged over the N
  samples of the batch (the mean, PPO's E-hat_t), returned as a 0-d float64 torch tensor so
  that ``loss.backward()`` gives the gradient.  Arguments may be torch tensors (which keep
  their graph) or array-likes (converted to float64 tensors).
- The probability ratio is r = pi_theta(a|s) / pi_theta_old(a|s) = exp(log_prob - old_log_prob):
  the *new* policy on top.  ``old_log_prob``, ``old_logits``, ``old_values``, ``advantages``
  and ``returns`` are data from the rollout: the losses detach them, so no gradient reaches
  them even when they arrive as tensors that require one.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rlspec import validation

__all__ = ["clipped_surrogate_loss", "kl_penalty_loss", "adaptive_kl_coefficient",
           "clipped_value_loss", "normalize_advantages", "categorical_entropy", "ppo_total_loss"]


def _tensor(value, name: str, ndim: int) -> torch.Tensor:
    """A float64 tensor of ``ndim`` dimensions with no NaN or infinity (a tensor keeps its graph)."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            value = value.to(torch.float64)
        if value.dim() != ndim:
            raise validation.InvalidInputError(
                f"{name} must be a {ndim}-D tensor, got shape {tuple(value.shape)}")
        if not torch.isfinite(value.detach()).all():
            raise validation.InvalidInputError(f"{name} contains NaN or an infinite value")
        return value.to(torch.float64)
    return torch.as_tensor(validation.as_float_array(value, name, ndim=ndim))


def _same_length(*named: tuple[str, torch.Tensor]) -> int:
    sizes = {name: int(tensor.shape[0]) for name, tensor in named}
    if len(set(sizes.values())) != 1:
        raise validation.InvalidInputError(f"batch sizes differ: {sizes}")
    size = next(iter(sizes.values()))
    if size == 0:
        raise validation.InvalidInputError("the batch is empty: the mean of 0 samples is undefined")
    return size


def _check_epsilon(epsilon, name: str = "clip_epsilon") -> float:
    try:
        value = float(epsilon)
    except (TypeError, ValueError):
        raise validation.InvalidInputError(f"{name} must be a number >= 0, got {epsilon!r}") from None
    if not value >= 0.0 or math.isinf(value):
        raise validation.InvalidInputError(f"{name} must be a finite number >= 0, got {epsilon!r}")
    return value


def clipped_surrogate_loss(log_prob, old_log_prob, advantages, clip_epsilon) -> torch.Tensor:
    r"""Minus PPO's clipped surrogate objective, averaged over the batch.

    .. math:: L^{CLIP} = \hat{\mathbb E}_t\big[\min\big(r_t A_t,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon) A_t\big)\big],
              \qquad r_t = \frac{\pi_\theta(a_t|s_t)}{\pi_{\theta_{old}}(a_t|s_t)}

    Returns :math:`-L^{CLIP}` (a loss to minimise).  The min is taken *after* multiplying by
    the advantage, so which side is clipped depends on the sign of A: for A > 0 the
    objective is A min(r, 1 + eps), for A < 0 it is A max(r, 1 - eps) (Spinning Up's
    min(r A, g(eps, A))).  The gradient with respect to log_prob is -r_t A_t / N where the
    unclipped term is the smaller one and 0 where the clipped term is: beyond 1 + eps with
    A > 0, or below 1 - eps with A < 0.  On the other side the gradient is never cut.

    Source: seed 000 "信赖域策略优化（TRPO） & 近端策略优化（PPO）" (L^{PPO-Clip}); seed 001
    "7. 两个分布的差距不能过大" (Loss_2, with theta' the old policy); seed 002
    "PPO在TRPO基础上的改进" (L^{CLIP} <= L^{CPI}); seed 003 "（2）近端策略优化裁剪（PPO-clip）";
    PPO eq. (7).

    Example: eps = 0.2, two samples with r = 1.5 and advantages (1, -1):
    min(1.5, 1.2) = 1.2 and min(-1.5, -1.2) = -1.5, so the loss is -(1.2 - 1.5) / 2 = 0.15.

    >>> float(clipped_surrogate_loss([math.log(1.5)] * 2, [0.0, 0.0], [1.0, -1.0], 0.2))
    0.15000000000000002
    """
    log_prob = _tensor(log_prob, "log_prob[N]", 1)
    old_log_prob = _tensor(old_log_prob, "old_log_prob[N]", 1).detach()
    advantages = _tensor(advantages, "advantages[N]", 1).detach()
    _same_length(("log_prob", log_prob), ("old_log_prob", old_log_prob),
                 ("advantages", advantages))
    epsilon = _check_epsilon(clip_epsilon)
    ratio = torch.exp(log_prob - old_log_prob)
    clipped_ratio = torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon)
    return -torch.minimum(ratio * advantages, clipped_ratio * advantages).mean()


def _log_softmax_rows(logits: torch.Tensor) -> torch.Tensor:
    return logits - torch.logsumexp(logits, dim=1, keepdim=True)


def kl_penalty_loss(logits, old_logits, actions, advantages, beta) -> torch.Tensor:
    r"""Minus PPO's KL-penalised surrogate, averaged over the batch (categorical policies).

    .. math:: L^{KLPEN} = \hat{\mathbb E}_t\Big[r_t A_t - \beta\,
              \mathrm{KL}\big[\pi_{\theta_{old}}(\cdot|s_t),\ \pi_\theta(\cdot|s_t)\big]\Big]

    with pi_theta(.|s_t) = softmax(logits[t]), r_t = pi_theta(a_t|s_t) / pi_old(a_t|s_t) and
    the *full* KL of the action distributions at s_t, old policy first (PPO eq. 8).
    Returns -L^{KLPEN}.  ``actions`` are integer indices into the last axis of the logits.

    Source: seed 002 "3. 自适应的KL惩罚项参数" (L^{KL PEN}, old first); seed 000 (PPO-Penalty,
    D_KL(pi_theta || pi_theta') with theta old); seed 001 "7. 两个分布的差距不能过大" (loss_1)
    and seed 003 "（1）近端策略优化惩罚（PPO-penalty）": see the erratum in ``ppo.kl-penalty``.

    Example: one sample, old and new logits both 0 over two actions: r = 1, KL = 0, so
    the loss is -A = -2 whatever beta.

    >>> float(kl_penalty_loss([[0.0, 0.0]], [[0.0, 0.0]], [1], [2.0], 0.5))
    -2.0
    """
    logits = _tensor(logits, "logits[N, A]", 2)
    old_logits = _tensor(old_logits, "old_logits[N, A]", 2).detach()
    advantages = _tensor(advantages, "advantages[N]", 1).detach()
    actions = torch.as_tensor(np.asarray(actions.detach() if isinstance(actions, torch.Tensor)
                                         else actions))
    if actions.dim() != 1 or actions.is_floating_point() and not torch.equal(actions, actions.round()):
        raise validation.InvalidInputError("actions must be a 1-D array of integer action indices")
    actions = actions.to(torch.int64)
    _same_length(("logits", logits), ("old_logits", old_logits), ("actions", actions),
                 ("advantages", advantages))
    if logits.shape != old_logits.shape:
        raise validation.InvalidInputError(
            f"logits and old_logits differ in shape: {tuple(logits.shape)} vs {tuple(old_logits.shape)}")
    if (actions < 0).any() or (actions >= logits.shape[1]).any():
        raise validation.InvalidInputError(f"actions must lie in range({logits.shape[1]})")
    beta = float(beta)
    log_policy = _log_softmax_rows(logits)
    old_log_policy = _log_softmax_rows(old_logits)
    taken = actions.unsqueeze(1)
    ratio = torch.exp(log_policy.gather(1, taken) - old_log_policy.gather(1, taken)).squeeze(1)
    kl = (old_log_policy.exp() * (old_log_policy - log_policy)).sum(dim=1)
    return -(ratio * advantages - beta * kl).mean()


def adaptive_kl_coefficient(beta, kl, kl_target) -> float:
    r"""PPO's adaptive KL coefficient: halve beta when the KL is small, double it when large.

    .. math:: \beta \leftarrow \begin{cases} \beta / 2 & d < d_{targ} / 1.5 \\
              2\beta & d > 1.5\, d_{targ} \\ \beta & \text{otherwise} \end{cases}

    with d the mean KL[pi_old, pi_theta] measured after the policy update; the new beta is
    used for the *next* update.  The inequalities are strict: at d = d_targ / 1.5 or
    d = 1.5 d_targ beta stays.  (1.5 and 2 are the paper's heuristic constants.)

    Source: seed 002 "动态调整 β 方法" (exactly this); seed 000 (the same rule, with delta
    for d_targ); seed 003 "（1）近端策略优化惩罚（PPO-penalty）" (KL > KLmax: increase beta;
    KL < KLmin: decrease); PPO section 4.

    >>> adaptive_kl_coefficient(1.0, 0.001, 0.01), adaptive_kl_coefficient(1.0, 0.02, 0.01)
    (0.5, 2.0)
    >>> adaptive_kl_coefficient(1.0, 0.375, 0.25)  # d = 1.5 d_targ exactly: unchanged
    1.0
    """
    beta, kl, kl_target = (float(x) for x in (beta, kl, kl_target))
    if not (beta > 0 and kl_target > 0 and kl >= 0) or not all(map(math.isfinite, (beta, kl, kl_target))):
        raise validation.InvalidInputError(
            f"need beta > 0, kl >= 0 and kl_target > 0, all finite; got beta={beta!r}, "
            f"kl={kl!r}, kl_target={kl_target!r}")
    if kl < kl_target / 1.5:
        return beta / 2.0
    if kl > kl_target * 1.5:
        return beta * 2.0
    return beta


def clipped_value_loss(values, old_values, returns, clip_epsilon) -> torch.Tensor:
    r"""The clipped value loss of PPO implementations (OpenAI baselines' ppo2).

    .. math:: L^{V} = \tfrac12\,\hat{\mathbb E}_t\Big[\max\big((V_t - R_t)^2,\
              (V^{old}_t + \mathrm{clip}(V_t - V^{old}_t, -\epsilon, \epsilon) - R_t)^2\big)\Big]

    V_t = ``values`` (the critic being trained), V^old_t = ``old_values`` (the critic's
    predictions when the batch was collected, fixed), R_t = ``returns`` (the value targets,
    usually advantages + old values).  The clip is centred on the *old* prediction, and the
    *max* makes it pessimistic: clipping may raise the loss, never lower it.  The 1/2 is the
    notes' (and baselines', CleanRL's) convention; the PPO paper's L^VF has none.
    Stable-Baselines3's ``clip_range_vf`` is a different loss (the clipped prediction only,
    no max, no 1/2).

    Source: seed 003 "3.4.2 Critic loss" ("（2）预估收益优化": values_clipped, then
    0.5 * max(vf_loss1, vf_loss2)); the value targets there are Adv_t + V_t (old critic).

    Example: eps = 0.2, V = 2, V_old = 1, R = 3: unclipped (2 - 3)^2 = 1, clipped
    (1.2 - 3)^2 = 3.24, so the loss is 0.5 * 3.24 = 1.62.

    >>> round(float(clipped_value_loss([2.0], [1.0], [3.0], 0.2)), 12)
    1.62
    """
    values = _tensor(values, "values[N]", 1)
    old_values = _tensor(old_values, "old_values[N]", 1).detach()
    returns = _tensor(returns, "returns[N]", 1).detach()
    _same_length(("values", values), ("old_values", old_values), ("returns", returns))
    epsilon = _check_epsilon(clip_epsilon)
    clipped_values = old_values + torch.clamp(values - old_values, -epsilon, epsilon)
    return 0.5 * torch.maximum((values - returns) ** 2, (clipped_values - returns) ** 2).mean()


#: Added to the standard deviation in :func:`normalize_advantages` (CleanRL's and SB3's value).
NORMALIZATION_EPSILON = 1e-8


def normalize_advantages(advantages, epsilon: float = NORMALIZATION_EPSILON) -> np.ndarray:
    r"""Standardise a batch of advantages: subtract the mean, divide by the standard deviation.

    .. math:: \hat A_t = \frac{A_t - \bar A}{\sigma + \epsilon}, \qquad
              \sigma = \sqrt{\tfrac{1}{N-1}\textstyle\sum_t (A_t - \bar A)^2}

    sigma is the sample (N - 1) standard deviation, as torch's ``std()`` used by CleanRL,
    SB3 and the notes' code; for N = 1 it is taken as 0 (torch gives NaN), so a single
    advantage, like a constant batch, normalises to 0: the centred value is 0 and epsilon
    keeps 0 / 0 away.  Only the policy loss uses the normalised advantages; the value
    targets are formed from the raw ones.

    Source: seed 003 "2.5 代码实现" (将优势归一化: ``(A_k - A_k.mean()) / (A_k.std() + 1e-10)``);
    not in the PPO paper.

    >>> normalize_advantages([1.0, 3.0]).round(6), normalize_advantages([5.0]), normalize_advantages([2.0, 2.0])
    (array([-0.707107,  0.707107]), array([0.]), array([0., 0.]))
    """
    advantages = validation.as_float_array(
        advantages.detach().cpu().numpy() if isinstance(advantages, torch.Tensor) else advantages,
        "advantages[N]", ndim=1)
    size = advantages.size
    if size == 0:
        raise validation.InvalidInputError("advantages is empty: nothing to normalise")
    mean = sum(advantages) / size
    centred = advantages - mean
    variance = sum(c * c for c in centred) / (size - 1) if size > 1 else 0.0
    return centred / (math.sqrt(variance) + epsilon)


def categorical_entropy(logits) -> torch.Tensor:
    r"""The entropy of each categorical distribution softmax(logits[t]), in nats.

    .. math:: H(\pi(\cdot|s_t)) = -\sum_a \pi(a|s_t)\log\pi(a|s_t), \qquad \pi(\cdot|s_t) = \mathrm{softmax}(z_t)

    computed as -sum_a p_a log_softmax(z)_a, so an action whose probability underflows to 0
    (logit -1000) contributes 0 instead of 0 * log 0 = NaN.  PPO adds c_2 times its batch
    mean to the objective (an entropy *bonus*, subtracted from the loss).

    Source: seed 003 (策略的熵: "确定性策略的熵为0"); the bonus S in PPO eq. (9).

    >>> categorical_entropy([[0.0, 0.0], [0.0, -1000.0]]).numpy().round(6)
    array([0.693147, 0.      ])
    """
    logits = _tensor(logits, "logits[N, A]", 2)
    log_policy = _log_softmax_rows(logits)
    return 0.0 - (log_policy.exp() * log_policy).sum(dim=1)  # 0.0 - (-0.0) = +0.0


def ppo_total_loss(log_prob, old_log_prob, advantages, values, old_values, entropy, clip_epsilon,
                   value_clip_epsilon, value_coefficient, entropy_coefficient,
                   normalize: bool) -> torch.Tensor:
    r"""The loss PPO implementations minimise: policy loss + c_1 value loss - c_2 entropy.

    .. math:: \text{loss} = -L^{CLIP}(\hat A) + c_1 L^{V}(R) - c_2\,\hat{\mathbb E}_t[H_t],
              \qquad R_t = A_t + V^{old}_t

    (PPO eq. 9, with the clipped value loss of :func:`clipped_value_loss`; CleanRL's
    ``loss = pg_loss - ent_coef * entropy_loss + v_loss * vf_coef``).  The value targets R
    are formed from the *raw* advantages; only the policy term sees the normalised ones
    (:func:`normalize_advantages`, when ``normalize`` is true).  With
    ``value_clip_epsilon=None`` the value loss is the unclipped 1/2 mean (V - R)^2.
    ``entropy[t]`` is the entropy of the current policy at s_t (with its graph).

    Source: seed 003 "3.4 RLHF中的loss计算" (actor loss, critic loss with targets
    Adv_t + V_t); PPO eq. (9).

    Example: one sample with r = 1, A = 1, V = V_old = 1 (so R = 2), entropy 1/2, c_1 = 1/2,
    c_2 = 0.01: policy loss -1, value loss 1/2 (2 - 1)^2 = 1/2, so
    -1 + 0.5 * 0.5 - 0.01 * 0.5 = -0.755.

    >>> round(float(ppo_total_loss([0.0], [0.0], [1.0], [1.0], [1.0], [0.5], 0.2, 0.2, 0.5, 0.01, False)), 12)
    -0.755
    """
    advantages = _tensor(advantages, "advantages[N]", 1).detach()
    old_values = _tensor(old_values, "old_values[N]", 1).detach()
    entropy = _tensor(entropy, "entropy[N]", 1)
    returns = advantages + old_values
    policy_advantages = torch.as_tensor(normalize_advantages(advantages)) \
        if normalize else advantages
    policy_loss = clipped_surrogate_loss(log_prob, old_log_prob, policy_advantages, clip_epsilon)
    if value_clip_epsilon is None:
        values = _tensor(values, "values[N]", 1)
        value_loss = 0.5 * ((values - returns) ** 2).mean()
    else:
        value_loss = clipped_value_loss(values, old_values, returns, value_clip_epsilon)
    return policy_loss + float(value_coefficient) * value_loss \
        - float(entropy_coefficient) * entropy.mean()
