"""Plausible wrong implementations of DDPG, TD3 and SAC, each a bug people write.

Where a bug was reported in a public project, its name cites the repository and issue or
pull request (the issue describes the symptom; the code here is written from scratch).
Signatures are the canonical ones (``rlspec list checks``); the loss bugs take and return
torch tensors, like the checks' candidates.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bug_catalogue import bug

HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


# ------------------------------------------------------------------ DPG on the LQR

def _lqr_pieces(dynamics, control, state_cost, action_cost, gain, gamma, sweeps=2000):
    closed_loop = dynamics + control @ gain
    p = np.zeros_like(state_cost)
    for _ in range(sweeps):
        p = state_cost + gain.T @ action_cost @ gain + gamma * closed_loop.T @ p @ closed_loop
    return closed_loop, p


def _visits(closed_loop, initial_covariance, discount, sweeps=2000):
    sigma = np.zeros_like(initial_covariance)
    for _ in range(sweeps):
        sigma = initial_covariance + discount * closed_loop @ sigma @ closed_loop.T
    return sigma


@bug("deterministic-policy-gradient-lqr", "myopic critic: grad_a of the reward only (Q = r)")
def dpg_myopic(dynamics, control, state_cost, action_cost, gain, initial_covariance, gamma):
    closed_loop, _ = _lqr_pieces(dynamics, control, state_cost, action_cost, gain, gamma)
    return -2.0 * action_cost @ gain @ _visits(closed_loop, initial_covariance, gamma)


@bug("deterministic-policy-gradient-lqr", "states weighted by the start distribution only, "
                                          "not the discounted visitation")
def dpg_start_states_only(dynamics, control, state_cost, action_cost, gain, initial_covariance, gamma):
    closed_loop, p = _lqr_pieces(dynamics, control, state_cost, action_cost, gain, gamma)
    return -2.0 * (action_cost @ gain + gamma * control.T @ p @ closed_loop) @ initial_covariance


@bug("deterministic-policy-gradient-lqr", "visitation normalised by (1 - gamma), a distribution "
                                          "instead of discounted counts")
def dpg_normalised_visits(dynamics, control, state_cost, action_cost, gain, initial_covariance, gamma):
    closed_loop, p = _lqr_pieces(dynamics, control, state_cost, action_cost, gain, gamma)
    sigma = _visits(closed_loop, initial_covariance, gamma)
    return -2.0 * (1.0 - gamma) * (action_cost @ gain + gamma * control.T @ p @ closed_loop) @ sigma


@bug("deterministic-policy-gradient-lqr", "visitation not discounted (sum of E[s_t s_t'])")
def dpg_undiscounted_visits(dynamics, control, state_cost, action_cost, gain, initial_covariance, gamma):
    closed_loop, p = _lqr_pieces(dynamics, control, state_cost, action_cost, gain, gamma)
    sigma = _visits(closed_loop, initial_covariance, 1.0)
    return -2.0 * (action_cost @ gain + gamma * control.T @ p @ closed_loop) @ sigma


# ------------------------------------------------------------------ soft update

@bug("soft-target-update", "tau the wrong way round: tau theta' + (1 - tau) theta")
def soft_update_reversed(target_params, online_params, tau):
    return tau * target_params + (1.0 - tau) * online_params


@bug("soft-target-update", "mixes the target with itself, so it never moves (ageron/handson-ml2#89)")
def soft_update_target_twice(target_params, online_params, tau):
    return (1.0 - tau) * target_params + tau * target_params


@bug("soft-target-update", "hard copy on every call, ignoring tau")
def soft_update_hard_copy(target_params, online_params, tau):
    return np.array(online_params)


@bug("soft-target-update", "tau squared: the update applied twice per call")
def soft_update_twice(target_params, online_params, tau):
    once = tau * online_params + (1.0 - tau) * target_params
    return tau * online_params + (1.0 - tau) * once


# ---------------------------------------------------------------- DDPG target

@bug("ddpg-target", "bootstraps through termination (no (1 - terminated) mask)")
def ddpg_target_no_mask(rewards, terminated, truncated, next_q, gamma):
    return rewards + gamma * next_q


@bug("ddpg-target", "treats truncation as termination: done = terminated or truncated "
                    "(the time-out bootstrap bug, e.g. strands-labs/robots#967, DLR-RM/stable-baselines3#633)")
def ddpg_target_done_flag(rewards, terminated, truncated, next_q, gamma):
    done = np.maximum(terminated, truncated)
    return rewards + gamma * (1.0 - done) * next_q


@bug("ddpg-target", "forgets gamma (seed 003, 4-2's target read literally)")
def ddpg_target_no_gamma(rewards, terminated, truncated, next_q, gamma):
    return rewards + (1.0 - terminated) * next_q


@bug("ddpg-target", "mask applied to the reward too: (1 - terminated)(r + gamma Q')")
def ddpg_target_masks_reward(rewards, terminated, truncated, next_q, gamma):
    return (1.0 - terminated) * (rewards + gamma * next_q)


# ---------------------------------------------------------------- TD3 target

@bug("td3-target", "max of the twin critics instead of the min")
def td3_target_max(rewards, terminated, truncated, next_q1, next_q2, gamma):
    return rewards + gamma * (1.0 - terminated) * np.maximum(next_q1, next_q2)


@bug("td3-target", "only the first target critic (DDPG's target)")
def td3_target_first_critic(rewards, terminated, truncated, next_q1, next_q2, gamma):
    return rewards + gamma * (1.0 - terminated) * next_q1


@bug("td3-target", "mean of the twin critics (a misreading asked about in DLR-RM/stable-baselines3#1112)")
def td3_target_mean(rewards, terminated, truncated, next_q1, next_q2, gamma):
    return rewards + gamma * (1.0 - terminated) * (next_q1 + next_q2) / 2.0


@bug("td3-target", "min by absolute value (np.fmin of |Q|)")
def td3_target_min_magnitude(rewards, terminated, truncated, next_q1, next_q2, gamma):
    smaller = np.where(np.abs(next_q1) <= np.abs(next_q2), next_q1, next_q2)
    return rewards + gamma * (1.0 - terminated) * smaller


@bug("td3-target", "bootstraps through termination")
def td3_target_no_mask(rewards, terminated, truncated, next_q1, next_q2, gamma):
    return rewards + gamma * np.minimum(next_q1, next_q2)


# ------------------------------------------------------ target policy smoothing

def _clip(x, low, high):
    return np.minimum(np.maximum(x, low), high)


@bug("target-policy-smoothing", "noise not clipped to [-c, c]")
def smoothing_unclipped_noise(next_actions, noise, noise_clip, action_low, action_high):
    return _clip(next_actions + noise, action_low, action_high)


@bug("target-policy-smoothing", "smoothed action not clipped to the action bounds "
                                "(fixed in AgileRL/AgileRL#240)")
def smoothing_unbounded_action(next_actions, noise, noise_clip, action_low, action_high):
    return next_actions + _clip(noise, -noise_clip, noise_clip)


@bug("target-policy-smoothing", "bounds hard-coded to [-1, 1]")
def smoothing_unit_bounds(next_actions, noise, noise_clip, action_low, action_high):
    return _clip(next_actions + _clip(noise, -noise_clip, noise_clip), -1.0, 1.0)


@bug("target-policy-smoothing", "symmetric bounds +-action_high (right only when low = -high)")
def smoothing_symmetric_bounds(next_actions, noise, noise_clip, action_low, action_high):
    return _clip(next_actions + _clip(noise, -noise_clip, noise_clip), -action_high, action_high)


@bug("target-policy-smoothing", "noise clipped to the action bounds instead of to [-c, c]")
def smoothing_noise_clipped_to_bounds(next_actions, noise, noise_clip, action_low, action_high):
    return _clip(next_actions + _clip(noise, action_low, action_high), action_low, action_high)


# ------------------------------------------------------------- delayed updates

@bug("delayed-policy-updates", "zero-based counter: the actor moves after the first critic "
                               "update, before d of them")
def schedule_zero_based(n_updates, policy_delay):
    mask = np.array([float(k % policy_delay == 0) for k in range(n_updates)])
    return np.stack([mask, mask], axis=1).reshape(n_updates, 2)


@bug("delayed-policy-updates", "targets updated after every critic update; only the actor delayed")
def schedule_targets_every_step(n_updates, policy_delay):
    actor = np.array([float(k % policy_delay == 0) for k in range(1, n_updates + 1)])
    return np.stack([actor, np.ones(n_updates)], axis=1).reshape(n_updates, 2)


@bug("delayed-policy-updates", "delay ignored: DDPG's every-step schedule")
def schedule_no_delay(n_updates, policy_delay):
    return np.ones((n_updates, 2))


# ------------------------------------------------------------------ SAC target

def _min(q1, q2):
    return np.minimum(q1, q2)


@bug("sac-target", "entropy term missing (rail-berkeley/rlkit#43: 'future entropy missed')")
def sac_target_no_entropy(rewards, terminated, truncated, next_q1, next_q2, next_log_probs, alpha, gamma):
    return rewards + gamma * (1.0 - terminated) * _min(next_q1, next_q2)


@bug("sac-target", "entropy term with the wrong sign: + alpha log pi")
def sac_target_plus_entropy(rewards, terminated, truncated, next_q1, next_q2, next_log_probs, alpha, gamma):
    return rewards + gamma * (1.0 - terminated) * (_min(next_q1, next_q2) + alpha * next_log_probs)


@bug("sac-target", "entropy term outside gamma (1 - terminated) "
                   "(DLR-RM/stable-baselines3#76, rail-berkeley/serl#93)")
def sac_target_entropy_outside(rewards, terminated, truncated, next_q1, next_q2, next_log_probs, alpha, gamma):
    return rewards + gamma * (1.0 - terminated) * _min(next_q1, next_q2) - alpha * next_log_probs


@bug("sac-target", "bootstraps through termination")
def sac_target_no_mask(rewards, terminated, truncated, next_q1, next_q2, next_log_probs, alpha, gamma):
    return rewards + gamma * (_min(next_q1, next_q2) - alpha * next_log_probs)


@bug("sac-target", "min taken after subtracting the entropy from one critic only")
def sac_target_entropy_on_first_critic(rewards, terminated, truncated, next_q1, next_q2, next_log_probs,
                                       alpha, gamma):
    soft = np.minimum(next_q1 - alpha * next_log_probs, next_q2)
    return rewards + gamma * (1.0 - terminated) * soft


# ------------------------------------------------------ squashed Gaussian log-prob

def _gaussian(mean, log_std, u):
    return -0.5 * ((u - mean) / np.exp(log_std)) ** 2 - log_std - HALF_LOG_TWO_PI


def _stable_correction(u):
    return 2.0 * (np.log(2.0) - u - np.logaddexp(0.0, -2.0 * u))


@bug("squashed-gaussian-log-prob", "tanh correction missing: the Gaussian log-density of u")
def log_prob_no_correction(mean, log_std, pre_tanh):
    return _gaussian(mean, log_std, pre_tanh).sum(axis=1)


@bug("squashed-gaussian-log-prob", "tanh correction with the wrong sign (cf. haarnoja/sac#18, "
                                   "google-deepmind/rlax#11)")
def log_prob_correction_added(mean, log_std, pre_tanh):
    return (_gaussian(mean, log_std, pre_tanh) + _stable_correction(pre_tanh)).sum(axis=1)


@bug("squashed-gaussian-log-prob", "correction averaged, not summed, over action dimensions")
def log_prob_correction_averaged(mean, log_std, pre_tanh):
    return _gaussian(mean, log_std, pre_tanh).sum(axis=1) - _stable_correction(pre_tanh).mean(axis=1)


@bug("squashed-gaussian-log-prob", "log_std used as the standard deviation")
def log_prob_log_std_as_std(mean, log_std, pre_tanh):
    std = log_std
    with np.errstate(divide="ignore", invalid="ignore"):  # std = 0 at log_std = 0
        gaussian = -0.5 * ((pre_tanh - mean) / std) ** 2 - np.log(np.abs(std)) - HALF_LOG_TWO_PI
    return (gaussian - _stable_correction(pre_tanh)).sum(axis=1)


@bug("squashed-gaussian-log-prob", "naive log(1 - tanh(u)^2): +inf once the tanh saturates "
                                   "(Kaixhin/spinning-up-basic#2)")
def log_prob_naive(mean, log_std, pre_tanh):
    with np.errstate(divide="ignore"):
        correction = np.log(1.0 - np.tanh(pre_tanh) ** 2)
    return (_gaussian(mean, log_std, pre_tanh) - correction).sum(axis=1)


@bug("squashed-gaussian-log-prob", "log(1 - tanh(u)^2 + 1e-6): off by up to ~2|u| - 14 nats "
                                   "once |u| > 7 (the epsilon of openai/spinningup#101, "
                                   "cpnota/autonomous-learning-library#139)")
def log_prob_epsilon(mean, log_std, pre_tanh):
    correction = np.log(1.0 - np.tanh(pre_tanh) ** 2 + 1e-6)
    return (_gaussian(mean, log_std, pre_tanh) - correction).sum(axis=1)


@bug("squashed-gaussian-log-prob", "tanh applied twice: log(1 - tanh(a)^2) with a = tanh(u) "
                                   "(boyu-ai/Hands-on-RL#44)")
def log_prob_double_tanh(mean, log_std, pre_tanh):
    action = np.tanh(pre_tanh)
    correction = np.log(1.0 - np.tanh(action) ** 2)
    return (_gaussian(mean, log_std, pre_tanh) - correction).sum(axis=1)


@bug("squashed-gaussian-log-prob", "u recovered as atanh(clip(a, -1 + 1e-6, 1 - 1e-6)): wrong "
                                   "once |u| > 7.25 (ray-project/ray#65036, #14878)")
def log_prob_from_clipped_action(mean, log_std, pre_tanh):
    action = np.clip(np.tanh(pre_tanh), -1.0 + 1e-6, 1.0 - 1e-6)
    u = np.arctanh(action)
    return (_gaussian(mean, log_std, u) - np.log(1.0 - action ** 2)).sum(axis=1)


# ------------------------------------------------------------------ temperature

@bug("temperature-loss", "sign flipped: alpha falls when the entropy is too low")
def temperature_sign_flipped(log_alpha, log_probs, target_entropy):
    return (log_alpha.exp() * (log_probs.detach() + target_entropy)).mean()


@bug("temperature-loss", "log_probs not detached: the temperature loss also trains the policy")
def temperature_not_detached(log_alpha, log_probs, target_entropy):
    return (-log_alpha.exp() * (log_probs + target_entropy)).mean()


@bug("temperature-loss", "sum over the batch instead of the mean (the note in "
                         "rail-berkeley/softlearning's alpha loss)")
def temperature_summed(log_alpha, log_probs, target_entropy):
    return (-log_alpha.exp() * (log_probs.detach() + target_entropy)).sum()


@bug("temperature-loss", "target entropy subtracted: log pi - H")
def temperature_minus_target(log_alpha, log_probs, target_entropy):
    return (-log_alpha.exp() * (log_probs.detach() - target_entropy)).mean()


@bug("temperature-loss", "the log alpha form checked as eq. (18)'s alpha form "
                         "(DLR-RM/stable-baselines3#36, #2013)")
def temperature_log_alpha_form(log_alpha, log_probs, target_entropy):
    return (-log_alpha * (log_probs.detach() + target_entropy)).mean()


@bug("temperature-loss-log-alpha", "sign flipped: alpha falls when the entropy is too low")
def temperature_log_alpha_sign_flipped(log_alpha, log_probs, target_entropy):
    return (log_alpha * (log_probs.detach() + target_entropy)).mean()


@bug("temperature-loss-log-alpha", "log_probs not detached: the temperature loss also trains the policy")
def temperature_log_alpha_not_detached(log_alpha, log_probs, target_entropy):
    return (-log_alpha * (log_probs + target_entropy)).mean()


@bug("temperature-loss-log-alpha", "entropy target compared with the entropy, not log pi: "
                                   "-log_alpha (H - (-log pi)) has the opposite sign")
def temperature_log_alpha_entropy_minus_target(log_alpha, log_probs, target_entropy):
    return (-log_alpha * (-log_probs.detach() - target_entropy)).mean()


# ------------------------------------------------------------------ actor loss

@bug("sac-actor-loss", "only the first critic (the TD3 actor loss; ray-project/ray#6295)")
def actor_loss_first_critic(log_probs, q1, q2, alpha):
    return (alpha * log_probs - q1).mean()


@bug("sac-actor-loss", "max of the twin critics")
def actor_loss_max(log_probs, q1, q2, alpha):
    return (alpha * log_probs - torch.maximum(q1, q2)).mean()


@bug("sac-actor-loss", "entropy sign flipped: -alpha log pi (a policy rewarded for certainty)")
def actor_loss_entropy_flipped(log_probs, q1, q2, alpha):
    return (-alpha * log_probs - torch.minimum(q1, q2)).mean()


@bug("sac-actor-loss", "log pi detached: right value, but the entropy term never trains the policy")
def actor_loss_log_probs_detached(log_probs, q1, q2, alpha):
    return (alpha * log_probs.detach() - torch.minimum(q1, q2)).mean()


@bug("sac-actor-loss", "maximises instead of minimising: min Q - alpha log pi as the loss")
def actor_loss_negated(log_probs, q1, q2, alpha):
    return (torch.minimum(q1, q2) - alpha * log_probs).mean()


# ------------------------------------------------------------------ TD3 actor loss

@bug("td3-actor-loss", "min of the twin critics (SAC's actor loss, or the clipped double-Q target's "
                       "min carried over to the actor)")
def td3_actor_loss_min(q1, q2):
    return -torch.minimum(q1, q2).mean()


@bug("td3-actor-loss", "the second critic instead of the first")
def td3_actor_loss_second_critic(q1, q2):
    return -q2.mean()


@bug("td3-actor-loss", "the average of the two critics")
def td3_actor_loss_average(q1, q2):
    return -(0.5 * (q1 + q2)).mean()


@bug("td3-actor-loss", "sum over the batch instead of the mean (the step grows with N)")
def td3_actor_loss_sum(q1, q2):
    return -q1.sum()


@bug("td3-actor-loss", "minus sign missing: the actor descends the critic")
def td3_actor_loss_no_minus(q1, q2):
    return q1.mean()


@bug("td3-actor-loss", "Q1 detached: the right value, but no gradient reaches the actor")
def td3_actor_loss_detached(q1, q2):
    return -q1.detach().mean()


# ------------------------------------------------- rescaling to the action bounds

@bug("action-bound-rescaling", "scale high - low instead of (high - low) / 2: actions overshoot the box")
def rescaling_full_width(pre_tanh, action_low, action_high):
    return action_low + (np.tanh(pre_tanh) + 1.0) * (action_high - action_low)


@bug("action-bound-rescaling", "bias left out: (high - low) / 2 * tanh(u), centred on 0, not on the box")
def rescaling_no_bias(pre_tanh, action_low, action_high):
    return (action_high - action_low) / 2.0 * np.tanh(pre_tanh)


@bug("action-bound-rescaling", "high * tanh(u): a symmetric box [-high, high] assumed (right only "
                               "when low = -high)")
def rescaling_symmetric_limit(pre_tanh, action_low, action_high):
    return action_high * np.tanh(pre_tanh)


@bug("action-bound-rescaling", "clipping instead of rescaling: clip(tanh(u), low, high)")
def rescaling_clipped(pre_tanh, action_low, action_high):
    return np.clip(np.tanh(pre_tanh), action_low, action_high)


def _rescaled_log_prob(mean, log_std, pre_tanh, log_scale):
    return (_gaussian(mean, log_std, pre_tanh) - _stable_correction(pre_tanh) - log_scale).sum(axis=1)


@bug("rescaled-squashed-gaussian-log-prob", "log(scale) missing from the correction: the density on "
                                            "(-1, 1)^d (shifts the temperature's fixed point)")
def rescaled_log_prob_no_scale(mean, log_std, pre_tanh, action_low, action_high):
    return _rescaled_log_prob(mean, log_std, pre_tanh, 0.0)


@bug("rescaled-squashed-gaussian-log-prob", "log(high - low) instead of log((high - low) / 2)")
def rescaled_log_prob_full_width(mean, log_std, pre_tanh, action_low, action_high):
    return _rescaled_log_prob(mean, log_std, pre_tanh, np.log(action_high - action_low))


@bug("rescaled-squashed-gaussian-log-prob", "log(scale) added instead of subtracted")
def rescaled_log_prob_scale_added(mean, log_std, pre_tanh, action_low, action_high):
    return _rescaled_log_prob(mean, log_std, pre_tanh, -np.log((action_high - action_low) / 2.0))


@bug("rescaled-squashed-gaussian-log-prob", "log(scale) averaged over the action dimensions, not summed")
def rescaled_log_prob_scale_averaged(mean, log_std, pre_tanh, action_low, action_high):
    log_scale = np.log((action_high - action_low) / 2.0)
    return _rescaled_log_prob(mean, log_std, pre_tanh, 0.0) - log_scale.mean()
