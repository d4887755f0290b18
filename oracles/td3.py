"""TD3: exact clipped double-Q targets, target-policy smoothing, the delayed schedule and
the actor loss.

Method, independence from ``rlspec.reference`` and accuracy: as stated in
``rlspec.oracles.sac``, which this module shares its conventions with.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec.oracles.ddpg import bootstrapped_targets_exact
from rlspec.oracles.methods.conversions import fraction_list

__all__ = [
    "td3_targets_exact",
    "smoothed_actions_exact",
    "smoothed_actions_by_median",
    "delayed_schedule_closed_form",
    "delayed_schedule_by_countdown",
    "actor_loss_exact",
]


def td3_targets_exact(rewards, terminated, next_q1, next_q2, gamma) -> np.ndarray:
    """r + gamma (1 - terminated) min(Q'_1, Q'_2) in exact rationals, rounded once."""
    smaller = [min(a, b) for a, b in zip(fraction_list(next_q1), fraction_list(next_q2))]
    return bootstrapped_targets_exact(rewards, terminated, smaller, gamma)


def smoothed_actions_exact(next_actions, noise, noise_clip, action_low, action_high) -> np.ndarray:
    """clip(mu' + clip(eps, -c, c), low, high) with each comparison and the sum exact."""
    actions = np.asarray(next_actions, dtype=np.float64)
    n, d = actions.shape
    low = np.broadcast_to(np.asarray(action_low, dtype=np.float64), (d,))
    high = np.broadcast_to(np.asarray(action_high, dtype=np.float64), (d,))
    c = Fraction(float(noise_clip))
    eps = np.asarray(noise, dtype=np.float64)
    out = np.empty_like(actions)
    for i in range(n):
        for j in range(d):
            e = Fraction(float(eps[i, j]))
            e = -c if e < -c else (c if e > c else e)
            x = Fraction(float(actions[i, j])) + e
            lo, hi = Fraction(float(low[j])), Fraction(float(high[j]))
            out[i, j] = float(lo if x < lo else (hi if x > hi else x))
    return out


def smoothed_actions_by_median(next_actions, noise, noise_clip, action_low, action_high) -> np.ndarray:
    """The same, with clip(x, lo, hi) = median(lo, x, hi) (valid when lo <= hi)."""
    actions = np.asarray(next_actions, dtype=np.float64)
    low = np.broadcast_to(np.asarray(action_low, dtype=np.float64), actions.shape)
    high = np.broadcast_to(np.asarray(action_high, dtype=np.float64), actions.shape)
    c = np.full(actions.shape, float(noise_clip))
    clipped_noise = np.median(np.stack([-c, np.asarray(noise, dtype=np.float64), c]), axis=0)
    return np.median(np.stack([low, actions + clipped_noise, high]), axis=0)


def delayed_schedule_closed_form(n_updates: int, policy_delay: int) -> np.ndarray:
    """[n, 2] 0/1: rows d, 2d, 3d, ... (counting critic updates from 1) are ones."""
    schedule = np.zeros((int(n_updates), 2))
    schedule[np.arange(int(policy_delay), int(n_updates) + 1, int(policy_delay)) - 1] = 1.0
    return schedule


def delayed_schedule_by_countdown(n_updates: int, policy_delay: int) -> np.ndarray:
    """The same by simulating the training loop: a countdown from d, reset on each actor step."""
    schedule = np.zeros((int(n_updates), 2))
    remaining = int(policy_delay)
    for step in range(int(n_updates)):
        remaining -= 1
        if remaining == 0:
            schedule[step] = 1.0
            remaining = int(policy_delay)
    return schedule


def actor_loss_exact(q1, q2=None) -> dict:
    """The value of -mean(Q1) and its partial derivatives, in exact rationals.

    Returns ``{"value", "q1", "q2"}``: the gradient is -1/N on every entry of the first
    critic and exactly 0 on the second, which takes no part in TD3's actor loss.
    """
    first = fraction_list(q1)
    n = len(first)
    value = -sum(first, Fraction(0)) / n
    return {"value": float(value), "q1": np.full(n, float(Fraction(-1, n))), "q2": np.zeros(n)}
