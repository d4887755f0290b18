"""n-step methods: the expected n-step return is the n-fold Bellman backup; importance
sampling makes the off-policy update's expectation the target policy's backup; the tree
backup's expectation is its oracle recursion, with Q^pi as a fixed point for every
behaviour policy; and the special cases n = 1 (TD(0)) and n >= T (Monte Carlo).

Expectations are exact sums over every sample path (``bellman.segments``) of the
reference's own update.  To read off one update from the ``*_episode`` functions, which
update every step of a segment, the start state is duplicated: the paths start from a copy
of it that no transition enters, so the first update, and only it, writes the copy's entry.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlspec.checks.batteries import value_learning as cases
from rlspec.oracles import bellman, n_step as n_step_oracle
from rlspec.oracles.methods import accuracy, exact_rational
from rlspec.oracles.dynamic_programming import absorbing_zero_reward_states
from rlspec.reference import n_step, temporal_difference
from rlspec.toy_mdps import strategies

import bugs_value_learning as bugs
from mutation import fails

EPS = accuracy.EPS
small_mdps = st.booleans().flatmap(
    lambda flag: strategies.mdps_with_policy(episodic=flag, max_states=3, max_actions=2))
integer_tables = st.lists(st.integers(-4, 4), min_size=6, max_size=6)
steps = st.integers(1, 3)


def _floats(array) -> np.ndarray:
    return np.vectorize(float, otypes=[float])(np.asarray(array, dtype=object))


def with_start_copy(mdp, state, *tables):
    """The MDP plus a state S (= n_states) that behaves exactly like ``state`` and that no
    transition enters; each table gets the copy's row (a copy of ``state``'s row)."""
    n = mdp.n_states
    transitions = np.zeros((n + 1, mdp.n_actions, n + 1))
    transitions[:n, :, :n] = mdp.transitions
    transitions[n, :, :n] = mdp.transitions[state]
    rewards = np.concatenate([mdp.rewards, mdp.rewards[state:state + 1]])
    return (transitions, rewards, *(np.concatenate([t, t[state:state + 1]]) for t in tables))


def live_states(mdp):
    return np.flatnonzero(~absorbing_zero_reward_states(mdp.transitions, mdp.rewards))


def covering(policy):
    """A behaviour policy with b > 0 everywhere (so it covers any target), still dyadic."""
    return (policy + 1.0 / policy.shape[1]) / 2.0


def path_tolerance(n, scale, ratio=1.0) -> float:
    """A path's update is at most n + 3 roundings of numbers below ratio * scale."""
    return accuracy.SAFETY * EPS * (n + 3) * ratio * (1.0 + scale)


# ----------------------------------------------------------------- n-step returns

@pytest.mark.spec("nstep.return")
@given(st.data())
def test_n_step_return_is_the_td_target_at_n_one_and_the_monte_carlo_return_for_n_past_the_end(data):
    case = data.draw(cases._return_cases("n"))
    a = case.arguments
    rewards, values, terminated, gamma = a["rewards"], a["state_values"], a["terminated"], a["gamma"]
    one_step = n_step.n_step_returns(rewards, values, terminated, gamma, 1)
    bootstrap = np.append(values[1:-1], 0.0 if terminated else values[-1])
    np.testing.assert_array_equal(one_step, rewards + gamma * bootstrap)
    full = n_step.n_step_returns(rewards, values, True, gamma, rewards.size + data.draw(steps))
    monte_carlo = _floats(exact_rational.discounted_returns_exact(rewards, gamma))
    tolerance = accuracy.SAFETY * rewards.size * EPS * (1 + np.abs(rewards).sum())
    np.testing.assert_allclose(full, monte_carlo, rtol=0, atol=tolerance)
    # The oracle agrees with the foundation's exact returns too, exactly.
    assert list(n_step_oracle.n_step_returns_exact(rewards, values, True, gamma, rewards.size)) == \
        exact_rational.discounted_returns_exact(rewards, gamma)


