"""The finite-horizon objective, its time-indexed values and its exact policy gradient.

Objective (seed 000 "Policy-Gradient", seed 001 item 2, seed 004 "CS 285 Lecture 5", with
time counted from 0 instead of 1 and an optional discount):

    J_H(theta) = E_{tau ~ p_theta} [ sum_{t=0}^{H-1} gamma^t r(s_t, a_t) ],   s_0 ~ nu_0.

With a finite horizon the values depend on the time step (the number of steps left):

    V_H(s) = 0,
    Q_t(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) V_{t+1}(s'),
    V_t(s) = sum_a pi(a|s) Q_t(s, a),           A_t = Q_t - V_t,

and J_H = sum_s nu_0(s) V_0(s).  For the tabular softmax policy pi = softmax(theta[s]),
d log pi(a'|s') / d theta[s, a] = 1[s' = s] (1[a' = a] - pi(a|s)), so the policy gradient
theorem, summed over the H steps, gives the closed form

    dJ_H / dtheta[s, a] = sum_{t=0}^{H-1} gamma^t Pr(s_t = s) pi(a|s) A_t(s, a).

Two independent oracles for that gradient live here: the closed form in exact rational
arithmetic (``finite_horizon_gradient_exact``; needs only the policy, so ``theta`` is
represented by ``policy = softmax(theta)``), and torch autograd of J_H(theta) computed by
backward induction in float64 (``finite_horizon_gradient_autograd``).  The tests cross-check
them, and both against the enumeration of every trajectory (``rlspec.oracles.methods.trajectories``).

Accuracy of the autograd oracle: backward induction is H rounds of sums of at most S * A
terms, so J and its gradient are within about H * S * A * eps * R * H of the exact values
(R the largest |reward|, the extra H from summing H rewards); the tests use SAFETY times that.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rlspec import validation
from rlspec.oracles.methods.exact_rational import to_fractions

__all__ = ["finite_horizon_values_exact", "finite_horizon_objective_exact",
           "finite_horizon_gradient_exact", "finite_horizon_gradient_autograd"]


def _check_horizon(horizon) -> int:
    if int(horizon) != horizon or horizon < 1:
        raise validation.InvalidInputError(f"horizon must be an integer >= 1, got {horizon!r}")
    return int(horizon)


def finite_horizon_values_exact(transitions, rewards, gamma, policy, horizon):
    """``(V, Q)`` as object arrays of Fractions: ``V[t, s]`` for t = 0..H (``V[H] = 0``) and
    ``Q[t, s, a]`` for t = 0..H-1, by backward induction in exact arithmetic."""
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    horizon = _check_horizon(horizon)
    n_states, n_actions = rewards.shape
    policy = validation.policy_table(policy, n_states, n_actions)
    p, r, pi, g = to_fractions(transitions), to_fractions(rewards), to_fractions(policy), Fraction(gamma)
    values = np.full((horizon + 1, n_states), Fraction(0), dtype=object)
    action_values = np.full((horizon, n_states, n_actions), Fraction(0), dtype=object)
    for t in reversed(range(horizon)):
        for s in range(n_states):
            for a in range(n_actions):
                action_values[t, s, a] = r[s, a] + g * sum(p[s, a, u] * values[t + 1, u]
                                                            for u in range(n_states))
            values[t, s] = sum(pi[s, a] * action_values[t, s, a] for a in range(n_actions))
    return values, action_values


def finite_horizon_objective_exact(transitions, rewards, gamma, policy, initial_distribution,
                                   horizon) -> Fraction:
    """J_H = sum_s nu_0(s) V_0(s), exactly."""
    values, _ = finite_horizon_values_exact(transitions, rewards, gamma, policy, horizon)
    start = to_fractions(validation.distribution(initial_distribution, values.shape[1],
                                                 "initial_distribution"))
    return sum((start[s] * values[0, s] for s in range(values.shape[1])), Fraction(0))


def state_distributions_exact(transitions, policy, initial_distribution, horizon) -> np.ndarray:
    """``d[t, s] = Pr(s_t = s)`` for t = 0..H-1, by the forward recursion
    d_{t+1}(s') = sum_{s, a} d_t(s) pi(a|s) P(s'|s, a)."""
    p, pi = to_fractions(transitions), to_fractions(policy)
    n_states, n_actions = pi.shape
    d = np.full((horizon, n_states), Fraction(0), dtype=object)
    d[0] = to_fractions(initial_distribution)
    for t in range(1, horizon):
        for s in range(n_states):
            for a in range(n_actions):
                weight = d[t - 1, s] * pi[s, a]
                if weight:
                    for u in range(n_states):
                        d[t, u] += weight * p[s, a, u]
    return d


def finite_horizon_gradient_exact(transitions, rewards, gamma, policy, initial_distribution,
                                  horizon) -> np.ndarray:
    """dJ_H/dtheta[s, a] for the tabular softmax at theta with softmax(theta) = ``policy``,
    by the closed form sum_t gamma^t Pr(s_t = s) pi(a|s) A_t(s, a), as exact Fractions."""
    values, action_values = finite_horizon_values_exact(transitions, rewards, gamma, policy,
                                                        horizon)
    horizon = values.shape[0] - 1
    start = validation.distribution(initial_distribution, values.shape[1], "initial_distribution")
    d = state_distributions_exact(transitions, policy, start, horizon)
    pi, g = to_fractions(policy), Fraction(float(gamma))
    n_states, n_actions = pi.shape
    gradient = np.full((n_states, n_actions), Fraction(0), dtype=object)
    for t in range(horizon):
        for s in range(n_states):
            for a in range(n_actions):
                advantage = action_values[t, s, a] - values[t, s]
                gradient[s, a] += g ** t * d[t, s] * pi[s, a] * advantage
    return gradient


def finite_horizon_gradient_autograd(transitions, rewards, gamma, theta, initial_distribution,
                                     horizon) -> np.ndarray:
    """dJ_H/dtheta[s, a] for pi = softmax(theta[s]), by torch autograd of J_H(theta), which
    is computed by backward induction in float64."""
    import torch
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    horizon = _check_horizon(horizon)
    theta = validation.as_float_array(theta, "theta[s, a]", ndim=2)
    validation.check_shape(theta, rewards.shape, "theta[s, a]")
    start = validation.distribution(initial_distribution, rewards.shape[0], "initial_distribution")
    parameters = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    policy = torch.softmax(parameters, dim=1)
    p = torch.tensor(transitions, dtype=torch.float64)
    r = torch.tensor(rewards, dtype=torch.float64)
    values = torch.zeros(rewards.shape[0], dtype=torch.float64)
    for _ in range(horizon):
        q = r + gamma * torch.einsum("sat,t->sa", p, values)
        values = (policy * q).sum(dim=1)
    objective = torch.dot(torch.tensor(start, dtype=torch.float64), values)
    (gradient,) = torch.autograd.grad(objective, parameters)
    return gradient.numpy()
