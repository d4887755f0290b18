"""The TRPO chapter: each test states one property of ``rlspec.reference.trpo`` or one
cross-check between two oracles, on generated MDPs and designed cases.

Tolerances: linear solves are within ``accuracy.linear_solve_tolerance`` of exact; the
rational and 50-digit oracles are exact up to one final rounding; finite differences use
``accuracy.finite_difference_tolerance``.  Each is explained where it is used.
"""

import doctest
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from hypothesis import example, given
from hypothesis import strategies as st

import bugs_trust_region as bugs
from mutation import fails
import rlspec
import user_implementations_trust_region as user
from rlspec.spec import registry
from rlspec.oracles import policy_gradient
from rlspec.oracles.methods import accuracy, exact_rational
from rlspec.oracles import trpo as oracle
from rlspec.oracles.methods.conversions import to_fractions
from rlspec.reference import trpo
from rlspec.toy_mdps import strategies

EPS = accuracy.EPS

TRPO_CHAPTER = {"trpo.surrogate", "trpo.monotonic-improvement", "trpo.kl-constraint",
                "trpo.fisher-vector-product", "trpo.conjugate-gradient", "trpo.step-scaling",
                "trpo.line-search"}




def test_the_trpo_chapter_is_in_the_registry():
    entries = {entry.id: entry for entry in registry.entries()}
    assert TRPO_CHAPTER <= set(entries)
    assert {entry_id for entry_id in entries if entry_id.startswith("trpo.")} == TRPO_CHAPTER


def test_docstring_examples_hold():
    assert doctest.testmod(trpo, raise_on_error=False).failed == 0


# ------------------------------------------------------------------------------ inputs

def _positive_rows(n_states, n_actions):
    """Policies whose every entry is a multiple of 1/8 and at least 1/8."""
    row = st.lists(st.integers(0, 8 - n_actions), min_size=n_actions - 1, max_size=n_actions - 1).map(
        lambda cuts: (np.diff(np.array([0, *sorted(cuts), 8 - n_actions])) + 1) / 8.0)
    return st.lists(row, min_size=n_states, max_size=n_states).map(np.stack)


@st.composite
def mdp_and_policies(draw, positive_new=False):
    mdp = draw(strategies.mdps(max_states=4, max_actions=3))
    old = draw(strategies.policies(mdp.n_states, mdp.n_actions))
    new = draw(_positive_rows(mdp.n_states, mdp.n_actions) if positive_new
               else strategies.policies(mdp.n_states, mdp.n_actions))
    return (mdp.transitions, mdp.rewards, mdp.gamma, np.array(mdp.initial_distribution), old, new)


def _solve_tolerance(rewards, gamma, n_states) -> float:
    """Linear-solve error on L: kappa <= (1 + gamma) / (1 - gamma) (accuracy.py) on a scale
    of |L| <= R / (1 - gamma) + 2 R / (1 - gamma)^2 (|A| <= 2 R / (1 - gamma), then the
    1 / (1 - gamma) of the visitation)."""
    scale = 3.0 * max(1.0, float(np.abs(rewards).max())) / (1.0 - gamma) ** 2
    return accuracy.linear_solve_tolerance(accuracy.discounted_condition_bound(gamma),
                                           n_states, scale)


# --------------------------------------------------------------------------- surrogate

@pytest.mark.spec("trpo.surrogate")
@given(mdp_and_policies())
def test_surrogate_oracles_agree(tables):
    exact = oracle.surrogate_objective_exact(*tables)
    by_solves = oracle.surrogate_objective(*tables)
    assert abs(Fraction(by_solves) - exact) <= _solve_tolerance(tables[1], tables[2], len(tables[1]))


@pytest.mark.spec("trpo.surrogate")
@given(mdp_and_policies())
def test_reference_surrogate_matches_the_exact_oracle(tables):
    exact = oracle.surrogate_objective_exact(*tables)
    assert abs(Fraction(trpo.surrogate_objective(*tables)) - exact) <= \
        _solve_tolerance(tables[1], tables[2], len(tables[1]))


