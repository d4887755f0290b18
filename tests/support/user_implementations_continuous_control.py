"""Correct DDPG / TD3 / SAC pieces written the way users write them: torch tensors, in-place
soft updates, clamp chains, counters, the Spinning Up log-prob.  None imports rlspec.

The tests of the chapter assert that ``rlspec.check`` accepts each of them, through the thin
wrappers a user would write to match the canonical signatures.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F


def _t(x):
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


# --------------------------------------------------------------------------- DDPG

def dpg_by_autograd_of_a_rollout(dynamics, control, state_cost, action_cost, gain,
                                 initial_covariance, gamma):
    """J(K) = -sum_t gamma^t tr((Q + K'RK) E[s_t s_t']) summed for 400 steps, then autograd.
    The tail after 400 steps is below (gamma ||A + BK||^2)^400, negligible for these cases."""
    a, b, q, r, s0 = (_t(x) for x in (dynamics, control, state_cost, action_cost, initial_covariance))
    k = _t(gain).clone().requires_grad_(True)
    m = a + b @ k
    second_moment, objective, discount = s0, torch.zeros((), dtype=torch.float64), 1.0
    for _ in range(400):
        objective = objective - discount * torch.trace((q + k.T @ r @ k) @ second_moment)
        second_moment = m @ second_moment @ m.T
        discount *= gamma
    objective.backward()
    return k.grad


def soft_update_in_place_with_lerp(target_params, online_params, tau):
    """The in-place torch update (as in SB3's polyak_update), wrapped to return the result."""
    target = _t(target_params).clone()
    with torch.no_grad():
        target.lerp_(_t(online_params), float(tau))
    return target


def ddpg_target_torch(rewards, terminated, truncated, next_q, gamma):
    """The replay buffer stores terminated (not terminated or truncated) as its 'done'."""
    dones = _t(terminated)
    return _t(rewards) + gamma * (1.0 - dones) * _t(next_q)


# ---------------------------------------------------------------------------- TD3

def td3_target_torch(rewards, terminated, truncated, next_q1, next_q2, gamma):
    next_q = torch.min(_t(next_q1), _t(next_q2))
    return _t(rewards) + (1.0 - _t(terminated)) * gamma * next_q


def smoothing_with_clamps(next_actions, noise, noise_clip, action_low, action_high):
    """Fujimoto's two clamps, with per-dimension bounds as tensors."""
    clipped = _t(noise).clamp(-noise_clip, noise_clip)
    return torch.max(torch.min(_t(next_actions) + clipped, _t(action_high)), _t(action_low))


def schedule_with_a_counter(n_updates, policy_delay):
    """The training loop's counter, incremented before the test (as in SB3's TD3)."""
    rows, n_updates_done = [], 0
    for _ in range(n_updates):
        n_updates_done += 1
        delayed = n_updates_done % policy_delay == 0
        rows.append([delayed, delayed])
    return np.array(rows, dtype=bool).reshape(n_updates, 2)


# ---------------------------------------------------------------------------- SAC

def sac_target_torch(rewards, terminated, truncated, next_q1, next_q2, next_log_probs, alpha, gamma):
    soft = torch.min(_t(next_q1), _t(next_q2)) - alpha * _t(next_log_probs)
    return _t(rewards) + (1.0 - _t(terminated)) * gamma * soft


def log_prob_spinning_up_style(mean, log_std, pre_tanh):
    """torch.distributions.Normal for u, then the stable correction, summed over dimensions."""
    u = _t(pre_tanh)
    log_prob = torch.distributions.Normal(_t(mean), _t(log_std).exp()).log_prob(u).sum(dim=-1)
    log_prob = log_prob - (2 * (np.log(2) - u - F.softplus(-2 * u))).sum(dim=-1)
    return log_prob


def temperature_loss_cleanrl_style(log_alpha, log_probs, target_entropy):
    """eq. (18): the alpha form, log pi computed without a graph."""
    with torch.no_grad():
        slack = log_probs + target_entropy
    return (-log_alpha.exp() * slack).mean()


def temperature_loss_sb3_style(log_alpha, log_probs, target_entropy):
    """The log alpha form, with an explicit detach."""
    return -(log_alpha * (log_probs + target_entropy).detach()).mean()


def actor_loss_cleanrl_style(log_probs, q1, q2, alpha):
    alpha = alpha.detach()  # CleanRL keeps alpha = log_alpha.exp().item()
    min_qf_pi = torch.min(q1, q2)
    return ((alpha * log_probs) - min_qf_pi).mean()


def td3_actor_loss_authors_style(q1, q2):
    """The authors' TD3 code: -critic.Q1(state, actor(state)).mean(); q2 is never computed."""
    return -q1.mean()


def rescaling_cleanrl_style(pre_tanh, action_low, action_high):
    """CleanRL's action_scale * tanh(u) + action_bias, in torch."""
    scale, bias = (_t(action_high) - _t(action_low)) / 2.0, (_t(action_high) + _t(action_low)) / 2.0
    return (torch.tanh(_t(pre_tanh)) * scale + bias).numpy()


def rescaled_log_prob_torch(mean, log_std, pre_tanh, action_low, action_high):
    """torch.distributions' Normal, minus log(scale (1 - tanh(u)^2)) written stably."""
    u = _t(pre_tanh)
    normal = torch.distributions.Normal(_t(mean), torch.exp(_t(log_std)))
    scale = (_t(action_high) - _t(action_low)) / 2.0
    log_jacobian = torch.log(scale) + 2.0 * (math.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))
    return (normal.log_prob(u) - log_jacobian).sum(dim=1).numpy()
