"""Exact answers for the deterministic and max-entropy actor-critics (DDPG, TD3, SAC).

Each formula here is short, so the oracle's independence comes from the *method*, not from
cleverness: the targets, the soft update and the losses are evaluated in exact rational
arithmetic (every float input converted exactly, so the only rounding is the final one to
float64); clipping is evaluated a second way as a median of three; the delayed schedule is
enumerated in closed form and simulated with a countdown; the targets are cross-checked
against a linear-solve Q^pi (a Bellman target sampled at the fixed point returns it); the
loss gradients come from closed-form derivatives and are cross-checked by differences.

Accuracy: a rational answer rounded once is within half an ulp of the exact value of the
given floats; ``alpha = exp(log_alpha)`` is irrational and is evaluated with mpmath at 40
significant digits before rounding, so the same holds.  Candidates are held to the
runner's relative 1e-6.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np

from rlspec import validation

__all__ = [
    "ddpg_targets_exact", "td3_targets_exact", "sac_targets_exact", "soft_action_values",
    "soft_target_update_exact", "soft_target_after_updates",
    "smoothed_actions_exact", "smoothed_actions_by_median",
    "delayed_schedule_closed_form", "delayed_schedule_by_countdown",
    "temperature_loss_exact", "temperature_loss_log_alpha_exact",
    "temperature_gradient_finite_difference",
    "actor_loss_exact", "actor_loss_gradient_finite_difference",
]

#: Working precision of mpmath here: 40 significant digits, so exp(log_alpha) and the
#: differences below round to float64 exactly enough (error ~ 1e-40 relative).
DIGITS = 40


def _fractions(values) -> list[Fraction]:
    return [Fraction(float(v)) for v in np.asarray(values, dtype=np.float64).ravel()]


def _to_float(values: list[Fraction]) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=np.float64)


def _bootstrapped(rewards, terminated, next_values: list[Fraction], gamma) -> np.ndarray:
    g = Fraction(float(gamma))
    exact = [r + (0 if term else g * v)
             for r, term, v in zip(_fractions(rewards), np.asarray(terminated, dtype=bool), next_values)]
    return _to_float(exact)


# --------------------------------------------------------------------------- targets

def ddpg_targets_exact(rewards, terminated, next_q, gamma) -> np.ndarray:
    """r + gamma (1 - terminated) Q'(s', mu'(s')) in exact rationals, rounded once."""
    return _bootstrapped(rewards, terminated, _fractions(next_q), gamma)


def td3_targets_exact(rewards, terminated, next_q1, next_q2, gamma) -> np.ndarray:
    """r + gamma (1 - terminated) min(Q'_1, Q'_2) in exact rationals, rounded once."""
    smaller = [min(a, b) for a, b in zip(_fractions(next_q1), _fractions(next_q2))]
    return _bootstrapped(rewards, terminated, smaller, gamma)


def sac_targets_exact(rewards, terminated, next_q1, next_q2, next_log_probs, alpha, gamma) -> np.ndarray:
    """r + gamma (1 - terminated) (min(Q'_1, Q'_2) - alpha log pi') in exact rationals."""
    a = Fraction(float(alpha))
    soft = [min(q1, q2) - a * lp for q1, q2, lp in
            zip(_fractions(next_q1), _fractions(next_q2), _fractions(next_log_probs))]
    return _bootstrapped(rewards, terminated, soft, gamma)


def soft_action_values(transitions, rewards, gamma, policy, alpha) -> np.ndarray:
    r"""Soft Q^pi of a tabular MDP by one linear solve (gamma < 1):

    .. math:: V(s) = \sum_a \pi(a|s)\big[r(s,a) - \alpha\log\pi(a|s)\big] + \gamma\sum_{s'}P_\pi(s'|s)V(s'),
              \qquad Q(s,a) = r(s,a) + \gamma\sum_{s'}p(s'|s,a)V(s')

    (0 log 0 = 0).  The SAC target averaged over a' ~ pi(.|s') with next_q = Q(s', a') and
    next_log_probs = log pi(a'|s') must give back Q(s, a): a second oracle for the target.
    """
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma_below_one(gamma)
    n_states, n_actions = rewards.shape
    policy = validation.policy_table(policy, n_states, n_actions)
    safe = np.where(policy > 0, policy, 1.0)
    entropy_bonus = -float(alpha) * (policy * np.log(safe)).sum(axis=1)
    reward_pi = (policy * rewards).sum(axis=1) + entropy_bonus
    markov = np.einsum("sa,sat->st", policy, transitions)
    values = np.linalg.solve(np.eye(n_states) - gamma * markov, reward_pi)
    return rewards + gamma * transitions @ values


# ------------------------------------------------------------------ soft target update

def soft_target_update_exact(target_params, online_params, tau) -> np.ndarray:
    """tau * online + (1 - tau) * target, entry by entry in exact rationals."""
    target = np.asarray(target_params, dtype=np.float64)
    t = Fraction(float(tau))
    exact = [t * o + (1 - t) * g for g, o in zip(_fractions(target), _fractions(online_params))]
    return _to_float(exact).reshape(target.shape)


def soft_target_after_updates(target_params, online_params, tau, n_updates: int) -> np.ndarray:
    """The closed form after k updates towards fixed online parameters:
    theta'_k = theta + (1 - tau)^k (theta'_0 - theta), exactly."""
    target = np.asarray(target_params, dtype=np.float64)
    decay = (1 - Fraction(float(tau))) ** int(n_updates)
    exact = [o + decay * (g - o) for g, o in zip(_fractions(target), _fractions(online_params))]
    return _to_float(exact).reshape(target.shape)


# ------------------------------------------------------------- target policy smoothing

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


# --------------------------------------------------------------- delayed updates

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


# ------------------------------------------------------------------------- losses

def _mean_slack(log_probs, target_entropy) -> Fraction:
    values = _fractions(log_probs)
    return sum((v + Fraction(float(target_entropy)) for v in values), Fraction(0)) / len(values)


def temperature_loss_exact(log_alpha, log_probs, target_entropy) -> tuple[float, float]:
    """(J, dJ/dlog_alpha) for J = mean(-alpha (log pi + H)), alpha = exp(log_alpha).

    d/dlog_alpha of -exp(log_alpha) c is -exp(log_alpha) c again, so the two agree.
    """
    slack = _mean_slack(log_probs, target_entropy)
    with mpmath.workdps(DIGITS):
        alpha = mpmath.exp(mpmath.mpf(float(log_alpha)))
        value = -alpha * mpmath.mpf(slack.numerator) / slack.denominator
        return float(value), float(value)


def temperature_loss_log_alpha_exact(log_alpha, log_probs, target_entropy) -> tuple[float, float]:
    """(L, dL/dlog_alpha) for L = mean(-log_alpha (log pi + H)), exactly."""
    slack = _mean_slack(log_probs, target_entropy)
    return float(-Fraction(float(log_alpha)) * slack), float(-slack)


def temperature_gradient_finite_difference(log_alpha, log_probs, target_entropy,
                                           form: str = "alpha") -> float:
    """d/dlog_alpha of the closed-form value, by mpmath's numerical differentiation at 40
    digits (a second route to the gradient: no derivative is written down)."""
    slack = _mean_slack(log_probs, target_entropy)
    with mpmath.workdps(DIGITS):
        c = mpmath.mpf(slack.numerator) / slack.denominator
        value = (lambda x: -mpmath.exp(x) * c) if form == "alpha" else (lambda x: -x * c)
        return float(mpmath.diff(value, mpmath.mpf(float(log_alpha))))


def actor_loss_exact(log_probs, q1, q2, alpha) -> dict:
    """The value of mean(alpha log pi - min(Q1, Q2)) and its partial derivatives, exactly.

    Returns ``{"value", "log_probs", "q1", "q2", "tied"}``: the gradients are alpha / N for
    log pi, and -1/N on the smaller critic, 0 on the larger; ``tied`` marks entries where
    Q1 = Q2, at which any split of the -1/N between the two is a valid subgradient.
    """
    lp, a, b = _fractions(log_probs), _fractions(q1), _fractions(q2)
    n, t = len(lp), Fraction(float(alpha))
    value = sum((t * x - min(y, z) for x, y, z in zip(lp, a, b)), Fraction(0)) / n
    tied = np.array([y == z for y, z in zip(a, b)])
    return {
        "value": float(value),
        "log_probs": np.full(n, float(t / n)),
        "q1": np.array([float(-Fraction(1, n)) if y < z else 0.0 for y, z in zip(a, b)]),
        "q2": np.array([float(-Fraction(1, n)) if z < y else 0.0 for y, z in zip(a, b)]),
        "tied": tied,
    }


def actor_loss_gradient_finite_difference(log_probs, q1, q2, alpha) -> dict:
    """Central differences of the exact value, one coordinate at a time, with a step (a
    power of two) below half the smallest gap |Q1 - Q2|: the loss is linear on that scale,
    so the differences are exact.  Tied entries are left out (the loss has a kink there)."""
    lp, a, b = _fractions(log_probs), _fractions(q1), _fractions(q2)
    n, t = len(lp), Fraction(float(alpha))
    gaps = [abs(y - z) for y, z in zip(a, b) if y != z]
    step = Fraction(1, 2 ** 20)
    while gaps and step >= min(gaps) / 2:
        step /= 2

    def value(lp, a, b):
        return sum((t * x - min(y, z) for x, y, z in zip(lp, a, b)), Fraction(0)) / n

    gradients = {}
    for name, index in (("log_probs", 0), ("q1", 1), ("q2", 2)):
        column = np.zeros(n)
        for i in range(n):
            if a[i] == b[i]:
                column[i] = np.nan
                continue
            up, down = [list(lp), list(a), list(b)], [list(lp), list(a), list(b)]
            up[index][i] += step
            down[index][i] -= step
            column[i] = float((value(*up) - value(*down)) / (2 * step))
        gradients[name] = column
    return gradients