@pytest.mark.spec("trpo.surrogate")
@given(mdp_and_policies())
def test_surrogate_equals_j_at_the_old_policy(tables):
    """L_pi(pi) = J(pi): the advantages of a policy average to 0 under itself."""
    transitions, rewards, gamma, start, old, _ = tables
    j_old = sum(Fraction(p) * v for p, v in zip(start, exact_rational.evaluate_policy_exact(
        transitions, rewards, gamma, old)))
    assert abs(Fraction(trpo.surrogate_objective(transitions, rewards, gamma, start, old, old))
               - j_old) <= _solve_tolerance(rewards, gamma, len(rewards))


@pytest.mark.spec("trpo.surrogate")
@given(strategies.mdps(max_states=3, max_actions=3, gammas=st.sampled_from([0.5, 0.9, 0.25])),
       st.data())
def test_surrogate_matches_j_to_first_order(mdp, data):
    """d/dtheta' L_{pi_theta}(pi_theta') at theta' = theta equals dJ/dtheta (TRPO, after eq. 3),
    for the tabular softmax.  Left: central differences of the reference surrogate in
    theta'.  Right: the finite-difference oracle of dJ/dtheta (linear solves).  Both are
    central differences with h = eps^(1/3): accuracy.finite_difference_tolerance each."""
    theta = data.draw(strategies.softmax_parameters(mdp.n_states, mdp.n_actions, bound=2.0))
    start = np.array(mdp.initial_distribution)
    policy = policy_gradient.softmax(theta)
    expected = policy_gradient.softmax_policy_gradient_finite_difference(
        mdp.transitions, mdp.rewards, mdp.gamma, start, theta)
    step = policy_gradient.FINITE_DIFFERENCE_STEP
    got = np.zeros_like(theta)
    for index in np.ndindex(theta.shape):
        shift = np.zeros_like(theta)
        shift[index] = step
        up = trpo.surrogate_objective(mdp.transitions, mdp.rewards, mdp.gamma, start, policy,
                                      policy_gradient.softmax(theta + shift))
        down = trpo.surrogate_objective(mdp.transitions, mdp.rewards, mdp.gamma, start, policy,
                                        policy_gradient.softmax(theta - shift))
        got[index] = (up - down) / (2 * step)
    tolerance = 2 * accuracy.finite_difference_tolerance(float(np.abs(mdp.rewards).max()), mdp.gamma)
    np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance)


# ------------------------------------------------------------------- monotonic improvement

def _kl_rows_high_precision(p, q):
    return [oracle.mean_kl_high_precision([p_row], [q_row], [1.0]) for p_row, q_row in zip(p, q)]


@pytest.mark.spec("trpo.monotonic-improvement")
@given(mdp_and_policies(positive_new=True))
@example((np.ones((1, 2, 1)), np.array([[1.0, 0.0]]), 0.5, np.array([1.0]),
          np.array([[0.5, 0.5]]), np.array([[0.75, 0.25]])))
def test_monotonic_improvement_bound_holds(tables):
    """TRPO Theorem 1, and the two-sided form of seed 000, exactly where possible:
    J(pi') and L exact (rationals), the KL to 50 digits.  The bound holds with either KL
    direction and with TRPO's alpha^2 (max total variation) in place of the KL, which is
    what the proof really bounds (Pinsker: alpha^2 <= KL / 2)."""
    transitions, rewards, gamma, start, old, new = tables
    j_new = sum(Fraction(p) * v for p, v in zip(start, exact_rational.evaluate_policy_exact(
        transitions, rewards, gamma, new)))
    surrogate = oracle.surrogate_objective_exact(*tables)
    values = exact_rational.evaluate_policy_exact(transitions, rewards, gamma, old)
    q = exact_rational.action_values_exact(transitions, rewards, gamma, values)
    epsilon = max(abs(q[s, a] - values[s]) for s in range(len(values)) for a in range(q.shape[1]))
    constant = float(4 * epsilon * Fraction(gamma) / (1 - Fraction(gamma)) ** 2)
    # Rounding: the KL carries one rounding (relative eps), times the constant; the rest is exact.
    slack = 8 * EPS * max(1.0, constant, abs(float(surrogate)))
    gap = abs(float(j_new - surrogate))
    forward = max(_kl_rows_high_precision(old, new))
    alpha = max(0.5 * np.abs(o - n).sum() for o, n in zip(old, new))
    assert float(j_new) >= trpo.improvement_lower_bound(*tables) - slack - \
        _solve_tolerance(rewards, gamma, len(rewards))
    assert gap <= constant * forward + slack
    assert gap <= constant * alpha ** 2 + slack
    if np.all(old > 0):
        assert gap <= constant * max(_kl_rows_high_precision(new, old)) + slack


