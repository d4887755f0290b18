"""The oracles cross-check each other: each answer is computed by two different methods.

linear solve (LU)      vs  exact rational Gauss-Jordan      policy evaluation
dense LU               vs  scipy.sparse                     policy evaluation
linear program         vs  exact rational policy iteration  optimal values
dual linear program    vs  occupancy of the optimal policy  optimal occupancy measure
closed-form gradient   vs  central finite differences       softmax policy gradient

None of these imports rlspec.reference.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlspec.oracles import occupancy
from rlspec.oracles.methods import accuracy, enumeration, exact_rational, linear_program
from rlspec.oracles import bellman, dynamic_programming, policy_gradient
from rlspec.oracles.methods.conversions import to_floats
from rlspec.toy_mdps import strategies
from rlspec.toy_mdps.catalogue import make

episodic_or_not = st.booleans().flatmap(lambda flag: strategies.mdps_with_policy(episodic=flag))


def _tables(mdp):
    return mdp.transitions, mdp.rewards, mdp.gamma


def _condition_number(mdp, policy) -> float:
    """kappa_inf of the solved system: the discounted bound, or measured when gamma = 1."""
    if mdp.gamma < 1.0:
        return accuracy.discounted_condition_bound(mdp.gamma)
    free = ~dynamic_programming.absorbing_zero_reward_states(mdp.transitions, mdp.rewards)
    system = np.eye(free.sum()) - np.einsum("sa,sat->st", policy, mdp.transitions)[np.ix_(free, free)]
    return float(np.linalg.cond(system, np.inf)) if free.any() else 1.0


@pytest.mark.spec("dp.policy-evaluation")
@given(episodic_or_not)
def test_linear_solve_matches_exact_rational_evaluation(mdp_and_policy):
    mdp, policy = mdp_and_policy
    exact = exact_rational.evaluate_policy_exact(*_tables(mdp), policy)
    solved = dynamic_programming.evaluate_policy(*_tables(mdp), policy)
    scale = max(abs(float(v)) for v in exact)
    tolerance = accuracy.linear_solve_tolerance(_condition_number(mdp, policy), mdp.n_states, scale)
    errors = [abs(Fraction(float(v)) - e) for v, e in zip(solved, exact)]
    assert max(errors) <= tolerance, (solved, exact, tolerance)


@given(episodic_or_not)
def test_sparse_and_dense_solves_agree(mdp_and_policy):
    mdp, policy = mdp_and_policy
    dense = dynamic_programming.evaluate_policy(*_tables(mdp), policy, sparse=False)
    sparse = dynamic_programming.evaluate_policy(*_tables(mdp), policy, sparse=True)
    scale = float(np.max(np.abs(dense)))
    # Both are within the LU bound of the exact answer, so within twice it of each other.
    tolerance = 2 * accuracy.linear_solve_tolerance(_condition_number(mdp, policy), mdp.n_states, scale)
    np.testing.assert_allclose(sparse, dense, rtol=0, atol=tolerance)


def test_sparse_solve_on_taxi_matches_dense():
    taxi = make("taxi")
    uniform = np.full((taxi.n_states, taxi.n_actions), 1.0 / taxi.n_actions)
    dense = dynamic_programming.evaluate_policy(*_tables(taxi), uniform, sparse=False)
    sparse = dynamic_programming.evaluate_policy(*_tables(taxi), uniform, sparse=True)
    tolerance = 2 * accuracy.linear_solve_tolerance(
        accuracy.discounted_condition_bound(taxi.gamma), taxi.n_states, float(np.abs(dense).max()))
    np.testing.assert_allclose(sparse, dense, rtol=0, atol=tolerance)


@pytest.mark.spec("dp.value-iteration")
@given(st.booleans().flatmap(lambda flag: strategies.mdps(episodic=flag)))
def test_lp_optimum_matches_exact_policy_iteration(mdp):
    exact, optimal_actions = exact_rational.optimal_values_exact(*_tables(mdp))
    lp = linear_program.optimal_values_lp(*_tables(mdp))
    scale = max(abs(float(v)) for v in exact)
    gamma = mdp.gamma if mdp.gamma < 1.0 else 7 / 8  # episodic: every step ends w.p. >= 1/8
    tolerance = accuracy.linear_program_tolerance(gamma, scale)
    assert max(abs(Fraction(float(v)) - e) for v, e in zip(lp, exact)) <= tolerance
    # The exact optimal actions are optimal: evaluating one of them gives V* exactly.
    policy = np.eye(mdp.n_actions)[np.argmax(optimal_actions, axis=1)]
    assert exact_rational.evaluate_policy_exact(*_tables(mdp), policy) == exact


@pytest.mark.spec("mdp.occupancy-theorem-2")
@given(strategies.mdps(episodic=False))
def test_lp_dual_is_the_occupancy_measure_of_an_optimal_policy(mdp):
    rho = linear_program.optimal_occupancy_lp(*_tables(mdp), mdp.initial_distribution)
    v_star = linear_program.optimal_values_lp(*_tables(mdp))
    scale = max(1.0, float(np.abs(v_star).max()))
    tolerance = accuracy.linear_program_tolerance(mdp.gamma, scale) * mdp.n_states * mdp.n_actions
    # Strong duality: sum rho r = (1 - gamma) J*.
    assert abs((rho * mdp.rewards).sum() - (1 - mdp.gamma) * mdp.initial_distribution @ v_star) \
        <= tolerance
    # rho is a valid occupancy measure: non-negative, sums to 1, satisfies the flow equation.
    assert (rho >= 0).all() and abs(rho.sum() - 1.0) <= tolerance
    inflow = (1 - mdp.gamma) * mdp.initial_distribution \
        + mdp.gamma * np.einsum("sa,sat->t", rho, mdp.transitions)
    np.testing.assert_allclose(rho.sum(axis=1), inflow, rtol=0, atol=tolerance)
    # Wherever rho visits, the policy it defines acts optimally.
    visited = rho.sum(axis=1) > tolerance
    q_star = mdp.rewards + mdp.gamma * mdp.transitions @ v_star
    policy = rho[visited] / rho[visited].sum(axis=1, keepdims=True)
    regret = q_star[visited].max(axis=1) - (policy * q_star[visited]).sum(axis=1)
    assert regret.max(initial=0.0) <= tolerance / rho[visited].sum(axis=1).min(initial=1.0)


@given(strategies.mdps_with_policy(episodic=False), st.data())
def test_occupancy_closed_form_is_a_distribution_obeying_the_flow_equation(mdp_and_policy, data):
    mdp, policy = mdp_and_policy
    initial = data.draw(strategies.probability_vectors(mdp.n_states))
    nu = occupancy.state_occupancy(mdp.transitions, mdp.gamma, policy, initial)
    tolerance = accuracy.linear_solve_tolerance(
        accuracy.discounted_condition_bound(mdp.gamma), mdp.n_states, 1.0)
    assert (nu >= -tolerance).all() and abs(nu.sum() - 1.0) <= tolerance
    flow = (1 - mdp.gamma) * initial + mdp.gamma * np.einsum("s,sa,sat->t", nu, policy, mdp.transitions)
    np.testing.assert_allclose(nu, flow, rtol=0, atol=tolerance)


@pytest.mark.spec("pg.policy-gradient-theorem")
@given(strategies.mdps(episodic=False, max_states=4, max_actions=3), st.data())
def test_policy_gradient_closed_form_matches_finite_differences(mdp, data):
    theta = data.draw(strategies.softmax_parameters(mdp.n_states, mdp.n_actions))
    initial = mdp.initial_distribution
    closed = policy_gradient.softmax_policy_gradient(*_tables(mdp), initial, theta)
    differences = policy_gradient.softmax_policy_gradient_finite_difference(*_tables(mdp), initial, theta)
    tolerance = accuracy.finite_difference_tolerance(float(np.abs(mdp.rewards).max()), mdp.gamma)
    np.testing.assert_allclose(closed, differences, rtol=0, atol=tolerance)


def test_enumeration_expectation_of_an_estimator_counts_every_sample_tuple():
    # f = (0, 1) under q = (1/2, 1/2): the maximum of two samples is 1 unless both are 0,
    # so its expectation is 3/4 -- a value no single-sample shortcut would produce.
    mean = enumeration.expected_estimate(lambda f, p, q: float(f.max()), [0.0, 1.0],
                                         [0.5, 0.5], [0.5, 0.5], n_samples=2)
    assert mean == 0.75
    assert enumeration.expectation([0.0, 1.0], [0.25, 0.75]) == 0.75


def test_exact_discounted_returns_by_hand():
    # (1, 0, 2) with gamma 1/2: G = (1 + 0 + 2/4, 0 + 2/2, 2) = (3/2, 1, 2).
    assert exact_rational.discounted_returns_exact([1.0, 0.0, 2.0], 0.5) == \
        [Fraction(3, 2), Fraction(1), Fraction(2)]


def test_non_terminating_policy_is_reported_at_gamma_one():
    import pytest

    grid = make("sb-gridworld-4x4")
    bump_north = np.zeros((grid.n_states, grid.n_actions))
    bump_north[:, grid.action_labels.index("north")] = 1.0
    with pytest.raises(dynamic_programming.NonTerminatingPolicyError, match="never terminates"):
        dynamic_programming.evaluate_policy(*_tables(grid), bump_north)
    with pytest.raises(dynamic_programming.NonTerminatingPolicyError):
        exact_rational.evaluate_policy_exact(*_tables(grid), bump_north)


@given(strategies.mdps_with_policy(max_states=4))
def test_exact_lookahead_of_v_pi_is_the_linear_solve_q_pi(mdp_and_policy):
    """Two oracles, two methods: the exact lookahead r + gamma P V of the exact V^pi
    (Gauss-Jordan on Fractions) equals Q^pi from numpy's linear solve."""
    mdp, policy = mdp_and_policy
    tables = (mdp.transitions, mdp.rewards, mdp.gamma)
    exact_q = bellman.one_step_lookahead_exact(*tables, exact_rational.evaluate_policy_exact(*tables, policy))
    solved_q = dynamic_programming.action_values(*tables, policy)
    scale = max(1.0, float(np.abs(mdp.rewards).max()) / (1.0 - min(mdp.gamma, 0.99)))
    np.testing.assert_allclose(to_floats(exact_q), solved_q, rtol=0, atol=1e-9 * scale)
