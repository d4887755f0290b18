"""SAC: exact soft targets, temperature and actor losses, and the squashed-Gaussian density. (The note below covers its chapter's other oracle modules too.)

Exact answers for the deterministic and max-entropy actor-critics (DDPG, TD3, SAC).

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
from rlspec.oracles.ddpg import bootstrapped_targets_exact
from rlspec.oracles.methods.conversions import fraction_list

__all__ = [
    "sac_targets_exact",
    "soft_action_values",
    "temperature_loss_exact",
    "temperature_loss_log_alpha_exact",
    "temperature_gradient_finite_difference",
    "actor_loss_exact",
    "actor_loss_gradient_finite_difference",
    "squashed_gaussian_log_density_mp",
    "squashed_gaussian_log_density_from_cdf",
    "rescaled_action_mp",
]


#: Working precision of mpmath here: 40 significant digits, so exp(log_alpha) and the
#: differences below round to float64 exactly enough (error ~ 1e-40 relative).
DIGITS = 40


def sac_targets_exact(rewards, terminated, next_q1, next_q2, next_log_probs, alpha, gamma) -> np.ndarray:
    """r + gamma (1 - terminated) (min(Q'_1, Q'_2) - alpha log pi') in exact rationals."""
    a = Fraction(float(alpha))
    soft = [min(q1, q2) - a * lp for q1, q2, lp in
            zip(fraction_list(next_q1), fraction_list(next_q2), fraction_list(next_log_probs))]
    return bootstrapped_targets_exact(rewards, terminated, soft, gamma)


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


def _mean_slack(log_probs, target_entropy) -> Fraction:
    values = fraction_list(log_probs)
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
    lp, a, b = fraction_list(log_probs), fraction_list(q1), fraction_list(q2)
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
    lp, a, b = fraction_list(log_probs), fraction_list(q1), fraction_list(q2)
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


BASE_DIGITS = 30


def _digits(pre_tanh) -> int:
    largest = float(np.max(np.abs(np.asarray(pre_tanh, dtype=np.float64)), initial=0.0))
    return BASE_DIGITS + int(np.ceil(2.0 * largest / np.log(10.0)))


def _box(action_low, action_high, d: int):
    """(centre, half-width) per dimension as mpf; the unit box (-1, 1) when no bounds are given."""
    if action_low is None:
        return [mpmath.mpf(0)] * d, [mpmath.mpf(1)] * d
    low = np.broadcast_to(np.asarray(action_low, dtype=np.float64), (d,))
    high = np.broadcast_to(np.asarray(action_high, dtype=np.float64), (d,))
    centre = [(mpmath.mpf(float(h)) + mpmath.mpf(float(l))) / 2 for l, h in zip(low, high)]
    half = [(mpmath.mpf(float(h)) - mpmath.mpf(float(l))) / 2 for l, h in zip(low, high)]
    return centre, half


def _one_dimension(mean: float, log_std: float, u: float, centre=0, half=1) -> mpmath.mpf:
    """log of the density of a = centre + half tanh(u), written in a: N(atanh(y); mu, sigma)
    / (half (1 - y^2)) with y = (a - centre) / half."""
    a = centre + half * mpmath.tanh(mpmath.mpf(u))
    y = (a - centre) / half
    sigma = mpmath.exp(mpmath.mpf(log_std))
    x = mpmath.atanh(y)
    gaussian = -((x - mean) / sigma) ** 2 / 2 - mpmath.log(sigma) - mpmath.log(2 * mpmath.pi) / 2
    return gaussian - mpmath.log(half * (1 - y ** 2))


def squashed_gaussian_log_density_mp(mean, log_std, pre_tanh, action_low=None, action_high=None
                                     ) -> np.ndarray:
    """log pi(tanh(u)) for each row, summed over dimensions; mean, log_std, pre_tanh [N, d].
    With ``action_low[d]``, ``action_high[d]``: the density of the rescaled action
    a = c + s tanh(u) (c, s the box's centre and half-width), the change of variables in a."""
    mean, log_std, pre_tanh = (np.asarray(x, dtype=np.float64) for x in (mean, log_std, pre_tanh))
    out = np.zeros(mean.shape[0])
    with mpmath.workdps(_digits(pre_tanh)):
        centre, half = _box(action_low, action_high, mean.shape[1])
        for i in range(mean.shape[0]):
            total = mpmath.mpf(0)
            for j in range(mean.shape[1]):
                total += _one_dimension(float(mean[i, j]), float(log_std[i, j]), float(pre_tanh[i, j]),
                                        centre[j], half[j])
            out[i] = float(total)
    return out


def squashed_gaussian_log_density_from_cdf(mean, log_std, pre_tanh, action_low=None,
                                           action_high=None) -> np.ndarray:
    """log F'(a) with F(a) = Phi((atanh((a - c) / s) - mu) / sigma), summed over dimensions
    (c = 0, s = 1 without bounds)."""
    mean, log_std, pre_tanh = (np.asarray(x, dtype=np.float64) for x in (mean, log_std, pre_tanh))
    out = np.zeros(mean.shape[0])
    with mpmath.workdps(_digits(pre_tanh) + 30):
        centre, half = _box(action_low, action_high, mean.shape[1])
        for i in range(mean.shape[0]):
            total = mpmath.mpf(0)
            for j in range(mean.shape[1]):
                mu, sigma = mpmath.mpf(float(mean[i, j])), mpmath.exp(mpmath.mpf(float(log_std[i, j])))
                c, s = centre[j], half[j]
                a = c + s * mpmath.tanh(mpmath.mpf(float(pre_tanh[i, j])))

                def cdf(y, mu=mu, sigma=sigma, c=c, s=s):
                    return mpmath.ncdf((mpmath.atanh((y - c) / s) - mu) / sigma)

                # A step far inside the box around a, and small against the scale on which
                # F' varies there (both ~ s (1 - |y|)).
                step = (s - abs(a - c)) * mpmath.mpf(10) ** -12
                total += mpmath.log(mpmath.diff(cdf, a, h=step))
            out[i] = float(total)
    return out


def rescaled_action_mp(pre_tanh, action_low, action_high) -> np.ndarray:
    """low + (tanh(u) + 1)(high - low) / 2 at 40 digits, rounded once per entry."""
    pre_tanh = np.asarray(pre_tanh, dtype=np.float64)
    out = np.empty_like(pre_tanh)
    with mpmath.workdps(DIGITS):
        centre, half = _box(action_low, action_high, pre_tanh.shape[1])
        for (i, j), u in np.ndenumerate(pre_tanh):
            out[i, j] = float(centre[j] - half[j] + (mpmath.tanh(mpmath.mpf(float(u))) + 1) * half[j])
    return out