@pytest.mark.spec("trpo.monotonic-improvement")
@pytest.mark.parametrize("name", ["two-state", "chain-5", "random-walk-5", "sb-gridworld-4x4",
                                  "frozenlake-4x4", "cliff-walking"])
@pytest.mark.parametrize("gamma", [0.5, 0.9])
def test_monotonic_improvement_bound_holds_on_the_toy_mdps(name, gamma):
    """Theorem 1 on the named MDPs, old policy uniform, new policy leaning 3/4 on one action
    per state, everything by linear solves: J(pi') >= bound and |J(pi') - L| <= C alpha^2."""
    from rlspec.checks.batteries.trust_region import _trpo_policy_case
    from rlspec.oracles.dynamic_programming import action_values, expected_return
    from rlspec.toy_mdps.catalogue import make

    arguments = _trpo_policy_case(make(name, gamma=gamma)).arguments
    tables = tuple(arguments[key] for key in ("transitions", "rewards", "gamma",
                                              "initial_distribution", "old_policy", "new_policy"))
    transitions, rewards, _, start, old, new = tables
    j_new = expected_return(transitions, rewards, gamma, new, start)
    q = action_values(transitions, rewards, gamma, old)
    epsilon = float(np.abs(q - (old * q).sum(axis=1, keepdims=True)).max())
    alpha = max(0.5 * np.abs(o - n).sum() for o, n in zip(old, new))
    tolerance = _solve_tolerance(rewards, gamma, len(rewards)) * 4
    assert j_new >= oracle.improvement_lower_bound(*tables) - tolerance
    assert abs(j_new - oracle.surrogate_objective(*tables)) <= \
        4 * epsilon * gamma / (1 - gamma) ** 2 * alpha ** 2 + tolerance


@pytest.mark.spec("trpo.monotonic-improvement")
@given(mdp_and_policies(positive_new=True))
def test_bound_oracles_agree(tables):
    precise = oracle.improvement_lower_bound_high_precision(*tables)
    by_solves = oracle.improvement_lower_bound(*tables)
    transitions, rewards, gamma = tables[:3]
    constant = 8 * max(1.0, float(np.abs(rewards).max())) * gamma / (1 - gamma) ** 2
    # The solve's error on L and on epsilon (times C's KL factor), plus the KL's rounding.
    tolerance = _solve_tolerance(rewards, gamma, len(rewards)) * (1 + constant) + 8 * EPS * constant
    assert abs(precise - by_solves) <= tolerance


# ------------------------------------------------------------------------------ mean KL

@st.composite
def policy_pairs(draw):
    n_states, n_actions = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return (draw(strategies.policies(n_states, n_actions)), draw(_positive_rows(n_states, n_actions)),
            draw(strategies.probability_vectors(n_states)))


@pytest.mark.spec("trpo.kl-constraint")
@given(policy_pairs())
def test_mean_kl_oracles_agree_with_scipy_stats(pair):
    """Three routes: scipy.special.rel_entr, mpmath to 50 digits, scipy.stats.entropy.  Each
    float route sums at most 16 terms of size <= log 8: 64 eps covers its rounding."""
    old, new, weights = pair
    precise = oracle.mean_kl_high_precision(old, new, weights)
    stats = sum(w * scipy.stats.entropy(p, q) for w, p, q in zip(weights, old, new) if w > 0)
    assert abs(oracle.mean_kl(old, new, weights) - precise) <= 64 * EPS * max(1.0, precise)
    assert abs(stats - precise) <= 64 * EPS * max(1.0, precise)


