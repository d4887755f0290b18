"""The importance-sampling estimator of an expectation under another distribution."""

from __future__ import annotations

from rlspec import validation

__all__ = ["importance_sampling_estimate"]


def importance_sampling_estimate(values, target_probabilities, behaviour_probabilities) -> float:
    r"""Estimate :math:`\mathbb E_{x\sim p}[f(x)]` from samples drawn from q.

    .. math:: \mathbb E_{x\sim p}[f(x)] = \sum_x f(x)\frac{p(x)}{q(x)}q(x)
              = \mathbb E_{x\sim q}\Big[f(x)\frac{p(x)}{q(x)}\Big]
              \approx \frac1N\sum_{n=1}^N f(x_n)\frac{p(x_n)}{q(x_n)},\quad x_n\sim q

    Source: seed 001, "6. 重要性采样".  Arguments are per sample: ``values[n] = f(x_n)``,
    ``target_probabilities[n] = p(x_n)``, ``behaviour_probabilities[n] = q(x_n)``.  The
    estimator is unbiased only when q(x) > 0 wherever p(x) f(x) != 0, a condition the notes
    leave out (spec entry ``pg.importance-sampling``, erratum).  Dividing by the sum of the
    ratios instead of N (weighted importance sampling) is a different, biased estimator.

    Example: samples f = (1, 2) with p = (0.5, 0.25) and q = (0.25, 0.5):
    ratios (2, 0.5), estimate (2 * 1 + 0.5 * 2) / 2 = 1.5.

    >>> importance_sampling_estimate([1.0, 2.0], [0.5, 0.25], [0.25, 0.5])
    1.5
    """
    values = validation.as_float_array(values, "values f(x_n)", ndim=1)
    target = validation.as_float_array(target_probabilities, "target_probabilities p(x_n)", ndim=1)
    behaviour = validation.as_float_array(behaviour_probabilities,
                                          "behaviour_probabilities q(x_n)", ndim=1)
    validation.check_shape(target, values.shape, "target_probabilities p(x_n)")
    validation.check_shape(behaviour, values.shape, "behaviour_probabilities q(x_n)")
    if values.size == 0:
        raise validation.InvalidInputError("importance sampling needs at least one sample")
    if (behaviour <= 0).any():
        raise validation.InvalidInputError(
            "behaviour_probabilities q(x_n) must be positive: a sample cannot have been drawn "
            "from q where q(x) = 0"
        )
    total = 0.0
    for f, p, q in zip(values, target, behaviour):
        total += f * p / q
    return float(total / values.size)
