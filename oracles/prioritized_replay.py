"""Independent answers for prioritized experience replay.

- Probabilities and weights involve p^alpha with a real alpha, which no rational arithmetic
  represents; they are computed with mpmath at 50 significant digits (``PRECISION``), as
  exp(alpha log p), a different route from numpy's pow.  The error is below 1e-45 relative,
  so against a float64 answer (relative rounding ~1e-16) the oracle is exact for all
  practical purposes.
- The beta schedule is exact in Fractions, twice: the closed form and repeated addition of
  the increment.
- The sum tree is judged by what it must do, not how: the leaf for a prefix sum u by a
  linear scan of exact cumulative sums, and the *sampling measure* of each leaf by exact
  integration over u.  For priorities that are multiples of a binary cell (1/2, 1/4, ...)
  every cumulative sum is a multiple of the cell, so a sampler that is constant between
  cumulative sums is determined by its value at the middle of each cell; the measure of
  leaf i is then (number of cells whose middle maps to i) x cell, an exact rational.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
from rlspec.oracles.methods.conversions import to_fractions

__all__ = [
    "proportional_probabilities_precise", "rank_based_probabilities_by_group",
    "importance_weights_precise", "beta_schedule_exact", "beta_schedule_by_increments",
    "prefix_sum_leaf_exact", "admissible_leaves", "sampling_grid", "leaf_measures",
]

PRECISION = 50  # significant decimal digits of the mpmath oracles

#: The finest grid the measure oracle integrates over (cells per unit of total priority
#: times total): keeps the judge's single call to the candidate below a few thousand draws.
MAX_CELLS = 4096


def _powered(priorities, alpha) -> list:
    """p^alpha / sum p^alpha with mpmath, 0^0 = 1 (alpha = 0 is uniform)."""
    with mpmath.workdps(PRECISION):
        a = mpmath.mpf(float(alpha))
        powered = [mpmath.mpf(1) if (p == 0 and a == 0) else
                   (mpmath.mpf(0) if p == 0 else mpmath.exp(a * mpmath.log(mpmath.mpf(p))))
                   for p in priorities]
        total = mpmath.fsum(powered)
        if total == 0:
            raise ValueError("every priority is 0: P(i) is undefined")
        return [value / total for value in powered]


def proportional_probabilities_precise(td_errors, alpha, epsilon) -> np.ndarray:
    """P(i) = (|delta_i| + eps)^alpha / sum_k (|delta_k| + eps)^alpha, to 50 digits."""
    with mpmath.workdps(PRECISION):
        priorities = [abs(mpmath.mpf(float(d))) + mpmath.mpf(float(epsilon)) for d in td_errors]
        return np.array([float(p) for p in _powered(priorities, alpha)])


def rank_based_probabilities_by_group(td_errors, alpha) -> list[tuple[list[int], np.ndarray]]:
    """Rank-based P(i) for p_i = 1 / rank(i), grouped by tied |delta|.

    Returns ``[(indices, probabilities), ...]``, largest |delta| first: the transitions of a
    group share one |delta| and, between them, take the consecutive ranks r..r+g-1 in any
    order, so an answer is right when on each group it is a permutation of ``probabilities``
    (the P of ranks r..r+g-1).  Ranks are counted by comparing every pair of |delta|.
    """
    magnitudes = [abs(Fraction(float(d))) for d in td_errors]
    n = len(magnitudes)
    with mpmath.workdps(PRECISION):
        by_rank = _powered([mpmath.mpf(1) / rank for rank in range(1, n + 1)], alpha)
    groups, seen = [], set()
    for value in sorted(set(magnitudes), reverse=True):
        members = [i for i in range(n) if magnitudes[i] == value]
        first_rank = 1 + sum(1 for m in magnitudes if m > value)  # how many are larger, plus 1
        groups.append((members, np.array([float(by_rank[first_rank - 1 + k])
                                          for k in range(len(members))])))
        seen.update(members)
    assert len(seen) == n
    return groups


def importance_weights_precise(priorities, indices, alpha, beta) -> np.ndarray:
    """w_j = (N P(j))^-beta / max_i (N P(i))^-beta over the whole buffer, to 50 digits."""
    probabilities = _powered([mpmath.mpf(float(p)) for p in priorities], alpha)
    with mpmath.workdps(PRECISION):
        n, b = len(probabilities), mpmath.mpf(float(beta))
        raw = [(n * p) ** (-b) for p in probabilities]
        largest = max(raw)
        return np.array([float(raw[int(j)] / largest) for j in indices])


def beta_schedule_exact(step, total_steps, beta_start) -> Fraction:
    """beta_t = beta_0 + min(t, T - 1) (1 - beta_0) / (T - 1), and 1 when T = 1."""
    beta_start = Fraction(float(beta_start))
    if total_steps == 1:
        return Fraction(1)
    return beta_start + Fraction(min(int(step), total_steps - 1), total_steps - 1) * (1 - beta_start)


def beta_schedule_by_increments(step, total_steps, beta_start) -> Fraction:
    """The same schedule by adding the increment (1 - beta_0)/(T - 1) once per step, and
    stopping at 1: an arithmetic progression written as a loop."""
    beta = Fraction(float(beta_start))
    if total_steps == 1:
        return Fraction(1)
    increment = (1 - beta) / (total_steps - 1)
    for _ in range(int(step)):
        beta = min(Fraction(1), beta + increment)
    return beta


def _cumulative(priorities) -> list[Fraction]:
    sums, running = [], Fraction(0)
    for p in to_fractions(priorities):
        running += p
        sums.append(running)
    return sums


def prefix_sum_leaf_exact(priorities, u) -> int:
    """The leaf i with C_{i-1} <= u < C_i, C the exact cumulative sums (linear scan)."""
    u = Fraction(float(u))
    previous = Fraction(0)
    for i, upper in enumerate(_cumulative(priorities)):
        if previous <= u < upper:
            return i
        previous = upper
    raise ValueError(f"u = {float(u)!r} is outside [0, total)")


def admissible_leaves(priorities, u) -> set[int]:
    """Leaves of positive priority whose closed interval [C_{i-1}, C_i] contains u.

    Inside an interval that is one leaf; at a cumulative sum shared by two leaves it is
    both (the endpoint has probability 0, so either convention samples correctly); a leaf of
    priority 0 is never admissible.
    """
    u = Fraction(float(u))
    previous, leaves = Fraction(0), set()
    for i, upper in enumerate(_cumulative(priorities)):
        if upper > previous and previous <= u <= upper:
            leaves.add(i)
        previous = upper
    return leaves


def sampling_grid(priorities) -> tuple[Fraction, np.ndarray, np.ndarray]:
    """``(cell, middles, boundaries)``: the binary cell that every priority is a multiple of,
    the middle of every cell in [0, total), and every cell boundary in [0, total)."""
    exact = to_fractions(priorities)
    cell = Fraction(1, max(p.denominator for p in exact))
    total = sum(exact, Fraction(0))
    if total <= 0:
        raise ValueError("the priorities sum to 0: there is nothing to sample")
    cells = total / cell
    if cells > MAX_CELLS:
        raise ValueError(f"{cells} cells: priorities too fine for exact integration")
    count = int(cells)
    middles = np.array([float((k + Fraction(1, 2)) * cell) for k in range(count)])
    boundaries = np.array([float(k * cell) for k in range(count)])
    return cell, middles, boundaries


def leaf_measures(n_leaves: int, cell: Fraction, leaves_at_middles) -> list[Fraction]:
    """The sampling measure of each leaf: cell x (number of cell middles mapped to it).

    Divided by the total, this is the exact probability with which a uniform u in [0, total)
    selects each leaf, for a sampler that is constant between cumulative sums.
    """
    measures = [Fraction(0)] * n_leaves
    for leaf in leaves_at_middles:
        if not 0 <= int(leaf) < n_leaves:
            raise ValueError(f"leaf {leaf!r} is not in range({n_leaves})")
        measures[int(leaf)] += cell
    return measures
