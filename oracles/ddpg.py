"""DDPG: exact critic targets and soft target updates, and the exact policy gradient of a
linear policy on a discounted linear-quadratic problem.

The exact policy gradient of a linear policy on a discounted linear-quadratic problem.

Problem (the setting of ``rlspec.reference.ddpg.deterministic_policy_gradient_lqr``):
s_{t+1} = A s_t + B a_t, r_t = -(s_t' Q s_t + a_t' R a_t), a_t = K s_t, E[s_0 s_0'] = Sigma_0.
With M = A + B K and gamma rho(M)^2 < 1, the objective has the closed form

    J(K) = -tr(P_K Sigma_0),   P_K = Q + K' R K + gamma M' P_K M,

a discrete Lyapunov equation.  The oracles here differentiate this *objective* directly;
they never use the deterministic policy gradient theorem, which is what they judge:

- ``lqr_policy_gradient_autograd``: P_K by one linear solve of the vectorised equation
  (I - gamma M' (x) M') vec(P) = vec(Q + K' R K) in torch float64, and dJ/dK by autograd.
- ``lqr_policy_gradient_finite_difference``: central differences of J, with P_K from
  scipy's Bartels-Stewart solver (``solve_discrete_lyapunov``), a different algorithm.
- ``lqr_policy_gradient_scalar_sympy``: for one state and one action, J(k) =
  -sigma_0 (q + r k^2) / (1 - gamma (a + b k)^2) differentiated symbolically in exact
  rationals.

Accuracy.  With c = gamma ||M||_2^2 < 1 the Kronecker system has condition number at most
(1 + c) / (1 - c) in the 2-norm (||gamma M' (x) M'||_2 = c), so the solve and its adjoint
lose about n^2 eps (1 + c) / (1 - c) relative: ~1e-14 for the generated cases (c <= 0.6).
Central differences with h = eps^(1/3) |K| lose about eps^(2/3) ~ 4e-11 relative
(``rlspec.oracles.methods.accuracy.finite_difference_tolerance`` explains the balance).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.linalg
import sympy
from rlspec.oracles.methods.accuracy import EPS
from rlspec.oracles.methods.conversions import fraction_list, to_floats

__all__ = [
    "lqr_objective",
    "lqr_policy_gradient_autograd",
    "lqr_policy_gradient_finite_difference",
    "lqr_policy_gradient_scalar_sympy",
    "ddpg_targets_exact",
    "bootstrapped_targets_exact",
    "soft_target_update_exact",
    "soft_target_after_updates",
]


def _as_tensors(*arrays):
    import torch
    return [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in arrays]


def _objective_torch(a, b, q, r, k, sigma_0, gamma):
    import torch
    closed_loop = a + b @ k
    n = a.shape[0]
    system = torch.eye(n * n, dtype=torch.float64) - gamma * torch.kron(closed_loop.T, closed_loop.T)
    cost = q + k.T @ r @ k
    p = torch.linalg.solve(system, cost.reshape(-1)).reshape(n, n)
    return -torch.trace(p @ sigma_0)


def lqr_objective(dynamics, control, state_cost, action_cost, gain, initial_covariance, gamma) -> float:
    """J(K) = -tr(P_K Sigma_0), P_K by the vectorised linear solve."""
    tensors = _as_tensors(dynamics, control, state_cost, action_cost, gain, initial_covariance)
    return float(_objective_torch(*tensors, float(gamma)))


def lqr_policy_gradient_autograd(dynamics, control, state_cost, action_cost, gain,
                                 initial_covariance, gamma) -> np.ndarray:
    """dJ/dK[m, n] by torch autograd through the linear solve for P_K."""
    import torch
    a, b, q, r, k, sigma_0 = _as_tensors(dynamics, control, state_cost, action_cost, gain,
                                         initial_covariance)
    k = k.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(_objective_torch(a, b, q, r, k, sigma_0, float(gamma)), k)
    return gradient.numpy()


def _objective_lyapunov(a, b, q, r, k, sigma_0, gamma) -> float:
    closed_loop = a + b @ k
    p = scipy.linalg.solve_discrete_lyapunov(np.sqrt(gamma) * closed_loop.T, q + k.T @ r @ k)
    return -float(np.trace(p @ sigma_0))


def lqr_policy_gradient_finite_difference(dynamics, control, state_cost, action_cost, gain,
                                          initial_covariance, gamma) -> np.ndarray:
    """dJ/dK[m, n] by central differences of J, with P_K from scipy's Lyapunov solver."""
    a, b, q, r, k, sigma_0 = (np.asarray(x, dtype=np.float64) for x in
                              (dynamics, control, state_cost, action_cost, gain, initial_covariance))
    step = EPS ** (1.0 / 3.0) * max(1.0, float(np.max(np.abs(k))))
    gradient = np.zeros_like(k)
    for index in np.ndindex(k.shape):
        shift = np.zeros_like(k)
        shift[index] = step
        up = _objective_lyapunov(a, b, q, r, k + shift, sigma_0, float(gamma))
        down = _objective_lyapunov(a, b, q, r, k - shift, sigma_0, float(gamma))
        gradient[index] = (up - down) / (2.0 * step)
    return gradient


