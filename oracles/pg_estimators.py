"""Exact and autograd values of the sample-based policy-gradient estimators.

Every estimator here has the form  g_hat = sum_t w_t grad_theta log pi_theta(a_t | s_t)  for
one trajectory (states s_t, actions a_t, rewards r_t, t = 0..T-1), for the tabular softmax
policy pi_theta(a|s) = softmax(theta[s])_a, whose score is

    d log pi(a'|s') / d theta[s, a] = 1[s' = s] (1[a' = a] - pi(a|s)).

Two independent ways to compute each estimate:

* ``*_exact``: the weights w_t by explicit double sums (no recursion), the score by the
  closed form above, all in exact Fractions of a rational ``policy`` (the caller passes
  the probabilities, i.e. theta = log policy).  The enumeration tests use these, so that
  an expectation over all trajectories is an exact rational number.
* ``*_autograd``: the same weights, the gradient by torch autograd of the surrogate
  sum_t w_t log softmax(theta)[s_t, a_t] in float64; no score formula is written down.

The weights (time counted from 0; gamma^t is the discount of the step's own position):

* REINFORCE with reward-to-go and a state baseline (Williams 1992; Sutton & Barto 2018,
  eq. 13.8 and §13.4):  w_t = gamma^t (G_t - b(s_t)),  G_t = sum_{t' >= t} gamma^{t'-t} r_t'.
* Off-policy, per-decision importance sampling (Precup, Sutton & Singh 2000, applied to the
  score-function gradient as in CS 285 Lecture 5), with rho_k = pi(a_k|s_k) / beta_k:
      w_t = sum_{t' >= t} gamma^{t'} r_t' prod_{k=0}^{t'} rho_k,
  each reward weighted by the ratios of the actions taken up to it.

Accuracy of the autograd values: each weight is a sum of T products (rounded once each, so
within T eps |w| of exact) and autograd adds one rounding per step of the sum, so the
result is within about SAFETY * T^2 * eps * max|w| of the exact gradient.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy
from rlspec import validation
from rlspec.oracles.methods.conversions import to_fractions

__all__ = [
    "score_function_gradient_exact",
    "reinforce_gradient_exact",
    "reinforce_gradient_autograd",
    "psi_weights_exact",
    "off_policy_gradient_exact",
    "off_policy_gradient_autograd",
    "softmax_log_gradient_autograd",
    "softmax_log_gradient_finite_difference",
    "variance_minimising_baseline_exact",
    "variance_minimising_baseline_sympy",
    "finite_horizon_values_exact",
    "finite_horizon_objective_exact",
    "finite_horizon_gradient_exact",
    "finite_horizon_gradient_autograd",
]


def _trajectory(states, actions, rewards, n_states: int, n_actions: int):
    states = np.asarray(states).reshape(-1)
    actions = np.asarray(actions).reshape(-1)
    rewards = validation.as_float_array(rewards, "rewards r_t", ndim=1)
    if not (states.size == actions.size == rewards.size):
        raise validation.InvalidInputError(
            f"states, actions and rewards must have one entry per step, got lengths "
            f"{states.size}, {actions.size}, {rewards.size}")
    if np.any(states != np.round(states)) or np.any(actions != np.round(actions)):
        raise validation.InvalidInputError("states and actions must be integer indices")
    states, actions = states.astype(np.int64), actions.astype(np.int64)
    if np.any((states < 0) | (states >= n_states)) or np.any((actions < 0) | (actions >= n_actions)):
        raise validation.InvalidInputError(
            f"states must lie in range({n_states}) and actions in range({n_actions})")
    return states, actions, rewards


def _baseline(baseline, n_states: int) -> np.ndarray:
    if baseline is None:
        return np.zeros(n_states)
    baseline = validation.as_float_array(baseline, "baseline b[s]", ndim=1)
    validation.check_shape(baseline, (n_states,), "baseline b[s]")
    return baseline


def score_function_gradient_exact(policy, states, actions, weights) -> np.ndarray:
    """sum_t w_t grad log pi(a_t|s_t) for the tabular softmax, as an object array [s, a] of
    Fractions; ``weights`` may be Fractions (kept exact) or floats (converted exactly)."""
    pi = to_fractions(validation.as_float_array(policy, "policy pi[s, a]", ndim=2))
    n_states, n_actions = pi.shape
    gradient = np.full((n_states, n_actions), Fraction(0), dtype=object)
    for s, a, w in zip(np.asarray(states).reshape(-1), np.asarray(actions).reshape(-1), weights):
        w = w if isinstance(w, Fraction) else Fraction(float(w))
        for b in range(n_actions):
            gradient[int(s), b] += w * (int(b == int(a)) - pi[int(s), b])
    return gradient


def _reinforce_weights_exact(rewards, gamma, states, baseline) -> list[Fraction]:
    """w_t = sum_{t' >= t} gamma^{t'} r_t' - gamma^t b(s_t), by the explicit double sum."""
    g = Fraction(float(gamma))
    r = [Fraction(float(x)) for x in rewards]
    return [sum((g ** u * r[u] for u in range(t, len(r))), Fraction(0))
            - g ** t * Fraction(float(baseline[int(states[t])])) for t in range(len(r))]


