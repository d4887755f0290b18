"""Input validation shared by the toy MDPs, the reference functions and the oracles.

Every check raises :class:`InvalidInputError` with a message that names the argument, says
what was expected and shows what was given, so that a bad input never becomes a silent
wrong number.  The checks are deliberately plain: shape, finiteness, sign, normalisation.
"""

from __future__ import annotations

import numpy as np

#: Rows of a probability table may differ from 1 by this much.  Tables built from decimal
#: literals (0.1 + 0.2 + 0.7) sum to 1 only within a few ulps; 1e-9 accepts those and still
#: rejects any table that is wrong by a meaningful amount.
PROBABILITY_SUM_TOLERANCE = 1e-9


class InvalidInputError(ValueError):
    """An argument has the wrong shape, contains NaN, or is not a valid probability table."""


def as_float_array(value, name: str, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite float64 array, or raise naming ``name``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"{name} must be numeric, could not convert: {error}") from None
    if ndim is not None and array.ndim != ndim:
        raise InvalidInputError(
            f"{name} must be a {ndim}-D array, got shape {array.shape} ({array.ndim}-D)"
        )
    if np.isnan(array).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(array))[0])
        raise InvalidInputError(f"{name} contains NaN (first at index {where})")
    if np.isinf(array).any():
        where = tuple(int(i) for i in np.argwhere(np.isinf(array))[0])
        raise InvalidInputError(f"{name} contains an infinite value (first at index {where})")
    return array


def check_shape(array: np.ndarray, expected: tuple[int, ...], name: str) -> None:
    if array.shape != tuple(expected):
        raise InvalidInputError(f"{name} must have shape {tuple(expected)}, got {array.shape}")


def check_probability_rows(array: np.ndarray, name: str) -> None:
    """Every slice along the last axis must be a probability distribution."""
    if (array < 0).any():
        where = tuple(int(i) for i in np.argwhere(array < 0)[0])
        raise InvalidInputError(
            f"{name} has a negative probability {float(array[where])!r} at index {where}"
        )
    sums = array.sum(axis=-1)
    bad = np.abs(sums - 1.0) > PROBABILITY_SUM_TOLERANCE
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"{name} rows must sum to 1, but the row at index {where} sums to {float(sums[where])!r}"
        )


def check_gamma(gamma) -> float:
    try:
        value = float(gamma)
    except (TypeError, ValueError):
        raise InvalidInputError(f"gamma must be a number in [0, 1], got {gamma!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise InvalidInputError(f"gamma must lie in [0, 1], got {gamma!r}")
    return value


def check_gamma_below_one(gamma) -> float:
    """gamma in [0, 1), for the (1 - gamma)-normalised occupancy measures."""
    value = check_gamma(gamma)
    if value >= 1.0:
        raise InvalidInputError(
            "the (1 - gamma)-normalised occupancy measure needs gamma < 1; with gamma = 1 "
            "the normalisation is 0"
        )
    return value


def transitions_and_rewards(transitions, rewards) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``transitions[s, a, s']`` and expected ``rewards[s, a]`` and return them."""
    transitions = as_float_array(transitions, "transitions P[s, a, s']", ndim=3)
    n_states, n_actions, n_next = transitions.shape
    if n_states == 0 or n_actions == 0:
        raise InvalidInputError(
            f"transitions P[s, a, s'] needs at least one state and one action, got shape "
            f"{transitions.shape}"
        )
    if n_next != n_states:
        raise InvalidInputError(
            f"transitions P[s, a, s'] must have shape (S, A, S); got {transitions.shape}, "
            f"whose first and last axes differ"
        )
    check_probability_rows(transitions, "transitions P[s, a, :]")
    rewards = as_float_array(rewards, "rewards r[s, a]", ndim=2)
    check_shape(rewards, (n_states, n_actions), "rewards r[s, a]")
    return transitions, rewards


def policy_table(policy, n_states: int, n_actions: int, name: str = "policy") -> np.ndarray:
    """Validate a stochastic policy ``policy[s, a] = pi(a | s)``."""
    policy = as_float_array(policy, f"{name} pi[s, a]", ndim=2)
    check_shape(policy, (n_states, n_actions), f"{name} pi[s, a]")
    check_probability_rows(policy, f"{name} pi[s, :]")
    return policy


def distribution(value, size: int, name: str) -> np.ndarray:
    array = as_float_array(value, name, ndim=1)
    check_shape(array, (size,), name)
    check_probability_rows(array, name)
    return array
