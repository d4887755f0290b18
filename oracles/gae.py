"""Generalised advantage estimation, k-step advantages and lambda-returns, without recursion.

Canonical inputs (one environment, time-major, length T): ``rewards[t]``, ``values[t]`` =
V(s_t), ``next_values[t]`` = V of the observation that followed step t (even when the
episode was truncated there), ``terminated[t]`` and ``truncated[t]`` (flags of step t).
Step t is *done* when it terminated or was truncated; a segment may hold several episodes,
and its last step, when not done, continues into data the segment does not hold.

With  delta_u = r_u + gamma (1 - terminated_u) next_values[u] - values[u]  and  e(t)  the
last step of the piece of episode that contains t (the first done step at or after t, or
T - 1 when none is),

    A_t = sum_{u=t}^{e(t)} (gamma lambda)^{u-t} delta_u                       (GAE)

is a finite double sum, computed here term by term in exact Fractions of the given floats
(``gae_exact``).  The second oracle builds the same number from its definition as a
(1 - lambda)-weighted average of k-step advantages (Schulman et al. 2016, eq. 16), with
the tail weight that a finite piece needs (``gae_from_k_step_exact``):

    A^(k)_t = sum_{l<k} gamma^l r_{t+l} + gamma^k (1 - terminated_{t+k-1}) next_values[t+k-1] - values[t],
    A_t = (1 - lambda) sum_{k=1}^{n-1} lambda^{k-1} A^(k)_t + lambda^{n-1} A^(n)_t,   n = e(t) - t + 1.

The two agree exactly when the inputs are those of a real rollout: next_values[u] equals
values[u + 1] whenever step u is not done and u < T - 1 (then A^(k) telescopes into
sum_{l<k} gamma^l delta_{t+l}).  The tests prove that, and the batteries generate only
such inputs.  ``lambda_returns_exact`` is the lambda-return, the same weighted average of
k-step *returns*; ``n_step_advantages_exact`` is A3C's advantage, one k-step advantage
per step with k running to the end of the segment.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec import validation

__all__ = ["gae_exact", "gae_from_k_step_exact", "k_step_advantages_exact",
           "lambda_returns_exact", "n_step_advantages_exact"]


def segment_inputs(rewards, values, next_values, terminated, truncated, gamma, lam=0.0):
    """Validate the canonical GAE inputs (1-D, equal lengths, flags 0/1, gamma and lambda
    in [0, 1]) and return them as Fractions and booleans."""
    rewards = validation.as_float_array(rewards, "rewards[t]", ndim=1)
    arrays = {"values[t]": values, "next_values[t]": next_values}
    checked = {name: validation.as_float_array(array, name, ndim=1) for name, array in arrays.items()}
    flags = {}
    for name, array in {"terminated[t]": terminated, "truncated[t]": truncated}.items():
        array = validation.as_float_array(array, name, ndim=1)
        if not np.all((array == 0) | (array == 1)):
            raise validation.InvalidInputError(f"{name} must hold booleans (0 or 1), got {array.tolist()}")
        flags[name] = array.astype(bool)
    for name, array in {**checked, **flags}.items():
        validation.check_shape(array, rewards.shape, name)
    gamma = validation.check_gamma(gamma)
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise validation.InvalidInputError(f"lam (lambda) must lie in [0, 1], got {lam!r}")
    exact = lambda array: [Fraction(float(x)) for x in array]  # noqa: E731
    return (exact(rewards), exact(checked["values[t]"]), exact(checked["next_values[t]"]),
            flags["terminated[t]"].tolist(), flags["truncated[t]"].tolist(),
            Fraction(gamma), Fraction(lam))


def _piece_end(t: int, done: list[bool]) -> int:
    """The last step of the episode piece that contains step t."""
    for u in range(t, len(done)):
        if done[u]:
            return u
    return len(done) - 1


def gae_exact(rewards, values, next_values, terminated, truncated, gamma, lam) -> list[Fraction]:
    """A_t = sum_{u=t}^{e(t)} (gamma lambda)^{u-t} delta_u, term by term, exactly."""
    r, v, v_next, term, trunc, g, lam = segment_inputs(rewards, values, next_values,
                                                       terminated, truncated, gamma, lam)
    done = [a or b for a, b in zip(term, trunc)]
    delta = [r[u] + (0 if term[u] else g * v_next[u]) - v[u] for u in range(len(r))]
    return [sum(((g * lam) ** (u - t) * delta[u] for u in range(t, _piece_end(t, done) + 1)),
                Fraction(0)) for t in range(len(r))]


def _k_step_return(r, v_next, term, g, t: int, k: int) -> Fraction:
    """sum_{l<k} gamma^l r_{t+l} + gamma^k (1 - terminated_{t+k-1}) next_values[t+k-1]."""
    last = t + k - 1
    bootstrap = 0 if term[last] else g ** k * v_next[last]
    return sum((g ** l * r[t + l] for l in range(k)), Fraction(0)) + bootstrap


def k_step_advantages_exact(rewards, values, next_values, terminated, truncated, gamma,
                            k: int) -> list[Fraction]:
    """A^(m)_t with m = min(k, n(t)): the k-step advantage, cut at the end of the piece."""
    if int(k) != k or k < 1:
        raise validation.InvalidInputError(f"k must be an integer >= 1, got {k!r}")
    r, v, v_next, term, trunc, g, _ = segment_inputs(rewards, values, next_values,
                                                     terminated, truncated, gamma)
    done = [a or b for a, b in zip(term, trunc)]
    return [_k_step_return(r, v_next, term, g, t, min(int(k), _piece_end(t, done) - t + 1)) - v[t]
            for t in range(len(r))]


def _weighted(t: int, n: int, lam: Fraction, k_step) -> Fraction:
    """(1 - lambda) sum_{k<n} lambda^{k-1} X^(k) + lambda^{n-1} X^(n) (0^0 = 1)."""
    head = sum(((1 - lam) * lam ** (k - 1) * k_step(t, k) for k in range(1, n)), Fraction(0))
    return head + lam ** (n - 1) * k_step(t, n)


def gae_from_k_step_exact(rewards, values, next_values, terminated, truncated, gamma,
                          lam) -> list[Fraction]:
    """A_t as the (1 - lambda)-weighted average of k-step advantages, with tail weight
    lambda^{n-1} on the longest one, exactly."""
    r, v, v_next, term, trunc, g, lam = segment_inputs(rewards, values, next_values,
                                                       terminated, truncated, gamma, lam)
    done = [a or b for a, b in zip(term, trunc)]
    advantage = lambda t, k: _k_step_return(r, v_next, term, g, t, k) - v[t]  # noqa: E731
    return [_weighted(t, _piece_end(t, done) - t + 1, lam, advantage) for t in range(len(r))]


def lambda_returns_exact(rewards, values, next_values, terminated, truncated, gamma,
                         lam) -> list[Fraction]:
    """G^lambda_t = (1 - lambda) sum_{k<n} lambda^{k-1} G^(k)_t + lambda^{n-1} G^(n)_t, the
    weighted average of k-step returns (Sutton & Barto 2018, eq. 12.2, cut at the piece's
    end), exactly."""
    r, v, v_next, term, trunc, g, lam = segment_inputs(rewards, values, next_values,
                                                       terminated, truncated, gamma, lam)
    done = [a or b for a, b in zip(term, trunc)]
    k_step = lambda t, k: _k_step_return(r, v_next, term, g, t, k)  # noqa: E731
    return [_weighted(t, _piece_end(t, done) - t + 1, lam, k_step) for t in range(len(r))]


def n_step_advantages_exact(rewards, values, bootstrap_value, terminal, gamma) -> list[Fraction]:
    """A3C's advantages for one segment of at most t_max steps of one episode:
    A_i = sum_{j=i}^{T-1} gamma^{j-i} r_j + gamma^{T-i} R - V(s_i), with R = 0 when the
    state after the segment is terminal and R = ``bootstrap_value`` = V(s_T) otherwise
    (Mnih et al. 2016, Algorithm S3), each term written out, exactly."""
    rewards = validation.as_float_array(rewards, "rewards[t]", ndim=1)
    values = validation.as_float_array(values, "values[t]", ndim=1)
    validation.check_shape(values, rewards.shape, "values[t]")
    bootstrap = validation.as_float_array(bootstrap_value, "bootstrap_value", ndim=0)
    g = Fraction(validation.check_gamma(gamma))
    r = [Fraction(float(x)) for x in rewards]
    tail = Fraction(0) if bool(terminal) else Fraction(float(bootstrap))
    size = len(r)
    return [sum((g ** (j - i) * r[j] for j in range(i, size)), Fraction(0))
            + g ** (size - i) * tail - Fraction(float(values[i])) for i in range(size)]
