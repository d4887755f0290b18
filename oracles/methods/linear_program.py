"""Optimal values and the optimal occupancy measure by linear programming (HiGHS).

Primal (Puterman 1994, §6.9; the notes' Bellman optimality operator as constraints):

    minimise   sum_s V(s)
    subject to V(s) >= r(s, a) + gamma sum_s' p(s'|s, a) V(s')     for every (s, a)

Its unique solution is V*.  Dual, over occupancy measures with the notes' (1 - gamma)
normalisation (seed 000, "占用度量"):

    maximise   sum_{s,a} rho(s, a) r(s, a)
    subject to sum_a rho(s', a) = (1 - gamma) nu_0(s') + gamma sum_{s,a} p(s'|s, a) rho(s, a)
               rho >= 0

whose solution is the occupancy measure of an optimal policy, with optimum value
(1 - gamma) J*.  Strong duality ties the two; the tests check it.

Accuracy: HiGHS is asked for feasibility tolerances of ``FEASIBILITY_TOLERANCE``.  A
constraint violated by tau in every row moves V by at most tau / (1 - gamma) (the operator
is a gamma-contraction), which ``rlspec.oracles.methods.accuracy.linear_program_tolerance`` uses.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
from rlspec import validation
from rlspec.oracles.dynamic_programming import absorbing_zero_reward_states

__all__ = ["optimal_values_lp", "optimal_occupancy_lp", "optimal_action_values_lp", "optimal_actions"]

FEASIBILITY_TOLERANCE = 1e-10

_HIGHS_OPTIONS = {
    "primal_feasibility_tolerance": FEASIBILITY_TOLERANCE,
    "dual_feasibility_tolerance": FEASIBILITY_TOLERANCE,
}


class LinearProgramError(RuntimeError):
    """HiGHS did not report an optimal solution."""


def optimal_values_lp(transitions, rewards, gamma) -> np.ndarray:
    """V* from the primal LP.  With gamma = 1, absorbing zero-reward states are fixed at 0."""
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    n_states, n_actions = rewards.shape
    free = ~absorbing_zero_reward_states(transitions, rewards)
    values = np.zeros(n_states)
    if not free.any():
        return values
    index = np.flatnonzero(free)
    # One row per (s, a): (gamma P[s, a, free] - e_s) . V <= -r(s, a)
    rows = gamma * transitions[np.ix_(index, np.arange(n_actions), index)]
    rows[np.arange(index.size), :, np.arange(index.size)] -= 1.0
    result = scipy.optimize.linprog(
        c=np.ones(index.size),
        A_ub=rows.reshape(-1, index.size),
        b_ub=-rewards[index].reshape(-1),
        bounds=[(None, None)] * index.size,
        method="highs",
        options=_HIGHS_OPTIONS,
    )
    _require_optimal(result, "primal")
    values[index] = result.x
    return values


def optimal_occupancy_lp(transitions, rewards, gamma, initial_distribution) -> np.ndarray:
    """rho*[s, a], the normalised occupancy measure of an optimal policy (needs gamma < 1)."""
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma_below_one(gamma)
    n_states, n_actions = rewards.shape
    initial = validation.distribution(initial_distribution, n_states, "initial_distribution")
    # Equality row s': sum_a rho(s', a) - gamma sum_{s,a} p(s'|s, a) rho(s, a)
    outflow = np.repeat(np.eye(n_states), n_actions, axis=1)
    inflow = transitions.reshape(n_states * n_actions, n_states).T
    result = scipy.optimize.linprog(
        c=-rewards.reshape(-1),
        A_eq=outflow - gamma * inflow,
        b_eq=(1.0 - gamma) * initial,
        bounds=[(0, None)] * (n_states * n_actions),
        method="highs",
        options=_HIGHS_OPTIONS,
    )
    _require_optimal(result, "dual")
    return np.clip(result.x, 0.0, None).reshape(n_states, n_actions)


def optimal_action_values_lp(transitions, rewards, gamma) -> np.ndarray:
    """Q*(s, a) = r(s, a) + gamma sum_s' p(s'|s, a) V*(s'), with V* from the linear program."""
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    return rewards + validation.check_gamma(gamma) * transitions @ optimal_values_lp(
        transitions, rewards, gamma)


def optimal_actions(q_values, tolerance: float) -> np.ndarray:
    """The uniform policy over the actions within ``tolerance`` of max_a Q(s, a): every
    action that is optimal up to the oracle's error, as Sutton & Barto's Figure 3.5 draws
    several arrows in a cell.  ``tolerance`` is the absolute error of ``q_values``
    (``rlspec.oracles.methods.accuracy.linear_program_tolerance`` for the LP's)."""
    q_values = validation.as_float_array(q_values, "q_values Q[s, a]", ndim=2)
    best = q_values >= q_values.max(axis=1, keepdims=True) - tolerance
    return best / best.sum(axis=1, keepdims=True)


def _require_optimal(result, which: str) -> None:
    if result.status != 0:
        raise LinearProgramError(f"the {which} LP did not solve: {result.message}")
