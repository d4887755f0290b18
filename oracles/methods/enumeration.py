"""Exact expectations over small discrete distributions, by enumerating every outcome.

Used for estimators: the expectation of an estimator computed from ``n`` independent samples
is the sum over all ``len(support) ** n`` sample tuples, weighted by their probability.
Nothing is sampled, so unbiasedness is a statement about a finite sum, checkable exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from rlspec import validation

__all__ = ["expectation", "expected_estimate"]


def expectation(values, probabilities) -> float:
    """E_{x ~ p}[f(x)] = sum_x p(x) f(x)."""
    values = validation.as_float_array(values, "values f(x)", ndim=1)
    probabilities = validation.distribution(probabilities, values.size, "probabilities p(x)")
    return float(probabilities @ values)


def expected_estimate(
    estimator: Callable[[np.ndarray, np.ndarray, np.ndarray], float],
    values, target_probabilities, behaviour_probabilities, n_samples: int,
) -> float:
    """E over x_1..x_n iid ~ q of ``estimator(f(x), p(x), q(x))``, by enumeration.

    The estimator receives, for the drawn samples, the values ``f(x_i)``, the target
    probabilities ``p(x_i)`` and the behaviour probabilities ``q(x_i)``.
    """
    values = validation.as_float_array(values, "values f(x)", ndim=1)
    target = validation.distribution(target_probabilities, values.size, "target p(x)")
    behaviour = validation.distribution(behaviour_probabilities, values.size, "behaviour q(x)")
    support = np.flatnonzero(behaviour > 0)
    total = 0.0
    for draw in itertools.product(support, repeat=n_samples):
        draw = np.array(draw)
        weight = float(np.prod(behaviour[draw]))
        total += weight * float(estimator(values[draw], target[draw], behaviour[draw]))
    return total
