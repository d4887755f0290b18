"""Exact policy evaluation by one linear solve, dense or sparse.

    V^pi = (I - gamma P_pi)^{-1} r_pi,   P_pi[s, s'] = sum_a pi(a|s) p(s'|s, a),
                                          r_pi[s]    = sum_a pi(a|s) r(s, a)

Absorbing zero-reward states (the terminal states of the spec's convention) have value 0
for every gamma, so they are fixed to 0 and the solve runs over the other states only.
That makes gamma = 1 work for every policy that terminates with probability 1; for one
that does not, ``I - P_pi`` restricted to the other states is singular and
:class:`NonTerminatingPolicyError` names the states that never terminate.

Accuracy: backward-stable LU gives a relative error of order ``kappa * n * eps`` where
``kappa_inf(I - gamma P_pi) <= (1 + gamma) / (1 - gamma)``; ``rlspec.oracles.methods.accuracy``
turns that into the tolerances the tests use.  This oracle is cross-checked against the
exact rational solve of ``rlspec.oracles.methods.exact_rational`` in the tests.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from rlspec import validation
from rlspec.validation import InvalidInputError

__all__ = ["evaluate_policy", "action_values", "expected_return"]

#: Above this many states the solve switches to scipy.sparse (taxi has 500 states).
SPARSE_THRESHOLD = 200


class NonTerminatingPolicyError(InvalidInputError):
    """With gamma = 1 the policy's return is undefined: it never terminates from some states."""


def absorbing_zero_reward_states(transitions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """Mask of states that stay put under every action and pay nothing: value 0 always."""
    n_states = transitions.shape[0]
    self_loops = transitions[np.arange(n_states), :, np.arange(n_states)]  # [s, a]
    return np.all(self_loops == 1.0, axis=1) & np.all(rewards == 0.0, axis=1)


def evaluate_policy(transitions, rewards, gamma, policy, sparse: bool | None = None) -> np.ndarray:
    """V^pi by a linear solve.  ``sparse=None`` picks scipy.sparse for large MDPs."""
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    n_states, n_actions = rewards.shape
    policy = validation.policy_table(policy, n_states, n_actions)

    markov_matrix = np.einsum("sa,sat->st", policy, transitions)
    reward_vector = np.einsum("sa,sa->s", policy, rewards)
    free = ~absorbing_zero_reward_states(transitions, rewards)
    values = np.zeros(n_states)
    if not free.any():
        return values
    system = np.eye(free.sum()) - gamma * markov_matrix[np.ix_(free, free)]
    if sparse is None:
        sparse = n_states > SPARSE_THRESHOLD
    if sparse:
        values[free] = _sparse_solve(system, reward_vector[free], gamma, free)
    else:
        values[free] = _dense_solve(system, reward_vector[free], gamma, free)
    return values


def action_values(transitions, rewards, gamma, policy, sparse: bool | None = None) -> np.ndarray:
    """Q^pi(s, a) = r(s, a) + gamma * sum_s' p(s'|s, a) V^pi(s')."""
    values = evaluate_policy(transitions, rewards, gamma, policy, sparse)
    transitions = np.asarray(transitions, dtype=np.float64)
    return np.asarray(rewards, dtype=np.float64) + gamma * transitions @ values


def expected_return(transitions, rewards, gamma, policy, initial_distribution) -> float:
    """J(pi) = sum_s nu_0(s) V^pi(s), the objective of the policy-gradient chapter."""
    values = evaluate_policy(transitions, rewards, gamma, policy)
    initial = validation.distribution(initial_distribution, values.size, "initial_distribution")
    return float(initial @ values)


def _dense_solve(system, right_hand_side, gamma, free):
    try:
        with warnings.catch_warnings():  # singularity is reported below, as an error
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            lu, pivots = scipy.linalg.lu_factor(system, check_finite=False)
    except (ValueError, np.linalg.LinAlgError):
        _raise_non_terminating(gamma, free)
    if np.any(np.abs(np.diag(lu)) < 1e-12):
        _raise_non_terminating(gamma, free)
    return scipy.linalg.lu_solve((lu, pivots), right_hand_side, check_finite=False)


def _sparse_solve(system, right_hand_side, gamma, free):
    with np.errstate(all="ignore"):
        solution = scipy.sparse.linalg.spsolve(
            scipy.sparse.csc_matrix(system), right_hand_side
        )
    if not np.all(np.isfinite(solution)):
        _raise_non_terminating(gamma, free)
    return solution


def _raise_non_terminating(gamma, free):
    raise NonTerminatingPolicyError(
        f"I - gamma * P_pi is singular (gamma = {gamma}): the policy never terminates from "
        f"some of the non-absorbing states {np.flatnonzero(free).tolist()}, so its "
        f"undiscounted return is undefined there"
    )
