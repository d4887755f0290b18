"""The hypothesis strategies generate what they promise: valid, exactly representable MDPs
that shrink towards small, readable counterexamples."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from rlspec.oracles.methods.exact_rational import evaluate_policy_exact
from rlspec.oracles.dynamic_programming import evaluate_policy
from rlspec.toy_mdps import TabularMDP, TabularMDPEnv
from rlspec.toy_mdps.strategies import (
    EPISODIC_GAMMAS,
    GAMMAS,
    mdps,
    mdps_with_policy,
    policies,
    probability_vectors,
    reward_tables,
    softmax_parameters,
)

# Example counts come from the hypothesis profiles in conftest.py (dev 60, ci 40,
# thorough 1000); every test here costs about a millisecond per example.


def is_multiple_of_eighth(array) -> bool:
    return bool(np.all(np.asarray(array) * 8 == np.round(np.asarray(array) * 8)))


@given(st.integers(1, 6).flatmap(lambda size: st.tuples(st.just(size),
                                                        probability_vectors(size))))
def test_probability_vectors_sum_to_exactly_one(size_and_vector):
    size, vector = size_and_vector
    assert vector.shape == (size,) and vector.dtype == np.float64
    assert vector.sum() == 1.0 and sum(vector.tolist()) == 1.0
    assert np.all(vector >= 0) and is_multiple_of_eighth(vector)


@given(mdps(max_states=5, max_actions=3))
def test_generated_mdps_are_valid_and_exact(mdp):
    assert isinstance(mdp, TabularMDP)
    assert 1 <= mdp.n_states <= 5 and 1 <= mdp.n_actions <= 3
    assert np.all(mdp.transitions.sum(axis=2) == 1.0)  # exactly, not approximately
    assert is_multiple_of_eighth(mdp.transitions)
    assert np.all(mdp.rewards == np.round(mdp.rewards)) and np.all(np.abs(mdp.rewards) <= 4)
    assert mdp.initial_distribution.sum() == 1.0
    assert mdp.gamma in GAMMAS and not mdp.terminal_states.any()


@given(mdps_with_policy(max_states=4, episodic=True))
def test_episodic_mdps_terminate_under_every_generated_policy(mdp_and_policy):
    mdp, policy = mdp_and_policy
    terminal = mdp.n_states - 1
    assert mdp.n_states >= 2 and np.flatnonzero(mdp.terminal_states).tolist() == [terminal]
    assert np.all(mdp.transitions[:terminal, :, terminal] >= 1 / 8)
    assert mdp.gamma in EPISODIC_GAMMAS and mdp.initial_distribution[terminal] == 0.0
    # Undiscounted evaluation succeeds (it raises NonTerminatingPolicyError otherwise), and
    # with termination probability >= 1/8 per step, |V| <= 4 * 8.
    values = evaluate_policy(mdp.transitions, mdp.rewards, 1.0, policy)
    assert np.all(np.isfinite(values)) and np.all(np.abs(values) <= 32 + 1e-9)
    # Exact inputs make the exact oracle solve the same MDP; the float solve agrees to
    # n * eps * kappa, with kappa_inf(I - P_pi) <= 2 * 8 here: 1e-12 is generous.
    exact = evaluate_policy_exact(mdp.transitions, mdp.rewards, 1.0, policy)
    np.testing.assert_allclose(values, [float(v) for v in exact], rtol=0, atol=1e-12)


@given(mdps(max_states=4, reward_by_transition=True))
def test_rewards_by_transition_have_exact_expectations(mdp):
    expected = [[sum(Fraction(p) * Fraction(r) for p, r in zip(row_p, row_r))
                 for row_p, row_r in zip(mdp.transitions[s], mdp.reward_by_transition[s])]
                for s in range(mdp.n_states)]
    assert mdp.rewards.tolist() == [[float(v) for v in row] for row in expected]


@given(st.data())
def test_policies_are_probability_tables(data):
    n_states, n_actions = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    stochastic = data.draw(policies(n_states, n_actions))
    assert stochastic.shape == (n_states, n_actions)
    assert np.all(stochastic.sum(axis=1) == 1.0) and is_multiple_of_eighth(stochastic)
    deterministic = data.draw(policies(n_states, n_actions, kind="deterministic"))
    assert np.all(deterministic.sum(axis=1) == 1.0)
    assert np.all((deterministic == 0.0) | (deterministic == 1.0))


@given(softmax_parameters(3, 4))
def test_softmax_parameters_are_finite_and_bounded(theta):
    assert theta.shape == (3, 4) and theta.dtype == np.float64
    assert np.all(np.isfinite(theta)) and np.all(np.abs(theta) <= 3.0)


@given(reward_tables((2, 3), denominator=4))
def test_reward_tables_with_quarters(rewards):
    assert np.all(rewards * 4 == np.round(rewards * 4)) and np.all(np.abs(rewards) <= 4)


def test_strategies_reject_bad_arguments_when_built():
    with pytest.raises(ValueError, match="kind must be 'stochastic' or 'deterministic'"):
        policies(2, 2, kind="greedy")
    with pytest.raises(ValueError, match=r"empty size range: states \[4, 2\]"):
        mdps(min_states=4, max_states=2)
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        probability_vectors(0)


@given(mdps(max_states=3, reward_by_transition=True), st.integers(0, 2**32 - 1))
def test_env_of_a_generated_mdp_follows_its_tables(mdp, seed):
    env = TabularMDPEnv(mdp)
    state, _ = env.reset(seed=seed)
    assert mdp.initial_distribution[state] > 0
    for _ in range(10):
        action = int(env.np_random.integers(mdp.n_actions))
        next_state, reward, terminated, truncated, info = env.step(action)
        assert info["prob"] == mdp.transitions[state, action, next_state] > 0
        assert reward == mdp.reward_by_transition[state, action, next_state]
        assert terminated == mdp.terminal_states[next_state] and not truncated
        state = next_state


# Shrinking: `find` returns the minimal example hypothesis reaches for a condition.

def test_mdps_shrink_to_one_state_one_action_and_simple_numbers():
    mdp = find(mdps(), lambda mdp: True)
    assert (mdp.n_states, mdp.n_actions, mdp.gamma) == (1, 1, 0.5)
    assert mdp.rewards.tolist() == [[0.0]]


def test_episodic_mdps_shrink_to_one_state_before_the_terminal():
    mdp = find(mdps(episodic=True), lambda mdp: True)
    assert (mdp.n_states, mdp.n_actions, mdp.gamma) == (2, 1, 0.5)
    assert mdp.transitions[0, 0].tolist() == [7 / 8, 1 / 8]


def test_probability_vectors_shrink_to_all_mass_on_the_first_entry():
    assert find(probability_vectors(4), lambda v: True).tolist() == [1.0, 0.0, 0.0, 0.0]
    # A condition needing spread mass shrinks to the simplest such vector.
    assert find(probability_vectors(3), lambda v: v[2] > 0).tolist() == [7 / 8, 0.0, 1 / 8]
