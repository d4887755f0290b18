"""How far a float64 answer may lie from the exact one: tolerances derived, not tuned.

Each function returns an absolute tolerance with its derivation in the docstring.  The
tests compare float oracles and reference functions against exact answers with these.
"""

from __future__ import annotations

import numpy as np
from rlspec.oracles.dynamic_programming import absorbing_zero_reward_states
from rlspec.oracles.methods.linear_program import FEASIBILITY_TOLERANCE

EPS = float(np.finfo(np.float64).eps)

#: Safety factor on first-order error bounds: the constants hidden in "of order" (the growth
#: factor of LU with partial pivoting on these diagonally dominant systems is at most 2, the
#: summation error of a length-n dot product is n * eps).  16 covers them with room.
SAFETY = 16.0


def linear_solve_tolerance(condition_number: float, n_states: int, scale: float) -> float:
    """Backward-stable LU (Higham 2002, Thm 9.4 and §7.1): relative forward error at most
    ~ n * eps * kappa.  ``kappa_inf(I - gamma P_pi) <= (1 + gamma) / (1 - gamma)`` because
    ``||I - gamma P||_inf <= 1 + gamma`` and ``||(I - gamma P)^{-1}||_inf <= 1 / (1 - gamma)``.
    """
    return SAFETY * max(n_states, 1) * EPS * condition_number * max(scale, 1.0)


def discounted_condition_bound(gamma: float) -> float:
    """The bound (1 + gamma) / (1 - gamma) on kappa_inf(I - gamma P_pi), for gamma < 1."""
    return (1.0 + gamma) / (1.0 - gamma)


def contraction_modulus(transitions, rewards, gamma) -> float:
    """The sup-norm contraction modulus of the Bellman backups on the non-terminal states:
    gamma * max over (s, a) of the probability of staying among non-terminal states.

    With V fixed at 0 on absorbing zero-reward states, |(BU - BV)(s)| <= gamma
    sum_{s' non-terminal} p(s'|s, a) ||U - V||, so this is a valid modulus; it is below 1
    for episodic MDPs whose every step ends the episode with positive probability, even at
    gamma = 1 (the generated episodic MDPs end each step with probability >= 1/8).
    """
    transitions = np.asarray(transitions, dtype=np.float64)
    terminal = absorbing_zero_reward_states(transitions, np.asarray(rewards, dtype=np.float64))
    if terminal.all():
        return 0.0
    staying = transitions[~terminal][:, :, ~terminal].sum(axis=2)
    return float(gamma) * float(staying.max())


def iteration_tolerance(threshold: float, modulus: float, n_states: int, scale: float) -> float:
    """An iteration of a contraction with modulus m, stopped when ||V_{k+1} - V_k||_inf <
    threshold, is within m * threshold / (1 - m) of the fixed point (Puterman 1994,
    Thm 6.3.1 and its proof); each sweep also rounds by about n * eps * scale, and those
    errors are damped geometrically, adding at most SAFETY * n * eps * scale / (1 - m)."""
    return (modulus * threshold + SAFETY * max(n_states, 1) * EPS * max(scale, 1.0)) \
        / (1.0 - modulus)


def linear_program_tolerance(gamma: float, scale: float) -> float:
    """Each Bellman inequality may be violated by the feasibility tolerance tau; a residual of
    tau in the optimality operator moves its fixed point by at most tau / (1 - gamma)."""
    return SAFETY * FEASIBILITY_TOLERANCE / (1.0 - gamma) * max(scale, 1.0)


def finite_difference_tolerance(reward_scale: float, gamma: float) -> float:
    """Central differences with step h = eps^(1/3): truncation h^2 |J'''| / 6 plus rounding
    eps |J| / h.  For a tabular softmax policy |J| <= R / (1 - gamma) and each derivative of
    V brings at most a factor 1 / (1 - gamma) and softmax derivatives are at most 1 in size,
    so |J'''| <= 6 R / (1 - gamma)^4 (R the largest |reward|, at least 1).  Both terms are
    then of order eps^(2/3) R / (1 - gamma)^4."""
    return SAFETY * EPS ** (2.0 / 3.0) * max(reward_scale, 1.0) / (1.0 - gamma) ** 4
