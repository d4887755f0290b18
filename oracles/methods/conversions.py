"""Floats to exact Fractions and back: the one conversion every exact oracle uses.

``Fraction(0.1)`` is the binary value the float holds, not 1/10, so an answer computed from
these is the exact value of the problem *the floats describe*; rounding it back with
:func:`to_floats` is the only rounding.  Oracles use these; references never do.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec import validation


def to_fractions(array) -> np.ndarray:
    """An object array of the same shape holding exact Fractions.

    Floats (and ints, bools) are converted exactly; Fractions are kept as they are (a
    round trip through float64 would round them)."""
    if isinstance(array, np.ndarray) and array.dtype == object:
        return np.vectorize(Fraction, otypes=[object])(array) if array.size else array.copy()
    if isinstance(array, (list, tuple)) and any(isinstance(x, Fraction) for x in np.ravel(
            np.array(array, dtype=object))):
        return to_fractions(np.array(array, dtype=object))
    array = np.asarray(array, dtype=np.float64)
    return np.vectorize(Fraction, otypes=[object])(array) if array.size else array.astype(object)


def fraction_list(values, name: str | None = None) -> list[Fraction]:
    """The entries of ``values``, flattened, as a list of exact Fractions.

    With ``name``, ``values`` must be a 1-D float array and an error names it otherwise."""
    if name is not None:
        values = validation.as_float_array(values, name, ndim=1)
    return [Fraction(float(v)) for v in np.asarray(values, dtype=np.float64).ravel()]


def to_floats(values) -> np.ndarray:
    """Exact values (Fractions, or anything ``float`` takes) rounded once to a float64 array
    of the same shape."""
    return np.vectorize(float, otypes=[np.float64])(np.asarray(values, dtype=object))
