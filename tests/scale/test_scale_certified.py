"""The certified sparse solvers: their bounds hold against exact rationals, they agree with
the dense oracles, wrong answers are refuted, and bad inputs raise named errors (issue 13).

"Holds" is checked exactly: the distance between the float answer and the rational oracle's
answer is computed in Fractions and compared with the bound, with no tolerance at all.
"""

from fractions import Fraction

import numpy as np
import pytest
from rlspec.oracles import certified
from rlspec.oracles import dynamic_programming as policy_evaluation
from rlspec.oracles.dynamic_programming import NonTerminatingPolicyError
from rlspec.oracles.methods import accuracy, exact_rational, linear_program
from rlspec.toy_mdps import catalogue, large
from rlspec.toy_mdps.mdp import TabularMDP
from rlspec.toy_mdps.random_mdps import random_mdp
from rlspec.validation import InvalidInputError

SMALL = [
    catalogue.make("two-state"), catalogue.make("chain-5"), catalogue.make("random-walk-5"),
    catalogue.make("sb-gridworld-4x4"),  # gamma = 1, every step costs: the shortest-path case
    random_mdp(6, 3, 0.9, seed=1, branching=2),
    random_mdp(6, 2, 1.0, seed=2, branching=2, episodic=True),  # gamma = 1, all terminate
    random_mdp(5, 2, 0.5, seed=3, reward_by_transition=True),
]
IDS = [f"{mdp.name}-gamma{mdp.gamma}" for mdp in SMALL]


def exact_distance(floats, exact) -> Fraction:
    """max |float - exact| in exact arithmetic."""
    floats = np.asarray(floats, dtype=np.float64).reshape(-1)
    exact = np.asarray(exact, dtype=object).reshape(-1)
    return max(abs(Fraction(float(f)) - e) for f, e in zip(floats, exact))


def lopsided_policy(mdp: TabularMDP) -> np.ndarray:
    rng = np.random.default_rng(mdp.n_states)
    policy = rng.random((mdp.n_states, mdp.n_actions)) + 0.1
    return policy / policy.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("mdp", SMALL, ids=IDS)
def test_policy_values_lie_within_their_bound_of_the_exact_answer(mdp):
    policy = lopsided_policy(mdp)
    answer = certified.evaluate_policy(mdp, policy)
    exact = exact_rational.evaluate_policy_exact(mdp.transitions, mdp.rewards, mdp.gamma, policy)
    assert exact_distance(answer.values, exact) <= Fraction(answer.error_bound)
    assert answer.error_bound < 1e-9  # and the bound says something

    q = certified.action_values(mdp, policy)
    exact_q = exact_rational.action_values_exact(mdp.transitions, mdp.rewards, mdp.gamma, exact)
    assert exact_distance(q.values, exact_q) <= Fraction(q.error_bound)


@pytest.mark.parametrize("mdp", SMALL, ids=IDS)
def test_optimal_values_policy_and_q_lie_within_their_bounds(mdp):
    result = certified.optimal_policy(mdp)
    exact_v, exact_optimal = exact_rational.optimal_values_exact(
        mdp.transitions, mdp.rewards, mdp.gamma)
    assert exact_distance(result.optimal_values.values, exact_v) <= \
        Fraction(result.optimal_values.error_bound)
    assert result.optimal_values.error_bound < 1e-9
    # every exactly optimal action is kept among the near-optimal ones
    assert np.all(result.near_optimal[exact_optimal])
    # the policy's exact values are within the proven suboptimality of V*
    achieved = exact_rational.evaluate_policy_exact(
        mdp.transitions, mdp.rewards, mdp.gamma, np.eye(mdp.n_actions)[result.actions])
    gap = max(v - a for v, a in zip(exact_v, achieved))
    assert gap <= Fraction(result.suboptimality_bound)

    q_star = certified.optimal_action_values(mdp)
    exact_q = exact_rational.action_values_exact(mdp.transitions, mdp.rewards, mdp.gamma, exact_v)
    assert exact_distance(q_star.values, exact_q) <= Fraction(q_star.error_bound)


@pytest.mark.parametrize("mdp", [m for m in SMALL if m.gamma < 1], ids=lambda m: m.name)
def test_occupancy_lies_within_its_one_norm_bound(mdp):
    policy = lopsided_policy(mdp)
    answer = certified.state_occupancy(mdp, policy)
    # exact nu: (I - gamma P_pi)^T nu = (1 - gamma) nu_0, solved in Fractions
    p, pi = exact_rational.to_fractions(mdp.transitions), exact_rational.to_fractions(policy)
    g, nu0 = Fraction(mdp.gamma), exact_rational.to_fractions(mdp.initial_distribution)
    n, k = mdp.n_states, mdp.n_actions
    markov = [[sum(pi[s, a] * p[s, a, t] for a in range(k)) for t in range(n)] for s in range(n)]
    system = [[Fraction(int(s == t)) - g * markov[t][s] for t in range(n)] for s in range(n)]
    exact = exact_rational.solve_exact(system, [(1 - g) * nu0[s] for s in range(n)])
    one_norm = sum(abs(Fraction(float(v)) - e) for v, e in zip(answer.values, exact))
    assert one_norm <= Fraction(answer.error_bound)
    rho = certified.state_action_occupancy(mdp, policy)
    exact_rho = [e * pi[s, a] for s, e in enumerate(exact) for a in range(k)]
    assert sum(abs(Fraction(float(v)) - e) for v, e in zip(rho.values.reshape(-1), exact_rho)) \
        <= Fraction(rho.error_bound)


