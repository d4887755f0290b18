"""Sparse TabularMDPs, the gymnasium-table converter and the large generators (issue 13)."""

import gymnasium
import numpy as np
import pytest
import rlspec.toy_mdps  # noqa: F401  (registers the gymnasium ids)
import scipy.sparse
from rlspec.toy_mdps import catalogue, large
from rlspec.toy_mdps.mdp import DenseTableTooLargeError, InvalidMDPError, TabularMDP
from rlspec.toy_mdps.random_mdps import random_mdp


def flat(mdp: TabularMDP) -> scipy.sparse.csr_matrix:
    return scipy.sparse.csr_matrix(mdp.transitions.reshape(mdp.n_states * mdp.n_actions, -1))


@pytest.mark.parametrize("episodic", [False, True])
def test_sparse_and_dense_construction_give_the_same_mdp(episodic):
    dense = random_mdp(6, 3, 1.0 if episodic else 0.9, seed=4, branching=2, episodic=episodic,
                       reward_by_transition=True)
    rewards = scipy.sparse.csr_matrix(dense.reward_by_transition.reshape(18, 6))
    sparse = TabularMDP(flat(dense), rewards, dense.gamma, dense.initial_distribution,
                        np.flatnonzero(dense.terminal_states))
    assert sparse.is_sparse and not dense.is_sparse
    assert np.array_equal(sparse.transitions, dense.transitions)
    assert np.array_equal(sparse.reward_by_transition, dense.reward_by_transition)
    assert np.allclose(sparse.rewards, dense.rewards, rtol=0, atol=1e-15)
    assert (sparse.transition_matrix != dense.transition_matrix).nnz == 0
    assert np.array_equal(sparse.with_gamma(0.5).transitions, dense.transitions)


def bad_sparse(edit):
    matrix = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    edit(matrix)
    return scipy.sparse.csr_matrix(matrix)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.__setitem__((0, 0), 0.7), r"row 0 \(s = 0, a = 0\) sums to"),
    (lambda m: m.__setitem__((1, slice(None)), [1.5, -0.5]), "negative probability in row 1"),
    (lambda m: m.__setitem__((2, 0), np.nan), "NaN or an infinite"),
])
def test_bad_sparse_transitions_raise_a_named_error(edit, message):
    with pytest.raises(InvalidMDPError, match=message):
        TabularMDP(bad_sparse(lambda m: edit(m)), np.zeros((2, 2)), 0.9)


def test_sparse_shape_must_match_the_rewards():
    with pytest.raises(InvalidMDPError, match=r"shape \(S \* A, S\) = \(6, 2\)"):
        TabularMDP(bad_sparse(lambda m: None), np.zeros((2, 3)), 0.9)
    with pytest.raises(InvalidMDPError, match="r\\[s, a\\] \\(2-D\\)"):
        TabularMDP(bad_sparse(lambda m: None), np.zeros((2, 2, 2)), 0.9)


def test_sparse_terminal_states_and_gamma_one_are_validated():
    loops_forever = bad_sparse(lambda m: None)  # state 1 loops, state 0 can reach it
    with pytest.raises(InvalidMDPError, match="terminal state 0 must be absorbing"):
        TabularMDP(loops_forever, np.zeros((2, 2)), 0.9, terminal_states=[0])
    with pytest.raises(InvalidMDPError, match=r"states \[0, 1\] cannot"):
        TabularMDP(loops_forever, np.zeros((2, 2)), 1.0)
    mdp = TabularMDP(loops_forever, np.array([[-1.0, -1.0], [0.0, 0.0]]), 1.0,
                     terminal_states=[1])
    assert mdp.terminal_states.tolist() == [False, True]


def test_a_huge_sparse_mdp_refuses_its_dense_table_by_name():
    mdp = large.make_large("chain", 5_000)
    assert mdp.transition_matrix.nnz == 2 * 2 * 5_000  # two outcomes per (s, a), never one cell
    with pytest.raises(DenseTableTooLargeError, match="chain-5000.*GiB"):
        mdp.transitions  # noqa: B018


def test_gymnasium_table_conversion_rejects_conflicting_rewards():
    table = {0: {0: [(0.5, 1, 1.0, True), (0.5, 1, 2.0, True)]}, 1: {0: [(1.0, 1, 0.0, True)]}}
    with pytest.raises(InvalidMDPError, match="cannot hold both"):
        catalogue.from_gymnasium_table(table, 2, 1, 0.9, [1.0, 0.0])


