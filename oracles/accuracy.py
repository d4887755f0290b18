"""How far a float64 answer may lie from the exact one: tolerances derived, not tuned.

Each function returns an absolute tolerance with its derivation in the docstring.  The
tests compare float oracles and reference functions against exact answers with these.
"""

from __future__ import annotations

import numpy as np

from rlspec.oracles.linear_program import FEASIBILITY_TOLERANCE

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


def iteration_tolerance(threshold: float, gamma: float) -> float:
    """An iteration of a gamma-contraction stopped when ||V_{k+1} - V_k||_inf < threshold
    is within gamma * threshold / (1 - gamma) of the fixed point (Puterman 1994, Thm 6.3.1),
    plus rounding of about eps per sweep times the number of sweeps, bounded here by
    SAFETY * eps / (1 - gamma) per unit of scale."""
    return gamma * threshold / (1.0 - gamma)


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