def reinforce_gradient_exact(policy, states, actions, rewards, gamma, baseline=None) -> np.ndarray:
    """The REINFORCE estimate sum_t gamma^t (G_t - b(s_t)) grad log pi(a_t|s_t), exactly."""
    policy = validation.as_float_array(policy, "policy pi[s, a]", ndim=2)
    states, actions, rewards = _trajectory(states, actions, rewards, *policy.shape)
    gamma = validation.check_gamma(gamma)
    weights = _reinforce_weights_exact(rewards, gamma, states, _baseline(baseline, policy.shape[0]))
    return score_function_gradient_exact(policy, states, actions, weights)


#: The six forms of psi_t of seed 000 "Actor-Critic", in the notes' order.
PSI_FORMS = ("total-return", "reward-to-go", "baseline", "action-value", "advantage", "td-residual")


def psi_weights_exact(form, rewards, gamma, states, actions, values, action_values,
                      baseline) -> list[Fraction]:
    """The weights w_t of one of the six forms of psi_t (``pg.psi-forms``), as Fractions.

    Each weight is written out term by term from the table of the spec entry, with the
    step's own discount gamma^t folded into the sums rather than multiplied afterwards:

    * total-return   sum_{u} gamma^u r_u
    * reward-to-go   sum_{u >= t} gamma^u r_u
    * baseline       sum_{u >= t} gamma^u r_u - gamma^t b(s_t)
    * action-value   gamma^t Q_t(s_t, a_t)
    * advantage      gamma^t Q_t(s_t, a_t) - gamma^t V_t(s_t)
    * td-residual    gamma^t r_t + gamma^{t+1} V_{t+1}(s_{t+1}) - gamma^t V_t(s_t), with
      V_T = 0 at the last step whatever ``values[T]`` holds (the trajectory ends there).

    ``values[t, s]`` for t = 0..T, ``action_values[t, s, a]`` for t < T, ``baseline[s]``.
    Exact: every float input is converted to the Fraction it holds.
    """
    if form not in PSI_FORMS:
        raise validation.InvalidInputError(f"form must be one of {PSI_FORMS}, got {form!r}")
    gamma = validation.check_gamma(gamma)
    v = to_fractions(validation.as_float_array(values, "values V[t, s]", ndim=2))
    q = to_fractions(validation.as_float_array(action_values, "action_values Q[t, s, a]", ndim=3))
    b = to_fractions(validation.as_float_array(baseline, "baseline b[s]", ndim=1))
    states, actions, rewards = _trajectory(states, actions, rewards, q.shape[1], q.shape[2])
    if v.shape[0] < states.size + 1 or q.shape[0] < states.size:
        raise validation.InvalidInputError(
            f"values need T + 1 = {states.size + 1} rows and action_values T = {states.size}, "
            f"got {v.shape[0]} and {q.shape[0]}")
    g, r, size = Fraction(gamma), [Fraction(float(x)) for x in rewards], states.size
    weights = []
    for t in range(size):
        s, a = int(states[t]), int(actions[t])
        if form == "total-return":
            w = sum((g ** u * r[u] for u in range(size)), Fraction(0))
        elif form == "reward-to-go":
            w = sum((g ** u * r[u] for u in range(t, size)), Fraction(0))
        elif form == "baseline":
            w = sum((g ** u * r[u] for u in range(t, size)), Fraction(0)) - g ** t * b[s]
        elif form == "action-value":
            w = g ** t * q[t, s, a]
        elif form == "advantage":
            w = g ** t * q[t, s, a] - g ** t * v[t, s]
        else:
            following = v[t + 1, int(states[t + 1])] if t + 1 < size else Fraction(0)
            w = g ** t * r[t] + g ** (t + 1) * following - g ** t * v[t, s]
        weights.append(w)
    return weights


