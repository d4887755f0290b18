"""A loss value with, per input entry, the interval of its valid derivatives (subgradients).

Shared by the oracles of losses with kinks (clips, min/max): at a kink every derivative
between the one-sided ones is valid, and the judges accept any value in the interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LossAndGradient:
    """A loss value and, per input entry, the interval of its valid derivatives."""

    value: float
    gradient_low: np.ndarray
    gradient_high: np.ndarray

    @property
    def gradient(self) -> np.ndarray:
        """The midpoint of each interval (the derivative itself where there is no kink)."""
        return 0.5 * (self.gradient_low + self.gradient_high)


def scaled_interval(low, high, factor):
    """factor * [low, high] as an ordered pair (a negative factor swaps the ends)."""
    a, b = factor * low, factor * high
    return (a, b) if a <= b else (b, a)