def lqr_policy_gradient_scalar_sympy(dynamics, control, state_cost, action_cost, gain,
                                     initial_covariance, gamma) -> sympy.Rational:
    """dJ/dk for one state and one action, exactly: the derivative of
    J(k) = -sigma_0 (q + r k^2) / (1 - gamma (a + b k)^2) at the given k, with every float
    input converted exactly to a rational."""
    values = [np.asarray(x, dtype=np.float64).reshape(-1) for x in
              (dynamics, control, state_cost, action_cost, gain, initial_covariance)]
    if any(v.size != 1 for v in values):
        raise ValueError("the sympy oracle handles one state and one action only")
    a, b, q, r, k0, sigma_0 = (sympy.Rational(float(v[0])) for v in values)
    k = sympy.Symbol("k", real=True)
    objective = -sigma_0 * (q + r * k ** 2) / (1 - sympy.Rational(float(gamma)) * (a + b * k) ** 2)
    return sympy.Rational(sympy.diff(objective, k).subs(k, k0))


def bootstrapped_targets_exact(rewards, terminated, next_values: list[Fraction], gamma) -> np.ndarray:
    """r + gamma (1 - terminated) next_value in exact rationals, rounded once: the target
    that DDPG, TD3 and SAC share, given each method's exact next-state value."""
    g = Fraction(float(gamma))
    exact = [r + (0 if term else g * v)
             for r, term, v in zip(fraction_list(rewards), np.asarray(terminated, dtype=bool), next_values)]
    return to_floats(exact)


def ddpg_targets_exact(rewards, terminated, next_q, gamma) -> np.ndarray:
    """r + gamma (1 - terminated) Q'(s', mu'(s')) in exact rationals, rounded once."""
    return bootstrapped_targets_exact(rewards, terminated, fraction_list(next_q), gamma)


def soft_target_update_exact(target_params, online_params, tau) -> np.ndarray:
    """tau * online + (1 - tau) * target, entry by entry in exact rationals."""
    target = np.asarray(target_params, dtype=np.float64)
    t = Fraction(float(tau))
    exact = [t * o + (1 - t) * g for g, o in zip(fraction_list(target), fraction_list(online_params))]
    return to_floats(exact).reshape(target.shape)


def soft_target_after_updates(target_params, online_params, tau, n_updates: int) -> np.ndarray:
    """The closed form after k updates towards fixed online parameters:
    theta'_k = theta + (1 - tau)^k (theta'_0 - theta), exactly."""
    target = np.asarray(target_params, dtype=np.float64)
    decay = (1 - Fraction(float(tau))) ** int(n_updates)
    exact = [o + decay * (g - o) for g, o in zip(fraction_list(target), fraction_list(online_params))]
    return to_floats(exact).reshape(target.shape)