@pytest.mark.spec("trpo.kl-constraint")
@given(policy_pairs())
def test_reference_mean_kl_matches_the_oracle(pair):
    precise = oracle.mean_kl_high_precision(*pair)
    assert abs(trpo.mean_kl(*pair) - precise) <= 64 * EPS * max(1.0, precise)


@pytest.mark.spec("trpo.kl-constraint")
def test_mean_kl_is_zero_only_for_equal_policies_on_weighted_states():
    old = np.array([[0.5, 0.5], [1.0, 0.0]])
    assert trpo.mean_kl(old, old, [0.5, 0.5]) == 0.0
    assert trpo.mean_kl(old, np.array([[0.25, 0.75], [1.0, 0.0]]), [0.5, 0.5]) > 0.0
    # A new policy that forbids an action the old one takes: infinite KL, never accepted.
    assert trpo.mean_kl(old, np.array([[1.0, 0.0], [1.0, 0.0]]), [0.5, 0.5]) == float("inf")


# -------------------------------------------------------------------- Fisher-vector product

@st.composite
def fisher_inputs(draw):
    n_states, n_actions, n_features = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    features = np.array(draw(st.lists(st.integers(-2, 2), min_size=n_states * n_actions * n_features,
                                      max_size=n_states * n_actions * n_features)),
                        dtype=np.float64).reshape(n_states, n_actions, n_features)
    theta = np.array(draw(st.lists(st.integers(-8, 8), min_size=n_features, max_size=n_features))) / 4.0
    weights = draw(strategies.probability_vectors(n_states))
    vector = np.array(draw(st.lists(st.integers(-3, 3), min_size=n_features, max_size=n_features)),
                      dtype=np.float64)
    return features, theta, weights, vector


def _fisher_tolerance(features) -> float:
    """|g| <= 2 max|phi| per entry; F sums <= S A products of two, over K features."""
    scale = 4.0 * max(1.0, float(np.abs(features).max())) ** 2
    return accuracy.SAFETY * features.size * EPS * scale


@pytest.mark.spec("trpo.fisher-vector-product")
@given(fisher_inputs())
def test_fisher_oracles_agree(inputs):
    """F = E[g g^T] by enumeration equals the Hessian of the mean KL by autograd, in
    either KL direction (the Fisher matrix is the curvature of both)."""
    features, theta, weights, _ = inputs
    fisher = oracle.fisher_matrix(features, theta, weights)
    tolerance = 8 * _fisher_tolerance(features)  # autograd's second derivative rounds more
    np.testing.assert_allclose(oracle.kl_hessian(features, theta, weights), fisher, atol=tolerance)
    np.testing.assert_allclose(oracle.kl_hessian(features, theta, weights, old_first=False), fisher,
                               atol=tolerance)
    assert np.linalg.eigvalsh((fisher + fisher.T) / 2).min() >= -tolerance  # positive semidefinite


@pytest.mark.spec("trpo.fisher-vector-product")
@given(fisher_inputs())
def test_fisher_vector_product_matches_the_explicit_fisher_matrix(inputs):
    features, theta, weights, vector = inputs
    expected = oracle.fisher_matrix(features, theta, weights) @ vector
    tolerance = _fisher_tolerance(features) * max(1.0, float(np.abs(vector).sum()))
    np.testing.assert_allclose(trpo.fisher_vector_product(*inputs), expected, atol=tolerance)


# -------------------------------------------------------------------- conjugate gradient

def _householder(size, support):
    v = np.zeros(size)
    v[:support] = 1.0
    return np.eye(size) - 2.0 * np.outer(v, v) / (v @ v)


@st.composite
def spd_with_known_spectrum(draw):
    """A = H diag(lambda) H with H an exact (dyadic) Householder reflection: its distinct
    eigenvalues are those of the drawn list, with their repeats."""
    size = draw(st.integers(1, 5))
    eigenvalues = draw(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=size, max_size=size))
    h = _householder(size, draw(st.sampled_from([s for s in (1, 2, 4) if s <= size])))
    matrix = h @ np.diag(np.array(eigenvalues, dtype=np.float64)) @ h
    vector = np.array(draw(st.lists(st.integers(-3, 3), min_size=size, max_size=size)), dtype=np.float64)
    return matrix, vector, len(set(eigenvalues))


