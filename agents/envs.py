"""Vector environments as torch tensors: one interface for gymnasium ids and batched toy MDPs.

Every agent sees the same :class:`VectorEnv` interface:

* ``reset(seed) -> observations[N, obs_dim]`` (float32, on the agent's device);
* ``step(actions) -> Step`` with the observations to act on next (already reset where an
  episode ended), the rewards, ``terminated`` and ``truncated`` flags, and
  ``final_observations``: the observation each step actually led to, which is the one to
  bootstrap from (it differs from ``observations`` exactly where an episode ended);
* ``done`` and, where it is set, the return and length of the episode that just ended
  (kept as device tensors, so that a GPU run never waits on the host).

A Discrete observation (toy MDPs, Taxi, FrozenLake) is one-hot encoded, so that the same
networks see the tabular state.  For ``rlspec/<name>-v0`` ids the environment also carries
its :class:`~rlspec.toy_mdps.TabularMDP` (``env.mdp``) for exact evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

import rlspec.toy_mdps  # noqa: F401  (registers the rlspec/<name>-v0 ids)
from rlspec.toy_mdps import catalogue

__all__ = ["Step", "VectorEnv", "GymVectorEnv", "make_vector_env", "toy_mdp_name"]

#: The prefix and suffix of the toy MDPs' gymnasium ids.
TOY_PREFIX, TOY_SUFFIX = "rlspec/", "-v0"


def toy_mdp_name(env_id: str) -> str | None:
    """``frozenlake-4x4`` for ``rlspec/frozenlake-4x4-v0``; None for any other id."""
    if env_id.startswith(TOY_PREFIX) and env_id.endswith(TOY_SUFFIX):
        name = env_id[len(TOY_PREFIX):-len(TOY_SUFFIX)]
        if name in catalogue.names():
            return name
    return None


@dataclass
class Step:
    observations: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    final_observations: torch.Tensor
    done: torch.Tensor               # bool [N]: terminated or truncated
    episode_returns: torch.Tensor    # [N], the finished episode's return where done
    episode_lengths: torch.Tensor    # [N], its length where done


class VectorEnv:
    """What the agents need to know of a batch of N environments (see the module)."""

    num_envs: int
    observation_size: int
    discrete_actions: bool
    n_actions: int          # discrete: the number of actions; continuous: the dimension
    action_low: torch.Tensor | None
    action_high: torch.Tensor | None
    mdp = None              # the TabularMDP for toy MDPs
    device: torch.device

    def reset(self, seed: int) -> torch.Tensor:
        raise NotImplementedError

    def step(self, actions: torch.Tensor) -> Step:
        raise NotImplementedError

    def close(self) -> None:
        pass


class EpisodeTracker:
    """Running return and length of every environment, on the device."""

    def __init__(self, num_envs: int, device):
        self.returns = torch.zeros(num_envs, dtype=torch.float64, device=device)
        self.lengths = torch.zeros(num_envs, dtype=torch.int64, device=device)

    def update(self, rewards: torch.Tensor, done: torch.Tensor):
        """Add this step; return (returns, lengths) of the episodes that ended (0 elsewhere)."""
        self.returns += rewards
        self.lengths += 1
        finished = (self.returns * done, self.lengths * done)
        self.returns = self.returns * ~done
        self.lengths = self.lengths * ~done
        return finished


class GymVectorEnv(VectorEnv):
    """gymnasium's synchronous vector env with same-step autoreset, as torch tensors."""

    def __init__(self, env_id: str, num_envs: int, device="cpu", **make_kwargs):
        self.env_id, self.num_envs, self.device = env_id, num_envs, torch.device(device)
        self.vector = gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                                         vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
                                         **make_kwargs)
        observation_space = self.vector.single_observation_space
        action_space = self.vector.single_action_space
        self.one_hot = isinstance(observation_space, spaces.Discrete)
        if self.one_hot:
            self.observation_size = int(observation_space.n)
        elif isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 1:
            self.observation_size = int(observation_space.shape[0])
        else:
            raise ValueError(f"{env_id}: the agents take Discrete or flat Box observations, got "
                             f"{observation_space}")
        self.discrete_actions = isinstance(action_space, spaces.Discrete)
        if self.discrete_actions:
            self.n_actions, self.action_low, self.action_high = int(action_space.n), None, None
        elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            self.n_actions = int(action_space.shape[0])
            self.action_low = torch.as_tensor(action_space.low, device=self.device)
            self.action_high = torch.as_tensor(action_space.high, device=self.device)
        else:
            raise ValueError(f"{env_id}: the agents take Discrete or flat Box actions, got "
                             f"{action_space}")
        name = toy_mdp_name(env_id)
        self.mdp = catalogue.make(name) if name else None
        self.tracker = EpisodeTracker(num_envs, self.device)

    def _tensor(self, observations) -> torch.Tensor:
        if self.one_hot:
            states = torch.as_tensor(np.asarray(observations, dtype=np.int64), device=self.device)
            return torch.nn.functional.one_hot(states, self.observation_size).float()
        return torch.as_tensor(np.asarray(observations, dtype=np.float32), device=self.device)

    def reset(self, seed: int) -> torch.Tensor:
        observations, _ = self.vector.reset(seed=seed)
        self.vector.action_space.seed(seed)
        return self._tensor(observations)

    def step(self, actions: torch.Tensor) -> Step:
        actions = actions.detach().cpu().numpy()
        observations, rewards, terminated, truncated, info = self.vector.step(actions)
        done = terminated | truncated
        final = np.array(observations, copy=True)
        if done.any():
            for i in np.flatnonzero(done):
                final[i] = info["final_obs"][i]
        as_float = lambda array: torch.as_tensor(np.asarray(array, dtype=np.float32),  # noqa: E731
                                                 device=self.device)
        done = torch.as_tensor(done, device=self.device)
        returns, lengths = self.tracker.update(as_float(rewards).double(), done)
        return Step(self._tensor(observations), as_float(rewards), as_float(terminated),
                    as_float(truncated), self._tensor(final), done, returns, lengths)

    def close(self) -> None:
        self.vector.close()


def make_vector_env(env_id: str, num_envs: int, device="cpu", backend: str = "auto",
                    max_episode_steps: int | None = None) -> VectorEnv:
    """The vector env for ``env_id``.

    ``backend``: "gymnasium" (any id), "torch" (toy MDPs only: all N copies stepped at once
    in torch, see ``tabular_env``), or "auto" (torch for toy MDPs, else gymnasium).
    ``max_episode_steps`` overrides the id's time limit (None keeps it).
    """
    if backend not in ("auto", "gymnasium", "torch"):
        raise ValueError(f"backend must be 'auto', 'gymnasium' or 'torch', got {backend!r}")
    name = toy_mdp_name(env_id)
    if backend == "torch" and name is None:
        raise ValueError(f"backend 'torch' steps toy MDPs only (rlspec/<name>-v0 with a name from "
                         f"{catalogue.names()}), got {env_id!r}")
    if name is not None and backend in ("auto", "torch"):
        from rlspec.agents.tabular_env import TabularTorchEnv
        limit = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
        return TabularTorchEnv(catalogue.make(name), num_envs, device=device, **limit)
    limit = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
    return GymVectorEnv(env_id, num_envs, device=device, **limit)
