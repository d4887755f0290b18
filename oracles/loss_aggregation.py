r"""Loss aggregation over tokens and sequences, exactly.

Method, independence from ``rlspec.reference`` and accuracy: as stated in
``rlspec.oracles.rlhf_ppo``, which this module shares its conventions with.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec.oracles.methods.conversions import to_floats, to_fractions
from rlspec.oracles.methods.subgradients import LossAndGradient

__all__ = [
    "aggregate_exact",
]


def aggregate_exact(per_token_loss, mask, mode: str, normaliser=None) -> LossAndGradient:
    """The aggregate sum w l of a per-token loss matrix and its exact gradient w, for the
    modes of ``rlspec.reference.loss_aggregation``; the weights are built as rationals from
    their definitions (N tokens, B rows, n_b tokens in row b, the constant C)."""
    loss = to_fractions(per_token_loss)
    mask = np.asarray(mask, dtype=np.float64)
    batch = mask.shape[0]
    total_tokens = int(mask.sum())
    weights = np.full(mask.shape, Fraction(0), dtype=object)
    for b in range(batch):
        row_tokens = int(mask[b].sum())
        for t in range(mask.shape[1]):
            if mask[b, t] != 1.0:
                continue
            if mode == "token-mean":
                weights[b, t] = Fraction(1, total_tokens)
            elif mode == "seq-mean-token-mean":
                weights[b, t] = Fraction(1, batch * row_tokens)
            elif mode == "seq-mean-token-sum":
                weights[b, t] = Fraction(1, batch)
            elif mode == "seq-mean-token-sum-norm":
                weights[b, t] = 1 / (batch * Fraction(float(normaliser)))
            else:
                raise ValueError(f"unknown aggregation mode {mode!r}")
    value = sum((weights[index] * loss[index] for index in zip(*np.nonzero(mask))), Fraction(0))
    gradient = to_floats(weights)
    return LossAndGradient(float(value), gradient, gradient)
