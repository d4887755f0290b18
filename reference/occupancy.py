"""Occupancy measures by iterating their flow equation, and the policy an occupancy defines."""

from __future__ import annotations

import numpy as np

from rlspec import validation
from rlspec.reference.bellman import policy_markov_matrix
from rlspec.reference.dynamic_programming import MAX_SWEEPS, THRESHOLD, NotConvergedError

__all__ = ["state_occupancy_by_iteration", "state_action_occupancy", "policy_from_occupancy"]


def state_occupancy_by_iteration(transitions, gamma, policy, initial_distribution,
                                 threshold: float = THRESHOLD) -> np.ndarray:
    r"""The normalised state visitation distribution, by iterating its flow equation.

    .. math:: \nu^\pi(s) = (1-\gamma)\sum_{t\ge 0}\gamma^t P^\pi_t(s)
    .. math:: \nu^\pi(s') = (1-\gamma)\nu_0(s') + \gamma\sum_{s,a} P(s'|s,a)\pi(a|s)\nu^\pi(s)

    Source: seed 000 "Pre-lessons", 占用度量 (状态访问分布).  The map on the right is a
    gamma-contraction in the l1 norm, so iterating it from nu_0 converges to nu^pi, a
    probability vector.  Needs gamma < 1 (at gamma = 1 the (1 - gamma) factor is 0).

    Example: two states; state 0 always moves to state 1, which stays.  From nu_0 = (1, 0)
    with gamma 0.5: nu(0) = (1 - 0.5) * 1 = 0.5 and nu(1) = 0.5.

    >>> state_occupancy_by_iteration([[[0.0, 1.0]], [[0.0, 1.0]]], 0.5, [[1.0], [1.0]], [1.0, 0.0])
    array([0.5, 0.5])
    """
    transitions = validation.as_float_array(transitions, "transitions P[s, a, s']", ndim=3)
    gamma = validation.check_gamma_below_one(gamma)
    initial = validation.distribution(initial_distribution, transitions.shape[0],
                                      "initial_distribution")
    markov_matrix = policy_markov_matrix(transitions, policy)
    occupancy = initial.copy()
    for _ in range(MAX_SWEEPS):
        updated = (1.0 - gamma) * initial + gamma * markov_matrix.T @ occupancy
        if np.max(np.abs(updated - occupancy)) < threshold:
            return updated
        occupancy = updated
    raise NotConvergedError(f"the occupancy iteration did not converge in {MAX_SWEEPS} sweeps")


def state_action_occupancy(transitions, gamma, policy, initial_distribution) -> np.ndarray:
    r"""The occupancy measure :math:`\rho^\pi(s,a) = \nu^\pi(s)\,\pi(a|s)`.

    Source: seed 000 "Pre-lessons", 占用度量.  It sums to 1 over (s, a).

    >>> state_action_occupancy([[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]], 0.5,
    ...                        [[0.5, 0.5], [1.0, 0.0]], [1.0, 0.0]).round(4)
    array([[0.3333, 0.3333],
           [0.3333, 0.    ]])
    """
    occupancy = state_occupancy_by_iteration(transitions, gamma, policy, initial_distribution)
    return occupancy[:, None] * np.asarray(policy, dtype=np.float64)


def policy_from_occupancy(occupancy) -> np.ndarray:
    r"""The policy that generates a given occupancy measure (Theorem 2 of the notes).

    .. math:: \pi_\rho(a|s) = \frac{\rho(s,a)}{\sum_{a'} \rho(s,a')}

    Source: seed 000 "Pre-lessons", 占用度量, 定理2.  The quotient is undefined in a state
    that rho never visits (sum_a rho(s, a) = 0); any action distribution there generates
    the same rho, and this function returns the uniform one (spec entry
    ``mdp.occupancy-theorem-2``, erratum).

    >>> policy_from_occupancy([[0.25, 0.75], [0.0, 0.0]])
    array([[0.25, 0.75],
           [0.5 , 0.5 ]])
    """
    occupancy = validation.as_float_array(occupancy, "occupancy rho[s, a]", ndim=2)
    if (occupancy < 0).any():
        raise validation.InvalidInputError("occupancy rho[s, a] must be non-negative")
    policy = np.full_like(occupancy, 1.0 / occupancy.shape[1])
    for s in range(occupancy.shape[0]):
        visits = occupancy[s].sum()
        if visits > 0:
            policy[s] = occupancy[s] / visits
    return policy
