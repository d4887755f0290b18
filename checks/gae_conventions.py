"""Adapters for the common GAE conventions: wrap a function written in CleanRL's, SB3's or
rlax's convention so that it takes the canonical arguments of ``rlspec check gae``.

The canonical call is ``candidate(rewards, values, next_values, terminated, truncated,
gamma, lam)`` with 1-D time-major arrays of one environment (``spec/entries/gae.advantage.md``).
The three conventions store the same rollout differently:

==========  =====================================================  ============================
convention  what the GAE function receives                          V of the final observation
==========  =====================================================  ============================
CleanRL     values[T], dones[T] (dones[t]: obs t starts a new       not passed
            episode, i.e. step t-1 was done), next_value,
            next_done (the flags of the step after the segment)
SB3         values[T], episode_starts[T] (same meaning as           folded into the reward by
            CleanRL's dones), last_values, dones (last step's)       ``collect_rollouts`` (PR #658)
rlax        r_t[T], discount_t[T] = gamma (1 - done_t),             not passed
            lambda_, values[T+1] (values[T] = V after the segment)
==========  =====================================================  ============================

None of the three GAE functions has a slot for V(final observation) of an episode that was
*truncated* inside the segment: after ``env.step`` auto-resets, ``values[t+1]`` is the value
of the next episode's first observation.  So a truncation can be handled in two ways only,
chosen with ``truncation=``:

* ``"as-termination"``: pass done = terminated or truncated.  This is what CleanRL's
  ``ppo.py`` does (``next_done = np.logical_or(terminations, truncations)``; issue
  vwxyzjn/cleanrl#198) and what a plain ``discount_t = gamma * (1 - done)`` does in rlax.
  The advantage of a truncated step then lacks gamma V(final observation): **the full
  ``gae`` check rejects it**, correctly.  Check such a function with
  ``rlspec check gae-no-truncation``, whose cases have no truncated steps, and know that
  time limits bias it (Pardo et al. 2018, "Time limits in reinforcement learning").
* ``"bootstrap-in-reward"``: add gamma V(final observation) to the reward of a truncated
  step and pass it as done, which is exact: delta_t = (r_t + gamma V(s'_t)) - V(s_t) and the
  carry is cut.  This is SB3's fix (DLR-RM/stable-baselines3#633, PR #658); with it the
  function passes the full ``gae`` check.

Defaults follow each library's own pipeline: CleanRL ``"as-termination"``, SB3
``"bootstrap-in-reward"``, rlax ``"as-termination"`` (rlax has no rollout code; its
``discount_t`` is usually gamma times the environment's termination mask).

Options shared by the adapters: ``env_axis=True`` passes every per-step array as (T, 1)
(and the bootstrap scalars as (1,)) for functions written for N parallel environments, and
takes column 0 of the answer; ``tensors=True`` passes float64 torch tensors instead of
numpy arrays.  :func:`batched` checks a canonical-signature function written for (T, N).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

TRUNCATION_MODES = ("as-termination", "bootstrap-in-reward")


def _flags_and_rewards(rewards, next_values, terminated, truncated, gamma, truncation):
    if truncation not in TRUNCATION_MODES:
        raise ValueError(f"truncation must be one of {TRUNCATION_MODES}, got {truncation!r}")
    terminated = np.asarray(terminated, dtype=bool)
    truncated = np.asarray(truncated, dtype=bool)
    rewards = np.array(rewards, dtype=np.float64)
    if truncation == "bootstrap-in-reward":
        cut_short = truncated & ~terminated
        rewards[cut_short] += gamma * np.asarray(next_values, dtype=np.float64)[cut_short]
    return rewards, (terminated | truncated).astype(np.float64)


class _Packer:
    """Moves arrays into the candidate's layout (numpy or torch; with an env axis or not)."""

    def __init__(self, env_axis: bool, tensors: bool):
        self.env_axis, self.tensors = env_axis, tensors

    def __call__(self, array):
        array = np.asarray(array, dtype=np.float64)
        if self.env_axis:
            array = array.reshape(*array.shape, 1) if array.ndim else array.reshape(1)
        if self.tensors:
            import torch
            return torch.tensor(array, dtype=torch.float64)
        return array

    def unpack(self, output):
        if hasattr(output, "detach"):
            output = output.detach().cpu().numpy()
        output = np.asarray(output, dtype=np.float64)
        return output[..., 0] if self.env_axis and output.ndim == 2 else output


