r"""Prioritized experience replay: priorities, sampling probabilities, importance weights,
the β schedule and the sum tree that samples in O(log N).

Source: seed 000 "DQN 优化技巧", 优先级经验回放（prioritized experience replay，PER）, and its
note on linear annealing; seed 003, 4-6 (3).  Paper: Schaul, Quan, Antonoglou & Silver
(2016), "Prioritized Experience Replay", ICLR: §3.3 (P(i), the two priorities), §3.4 and
Algorithm 1 (importance weights, their max-normalisation, annealing β to 1), Appendix B.2.1
(the sum tree).

Conventions: a buffer of N transitions indexed 0..N-1; ``td_errors[i]`` is δ_i, the last
TD error of transition i; ``priorities[i]`` is p_i > 0; α ≥ 0 and β ∈ [0, 1]; float64.
"""

from __future__ import annotations

import math

import numpy as np

from rlspec import validation
from rlspec.validation import InvalidInputError

__all__ = [
    "proportional_probabilities", "rank_based_probabilities", "importance_weights",
    "linear_beta_schedule", "SumTree", "sum_tree_sample",
]


def _exponent(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if not number >= 0.0 or math.isinf(number):
        raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def _normalised_powers(priorities: np.ndarray, alpha: float) -> np.ndarray:
    """P(i) = p_i^alpha / sum_k p_k^alpha (0^0 = 1, so alpha = 0 is uniform)."""
    powered = np.array([p ** alpha for p in priorities])
    total = math.fsum(powered)
    if total == 0.0:
        raise InvalidInputError(
            "every priority is 0, so P(i) = p_i^alpha / sum_k p_k^alpha is 0/0; PER adds "
            "epsilon > 0 to |delta| precisely so that no priority is 0")
    return powered / total


def proportional_probabilities(td_errors, alpha, epsilon) -> np.ndarray:
    r"""Sampling probabilities of proportional prioritisation.

    .. math:: p_i = |\delta_i| + \epsilon,\qquad P(i) = \frac{p_i^\alpha}{\sum_k p_k^\alpha}

    Source: seed 000 "DQN 优化技巧", PER: :math:`p_i = |\delta_i| + \epsilon` and
    :math:`P(i) = p_i^\alpha / \sum_k p_k^\alpha` ("α = 0 时对应回均匀采样"); Schaul et al.
    (2016), eq. (1).  ε > 0 keeps a transition whose TD error is 0 sampleable.  Note where ε
    goes: before the power, (|δ| + ε)^α, not |δ|^α + ε.

    Example: δ = (0, 3), ε = 1, α = 1: p = (1, 4), P = (1/5, 4/5).

    >>> proportional_probabilities([0.0, -3.0], 1.0, 1.0)
    array([0.2, 0.8])
    """
    td_errors = validation.as_float_array(td_errors, "td_errors delta_i", ndim=1)
    if td_errors.size == 0:
        raise InvalidInputError("td_errors is empty: there is nothing to sample")
    epsilon = _exponent(epsilon, "epsilon")
    alpha = _exponent(alpha, "alpha")
    priorities = np.array([abs(delta) + epsilon for delta in td_errors])
    return _normalised_powers(priorities, alpha)


def rank_based_probabilities(td_errors, alpha) -> np.ndarray:
    r"""Sampling probabilities of rank-based prioritisation.

    .. math:: p_i = \frac{1}{\operatorname{rank}(i)},\qquad P(i) = \frac{p_i^\alpha}{\sum_k p_k^\alpha}

    where rank(i) is the position of transition i when the buffer is sorted by |δ| in
    decreasing order (rank 1 = largest |δ|).  Source: seed 000 "DQN 优化技巧", PER
    (":math:`p_i = 1/\text{rank}(i)`，其中 rank 是基于 |δ_i| 的等级评定"); Schaul et al. (2016),
    §3.3.  Ties: equal |δ| are ranked in index order here; the check accepts any order
    among tied transitions (each still gets a distinct rank, so P sums to 1).

    Example: δ = (1, -5, 2), α = 1: ranks (3, 1, 2), p = (1/3, 1, 1/2), sum 11/6,
    P = (2/11, 6/11, 3/11).

    >>> np.round(rank_based_probabilities([1.0, -5.0, 2.0], 1.0) * 11, 12)
    array([2., 6., 3.])
    """
    td_errors = validation.as_float_array(td_errors, "td_errors delta_i", ndim=1)
    if td_errors.size == 0:
        raise InvalidInputError("td_errors is empty: there is nothing to sample")
    alpha = _exponent(alpha, "alpha")
    order = sorted(range(td_errors.size), key=lambda i: (-abs(td_errors[i]), i))
    priorities = np.zeros(td_errors.size)
    for position, i in enumerate(order):
        priorities[i] = 1.0 / (position + 1)
    return _normalised_powers(priorities, alpha)


def importance_weights(priorities, indices, alpha, beta) -> np.ndarray:
    r"""Importance-sampling weights of the sampled transitions, normalised by the largest.

    .. math:: w_j = \frac{(N\,P(j))^{-\beta}}{\max_i (N\,P(i))^{-\beta}}
              = \Big(\frac{P(j)}{\min_i P(i)}\Big)^{-\beta},\qquad
              P(i) = \frac{p_i^\alpha}{\sum_k p_k^\alpha}

    with i over the whole buffer of N transitions (the same range as the sum in P(i)), so
    0 < w_j ≤ 1 and the transition least likely to be sampled has weight 1.

    Source: seed 000 "DQN 优化技巧", PER: :math:`\omega_i = (NP(i))^{-\beta}`; the notes
    leave out the division by the largest weight, which Schaul et al. (2016, §3.4 and
    Algorithm 1 line 10) "always" apply (spec ``per.importance-weights``, erratum).

    Conventions: ``priorities[i] = p_i > 0`` for all N transitions in the buffer (a zero
    priority would have P = 0 and an infinite weight); ``indices[j]`` the sampled
    transitions; returns ``w[j]``.

    Example: p = (1, 3), α = β = 1: P = (1/4, 3/4), N P = (1/2, 3/2), raw weights (2, 2/3),
    normalised (1, 1/3).

    >>> importance_weights([1.0, 3.0], [1, 0], 1.0, 1.0)
    array([0.33333333, 1.        ])
    """
    priorities = validation.as_float_array(priorities, "priorities p_i", ndim=1)
    if priorities.size == 0 or not np.all(priorities > 0):
        raise InvalidInputError(
            "priorities must be a non-empty array of positive numbers (a zero priority has "
            f"P(i) = 0 and an infinite weight), got {priorities.tolist()}")
    indices = np.asarray(indices)
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer) and indices.size:
        raise InvalidInputError(f"indices must be a 1-D array of integers, got {indices!r}")
    if np.any((indices < 0) | (indices >= priorities.size)):
        raise InvalidInputError(f"indices must lie in range({priorities.size}), got {indices.tolist()}")
    alpha = _exponent(alpha, "alpha")
    beta = _exponent(beta, "beta")
    if beta > 1.0:
        raise InvalidInputError(f"beta must lie in [0, 1], got {beta!r}")
    probabilities = _normalised_powers(priorities, alpha)
    n = priorities.size
    largest = (n * probabilities.min()) ** (-beta)
    return np.array([(n * probabilities[j]) ** (-beta) / largest for j in indices.astype(int)])