@pytest.mark.parametrize("kind", list(large.LARGE_MDPS))
def test_generated_mdps_agree_with_the_dense_oracles(kind):
    mdp = large.make_large(kind, 144, seed=1)
    actions = np.random.default_rng(0).integers(0, mdp.n_actions, mdp.n_states)
    dense_policy = np.eye(mdp.n_actions)[actions]
    answer = certified.evaluate_policy(mdp, actions)
    dense = policy_evaluation.evaluate_policy(mdp.transitions, mdp.rewards, mdp.gamma,
                                              dense_policy)
    scale = float(np.abs(dense).max())
    dense_error = accuracy.linear_solve_tolerance(
        accuracy.discounted_condition_bound(mdp.gamma), mdp.n_states, scale)
    assert np.abs(answer.values - dense).max() <= answer.error_bound + dense_error

    optimal = certified.optimal_values(mdp)
    lp = linear_program.optimal_values_lp(mdp.transitions, mdp.rewards, mdp.gamma)
    lp_error = accuracy.linear_program_tolerance(mdp.gamma, scale)
    assert np.abs(optimal.values - lp).max() <= optimal.error_bound + lp_error


def test_episodic_grid_world_with_step_costs_is_certified_by_shortest_paths():
    """Deterministic 5x5 grid, gamma = 1, -1 per step: V*(s) = -(Manhattan distance)."""
    mdp = large.grid_world(5, slip=0.0, wall_density=0.0, gamma=1.0)
    result = certified.optimal_values(mdp)
    row, col = np.divmod(np.arange(25), 5)
    assert "shortest-path" in result.method
    assert np.abs(result.values + (4 - row) + (4 - col)).max() <= result.error_bound


# ------------------------------------------------------------ wrong answers are refuted

def early_stopped_value_iteration(mdp, policy, sweeps=20):
    values = np.zeros(mdp.n_states)
    for _ in range(sweeps):
        values = (policy * (mdp.rewards + mdp.gamma * mdp.transitions @ values)).sum(axis=1)
    return values


def discount_squared(mdp, policy):
    """An off-by-one in the discount's exponent: gamma^2 per step."""
    return policy_evaluation.evaluate_policy(mdp.transitions, mdp.rewards, mdp.gamma ** 2,
                                             policy)


def one_state_nudged(mdp, policy):
    values = certified.evaluate_policy(mdp, policy).values.copy()
    values[mdp.n_states // 2] += 1e-6
    return values


@pytest.mark.parametrize("wrong_solver", [early_stopped_value_iteration,
                                          discount_squared, one_state_nudged])
@pytest.mark.parametrize("mdp", [SMALL[1], SMALL[4], large.make_large("grid", 64)],
                         ids=lambda m: m.name)
def test_planted_wrong_policy_evaluations_are_refuted(wrong_solver, mdp):
    policy = lopsided_policy(mdp)
    truth = certified.evaluate_policy(mdp, policy)
    wrong = wrong_solver(mdp, policy)
    # refuted: further from the certified answer than its bound allows
    assert np.abs(wrong - truth.values).max() > truth.error_bound
    # and the certificate of the wrong values is honest: it covers their real error
    claimed = certified.certify_policy_values(mdp, policy, wrong)
    assert claimed.error_bound >= np.abs(wrong - truth.values).max() - truth.error_bound


def test_values_of_a_suboptimal_policy_are_refuted_as_optimal_values():
    mdp = SMALL[4]
    optimal = certified.optimal_values(mdp)
    suboptimal = certified.evaluate_policy(mdp, np.zeros(mdp.n_states, dtype=int)).values
    claimed = certified.certify_optimal_values(mdp, suboptimal)
    error = np.abs(suboptimal - optimal.values).max()
    assert error > optimal.error_bound
    assert claimed.error_bound >= error - optimal.error_bound


# ------------------------------------------------------------ bad inputs

def test_bad_policies_raise_named_errors():
    mdp = SMALL[4]
    with pytest.raises(InvalidInputError, match="policy actions must have shape"):
        certified.evaluate_policy(mdp, np.zeros(3, dtype=int))
    with pytest.raises(InvalidInputError, match=r"integers in range\(0, 3\)"):
        certified.evaluate_policy(mdp, np.full(mdp.n_states, 3))
    with pytest.raises(InvalidInputError, match="rows must sum to 1"):
        certified.evaluate_policy(mdp, np.full((mdp.n_states, 3), 0.5))
    with pytest.raises(InvalidInputError, match=r"values V\[s\] must have shape"):
        certified.certify_policy_values(mdp, np.zeros(mdp.n_states, dtype=int), np.zeros(2))


def test_occupancy_needs_gamma_below_one():
    with pytest.raises(InvalidInputError, match="needs gamma < 1"):
        certified.state_occupancy(SMALL[3], np.zeros(16, dtype=int))


def test_gamma_one_policy_that_never_terminates_is_named():
    mdp = catalogue.make("sb-gridworld-4x4")
    north = np.zeros(mdp.n_states, dtype=int)  # bumps into the top wall forever
    with pytest.raises(NonTerminatingPolicyError, match="never terminates from"):
        certified.evaluate_policy(mdp, north)


def test_gamma_one_without_a_proof_says_so():
    """A state may loop for ever with reward +1 next to a terminal exit: V* is infinite,
    and no certificate exists; the solver must not return a number."""
    transitions = np.zeros((2, 2, 2))
    transitions[0, 0, 0] = transitions[0, 1, 1] = transitions[1, :, 1] = 1.0
    mdp = TabularMDP(transitions, [[1.0, 0.0], [0.0, 0.0]], 1.0, terminal_states=[1])
    with pytest.raises((certified.UncertifiableError, NonTerminatingPolicyError)):
        certified.optimal_values(mdp)
