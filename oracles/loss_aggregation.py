r"""Loss aggregation over tokens and sequences, exactly.  (Note shared with ``rlhf_ppo``.)

Exact answers for the RLHF-PPO token-level formulas and for loss aggregation.

Independent of ``rlspec.reference``: rational arithmetic (``fractions.Fraction``: every float
input converted exactly) where the formula is rational, 40-digit arithmetic (``mpmath``)
where it needs exp or log, direct sums where the reference uses recursions, and
closed-form (sub)gradients where the reference relies on autograd.  Conventions are those
of ``rlspec.reference.rlhf_ppo`` (columns aligned with the predicted token, a 0/1 mask of
response tokens).

Losses come back as :class:`LossAndGradient`: the value, and for each input entry an
interval ``[gradient_low, gradient_high]`` holding every valid derivative.  The interval is
a single point except where the loss has a kink exactly at the input (a clip boundary, or
the two branches of a max tied with different slopes); there autograd may return any
subgradient (torch splits ties between the branches), and the judges accept any value in
the interval.

Accuracy: the rational results are exact; the 40-digit ones are within 1e-35 relative
before the single rounding to float64 at the end, so these are correctly rounded up to an
ulp or two.  Cost: O(B T) operations on big rationals or mp numbers: keep B T below about
a thousand.
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