def linear_beta_schedule(step, total_steps, beta_start) -> float:
    r"""β annealed linearly from β₀ at the first step to 1 at the last, then held at 1.

    .. math:: \beta_t = \beta_0 + \frac{\min(t, T-1)\,(1 - \beta_0)}{T - 1},\qquad t = 0, 1, \ldots

    Source: seed 000 "DQN 优化技巧", PER, the note on 线性退火: "若设置初始值 0.6，终止值 1.0，
    最大迭代步数为 100，则第 0 ≤ t < 100 步取 β = 0.6 + t(1.0 − 0.6)/99", so β reaches 1 at the
    last step t = T − 1; Schaul et al. (2016), §3.4: "linearly anneal β from its initial value
    β₀ to 1", reaching 1 "at the end of learning".  T = 1 gives β = 1 at once.

    Example: the notes' numbers: t = 0 gives 0.6, t = 99 gives 1.0.

    >>> linear_beta_schedule(0, 100, 0.6), linear_beta_schedule(99, 100, 0.6)
    (0.6, 1.0)
    """
    if int(total_steps) != total_steps or total_steps < 1:
        raise InvalidInputError(f"total_steps must be an integer >= 1, got {total_steps!r}")
    if int(step) != step or step < 0:
        raise InvalidInputError(f"step must be an integer >= 0, got {step!r}")
    beta_start = _exponent(beta_start, "beta_start")
    if beta_start > 1.0:
        raise InvalidInputError(f"beta_start must lie in [0, 1], got {beta_start!r}")
    last = int(total_steps) - 1
    if last == 0 or step >= last:
        return 1.0
    return beta_start + step * (1.0 - beta_start) / last