@pytest.mark.spec("trpo.conjugate-gradient")
@given(spd_with_known_spectrum())
def test_cg_in_exact_arithmetic_terminates_within_the_number_of_distinct_eigenvalues(problem):
    """Nocedal & Wright (2006), Thm 5.4: exact CG finds x* in at most as many steps as A has
    distinct eigenvalues, hence at most n.  The reference runs in Fractions here."""
    matrix, vector, distinct = problem
    exact_matrix = to_fractions(matrix)
    exact_vector = to_fractions(vector)
    solution = exact_rational.solve_exact([list(row) for row in exact_matrix], list(exact_vector))
    got = trpo.conjugate_gradient(exact_matrix, exact_vector, distinct, residual_tolerance=0)
    assert list(got) == solution
    assert distinct <= len(vector)


@pytest.mark.spec("trpo.conjugate-gradient")
@given(spd_with_known_spectrum())
def test_krylov_oracle_agrees_with_direct_solves(problem):
    matrix, vector, distinct = problem
    solution = exact_rational.solve_exact([list(row) for row in to_fractions(matrix)],
                                          list(to_fractions(vector)))
    for iterations in (distinct, len(vector)):
        assert oracle.krylov_iterate_exact(matrix, vector, iterations) == solution
    # kappa <= 5 here: the LU solve is within SAFETY n eps kappa |x| of exact.
    bound = accuracy.linear_solve_tolerance(5.0, len(vector), float(np.abs(vector).sum()))
    np.testing.assert_allclose(scipy.linalg.solve(matrix, vector), [float(x) for x in solution],
                               atol=bound)


@pytest.mark.spec("trpo.conjugate-gradient")
@given(spd_with_known_spectrum(), st.integers(0, 5))
def test_cg_matches_the_krylov_iterates(problem, iterations):
    """Every iterate, not just the last: x_k minimises the energy over the k-th Krylov space.
    Float CG on these matrices (kappa <= 5, n <= 5) stays within 1e-12 of the exact iterates."""
    matrix, vector, _ = problem
    expected = [float(x) for x in oracle.krylov_iterate_exact(matrix, vector, iterations)]
    np.testing.assert_allclose(trpo.conjugate_gradient(matrix, vector, iterations), expected, atol=1e-12)