def _off_policy_weights_exact(policy, states, actions, rewards, behaviour, gamma) -> list[Fraction]:
    pi = to_fractions(policy)
    g = Fraction(float(gamma))
    ratios = [pi[s, a] / Fraction(float(b)) for s, a, b in zip(states, actions, behaviour)]
    products, running = [], Fraction(1)
    for rho in ratios:
        running *= rho
        products.append(running)  # prod_{k <= t'} rho_k
    r = [Fraction(float(x)) for x in rewards]
    return [sum((g ** u * r[u] * products[u] for u in range(t, len(r))), Fraction(0))
            for t in range(len(r))]


def _behaviour(behaviour_probabilities, size: int) -> np.ndarray:
    behaviour = validation.as_float_array(behaviour_probabilities,
                                          "behaviour_probabilities beta(a_t|s_t)", ndim=1)
    validation.check_shape(behaviour, (size,), "behaviour_probabilities beta(a_t|s_t)")
    if np.any(behaviour <= 0) or np.any(behaviour > 1):
        raise validation.InvalidInputError(
            "behaviour_probabilities must lie in (0, 1]: every action taken had positive "
            f"probability under the behaviour policy, got {behaviour.tolist()}")
    return behaviour


def off_policy_gradient_exact(policy, states, actions, rewards, behaviour_probabilities,
                              gamma) -> np.ndarray:
    """The per-decision importance-sampling estimate, exactly (see the module docstring)."""
    policy = validation.as_float_array(policy, "policy pi[s, a]", ndim=2)
    states, actions, rewards = _trajectory(states, actions, rewards, *policy.shape)
    behaviour = _behaviour(behaviour_probabilities, states.size)
    gamma = validation.check_gamma(gamma)
    weights = _off_policy_weights_exact(policy, states, actions, rewards, behaviour, gamma)
    return score_function_gradient_exact(policy, states, actions, weights)


def _surrogate_gradient(theta: np.ndarray, states, actions, weights) -> np.ndarray:
    """grad_theta sum_t w_t log softmax(theta)[s_t, a_t], by autograd."""
    import torch
    parameters = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    log_policy = torch.log_softmax(parameters, dim=1)
    taken = log_policy[torch.as_tensor(states), torch.as_tensor(actions)]
    surrogate = (torch.tensor([float(w) for w in weights], dtype=torch.float64) * taken).sum()
    (gradient,) = torch.autograd.grad(surrogate, parameters)
    return gradient.numpy()


