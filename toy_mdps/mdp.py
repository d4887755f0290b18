"""The validated finite MDP that every oracle, reference function and check works on.

Conventions (the spec's, see ``spec/README.md``):

* ``transitions[s, a, s_next] = p(s_next | s, a)``: every ``transitions[s, a, :]`` sums to 1.
* ``rewards[s, a] = r(s, a)``, the expected reward of taking ``a`` in ``s``.  When a reward
  depends on the next state, pass ``R[s, a, s_next]``; the expected reward
  ``r(s, a) = sum_s' p(s' | s, a) R[s, a, s']`` is then derived, and the sampled reward of
  the gymnasium environment uses ``R[s, a, s_next]`` itself.
* A terminal state is absorbing and pays nothing: ``p(s | s, a) = 1`` and ``r(s, a) = 0`` for
  every action.  So ``V(terminal) = 0`` for every policy and every gamma, and the episodic and
  continuing cases share one formula.
* Grid worlds number their cells row-major: ``state = row * width + col``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlspec import validation
from rlspec.validation import InvalidInputError


class InvalidMDPError(InvalidInputError):
    """The tables given to :class:`TabularMDP` do not describe a valid MDP."""


class TabularMDP:
    """A finite MDP with validated tables.  Arrays are read-only after construction."""

    def __init__(
        self,
        transitions,
        rewards,
        gamma: float,
        initial_distribution=None,
        terminal_states: Sequence[int] | np.ndarray = (),
        state_labels: Sequence[str] | None = None,
        action_labels: Sequence[str] | None = None,
        grid_shape: tuple[int, int] | None = None,
        name: str = "",
    ):
        try:
            self._build(
                transitions, rewards, gamma, initial_distribution, terminal_states,
                state_labels, action_labels, grid_shape, name,
            )
        except InvalidMDPError:
            raise
        except InvalidInputError as error:
            label = f"MDP {name!r}: " if name else ""
            raise InvalidMDPError(f"{label}{error}") from None

    def _build(self, transitions, rewards, gamma, initial_distribution, terminal_states,
               state_labels, action_labels, grid_shape, name):
        self.name = name
        rewards_array = validation.as_float_array(rewards, "rewards")
        transitions_array = validation.as_float_array(transitions, "transitions P[s, a, s']")
        if rewards_array.ndim == 3:
            validation.check_shape(
                rewards_array, transitions_array.shape, "rewards R[s, a, s']"
            )
            self.reward_by_transition = rewards_array
            expected = np.einsum("ijk,ijk->ij", transitions_array, rewards_array)
        else:
            self.reward_by_transition = None
            expected = rewards_array
        self.transitions, self.rewards = validation.transitions_and_rewards(
            transitions_array, expected
        )
        n_states, n_actions = self.rewards.shape
        self.gamma = validation.check_gamma(gamma)

        if initial_distribution is None:
            initial_distribution = np.full(n_states, 1.0 / n_states)
        self.initial_distribution = validation.distribution(
            initial_distribution, n_states, "initial_distribution"
        )

        mask = np.zeros(n_states, dtype=bool)
        for state in np.asarray(terminal_states, dtype=int).reshape(-1):
            if not 0 <= state < n_states:
                raise InvalidMDPError(f"terminal state {state} is not in range(0, {n_states})")
            mask[state] = True
        self.terminal_states = mask
        for state in np.flatnonzero(mask):
            if not np.all(self.transitions[state, :, state] == 1.0):
                raise InvalidMDPError(
                    f"terminal state {state} must be absorbing (p({state} | {state}, a) = 1 "
                    f"for every action)"
                )
            if np.any(self.rewards[state] != 0.0):
                raise InvalidMDPError(f"terminal state {state} must pay reward 0, got "
                                      f"{self.rewards[state].tolist()}")
        if self.gamma == 1.0:
            stuck = states_that_cannot_terminate(self.transitions, mask)
            if stuck.size:
                raise InvalidMDPError(
                    f"gamma = 1 needs every state to be able to reach a terminal state, but "
                    f"states {stuck.tolist()} cannot, so their undiscounted return is undefined"
                )

        self.state_labels = _labels(state_labels, n_states, "s", "state_labels")
        self.action_labels = _labels(action_labels, n_actions, "a", "action_labels")
        if grid_shape is not None:
            rows, cols = grid_shape
            if rows * cols != n_states:
                raise InvalidMDPError(
                    f"grid_shape {grid_shape} has {rows * cols} cells but the MDP has "
                    f"{n_states} states"
                )
            grid_shape = (int(rows), int(cols))
        self.grid_shape = grid_shape

        for array in (self.transitions, self.rewards, self.initial_distribution,
                      self.terminal_states, self.reward_by_transition):
            if array is not None:
                array.setflags(write=False)

    @property
    def n_states(self) -> int:
        return self.transitions.shape[0]

    @property
    def n_actions(self) -> int:
        return self.transitions.shape[1]

    def with_gamma(self, gamma: float) -> TabularMDP:
        """The same MDP with another discount factor (validated again)."""
        return TabularMDP(
            self.transitions,
            self.rewards if self.reward_by_transition is None else self.reward_by_transition,
            gamma,
            self.initial_distribution,
            np.flatnonzero(self.terminal_states),
            self.state_labels,
            self.action_labels,
            self.grid_shape,
            self.name,
        )

    def __repr__(self) -> str:
        grid = f", grid {self.grid_shape[0]}x{self.grid_shape[1]}" if self.grid_shape else ""
        return (
            f"TabularMDP({self.name!r}, {self.n_states} states, {self.n_actions} "
            f"action{'s' if self.n_actions != 1 else ''}, "
            f"gamma={self.gamma}{grid})"
        )


def states_that_cannot_terminate(transitions: np.ndarray, terminal: np.ndarray) -> np.ndarray:
    """States from which no policy reaches a terminal state with positive probability.

    Backward reachability over the graph with an edge s -> s' whenever some action moves
    there with positive probability.
    """
    reached = terminal.copy()
    can_move = (transitions > 0).any(axis=1)  # can_move[s, s_next]
    while True:
        grown = reached | can_move[:, reached].any(axis=1)
        if np.array_equal(grown, reached):
            return np.flatnonzero(~reached)
        reached = grown


def _labels(labels, count: int, prefix: str, name: str) -> tuple[str, ...]:
    if labels is None:
        return tuple(f"{prefix}{i}" for i in range(count))
    labels = tuple(str(label) for label in labels)
    if len(labels) != count:
        raise InvalidMDPError(f"{name} has {len(labels)} entries, expected {count}")
    return labels
