"""Experience storage shared by the agents: a replay ring buffer, a sum tree, a rollout.

* :class:`ReplayBuffer` keeps ``[capacity, num_envs]`` steps, time-major per environment, so
  that n-step windows are read straight out of it; experience t goes to slot
  ``t mod capacity`` and a uniform draw u picks item ``floor(u * size)`` (check
  ``replay-buffer-sample``).
* :class:`SumTree` samples leaf i with probability ``p_i / sum p`` by prefix sums (check
  ``sum-tree-sample``), vectorised over a batch of draws.
* :class:`Rollout` holds one on-policy rollout ``[T, N]`` for A2C and PPO.

Everything lives on one torch device.
"""

from __future__ import annotations

import torch

__all__ = ["ReplayBuffer", "SumTree", "Rollout"]


class ReplayBuffer:
    """A FIFO ring buffer of ``capacity`` time steps of ``num_envs`` environments.

    Parameters
    ----------
    fields: name -> shape of one environment's entry, e.g. ``{"obs": (4,), "rewards": ()}``.
    dtypes: name -> dtype where it differs from ``dtype`` (actions are often int64).
    """

    def __init__(self, capacity: int, num_envs: int, fields: dict[str, tuple],
                 dtype=torch.float32, dtypes: dict | None = None, device="cpu"):
        if capacity < 1 or num_envs < 1:
            raise ValueError(f"ReplayBuffer needs capacity >= 1 and num_envs >= 1, got "
                             f"{capacity}, {num_envs}")
        dtypes = dtypes or {}
        self.capacity, self.num_envs, self.device = capacity, num_envs, torch.device(device)
        self.storage = {name: torch.zeros((capacity, num_envs, *shape),
                                          dtype=dtypes.get(name, dtype), device=self.device)
                        for name, shape in fields.items()}
        self.time_of_slot = torch.full((capacity,), -1, dtype=torch.int64, device=self.device)
        self.added = 0   # time steps written so far

    @property
    def size(self) -> int:
        """Time steps held (at most ``capacity``)."""
        return min(self.added, self.capacity)

    def add(self, **entries) -> None:
        """Write one time step (every field, ``[num_envs, ...]``) into slot ``t mod capacity``."""
        slot = self.added % self.capacity
        for name, value in entries.items():
            self.storage[name][slot] = value
        self.time_of_slot[slot] = self.added
        self.added += 1

    def slots_for(self, uniform) -> torch.Tensor:
        """Slot ``floor(u * size)`` for draws u in [0, 1) (one environment per slot)."""
        return (uniform * self.size).floor().long().clamp(max=self.size - 1)

    def sample_items(self, batch_size: int, generator=None) -> torch.Tensor:
        """Flat item indices ``slot * num_envs + env``, uniform over every stored item."""
        uniform = torch.rand(batch_size, generator=generator, device=self.device)
        return (uniform * self.size * self.num_envs).floor().long().clamp(
            max=self.size * self.num_envs - 1)

    def gather(self, items, names) -> dict[str, torch.Tensor]:
        """The fields of the given flat items."""
        slots, envs = items // self.num_envs, items % self.num_envs
        return {name: self.storage[name][slots, envs] for name in names}

    def windows(self, items, n: int, names) -> dict[str, torch.Tensor]:
        """``[B, n, ...]`` windows of the next n steps of each item's environment.

        Steps not yet written are marked by ``available[B, n] = False``; the caller treats
        the last available step as a cut (it is bootstrapped, see
        ``formulas_value.n_step_windows``).
        """
        slots, envs = items // self.num_envs, items % self.num_envs
        offsets = torch.arange(n, device=self.device)
        positions = (slots.unsqueeze(1) + offsets) % self.capacity
        newest = self.added - 1
        available = (self.time_of_slot[slots].unsqueeze(1) + offsets) <= newest
        result = {name: self.storage[name][positions, envs.unsqueeze(1)] for name in names}
        result["available"] = available
        result["positions"] = positions
        return result


class SumTree:
    """A binary tree whose internal nodes hold the sums of their leaves' priorities.

    ``find(u)`` returns the leaf i with ``sum_{k<i} p_k <= u < sum_{k<=i} p_k`` for each u
    in [0, total), so u uniform on [0, total) picks leaf i with probability p_i / total.
    A draw at or past the total (rounding) goes to the last leaf of positive priority.
    """

    def __init__(self, capacity: int, dtype=torch.float64, device="cpu"):
        self.capacity = capacity
        self.depth = max(1, (capacity - 1).bit_length())
        self.first_leaf = 1 << self.depth
        self.nodes = torch.zeros(2 * self.first_leaf, dtype=dtype, device=device)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def leaves(self) -> torch.Tensor:
        return self.nodes[self.first_leaf:self.first_leaf + self.capacity]

    def update(self, indices, priorities) -> None:
        """Set the given leaves, then recompute every ancestor from its two children."""
        nodes = indices.to(self.nodes.device) + self.first_leaf
        self.nodes[nodes] = priorities.to(self.nodes.dtype)
        for _ in range(self.depth):
            nodes = torch.unique(nodes // 2)
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]

    def find(self, prefix_sums) -> torch.Tensor:
        """The leaf of each prefix sum, by one descent per level for the whole batch."""
        remaining = prefix_sums.to(self.nodes.dtype).clone()
        nodes = torch.ones_like(remaining, dtype=torch.int64)
        for _ in range(self.depth):
            left = self.nodes[2 * nodes]
            go_right = (remaining >= left) & (self.nodes[2 * nodes + 1] > 0)
            remaining = torch.where(go_right, remaining - left, remaining)
            nodes = 2 * nodes + go_right.long()
        return nodes - self.first_leaf


class Rollout:
    """One on-policy rollout: ``[T, N, ...]`` tensors filled step by step."""

    def __init__(self, steps: int, num_envs: int, fields: dict[str, tuple],
                 dtype=torch.float32, dtypes: dict | None = None, device="cpu"):
        dtypes = dtypes or {}
        self.steps = steps
        self.data = {name: torch.zeros((steps, num_envs, *shape), dtype=dtypes.get(name, dtype),
                                       device=device) for name, shape in fields.items()}

    def store(self, t: int, **entries) -> None:
        for name, value in entries.items():
            self.data[name][t] = value

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.data[name]
