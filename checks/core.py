"""The judging core: how a candidate's answer is compared with an oracle, written once.

Every battery's judge computes the exact answer with an oracle and hands it, with the
candidate's answer, to one of the functions here.  The rules, stated once for all chapters
(the README repeats them for users):

- **Values.**  An answer is compared entry by entry: |got - expected| <= tolerance *
  max(1, max |expected|) (:func:`compare`).  It must have the expected shape (a one-element
  answer is accepted for a scalar) and be finite.
- **Kinks.**  Where a formula is not differentiable (PPO's clip at exactly 1 +- eps, a
  max over tied actions) the oracle gives an interval of one-sided derivatives and any value
  in it is accepted (:func:`within_bounds`).
- **What counts as an array** (decided in the worker, :mod:`rlspec.checks.candidate`): numpy
  arrays and scalars, Python numbers, nested lists of numbers and torch tensors are converted
  to float64; booleans count as 0 and 1; None, strings, complex numbers, generators, objects
  and tuples or lists holding arrays are rejected with a message naming what came back.
- **Losses** are judged on their value and their gradient.  A loss must be a floating torch
  tensor that carries its autograd graph: a Python float, a numpy number or a detached tensor
  (``.item()``, ``.detach()``, ``torch.no_grad()``) is a failure, because an optimiser could
  not train with it.  Inputs the formula treats as constants (old log-probs, advantages,
  targets, reference log-probs) are passed as tensors that require grad, and a loss that
  sends gradient into one of them fails with a hint naming the missing ``detach``.  A loss
  receives integer arrays as int64 tensors and flags and masks as float64 0/1 tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Default agreement demanded of a candidate: |got - expected| <= RELATIVE_TOLERANCE *
#: max(1, max |expected|), entry by entry.  Catalogued bugs are off by O(1) of the scale;
#: a correct iterative method stopped at a sensible threshold (1e-8) is off by far less.
RELATIVE_TOLERANCE = 1e-6


class UsageError(ValueError):
    """A check was asked for wrongly (an unknown name, an option out of range, a candidate
    whose parameters do not fit the check): nothing was judged."""


@dataclass(frozen=True)
class Case:
    """One input to a candidate: keyword ``arguments`` in the canonical signature, plus a
    ``label`` saying where it came from and ``context`` the judge may use."""

    label: str
    arguments: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Mismatch:
    """What a judge found wrong with the candidate's answer on one case."""

    message: str
    expected: Any = None
    got: Any = None
    tolerance: float | None = None

    def prefixed(self, prefix: str) -> Mismatch:
        return Mismatch(prefix + self.message, self.expected, self.got, self.tolerance)

    def with_hint(self, hint: str) -> Mismatch:
        return Mismatch(self.message + hint, self.expected, self.got, self.tolerance)


class CandidateFailure(Exception):
    """The candidate raised, hung, died, or returned something that is not an answer.

    ``kind`` is one word (raised, timeout, died, type, shape, nan, gradient, leak);
    ``details`` holds the candidate's trimmed traceback where there is one.
    """

    def __init__(self, kind: str, message: str, got: Any = None, details: str | None = None):
        super().__init__(message)
        self.kind, self.message, self.got, self.details = kind, message, got, details


def answer(output: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    """The candidate's converted output as a finite float64 array of ``shape`` (``()`` for
    a scalar; None accepts any shape), or a CandidateFailure naming what is wrong."""
    if shape is not None and output.shape != tuple(shape):
        if output.size == 1 and tuple(shape) == ():
            output = output.reshape(())
        else:
            raise CandidateFailure("shape", f"returned shape {output.shape}, expected "
                                            f"{tuple(shape)}", output)
    if not np.all(np.isfinite(output)):
        raise CandidateFailure("nan", "returned NaN or infinity", output)
    return output


def compare(expected, got, tolerance: float) -> Mismatch | None:
    """Entry-wise |got - expected| <= tolerance * max(1, max |expected|)."""
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    absolute = tolerance * max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = np.abs(got - expected)
    if np.all(error <= absolute):
        return None
    worst = np.unravel_index(int(np.argmax(error)), error.shape) if error.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if error.ndim else ""
    return Mismatch(f"differs from the oracle by {float(error[worst]):.6g}{where}",
                    expected=expected, got=got, tolerance=absolute)


def within_bounds(name: str, got, lower, upper, tolerance: float,
                  hint: str = "") -> Mismatch | None:
    """The gradient ``got`` with respect to ``name`` must lie in [lower, upper] entry by
    entry, up to the relative tolerance; lower == upper where the formula is smooth."""
    return within_interval(got, lower, upper, tolerance, f"the gradient d loss / d {name}", hint)


def within_interval(got, lower, upper, tolerance: float, what: str = "the answer",
                    hint: str = "") -> Mismatch | None:
    """``got`` must lie in [lower, upper] entry by entry, up to the relative tolerance: the
    rule where the formula admits a range (a kink, or a stated freedom such as an epsilon
    of at most 1e-8)."""
    got = np.asarray(got, dtype=np.float64)
    lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), got.shape)
    upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), got.shape)
    scale = np.concatenate([lower.ravel(), upper.ravel()])
    slack = tolerance * max(1.0, float(np.max(np.abs(scale), initial=0.0)))
    error = np.maximum(lower - got, got - upper)
    if np.all(error <= slack):
        return None
    worst = np.unravel_index(int(np.argmax(error)), error.shape) if error.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if error.ndim else ""
    expected = np.where(lower == upper, lower, (lower + upper) / 2)
    kink = "" if lower[worst] == upper[worst] else \
        f" (a kink: any value in [{lower[worst]:.6g}, {upper[worst]:.6g}] is accepted)"
    return Mismatch(f"{what} is wrong{where}: {got[worst]:.6g} instead "
                    f"of {expected[worst]:.6g}{kink}{hint}", expected=expected, got=got,
                    tolerance=slack)


def exact_gradient(gradient) -> tuple[np.ndarray, np.ndarray]:
    """The bounds of a smooth gradient: the interval [g, g]."""
    gradient = np.asarray(gradient, dtype=np.float64)
    return gradient, gradient


@dataclass(frozen=True)
class Differentiated:
    """A loss the candidate returned: its value and d(sum of weights * value) / d input for
    each input the judge asked about (zeros where the loss does not depend on it)."""

    value: np.ndarray
    gradients: dict[str, np.ndarray]


def judge_loss(got: Differentiated, expected_value, gradient_bounds: dict[str, tuple],
               tolerance: float, value_hint=None, gradient_hints: dict[str, str] | None = None
               ) -> Mismatch | None:
    """Compare a loss's value, then each gradient, with the oracle's.

    ``gradient_bounds[name]`` is (lower, upper), equal where the loss is smooth; an entry of
    NaN in both marks a point where any subgradient is accepted.  ``value_hint(expected,
    got)`` may return a sentence that names a common mistake.
    """
    found = compare(expected_value, got.value, tolerance)
    if found:
        hint = value_hint(np.asarray(expected_value, dtype=np.float64), got.value) \
            if value_hint else ""
        return found.prefixed("the loss value ").with_hint(hint or "")
    for name, (lower, upper) in gradient_bounds.items():
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        free = np.isnan(lower) | np.isnan(upper)
        lower, upper = np.where(free, -np.inf, lower), np.where(free, np.inf, upper)
        found = within_bounds(name, got.gradients[name], lower, upper, tolerance,
                              (gradient_hints or {}).get(name, ""))
        if found:
            return found
    return None