def test_gymnasium_table_conversion_worked_example():
    table = {0: {0: [(1.0, 1, 1.0, True)]}, 1: {0: [(1.0, 1, 0.0, True)]}}
    mdp = catalogue.from_gymnasium_table(table, 2, 1, 0.9, [1.0, 0.0])
    assert mdp.transitions[0, 0, 1] == 1.0 and mdp.reward_by_transition[0, 0, 1] == 1.0
    assert mdp.terminal_states.tolist() == [False, True]


@pytest.mark.parametrize("side, seed", [(4, 0), (7, 3), (9, 11)])
def test_vectorised_frozenlake_equals_gymnasium_own_table(side, seed):
    from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv

    env = FrozenLakeEnv(desc=large.frozenlake_map(side, seed), is_slippery=True)
    expected = catalogue.from_gymnasium_table(env.P, side * side, 4, 0.99,
                                              env.initial_state_distrib)
    built = large.frozenlake(side, seed)
    assert (built.transition_matrix != expected.transition_matrix).nnz == 0
    assert (built.reward_matrix != expected.reward_matrix).nnz == 0
    assert np.array_equal(built.terminal_states, expected.terminal_states)
    assert np.array_equal(built.initial_distribution, expected.initial_distribution)


def test_grid_world_moves_and_slips_as_documented():
    mdp = large.grid_world(3, wall_density=0.0, slip=0.2)
    north, south, east, west = range(4)
    centre, above, below, right, left = 4, 1, 7, 5, 3
    assert mdp.transitions[centre, north, above] == 0.8
    assert mdp.transitions[centre, north, right] == mdp.transitions[centre, north, left] == 0.1
    assert mdp.transitions[0, west, 0] == 0.8 + 0.1  # the wall bump and the north slip stay
    assert mdp.terminal_states[8] and mdp.rewards[0, south] == -1.0
    walled = large.grid_world(20, seed=5, wall_density=0.3)
    walls = np.flatnonzero(np.random.default_rng(5).random((20, 20)).reshape(-1) < 0.3)
    walls = walls[(walls != 0) & (walls != 399)]
    open_rows = np.flatnonzero(~np.isin(np.repeat(np.arange(400), 4), walls))
    assert walls.size > 0 and walled.transition_matrix[open_rows][:, walls].nnz == 0


@pytest.mark.parametrize("name", list(large.LARGE_MDPS))
def test_make_large_is_deterministic_and_sized(name):
    first, second = large.make_large(name, 400, seed=2), large.make_large(name, 400, seed=2)
    assert first.n_states == 400
    assert (first.transition_matrix != second.transition_matrix).nnz == 0
    assert np.array_equal(first.rewards, second.rewards)
    assert large.describe_large(f"large-{name}-400-seed2").startswith(f"large-{name}-400")


def test_large_names_parse_and_bad_ones_are_named():
    assert large.parse_large_name("large-random-1000-seed2") == ("random", 1000, 2)
    assert large.make_large_named("large-grid-100").n_states == 100
    with pytest.raises(KeyError, match="large-<kind>-<size>"):
        large.parse_large_name("large-maze-100")
    with pytest.raises(KeyError, match="unknown large MDP"):
        large.make_large("maze", 100)
    with pytest.raises(InvalidMDPError, match="size must be an integer >= 2"):
        large.make_large("grid", 1)


def test_large_gymnasium_ids_take_a_size_and_step_sparse_tables():
    env = gymnasium.make("rlspec/large-grid-v0", size=10_000, seed=1, max_episode_steps=5)
    state, _ = env.reset(seed=0)
    assert state == 0 and env.observation_space.n == 10_000
    next_state, reward, terminated, truncated, info = env.step(1)
    assert reward == -1.0 and info["prob"] in (0.8, 0.1, 0.9)
    assert next_state in (0, 1, 100)  # south, or a slip east, or a bump


def test_large_cases_yield_labelled_mdps_with_policies():
    cases = list(large.large_cases(max_states=2_500))
    assert [label for label, _, _ in cases] == ["large-frozenlake-2500-seed0"]
    _, mdp, policy = cases[0]
    assert policy.shape == (mdp.n_states,) and policy.max() < mdp.n_actions
