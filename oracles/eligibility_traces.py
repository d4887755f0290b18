"""Lambda-returns and TD(lambda) with eligibility traces, exactly.

Method, independence from ``rlspec.reference`` and accuracy: as stated in
``rlspec.oracles.monte_carlo``, which this module shares its conventions with.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec.oracles.methods.conversions import to_fractions
from rlspec.oracles.n_step import n_step_return_exact

__all__ = [
    "lambda_returns_exact",
    "td_lambda_episode_exact",
    "offline_lambda_return_exact",
]


def lambda_returns_exact(rewards, state_values, terminated, gamma, lam) -> np.ndarray:
    """G^lambda_t = (1 - lambda) sum_{n=1}^{T-t-1} lambda^(n-1) G_{t:t+n}
    + lambda^(T-t-1) G_{t:T}: the weighted sum of n-step returns (Sutton & Barto eq. 12.9)."""
    r, v = list(to_fractions(rewards)), list(to_fractions(state_values))
    g, l = Fraction(gamma), Fraction(lam)
    steps = len(r)
    result = []
    for t in range(steps):
        total = sum(((1 - l) * l ** (n - 1) * n_step_return_exact(r, v, terminated, g, t, n)
                     for n in range(1, steps - t)), Fraction(0))
        total += l ** (steps - t - 1) * n_step_return_exact(r, v, terminated, g, t, steps - t)
        result.append(total)
    return np.array(result, dtype=object)


def _trace(states, t: int, s: int, decay: Fraction, kind: str) -> Fraction:
    visits = [k for k in range(t + 1) if states[k] == s]
    if not visits:
        return Fraction(0)
    if kind == "replacing":
        return decay ** (t - visits[-1])
    return sum((decay ** (t - k) for k in visits), Fraction(0))


def td_lambda_episode_exact(values, states, rewards, terminated, alpha, gamma, lam,
                            trace: str = "accumulating", online: bool = True) -> np.ndarray:
    """TD(lambda), backward view, with the traces in closed form.  ``online``: each delta
    uses the latest values; otherwise every delta uses the values from before the episode
    and the increments are added at the end."""
    v = to_fractions(values)
    old = v.copy()
    g, a, decay = Fraction(gamma), Fraction(alpha), Fraction(gamma) * Fraction(lam)
    r = list(to_fractions(rewards))
    states = [int(s) for s in states]
    steps = len(r)
    total = np.array([Fraction(0)] * v.size, dtype=object)
    for t in range(steps):
        current = v if online else old
        following = 0 if (t == steps - 1 and terminated) else current[states[t + 1]]
        delta = r[t] + g * following - current[states[t]]
        for s in set(states[:t + 1]):
            increment = a * delta * _trace(states, t, s, decay, trace)
            if online:
                v[s] += increment
            else:
                total[s] += increment
    return v if online else old + total


def offline_lambda_return_exact(values, states, rewards, terminated, alpha, gamma,
                                lam) -> np.ndarray:
    """The forward view applied offline: V(s) + alpha sum_{t: S_t = s} (G^lambda_t - V(s))."""
    v = to_fractions(values)
    states = [int(s) for s in states]
    returns = lambda_returns_exact(rewards, [v[s] for s in states], terminated, gamma, lam)
    result = v.copy()
    for t, s in enumerate(states[:len(returns)]):
        result[s] += Fraction(alpha) * (returns[t] - v[s])
    return result