@pytest.mark.spec("nstep.return", "nstep.td")
@given(small_mdps, integer_tables, steps)
def test_expected_n_step_return_is_the_n_fold_bellman_backup(mdp_and_policy, numbers, n):
    mdp, policy = mdp_and_policy
    values = np.resize(np.array(numbers, dtype=float), mdp.n_states)
    backup = bellman.expected_backup_v(mdp.transitions, mdp.rewards, mdp.gamma, policy,
                                                values, n)
    for s in live_states(mdp):
        mean = Fraction(0)
        for p, states, _, rewards, terminated in bellman.segments(
                mdp.transitions, mdp.rewards, policy, s, None, n):
            g = n_step.n_step_returns(np.array(rewards, dtype=float), values[states], terminated,
                                      mdp.gamma, n)[0]
            mean += p * Fraction(float(g))
        assert abs(mean - backup[s]) <= path_tolerance(n, np.abs(values).max() + 4 * n)


# -------------------------------------------------------- importance sampling

@pytest.mark.spec("nstep.off-policy-td")
@given(small_mdps, integer_tables, steps, st.data())
def test_importance_sampled_n_step_td_update_has_the_target_policys_expectation(
        mdp_and_policy, numbers, n, data):
    mdp, target = mdp_and_policy
    behaviour = covering(data.draw(strategies.policies(mdp.n_states, mdp.n_actions)))
    values = np.resize(np.array(numbers, dtype=float), mdp.n_states)
    backup = bellman.expected_backup_v(mdp.transitions, mdp.rewards, mdp.gamma, target,
                                                values, n)
    copy = mdp.n_states
    for s in live_states(mdp):
        transitions, rewards, v, pi, b = with_start_copy(mdp, s, values, target, behaviour)
        mean = Fraction(0)
        for p, states, actions, path_rewards, terminated in bellman.segments(
                transitions, rewards, b, copy, None, n):
            updated = n_step.off_policy_n_step_td_episode(
                v, states, actions[:-1], np.array(path_rewards, dtype=float), terminated, 1.0,
                mdp.gamma, n, pi, b)
            mean += p * Fraction(float(updated[copy]))
        ratio = float(np.max(target / behaviour)) ** n
        assert abs(mean - backup[s]) <= path_tolerance(n, np.abs(values).max() + 4 * n, ratio)


@pytest.mark.spec("nstep.off-policy-sarsa")
@given(small_mdps, integer_tables, steps, st.data())
def test_importance_sampled_n_step_sarsa_update_has_the_target_policys_expectation(
        mdp_and_policy, numbers, n, data):
    mdp, target = mdp_and_policy
    behaviour = covering(data.draw(strategies.policies(mdp.n_states, mdp.n_actions)))
    q = np.resize(np.array(numbers, dtype=float), (mdp.n_states, mdp.n_actions))
    backup = bellman.expected_backup_q(mdp.transitions, mdp.rewards, mdp.gamma, target,
                                                q, n)
    copy = mdp.n_states
    for s in live_states(mdp):
        transitions, rewards, table, pi, b = with_start_copy(mdp, s, q, target, behaviour)
        for a in range(mdp.n_actions):
            mean = Fraction(0)
            for p, states, actions, path_rewards, terminated in bellman.segments(
                    transitions, rewards, b, copy, a, n):
                updated = n_step.off_policy_n_step_sarsa_episode(
                    table, states, actions, np.array(path_rewards, dtype=float), terminated, 1.0,
                    mdp.gamma, n, pi, b)
                mean += p * Fraction(float(updated[copy, a]))
            ratio = float(np.max(target / behaviour)) ** n
            assert abs(mean - backup[s, a]) <= path_tolerance(n, np.abs(q).max() + 4 * n, ratio)


