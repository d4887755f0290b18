"""The lambda-return (forward view) and TD(lambda) with eligibility traces (backward view).

Source: seed 000 "Model-Free Value Methods", 资格迹，Eligibility Trace (前向视角, 后向视角,
TD(λ) 算法); seed 003 "3-7" (lambda = 0 is TD, lambda = 1 is Monte Carlo).  Sutton & Barto
(2018), chapter 12: eq. 12.2-12.3 (the lambda-return), 12.5-12.7 (TD(lambda)), 12.9-12.10
(the truncated lambda-return), §12.2 and Exercise 12.3 (offline equivalence); Sutton
(1988); Singh & Sutton (1996) for replacing traces.

Conventions: as in ``rlspec.reference.n_step``.  A segment is ``states[0..T]``,
``rewards[0..T-1]`` (``rewards[t]`` is received on leaving ``states[t]``: the notes write it
:math:`r_t` in the TD(0) formula but :math:`R_{t+1}` in the TD-error of the TD(lambda)
section, the same reward), and ``terminated`` says whether :math:`S_T` is terminal (else
its value is bootstrapped).  The TD error of step t is

.. math:: \\delta_t = r_t + \\gamma\\,[\\text{not terminal}]\\,V(S_{t+1}) - V(S_t).

Each ``*_episode`` function starts its traces at zero: call it once per episode.
"""

from __future__ import annotations

import numpy as np

from rlspec import validation
from rlspec.reference.monte_carlo import episode
from rlspec.reference.temporal_difference import (
    check_alpha,
    check_flag,
    segment,
    state_value_table,
)
from rlspec.validation import InvalidInputError

__all__ = ["lambda_returns", "td_lambda_episode", "replacing_trace_td_lambda_episode",
           "offline_td_lambda_episode", "offline_lambda_return_episode"]

TRACES = ("accumulating", "replacing")


def lambda_returns(rewards, state_values, terminated, gamma, lam) -> np.ndarray:
    r"""The lambda-return :math:`G^\lambda_t` from every step of a segment (forward view).

    .. math:: G^\lambda_t = (1-\lambda)\sum_{n=1}^{T-t-1}\lambda^{n-1} G_{t:t+n}
              + \lambda^{T-t-1} G_{t:T}

    computed by the recursion :math:`G^\lambda_t = r_t + \gamma[(1-\lambda) V(S_{t+1})
    + \lambda G^\lambda_{t+1}]`, :math:`G^\lambda_{T} = V(S_T)` (0 when ``terminated``).
    :math:`G_{t:t+n}` is the n-step return (:func:`rlspec.reference.n_step.n_step_returns`);
    :math:`G_{t:T}` is the Monte-Carlo return when the episode terminated, and bootstraps on
    :math:`V(S_T)` when it was truncated (the truncated lambda-return, Sutton & Barto eq. 12.9).

    Source: seed 000 "前向视角": :math:`G_t^\lambda = (1-\lambda)\sum_{n=1}^\infty
    \lambda^{n-1} G_t^{(n)}`, equal to the above for lambda < 1 since :math:`G_t^{(n)} =
    G_{t:T}` for every n >= T - t.  At lambda = 1 the notes' formula is 0, not the
    Monte-Carlo return; the form above gives :math:`G_{t:T}` (spec entry
    ``traces.lambda-return``, erratum).  lambda = 0 gives the TD(0) target.

    ``state_values[t]`` is :math:`V(S_t)` for t = 0..T; ``lam`` is lambda in [0, 1].

    Example: rewards (1, 2), V along the way (0, 4, 0), terminated, gamma 1/2, lambda 1/2:
    G_1 = 2, and G_0 = 1 + (1/2)[(1/2) 4 + (1/2) 2] = 2.5.

    >>> lambda_returns([1.0, 2.0], [0.0, 4.0, 0.0], True, 0.5, 0.5)
    array([2.5, 2. ])
    """
    rewards, state_values = segment(rewards, state_values)
    terminated = check_flag(terminated, "terminated")
    gamma, lam = validation.check_gamma(gamma), check_lambda(lam)
    returns = np.zeros_like(rewards)
    following = 0.0 if terminated else state_values[-1]   # G^lambda_T
    next_value = following                                 # V(S_T), 0 if terminal
    for t in reversed(range(rewards.size)):
        following = rewards[t] + gamma * ((1.0 - lam) * next_value + lam * following)
        returns[t] = following
        next_value = state_values[t]
    return returns