class SumTree:
    r"""A binary tree whose leaves hold priorities and whose inner nodes hold subtree sums.

    Layout: the number of leaves is rounded up to a power of two L; node 1 is the root,
    node k has children 2k and 2k + 1, and leaf i is node L + i (padding leaves hold 0).
    Invariant: ``nodes[k] == nodes[2k] + nodes[2k + 1]`` for every inner node k, so
    ``nodes[1]`` is the total.  An update recomputes the path to the root from the children
    (never by adding a difference, which would let rounding errors accumulate).

    Sampling: :meth:`find` descends from the root with a prefix sum u ∈ [0, total): go left
    when u < sum of the left subtree, else subtract it and go right.  Leaf i is returned
    exactly for u ∈ [C_{i-1}, C_i), C_i = p_0 + ... + p_i, an interval of length p_i, so a
    uniform u gives P(i) = p_i / total, and a leaf of priority 0 is never returned.

    Source: Schaul et al. (2016), Appendix B.2.1 ("a 'sum-tree' data structure, where every
    node is the sum of its children, with the priorities as the leaf nodes"); the notes name
    only the priorities (seed 000 "DQN 优化技巧", PER).
    """

    def __init__(self, size: int):
        if int(size) != size or size < 1:
            raise InvalidInputError(f"a sum tree needs size >= 1 leaves, got {size!r}")
        self.size = int(size)
        self.leaves = 1
        while self.leaves < self.size:
            self.leaves *= 2
        self.nodes = np.zeros(2 * self.leaves)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def priority(self, index: int) -> float:
        return float(self.nodes[self.leaves + index])

    def update(self, index: int, priority: float) -> None:
        if int(index) != index or not 0 <= index < self.size:
            raise InvalidInputError(f"leaf index must lie in range({self.size}), got {index!r}")
        if not priority >= 0.0 or math.isinf(priority):
            raise InvalidInputError(f"a priority must be a finite number >= 0, got {priority!r}")
        node = self.leaves + int(index)
        self.nodes[node] = priority
        node //= 2
        while node >= 1:
            self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]
            node //= 2

    def find(self, u: float) -> int:
        """The leaf whose interval [C_{i-1}, C_i) contains the prefix sum u."""
        if not 0.0 <= u < self.total:
            raise InvalidInputError(f"a draw must lie in [0, total) = [0, {self.total!r}), got {u!r}")
        node = 1
        while node < self.leaves:
            left, right = 2 * node, 2 * node + 1
            if u < self.nodes[left] or self.nodes[right] == 0.0:
                # The second test only matters when rounding made u reach the left sum although
                # the right subtree is empty: it keeps zero-priority leaves unreachable.
                node = left
            else:
                u -= self.nodes[left]
                node = right
        return node - self.leaves


def sum_tree_sample(priorities, update_indices, update_priorities, uniform_draws) -> np.ndarray:
    r"""Build a :class:`SumTree`, apply updates in order, then find the leaf of each draw.

    Conventions: ``priorities[i]`` the initial p_i ≥ 0 of the N leaves;
    ``update_indices[k]``, ``update_priorities[k]`` the k-th update (p_i ← new value), applied
    in order; ``uniform_draws[j]`` a prefix sum u_j ∈ [0, total) of the final priorities
    (a uniform draw in [0, 1) times the total); returns the leaf index of each draw.

    Example: p = (1, 0, 3), then p_0 ← 2: cumulative sums (2, 2, 5), so u = 1.5 → leaf 0,
    u = 2 → leaf 2 (leaf 1 has an empty interval [2, 2)).

    >>> sum_tree_sample([1.0, 0.0, 3.0], [0], [2.0], [1.5, 2.0, 4.5])
    array([0, 2, 2])
    """
    priorities = validation.as_float_array(priorities, "priorities p_i", ndim=1)
    update_indices = np.asarray(update_indices).reshape(-1)
    update_priorities = validation.as_float_array(update_priorities, "update_priorities", ndim=1)
    validation.check_shape(update_priorities, update_indices.shape, "update_priorities")
    draws = validation.as_float_array(uniform_draws, "uniform_draws", ndim=1)
    tree = SumTree(priorities.size)
    for i, priority in enumerate(priorities):
        tree.update(i, float(priority))
    for index, priority in zip(update_indices, update_priorities):
        tree.update(int(index), float(priority))
    return np.array([tree.find(float(u)) for u in draws], dtype=np.int64)
