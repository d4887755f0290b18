"""The theorems of the notes' MDP chapter, proved on generated MDPs: each test states one
property of rlspec.reference and checks it against the exact oracles, with tolerances
derived in rlspec.oracles.methods.accuracy."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rlspec.oracles.methods import accuracy, enumeration, exact_rational, linear_program
from rlspec.oracles import occupancy as occupancy_oracle
from rlspec.oracles import dynamic_programming as dynamic_programming_oracle, policy_gradient
from rlspec.reference import bellman, dynamic_programming, importance_sampling
from rlspec.reference import occupancy, policy_gradient as policy_gradient_reference, returns
from rlspec.toy_mdps import strategies

EPS = accuracy.EPS
any_mdp_and_policy = st.booleans().flatmap(lambda flag: strategies.mdps_with_policy(episodic=flag))
any_mdp = st.booleans().flatmap(lambda flag: strategies.mdps(episodic=flag))
discounted_mdp_and_policy = strategies.mdps_with_policy(episodic=False)
value_vectors = st.lists(st.integers(-8, 8), min_size=1, max_size=5)


def _tables(mdp):
    return mdp.transitions, mdp.rewards, mdp.gamma


def _exact_floats(values) -> np.ndarray:
    return np.array([float(v) for v in values])


def _solve_tolerance(mdp, values) -> float:
    """How far the LU oracle may be from exact: the bound of accuracy.linear_solve_tolerance
    with kappa <= (1 + m) / (1 - m), m the contraction modulus."""
    m = accuracy.contraction_modulus(*_tables(mdp))
    return accuracy.linear_solve_tolerance((1 + m) / (1 - m), mdp.n_states,
                                           float(np.abs(values).max(initial=0.0)))


@pytest.mark.spec("mdp.return")
@given(st.lists(st.integers(-4, 4), min_size=1, max_size=12), st.sampled_from([0.5, 0.0, 1.0, 0.9, 0.99]))
@example([1, 0, 2], 0.5)
def test_discounted_returns_match_the_exact_sum(rewards, gamma):
    rewards = np.array(rewards, dtype=np.float64)
    exact = exact_rational.discounted_returns_exact(rewards, gamma)
    # The recursion rounds once per step: at most T * eps * sum |r| in all.
    tolerance = accuracy.SAFETY * rewards.size * EPS * max(1.0, np.abs(rewards).sum())
    got = returns.discounted_returns(rewards, gamma)
    assert max(abs(Fraction(g) - e) for g, e in zip(got, exact)) <= tolerance


@pytest.mark.spec("mdp.bellman-expectation-v")
@given(any_mdp_and_policy)
def test_bellman_expectation_equation_for_v_holds_at_the_linear_solve(mdp_and_policy):
    mdp, policy = mdp_and_policy
    v_pi = _exact_floats(exact_rational.evaluate_policy_exact(*_tables(mdp), policy))
    backed_up = bellman.bellman_expectation_backup_v(*_tables(mdp), policy, v_pi)
    # V^pi rounded to floats is off by <= eps |V| per entry; the backup adds gamma times
    # that plus its own n * eps rounding.
    tolerance = accuracy.SAFETY * mdp.n_states * EPS * max(1.0, np.abs(v_pi).max())
    np.testing.assert_allclose(backed_up, v_pi, rtol=0, atol=tolerance)


@pytest.mark.spec("mdp.bellman-expectation-q")
@given(any_mdp_and_policy)
def test_bellman_expectation_equation_for_q_holds_at_the_linear_solve(mdp_and_policy):
    mdp, policy = mdp_and_policy
    v_exact = exact_rational.evaluate_policy_exact(*_tables(mdp), policy)
    q_pi = exact_rational.action_values_exact(*_tables(mdp), v_exact)
    q_pi = np.vectorize(float, otypes=[float])(q_pi)
    backed_up = bellman.bellman_expectation_backup_q(*_tables(mdp), policy, q_pi)
    tolerance = accuracy.SAFETY * mdp.n_states * mdp.n_actions * EPS * max(1.0, np.abs(q_pi).max())
    np.testing.assert_allclose(backed_up, q_pi, rtol=0, atol=tolerance)
    # And Q and V agree: V^pi(s) = sum_a pi(a|s) Q^pi(s, a).
    np.testing.assert_allclose((policy * q_pi).sum(axis=1), _exact_floats(v_exact), rtol=0, atol=tolerance)


@pytest.mark.spec("mdp.bellman-matrix-form")
@given(discounted_mdp_and_policy)
def test_matrix_form_solution_matches_the_linear_solve(mdp_and_policy):
    mdp, policy = mdp_and_policy
    exact = _exact_floats(exact_rational.evaluate_policy_exact(*_tables(mdp), policy))
    got = bellman.evaluate_policy_matrix_form(*_tables(mdp), policy)
    np.testing.assert_allclose(got, exact, rtol=0, atol=_solve_tolerance(mdp, exact))


@pytest.mark.spec("mdp.bellman-optimality-operator")
@given(strategies.mdps(), st.data())
def test_optimality_operator_is_a_gamma_contraction(mdp, data):
    u = np.array(data.draw(st.lists(st.integers(-8, 8), min_size=mdp.n_states, max_size=mdp.n_states)), float)
    v = np.array(data.draw(st.lists(st.integers(-8, 8), min_size=mdp.n_states, max_size=mdp.n_states)), float)
    after = np.abs(bellman.bellman_optimality_backup(*_tables(mdp), u)
                   - bellman.bellman_optimality_backup(*_tables(mdp), v)).max()
    before = np.abs(u - v).max()
    rounding = accuracy.SAFETY * mdp.n_states * EPS * (8 + np.abs(mdp.rewards).max())
    assert after <= mdp.gamma * before + rounding


@pytest.mark.spec("mdp.bellman-optimality-operator")
@given(strategies.mdps(), value_vectors)
def test_v_star_is_the_unique_fixed_point_of_the_optimality_operator(mdp, start):
    v_star = _exact_floats(exact_rational.optimal_values_exact(*_tables(mdp))[0])
    rounding = accuracy.SAFETY * mdp.n_states * EPS * max(1.0, np.abs(v_star).max())
    np.testing.assert_allclose(bellman.bellman_optimality_backup(*_tables(mdp), v_star), v_star,
                               rtol=0, atol=rounding)
    # From any start the iterates approach V* at rate gamma, so no other fixed point exists.
    u = np.resize(np.array(start, dtype=float), mdp.n_states)
    distance = np.abs(u - v_star).max()
    for k in range(1, 30):
        u = bellman.bellman_optimality_backup(*_tables(mdp), u)
        assert np.abs(u - v_star).max() <= mdp.gamma ** k * distance + k * rounding


@pytest.mark.spec("dp.policy-improvement", "mdp.policy-improvement-theorem")
@given(any_mdp_and_policy)
def test_policy_improvement_dominates_everywhere(mdp_and_policy):
    mdp, policy = mdp_and_policy
    v_pi = exact_rational.evaluate_policy_exact(*_tables(mdp), policy)
    improved = dynamic_programming.policy_improvement(*_tables(mdp), _exact_floats(v_pi))
    v_improved = exact_rational.evaluate_policy_exact(*_tables(mdp), improved)
    # Exact comparison: V^pi rounded to floats can only flip a choice between actions whose
    # Q-values differ by rounding, which changes V by at most that much over 1 - m.
    m = accuracy.contraction_modulus(*_tables(mdp))
    slack = Fraction(accuracy.SAFETY * mdp.n_states * EPS * max(1.0, max(abs(float(v)) for v in v_pi)) / (1 - m))
    assert all(new >= old - slack for new, old in zip(v_improved, v_pi))
    # Improvement stops only at the optimum: if nothing improved, pi was already optimal.
    if all(new <= old + slack for new, old in zip(v_improved, v_pi)):
        v_star = exact_rational.optimal_values_exact(*_tables(mdp))[0]
        assert all(abs(old - best) <= slack for old, best in zip(v_pi, v_star))


@pytest.mark.spec("mdp.state-action-occupancy", "mdp.state-occupancy")
@given(discounted_mdp_and_policy, st.data())
def test_state_occupancy_satisfies_its_flow_equation_and_sums_to_one(mdp_and_policy, data):
    mdp, policy = mdp_and_policy
    initial = data.draw(strategies.probability_vectors(mdp.n_states))
    nu = occupancy.state_occupancy_by_iteration(mdp.transitions, mdp.gamma, policy, initial)
    rho = occupancy.state_action_occupancy(mdp.transitions, mdp.gamma, policy, initial)
    tolerance = accuracy.iteration_tolerance(dynamic_programming.THRESHOLD, mdp.gamma, mdp.n_states, 1.0)
    flow = (1 - mdp.gamma) * initial + mdp.gamma * np.einsum("s,sa,sat->t", nu, policy, mdp.transitions)
    np.testing.assert_allclose(nu, flow, rtol=0, atol=tolerance)
    assert abs(nu.sum() - 1) <= mdp.n_states * tolerance and abs(rho.sum() - 1) <= mdp.n_states * tolerance
    np.testing.assert_allclose(
        nu, occupancy_oracle.state_occupancy(mdp.transitions, mdp.gamma, policy, initial),
        rtol=0, atol=tolerance + _solve_tolerance(mdp, nu))


@pytest.mark.spec("mdp.occupancy-theorem-1")
@given(discounted_mdp_and_policy, st.data())
def test_occupancy_determines_the_policy_on_visited_states(mdp_and_policy, data):
    mdp, policy = mdp_and_policy
    initial = data.draw(strategies.probability_vectors(mdp.n_states))
    rho = occupancy_oracle.state_action_occupancy(mdp.transitions, mdp.gamma, policy, initial)
    recovered = occupancy.policy_from_occupancy(np.where(rho < 1e-15, 0.0, rho))
    visited = rho.sum(axis=1) > 1e-12
    assert (recovered >= 0).all() and np.allclose(recovered.sum(axis=1), 1.0), "not a policy"
    np.testing.assert_allclose(recovered[visited], policy[visited], rtol=0, atol=1e-9)
    # Theorem 2: the recovered policy generates the same occupancy measure, everywhere.
    regenerated = occupancy_oracle.state_action_occupancy(mdp.transitions, mdp.gamma, recovered, initial)
    np.testing.assert_allclose(regenerated, rho, rtol=0, atol=1e-9)


@pytest.mark.spec("dp.policy-evaluation")
@given(any_mdp_and_policy)
def test_iterative_evaluation_is_within_its_stopping_bound(mdp_and_policy):
    mdp, policy = mdp_and_policy
    exact = _exact_floats(exact_rational.evaluate_policy_exact(*_tables(mdp), policy))
    got = dynamic_programming.iterative_policy_evaluation(*_tables(mdp), policy)
    modulus = accuracy.contraction_modulus(*_tables(mdp))
    tolerance = accuracy.iteration_tolerance(dynamic_programming.THRESHOLD, modulus,
                                             mdp.n_states, np.abs(exact).max())
    np.testing.assert_allclose(got, exact, rtol=0, atol=tolerance)


@pytest.mark.spec("dp.value-iteration")
@given(any_mdp)
def test_value_iteration_reaches_the_lp_optimum(mdp):
    lp = linear_program.optimal_values_lp(*_tables(mdp))
    got = dynamic_programming.value_iteration(*_tables(mdp))
    modulus = accuracy.contraction_modulus(*_tables(mdp))
    tolerance = accuracy.iteration_tolerance(dynamic_programming.THRESHOLD, modulus, mdp.n_states,
                                             np.abs(lp).max()) \
        + accuracy.linear_program_tolerance(modulus, np.abs(lp).max())
    np.testing.assert_allclose(got, lp, rtol=0, atol=tolerance)


@pytest.mark.spec("dp.policy-iteration")
@given(any_mdp)
def test_policy_iteration_reaches_the_lp_optimum(mdp):
    policy = dynamic_programming.policy_iteration(*_tables(mdp))
    achieved = _exact_floats(exact_rational.evaluate_policy_exact(*_tables(mdp), policy))
    lp = linear_program.optimal_values_lp(*_tables(mdp))
    # Policy iteration treats relative gains below TIE_TOLERANCE as ties; a policy that is
    # within d of greedy in every state is within d / (1 - m) of optimal.
    modulus = accuracy.contraction_modulus(*_tables(mdp))
    scale = max(1.0, np.abs(lp).max())
    tolerance = dynamic_programming.TIE_TOLERANCE * scale / (1 - modulus) \
        + accuracy.linear_program_tolerance(modulus, scale)
    np.testing.assert_allclose(achieved, lp, rtol=0, atol=tolerance)


@pytest.mark.spec("pg.importance-sampling")
@given(st.integers(1, 4), st.integers(1, 3), st.data())
def test_importance_sampling_is_unbiased_by_enumeration(size, n_samples, data):
    target = data.draw(strategies.probability_vectors(size))
    behaviour = data.draw(strategies.probability_vectors(size))
    values = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=size, max_size=size)), float)
    # The identity needs q > 0 wherever p f != 0 (the spec's erratum); give q that support.
    behaviour = np.where(target * values != 0, np.maximum(behaviour, 1 / 8), behaviour)
    behaviour = behaviour / behaviour.sum()
    mean = enumeration.expected_estimate(importance_sampling.importance_sampling_estimate,
                                         values, target, behaviour, n_samples)
    # size ** n_samples terms, each rounded a few times relative to |f| p / q <= 4 * 8.
    tolerance = accuracy.SAFETY * size ** n_samples * EPS * 32
    assert abs(mean - enumeration.expectation(values, target)) <= tolerance


@pytest.mark.spec("pg.performance-difference")
@given(discounted_mdp_and_policy, st.data())
def test_performance_difference_lemma_holds_exactly(mdp_and_policy, data):
    mdp, old_policy = mdp_and_policy
    new_policy = data.draw(strategies.policies(mdp.n_states, mdp.n_actions))
    initial = mdp.initial_distribution
    lhs = policy_gradient.performance_difference(*_tables(mdp), initial, new_policy, old_policy)
    rhs = policy_gradient_reference.performance_difference_by_advantages(
        *_tables(mdp), initial, new_policy, old_policy)
    scale = max(1.0, np.abs(mdp.rewards).max() / (1 - mdp.gamma))
    tolerance = 2 * accuracy.iteration_tolerance(dynamic_programming.THRESHOLD, mdp.gamma, mdp.n_states, scale) \
        / (1 - mdp.gamma) + 2 * accuracy.linear_solve_tolerance(
            accuracy.discounted_condition_bound(mdp.gamma), mdp.n_states, scale)
    assert abs(lhs - rhs) <= tolerance
    # The trajectory form of seed 004, summed step by step: sum_t gamma^t E[A^pi(s_t, a_t)].
    v_old = dynamic_programming_oracle.evaluate_policy(*_tables(mdp), old_policy)
    advantages = mdp.rewards + mdp.gamma * mdp.transitions @ v_old - v_old[:, None]
    per_state = (new_policy * advantages).sum(axis=1)
    markov = np.einsum("sa,sat->st", new_policy, mdp.transitions)
    distribution, series, discount = initial.copy(), 0.0, 1.0
    while discount * np.abs(per_state).max(initial=0.0) / (1 - mdp.gamma) > 1e-13:
        series += discount * distribution @ per_state
        distribution, discount = distribution @ markov, discount * mdp.gamma
    assert abs(series - lhs) <= tolerance + 1e-13
