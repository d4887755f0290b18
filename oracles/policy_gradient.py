"""The exact policy gradient of a tabular softmax policy, and the performance difference.

Objective (seed 002, "策略梯度的优化目标"): J(theta) = sum_s nu_0(s) V^{pi_theta}(s), with

    pi_theta(a | s) = exp(theta[s, a]) / sum_b exp(theta[s, b]).

Closed form (Agarwal, Kakade, Lee & Mahajan 2021, "On the theory of policy gradient
methods", JMLR 22(98), the softmax policy-gradient expression):

    dJ / dtheta[s, a] = 1 / (1 - gamma) * nu^pi(s) * pi(a | s) * A^pi(s, a)

with nu^pi the (1 - gamma)-normalised state occupancy.  It is computed here from the
occupancy and action-value oracles, and cross-checked by a second, different oracle:
central finite differences of J, itself computed by linear solves.

Finite-difference accuracy: the central difference has truncation error h^2 |J'''| / 6
and rounding error about eps |J| / h; h = eps^(1/3) balances them, leaving an error of
order eps^(2/3) ~ 4e-11 times the scale of J and its derivatives
(``rlspec.oracles.methods.accuracy.finite_difference_tolerance``).
"""

from __future__ import annotations

import numpy as np
from rlspec import validation
from rlspec.oracles.dynamic_programming import action_values, expected_return
from rlspec.oracles.occupancy import state_occupancy

__all__ = ["softmax", "softmax_policy_gradient", "softmax_policy_gradient_finite_difference", "performance_difference"]

FINITE_DIFFERENCE_STEP = np.finfo(np.float64).eps ** (1.0 / 3.0)


def softmax(theta) -> np.ndarray:
    """pi[s, a] = exp(theta[s, a]) / sum_b exp(theta[s, b]), computed without overflow."""
    theta = validation.as_float_array(theta, "theta[s, a]", ndim=2)
    shifted = np.exp(theta - theta.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def softmax_policy_gradient(transitions, rewards, gamma, initial_distribution, theta) -> np.ndarray:
    """dJ/dtheta[s, a] by the closed form above (gamma < 1)."""
    gamma = validation.check_gamma_below_one(gamma)
    policy = softmax(theta)
    q = action_values(transitions, rewards, gamma, policy)
    advantages = q - (policy * q).sum(axis=1, keepdims=True)
    nu = state_occupancy(transitions, gamma, policy, initial_distribution)
    return nu[:, None] * policy * advantages / (1.0 - gamma)


def softmax_policy_gradient_finite_difference(
    transitions, rewards, gamma, initial_distribution, theta
) -> np.ndarray:
    """dJ/dtheta[s, a] by central differences of J, one coordinate at a time."""
    theta = validation.as_float_array(theta, "theta[s, a]", ndim=2)
    gradient = np.zeros_like(theta)
    for index in np.ndindex(theta.shape):
        step = np.zeros_like(theta)
        step[index] = FINITE_DIFFERENCE_STEP
        up = expected_return(transitions, rewards, gamma, softmax(theta + step), initial_distribution)
        down = expected_return(transitions, rewards, gamma, softmax(theta - step), initial_distribution)
        gradient[index] = (up - down) / (2.0 * FINITE_DIFFERENCE_STEP)
    return gradient


def performance_difference(
    transitions, rewards, gamma, initial_distribution, new_policy, old_policy
) -> float:
    """J(pi_new) - J(pi_old), each J by its own linear solve."""
    return (
        expected_return(transitions, rewards, gamma, new_policy, initial_distribution)
        - expected_return(transitions, rewards, gamma, old_policy, initial_distribution)
    )