def reinforce_gradient_autograd(theta, states, actions, rewards, gamma, baseline=None) -> np.ndarray:
    """The REINFORCE estimate at ``theta``, by autograd of the surrogate (float64)."""
    theta = validation.as_float_array(theta, "theta[s, a]", ndim=2)
    states, actions, rewards = _trajectory(states, actions, rewards, *theta.shape)
    gamma = validation.check_gamma(gamma)
    weights = _reinforce_weights_exact(rewards, gamma, states, _baseline(baseline, theta.shape[0]))
    return _surrogate_gradient(theta, states, actions, weights)


def off_policy_gradient_autograd(theta, states, actions, rewards, behaviour_probabilities,
                                 gamma) -> np.ndarray:
    """The per-decision importance-sampling estimate at ``theta``, by autograd of the
    surrogate sum_t w_t log pi(a_t|s_t) with the weights w_t (and their ratios) held fixed."""
    import torch
    theta = validation.as_float_array(theta, "theta[s, a]", ndim=2)
    states, actions, rewards = _trajectory(states, actions, rewards, *theta.shape)
    behaviour = _behaviour(behaviour_probabilities, states.size)
    gamma = validation.check_gamma(gamma)
    policy = torch.softmax(torch.tensor(theta, dtype=torch.float64), dim=1).numpy()
    weights = _off_policy_weights_exact(policy, states, actions, rewards, behaviour, gamma)
    return _surrogate_gradient(theta, states, actions, weights)


def _linear_softmax_inputs(features, weights, action):
    features = validation.as_float_array(features, "features phi[a, d]", ndim=2)
    weights = validation.as_float_array(weights, "weights w[d]", ndim=1)
    validation.check_shape(weights, (features.shape[1],), "weights w[d]")
    if int(action) != action or not 0 <= action < features.shape[0]:
        raise validation.InvalidInputError(
            f"action must be an index in range({features.shape[0]}), got {action!r}")
    return features, weights, int(action)


def softmax_log_gradient_autograd(features, weights, action) -> np.ndarray:
    """grad_w log pi(action) for pi = softmax(features @ w), by torch autograd (float64)."""
    import torch
    features, weights, action = _linear_softmax_inputs(features, weights, action)
    w = torch.tensor(weights, dtype=torch.float64, requires_grad=True)
    log_policy = torch.log_softmax(torch.tensor(features, dtype=torch.float64) @ w, dim=0)
    (gradient,) = torch.autograd.grad(log_policy[action], w)
    return gradient.numpy()


#: Central differences with h = eps^(1/3): error about eps^(2/3) times the scale of the
#: third derivative of log-softmax along a coordinate, which is at most 2 |phi|^3.
FINITE_DIFFERENCE_STEP = np.finfo(np.float64).eps ** (1.0 / 3.0)


def softmax_log_gradient_finite_difference(features, weights, action) -> np.ndarray:
    """grad_w log pi(action) by central differences of log-softmax (scipy's logsumexp)."""
    from scipy.special import logsumexp

    features, weights, action = _linear_softmax_inputs(features, weights, action)

    def log_probability(w):
        scores = features @ w
        return scores[action] - logsumexp(scores)

    gradient = np.zeros_like(weights)
    for j in range(weights.size):
        step = np.zeros_like(weights)
        step[j] = FINITE_DIFFERENCE_STEP
        gradient[j] = (log_probability(weights + step) - log_probability(weights - step)) \
            / (2.0 * FINITE_DIFFERENCE_STEP)
    return gradient


def _baseline_inputs(scores, returns, probabilities):
    scores = validation.as_float_array(scores, "scores g[n, d]", ndim=2)
    returns = validation.as_float_array(returns, "returns R[n]", ndim=1)
    validation.check_shape(returns, (scores.shape[0],), "returns R[n]")
    probabilities = validation.distribution(probabilities, scores.shape[0], "probabilities p[n]")
    return to_fractions(scores), to_fractions(returns), to_fractions(probabilities)


