"""Exact answers in rational arithmetic, for small MDPs.

Every float in the input is converted exactly (``Fraction(0.1)`` is the binary value the
float holds, not 1/10), so the answer is the exact value *of the MDP the floats describe*,
free of any rounding.  The linear systems are solved by Gauss-Jordan elimination written
here, sharing nothing with numpy's LAPACK path, which is what makes this oracle a second,
independent witness for ``rlspec.oracles.dynamic_programming``.

Cost grows as O(S^3) big-rational operations whose sizes grow too: keep S below about 12.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec import validation
from rlspec.oracles.dynamic_programming import (
    NonTerminatingPolicyError,
    absorbing_zero_reward_states,
)
from rlspec.oracles.methods.conversions import to_fractions

__all__ = ["evaluate_policy_exact", "action_values_exact", "optimal_values_exact", "discounted_returns_exact"]

Matrix = list[list[Fraction]]




def solve_exact(matrix: Matrix, right_hand_side: list[Fraction]) -> list[Fraction]:
    """Solve ``matrix @ x = right_hand_side`` exactly by Gauss-Jordan elimination.

    Raises ``ZeroDivisionError`` when the matrix is singular.
    """
    size = len(matrix)
    rows = [list(row) + [value] for row, value in zip(matrix, right_hand_side)]
    for column in range(size):
        pivot = next((r for r in range(column, size) if rows[r][column] != 0), None)
        if pivot is None:
            raise ZeroDivisionError(f"singular system: no pivot in column {column}")
        rows[column], rows[pivot] = rows[pivot], rows[column]
        pivot_value = rows[column][column]
        rows[column] = [entry / pivot_value for entry in rows[column]]
        for r in range(size):
            factor = rows[r][column]
            if r != column and factor != 0:
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[column])]
    return [row[size] for row in rows]


def evaluate_policy_exact(transitions, rewards, gamma, policy) -> list[Fraction]:
    """V^pi as exact Fractions, from (I - gamma P_pi) V = r_pi over the non-absorbing states."""
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    n_states, n_actions = rewards.shape
    policy = validation.policy_table(policy, n_states, n_actions)
    p, r, pi, g = to_fractions(transitions), to_fractions(rewards), to_fractions(policy), Fraction(gamma)

    free = [s for s in range(n_states)
            if not absorbing_zero_reward_states(transitions, rewards)[s]]
    matrix = [
        [Fraction(int(s == t)) - g * sum(pi[s, a] * p[s, a, t] for a in range(n_actions))
         for t in free]
        for s in free
    ]
    right = [sum(pi[s, a] * r[s, a] for a in range(n_actions)) for s in free]
    try:
        solution = solve_exact(matrix, right)
    except ZeroDivisionError:
        raise NonTerminatingPolicyError(
            f"I - gamma P_pi is singular (gamma = {gamma}): the policy never terminates from "
            f"some of the states {free}"
        ) from None
    values = [Fraction(0)] * n_states
    for state, value in zip(free, solution):
        values[state] = value
    return values


def action_values_exact(transitions, rewards, gamma, values: list[Fraction]) -> np.ndarray:
    """Q(s, a) = r(s, a) + gamma sum_s' p(s'|s, a) V(s'), exactly, as an object array."""
    p, r, g = to_fractions(transitions), to_fractions(rewards), Fraction(float(gamma))
    n_states, n_actions = r.shape
    q = np.empty((n_states, n_actions), dtype=object)
    for s in range(n_states):
        for a in range(n_actions):
            q[s, a] = r[s, a] + g * sum(p[s, a, t] * values[t] for t in range(n_states))
    return q


def optimal_values_exact(transitions, rewards, gamma) -> tuple[list[Fraction], np.ndarray]:
    """V* and the exact set of optimal actions, by policy iteration in rational arithmetic.

    Returns ``(values, optimal_actions)`` where ``optimal_actions[s, a]`` is True exactly
    when ``Q*(s, a) = V*(s)``: ties are exact here, which no float method can promise.

    For gamma < 1 policy iteration terminates in finitely many steps (Puterman 1994,
    Thm 6.4.2).  For gamma = 1 the start policy must terminate; it is found by a
    backward sweep towards the absorbing states, and improvement keeps it terminating when
    every non-terminating policy has return -infinity (Bertsekas & Tsitsiklis 1991, the
    stochastic shortest path assumptions), as in the episodic toy MDPs here.
    """
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    n_states, n_actions = rewards.shape
    actions = _terminating_start_policy(transitions, rewards) if gamma == 1.0 \
        else [0] * n_states
    while True:
        policy = np.eye(n_actions)[actions]
        values = evaluate_policy_exact(transitions, rewards, gamma, policy)
        q = action_values_exact(transitions, rewards, gamma, values)
        best = [max(q[s]) for s in range(n_states)]
        # Switch only on strict improvement, so that the loop cannot cycle among ties.
        improved = [actions[s] if q[s, actions[s]] == best[s]
                    else next(a for a in range(n_actions) if q[s, a] == best[s])
                    for s in range(n_states)]
        if improved == actions:
            optimal = np.array([[q[s, a] == best[s] for a in range(n_actions)]
                                for s in range(n_states)])
            return values, optimal
        actions = improved


def _terminating_start_policy(transitions, rewards) -> list[int]:
    """A deterministic policy that reaches an absorbing state with probability 1 everywhere."""
    n_states, n_actions = rewards.shape
    done = absorbing_zero_reward_states(transitions, rewards)
    actions = [0] * n_states
    while not done.all():
        progressed = False
        for s in np.flatnonzero(~done):
            for a in range(n_actions):
                if transitions[s, a, done].sum() > 0:
                    actions[s], done[s], progressed = a, True, True
                    break
        if not progressed:
            raise NonTerminatingPolicyError(
                f"gamma = 1 but states {np.flatnonzero(~done).tolist()} cannot reach an "
                f"absorbing zero-reward state"
            )
    return actions


def discounted_returns_exact(rewards, gamma) -> list[Fraction]:
    """G_t = sum_{k >= 0} gamma^k r_{t+k} for every t, as a direct double sum of Fractions.

    Deliberately not the backward recursion G_t = r_t + gamma G_{t+1} that the reference
    uses, so that the two share no structure.
    """
    rewards = validation.as_float_array(rewards, "rewards r_t", ndim=1)
    g = Fraction(validation.check_gamma(gamma))
    r = to_fractions(rewards)
    return [sum((g ** (k - t) * r[k] for k in range(t, r.size)), Fraction(0))
            for t in range(r.size)]
