r"""The formulas of A2C and PPO, one batched torch function each.

What ``agents/a2c.py`` and ``agents/ppo.py`` execute; each passes its rlspec check
(``tests/agents/test_agents_formulas.py``).  Rollouts are time-major ``[T, N]`` (N parallel
environments); ``next_values[t]`` is V of the observation that followed step t, the *final*
observation when step t ended the episode, so a truncated step bootstraps correctly.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "generalized_advantages", "normalize_advantages", "clipped_surrogate_loss",
    "clipped_value_loss", "categorical_entropy", "ppo_total_loss", "policy_gradient_loss",
    "diagonal_gaussian_log_prob", "diagonal_gaussian_entropy",
]

#: The constant added to the standard deviation when advantages are normalised.
NORMALIZATION_EPSILON = 1e-8


def generalized_advantages(rewards, values, next_values, terminated, truncated, gamma: float,
                           lam: float) -> torch.Tensor:
    r"""GAE by the backward recursion, for every environment of a ``[T, N]`` rollout.

    .. math:: \delta_t = r_t + \gamma (1 - \text{terminated}_t) V(s'_t) - V(s_t)
    .. math:: A_t = \delta_t + \gamma\lambda (1 - \text{done}_t) A_{t+1}, \qquad A_T = 0

    Schulman et al. (2016), eq. 16; seed 003 §3.4.1(4).  A truncated step keeps its
    bootstrap :math:`\gamma V(s'_t)` but cuts the recursion, like a terminated one.  The
    lambda-returns (critic targets) are ``advantages + values`` (checks ``gae``,
    ``gae-returns``; with lambda = 1, A2C's n-step advantages, check ``n-step-advantage``).

    Example: gamma = lambda = 1/2, rewards (1, 0, 2), V (1, 2, 4), V' (2, 4, 8), step 1
    truncated: delta = (1, 0, 2) and A = (1, 0, 2).
    """
    not_terminated = 1.0 - terminated.to(rewards.dtype)
    continues = 1.0 - (terminated.bool() | truncated.bool()).to(rewards.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        next_advantage = deltas[t] + gamma * lam * continues[t] * next_advantage
        advantages[t] = next_advantage
    return advantages


def normalize_advantages(advantages) -> torch.Tensor:
    r""":math:`(A - \bar A) / (\operatorname{std}(A) + 10^{-8})`, the sample std (N - 1).

    PPO's per-minibatch normalisation (check ``advantage-normalization``); a single
    advantage, or a constant batch, becomes 0.
    """
    if advantages.numel() < 2:
        return torch.zeros_like(advantages)
    return (advantages - advantages.mean()) / (advantages.std() + NORMALIZATION_EPSILON)


def clipped_surrogate_loss(log_prob, old_log_prob, advantages, clip_epsilon: float
                           ) -> torch.Tensor:
    r""":math:`L = -\frac1N\sum_t \min(\rho_t A_t, \operatorname{clip}(\rho_t, 1-\epsilon, 1+\epsilon) A_t)`.

    :math:`\rho_t = \exp(\log\pi - \log\pi_{old})`; Schulman et al. (2017), eq. 7 (check
    ``ppo-clip-loss``).  Example: rho = 1.5, A = 1, eps = 0.2: L = -1.2.
    """
    old_log_prob, advantages = old_log_prob.detach(), advantages.detach()  # rollout data
    ratio = torch.exp(log_prob - old_log_prob)
    clipped = ratio.clamp(1.0 - clip_epsilon, 1.0 + clip_epsilon)
    return -torch.minimum(ratio * advantages, clipped * advantages).mean()


def clipped_value_loss(values, old_values, returns, clip_epsilon: float | None) -> torch.Tensor:
    r""":math:`\frac12\frac1N\sum_t \max\big((V - R)^2, (V_{old} + \operatorname{clip}(V - V_{old}, -\epsilon, \epsilon) - R)^2\big)`.

    The value clipping of OpenAI baselines' PPO2 (check ``ppo-value-loss``); with
    ``clip_epsilon=None`` the plain :math:`\frac12 \overline{(V - R)^2}`.  Example: V = 2,
    V_old = 0, R = 0, eps = 1: max(4, 1) / 2 = 2.  ``old_values`` is not read when
    ``clip_epsilon`` is None.
    """
    returns = returns.detach()  # rollout data
    unclipped = (values - returns).square()
    if clip_epsilon is None:
        return 0.5 * unclipped.mean()
    old_values = old_values.detach()
    clipped = old_values + (values - old_values).clamp(-clip_epsilon, clip_epsilon)
    return 0.5 * torch.maximum(unclipped, (clipped - returns).square()).mean()


def categorical_entropy(logits) -> torch.Tensor:
    r""":math:`H_t = -\sum_a p_{ta} \log p_{ta}`, :math:`p_t = \operatorname{softmax}(\text{logits}_t)`.

    Computed from log-softmax, so a probability that underflows to 0 contributes 0, not NaN
    (check ``categorical-entropy``).  Example: logits (0, 0): log 2.
    """
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def ppo_total_loss(log_prob, old_log_prob, advantages, values, old_values, entropy,
                   clip_epsilon: float, value_clip_epsilon: float | None,
                   value_coefficient: float, entropy_coefficient: float, normalize: bool
                   ) -> torch.Tensor:
    r""":math:`L = L^{CLIP}(\hat A) + c_1 L^{V} - c_2 \bar H`, the critic regressed on :math:`A + V_{old}`.

    Schulman et al. (2017), eq. 9.  ``advantages`` are the raw GAE advantages of the
    rollout; the value targets are the lambda-returns ``advantages + old_values`` (built
    before normalisation), and :math:`\hat A` is the normalised advantage when
    ``normalize`` (check ``ppo-total-loss``).
    """
    advantages, old_values = advantages.detach(), old_values.detach()  # rollout data
    returns = advantages + old_values
    policy_advantages = normalize_advantages(advantages) if normalize else advantages
    policy_loss = clipped_surrogate_loss(log_prob, old_log_prob, policy_advantages, clip_epsilon)
    value_loss = clipped_value_loss(values, old_values, returns, value_clip_epsilon)
    return policy_loss + value_coefficient * value_loss - entropy_coefficient * entropy.mean()


def policy_gradient_loss(log_prob, advantages) -> torch.Tensor:
    r""":math:`L = -\frac1N\sum_t A_t \log\pi(a_t|s_t)`, A held constant: A2C's actor loss.

    Its gradient is the policy-gradient estimate :math:`-\frac1N\sum_t A_t\nabla\log\pi`
    (Mnih et al. 2016; check ``reinforce-gradient`` with the tabular softmax policy).
    Example: log pi = log(1/2), A = 2: L = 2 log 2.
    """
    return -(advantages.detach() * log_prob).mean()


def diagonal_gaussian_log_prob(mean, log_std, actions) -> torch.Tensor:
    r""":math:`\log\mathcal N(a; \mu, \operatorname{diag}\sigma^2) = -\sum_i \big(\frac{(a_i-\mu_i)^2}{2\sigma_i^2} + \log\sigma_i + \tfrac12\log 2\pi\big)`.

    The continuous-action policy of PPO, summed over action dimensions.  Example: a = mu,
    sigma = 1, one dimension: -log(2 pi) / 2.
    """
    z = (actions - mean) * torch.exp(-log_std)
    return -(0.5 * z.square() + log_std + 0.5 * math.log(2.0 * math.pi)).sum(dim=-1)


def diagonal_gaussian_entropy(log_std) -> torch.Tensor:
    r""":math:`H = \sum_i \big(\log\sigma_i + \tfrac12\log(2\pi e)\big)`, the continuous policy's entropy.

    Example: sigma = 1, one dimension: (1 + log 2 pi) / 2 = 1.4189...
    """
    return (log_std + 0.5 * (1.0 + math.log(2.0 * math.pi))).sum(dim=-1)