def variance_minimising_baseline_exact(scores, returns, probabilities) -> list[Fraction | None]:
    """b_j = E[g_j^2 R] / E[g_j^2] per coordinate j, exactly; ``None`` where E[g_j^2] = 0
    (that coordinate's estimate is 0 whatever b_j is, so every baseline is optimal)."""
    g, r, p = _baseline_inputs(scores, returns, probabilities)
    baseline = []
    for j in range(g.shape[1]):
        second_moment = sum(p[i] * g[i, j] ** 2 for i in range(g.shape[0]))
        weighted = sum(p[i] * g[i, j] ** 2 * r[i] for i in range(g.shape[0]))
        baseline.append(weighted / second_moment if second_moment else None)
    return baseline


def variance_minimising_baseline_sympy(scores, returns, probabilities) -> list[Fraction | None]:
    """The minimiser of Var[g_j (R - b)] over b, found symbolically: sympy writes the
    variance E[g^2 (R - b)^2] - E[g (R - b)]^2 as a polynomial in b and solves d/db = 0.
    Unlike the closed form it does not assume E[g_j] = 0, so it is the definition of the
    optimum, not a formula for it."""
    g, r, p = _baseline_inputs(scores, returns, probabilities)
    b = sympy.Symbol("b")
    rational = [[sympy.Rational(x.numerator, x.denominator) for x in row] for row in g]
    rs = [sympy.Rational(x.numerator, x.denominator) for x in r]
    ps = [sympy.Rational(x.numerator, x.denominator) for x in p]
    baseline = []
    for j in range(g.shape[1]):
        mean = sum(ps[i] * rational[i][j] * (rs[i] - b) for i in range(len(ps)))
        second = sum(ps[i] * rational[i][j] ** 2 * (rs[i] - b) ** 2 for i in range(len(ps)))
        variance = sympy.expand(second - mean ** 2)
        if sympy.Poly(variance, b).degree() < 2:  # the variance does not depend on b
            baseline.append(None)
            continue
        (root,) = sympy.solve(sympy.diff(variance, b), b)
        baseline.append(Fraction(int(root.p), int(root.q)))
    return baseline


# ------------------------------------------------------------ the finite-horizon objective
#
# The finite-horizon objective, its time-indexed values and its exact policy gradient.
#
# Objective (seed 000 "Policy-Gradient", seed 001 item 2, seed 004 "CS 285 Lecture 5", with
# time counted from 0 instead of 1 and an optional discount):
#
#     J_H(theta) = E_{tau ~ p_theta} [ sum_{t=0}^{H-1} gamma^t r(s_t, a_t) ],   s_0 ~ nu_0.
#
# With a finite horizon the values depend on the time step (the number of steps left):
#
#     V_H(s) = 0,
#     Q_t(s, a) = r(s, a) + gamma sum_s' P(s'|s, a) V_{t+1}(s'),
#     V_t(s) = sum_a pi(a|s) Q_t(s, a),           A_t = Q_t - V_t,
#
# and J_H = sum_s nu_0(s) V_0(s).  For the tabular softmax policy pi = softmax(theta[s]),
# d log pi(a'|s') / d theta[s, a] = 1[s' = s] (1[a' = a] - pi(a|s)), so the policy gradient
# theorem, summed over the H steps, gives the closed form
#
#     dJ_H / dtheta[s, a] = sum_{t=0}^{H-1} gamma^t Pr(s_t = s) pi(a|s) A_t(s, a).
#
# Two independent oracles for that gradient live here: the closed form in exact rational
# arithmetic (``finite_horizon_gradient_exact``; needs only the policy, so ``theta`` is
# represented by ``policy = softmax(theta)``), and torch autograd of J_H(theta) computed by
# backward induction in float64 (``finite_horizon_gradient_autograd``).  The tests cross-check
# them, and both against the enumeration of every trajectory (``rlspec.oracles.methods.trajectories``).
#
# Accuracy of the autograd oracle: backward induction is H rounds of sums of at most S * A
# terms, so J and its gradient are within about H * S * A * eps * R * H of the exact values
# (R the largest |reward|, the extra H from summing H rewards); the tests use SAFETY times that.


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
