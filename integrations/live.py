"""Validation of live training runs: check what a library just computed, during the run.

- :class:`SB3GAECallback`: a Stable-Baselines3 callback that, every ``every``-th rollout,
  recomputes the rollout buffer's advantages and returns with the exact GAE oracle from the
  buffer's own rewards (which already hold SB3's gamma V(final observation) of truncated
  steps), values, episode starts, and the last values and dones of the rollout, and raises
  :class:`TrainingMismatch` on a disagreement.
- :func:`check_verl_gae`: a hook verl users call after ``compute_gae_advantage_return`` with
  its inputs and outputs; checks the whitened advantages and the returns.
- :func:`check_group_advantages`: a hook for GRPO trainers (TRL's ``GRPOTrainer`` computes
  its advantages inside a method; call this with the flat rewards and advantages it logs or
  returns): checks (r - group mean) / (group std + epsilon), TRL's epsilon by default.
- :func:`check_loss_aggregation`: a hook for any trainer's loss aggregation (verl's
  ``agg_loss``; TRL's ``loss_type`` aggregations are the same four modes): checks the loss
  against the exact aggregate of its per-token losses.

Tolerance: SB3 stores its buffer in float32 and computes GAE in float32.  Each step rounds
by at most 2^-24 relative; the recursion weights step k ahead by (gamma lambda)^k, so the
error is at most about 2^-24 / (1 - gamma lambda) ~ 1.2e-6 of the scale at gamma lambda =
0.95: :data:`FLOAT32_TOLERANCE` = 1e-5 leaves an eightfold margin, and a real GAE bug (a
missed episode boundary, a wrong sign) is off by O(1).
"""

from __future__ import annotations

import numpy as np
from rlspec.checks.core import compare
from rlspec.oracles import gae as gae_oracle
from rlspec.oracles import library_conventions

FLOAT32_TOLERANCE = 1e-5


class TrainingMismatch(AssertionError):
    """What the library computed during training differs from the oracle."""


def _segment(buffer, env: int, last_values: np.ndarray, dones: np.ndarray):
    """The canonical GAE inputs of one environment's column of an SB3 rollout buffer: step t
    ended an episode when observation t + 1 starts one (or, at the end, when ``dones``)."""
    values = buffer.values[:, env].astype(np.float64)
    ended = np.append(buffer.episode_starts[1:, env], dones[env]).astype(bool)
    next_values = np.append(values[1:], last_values[env])
    return dict(rewards=buffer.rewards[:, env].astype(np.float64), values=values,
                next_values=next_values, terminated=ended, truncated=np.zeros_like(ended),
                gamma=buffer.gamma, lam=buffer.gae_lambda)


def sb3_buffer_mismatch(buffer, last_values, dones, tolerance: float = FLOAT32_TOLERANCE
                        ) -> str | None:
    """None if every environment's advantages and returns in ``buffer`` match the oracle;
    otherwise a message naming the environment, the quantity and the step."""
    last_values = np.asarray(last_values, dtype=np.float64).reshape(-1)
    dones = np.asarray(dones).reshape(-1)
    for env in range(buffer.n_envs):
        segment = _segment(buffer, env, last_values, dones)
        expected = np.array([float(a) for a in gae_oracle.gae_exact(**segment)])
        for name, wanted in (("advantages", expected), ("returns", expected + segment["values"])):
            found = compare(wanted, getattr(buffer, name)[:, env], tolerance)
            if found:
                return (f"SB3 rollout buffer, environment {env}, {name}: {found.message} "
                        f"(expected {found.expected[_step(found)]:.6g}, got "
                        f"{found.got[_step(found)]:.6g}; spec entry gae.advantage)")
    return None


def _step(mismatch) -> int:
    return int(np.argmax(np.abs(mismatch.got - mismatch.expected)))