def td_lambda_episode(values, states, rewards, terminated, alpha, gamma, lam,
                      trace: str = "accumulating") -> np.ndarray:
    r"""Online TD(lambda), the backward view, over one episode.

    For t = 0, 1, ..., T-1:

    .. math:: e(s) \leftarrow \gamma\lambda\, e(s) \text{ for all } s, \qquad
              e(S_t) \leftarrow \begin{cases} e(S_t) + 1 & \text{accumulating} \\
              1 & \text{replacing}\end{cases}

    .. math:: \delta_t = r_t + \gamma V(S_{t+1}) - V(S_t),\qquad
              V(s) \leftarrow V(s) + \alpha\,\delta_t\, e(s) \text{ for all } s

    with e = 0 at the start and :math:`V(S_T) = 0` in :math:`\delta_{T-1}` when ``terminated``.
    Source: seed 000 "后向视角" (:math:`\mathbf e_t(s) = \gamma\lambda\mathbf e_{t-1}(s) +
    \mathbb I(S_t = s)`, the accumulating trace) and "TD(λ) 算法"; Sutton & Barto (2018),
    eqs. 12.5-12.7; replacing traces: Singh & Sutton (1996).  The notes describe the trace as
    the decay "since the last visit", which is the replacing trace; their formula is the
    accumulating one (spec entry ``traces.td-lambda``, erratum).

    ``trace`` is "accumulating" or "replacing".  The two differ only when a state recurs
    while its trace is still positive.  Online, every delta uses the latest V, so this equals
    the forward view only approximately; :func:`offline_td_lambda_episode` equals it exactly.
    lambda = 0 is TD(0) step by step, for either trace.

    Example: states (0, 0, terminal 1), rewards (0, 1), gamma 1, lambda 1/2, alpha 1/2,
    V = 0, accumulating: delta_0 = 0; then e(0) = 1/2 + 1 = 3/2 and delta_1 = 1, so
    V(0) = 3/4.  With a replacing trace e(0) = 1 and V(0) = 1/2.

    >>> td_lambda_episode([0.0, 0.0], [0, 0, 1], [0.0, 1.0], True, 0.5, 1.0, 0.5)
    array([0.75, 0.  ])
    >>> td_lambda_episode([0.0, 0.0], [0, 0, 1], [0.0, 1.0], True, 0.5, 1.0, 0.5, "replacing")
    array([0.5, 0. ])
    """
    values, states, rewards, terminated, alpha, gamma, lam = _inputs(
        values, states, rewards, terminated, alpha, gamma, lam, trace)
    values = values.copy()
    eligibility = np.zeros_like(values)
    for t in range(rewards.size):
        _update_trace(eligibility, states[t], gamma, lam, trace)
        delta = _td_error(values, states, rewards, t, terminated, gamma)
        values += alpha * delta * eligibility
    return values


def replacing_trace_td_lambda_episode(values, states, rewards, terminated, alpha, gamma,
                                      lam) -> np.ndarray:
    r"""Online TD(lambda) with replacing traces: ``td_lambda_episode(..., trace="replacing")``.

    .. math:: e(S_t) \leftarrow 1 \quad\text{(instead of } e(S_t) + 1\text{)}

    Source: Singh & Sutton (1996), "Reinforcement learning with replacing eligibility
    traces"; Sutton & Barto (2018), §12.2 (the "replacing trace" remark); the notes' wording
    "自上次访问以来的衰减程度" (seed 000, 后向视角).  With lambda = 1 and offline updates it is
    first-visit Monte Carlo with a constant step size (Singh & Sutton 1996, Thm. 4).

    >>> replacing_trace_td_lambda_episode([0.0, 0.0], [0, 0, 1], [0.0, 1.0], True, 0.5, 1.0, 0.5)
    array([0.5, 0. ])
    """
    return td_lambda_episode(values, states, rewards, terminated, alpha, gamma, lam,
                             trace="replacing")