@pytest.mark.spec("trpo.conjugate-gradient")
def test_cg_accepts_a_matrix_vector_function_and_rejects_an_indefinite_matrix():
    matrix = np.array([[4.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(trpo.conjugate_gradient(lambda v: matrix @ v, [1.0, 2.0], 2),
                               np.linalg.solve(matrix, [1.0, 2.0]), atol=1e-14)
    with pytest.raises(rlspec.validation.InvalidInputError, match="not positive definite"):
        trpo.conjugate_gradient(np.diag([1.0, -1.0]), [0.0, 1.0], 2)


# -------------------------------------------------------------------------- step scaling

@st.composite
def scaling_problems(draw):
    """F = H diag(lambda) H (exact dyadic entries, eigenvalues 1/4 .. 16, so kappa <= 64), a
    nonzero direction of multiples of 1/4, and a KL radius."""
    size = draw(st.integers(1, 4))
    eigenvalues = draw(st.lists(st.sampled_from([0.25, 1.0, 4.0, 16.0]), min_size=size, max_size=size))
    h = _householder(size, draw(st.sampled_from([s for s in (1, 2, 4) if s <= size])))
    fisher = h @ np.diag(np.array(eigenvalues)) @ h
    direction = np.array(draw(st.lists(st.integers(-12, 12), min_size=size, max_size=size))) / 4.0
    if not direction.any():
        direction[0] = 0.25
    return direction, fisher, draw(st.sampled_from([0.01, 0.05, 0.001, 0.1, 1.0]))


def _step_tolerance(direction, fisher):
    """Relative error of a float64 step sqrt(2 delta / x^T F x) x: the dot products x^T (F x)
    are within (2n) eps |x|^T |F| |x| of exact (Higham 2002, §3.1), the square root, the
    division and the product add a few eps; SAFETY covers the constants."""
    size = len(direction)
    curvature = float(direction @ fisher @ direction)
    magnitude = float(np.abs(direction) @ np.abs(fisher) @ np.abs(direction))
    return accuracy.SAFETY * EPS * ((2 * size) * magnitude / curvature + 4)


@pytest.mark.spec("trpo.step-scaling")
@given(scaling_problems())
@example((np.array([1.0, 1.0]), np.diag([1.0, 2.0]), 0.25))
def test_step_scaling_oracles_agree(problem):
    """The closed form sqrt(2 delta / x^T F x) x (exact curvature, 50-digit root) and the
    root of (1/2) (t x)^T F (t x) = delta found by mpmath's secant method agree to rounding."""
    closed_form = oracle.full_step_high_precision(*problem)
    root = oracle.full_step_by_root_finding(*problem)
    np.testing.assert_allclose(root, closed_form, rtol=2 * EPS, atol=0)


@pytest.mark.spec("trpo.step-scaling")
@given(scaling_problems())
@example((np.array([1.0, 1.0]), np.diag([1.0, 2.0]), 0.25))
def test_full_step_matches_the_high_precision_oracle(problem):
    direction, fisher, max_kl = problem
    expected = oracle.full_step_high_precision(*problem)
    got = trpo.scale_step_to_kl_radius(direction, fisher, max_kl)
    np.testing.assert_allclose(got, expected, rtol=_step_tolerance(direction, fisher), atol=0)


@pytest.mark.spec("trpo.step-scaling")
@given(scaling_problems())
def test_full_step_puts_the_quadratic_kl_model_on_the_radius(problem):
    """(1/2) Delta^T F Delta = delta, evaluated exactly on the float step.  A relative error e
    per entry of Delta moves the model by at most 2 e kappa(F) relative (with
    Delta^T F Delta >= lambda_min |Delta|^2), plus e^2."""
    direction, fisher, max_kl = problem
    step = trpo.scale_step_to_kl_radius(direction, fisher, max_kl)
    model = float(oracle.quadratic_kl_model(step, fisher))
    error = _step_tolerance(direction, fisher)
    bound = (2 * error * np.linalg.cond(fisher) + error ** 2) * max_kl
    assert abs(model - max_kl) <= bound
    assert np.all(np.sign(step) == np.sign(direction))  # along x, not against it


@pytest.mark.spec("trpo.step-scaling", "trpo.conjugate-gradient")
@given(spd_with_known_spectrum(), st.integers(1, 5))
def test_every_cg_iterate_has_x_f_x_equal_to_g_x(problem, iterations):
    """Galerkin orthogonality: g - F x_k is orthogonal to the Krylov space holding x_k, so
    x_k^T F x_k = g^T x_k exactly for converged and unconverged iterates alike (CG run in
    Fractions), and dividing by g^T x gives the same step for CG's output."""
    matrix, vector, _ = problem
    exact_matrix, exact_vector = to_fractions(matrix), to_fractions(vector)
    x = trpo.conjugate_gradient(exact_matrix, exact_vector, iterations, residual_tolerance=0)
    assert x.dot(exact_matrix.dot(x)) == exact_vector.dot(x)


@pytest.mark.spec("trpo.step-scaling")
def test_x_f_x_and_g_x_differ_off_the_krylov_iterates():
    """For a direction CG would not return (here g itself, F = diag(1, 2), g = (1, 1)),
    g^T x = 2 but x^T F x = 3: a step divided by g^T x overshoots the radius by 3/2."""
    fisher, gradient = np.diag([1.0, 2.0]), np.array([1.0, 1.0])
    assert gradient @ gradient == 2.0 and gradient @ fisher @ gradient == 3.0
    step = trpo.scale_step_to_kl_radius(gradient, fisher, 0.25)
    assert float(oracle.quadratic_kl_model(step, fisher)) == pytest.approx(0.25, rel=1e-15)


@pytest.mark.spec("trpo.step-scaling")
def test_step_scaling_accepts_a_fisher_vector_function_and_rejects_a_null_direction():
    fisher = np.array([[1.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(trpo.scale_step_to_kl_radius([1.0, -3.0], lambda v: fisher @ v, 0.05),
                               trpo.scale_step_to_kl_radius([1.0, -3.0], fisher, 0.05), rtol=1e-15)
    with pytest.raises(rlspec.validation.InvalidInputError, match="null space"):
        trpo.scale_step_to_kl_radius([1.0, -1.0], fisher, 0.05)
    with pytest.raises(rlspec.validation.InvalidInputError, match="max_kl"):
        trpo.scale_step_to_kl_radius([1.0, 0.0], fisher, 0.0)


# --------------------------------------------------------------------------- line search

def _two_action_terms(step, fraction):
    """From theta = 0 along (s, -s) with A = (1, -1): pi = (sigma(2 f s), sigma(-2 f s)), so
    KL(uniform || pi) = ln cosh(f s) and L = tanh(f s), by hand."""
    x = fraction * step
    return np.log(np.cosh(x)), np.tanh(x)


@pytest.mark.spec("trpo.line-search")
@pytest.mark.parametrize("step, max_kl, max_backtracks, expected_j", [
    (0.2, 0.05, 10, 0),     # ln cosh 0.2 = 0.0199 <= 0.05, tanh 0.2 > 0
    (2.0, 0.05, 10, 3),     # ln cosh(2 f) <= 0.05 first at f = 1/8 (ln cosh 0.25 = 0.0311)
    (-0.2, 0.05, 10, None),  # tanh(-0.2 f) < 0 for every f: rejected
    (4.0, 0.01, 2, None),    # ln cosh 4 and ln cosh 2 both exceed 0.01
])
def test_line_search_designed_cases(step, max_kl, max_backtracks, expected_j):
    """The designed cases of the battery, derived by hand from the closed forms above (a
    second oracle besides the 50-digit enumeration)."""
    by_hand = next((j for j in range(max_backtracks)
                    if _two_action_terms(step, 0.5 ** j)[0] <= max_kl
                    and _two_action_terms(step, 0.5 ** j)[1] > 0), None)
    assert by_hand == expected_j
    j, _ = oracle.line_search_by_enumeration([0.0, 0.0], [1.0, -1.0], [step, -step], max_kl, 0.5,
                                             max_backtracks)
    assert j == expected_j

    def surrogate(theta):
        p = np.exp(theta) / np.exp(theta).sum()
        return float(p[0] - p[1])

    def kl(theta):
        p = np.exp(theta) / np.exp(theta).sum()
        return float(0.5 * np.log(0.5 / p).sum())

    got = trpo.backtracking_line_search(np.zeros(2), np.array([step, -step]), surrogate, kl,
                                        max_kl, 0.5, max_backtracks)
    fraction = 0.0 if expected_j is None else 0.5 ** expected_j
    np.testing.assert_allclose(got, [fraction * step, -fraction * step], atol=1e-15)


@pytest.mark.spec("trpo.line-search")
def test_line_search_overshoot_case_by_hand():
    """Three actions, A = (2, -1, 0), step (0, -4, 2) from 0: L(0) = 1/3, L(full) = 0.2357 < 1/3,
    L(half) = 0.4839 > 1/3, and the KL bound 10 never binds: the half step is accepted."""
    def softmax(theta):
        e = np.exp(theta - theta.max())
        return e / e.sum()

    advantages, step = np.array([2.0, -1.0, 0.0]), np.array([0.0, -4.0, 2.0])
    values = [softmax(f * step) @ advantages for f in (0.0, 1.0, 0.5)]
    assert values[1] < values[0] < values[2]
    assert oracle.line_search_by_enumeration(np.zeros(3), advantages, step, 10.0, 0.5, 10)[0] == 1


@st.composite
def line_search_problems(draw):
    n_actions = draw(st.integers(2, 4))
    values = st.lists(st.integers(-4, 4), min_size=n_actions, max_size=n_actions).map(
        lambda v: np.array(v, dtype=np.float64) / 2)
    return (draw(values), draw(values), draw(values) * 2, draw(st.sampled_from([0.05, 0.01, 0.2])),
            draw(st.sampled_from([0.5, 0.8])), draw(st.integers(1, 10)))


@pytest.mark.spec("trpo.line-search")
@given(line_search_problems())
def test_line_search_accepts_only_feasible_improving_steps(problem):
    """The reference returns theta or theta + beta^j step; an accepted step keeps the KL
    and improves L, and every larger fraction breaks one of the two (judged in 50 digits).
    Cases within 1e-9 of a threshold are skipped: float and 50 digits may disagree there."""
    old_logits, advantages, step, max_kl, ratio, max_backtracks = problem
    j, margin = oracle.line_search_by_enumeration(old_logits, advantages, step, max_kl, ratio,
                                                  max_backtracks)
    if margin <= 1e-9:
        return
    surrogate = _bandit("surrogate", old_logits, advantages)
    kl = _bandit("kl", old_logits, advantages)
    got = trpo.backtracking_line_search(old_logits, step, surrogate, kl, max_kl, ratio, max_backtracks)
    expected = old_logits if j is None else old_logits + ratio ** j * step
    np.testing.assert_allclose(got, expected, atol=1e-14)


def _bandit(kind, old_logits, advantages):
    """The battery's one-state softmax functions (numpy), for the reference to call."""
    from rlspec.toy_mdps.bandit_functions import BanditFunction

    return BanditFunction(kind, old_logits, advantages)


# ------------------------------------------------------------------ user implementations

@pytest.mark.parametrize("name, candidate", [
    ("trpo-surrogate", user.vectorised_surrogate),
    ("trpo-lower-bound", user.vectorised_lower_bound),
    ("mean-kl", user.scipy_mean_kl),
    ("fisher-vector-product", user.autograd_fisher_vector_product),
    ("conjugate-gradient", user.baselines_cg_on_a_matrix),
    ("trpo-step-scaling", user.baselines_full_step_on_a_matrix),
    ("trpo-line-search", user.spinning_up_line_search),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementation_passes(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


@pytest.mark.spec("trpo.line-search")
def test_a_report_with_function_arguments_encodes_as_json():
    report = rlspec.check("trpo-line-search", bugs.line_search_no_kl, max_examples=5)
    assert not report.passed
    assert '"definition"' in report.to_json()


# ------------------------------------------------------------------ theorems can fail

def _bound_without_penalty(transitions, rewards, gamma, initial_distribution, old_policy, new_policy):
    return trpo.surrogate_objective(transitions, rewards, gamma, initial_distribution, old_policy,
                                    new_policy)


MUTANTS = {
    "test_reference_surrogate_matches_the_exact_oracle": ("surrogate_objective", bugs.surrogate_new_visits),
    "test_surrogate_equals_j_at_the_old_policy": ("surrogate_objective", bugs.surrogate_without_old_return),
    "test_surrogate_matches_j_to_first_order": ("surrogate_objective", bugs.surrogate_without_normaliser),
    "test_monotonic_improvement_bound_holds": ("improvement_lower_bound", _bound_without_penalty),
    "test_reference_mean_kl_matches_the_oracle": ("mean_kl", bugs.mean_kl_reversed),
    "test_fisher_vector_product_matches_the_explicit_fisher_matrix": ("fisher_vector_product", bugs.fisher_uncentred),
    "test_cg_in_exact_arithmetic_terminates_within_the_number_of_distinct_eigenvalues":
        ("conjugate_gradient", lambda matrix, vector, iterations, residual_tolerance=0:
         bugs._cg(matrix, vector, iterations, steepest=True)),
    "test_cg_matches_the_krylov_iterates": ("conjugate_gradient", bugs.cg_beta_swapped),
    "test_line_search_accepts_only_feasible_improving_steps": ("backtracking_line_search", bugs.line_search_no_kl),
    "test_full_step_matches_the_high_precision_oracle": ("scale_step_to_kl_radius",
                                                         bugs.step_scaling_delta_not_two_delta),
    "test_full_step_puts_the_quadratic_kl_model_on_the_radius": ("scale_step_to_kl_radius",
                                                                 bugs.step_scaling_no_sqrt),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, mutant = MUTANTS[test_name]
    monkeypatch.setattr(trpo, attribute, mutant)
    # Only whether it fails matters here, so skip shrinking (and the example database).
    assert fails(globals()[test_name]), \
        f"{test_name} stayed green with {getattr(mutant, '__name__', mutant)} planted"