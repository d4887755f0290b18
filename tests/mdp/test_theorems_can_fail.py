"""Each theorem test can fail: with a catalogued bug planted in place of the reference
function it exercises, the test goes red.  A theorem test that stayed green here would be
asserting nothing about the code."""

import numpy as np
import pytest

import bugs_mdp as bugs
import test_theorems
from mutation import fails
from rlspec.reference import bellman, dynamic_programming, importance_sampling, occupancy
from rlspec.reference import policy_gradient, returns


def _policy_iteration_by_argmin(transitions, rewards, gamma):
    return np.eye(rewards.shape[1])[bugs.policy_argmin(transitions, rewards, gamma)]


MUTANTS = {
    "test_discounted_returns_match_the_exact_sum": (returns, "discounted_returns", bugs.returns_off_by_one),
    "test_bellman_expectation_equation_for_v_holds_at_the_linear_solve":
        (bellman, "bellman_expectation_backup_v", bugs.backup_v_without_gamma),
    "test_bellman_expectation_equation_for_q_holds_at_the_linear_solve":
        (bellman, "bellman_expectation_backup_q", bugs.backup_q_with_max),
    "test_matrix_form_solution_matches_the_linear_solve":
        (bellman, "evaluate_policy_matrix_form", bugs.evaluation_transposed),
    "test_optimality_operator_is_a_gamma_contraction":
        (bellman, "bellman_optimality_backup", bugs.optimality_without_gamma),
    "test_v_star_is_the_unique_fixed_point_of_the_optimality_operator":
        (bellman, "bellman_optimality_backup", bugs.optimality_mean),
    "test_policy_improvement_dominates_everywhere":
        (dynamic_programming, "policy_improvement", bugs.improvement_argmin),
    "test_state_occupancy_satisfies_its_flow_equation_and_sums_to_one":
        (occupancy, "state_occupancy_by_iteration", bugs.occupancy_unnormalised),
    "test_occupancy_determines_the_policy_on_visited_states":
        (occupancy, "policy_from_occupancy", bugs.policy_from_occupancy_global),
    "test_iterative_evaluation_is_within_its_stopping_bound":
        (dynamic_programming, "iterative_policy_evaluation", bugs.evaluation_off_by_one),
    "test_value_iteration_reaches_the_lp_optimum":
        (dynamic_programming, "value_iteration", bugs.value_iteration_mean),
    "test_policy_iteration_reaches_the_lp_optimum":
        (dynamic_programming, "policy_iteration", _policy_iteration_by_argmin),
    "test_importance_sampling_is_unbiased_by_enumeration":
        (importance_sampling, "importance_sampling_estimate", bugs.importance_self_normalised),
    "test_performance_difference_lemma_holds_exactly":
        (policy_gradient, "performance_difference_by_advantages", bugs.performance_difference_old_visits),
}


def test_every_theorem_test_has_a_mutant():
    theorem_tests = {name for name in dir(test_theorems) if name.startswith("test_")}
    assert theorem_tests == set(MUTANTS)


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    module, attribute, bug = MUTANTS[test_name]
    monkeypatch.setattr(module, attribute, bug)
    assert fails(getattr(test_theorems, test_name)), \
        f"{test_name} stayed green with {bug.__name__} planted as {attribute}"