def offline_td_lambda_episode(values, states, rewards, terminated, alpha, gamma, lam,
                              trace: str = "accumulating") -> np.ndarray:
    r"""Offline TD(lambda): the backward view with all increments applied after the episode.

    .. math:: V(s) \leftarrow V(s) + \alpha \sum_{t=0}^{T-1} \delta_t\, e_t(s)

    where every :math:`\delta_t` uses the values from *before* the episode and :math:`e_t`
    is the trace after the visit at step t (accumulating or replacing, as in
    :func:`td_lambda_episode`).  With accumulating traces this equals the offline
    lambda-return algorithm (:func:`offline_lambda_return_episode`) exactly, for every
    episode (Sutton & Barto 2018, §12.2 and Exercise 12.3; Sutton 1988): the sum of the
    backward view's increments equals the sum of the forward view's.  With replacing traces
    it does not, when a state recurs.

    Example: the episode of :func:`td_lambda_episode`; offline, delta_1 = 1 - V(0) = 1 with
    the old V, so the answer is the same 3/4 here.

    >>> offline_td_lambda_episode([0.0, 0.0], [0, 0, 1], [0.0, 1.0], True, 0.5, 1.0, 0.5)
    array([0.75, 0.  ])
    """
    values, states, rewards, terminated, alpha, gamma, lam = _inputs(
        values, states, rewards, terminated, alpha, gamma, lam, trace)
    eligibility = np.zeros_like(values)
    increment = np.zeros_like(values)
    for t in range(rewards.size):
        _update_trace(eligibility, states[t], gamma, lam, trace)
        increment += _td_error(values, states, rewards, t, terminated, gamma) * eligibility
    return values + alpha * increment


def offline_lambda_return_episode(values, states, rewards, terminated, alpha, gamma,
                                  lam) -> np.ndarray:
    r"""The offline lambda-return algorithm: the forward view, applied after the episode.

    .. math:: V(s) \leftarrow V(s) + \alpha \sum_{t:\ S_t = s}\big(G^\lambda_t - V(s)\big)

    with :math:`G^\lambda_t` from :func:`lambda_returns` on the values from before the
    episode.  lambda = 1 (terminated) is every-visit constant-step Monte Carlo
    (:func:`rlspec.reference.monte_carlo.constant_step_mc_update`); lambda = 0 is TD(0) with
    every increment computed from the old values (batch TD(0) for one episode).

    >>> offline_lambda_return_episode([0.0, 0.0], [0, 0, 1], [0.0, 1.0], True, 0.5, 1.0, 0.5)
    array([0.75, 0.  ])
    """
    values, states, rewards, terminated, alpha, gamma, lam = _inputs(
        values, states, rewards, terminated, alpha, gamma, lam, "accumulating")
    returns = lambda_returns(rewards, values[states], terminated, gamma, lam)
    updated = values.copy()
    for t in range(rewards.size):
        updated[states[t]] += alpha * (returns[t] - values[states[t]])
    return updated


# --------------------------------------------------------------------- helpers

def _update_trace(eligibility: np.ndarray, state: int, gamma: float, lam: float,
                  trace: str) -> None:
    """One step of the backward view, in place: every trace decays by gamma lambda, then the
    visited state's trace gains 1 (accumulating) or is set to 1 (replacing)."""
    eligibility *= gamma * lam
    if trace == "accumulating":
        eligibility[state] += 1.0
    else:
        eligibility[state] = 1.0


def check_lambda(lam) -> float:
    try:
        value = float(lam)
    except (TypeError, ValueError):
        raise InvalidInputError(f"lam (lambda) must be a number in [0, 1], got {lam!r}") from None
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"lam (lambda) must lie in [0, 1], got {lam!r}")
    return value


def _inputs(values, states, rewards, terminated, alpha, gamma, lam, trace):
    if trace not in TRACES:
        raise InvalidInputError(f"trace must be one of {TRACES}, got {trace!r}")
    values = state_value_table(values)
    states, rewards = episode(states, rewards, values.shape[0])
    return (values, states, rewards, check_flag(terminated, "terminated"), check_alpha(alpha),
            validation.check_gamma(gamma), check_lambda(lam))


def _td_error(values, states, rewards, t: int, terminated: bool, gamma: float) -> float:
    last = t == rewards.size - 1
    bootstrap = 0.0 if (last and terminated) else values[states[t + 1]]
    return rewards[t] + gamma * bootstrap - values[states[t]]
