"""rlax (JAX): its GAE, and its clipped surrogate loss through a JAX -> torch gradient bridge.

rlspec judges a loss by its value *and* its gradient, asking torch's autograd.
:func:`from_jax` makes any JAX function of arrays look like a torch function to autograd:
forward runs the JAX function under ``jax.vjp`` on the tensors' numbers; backward hands the
incoming gradient to JAX's pullback.  Every gradient-judged check can then judge JAX code.
float64 needs ``jax_enable_x64`` (set here when the bridge or an rlax candidate first runs),
since JAX computes in float32 by default and rlspec's default tolerance is float64's.

``truncated_generalized_advantage_estimation`` takes ``discount_t = gamma (1 - done_t)`` and
has no slot for V(final observation) of a truncated step, so it is judged on
``gae-no-truncation`` (the ``gae-rlax`` adapter) and fails the full ``gae`` check, as its
convention implies.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from rlspec.checks.gae_conventions import rlax_style
from rlspec.integrations import Conformance


@functools.cache
def _jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax


class _JaxFunction(torch.autograd.Function):
    """forward: the JAX function's value; backward: its vector-Jacobian product."""

    @staticmethod
    def forward(ctx, function, *tensors):
        jax = _jax()
        arrays = [jax.numpy.asarray(tensor.detach().cpu().numpy()) for tensor in tensors]
        value, ctx.pullback = jax.vjp(function, *arrays)
        return torch.as_tensor(np.asarray(value), dtype=torch.float64)

    @staticmethod
    def backward(ctx, gradient):
        cotangents = ctx.pullback(_jax().numpy.asarray(gradient.detach().cpu().numpy()))
        return (None, *[torch.as_tensor(np.asarray(c), dtype=torch.float64) for c in cotangents])


def from_jax(function, array_names: tuple[str, ...]):
    """``function`` (JAX) as a torch candidate: the arguments in ``array_names`` travel through
    autograd as tensors, the others (clip ranges, gamma) are passed as they are."""

    def candidate(**arguments):
        constants = {k: v for k, v in arguments.items() if k not in array_names}
        tensors = [torch.as_tensor(arguments[name], dtype=torch.float64) for name in array_names]

        def on_arrays(*arrays):
            return function(**dict(zip(array_names, arrays)), **constants)

        return _JaxFunction.apply(on_arrays, *tensors)

    candidate.__name__ = candidate.__qualname__ = getattr(function, "__name__", "jax_function")
    return candidate


def _clipped_surrogate(log_prob, old_log_prob, advantages, clip_epsilon):
    """rlax.clipped_surrogate_pg_loss on r = exp(log pi - stop_gradient(log pi_old))."""
    import rlax

    jax = _jax()
    ratios = jax.numpy.exp(log_prob - jax.lax.stop_gradient(old_log_prob))
    return rlax.clipped_surrogate_pg_loss(ratios, advantages, clip_epsilon)


ppo_clip_loss = from_jax(_clipped_surrogate, ("log_prob", "old_log_prob", "advantages"))


def _truncated_gae(r_t, discount_t, lambda_, values):
    import rlax

    _jax()
    return np.asarray(rlax.truncated_generalized_advantage_estimation(
        np.asarray(r_t), np.asarray(discount_t), float(lambda_), np.asarray(values)))


def gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """``truncated_generalized_advantage_estimation`` through the ``gae-rlax`` adapter."""
    return rlax_style(_truncated_gae)(rewards, values, next_values, terminated, truncated,
                                      gamma, lam)


def conformance() -> list[Conformance]:
    import rlax  # noqa: F401  (imported once here, with x64 on; each check's worker inherits it)

    _jax()
    return [
        Conformance("truncated_generalized_advantage_estimation", "gae-no-truncation", gae),
        Conformance("truncated_generalized_advantage_estimation", "gae", gae, "divergence",
                    "discount_t = gamma (1 - done) has no slot for V(final observation) of a "
                    "truncated step: use gae-no-truncation"),
        Conformance("clipped_surrogate_pg_loss (JAX, through from_jax)", "ppo-clip-loss",
                    ppo_clip_loss),
    ]
