"""Exact rationals into mpmath, and the transcendental functions the preference oracles need.

mpmath has no overflow, so the plain textbook forms are exact to the working precision
(``mpmath.mp.dps``, set by the caller with ``mpmath.workdps``).
"""

from __future__ import annotations

from fractions import Fraction

import mpmath


def mpf(value: Fraction) -> mpmath.mpf:
    """An exact Fraction as an mpmath number at the working precision."""
    return mpmath.mpf(value.numerator) / value.denominator


def log_sigmoid(z: mpmath.mpf) -> mpmath.mpf:
    """log sigma(z) = -log(1 + e^-z); mpmath has no overflow, so the plain form is exact."""
    return -mpmath.log1p(mpmath.exp(-z))


def sigmoid(z: mpmath.mpf) -> mpmath.mpf:
    return 1 / (1 + mpmath.exp(-z))
