"""Trust region policy optimisation (TRPO): the surrogate objective, the monotonic improvement
bound, the mean KL constraint, and the four numerical pieces of the practical algorithm
(Fisher-vector product, conjugate gradient, scaling the step to the KL radius, backtracking
line search).

Source: seed 000 "信赖域策略优化（TRPO） & 近端策略优化（PPO）" and seed 002 "信任区域策略优化 TRPO";
Schulman, Levine, Moritz, Jordan & Abbeel (2015), "Trust region policy optimization", ICML
(https://arxiv.org/abs/1502.05477), cited below as "TRPO".

Normalisation, once for the whole module.  J(pi) = E_{s_0 ~ nu_0} V^pi(s_0) is the
*unnormalised* discounted return sum_t gamma^t r_t, the notes' J and TRPO's eta.  nu^pi is
the (1 - gamma)-normalised state visitation (``mdp.state-occupancy``), so TRPO's unnormalised
rho_pi(s) = sum_t gamma^t P(s_t = s) equals nu^pi(s) / (1 - gamma).  Tables follow the spec:
``transitions[s, a, s']``, ``rewards[s, a]``, ``policy[s, a] = pi(a|s)``; gamma < 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from rlspec import validation
from rlspec.reference.bellman import evaluate_policy_matrix_form, one_step_lookahead, policy_markov_matrix

__all__ = ["surrogate_objective", "improvement_lower_bound", "mean_kl", "fisher_vector_product",
           "conjugate_gradient", "scale_step_to_kl_radius", "backtracking_line_search"]


def _advantages_and_visits(transitions, rewards, gamma, initial_distribution, old_policy):
    """A^pi[s, a], nu^pi[s] and J(pi) of the old policy, from the matrix forms.

    V^pi = (I - gamma P_pi)^{-1} r_pi (``mdp.bellman-matrix-form``) and
    nu^pi = (1 - gamma) (I - gamma P_pi^T)^{-1} nu_0, the closed form of the occupancy flow
    equation (``mdp.state-occupancy``).  The judges' oracles use exact rational arithmetic.
    """
    gamma = validation.check_gamma_below_one(gamma)
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    n_states, n_actions = rewards.shape
    old_policy = validation.policy_table(old_policy, n_states, n_actions, "old_policy")
    initial = validation.distribution(initial_distribution, n_states, "initial_distribution")
    values = evaluate_policy_matrix_form(transitions, rewards, gamma, old_policy)
    advantages = one_step_lookahead(transitions, rewards, gamma, values) - values[:, None]
    markov = policy_markov_matrix(transitions, old_policy)
    visits = np.linalg.solve(np.eye(n_states) - gamma * markov.T, (1.0 - gamma) * initial)
    return advantages, visits, float(initial @ values)


def surrogate_objective(transitions, rewards, gamma, initial_distribution, old_policy,
                        new_policy) -> float:
    r"""TRPO's local approximation :math:`L_\pi(\pi')` of :math:`J(\pi')`.

    .. math:: L_\pi(\pi') = J(\pi) + \frac{1}{1-\gamma}\sum_s \nu^\pi(s)\sum_a \pi'(a|s)\,A^\pi(s,a)

    It is the performance-difference identity (``pg.performance-difference``) with the *new*
    policy's visitation nu^{pi'} replaced by the *old* one's, nu^pi.  Written as the notes
    write it, with importance weights (valid where pi(a|s) > 0 whenever pi'(a|s) > 0):
    L = J(pi) + E_{tau ~ pi}[sum_t gamma^t pi'(a_t|s_t) / pi(a_t|s_t) A^pi(s_t, a_t)].

    Source: seed 002 "策略改进的单调性保证" (L_theta(theta') with the J(theta) term, TRPO eq. 3);
    seed 000 writes the same thing without J(pi) and calls it script-L (its "定理" then
    bounds |J(theta') - J(theta) - script-L|).  L_pi(pi) = J(pi), and the gradients of
    L_pi(pi_theta') and J(pi_theta') agree at theta' = theta (TRPO, after eq. 3).

    Example: one state that stays, actions paying (1, 0), gamma 1/2, old policy uniform:
    V = 1, J = 1, A = (1/2, -1/2), nu = (1,).  For the new policy (3/4, 1/4):
    L = 1 + 2 * (3/4 * 1/2 - 1/4 * 1/2) = 1.5, while J(pi') = 0.75 / 0.5 = 1.5 too (one
    state, so the visitation cannot shift).

    >>> round(surrogate_objective([[[1.0], [1.0]]], [[1.0, 0.0]], 0.5, [1.0],
    ...                           [[0.5, 0.5]], [[0.75, 0.25]]), 9)
    1.5
    """
    tables = _advantages_and_visits(transitions, rewards, gamma, initial_distribution, old_policy)
    return _surrogate_from(*tables, new_policy, gamma)


def _surrogate_from(advantages, visits, old_return, new_policy, gamma) -> float:
    new_policy = validation.policy_table(new_policy, *advantages.shape, "new_policy")
    gain = 0.0
    for s in range(advantages.shape[0]):
        gain += visits[s] * float(new_policy[s] @ advantages[s])
    return float(old_return + gain / (1.0 - float(gamma)))


def _kl_row(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) = sum_a p log(p / q) with 0 log 0 = 0; +inf where q = 0 < p."""
    total = 0.0
    for p_a, q_a in zip(p, q):
        if p_a == 0.0:
            continue
        if q_a == 0.0:
            return math.inf
        total += p_a * math.log(p_a / q_a)
    return total


def improvement_lower_bound(transitions, rewards, gamma, initial_distribution, old_policy,
                            new_policy) -> float:
    r"""The right-hand side of TRPO's Theorem 1, a lower bound on :math:`J(\pi')`.

    .. math:: J(\pi') \ge L_\pi(\pi') - C\, D^{\max}_{KL}(\pi, \pi'), \qquad
              C = \frac{4\varepsilon\gamma}{(1-\gamma)^2}, \quad
              \varepsilon = \max_{s,a}|A^\pi(s,a)|, \quad
              D^{\max}_{KL}(\pi,\pi') = \max_s D_{KL}(\pi(\cdot|s)\,\|\,\pi'(\cdot|s))

    Returns ``L_pi(pi') - C * D_max``.  J and L are unnormalised (TRPO's eta); the KL has the
    *old* policy first; the max runs over every state, visited or not; epsilon is the old
    policy's largest |advantage|.  If pi' gives probability 0 to an action pi takes, the KL
    and hence the bound are -inf (true, and useless).

    Source: seed 002 "策略改进的单调性保证" (exactly this statement); seed 000 "定理" (the
    two-sided form with an unnamed constant); TRPO Theorem 1 and eq. (9).

    Example: one state, as in :func:`surrogate_objective`, gamma 1/2: L = 1.5, epsilon = 1/2,
    C = 4 * 1/2 * 1/2 / (1/2)^2 = 4, and KL((1/2, 1/2) || (3/4, 1/4)) = ln(2/sqrt 3)
    = 0.143841..., so the bound is 1.5 - 4 * 0.143841 = 0.924636 <= J(pi') = 1.5.

    >>> round(improvement_lower_bound([[[1.0], [1.0]]], [[1.0, 0.0]], 0.5, [1.0],
    ...                               [[0.5, 0.5]], [[0.75, 0.25]]), 6)
    0.924636
    """
    tables = _advantages_and_visits(transitions, rewards, gamma, initial_distribution, old_policy)
    surrogate = _surrogate_from(*tables, new_policy, gamma)
    advantages = tables[0]
    old = np.asarray(old_policy, dtype=np.float64)
    new = np.asarray(new_policy, dtype=np.float64)
    epsilon = float(np.max(np.abs(advantages)))
    gamma = float(gamma)
    constant = 4.0 * epsilon * gamma / (1.0 - gamma) ** 2
    largest_kl = max(_kl_row(old[s], new[s]) for s in range(old.shape[0]))
    if constant == 0.0:
        return surrogate  # no advantage anywhere: L = J(pi') whatever the KL
    return float(surrogate - constant * largest_kl)


def mean_kl(old_policy, new_policy, state_weights) -> float:
    r"""The mean KL divergence of TRPO's constraint, old policy first.

    .. math:: \bar D_{KL}(\pi_{old}, \pi) = \sum_s w(s)\, \sum_a \pi_{old}(a|s)
              \log\frac{\pi_{old}(a|s)}{\pi(a|s)}

    with w the distribution of the states sampled by the old policy (TRPO eq. 12 uses
    rho_{theta_old}; in practice the empirical distribution of a batch).  Terms with
    pi_old(a|s) = 0 are 0; a term with pi(a|s) = 0 < pi_old(a|s) makes the KL +inf.

    Source: seed 002 "约束策略的变化" (which writes D_KL(pi_theta' || pi_theta), new first:
    see the erratum in spec entry ``trpo.kl-constraint``); seed 000 writes
    E_{s ~ rho_pi}[D_KL(pi || pi')], old first, as TRPO does.

    Example: one state, old (1/2, 1/2), new (1/4, 3/4): 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3).

    >>> round(mean_kl([[0.5, 0.5]], [[0.25, 0.75]], [1.0]), 9) == round(0.5 * math.log(4 / 3), 9)
    True
    """
    old = validation.as_float_array(old_policy, "old_policy pi_old[s, a]", ndim=2)
    validation.check_probability_rows(old, "old_policy pi_old[s, :]")
    new = validation.policy_table(new_policy, *old.shape, "new_policy")
    weights = validation.distribution(state_weights, old.shape[0], "state_weights")
    total = 0.0
    for s in range(old.shape[0]):
        if weights[s] == 0.0:
            continue
        total += float(weights[s]) * _kl_row(old[s], new[s])
    return float(total)


def _linear_softmax(features: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """pi[s, a] = exp(phi(s, a) . theta) / sum_b exp(phi(s, b) . theta), overflow-safe."""
    scores = features @ theta
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=1, keepdims=True)


def fisher_vector_product(features, theta, state_weights, vector) -> np.ndarray:
    r"""F v for a linear-softmax policy, without forming the Fisher matrix F.

    .. math:: \pi_\theta(a|s) = \frac{e^{\phi(s,a)^\top\theta}}{\sum_b e^{\phi(s,b)^\top\theta}},
              \qquad g_{s,a} = \nabla_\theta\log\pi_\theta(a|s) = \phi(s,a) - \sum_b\pi_\theta(b|s)\phi(s,b)
    .. math:: F v = \sum_s w(s)\sum_a \pi_\theta(a|s)\, g_{s,a}\,(g_{s,a}^\top v)

    F is the mean Fisher information E_{s ~ w, a ~ pi}[g g^T]; it is also the Hessian of the
    mean KL theta' -> sum_s w(s) KL(pi_theta(.|s) || pi_theta'(.|s)) at theta' = theta (in
    either KL direction), which is why TRPO uses it as the quadratic model of its constraint
    (TRPO Appendix C).  The tabular softmax is the case phi(s, a) = one-hot(s, a).  The cost
    is O(S A K): each g_{s,a} is used once, F (K x K) never exists.  TRPO implementations
    add a damping term lambda * v; this function has none.

    Source: seed 002 "约束策略的变化" ("基于泰勒展开和共轭梯度的求解方法"); TRPO Appendix C.

    Example: one state, two actions with features 1 and 0 (a logistic policy), theta = 0:
    pi = (1/2, 1/2), g = (1/2, -1/2), F = 1/2 * 1/4 + 1/2 * 1/4 = 1/4, so F * 2 = 1/2.

    >>> fisher_vector_product([[[1.0], [0.0]]], [0.0], [1.0], [2.0])
    array([0.5])
    """
    features = validation.as_float_array(features, "features phi[s, a, k]", ndim=3)
    n_states, n_actions, n_features = features.shape
    theta = validation.as_float_array(theta, "theta[k]", ndim=1)
    validation.check_shape(theta, (n_features,), "theta[k]")
    weights = validation.distribution(state_weights, n_states, "state_weights")
    vector = validation.as_float_array(vector, "vector[k]", ndim=1)
    validation.check_shape(vector, (n_features,), "vector[k]")
    policy = _linear_softmax(features, theta)
    product = np.zeros(n_features)
    for s in range(n_states):
        mean_feature = policy[s] @ features[s]
        for a in range(n_actions):
            score = features[s, a] - mean_feature
            product += weights[s] * policy[s, a] * (score @ vector) * score
    return product


def conjugate_gradient(matrix, vector, iterations: int,
                       residual_tolerance: float = 1e-10) -> np.ndarray:
    r"""Approximately solve A x = b, A symmetric positive definite, by conjugate gradient.

    .. math:: x_0 = 0,\ r_0 = p_0 = b;\qquad \alpha_k = \frac{r_k^\top r_k}{p_k^\top A p_k},\
              x_{k+1} = x_k + \alpha_k p_k,\ r_{k+1} = r_k - \alpha_k A p_k,\
              p_{k+1} = r_{k+1} + \frac{r_{k+1}^\top r_{k+1}}{r_k^\top r_k} p_k

    Returns x after ``iterations`` steps (one product A p each), or earlier once
    r^T r <= ``residual_tolerance`` (TRPO implementations use 1e-10).  ``matrix`` is an
    array or a function ``v -> A v`` (TRPO passes the Fisher-vector product, so F is never
    formed).  x_k minimises (1/2) x^T A x - b^T x over the Krylov space
    span{b, A b, ..., A^{k-1} b}, so in exact arithmetic CG solves the system in at most as
    many steps as A has distinct eigenvalues, hence at most n (Nocedal & Wright 2006,
    Thm 5.4).  With b = 0 the answer is x = 0 at once (no 0/0).  The arithmetic is generic:
    given Fractions (an object array and a product that keeps them), it is exact.

    Source: seed 002 "约束策略的变化" ("共轭梯度的求解方法", pointing to 动手学强化学习 11.3);
    TRPO Appendix C.

    Example: A = diag(1, 2), b = (1, 2): two distinct eigenvalues, so two steps give
    x = (1, 1) (one step gives only the Krylov minimiser (5/9)(1, 2) along b).

    >>> conjugate_gradient(np.diag([1.0, 2.0]), [1.0, 2.0], 2)
    array([1., 1.])
    """
    if callable(matrix):
        product: Callable = matrix
    else:
        array = np.asarray(matrix)
        if array.dtype != object:
            array = validation.as_float_array(matrix, "matrix A[n, n]", ndim=2)
        if array.ndim != 2 or array.shape[0] != array.shape[1]:
            raise validation.InvalidInputError(f"matrix A must be square, got shape {array.shape}")
        product = array.dot
    b = np.asarray(vector)
    if b.dtype != object:
        b = validation.as_float_array(vector, "vector b[n]", ndim=1)
    if int(iterations) != iterations or iterations < 0:
        raise validation.InvalidInputError(f"iterations must be a non-negative integer, got {iterations!r}")
    x = b * 0
    residual = b.copy()
    direction = b.copy()
    residual_norm = residual.dot(residual)
    for _ in range(int(iterations)):
        if residual_norm <= residual_tolerance:
            break
        matrix_direction = np.asarray(product(direction))
        curvature = direction.dot(matrix_direction)
        if not curvature > 0:
            raise validation.InvalidInputError(
                f"p^T A p = {curvature} <= 0: the matrix is not positive definite")
        step = residual_norm / curvature
        x = x + step * direction
        residual = residual - step * matrix_direction
        updated_norm = residual.dot(residual)
        direction = residual + (updated_norm / residual_norm) * direction
        residual_norm = updated_norm
    return x


def scale_step_to_kl_radius(direction, fisher, max_kl: float) -> np.ndarray:
    r"""TRPO's full step: the search direction x scaled so that the KL's quadratic model is delta.

    .. math:: \Delta = \sqrt{\frac{2\delta}{x^\top F x}}\; x ,
              \qquad\text{so that}\qquad \tfrac12\,\Delta^\top F\,\Delta = \delta

    The natural-gradient step maximises the linear model g^T Delta of the surrogate subject
    to the quadratic model (1/2) Delta^T F Delta <= delta of the mean KL; along x ~ F^{-1} g
    (conjugate gradient) the constraint is active at the beta with (1/2) beta^2 x^T F x = delta.
    The curvature is x^T F x, one more Fisher-vector product.  For every CG iterate x_k
    (converged or not) x_k^T F x_k = g^T x_k exactly, since the residual g - F x_k is
    orthogonal to the Krylov space that holds x_k, so codes that divide by g^T x compute the
    same step for CG's output; they differ for any other direction.

    Source: seed 002 "约束策略的变化" ("基于泰勒展开和共轭梯度的求解方法"); TRPO Appendix C
    ("β = sqrt(2δ / s^T A s)", with s ≈ A^{-1} g from conjugate gradient).
    Conventions: ``direction[n]`` = x, nonzero; ``fisher`` the matrix F[n, n] (symmetric
    positive semidefinite, with any damping already added) or a function v -> F v, as
    ``conjugate_gradient`` takes it; ``max_kl`` = delta > 0.  x^T F x must be > 0.  No
    epsilon is added to the denominator (codes add 1e-8, a relative change of 5e-9 / x^T F x).

    Example: F = diag(1, 2), x = (1, 1), delta = 1/4: x^T F x = 3, beta = sqrt(1/6)
    = 0.408248, Delta = (0.408248, 0.408248), and (1/2) Delta^T F Delta = (1/2)(3/6) = 1/4.

    >>> scale_step_to_kl_radius([1.0, 1.0], np.diag([1.0, 2.0]), 0.25).round(6)
    array([0.408248, 0.408248])
    """
    direction = validation.as_float_array(direction, "direction x[n]", ndim=1)
    if callable(fisher):
        product = np.asarray(fisher(direction.copy()), dtype=np.float64)
    else:
        matrix = validation.as_float_array(fisher, "fisher F[n, n]", ndim=2)
        validation.check_shape(matrix, (direction.size, direction.size), "fisher F[n, n]")
        product = matrix @ direction
    try:
        max_kl = float(max_kl)
    except (TypeError, ValueError):
        raise validation.InvalidInputError(f"max_kl must be a number, got {max_kl!r}") from None
    if not (max_kl > 0.0 and math.isfinite(max_kl)):
        raise validation.InvalidInputError(f"max_kl (delta) must be finite and > 0, got {max_kl!r}")
    curvature = float(direction @ product)
    if not curvature > 0.0:
        raise validation.InvalidInputError(
            f"x^T F x = {curvature!r} <= 0: the direction is 0 or in F's null space, and no "
            f"multiple of it reaches the KL radius")
    return math.sqrt(2.0 * max_kl / curvature) * direction


def backtracking_line_search(parameters, full_step, surrogate: Callable, kl: Callable,
                             max_kl: float, backtrack_ratio: float = 0.5,
                             max_backtracks: int = 10) -> np.ndarray:
    r"""TRPO's line search: the largest step fraction that keeps the KL and improves L.

    Tries :math:`\theta_j = \theta + \beta^j\,\Delta` for j = 0, 1, ..., max_backtracks - 1
    (beta = ``backtrack_ratio``, Delta = ``full_step``) and returns the first one with

    .. math:: \bar D_{KL}(\theta, \theta_j) \le \delta \quad\text{and}\quad L(\theta_j) > L(\theta)

    (delta = ``max_kl``, L = ``surrogate``, D = ``kl``, a function of the new parameters with
    the old ones fixed).  If no fraction passes, the parameters are returned unchanged: the
    update is rejected.  Both conditions are checked on the exact KL and surrogate, because
    the full step was sized on their quadratic and linear models (TRPO Appendix C: "we use a
    line search to ensure improvement of the surrogate objective and satisfaction of the KL
    divergence constraint").

    Source: seed 002 "约束策略的变化" (the constrained problem the search enforces);
    TRPO Appendix C.

    Example: L(theta) = theta, KL(theta) = theta^2 / 2, delta = 1/8, full step 1: the full step
    breaks the constraint (KL = 1/2 > 1/8); the half step has KL = 1/8 <= 1/8 and L = 1/2 > 0,
    so it is accepted.

    >>> backtracking_line_search([0.0], [1.0], lambda t: t[0], lambda t: t[0] ** 2 / 2, 0.125)
    array([0.5])
    """
    parameters = validation.as_float_array(parameters, "parameters[k]", ndim=1)
    full_step = validation.as_float_array(full_step, "full_step[k]", ndim=1)
    validation.check_shape(full_step, parameters.shape, "full_step[k]")
    if not 0.0 < backtrack_ratio < 1.0:
        raise validation.InvalidInputError(f"backtrack_ratio must lie in (0, 1), got {backtrack_ratio!r}")
    if not max_kl >= 0.0:
        raise validation.InvalidInputError(f"max_kl must be non-negative, got {max_kl!r}")
    start = float(surrogate(parameters.copy()))
    for j in range(int(max_backtracks)):
        trial = parameters + backtrack_ratio ** j * full_step
        if float(kl(trial.copy())) <= max_kl and float(surrogate(trial.copy())) > start:
            return trial
    return parameters