@pytest.mark.spec("nstep.off-policy-sarsa", "nstep.sarsa")
@given(st.data())
def test_off_policy_with_equal_policies_is_on_policy(data):
    """With pi = b every ratio is 1: the importance-sampled algorithms are the on-policy ones."""
    case = data.draw(cases._episode_cases("off-policy-sarsa"))
    a = dict(case.arguments)
    a["target_policy"] = a["behaviour_policy"]
    on_policy = {k: v for k, v in a.items() if k not in ("target_policy", "behaviour_policy")}
    np.testing.assert_allclose(n_step.off_policy_n_step_sarsa_episode(**a),
                               n_step.n_step_sarsa_episode(**on_policy), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ tree backup

@pytest.mark.spec("nstep.tree-backup")
@given(small_mdps, integer_tables, steps, st.data())
def test_tree_backup_update_has_the_expectation_of_its_oracle_recursion(mdp_and_policy, numbers,
                                                                         n, data):
    mdp, target = mdp_and_policy
    behaviour = data.draw(strategies.policies(mdp.n_states, mdp.n_actions))
    q = np.resize(np.array(numbers, dtype=float), (mdp.n_states, mdp.n_actions))
    expected = bellman.expected_tree_backup_target(
        mdp.transitions, mdp.rewards, mdp.gamma, target, behaviour, q, n)
    copy = mdp.n_states
    for s in live_states(mdp):
        transitions, rewards, table, pi, b = with_start_copy(mdp, s, q, target, behaviour)
        for a in range(mdp.n_actions):
            mean = Fraction(0)
            for p, states, actions, path_rewards, terminated in bellman.segments(
                    transitions, rewards, b, copy, a, n):
                updated = n_step.tree_backup_episode(
                    table, states, actions[:-1], np.array(path_rewards, dtype=float), terminated,
                    1.0, mdp.gamma, n, pi)
                mean += p * Fraction(float(updated[copy, a]))
            assert abs(mean - expected[s, a]) <= path_tolerance(n, np.abs(q).max() + 4 * n)


@pytest.mark.spec("nstep.tree-backup")
@given(small_mdps, steps, st.data())
def test_q_pi_is_a_fixed_point_of_the_expected_tree_backup_for_every_behaviour(mdp_and_policy, n,
                                                                              data):
    mdp, target = mdp_and_policy
    behaviour = data.draw(strategies.policies(mdp.n_states, mdp.n_actions))
    v = exact_rational.evaluate_policy_exact(mdp.transitions, mdp.rewards, mdp.gamma, target)
    q_pi = exact_rational.action_values_exact(mdp.transitions, mdp.rewards, mdp.gamma, v)
    expected = bellman.expected_tree_backup_target(
        mdp.transitions, mdp.rewards, mdp.gamma, target, behaviour, q_pi, n)
    live = live_states(mdp)
    assert all(expected[s, a] == q_pi[s, a] for s in live for a in range(mdp.n_actions))
    # Oracle cross-check: with n = 1 the tree backup is Expected SARSA, whose expectation
    # is the Bellman backup of the other oracle.
    one = bellman.expected_tree_backup_target(
        mdp.transitions, mdp.rewards, mdp.gamma, target, behaviour, q_pi, 1)
    assert (one == bellman.expected_backup_q(
        mdp.transitions, mdp.rewards, mdp.gamma, target, q_pi, 1)).all()


@pytest.mark.spec("nstep.sarsa", "nstep.tree-backup")
@given(st.data())
def test_tree_backup_with_the_taken_actions_as_a_greedy_target_is_n_step_sarsa(data):
    """Two oracles, two formulas: if pi is deterministic and picks exactly the actions that
    were taken (and A_T), every off-path leaf has weight 0 and every path weight is 1, so the
    tree-backup return is the n-step SARSA return."""
    case = data.draw(cases._episode_cases("n-step-sarsa"))
    a = case.arguments
    q = a["action_values"]
    policy = np.zeros_like(q)
    chosen = {}
    for s, action in zip(a["states"], a["actions"]):
        chosen.setdefault(int(s), int(action))
    if any(chosen[int(s)] != int(x) for s, x in zip(a["states"], a["actions"])):
        return  # a state visited with two different actions: no such deterministic pi
    for s in range(q.shape[0]):
        policy[s, chosen.get(s, 0)] = 1.0
    tree = n_step_oracle.tree_backup_episode_exact(q, a["states"], a["actions"][:-1], a["rewards"],
                                                a["terminated"], a["alpha"], a["gamma"], a["n"],
                                                policy)
    sarsa = n_step_oracle.n_step_episode_exact(q, a["states"], a["actions"], a["rewards"],
                                            a["terminated"], a["alpha"], a["gamma"], a["n"])
    assert (tree == sarsa).all()
    reference = n_step.tree_backup_episode(q, a["states"], a["actions"][:-1], a["rewards"],
                                           a["terminated"], a["alpha"], a["gamma"], a["n"], policy)
    np.testing.assert_allclose(reference, _floats(sarsa), rtol=0,
                               atol=path_tolerance(a["n"] + 6, np.abs(q).max() + 24))


@pytest.mark.spec("nstep.sarsa", "nstep.tree-backup", "td.expected-sarsa")
@given(st.data())
def test_one_step_n_step_methods_are_the_one_step_methods(data):
    """n = 1: n-step SARSA is SARSA step by step, tree backup is Expected SARSA."""
    case = data.draw(cases._episode_cases("n-step-sarsa"))
    a = case.arguments
    states, actions, rewards, terminated = a["states"], a["actions"], a["rewards"], a["terminated"]
    q, q_sarsa = a["action_values"], a["action_values"]
    policy = np.full_like(q, 1.0 / q.shape[1])
    q_expected = q
    for t in range(rewards.size):
        done = terminated and t == rewards.size - 1
        q_sarsa = temporal_difference.sarsa_update(q_sarsa, states[t], actions[t], rewards[t],
                                                   states[t + 1], actions[t + 1], done,
                                                   a["alpha"], a["gamma"])
        q_expected = temporal_difference.expected_sarsa_update(
            q_expected, states[t], actions[t], rewards[t], states[t + 1], done, a["alpha"],
            a["gamma"], policy)
    np.testing.assert_allclose(n_step.n_step_sarsa_episode(q, states, actions, rewards, terminated,
                                                           a["alpha"], a["gamma"], 1),
                               q_sarsa, rtol=0, atol=1e-12)
    np.testing.assert_allclose(n_step.tree_backup_episode(q, states, actions[:-1], rewards,
                                                          terminated, a["alpha"], a["gamma"], 1,
                                                          policy),
                               q_expected, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- can fail

MUTANTS = {
    "test_n_step_return_is_the_td_target_at_n_one_and_the_monte_carlo_return_for_n_past_the_end":
        ("n_step_returns", bugs.n_step_bootstraps_terminal),
    "test_expected_n_step_return_is_the_n_fold_bellman_backup":
        ("n_step_returns", bugs.n_step_bootstraps_terminal),
    "test_importance_sampled_n_step_td_update_has_the_target_policys_expectation":
        ("off_policy_n_step_td_episode", bugs.off_policy_td_skips_first_action),
    "test_importance_sampled_n_step_sarsa_update_has_the_target_policys_expectation":
        ("off_policy_n_step_sarsa_episode", bugs.off_policy_sarsa_includes_current_action),
    "test_tree_backup_update_has_the_expectation_of_its_oracle_recursion":
        ("tree_backup_episode", bugs.tree_backup_unweighted_continuation),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, mutant = MUTANTS[test_name]
    monkeypatch.setattr(n_step, attribute, mutant)
    assert fails(globals()[test_name]), f"{test_name} stayed green with {mutant.__name__}"
