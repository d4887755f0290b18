"""A toy MDP batched in torch: thousands of copies stepped at once, on any device.

It samples exactly what :class:`rlspec.toy_mdps.TabularMDPEnv` under its registered
``TimeLimit`` samples: s_0 from the initial distribution, s' from ``P[s, a, :]``, the
reward ``R[s, a, s']`` (or ``r(s, a)``), ``terminated`` when s' is terminal, ``truncated``
after ``max_episode_steps`` steps.  The difference is speed: one step of all N copies is a
handful of tensor operations (inverse-CDF sampling against the cumulative rows of P)
instead of N Python calls.  Observations are one-hot, as in :class:`agents.envs.GymVectorEnv`.
"""

from __future__ import annotations

import numpy as np
import torch

from rlspec.agents.envs import EpisodeTracker, Step, VectorEnv
from rlspec.toy_mdps import TabularMDP
from rlspec.toy_mdps.gym_envs import MAX_EPISODE_STEPS

__all__ = ["TabularTorchEnv", "sample_categorical"]


def sample_categorical(cumulative_rows, uniform) -> torch.Tensor:
    """Inverse-CDF sampling: the first index k with ``u < cumulative[k]``, for each row.

    ``cumulative_rows[N, K]`` are cumulative sums of probability rows; u uniform on [0, 1)
    then picks k with probability ``p_k``.  Rounding can leave the last cumulative value a
    hair under 1, so the index is capped at the last entry of positive probability (the
    one whose cumulative sum first reaches the row's total).
    """
    index = (uniform.unsqueeze(1) >= cumulative_rows).sum(dim=1)
    last_positive = (cumulative_rows < cumulative_rows[:, -1:]).sum(dim=1)
    return torch.minimum(index, last_positive)


class TabularTorchEnv(VectorEnv):
    """``num_envs`` copies of ``mdp``, stepped together (see the module docstring)."""

    def __init__(self, mdp: TabularMDP, num_envs: int, device="cpu",
                 max_episode_steps: int = MAX_EPISODE_STEPS):
        self.mdp, self.num_envs, self.device = mdp, num_envs, torch.device(device)
        self.observation_size, self.n_actions = mdp.n_states, mdp.n_actions
        self.discrete_actions, self.action_low, self.action_high = True, None, None
        self.max_episode_steps = max_episode_steps
        as_tensor = lambda array: torch.tensor(np.asarray(array, dtype=np.float64),  # noqa: E731
                                                  device=self.device)
        self.cumulative_transitions = torch.cumsum(as_tensor(mdp.transitions), dim=2)
        self.cumulative_initial = torch.cumsum(as_tensor(mdp.initial_distribution), dim=0)
        rewards = (mdp.reward_by_transition if mdp.reward_by_transition is not None
                   else np.repeat(mdp.rewards[:, :, None], mdp.n_states, axis=2))
        self.rewards = as_tensor(rewards).float()            # R[s, a, s']
        self.terminal = torch.tensor(np.asarray(mdp.terminal_states), device=self.device)
        self.identity = torch.eye(mdp.n_states, device=self.device)
        self.states = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.elapsed = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self.generator = torch.Generator(device=self.device)
        self.tracker = EpisodeTracker(num_envs, self.device)

    def _initial_states(self, count: int) -> torch.Tensor:
        uniform = torch.rand(count, generator=self.generator, device=self.device,
                             dtype=torch.float64)
        rows = self.cumulative_initial.expand(count, -1)
        return sample_categorical(rows, uniform)

    def reset(self, seed: int) -> torch.Tensor:
        self.generator.manual_seed(seed)
        self.states = self._initial_states(self.num_envs)
        self.elapsed.zero_()
        return self.identity[self.states]

    def step(self, actions: torch.Tensor) -> Step:
        actions = actions.to(self.device).long()
        uniform = torch.rand(self.num_envs, generator=self.generator, device=self.device,
                             dtype=torch.float64)
        next_states = sample_categorical(self.cumulative_transitions[self.states, actions], uniform)
        rewards = self.rewards[self.states, actions, next_states]
        self.elapsed += 1
        terminated = self.terminal[next_states]
        truncated = (self.elapsed >= self.max_episode_steps) & ~terminated
        done = terminated | truncated
        final_observations = self.identity[next_states]
        # Reset where an episode ended, without asking the device whether one did.
        self.states = torch.where(done, self._initial_states(self.num_envs), next_states)
        self.elapsed = self.elapsed * ~done
        returns, lengths = self.tracker.update(rewards.double(), done)
        return Step(self.identity[self.states], rewards, terminated.float(), truncated.float(),
                    final_observations, done, returns, lengths)
