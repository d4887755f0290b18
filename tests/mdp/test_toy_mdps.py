"""The toy MDPs: validation, the catalogue against its published numbers, the gymnasium
models against gymnasium's own tables and environments, and the random MDPs.

Book numbers are quoted from Sutton & Barto, *Reinforcement Learning: An Introduction*,
2nd edition (MIT Press, 2018), as printed (one decimal place).  Every value here is
computed by the oracles (linear solve, linear program, exact rationals), never by the
reference implementations under test elsewhere.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from fractions import Fraction

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlspec.toy_mdps
from rlspec.oracles.methods.exact_rational import evaluate_policy_exact
from rlspec.oracles.methods.linear_program import optimal_values_lp
from rlspec.oracles.dynamic_programming import evaluate_policy
from rlspec.toy_mdps import InvalidMDPError, TabularMDP, TabularMDPEnv, catalogue
from rlspec.toy_mdps.gym_envs import MAX_EPISODE_STEPS, env_id, register_environments
from rlspec.toy_mdps.random_mdps import random_mdp

GYM_TABLE_NAMES = ["frozenlake-4x4", "frozenlake-8x8", "taxi", "cliffwalking-gym"]
GRID_NAMES = ["sb-gridworld-5x5", "sb-gridworld-4x4", "cliff-walking", "frozenlake-4x4",
              "frozenlake-8x8", "cliffwalking-gym"]


def uniform_policy(mdp: TabularMDP) -> np.ndarray:
    return np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)


def deterministic_mdp_tables(n_states=2, n_actions=1):
    """Everything stays put, reward 0: a valid base that each validation test breaks once."""
    transitions = np.zeros((n_states, n_actions, n_states))
    for state in range(n_states):
        transitions[state, :, state] = 1.0
    return transitions, np.zeros((n_states, n_actions))


# --------------------------------------------------------------------------------------
# TabularMDP validation: every bad table is rejected with a message naming the problem
# --------------------------------------------------------------------------------------

def test_valid_tables_are_accepted_and_become_read_only():
    transitions, rewards = deterministic_mdp_tables()
    mdp = TabularMDP(transitions, rewards, 0.9)
    assert (mdp.n_states, mdp.n_actions) == (2, 1)
    with pytest.raises(ValueError, match="read-only"):
        mdp.transitions[0, 0, 0] = 0.5


def test_rejects_rows_not_summing_to_one():
    transitions, rewards = deterministic_mdp_tables()
    transitions[1, 0, 0] = 0.5
    # validation.py formats the sum with !r, so numpy 2 prints np.float64(1.5): allow both.
    with pytest.raises(InvalidMDPError,
                       match=r"rows must sum to 1.*index \(1, 0\) sums to (np.float64\()?1.5"):
        TabularMDP(transitions, rewards, 0.9)


def test_rejects_negative_probabilities():
    transitions, rewards = deterministic_mdp_tables()
    transitions[0, 0] = [1.5, -0.5]
    with pytest.raises(InvalidMDPError,
                       match=r"negative probability (np.float64\()?-0.5\)? at index \(0, 0, 1\)"):
        TabularMDP(transitions, rewards, 0.9)


def test_rejects_nan_in_transitions_and_rewards():
    transitions, rewards = deterministic_mdp_tables()
    transitions[0, 0, 1] = np.nan
    with pytest.raises(InvalidMDPError, match=r"transitions.*contains NaN"):
        TabularMDP(transitions, rewards, 0.9)
    transitions, rewards = deterministic_mdp_tables()
    rewards[1, 0] = np.nan
    with pytest.raises(InvalidMDPError, match=r"rewards.*contains NaN"):
        TabularMDP(transitions, rewards, 0.9)


def test_rejects_shape_mismatches():
    transitions, rewards = deterministic_mdp_tables(n_states=2, n_actions=1)
    with pytest.raises(InvalidMDPError, match=r"rewards r\[s, a\] must have shape \(2, 1\)"):
        TabularMDP(transitions, np.zeros((2, 3)), 0.9)
    with pytest.raises(InvalidMDPError, match="first and last axes differ"):
        TabularMDP(np.full((2, 1, 3), 1.0 / 3.0), rewards, 0.9)
    with pytest.raises(InvalidMDPError, match=r"rewards R\[s, a, s'\] must have shape"):
        TabularMDP(transitions, np.zeros((2, 1, 3)), 0.9)
    with pytest.raises(InvalidMDPError, match="initial_distribution must have shape"):
        TabularMDP(transitions, rewards, 0.9, initial_distribution=[1.0])


@pytest.mark.parametrize("gamma", [-0.1, 1.5, float("nan"), float("inf")])
def test_rejects_gamma_outside_the_unit_interval(gamma):
    transitions, rewards = deterministic_mdp_tables()
    with pytest.raises(InvalidMDPError, match=r"gamma must lie in \[0, 1\]"):
        TabularMDP(transitions, rewards, gamma)


def test_rejects_gamma_one_without_guaranteed_termination():
    transitions, rewards = deterministic_mdp_tables()  # state 1 loops forever
    transitions[0, 0] = [0.0, 1.0]
    with pytest.raises(InvalidMDPError, match=r"gamma = 1 needs every state .* \[0, 1\]"):
        TabularMDP(transitions, rewards, 1.0)
    # With state 1 terminal, the same tables are a valid episodic MDP.
    assert TabularMDP(transitions, rewards, 1.0, terminal_states=[1]).gamma == 1.0


def test_rejects_a_terminal_state_that_is_not_absorbing():
    transitions, rewards = deterministic_mdp_tables()
    transitions[1, 0] = [1.0, 0.0]
    with pytest.raises(InvalidMDPError, match="terminal state 1 must be absorbing"):
        TabularMDP(transitions, rewards, 0.9, terminal_states=[1])


def test_rejects_a_terminal_state_that_pays_a_reward():
    transitions, rewards = deterministic_mdp_tables()
    rewards[1, 0] = 3.0
    with pytest.raises(InvalidMDPError, match=r"terminal state 1 must pay reward 0, got \[3.0\]"):
        TabularMDP(transitions, rewards, 0.9, terminal_states=[1])


def test_rejects_a_terminal_state_out_of_range():
    transitions, rewards = deterministic_mdp_tables()
    with pytest.raises(InvalidMDPError, match=r"terminal state 2 is not in range\(0, 2\)"):
        TabularMDP(transitions, rewards, 0.9, terminal_states=[2])


# --------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", catalogue.names())
def test_every_named_mdp_builds_and_cites_its_source(name):
    mdp = catalogue.make(name)
    assert isinstance(mdp, TabularMDP)
    assert mdp.name == name
    assert "Source:" in catalogue.builder(name).__doc__
    assert catalogue.describe(name).startswith(f"{name}: ")
    # The spec's terminal convention holds in every MDP of the catalogue.
    for state in np.flatnonzero(mdp.terminal_states):
        assert np.all(mdp.transitions[state, :, state] == 1.0)
        assert np.all(mdp.rewards[state] == 0.0)


@pytest.mark.parametrize("name", GRID_NAMES)
def test_grid_worlds_are_row_major_with_cell_labels(name):
    mdp = catalogue.make(name)
    rows, cols = mdp.grid_shape
    assert mdp.n_states == rows * cols
    assert mdp.state_labels[cols + 2] == "(1,2)"


def test_an_unknown_name_lists_the_valid_names():
    with pytest.raises(KeyError, match=r"unknown MDP name 'gridworld'.*sb-gridworld-5x5.*"
                                       r"cliffwalking-gym.*chain-N \(N >= 2\).*bandit-K"):
        catalogue.make("gridworld")


@pytest.mark.parametrize("name", ["chain-1", "bandit-0"])
def test_patterns_reject_sizes_below_their_minimum(name):
    with pytest.raises(KeyError, match=r"needs [NK] >= [12]"):
        catalogue.make(name)


def test_patterns_accept_any_size_and_gamma_overrides_the_default():
    assert catalogue.make("chain-7").n_states == 7
    assert catalogue.make("bandit-3").n_actions == 3
    assert catalogue.make("chain-2", gamma=0.5).gamma == 0.5
    assert catalogue.make("random-walk-5", gamma=0.9).gamma == 0.9
    assert catalogue.make("sb-gridworld-5x5").gamma == 0.9


def test_gamma_one_is_rejected_for_a_continuing_task():
    with pytest.raises(InvalidMDPError, match="gamma = 1 needs every state"):
        catalogue.make("sb-gridworld-5x5", gamma=1.0)


# Sutton & Barto (2018), Figure 3.2: state values of the equiprobable random
# policy in the gridworld of Example 3.5, gamma = 0.9, as printed.
FIGURE_3_2 = np.array([
    [3.3, 8.8, 4.4, 5.3, 1.5],
    [1.5, 3.0, 2.3, 1.9, 0.5],
    [0.1, 0.7, 0.7, 0.4, -0.4],
    [-1.0, -0.4, -0.4, -0.6, -1.2],
    [-1.9, -1.3, -1.2, -1.4, -2.0],
])

# Sutton & Barto (2018), Figure 3.5 (Example 3.8): v* of the same gridworld.
FIGURE_3_5 = np.array([
    [22.0, 24.4, 22.0, 19.4, 17.5],
    [19.8, 22.0, 19.8, 17.8, 16.0],
    [17.8, 19.8, 17.8, 16.0, 14.4],
    [16.0, 17.8, 16.0, 14.4, 13.0],
    [14.4, 16.0, 14.4, 13.0, 11.7],
])

# Sutton & Barto (2018), Figure 4.1 (Example 4.1), the k = infinity panel: v of the
# equiprobable random policy in the 4x4 gridworld, gamma = 1.  The exact values are integers.
FIGURE_4_1 = np.array([
    [0, -14, -20, -22],
    [-14, -18, -20, -20],
    [-20, -20, -18, -14],
    [-22, -20, -14, 0],
])


def test_gridworld_5x5_random_policy_matches_figure_3_2():
    mdp = catalogue.make("sb-gridworld-5x5")
    values = evaluate_policy(mdp.transitions, mdp.rewards, mdp.gamma, uniform_policy(mdp))
    # The solve is accurate to ~1e-14 (condition number <= 19), far below the printed
    # rounding, so rounding to one decimal must reproduce the table exactly.
    np.testing.assert_array_equal(np.round(values.reshape(5, 5), 1), FIGURE_3_2)


def test_gridworld_5x5_optimal_values_match_figure_3_5():
    mdp = catalogue.make("sb-gridworld-5x5")
    values = optimal_values_lp(mdp.transitions, mdp.rewards, mdp.gamma)
    # LP error <= 16 * 1e-10 / (1 - 0.9) * 10 ~ 2e-7 (accuracy.linear_program_tolerance),
    # no printed entry lies that close to a rounding boundary.
    np.testing.assert_array_equal(np.round(values.reshape(5, 5), 1), FIGURE_3_5)


def test_gridworld_4x4_random_policy_matches_figure_4_1_exactly():
    mdp = catalogue.make("sb-gridworld-4x4")
    values = evaluate_policy(mdp.transitions, mdp.rewards, mdp.gamma, uniform_policy(mdp))
    np.testing.assert_array_equal(np.round(values.reshape(4, 4), 1), FIGURE_4_1)
    exact = evaluate_policy_exact(mdp.transitions, mdp.rewards, mdp.gamma, uniform_policy(mdp))
    assert exact == [Fraction(int(value)) for value in FIGURE_4_1.reshape(-1)]


def test_random_walk_5_values_are_one_sixth_to_five_sixths():
    # Sutton & Barto (2018), Example 6.2: true values of A..E are 1/6, ..., 5/6.
    mdp = catalogue.make("random-walk-5")
    values = evaluate_policy(mdp.transitions, mdp.rewards, mdp.gamma, uniform_policy(mdp))
    np.testing.assert_allclose(values[1:6], np.arange(1, 6) / 6, rtol=0, atol=1e-12)
    assert values[0] == values[6] == 0.0
    exact = evaluate_policy_exact(mdp.transitions, mdp.rewards, mdp.gamma, uniform_policy(mdp))
    assert exact[1:6] == [Fraction(k, 6) for k in range(1, 6)]
    assert mdp.initial_distribution[3] == 1.0 and mdp.state_labels[3] == "C"


def test_random_walk_19_values_are_i_minus_10_over_10():
    # Sutton & Barto (2018), Example 7.1: true value of state i is (i - 10) / 10.
    mdp = catalogue.make("random-walk-19")
    exact = evaluate_policy_exact(mdp.transitions, mdp.rewards, mdp.gamma, uniform_policy(mdp))
    assert exact[1:20] == [Fraction(i - 10, 10) for i in range(1, 20)]
    assert mdp.initial_distribution[10] == 1.0


@pytest.mark.parametrize("name", ["cliff-walking", "cliffwalking-gym"])
def test_cliff_walking_optimal_return_from_the_start_is_minus_13(name):
    # Sutton & Barto (2018), Example 6.6: the optimal path runs along the cliff
    # edge, 13 steps of -1.
    mdp = catalogue.make(name, gamma=1.0)
    start = int(np.flatnonzero(mdp.initial_distribution)[0])
    assert mdp.state_labels[start] == "(3,0)"
    values = optimal_values_lp(mdp.transitions, mdp.rewards, mdp.gamma)
    # gamma = 1: no contraction bound; the LP optimum is a vertex whose constraints are
    # met to 1e-10 each along the 13-step path, so 1e-8 covers it with room.
    assert abs(values[start] - (-13.0)) <= 1e-8


def test_cliff_walking_edge_path_and_cliff_penalty():
    mdp = catalogue.make("cliff-walking")
    north, south, east, west = range(4)
    start, goal = 36, 47
    assert mdp.transitions[start, east, start] == 1.0 and mdp.rewards[start, east] == -100.0
    assert mdp.transitions[start, west, start] == 1.0 and mdp.rewards[start, west] == -1.0
    assert mdp.transitions[35, south, goal] == 1.0 and mdp.rewards[35, south] == -1.0
    # A cliff cell behaves exactly like the start (documented choice).
    np.testing.assert_array_equal(mdp.transitions[40], mdp.transitions[start])
    np.testing.assert_array_equal(mdp.rewards[40], mdp.rewards[start])


@pytest.mark.parametrize("gamma", [0.0, 0.25, 0.5, 0.9, 0.99])
def test_two_state_closed_forms(gamma):
    mdp = catalogue.make("two-state", gamma=gamma)
    random_values = evaluate_policy(mdp.transitions, mdp.rewards, gamma, uniform_policy(mdp))
    optimal = optimal_values_lp(mdp.transitions, mdp.rewards, gamma)
    expected_random = np.array([2 + gamma, 4 - gamma]) / (4 * (1 - gamma))
    expected_optimal = np.array([1 + gamma, 2]) / (1 - gamma)
    # Solve error ~ n eps kappa <= 2 * 2.2e-16 * 199 * 200: 1e-9 is generous; the LP
    # tolerance is 16e-10 / (1 - gamma) * |V| <= 6e-4 at gamma 0.99.
    np.testing.assert_allclose(random_values, expected_random, rtol=1e-9)
    np.testing.assert_allclose(optimal, expected_optimal, rtol=0,
                               atol=16e-10 / (1 - gamma) * max(expected_optimal.max(), 1))


def test_two_state_rejects_gamma_one():
    with pytest.raises(InvalidMDPError, match="gamma = 1"):
        catalogue.make("two-state", gamma=1.0)


def test_chain_slips_to_the_opposite_action():
    mdp = catalogue.make("chain-5")
    forward, back = 0, 1
    reward = mdp.reward_by_transition
    assert mdp.transitions[2, forward, 3] == 0.8 and mdp.transitions[2, forward, 0] == 0.2
    assert reward[2, forward, 3] == 0.0 and reward[2, forward, 0] == 2.0
    assert mdp.transitions[2, back, 0] == 0.8 and mdp.transitions[2, back, 3] == 0.2
    assert mdp.transitions[4, forward, 4] == 0.8 and reward[4, forward, 4] == 10.0
    np.testing.assert_allclose(mdp.rewards[4], [0.8 * 10 + 0.2 * 2, 0.8 * 2 + 0.2 * 10])
    assert mdp.transitions[0, back, 0] == 0.8 and mdp.transitions[0, back, 1] == 0.2


def test_bandit_arms_are_the_seeded_testbed_means():
    mdp = catalogue.make("bandit-10")
    means = np.random.default_rng(0).normal(0.0, 1.0, 10)
    np.testing.assert_array_equal(mdp.rewards[0], means)
    values = optimal_values_lp(mdp.transitions, mdp.rewards, mdp.gamma)
    assert abs(values[0] - means.max()) <= 1e-8
    assert catalogue.make("bandit-10").rewards.tobytes() == mdp.rewards.tobytes()


# --------------------------------------------------------------------------------------
# Models read from gymnasium's tables
# --------------------------------------------------------------------------------------

def gymnasium_env(name):
    env_name, kwargs = catalogue.gymnasium_source(name)
    return gymnasium.make(env_name, **kwargs).unwrapped


def reachable_states(mdp: TabularMDP) -> set[int]:
    """Breadth-first search from the start states over positive-probability transitions."""
    frontier = list(np.flatnonzero(mdp.initial_distribution > 0))
    seen = set(int(s) for s in frontier)
    while frontier:
        state = frontier.pop()
        for next_state in np.flatnonzero(mdp.transitions[state].sum(axis=0) > 0):
            if int(next_state) not in seen:
                seen.add(int(next_state))
                frontier.append(int(next_state))
    return seen


@pytest.mark.parametrize("name", GYM_TABLE_NAMES)
def test_gym_model_agrees_with_the_gymnasium_table(name):
    mdp = catalogue.make(name)
    env = gymnasium_env(name)
    table = env.P
    flagged = {int(s_next) for s in table for a in table[s]
               for _, s_next, _, terminated in table[s][a] if terminated}
    assert set(np.flatnonzero(mdp.terminal_states)) == flagged
    np.testing.assert_array_equal(mdp.initial_distribution, env.initial_state_distrib)
    reachable = reachable_states(mdp)
    for state in range(mdp.n_states):
        if mdp.terminal_states[state]:
            continue
        for action in range(mdp.n_actions):
            expected = np.zeros(mdp.n_states)
            for probability, next_state, reward, terminated in table[state][action]:
                expected[next_state] += probability
                assert mdp.reward_by_transition[state, action, next_state] == reward
                if state in reachable:
                    assert bool(terminated) == bool(mdp.terminal_states[next_state])
            np.testing.assert_array_equal(mdp.transitions[state, action], expected)


def live_state_actions(mdp):
    """Every (state, action) with the state reachable from the start and not terminal."""
    for state in sorted(reachable_states(mdp)):
        if not mdp.terminal_states[state]:
            yield from ((state, action) for action in range(mdp.n_actions))


@pytest.mark.parametrize("name", ["taxi", "cliffwalking-gym"])
def test_deterministic_gym_model_agrees_with_stepping_the_env(name):
    mdp = catalogue.make(name)
    env = gymnasium_env(name)
    env.reset(seed=0)
    for state, action in live_state_actions(mdp):
        env.s = state
        next_state, reward, terminated, truncated, _ = env.step(action)
        assert mdp.transitions[state, action, next_state] == 1.0
        assert mdp.reward_by_transition[state, action, next_state] == reward
        assert terminated == mdp.terminal_states[next_state] and not truncated


@pytest.mark.parametrize("name", ["frozenlake-4x4", "frozenlake-8x8"])
def test_slippery_gym_model_agrees_with_stepping_the_env(name):
    mdp = catalogue.make(name)
    env = gymnasium_env(name)
    env.reset(seed=1)
    for state, action in live_state_actions(mdp):
        for _ in range(8):
            env.s = state
            next_state, reward, terminated, _, _ = env.step(action)
            assert mdp.transitions[state, action, next_state] > 0
            assert mdp.reward_by_transition[state, action, next_state] == reward
            assert terminated == mdp.terminal_states[next_state]


def test_frozenlake_slip_frequencies_match_the_model():
    mdp = catalogue.make("frozenlake-4x4")
    env = gymnasium_env("frozenlake-4x4")
    env.reset(seed=2)
    state, action, samples = 6, 2, 3000  # (1,2) moving right: to 2, 7 (hole) or 10
    counts = np.zeros(mdp.n_states)
    for _ in range(samples):
        env.s = state
        counts[env.step(action)[0]] += 1
    probabilities = mdp.transitions[state, action]
    # Five binomial standard deviations: a false alarm has probability below 1e-6 (and
    # the seed is fixed, so the test is deterministic anyway).
    bound = 5 * np.sqrt(probabilities * (1 - probabilities) / samples)
    assert np.all(np.abs(counts / samples - probabilities) <= bound + 1e-12)


def test_frozenlake_holes_and_goal_are_terminal():
    mdp = catalogue.make("frozenlake-4x4")
    assert np.flatnonzero(mdp.terminal_states).tolist() == [5, 7, 11, 12, 15]
    assert mdp.reward_by_transition[14, 2, 15] == 1.0  # entering the goal pays 1
    assert mdp.rewards[15].tolist() == [0.0] * 4


# --------------------------------------------------------------------------------------
# Gymnasium environments
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", catalogue.names())
def test_registered_env_passes_the_gymnasium_checker(name):
    env = gymnasium.make(env_id(name))
    assert env.spec.max_episode_steps == MAX_EPISODE_STEPS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("name", ["sb-gridworld-4x4", "chain-5", "frozenlake-8x8"])
def test_seeded_rollouts_are_reproducible(name):
    def rollout(seed):
        env = gymnasium.make(env_id(name))
        env.action_space.seed(seed)
        trajectory = [env.reset(seed=seed)[0]]
        for _ in range(60):
            observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            trajectory.append((observation, reward, terminated, truncated))
            if terminated or truncated:
                trajectory.append(env.reset()[0])
        return trajectory

    assert rollout(7) == rollout(7)
    assert rollout(7) != rollout(8)


@pytest.mark.parametrize("action", [-1, 4, 0.5, "north", None])
def test_invalid_actions_are_rejected(action):
    env = TabularMDPEnv("sb-gridworld-4x4")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"the action must be an integer in range\(0, 4\)"):
        env.step(action)


def test_step_before_reset_is_an_error():
    with pytest.raises(gymnasium.error.ResetNeeded, match="before reset"):
        TabularMDPEnv("two-state").step(0)


def test_cliff_walking_env_edge_path_returns_minus_13():
    env = gymnasium.make(env_id("cliff-walking"))
    observation, _ = env.reset(seed=0)
    assert observation == 36
    north, south, east, west = range(4)
    total, terminated = 0.0, False
    for action in [north] + [east] * 11 + [south]:
        assert not terminated
        observation, reward, terminated, truncated, info = env.step(action)
        total += reward
        assert info["prob"] == 1.0 and not truncated
    assert (observation, total, terminated) == (47, -13.0, True)


def test_env_samples_rewards_by_transition_and_transition_frequencies():
    env = TabularMDPEnv("chain-5")
    env.reset(seed=3)
    samples, outcomes = 4000, {0: 0, 3: 0}
    for _ in range(samples):
        env.state = 2
        next_state, reward, terminated, _, info = env.step(0)
        assert reward == {3: 0.0, 0: 2.0}[next_state] and not terminated
        assert info["prob"] == {3: 0.8, 0: 0.2}[next_state]
        outcomes[next_state] += 1
    # 5 binomial standard deviations, sqrt(0.16 / 4000) each.
    assert abs(outcomes[0] / samples - 0.2) <= 5 * np.sqrt(0.16 / samples)


def test_reset_samples_the_initial_distribution():
    env = TabularMDPEnv("taxi")
    starts = {env.reset(seed=seed)[0] for seed in range(200)}
    assert all(env.mdp.initial_distribution[s] > 0 for s in starts)
    assert len(starts) > 100  # uniform over 300 states


def test_ansi_render_marks_the_agent_on_the_grid():
    env = TabularMDPEnv("sb-gridworld-4x4", render_mode="ansi")
    env.reset(seed=0)
    env.state = 5
    assert env.render() == "T . . .\n. x . .\n. . . .\n. . . T\n"


def test_registration_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_environments()
        importlib.reload(rlspec.toy_mdps)
    assert env_id("sb-gridworld-5x5") in gymnasium.envs.registry


@pytest.mark.slow
def test_gymnasium_make_imports_the_module_named_in_the_id():
    code = ("import gymnasium, sys; "
            "env = gymnasium.make('rlspec.toy_mdps:rlspec/sb-gridworld-5x5-v0'); "
            "print(env.reset(seed=0)[0] in range(25), 'rlspec.toy_mdps' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.split() == ["True", "True"]


# --------------------------------------------------------------------------------------
# Random MDPs
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("episodic", [False, True])
def test_random_mdp_same_seed_gives_identical_tables(episodic):
    first = random_mdp(6, 3, 0.9, seed=11, branching=2, episodic=episodic,
                       reward_by_transition=True)
    second = random_mdp(6, 3, 0.9, seed=11, branching=2, episodic=episodic,
                        reward_by_transition=True)
    other = random_mdp(6, 3, 0.9, seed=12, branching=2, episodic=episodic,
                       reward_by_transition=True)
    assert first.transitions.tobytes() == second.transitions.tobytes()
    assert first.reward_by_transition.tobytes() == second.reward_by_transition.tobytes()
    assert first.transitions.tobytes() != other.transitions.tobytes()


def test_random_mdp_branching_limits_the_successors():
    mdp = random_mdp(10, 2, 0.9, seed=0, branching=3)
    assert np.all((mdp.transitions > 0).sum(axis=2) <= 3)


def test_random_mdp_episodic_mode_is_valid_with_gamma_one():
    mdp = random_mdp(8, 3, 1.0, seed=5, branching=2, episodic=True,
                     termination_probability=0.25)
    assert np.flatnonzero(mdp.terminal_states).tolist() == [7]
    assert np.all(mdp.transitions[:7, :, 7] >= 0.25)
    assert mdp.initial_distribution[7] == 0.0
    values = evaluate_policy(mdp.transitions, mdp.rewards, 1.0, uniform_policy(mdp))
    # |V| <= max|r| times the expected episode length, at most 1 / 0.25 steps.
    assert np.all(np.abs(values) <= np.abs(mdp.rewards).max() * 4 + 1e-9)


def test_random_mdp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="episodic=True needs n_states >= 2"):
        random_mdp(1, 1, 0.9, seed=0, episodic=True)
    with pytest.raises(ValueError, match="branching must lie in"):
        random_mdp(3, 1, 0.9, seed=0, branching=4)
    with pytest.raises(InvalidMDPError, match="gamma = 1 needs every state"):
        random_mdp(3, 2, 1.0, seed=0)
