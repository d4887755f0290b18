"""TD(0), SARSA, Expected SARSA and Q-learning updates, exactly.  (Chapter note below.)

Exact answers for the sample-based updates of the model-free chapter, in rationals.

Each function takes the same inputs as its counterpart in ``rlspec.reference`` (monte_carlo,
temporal_difference, n_step, eligibility_traces) and returns the exact answer as an object
array of ``Fraction``; ``rlspec.checks.batteries.value_learning`` rounds it once to float.
Every float input is converted exactly (``Fraction(0.1)`` is the binary value it holds).

Independence from the reference: the same definitions, computed by other formulas.

* returns are direct sums with explicit powers of gamma, never the backward recursion;
* an incremental mean is computed as the closed-form mean (N V + sum G) / (N + k);
* an update is written ``(1 - alpha) old + alpha target``, not ``old + alpha (target - old)``;
* the lambda-return is the weighted sum of n-step returns of its definition, not the
  recursion :math:`G^\\lambda_t = r_t + \\gamma[(1-\\lambda)V + \\lambda G^\\lambda_{t+1}]`;
* eligibility traces are the closed forms :math:`e_t(s) = \\sum_{k \\le t, S_k = s}
  (\\gamma\\lambda)^{t-k}` (accumulating) and :math:`(\\gamma\\lambda)^{t - \\text{last visit}}`
  (replacing), never the decaying recursion;
* the tree-backup return is the sum over the paths of its tree, not the recursion of
  Sutton & Barto's box.

Cross-checks between these and ``rlspec.oracles.bellman`` (expectations that equal
Bellman backups) are in the tests.  Sizes here are tiny (a handful of steps), so exact
arithmetic costs nothing.
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
                            alpha, gamma) -> np.ndarray:
    """(1 - alpha) Q(s, a) + alpha (r + gamma [not terminated] max_a' Q(s', a'))."""
    q = to_fractions(action_values)
    following = 0 if terminated else max(q[int(next_state)])
    target = Fraction(reward) + Fraction(gamma) * following
    return _blend(action_values, (int(state), int(action)), target, alpha)