def sb3_callback_class():
    """The callback class (built on first use, so that importing this module does not need
    SB3)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class SB3GAECallback(BaseCallback):
        """Check the rollout buffer's GAE every ``every``-th rollout; raise on a mismatch."""

        def __init__(self, every: int = 1, tolerance: float = FLOAT32_TOLERANCE, verbose: int = 0):
            super().__init__(verbose)
            self.every, self.tolerance, self.rollouts, self.checked = every, tolerance, 0, 0

        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            self.rollouts += 1
            if (self.rollouts - 1) % self.every:
                return
            last_values = self.locals["values"].detach().cpu().numpy()
            problem = sb3_buffer_mismatch(self.model.rollout_buffer, last_values,
                                          self.locals["dones"], self.tolerance)
            self.checked += 1
            if problem:
                raise TrainingMismatch(f"rollout {self.rollouts}: {problem}")

    return SB3GAECallback


def check_verl_gae(token_level_rewards, values, response_mask, gamma, lam, advantages, returns,
                   tolerance: float = FLOAT32_TOLERANCE) -> None:
    """Raise :class:`TrainingMismatch` unless verl's ``compute_gae_advantage_return`` outputs
    (whitened ``advantages``, ``returns`` = raw advantages + values) match the oracles on the
    response tokens."""
    from rlspec.oracles import rlhf_ppo

    arrays = [np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
              for x in (token_level_rewards, values, response_mask, advantages, returns)]
    rewards, values, mask, advantages, returns = arrays
    response = mask == 1.0
    raw = rlhf_ppo.masked_gae_exact(rewards, values, mask, float(gamma), float(lam))
    whitened = library_conventions.whitened_masked_gae(rewards, values, mask, float(gamma), float(lam))
    for name, wanted, got in (("advantages", whitened, advantages), ("returns", raw + values, returns)):
        found = compare(wanted[response], got[response], tolerance)
        if found:
            raise TrainingMismatch(f"verl compute_gae_advantage_return, {name}: "
                                   f"{found.message} (response tokens in row-major order; "
                                   f"spec entry rlhf.masked-gae, variant verl-whitened)")


def check_group_advantages(rewards, advantages, group_size: int, epsilon: float = 1e-4,
                           tolerance: float = FLOAT32_TOLERANCE) -> None:
    """Raise :class:`TrainingMismatch` unless the flat ``advantages`` of consecutive groups of
    ``group_size`` completions are the group advantages of ``rewards`` (1e-4: TRL; 1e-6: verl)."""
    from rlspec.oracles import grpo as grpo_oracle

    grouped = _numbers(rewards).reshape(-1, group_size)
    expected = grpo_oracle.group_advantages_exact(grouped, epsilon).reshape(-1)
    found = compare(expected, _numbers(advantages).reshape(-1), tolerance)
    if found:
        raise TrainingMismatch(f"group advantages (epsilon {epsilon:g}): {found.message} "
                               f"(spec entry grpo.group-advantages)")


def _numbers(array) -> np.ndarray:
    return np.asarray(array.detach().cpu().numpy() if hasattr(array, "detach") else array,
                      dtype=np.float64)


def check_loss_aggregation(per_token_loss, mask, mode: str, loss, normaliser=None,
                           tolerance: float = FLOAT32_TOLERANCE) -> None:
    """Raise :class:`TrainingMismatch` unless ``loss`` is the ``mode`` aggregate
    (``token-mean``, ``seq-mean-token-mean``, ``seq-mean-token-sum``,
    ``seq-mean-token-sum-norm`` with ``normaliser``) of ``per_token_loss`` under ``mask``."""
    from rlspec.oracles import loss_aggregation

    expected = loss_aggregation.aggregate_exact(_numbers(per_token_loss), _numbers(mask), mode,
                                           normaliser).value
    found = compare(expected, _numbers(loss), tolerance)
    if found:
        raise TrainingMismatch(f"loss aggregation {mode}: {found.message} (expected "
                               f"{float(expected):.6g}, got {float(_numbers(loss)):.6g}; spec "
                               f"entry agg.{mode})")
