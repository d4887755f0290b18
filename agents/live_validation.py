"""Live validation: every k updates, the batch an agent just used goes through the oracles.

``LiveValidator(every=k)`` is handed, at every k-th update, the real tensors of that update:
the rollout's rewards, values and termination/truncation flags with the advantages the
agent computed; the targets it regressed on with the inputs they came from; its
prioritized-replay weights; the value and the gradient of its losses.  Each is recomputed
by an independent oracle of ``rlspec.oracles`` (exact rationals, 50-digit arithmetic,
closed forms) and compared; the first mismatch stops training with a
:class:`ValidationMismatch` naming the update, the formula, the index, the expected and
actual values and the inputs there.  ``summary()`` reports the time it cost.

Tolerance.  The agents compute in float32 and the oracles exactly on the same (float32,
hence exactly representable) inputs.  A result of k float32 operations on terms of size
at most M is within about k u M of the exact one (u = 2^-24, Higham 2002 §3.1, first
order); :func:`float32_tolerance` allows ``SAFETY * k * u * M`` with k counted per formula
below.  A real bug (a missing mask, a wrong discount, an off-by-one) moves results by a
fraction of M, many orders above this.  At a kink (PPO's clip edge) float32 may land on
either side, so both one-sided derivatives are accepted within that tolerance of the edge.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch

from rlspec.oracles import distributional, dqn, gae, ppo, prioritized_replay, sac, td3

__all__ = ["LiveValidator", "ValidationMismatch", "float32_tolerance"]

FLOAT32_UNIT = 2.0 ** -24
SAFETY = 8.0
#: Rows of a batch sent through the slowest oracles (50-digit log-densities, the exact
#: rational C51 projection, K^2 Fractions per row) at each validation.
HIGH_PRECISION_ROWS = 8
#: The GAE oracle's share of a rollout at each validation: its last GAE_TAIL steps of
#: GAE_COLUMNS environments (see ``LiveValidator.advantages``).
GAE_TAIL, GAE_COLUMNS = 32, 4


class ValidationMismatch(AssertionError):
    """An agent's computation on its real batch disagreed with an oracle."""


def float32_tolerance(magnitude: float, operations: int) -> float:
    """SAFETY * k * u * M: the forward error bound of k float32 operations on size-M terms."""
    return SAFETY * operations * FLOAT32_UNIT * max(float(magnitude), 1e-30)


def _timed(method):
    """Add the method's wall time to ``self.seconds`` (once, however the calls nest)."""
    @functools.wraps(method)
    def wrapper(self, *arguments, **keywords):
        if self._depth:
            return method(self, *arguments, **keywords)
        self._depth += 1
        started = time.perf_counter()
        try:
            return method(self, *arguments, **keywords)
        finally:
            self.seconds += time.perf_counter() - started
            self._depth -= 1
    return wrapper


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy() if isinstance(tensor, torch.Tensor) \
        else np.asarray(tensor, dtype=np.float64)


def _value_and_gradient(function, leaf_index: int, *arguments):
    """The function's value and its gradient w.r.t. argument ``leaf_index``, on copies."""
    arguments = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in arguments]
    arguments[leaf_index].requires_grad_(True)
    value = function(*arguments)
    (gradient,) = torch.autograd.grad(value, arguments[leaf_index])
    return float(value.detach()), _numpy(gradient)


