r"""The formulas of TD3, DDPG and SAC, one batched torch function each.

What ``agents/td3.py`` and ``agents/sac.py`` execute; each passes its rlspec check
(``tests/agents/test_agents_formulas.py``).  ``discounts[i] = gamma (1 - terminated_i)``:
a transition cut by a time limit keeps its bootstrap.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "clipped_double_q_targets", "soft_q_targets", "smoothed_target_actions",
    "policy_update_due", "soft_update_", "squashed_gaussian_log_prob", "rescale_squashed_action",
    "temperature_loss",
    "sac_actor_loss", "deterministic_actor_loss",
]


def clipped_double_q_targets(rewards, discounts, next_q1, next_q2) -> torch.Tensor:
    r"""TD3: :math:`y = r + d \min(Q'_1, Q'_2)(s', \tilde a')`; DDPG when ``next_q2 is next_q1``.

    Fujimoto et al. (2018), eq. 10 (checks ``td3-target`` and, with one critic,
    ``ddpg-target``).  Example: r = 1, d = 1/2, critics (4, 6): y = 3.
    """
    return rewards + discounts * torch.minimum(next_q1, next_q2)


def soft_q_targets(rewards, discounts, next_q1, next_q2, next_log_probs, alpha) -> torch.Tensor:
    r"""SAC: :math:`y = r + d\,(\min(Q'_1, Q'_2)(s', a') - \alpha \log\pi(a'|s'))`, a' ~ pi(.|s').

    Haarnoja et al. (2018), eqs. 3 and 5, with the twin critics of the 2018b version (check
    ``sac-target``).  Example: r = 1, d = 1/2, critics (4, 6), log pi = -2, alpha = 1/2:
    y = 3.5.
    """
    return rewards + discounts * (torch.minimum(next_q1, next_q2) - alpha * next_log_probs)


def smoothed_target_actions(next_actions, noise, noise_clip: float, action_low, action_high
                            ) -> torch.Tensor:
    r"""TD3's target policy smoothing :math:`\operatorname{clip}(\mu'(s') + \operatorname{clip}(\epsilon, -c, c), a_{low}, a_{high})`.

    Fujimoto et al. (2018), eq. 14 (check ``target-policy-smoothing``); the noise is an
    input so that the formula is deterministic.  Example: mu' = 0.9, noise 0.8, c = 0.5,
    bounds (-1, 1): clip(1.4) = 1.
    """
    smoothed = next_actions + noise.clamp(-noise_clip, noise_clip)
    return torch.maximum(torch.minimum(smoothed, action_high), action_low)


def policy_update_due(critic_update: int, policy_delay: int) -> bool:
    r"""Whether critic update number ``critic_update`` (from 1) also moves the actor and the targets.

    TD3's delayed updates: every ``policy_delay``-th critic update, :math:`k \bmod d = 0`
    (Fujimoto et al. 2018, Algorithm 1; check ``delayed-policy-updates``).  DDPG is d = 1.
    """
    return critic_update % policy_delay == 0


@torch.no_grad()
def soft_update_(target_parameters, online_parameters, tau: float) -> None:
    r"""Polyak averaging in place: :math:`\theta' \leftarrow \tau\theta + (1-\tau)\theta'`.

    Lillicrap et al. (2016), Algorithm 1 (check ``soft-target-update``); tau = 1 is DQN's
    hard copy.  Example: theta' = 0, theta = 1, tau = 0.005: 0.005.
    """
    for target, online in zip(target_parameters, online_parameters):
        target.mul_(1.0 - tau).add_(online, alpha=tau)


def squashed_gaussian_log_prob(mean, log_std, pre_tanh) -> torch.Tensor:
    r""":math:`\log\pi(\tanh u) = \sum_i \big(\log\mathcal N(u_i; \mu_i, \sigma_i^2) - \log(1 - \tanh^2 u_i)\big)`.

    Haarnoja et al. (2018), Appendix C, eq. 21, with the stable identity
    :math:`\log(1-\tanh^2 u) = 2(\log 2 - u - \operatorname{softplus}(-2u))`, exact for
    every u where the naive form takes the log of 0 beyond |u| ~ 9 in float32 (check
    ``squashed-gaussian-log-prob``).  Example: mean = u = 0, sigma = 1: -log(2 pi) / 2.
    """
    z = (pre_tanh - mean) * torch.exp(-log_std)
    gaussian = -(0.5 * z.square() + log_std + 0.5 * math.log(2.0 * math.pi))
    log_jacobian = 2.0 * (math.log(2.0) - pre_tanh - torch.nn.functional.softplus(-2.0 * pre_tanh))
    return (gaussian - log_jacobian).sum(dim=-1)


def rescale_squashed_action(pre_tanh, action_low, action_high) -> torch.Tensor:
    r""":math:`a = \ell + (\tanh u + 1)(h - \ell)/2`: the squashed sample mapped onto the action box.

    Haarnoja et al. (2018a), Appendix C, with the affine map to the bounds (check
    ``action-bound-rescaling``).  Example: u = 0 in [0, 4]: 2.
    """
    return action_low + (torch.tanh(pre_tanh) + 1.0) * (action_high - action_low) / 2


def temperature_loss(log_alpha, log_probs, target_entropy: float) -> torch.Tensor:
    r""":math:`J(\alpha) = \frac1N\sum_i -\alpha(\log\pi(a_i|s_i) + \bar{\mathcal H})`, :math:`\alpha = e^{\log\alpha}`.

    SAC's automatic temperature (Haarnoja et al. 2018b, eq. 18), log pi held constant
    (check ``temperature-loss``).  Example: log alpha = 0, log pi = -1, target -2: J = 3.
    """
    return -(log_alpha.exp() * (log_probs.detach() + target_entropy)).mean()


def sac_actor_loss(log_probs, q1, q2, alpha) -> torch.Tensor:
    r""":math:`J_\pi = \frac1N\sum_i \alpha\log\pi(\tilde a_i|s_i) - \min(Q_1, Q_2)(s_i, \tilde a_i)`.

    Haarnoja et al. (2018b), eq. 7 with the reparameterised action (check
    ``sac-actor-loss``).  Example: alpha = 1/2, log pi = -2, critics (4, 6): -5.
    """
    alpha = alpha.detach() if torch.is_tensor(alpha) else alpha  # trained by its own loss
    return (alpha * log_probs - torch.minimum(q1, q2)).mean()


def deterministic_actor_loss(q_values) -> torch.Tensor:
    r""":math:`J_\mu = -\frac1N\sum_i Q_1(s_i, \mu(s_i))`: ascend the critic (Silver et al. 2014).

    Example: Q = (1, 3): -2.
    """
    return -q_values.mean()
