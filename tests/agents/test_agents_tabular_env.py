"""The batched torch toy MDP samples what the gymnasium environment samples.

With 20,000 copies stepped once from the same state and action, each next-state frequency
is a binomial proportion; it must lie within 5 standard deviations sqrt(p (1 - p) / n) of
P[s, a, s'] (a false alarm has probability below 1e-6 per entry).  The episode machinery
(terminated at a terminal state, truncated at the time limit, final observations,
returns) is checked on a deterministic MDP where everything is known in advance.
"""

import numpy as np
import torch

from rlspec.agents.envs import make_vector_env
from rlspec.agents.tabular_env import TabularTorchEnv, sample_categorical
from rlspec.toy_mdps import make


def test_next_states_follow_the_transition_table_of_frozenlake():
    mdp, count = make("frozenlake-4x4"), 20_000
    env = TabularTorchEnv(mdp, count)
    env.reset(seed=3)
    state, action = 6, 1
    env.states[:] = state
    step = env.step(torch.full((count,), action))
    frequencies = np.bincount(step.final_observations.argmax(dim=1).numpy(), minlength=16) / count
    expected = mdp.transitions[state, action]
    bound = 5 * np.sqrt(expected * (1 - expected) / count) + 1e-12
    assert np.all(np.abs(frequencies - expected) <= bound), (frequencies, expected)
    assert np.all(frequencies[expected == 0] == 0)


def test_sampling_never_picks_an_index_of_zero_probability():
    rows = torch.cumsum(torch.tensor([[0.0, 0.5, 0.5, 0.0]], dtype=torch.float64), dim=1)
    draws = torch.tensor([0.0, 0.4999, 0.5, 0.99999999, 1.0 - 1e-17], dtype=torch.float64)
    assert sample_categorical(rows.expand(5, -1), draws).tolist() == [1, 1, 2, 2, 2]


def test_episodes_terminate_truncate_and_report_returns_on_the_grid_world():
    """From state 1 of the 4x4 grid world, 'west' (3) reaches terminal state 0 in one step
    with reward -1; 'north' (0) bumps into the wall and stays, so a limit of 3 steps
    truncates with return -3."""
    env = make_vector_env("rlspec/sb-gridworld-4x4-v0", 2, backend="torch", max_episode_steps=3)
    env.reset(seed=0)
    env.states[:] = 1
    step = env.step(torch.tensor([3, 0]))
    assert step.terminated.tolist() == [1.0, 0.0] and step.truncated.tolist() == [0.0, 0.0]
    assert step.final_observations[0].argmax() == 0 and step.episode_returns[0] == -1.0
    assert step.observations[0].argmax() != 0          # reset to a non-terminal start state
    for _ in range(2):
        step = env.step(torch.tensor([3, 0]))
    assert step.truncated[1] == 1.0 and step.terminated[1] == 0.0
    assert step.episode_returns[1] == -3.0 and step.episode_lengths[1] == 3


def test_gymnasium_backend_gives_the_same_interface_with_one_hot_observations():
    env = make_vector_env("rlspec/frozenlake-4x4-v0", 3, backend="gymnasium")
    observations = env.reset(seed=0)
    assert observations.shape == (3, 16) and torch.all(observations.sum(dim=1) == 1)
    step = env.step(torch.tensor([0, 1, 2]))
    assert step.final_observations.shape == (3, 16) and step.done.dtype == torch.bool
    env.close()
