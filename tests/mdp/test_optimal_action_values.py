"""The LP's Q* and its optimal actions (what `rlspec solve` prints), cross-checked against
exact rational policy iteration and the policy-evaluation oracle."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rlspec.oracles import dynamic_programming as policy_evaluation
from rlspec.oracles.methods import accuracy, exact_rational, linear_program
from rlspec.toy_mdps import strategies


@pytest.mark.spec("dp.value-iteration", "dp.policy-improvement")
@given(st.booleans().flatmap(lambda flag: strategies.mdps(episodic=flag)))
def test_lp_action_values_are_the_exact_q_star_and_its_argmax_is_optimal(mdp):
    tables = (mdp.transitions, mdp.rewards, mdp.gamma)
    exact_values, exact_optimal = exact_rational.optimal_values_exact(*tables)
    q = linear_program.optimal_action_values_lp(*tables)
    gamma = mdp.gamma if mdp.gamma < 1.0 else 7 / 8  # episodic: every step ends w.p. >= 1/8
    scale = max(1.0, max(abs(float(v)) for v in exact_values))
    tolerance = (1 + mdp.gamma) * accuracy.linear_program_tolerance(gamma, scale)
    exact_q = [[Fraction(float(mdp.rewards[s, a])) + Fraction(mdp.gamma) * sum(
                    Fraction(float(mdp.transitions[s, a, t])) * exact_values[t]
                    for t in range(mdp.n_states)) for a in range(mdp.n_actions)]
               for s in range(mdp.n_states)]
    assert max(abs(Fraction(float(q[s, a])) - exact_q[s][a])
               for s in range(mdp.n_states) for a in range(mdp.n_actions)) <= tolerance
    policy = linear_program.optimal_actions(q, 2 * tolerance)
    assert np.all(policy[np.asarray(exact_optimal, dtype=bool)] > 0)
    evaluated = policy_evaluation.evaluate_policy(*tables, policy)
    solve_error = accuracy.linear_solve_tolerance(accuracy.discounted_condition_bound(gamma),
                                                  mdp.n_states, scale)
    # Each action the policy keeps is within 2 tolerance of the best, which the
    # evaluation amplifies by at most 1 / (1 - gamma); V* itself is within tolerance.
    np.testing.assert_allclose(evaluated, q.max(axis=1), rtol=0,
                               atol=(2 / (1 - gamma) + 1) * tolerance + solve_error)


@pytest.mark.spec("dp.policy-improvement")
def test_optimal_actions_spreads_over_exact_ties_only():
    q = np.array([[1.0, 1.0, 0.5], [0.0, -1.0, 2.0]])
    np.testing.assert_array_equal(linear_program.optimal_actions(q, 1e-9),
                                  [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
