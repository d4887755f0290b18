"""Monte-Carlo policy evaluation: first-visit and every-visit, by the incremental mean.

Source: seed 000 "Model-Free Value Methods" (蒙特卡洛方法: :math:`N(s) \\gets N(s) + 1`,
:math:`V(s) \\gets V(s) + \\frac{1}{N(s)}(G_t - V(s))`); seed 003 "1.1 蒙特卡罗" (average
the returns of many trajectories); seed 003 "2-5" and seed 004 "Monte Carlo vs Temporal
Difference Learning" (the constant step size form).  Sutton & Barto (2018), §5.1 and
eq. 6.1.

Conventions (shared with ``n_step`` and ``eligibility_traces``): one finished episode is
``states[0..T]`` (:math:`S_0, \\dots, S_T`, the last one terminal and never updated) and
``rewards[0..T-1]``, where ``rewards[t]`` is the reward received on leaving ``states[t]``
(the notes' :math:`r_t`, Sutton & Barto's :math:`R_{t+1}`).  The return from step t is
:math:`G_t = \\sum_{k=t}^{T-1} \\gamma^{k-t} r_k`.  Tables are not modified; the updated
copy is returned.
"""

from __future__ import annotations

import numpy as np

from rlspec import validation
from rlspec.reference.temporal_difference import check_alpha, state_value_table
from rlspec.validation import InvalidInputError

__all__ = ["first_visit_mc_update", "every_visit_mc_update", "constant_step_mc_update"]


def first_visit_mc_update(values, counts, states, rewards, gamma) -> np.ndarray:
    r"""Average the return that follows the *first* visit to each state into V.

    .. math:: \text{for each } s \text{ visited, at its first visit } t:\quad
              N(s) \leftarrow N(s) + 1,\qquad V(s) \leftarrow V(s) + \frac{1}{N(s)}
              \big(G_t - V(s)\big)

    ``counts[s]`` is N(s) *before* this episode: how many returns ``values[s]`` already
    averages (0 for a fresh table, whatever ``values[s]`` then holds: the first return
    replaces it).  After the episode the caller adds one to ``counts[s]`` for each state
    visited.  So ``values[s]`` stays the plain mean of the first-visit returns seen so far,
    an unbiased estimate of :math:`V^\pi(s)` (the notes' "无偏" holds for this version).

    Example: states (0, 1, 0, terminal 2), rewards (1, 2, 3), gamma 1: G_0 = 6 and the
    first visit to state 1 has G_1 = 5.  With V = (4, 0) and N = (1, 0): V(0) = 4 + (6 -
    4) / 2 = 5, and V(1) = 5 (its first return).

    >>> first_visit_mc_update([4.0, 0.0, 9.0], [1, 0, 0], [0, 1, 0, 2], [1.0, 2.0, 3.0], 1.0)
    array([5., 5., 9.])
    """
    return _incremental_mean(values, counts, states, rewards, gamma, first_visit=True)


def every_visit_mc_update(values, counts, states, rewards, gamma) -> np.ndarray:
    r"""Average the return that follows *every* visit to each state into V.

    .. math:: \text{for each step } t:\quad N(S_t) \leftarrow N(S_t) + 1,\qquad
              V(S_t) \leftarrow V(S_t) + \frac{1}{N(S_t)}\big(G_t - V(S_t)\big)

    ``counts[s]`` is N(s) before the episode; the caller adds the number of visits to s.
    The result is the mean of all returns seen, whatever the order of the updates:
    :math:`V'(s) = (N(s) V(s) + \sum_{t: S_t = s} G_t) / (N(s) + \#\{t: S_t = s\})`.

    Every-visit MC is *biased* after finitely many episodes when states recur (Singh &
    Sutton 1996), so the notes' "蒙特卡洛方法（高方差，无偏）" holds for first-visit only
    (spec entry ``mc.every-visit``, erratum).  Both converge to :math:`V^\pi`.

    Example: the episode of :func:`first_visit_mc_update`: state 0 has returns 6 and 3,
    so with V(0) = 4 from N = 1 earlier return, V(0) = (4 + 6 + 3) / 3 = 13/3.

    >>> every_visit_mc_update([4.0, 0.0, 9.0], [1, 0, 0], [0, 1, 0, 2], [1.0, 2.0, 3.0], 1.0)
    array([4.33333333, 5.        , 9.        ])
    """
    return _incremental_mean(values, counts, states, rewards, gamma, first_visit=False)


