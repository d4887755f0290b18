"""Exact and high-precision answers for the TRPO chapter, by methods the reference does not use.

- Surrogate L_pi(pi'): linear solves for V^pi and nu^pi (the reference iterates), and a
  second oracle in exact rational arithmetic (Gauss-Jordan on Fractions).
- Lower bound of TRPO's Theorem 1: the same two routes, with the KL term by scipy's
  ``rel_entr`` or by mpmath at 50 significant digits.
- Mean KL: scipy's ``rel_entr`` (float) and mpmath (50 digits).
- Fisher matrix: formed explicitly as E[g g^T] by enumerating every (s, a) (the reference
  never forms it), and, as a second oracle, the Hessian of the mean KL by torch autograd.
- Conjugate gradient: the k-th CG iterate characterised without running CG, as the
  minimiser of (1/2) x^T A x - b^T x over the Krylov space span{b, ..., A^{k-1} b}
  (Nocedal & Wright 2006, Thm 5.2), solved exactly in rationals.
- Step scaling: x^T F x in exact rationals, then sqrt(2 delta / x^T F x) once in 50-digit
  mpmath; cross-checked by solving (1/2) (t x)^T F (t x) = delta for t > 0 with mpmath's
  root finder on the quadratic model itself (no closed form).
- Line search: every backtracking fraction enumerated and judged in 50-digit arithmetic.

Accuracy: the float oracles (linear solves, rel_entr) are within ``kappa * n * eps`` of
exact (``rlspec.oracles.methods.accuracy``); the mpmath ones are exact to double precision (50
digits, then one rounding).
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import scipy.special
from rlspec import validation
from rlspec.oracles.dynamic_programming import action_values
from rlspec.oracles.methods.conversions import to_fractions
from rlspec.oracles.methods.exact_rational import (
    action_values_exact,
    evaluate_policy_exact,
    solve_exact,
)
from rlspec.oracles.occupancy import state_occupancy

__all__ = ["surrogate_objective", "surrogate_objective_exact", "improvement_lower_bound",
           "improvement_lower_bound_high_precision", "mean_kl", "mean_kl_high_precision",
           "fisher_matrix", "kl_hessian", "krylov_iterate_exact", "full_step_high_precision",
           "full_step_by_root_finding", "quadratic_kl_model", "line_search_by_enumeration"]

#: Significant digits of the mpmath oracles: far beyond float64's 16, so that rounding the
#: result once to float is the only error left.
DIGITS = 50


# ------------------------------------------------------------------ surrogate, bound

def _advantages_float(transitions, rewards, gamma, policy):
    q = action_values(transitions, rewards, gamma, policy)
    return q - (np.asarray(policy, dtype=np.float64) * q).sum(axis=1, keepdims=True)


def surrogate_objective(transitions, rewards, gamma, initial_distribution, old_policy,
                        new_policy) -> float:
    """L_pi(pi') = J(pi) + sum_s nu^pi(s) sum_a pi'(a|s) A^pi(s, a) / (1 - gamma), by solves."""
    gamma = validation.check_gamma_below_one(gamma)
    old = np.asarray(old_policy, dtype=np.float64)
    q = action_values(transitions, rewards, gamma, old)
    values = (old * q).sum(axis=1)
    nu = state_occupancy(transitions, gamma, old, initial_distribution)
    new = validation.policy_table(new_policy, *old.shape, "new_policy")
    initial = np.asarray(initial_distribution, dtype=np.float64)
    return float(initial @ values + nu @ (new * (q - values[:, None])).sum(axis=1) / (1.0 - gamma))


def _exact_tables(transitions, rewards, gamma, initial_distribution, old_policy):
    """A^pi, nu^pi and J(pi) as Fractions."""
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma_below_one(gamma)
    n_states, n_actions = rewards.shape
    old_policy = validation.policy_table(old_policy, n_states, n_actions, "old_policy")
    initial = validation.distribution(initial_distribution, n_states, "initial_distribution")
    g, p, pi, nu0 = Fraction(gamma), to_fractions(transitions), to_fractions(old_policy), \
        to_fractions(initial)
    values = evaluate_policy_exact(transitions, rewards, gamma, old_policy)
    q = action_values_exact(transitions, rewards, gamma, values)
    advantages = np.array([[q[s, a] - values[s] for a in range(n_actions)]
                           for s in range(n_states)], dtype=object)
    # nu^T (I - gamma P_pi) = (1 - gamma) nu_0^T, i.e. (I - gamma P_pi^T) nu = (1 - gamma) nu_0.
    markov = [[sum(pi[s, a] * p[s, a, t] for a in range(n_actions)) for t in range(n_states)]
              for s in range(n_states)]
    system = [[Fraction(int(s == t)) - g * markov[t][s] for t in range(n_states)]
              for s in range(n_states)]
    nu = solve_exact(system, [(1 - g) * nu0[s] for s in range(n_states)])
    old_return = sum(nu0[s] * values[s] for s in range(n_states))
    return advantages, nu, old_return, g


def surrogate_objective_exact(transitions, rewards, gamma, initial_distribution, old_policy,
                              new_policy) -> Fraction:
    """L_pi(pi') as an exact Fraction (small MDPs: O(S^3) big-rational operations)."""
    advantages, nu, old_return, g = _exact_tables(transitions, rewards, gamma,
                                                  initial_distribution, old_policy)
    new = to_fractions(validation.policy_table(new_policy, *advantages.shape, "new_policy"))
    n_states, n_actions = advantages.shape
    gain = sum(nu[s] * sum(new[s, a] * advantages[s, a] for a in range(n_actions))
               for s in range(n_states))
    return old_return + gain / (1 - g)


def improvement_lower_bound(transitions, rewards, gamma, initial_distribution, old_policy,
                            new_policy) -> float:
    """L_pi(pi') - 4 eps gamma / (1 - gamma)^2 * max_s KL(pi(.|s) || pi'(.|s)), by solves."""
    gamma = validation.check_gamma_below_one(gamma)
    surrogate = surrogate_objective(transitions, rewards, gamma, initial_distribution,
                                    old_policy, new_policy)
    epsilon = float(np.abs(_advantages_float(transitions, rewards, gamma, old_policy)).max())
    kl = scipy.special.rel_entr(np.asarray(old_policy, dtype=np.float64),
                                np.asarray(new_policy, dtype=np.float64)).sum(axis=1).max()
    constant = 4.0 * epsilon * gamma / (1.0 - gamma) ** 2
    return surrogate if constant == 0.0 else float(surrogate - constant * kl)


def _kl_high_precision(p_row, q_row):
    total = mpmath.mpf(0)
    for p_a, q_a in zip(p_row, q_row):
        p_a, q_a = mpmath.mpf(float(p_a)), mpmath.mpf(float(q_a))
        if p_a == 0:
            continue
        if q_a == 0:
            return mpmath.inf
        total += p_a * mpmath.log(p_a / q_a)
    return total


def improvement_lower_bound_high_precision(transitions, rewards, gamma, initial_distribution,
                                           old_policy, new_policy) -> float:
    """The same bound with L and epsilon exact (Fractions) and the KL to 50 digits."""
    advantages, _, _, g = _exact_tables(transitions, rewards, gamma, initial_distribution,
                                        old_policy)
    surrogate = surrogate_objective_exact(transitions, rewards, gamma, initial_distribution,
                                          old_policy, new_policy)
    epsilon = max(abs(a) for a in advantages.ravel())
    constant = 4 * epsilon * g / (1 - g) ** 2
    if constant == 0:
        return float(surrogate)
    old, new = np.asarray(old_policy, dtype=np.float64), np.asarray(new_policy, dtype=np.float64)
    with mpmath.workdps(DIGITS):
        largest = max(_kl_high_precision(old[s], new[s]) for s in range(old.shape[0]))
        bound = mpmath.mpf(surrogate.numerator) / surrogate.denominator \
            - mpmath.mpf(constant.numerator) / constant.denominator * largest
        return float(bound)


# ------------------------------------------------------------------------ mean KL

def mean_kl(old_policy, new_policy, state_weights) -> float:
    """sum_s w(s) KL(pi_old(.|s) || pi(.|s)) with scipy.special.rel_entr (0 log 0 = 0)."""
    old = np.asarray(old_policy, dtype=np.float64)
    new = np.asarray(new_policy, dtype=np.float64)
    weights = np.asarray(state_weights, dtype=np.float64)
    per_state = scipy.special.rel_entr(old, new).sum(axis=1)
    return float(sum(w * k for w, k in zip(weights, per_state) if w != 0.0))


def mean_kl_high_precision(old_policy, new_policy, state_weights) -> float:
    """The mean KL in 50-digit arithmetic, rounded once to float."""
    old = np.asarray(old_policy, dtype=np.float64)
    new = np.asarray(new_policy, dtype=np.float64)
    with mpmath.workdps(DIGITS):
        total = mpmath.mpf(0)
        for w, p_row, q_row in zip(np.asarray(state_weights, dtype=np.float64), old, new):
            if w != 0.0:
                total += mpmath.mpf(float(w)) * _kl_high_precision(p_row, q_row)
        return float(total)


# -------------------------------------------------------------------- Fisher matrix

def fisher_matrix(features, theta, state_weights) -> np.ndarray:
    """F = sum_s w(s) sum_a pi(a|s) g_{s,a} g_{s,a}^T, formed entry by entry (K x K)."""
    features = validation.as_float_array(features, "features phi[s, a, k]", ndim=3)
    theta = validation.as_float_array(theta, "theta[k]", ndim=1)
    weights = validation.distribution(state_weights, features.shape[0], "state_weights")
    n_states, n_actions, n_features = features.shape
    scores = features @ theta
    policy = scipy.special.softmax(scores, axis=1)
    fisher = np.zeros((n_features, n_features))
    for s in range(n_states):
        mean_feature = sum(policy[s, b] * features[s, b] for b in range(n_actions))
        for a in range(n_actions):
            g = features[s, a] - mean_feature
            for i in range(n_features):
                for j in range(n_features):
                    fisher[i, j] += weights[s] * policy[s, a] * g[i] * g[j]
    return fisher


def kl_hessian(features, theta, state_weights, old_first: bool = True) -> np.ndarray:
    """The Hessian in theta' of sum_s w(s) KL(pi_theta(.|s) || pi_theta'(.|s)) at theta' = theta,
    by torch autograd in float64 (``old_first=False`` differentiates the reverse KL)."""
    import torch
    features = torch.as_tensor(np.asarray(features, dtype=np.float64))
    weights = torch.as_tensor(np.asarray(state_weights, dtype=np.float64))
    fixed = torch.as_tensor(np.asarray(theta, dtype=np.float64))
    old_log = torch.log_softmax(features @ fixed, dim=1)

    def mean_kl_of(moving):
        new_log = torch.log_softmax(features @ moving, dim=1)
        if old_first:
            per_state = (old_log.exp() * (old_log - new_log)).sum(dim=1)
        else:
            per_state = (new_log.exp() * (new_log - old_log)).sum(dim=1)
        return (weights * per_state).sum()

    return torch.autograd.functional.hessian(mean_kl_of, fixed.clone()).numpy()


# ------------------------------------------------------------- conjugate gradient

def _independent(columns: list[list[Fraction]], candidate: list[Fraction]) -> bool:
    """Whether ``candidate`` lies outside the span of ``columns`` (exact elimination)."""
    rows = [list(column) for column in columns] + [list(candidate)]
    rank, size = 0, len(candidate)
    for position in range(size):
        pivot = next((r for r in range(rank, len(rows)) if rows[r][position] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for r in range(len(rows)):
            if r != rank and rows[r][position] != 0:
                factor = rows[r][position] / rows[rank][position]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[rank])]
        rank += 1
    return rank == len(rows)


def krylov_iterate_exact(matrix, vector, iterations: int) -> list[Fraction]:
    """The k-th conjugate-gradient iterate from x_0 = 0, without running CG.

    x_k = argmin { (1/2) x^T A x - b^T x : x in span{b, A b, ..., A^{k-1} b} }, found by the
    Galerkin condition K^T A K y = K^T b with K the Krylov basis, in exact rationals.  Once
    A^j b depends on the earlier vectors the space is A-invariant and x_k is the exact
    solution of A x = b.  ``matrix`` must be symmetric positive definite.
    """
    a = to_fractions(validation.as_float_array(matrix, "matrix A[n, n]", ndim=2))
    b = list(to_fractions(validation.as_float_array(vector, "vector b[n]", ndim=1)))
    size = len(b)
    basis: list[list[Fraction]] = []
    power = b
    for _ in range(int(iterations)):
        if not any(power) or not _independent(basis, power):
            break
        basis.append(power)
        power = [sum(a[i, j] * power[j] for j in range(size)) for i in range(size)]
    if not basis:
        return [Fraction(0)] * size
    a_basis = [[sum(a[i, j] * column[j] for j in range(size)) for i in range(size)]
               for column in basis]
    system = [[sum(u * w for u, w in zip(left, right)) for right in a_basis] for left in basis]
    right_hand_side = [sum(u * w for u, w in zip(column, b)) for column in basis]
    coefficients = solve_exact(system, right_hand_side)
    return [sum(c * column[i] for c, column in zip(coefficients, basis)) for i in range(size)]


# ---------------------------------------------------------------- step scaling

def quadratic_kl_model(step, fisher) -> Fraction:
    """(1/2) step^T F step, the quadratic model of the mean KL, in exact rationals."""
    f = to_fractions(validation.as_float_array(fisher, "fisher F[n, n]", ndim=2))
    x = list(to_fractions(validation.as_float_array(step, "step[n]", ndim=1)))
    size = len(x)
    return sum((x[i] * f[i, j] * x[j] for i in range(size) for j in range(size)), Fraction(0)) / 2


def full_step_high_precision(direction, fisher, max_kl) -> np.ndarray:
    """sqrt(2 delta / x^T F x) x: the curvature exact, the square root at 50 digits, then one
    rounding per entry (within half an ulp of the exact step of the given floats)."""
    curvature = 2 * quadratic_kl_model(direction, fisher)
    delta = Fraction(float(max_kl))
    with mpmath.workdps(DIGITS):
        beta = mpmath.sqrt(mpmath.mpf(2 * delta.numerator) / delta.denominator
                           * curvature.denominator / curvature.numerator)
        return np.array([float(beta * mpmath.mpf(float(x))) for x in direction])


def full_step_by_root_finding(direction, fisher, max_kl) -> np.ndarray:
    """The same step found without its closed form: t > 0 solving (1/2) (t x)^T F (t x) =
    delta, by mpmath's secant iteration on the model evaluated in 50-digit matrix arithmetic."""
    with mpmath.workdps(DIGITS):
        f = mpmath.matrix([[float(v) for v in row] for row in np.asarray(fisher, dtype=np.float64)])
        x = mpmath.matrix([float(v) for v in direction])
        delta = mpmath.mpf(float(max_kl))

        def excess(t):
            step = t * x
            return (step.T * f * step)[0] / 2 - delta

        root = mpmath.findroot(excess, (mpmath.mpf("0.5"), mpmath.mpf(2)), solver="secant")
        if root < 0:  # the model is even in t; the step goes along +x
            root = -root
        return np.array([float(root * x[i]) for i in range(len(direction))])


# ------------------------------------------------------------------- line search

def _bandit_terms(old_logits, advantages, logits):
    """(surrogate, KL(pi_old || pi)) of a one-state softmax policy, in mpmath."""
    def softmax(values):
        top = max(values)
        weights = [mpmath.exp(v - top) for v in values]
        total = sum(weights)
        return [w / total for w in weights]

    old, new = softmax(old_logits), softmax(logits)
    surrogate = sum(p * a for p, a in zip(new, advantages))
    kl = sum(p * mpmath.log(p / q) for p, q in zip(old, new))
    return surrogate, kl


def line_search_by_enumeration(old_logits, advantages, full_step, max_kl, backtrack_ratio,
                               max_backtracks) -> tuple[int | None, float]:
    """Which backtracking fraction TRPO's line search accepts on a one-state softmax policy.

    The problem: pi_theta = softmax(theta), surrogate L(theta) = sum_a pi_theta(a) A(a) (the
    importance-weighted advantage under the old policy), KL(theta) = KL(pi_old || pi_theta).
    Every fraction beta^j, j < max_backtracks, is judged in 50-digit arithmetic; the answer
    is the first j with KL <= max_kl and L(theta_j) > L(theta_old) (None if there is none),
    with the smallest distance of any tested quantity from its threshold (the margin), so
    that callers can avoid cases a float evaluation could decide either way.
    """
    with mpmath.workdps(DIGITS):
        old = [mpmath.mpf(float(x)) for x in old_logits]
        step = [mpmath.mpf(float(x)) for x in full_step]
        adv = [mpmath.mpf(float(x)) for x in advantages]
        start, _ = _bandit_terms(old, adv, old)
        margin = mpmath.inf
        for j in range(int(max_backtracks)):
            fraction = mpmath.mpf(float(backtrack_ratio)) ** j
            trial = [o + fraction * s for o, s in zip(old, step)]
            surrogate, kl = _bandit_terms(old, adv, trial)
            margin = min(margin, abs(kl - mpmath.mpf(float(max_kl))), abs(surrogate - start))
            if kl <= mpmath.mpf(float(max_kl)) and surrogate > start:
                return j, float(margin)
        return None, float(margin)