class LiveValidator:
    """Sends real batches through the oracles every ``every`` updates (0: never)."""

    def __init__(self, every: int = 0):
        if every < 0:
            raise ValueError(f"validate_every must be >= 0 (0 turns validation off), got {every}")
        self.every = every
        self.seconds = 0.0
        self.checks = 0
        self.validations = 0
        self.where = ""
        self._depth = 0

    def due(self, update: int) -> bool:
        """Whether update number ``update`` (from 1) is validated."""
        return self.every > 0 and update % self.every == 0

    def begin(self, update: int, step: int) -> None:
        self.validations += 1
        self.where = f"update {update} (environment step {step})"

    # ------------------------------------------------------------------ comparing
    def compare(self, formula: str, oracle: str, expected, got, tolerance: float,
                inputs: dict | None = None, lower=None, upper=None) -> None:
        """Raise :class:`ValidationMismatch` at the worst entry outside the tolerance.

        With ``lower``/``upper`` (one-sided derivatives at kinks) ``got`` must lie in
        [lower - tol, upper + tol]; otherwise within tol of ``expected``.
        """
        self.checks += 1
        got = np.atleast_1d(_numpy(got))
        if lower is None:
            expected = np.atleast_1d(np.asarray(expected, dtype=np.float64))
            lower = upper = expected
        lower, upper = np.atleast_1d(np.asarray(lower, float)), np.atleast_1d(np.asarray(upper, float))
        excess = np.maximum(lower - tolerance - got, got - upper - tolerance)
        excess = np.where(np.isnan(got), np.inf, excess)
        if not (excess > 0).any():
            return
        index = np.unravel_index(int(np.argmax(excess)), got.shape)
        wanted = (f"{lower[index]:.9g}" if lower[index] == upper[index]
                  else f"in [{lower[index]:.9g}, {upper[index]:.9g}]")
        shown = "".join(f"\n    {name} = {_excerpt(value, index)}"
                        for name, value in (inputs or {}).items())
        raise ValidationMismatch(
            f"live validation failed at {self.where}: {formula}, entry {tuple(map(int, index))}: "
            f"expected {wanted} ({oracle}), got {got[index]:.9g}; tolerance {tolerance:.3g}; "
            f"{int((excess > 0).sum())} of {got.size} entries out.{shown}")

    # ------------------------------------------------------------------ on-policy
    @_timed
    def advantages(self, rewards, values, next_values, terminated, truncated, gamma, lam,
                   advantages) -> None:
        """GAE of a [T, N] rollout against ``gae.gae_exact``, on the last ``GAE_TAIL`` steps
        of ``GAE_COLUMNS`` environments, taken in turn from one validation to the next.

        A_t depends only on steps t..T-1, so the oracle run on the tail [T - L, T) gives
        the exact advantages of those steps; the exact rationals grow by a few bits per
        step, so the whole rollout would cost O(T^3) bit operations.
        """
        r, v, v_next = _numpy(rewards), _numpy(values), _numpy(next_values)
        term, trunc, got = _numpy(terminated), _numpy(truncated), _numpy(advantages)
        length, n_envs = r.shape
        tail = slice(max(0, length - GAE_TAIL), length)
        magnitude = np.abs(r).max() + np.abs(v).max() + np.abs(v_next).max()
        tolerance = float32_tolerance(magnitude, 4 * length)
        first = (self.validations - 1) * GAE_COLUMNS
        for env in sorted({(first + k) % n_envs for k in range(min(GAE_COLUMNS, n_envs))}):
            columns = [a[tail, env] for a in (r, v, v_next, term, trunc)]
            expected = [float(a) for a in gae.gae_exact(*columns, gamma, lam)]
            self.compare(f"GAE advantages of environment {env}, steps {tail.start}..{length - 1}",
                         "rlspec.oracles.gae.gae_exact", expected, got[tail, env], tolerance,
                         dict(zip(("rewards", "values", "next_values", "terminated", "truncated"),
                                  columns)))

    @_timed
    def ppo_minibatch(self, functions, log_prob, old_log_prob, advantages, normalized, values,
                      old_values, returns, clip_epsilon, value_clip_epsilon) -> None:
        """Normalisation, clipped policy loss and value loss: values and gradients."""
        raw = _numpy(advantages)
        self.compare("advantage normalisation", "rlspec.oracles.ppo.normalized_advantages_exact",
                     ppo.normalized_advantages_exact(raw), normalized,
                     float32_tolerance(np.abs(_numpy(normalized)).max() + 1, 4 * raw.size))
        self.policy_loss(functions.clipped_surrogate_loss, log_prob, old_log_prob, normalized,
                         clip_epsilon)
        self.value_loss(functions.clipped_value_loss, values, old_values, returns,
                        value_clip_epsilon)

    @_timed
    def policy_loss(self, function, log_prob, old_log_prob, advantages, clip_epsilon) -> None:
        value, gradient = _value_and_gradient(function, 0, log_prob, old_log_prob, advantages,
                                              clip_epsilon)
        x, x_old, a = _numpy(log_prob), _numpy(old_log_prob), _numpy(advantages)
        ratio_size = float(np.abs(np.exp(x - x_old) * a).max())
        tolerance = float32_tolerance(ratio_size, 8)
        self.compare("PPO clipped policy loss", "rlspec.oracles.ppo.clipped_surrogate_loss",
                     ppo.clipped_surrogate_loss(x, x_old, a, clip_epsilon), value,
                     float32_tolerance(ratio_size, 4 * x.size))
        # Near the clip edge float32 may fall on either side: take the union of the
        # oracle's bounds at log pi and at log pi +- the float32 error of the ratio.
        shift = float32_tolerance(1.0, 8)
        bounds = [ppo.clipped_surrogate_gradient_bounds(x + s, x_old, a, clip_epsilon)
                  for s in (-shift, 0.0, shift)]
        lower = np.min([b[0] for b in bounds], axis=0)
        upper = np.max([b[1] for b in bounds], axis=0)
        self.compare("PPO clipped policy loss gradient d/dlog pi",
                     "rlspec.oracles.ppo.clipped_surrogate_gradient_bounds", None, gradient,
                     tolerance / x.size, {"log_prob": x, "old_log_prob": x_old, "advantages": a},
                     lower=lower, upper=upper)

    @_timed
    def value_loss(self, function, values, old_values, returns, clip_epsilon) -> None:
        value, gradient = _value_and_gradient(function, 0, values, old_values, returns,
                                              clip_epsilon)
        v, v_old, target = _numpy(values), _numpy(old_values), _numpy(returns)
        size = float(np.abs(v - target).max() + np.abs(v_old - target).max() + 1.0)
        if clip_epsilon is None:
            # Unclipped: a clip range wider than every |V - V_old| clips nothing.
            clip_epsilon = 2.0 * float(np.abs(v - v_old).max()) + 1.0
        expected = ppo.clipped_value_loss_exact(v, v_old, target, clip_epsilon)
        shift = float32_tolerance(np.abs(v).max() + 1.0, 4)
        bounds = [ppo.clipped_value_gradient_bounds_exact(v + s, v_old, target, clip_epsilon)
                  for s in (-shift, 0.0, shift)]
        lower = np.min([[float(g) for g in b[0]] for b in bounds], axis=0)
        upper = np.max([[float(g) for g in b[1]] for b in bounds], axis=0)
        oracle = "rlspec.oracles.ppo.clipped_value_loss_exact"
        self.compare("value loss", oracle, float(expected), value,
                     float32_tolerance(size * size, 4 * v.size))
        self.compare("value loss gradient d/dV", "rlspec.oracles.ppo.clipped_value_gradient_bounds_exact",
                     None, gradient, float32_tolerance(size, 8) / v.size,
                     {"values": v, "old_values": v_old, "returns": target},
                     lower=lower, upper=upper)

    # ------------------------------------------------------------------ DQN family
    @_timed
    def q_targets(self, batch: dict, gamma: float, double: bool) -> None:
        """n-step sums and cuts, the bootstrap (max or Double DQN) and the final targets.

        ``batch``: ``rewards``, ``terminated``, ``cut`` [B, n] windows (cut = truncated or
        not yet written), ``bootstrap`` [B] (the value the agent bootstrapped from),
        ``next_q_target`` (and ``next_q_online``) [B, A], ``targets`` [B].
        """
        rewards, term, cut = (_numpy(batch[k]) for k in ("rewards", "terminated", "cut"))
        bootstrap, targets = _numpy(batch["bootstrap"]), _numpy(batch["targets"])
        q_target = _numpy(batch["next_q_target"])
        zeros = np.zeros(len(bootstrap))
        scale = np.abs(q_target).max() + np.abs(rewards).max() * rewards.shape[1] + 1.0
        tolerance = float32_tolerance(scale, 4 * rewards.shape[1] + 4)
        if double:
            admissible = dqn.double_dqn_targets_exact(zeros, _numpy(batch["next_q_online"]),
                                                      q_target, zeros, 1.0)
            lower = np.array([float(min(s)) for s in admissible])
            upper = np.array([float(max(s)) for s in admissible])
            self.compare("Double DQN bootstrap Q'(s', argmax Q(s', .))",
                         "rlspec.oracles.dqn.double_dqn_targets_exact", None, bootstrap, tolerance,
                         lower=lower, upper=upper)
        else:
            expected = [float(y) for y in dqn.dqn_targets_exact(zeros, q_target, zeros, 1.0)]
            self.compare("DQN bootstrap max Q'(s', .)", "rlspec.oracles.dqn.dqn_targets_exact",
                         expected, bootstrap, tolerance)
        n = rewards.shape[1]
        expected = [float(dqn.n_step_targets_exact(rewards[i], np.full(n, bootstrap[i]), term[i],
                                                   cut[i], gamma, n)[0])
                    for i in range(len(bootstrap))]
        self.compare(f"{n}-step target", "rlspec.oracles.dqn.n_step_targets_exact", expected,
                     targets, tolerance, {"rewards": rewards, "terminated": term, "cut": cut,
                                          "bootstrap": bootstrap})

    @_timed
    def c51_projection(self, return_sums, discounts, next_probabilities, projected, v_min, v_max
                       ) -> None:
        """The projected distributions against ``categorical_projection_exact``, grouped by
        the discount gamma^m of each row (the oracle takes one gamma)."""
        r, d, p, got = (_numpy(x) for x in (return_sums, discounts, next_probabilities, projected))
        for factor in np.unique(d):
            rows = np.flatnonzero(d == factor)[:HIGH_PRECISION_ROWS]
            terminated = np.full(rows.size, factor == 0.0)
            expected = distributional.categorical_projection_exact(
                r[rows], terminated, factor if factor > 0 else 1.0, p[rows], v_min, v_max)
            self.compare("C51 projection", "rlspec.oracles.distributional."
                         "categorical_projection_exact", expected.astype(float), got[rows],
                         float32_tolerance(1.0, 4 * p.shape[1]),
                         {"return_sums": r[rows], "discount": np.full(rows.size, factor)})

    @_timed
    def per_weights(self, priorities, indices, alpha, beta, weights) -> None:
        expected = prioritized_replay.importance_weights_precise(_numpy(priorities),
                                                              _numpy(indices).astype(int), alpha, beta)
        self.compare("prioritized replay importance weights",
                     "rlspec.oracles.prioritized_replay.importance_weights_precise", expected, weights,
                     float32_tolerance(1.0, 16))

    @_timed
    def td_loss(self, function, q_values, actions, targets, kind: str) -> None:
        """The loss on Q(s, a) and its gradient w.r.t. the whole Q table: with the agent's
        targets as rewards of terminal transitions, the oracle's target is y itself."""

        def loss_of_table(table):
            return function(table.gather(1, actions.unsqueeze(1)).squeeze(1), targets, None, kind)

        value, gradient = _value_and_gradient(loss_of_table, 0, q_values)
        q, y = _numpy(q_values), _numpy(targets)
        expected, expected_gradient = dqn.dqn_loss_and_gradient_exact(
            q, _numpy(actions).astype(int), y, np.zeros_like(q), np.ones(len(y)), 0.0, kind)
        size = float(np.abs(q).max() + np.abs(y).max() + 1.0)
        self.compare(f"{kind} TD loss", "rlspec.oracles.dqn.dqn_loss_and_gradient_exact",
                     float(expected), value, float32_tolerance(size * size, 4 * len(y)))
        self.compare(f"{kind} TD loss gradient d/dQ", "rlspec.oracles.dqn."
                     "dqn_loss_and_gradient_exact", expected_gradient.astype(float), gradient,
                     float32_tolerance(size, 8) / len(y))

    # ------------------------------------------------------------------ TD3, SAC
    @_timed
    def continuous_targets(self, rewards, terminated, next_q1, next_q2, targets, gamma,
                           next_log_probs=None, alpha=None) -> None:
        r, term, q1, q2 = (_numpy(x) for x in (rewards, terminated, next_q1, next_q2))
        tolerance = float32_tolerance(np.abs(r).max() + np.abs(q1).max() + np.abs(q2).max()
                                      + (0.0 if alpha is None else alpha * np.abs(
                                          _numpy(next_log_probs)).max()), 8)
        if next_log_probs is None:
            expected = td3.td3_targets_exact(r, term, q1, q2, gamma)
            oracle = "rlspec.oracles.td3.td3_targets_exact"
        else:
            expected = sac.sac_targets_exact(r, term, q1, q2,
                                                            _numpy(next_log_probs), alpha, gamma)
            oracle = "rlspec.oracles.sac.sac_targets_exact"
        self.compare("critic targets", oracle, expected, targets, tolerance,
                     {"rewards": r, "terminated": term, "next_q1": q1, "next_q2": q2})

    @_timed
    def smoothing(self, next_actions, noise, noise_clip, low, high, smoothed) -> None:
        expected = td3.smoothed_actions_exact(
            _numpy(next_actions), _numpy(noise), noise_clip, _numpy(low), _numpy(high))
        self.compare("target policy smoothing", "rlspec.oracles.td3."
                     "smoothed_actions_exact", expected, smoothed,
                     float32_tolerance(float(np.abs(_numpy(high)).max()) + 1.0, 4))

    @_timed
    def sac_losses(self, functions, log_probs, q1, q2, alpha, log_alpha, target_entropy,
                   mean, log_std, pre_tanh) -> None:
        """The actor loss, the temperature loss (values, gradients) and log pi itself."""
        value, gradient = _value_and_gradient(functions.sac_actor_loss, 0, log_probs, q1, q2, alpha)
        exact = sac.actor_loss_exact(_numpy(log_probs), _numpy(q1), _numpy(q2), alpha)
        size = float(np.abs(_numpy(q1)).max() + alpha * np.abs(_numpy(log_probs)).max() + 1.0)
        self.compare("SAC actor loss", "rlspec.oracles.sac.actor_loss_exact",
                     exact["value"], value, float32_tolerance(size, 4 * len(exact["q1"])))
        self.compare("SAC actor loss gradient d/dlog pi", "rlspec.oracles.sac."
                     "actor_loss_exact", exact["log_probs"], gradient,
                     float32_tolerance(alpha / len(gradient), 4))
        if log_alpha is not None:
            value, gradient = _value_and_gradient(functions.temperature_loss, 0, log_alpha,
                                                  log_probs, target_entropy)
            expected, expected_gradient = sac.temperature_loss_exact(
                float(log_alpha), _numpy(log_probs), target_entropy)
            tolerance = float32_tolerance(np.exp(float(log_alpha)) * (
                np.abs(_numpy(log_probs)).max() + abs(target_entropy)), 4 * log_probs.numel() + 8)
            self.compare("temperature loss", "rlspec.oracles.sac."
                         "temperature_loss_exact", expected, value, tolerance)
            self.compare("temperature loss gradient d/dlog alpha", "rlspec.oracles."
                         "sac.temperature_loss_exact", expected_gradient,
                         gradient, tolerance)
        rows = slice(0, HIGH_PRECISION_ROWS)
        m, s, u = _numpy(mean)[rows], _numpy(log_std)[rows], _numpy(pre_tanh)[rows]
        expected = sac.squashed_gaussian_log_density_mp(m, s, u)
        got = functions.squashed_gaussian_log_prob(mean[rows], log_std[rows], pre_tanh[rows])
        magnitude = np.abs(((u - m) / np.exp(s)) ** 2).max() + np.abs(s).max() + np.abs(u).max() + 2
        self.compare("squashed Gaussian log pi", "rlspec.oracles.sac."
                     "squashed_gaussian_log_density_mp", expected, got,
                     float32_tolerance(magnitude, 16 * m.shape[1]))

    def summary(self, total_seconds: float) -> str:
        if self.validations == 0:
            return "live validation: off"
        share = 100.0 * self.seconds / max(total_seconds, 1e-9)
        return (f"live validation: {self.validations} updates validated, {self.checks} "
                f"comparisons, all passed; {self.seconds:.2f} s of {total_seconds:.2f} s "
                f"({share:.1f}% of the run)")


def _excerpt(value, index) -> str:
    """The input around the failing entry: its row, or a few entries either side."""
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{array}"
    position = index[0] if array.shape[0] > index[0] else 0
    if array.ndim >= 2:
        return np.array2string(array[position], precision=6)
    start = max(0, position - 3)
    return f"[{start}:{position + 4}] " + np.array2string(array[start:position + 4], precision=6)