def constant_step_mc_update(values, states, rewards, alpha, gamma,
                            first_visit: bool = False) -> np.ndarray:
    r"""Constant-step-size Monte Carlo, applied offline at the end of the episode.

    .. math:: V(s) \leftarrow V(s) + \alpha \sum_{t:\ S_t = s} \big(G_t - V(s)\big)

    with every increment computed from the values *before* the episode (offline).  With
    ``first_visit=True`` the sum has only the first visit's term.

    Source: seed 003 "2-5" and seed 004 "Monte Carlo vs Temporal Difference Learning":
    :math:`V(S_t) \leftarrow V(S_t) + \alpha(G_t - V(S_t))`; Sutton & Barto (2018), eq. 6.1.
    This offline every-visit form is exactly the offline TD(1) and the offline lambda-return
    algorithm at lambda = 1 (spec entry ``traces.forward-backward-equivalence``).  When a
    state recurs, applying the increments one by one instead gives a different answer.

    Example: states (0, 1, 0, terminal), rewards (1, 2, 3), gamma 1, alpha 1/2, V = 0:
    V(0) = 0 + (6 + 3) / 2 = 4.5 and V(1) = 5 / 2.

    >>> constant_step_mc_update([0.0, 0.0, 0.0], [0, 1, 0, 2], [1.0, 2.0, 3.0], 0.5, 1.0)
    array([4.5, 2.5, 0. ])
    """
    values = state_value_table(values)
    states, rewards = episode(states, rewards, values.shape[0])
    alpha, gamma = check_alpha(alpha), validation.check_gamma(gamma)
    returns = _returns(rewards, gamma)
    updated = values.copy()
    for t in _counted_steps(states[:-1], first_visit):
        s = states[t]
        updated[s] += alpha * (returns[t] - values[s])
    return updated


def _counted_steps(states, first_visit: bool):
    """The steps whose return is averaged: every step, or only each state's first visit."""
    seen = set()
    for t, state in enumerate(states):
        if not (first_visit and state in seen):
            yield t
        seen.add(state)


def _incremental_mean(values, counts, states, rewards, gamma, first_visit: bool) -> np.ndarray:
    values = state_value_table(values)
    counts = visit_counts(counts, values.shape[0])
    states, rewards = episode(states, rewards, values.shape[0])
    gamma = validation.check_gamma(gamma)
    returns = _returns(rewards, gamma)
    updated, counts = values.copy(), counts.copy()
    for t in _counted_steps(states[:-1], first_visit):
        s = states[t]
        counts[s] += 1
        updated[s] += (returns[t] - updated[s]) / counts[s]
    return updated


def _returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_t + gamma G_{t+1}, G_T = 0, backwards."""
    returns = np.zeros_like(rewards)
    following = 0.0
    for t in reversed(range(rewards.size)):
        following = rewards[t] + gamma * following
        returns[t] = following
    return returns


# ------------------------------------------------------------ shared validation

def visit_counts(counts, n_states: int) -> np.ndarray:
    counts = validation.as_float_array(counts, "counts N[s]", ndim=1)
    validation.check_shape(counts, (n_states,), "counts N[s] (one per state of values)")
    if np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise InvalidInputError(f"counts N[s] must be non-negative integers (how many returns "
                                f"each V(s) already averages), got {counts.tolist()}")
    return counts.astype(np.int64)


def episode(states, rewards, n_states: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``states[0..T]`` (integer indices into the table) and ``rewards[0..T-1]``."""
    rewards = validation.as_float_array(rewards, "rewards r_t", ndim=1)
    raw = validation.as_float_array(states, "states S_t", ndim=1)
    if rewards.size == 0:
        raise InvalidInputError("an episode needs at least one step: rewards r_t is empty")
    if raw.size != rewards.size + 1:
        raise InvalidInputError(
            f"states must hold S_0..S_T, one more entry than rewards r_0..r_(T-1): got "
            f"{raw.size} states for {rewards.size} rewards (is the final state S_T missing?)")
    if np.any(raw != np.round(raw)) or np.any(raw < 0) or np.any(raw >= n_states):
        raise InvalidInputError(f"states must be integer indices in range(0, {n_states}), got "
                                f"{raw.tolist()}")
    return raw.astype(np.int64), rewards