def cleanrl_style(candidate: Callable, truncation: str = "as-termination", env_axis: bool = False,
                  tensors: bool = False) -> Callable:
    """For ``candidate(rewards, values, dones, next_value, next_done, gamma, gae_lambda)``
    written like CleanRL's ``ppo.py``: ``dones[t]`` = 1 when observation t starts a new
    episode (step t-1 was done; ``dones[0]`` = 0 here, the flag from before the segment),
    ``next_value`` = V of the observation after the segment, ``next_done`` = the last step's
    done flag.  See the module docstring for ``truncation``."""

    @functools.wraps(candidate)
    def adapted(rewards, values, next_values, terminated, truncated, gamma, lam):
        pack = _Packer(env_axis, tensors)
        rewards, done = _flags_and_rewards(rewards, next_values, terminated, truncated, gamma,
                                           truncation)
        starts = np.concatenate([[0.0], done[:-1]])
        return pack.unpack(candidate(rewards=pack(rewards), values=pack(values),
                                     dones=pack(starts), next_value=pack(next_values[-1]),
                                     next_done=pack(done[-1]), gamma=gamma, gae_lambda=lam))

    return adapted


def sb3_style(candidate: Callable, truncation: str = "bootstrap-in-reward", env_axis: bool = False,
              tensors: bool = False) -> Callable:
    """For ``candidate(rewards, values, episode_starts, last_values, dones, gamma,
    gae_lambda)`` written like SB3's ``RolloutBuffer.compute_returns_and_advantage``:
    ``episode_starts[t]`` = 1 when observation t starts an episode, ``last_values`` = V of
    the observation after the segment, ``dones`` = the last step's done flag.  SB3 folds
    gamma V(terminal observation) into the reward of truncated steps before this function
    runs, hence the default ``truncation``."""

    @functools.wraps(candidate)
    def adapted(rewards, values, next_values, terminated, truncated, gamma, lam):
        pack = _Packer(env_axis, tensors)
        rewards, done = _flags_and_rewards(rewards, next_values, terminated, truncated, gamma,
                                           truncation)
        starts = np.concatenate([[0.0], done[:-1]])
        return pack.unpack(candidate(rewards=pack(rewards), values=pack(values),
                                     episode_starts=pack(starts),
                                     last_values=pack(next_values[-1]), dones=pack(done[-1]),
                                     gamma=gamma, gae_lambda=lam))

    return adapted


def rlax_style(candidate: Callable, truncation: str = "as-termination", env_axis: bool = False,
               tensors: bool = False) -> Callable:
    """For ``candidate(r_t, discount_t, lambda_, values)`` written like
    ``rlax.truncated_generalized_advantage_estimation``: ``discount_t[t]`` = gamma (1 - done_t),
    ``values`` of length T + 1 with ``values[T]`` = V of the observation after the segment
    (``values[t+1]`` after a done step is the next episode's first value, multiplied by a
    zero discount)."""

    @functools.wraps(candidate)
    def adapted(rewards, values, next_values, terminated, truncated, gamma, lam):
        pack = _Packer(env_axis, tensors)
        rewards, done = _flags_and_rewards(rewards, next_values, terminated, truncated, gamma,
                                           truncation)
        extended = np.concatenate([np.asarray(values, dtype=np.float64), [next_values[-1]]])
        return pack.unpack(candidate(r_t=pack(rewards), discount_t=pack(gamma * (1.0 - done)),
                                     lambda_=lam, values=pack(extended)))

    return adapted


def batched(candidate: Callable, n_envs: int = 3) -> Callable:
    """For a canonical-signature ``candidate`` written for (T, N) time-major arrays: the case
    is put in the middle one of ``n_envs`` columns, the others hold the same segment reversed
    in time with its flags moved (a different, valid segment), and the middle column of the
    answer is returned.  A function that mixes environments (a flatten in the wrong order, a
    carry shared across columns) gets that column wrong."""
    if int(n_envs) != n_envs or n_envs < 1:
        raise ValueError(f"n_envs must be a positive integer, got {n_envs!r}")
    middle = int(n_envs) // 2

    @functools.wraps(candidate)
    def adapted(rewards, values, next_values, terminated, truncated, gamma, lam):
        def stack(array, decoy):
            columns = [decoy] * int(n_envs)
            columns[middle] = np.asarray(array)
            return np.stack(columns, axis=1)

        decoy_terminated = np.roll(np.asarray(terminated)[::-1], 1)
        output = candidate(
            rewards=stack(rewards, np.asarray(rewards)[::-1] + 1.0),
            values=stack(values, np.asarray(values)[::-1]),
            next_values=stack(next_values, np.asarray(next_values)[::-1] - 1.0),
            terminated=stack(terminated, decoy_terminated),
            truncated=stack(truncated, np.asarray(truncated)[::-1] & ~decoy_terminated),
            gamma=gamma, lam=lam)
        if hasattr(output, "detach"):
            output = output.detach().cpu().numpy()
        return np.asarray(output, dtype=np.float64)[:, middle]

    return adapted


ADAPTERS = {
    "cleanrl": cleanrl_style,
    "sb3": sb3_style,
    "rlax": rlax_style,
    "batched": batched,
}
