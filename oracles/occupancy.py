"""Occupancy measures by one linear solve, with the notes' (1 - gamma) normalisation.

    nu^pi(s)     = (1 - gamma) sum_t gamma^t P_t^pi(s)
                 = (1 - gamma) [nu_0^T (I - gamma P_pi)^{-1}](s)
    rho^pi(s, a) = nu^pi(s) pi(a | s)

The closed form follows from summing the geometric series of P_pi^t (seed 000,
"占用度量"); the flow equation the notes give is its fixed-point form.  Both sum to 1.
Needs gamma < 1: at gamma = 1 the normalisation is 0 (spec entry ``mdp.state-occupancy``,
Assumptions).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from rlspec import validation

__all__ = ["state_occupancy", "state_action_occupancy"]


def state_occupancy(transitions, gamma, policy, initial_distribution) -> np.ndarray:
    """nu^pi[s], a probability vector."""
    transitions = validation.as_float_array(transitions, "transitions P[s, a, s']", ndim=3)
    n_states, n_actions, _ = transitions.shape
    validation.transitions_and_rewards(transitions, np.zeros((n_states, n_actions)))
    gamma = validation.check_gamma_below_one(gamma)
    policy = validation.policy_table(policy, n_states, n_actions)
    initial = validation.distribution(initial_distribution, n_states, "initial_distribution")
    markov_matrix = np.einsum("sa,sat->st", policy, transitions)
    # nu^T (I - gamma P_pi) = (1 - gamma) nu_0^T, solved as its transpose.
    return scipy.linalg.solve(np.eye(n_states) - gamma * markov_matrix.T, (1.0 - gamma) * initial)


def state_action_occupancy(transitions, gamma, policy, initial_distribution) -> np.ndarray:
    """rho^pi[s, a] = nu^pi(s) pi(a|s)."""
    nu = state_occupancy(transitions, gamma, policy, initial_distribution)
    return nu[:, None] * np.asarray(policy, dtype=np.float64)

