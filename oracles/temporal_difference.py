"""TD(0), SARSA, Expected SARSA and Q-learning updates, exactly.

Method, independence from ``rlspec.reference`` and accuracy: as stated in
``rlspec.oracles.monte_carlo``, which this module shares its conventions with.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec.oracles.methods.conversions import to_fractions

__all__ = [
    "td0_update_exact",
    "sarsa_update_exact",
    "expected_sarsa_update_exact",
    "q_learning_update_exact",
]


def _blend(table, index, target, alpha):
    table = to_fractions(table)
    a = Fraction(alpha)
    table[index] = (1 - a) * table[index] + a * target
    return table


def td0_update_exact(values, state, reward, next_state, terminated, alpha, gamma) -> np.ndarray:
    """(1 - alpha) V(s) + alpha (r + gamma [not terminated] V(s'))."""
    v = to_fractions(values)
    target = Fraction(reward) + (0 if terminated else Fraction(gamma) * v[int(next_state)])
    return _blend(values, int(state), target, alpha)


def sarsa_update_exact(action_values, state, action, reward, next_state, next_action,
                       terminated, alpha, gamma) -> np.ndarray:
    """(1 - alpha) Q(s, a) + alpha (r + gamma [not terminated] Q(s', a'))."""
    q = to_fractions(action_values)
    following = 0 if terminated else q[int(next_state), int(next_action)]
    target = Fraction(reward) + Fraction(gamma) * following
    return _blend(action_values, (int(state), int(action)), target, alpha)


def expected_sarsa_update_exact(action_values, state, action, reward, next_state, terminated,
                                alpha, gamma, policy) -> np.ndarray:
    """(1 - alpha) Q(s, a) + alpha (r + gamma [not terminated] sum_a' pi(a'|s') Q(s', a'))."""
    q, pi = to_fractions(action_values), to_fractions(policy)
    s_next = int(next_state)
    following = 0 if terminated else sum(pi[s_next] * q[s_next])
    target = Fraction(reward) + Fraction(gamma) * following
    return _blend(action_values, (int(state), int(action)), target, alpha)


def q_learning_update_exact(action_values, state, action, reward, next_state, terminated,
                            alpha, gamma, next_action=None) -> np.ndarray:
    """(1 - alpha) Q(s, a) + alpha (r + gamma [not terminated] max_a' Q(s', a')); the
    behaviour's ``next_action`` (SARSA's transition tuple) is accepted and does not enter."""
    q = to_fractions(action_values)
    following = 0 if terminated else max(q[int(next_state)])
    target = Fraction(reward) + Fraction(gamma) * following
    return _blend(action_values, (int(state), int(action)), target, alpha)
