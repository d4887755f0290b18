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

Dense or sparse.  ``transitions`` may be a dense array ``P[s, a, s']`` or any
``scipy.sparse`` matrix of shape ``(S * A, S)`` whose row ``s * A + a`` is
``p(. | s, a)`` (memory linear in the non-zeros; the layout of mdptoolbox and of
``P.reshape(S * A, S)``).  With sparse transitions the rewards are ``r[s, a]`` or a sparse
``R`` of the same ``(S * A, S)`` shape.  Both kinds offer both views:
``mdp.transition_matrix`` / ``mdp.reward_matrix`` (CSR, built on first use for a dense MDP)
and ``mdp.transitions`` / ``mdp.reward_by_transition`` (dense, built on first use for a
sparse MDP, refused with :class:`DenseTableTooLargeError` above :data:`DENSE_ENTRY_LIMIT`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from rlspec import validation
from rlspec.validation import InvalidInputError


class InvalidMDPError(InvalidInputError):
    """The tables given to :class:`TabularMDP` do not describe a valid MDP."""


class DenseTableTooLargeError(InvalidInputError):
    """A sparse MDP was asked for a dense table that would not fit in memory sensibly."""


#: The most entries (S * A * S) a dense view of a sparse MDP may have: 2^25 float64 = 256 MiB.
DENSE_ENTRY_LIMIT = 2 ** 25


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
        self._dense_transitions = self._dense_rewards_by_transition = None
        self._transition_matrix = self._reward_matrix = None
        if scipy.sparse.issparse(transitions):
            self._build_sparse_tables(transitions, rewards)
        else:
            self._build_dense_tables(transitions, rewards)
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
            rows = state * n_actions + np.arange(n_actions)
            if not np.all(self.transition_matrix[rows, state].toarray() == 1.0):
                raise InvalidMDPError(
                    f"terminal state {state} must be absorbing (p({state} | {state}, a) = 1 "
                    f"for every action)"
                )
            if np.any(self.rewards[state] != 0.0):
                raise InvalidMDPError(f"terminal state {state} must pay reward 0, got "
                                      f"{self.rewards[state].tolist()}")
        if self.gamma == 1.0:
            stuck = states_that_cannot_terminate(self.transition_matrix, mask)
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

        for array in (self._dense_transitions, self._dense_rewards_by_transition, self.rewards,
                      self.initial_distribution, self.terminal_states):
            if array is not None:
                array.setflags(write=False)

    def _build_dense_tables(self, transitions, rewards):
        rewards_array = validation.as_float_array(rewards, "rewards")
        transitions_array = validation.as_float_array(transitions, "transitions P[s, a, s']")
        if rewards_array.ndim == 3:
            validation.check_shape(
                rewards_array, transitions_array.shape, "rewards R[s, a, s']"
            )
            self._dense_rewards_by_transition = rewards_array
            expected = np.einsum("ijk,ijk->ij", transitions_array, rewards_array)
        else:
            expected = rewards_array
        self._dense_transitions, self.rewards = validation.transitions_and_rewards(
            transitions_array, expected
        )

    def _build_sparse_tables(self, transitions, rewards):
        if scipy.sparse.issparse(rewards):
            reward_matrix = _finite_csr(rewards, "rewards R[s * A + a, s']")
            n_rows, n_states = reward_matrix.shape
            if n_states == 0 or n_rows % n_states:
                raise InvalidMDPError(
                    f"sparse rewards R must have shape (S * A, S), got {reward_matrix.shape}")
            self._transition_matrix = sparse_transitions(transitions, n_states,
                                                         n_rows // n_states)
            validation.check_shape(reward_matrix, self._transition_matrix.shape,
                                   "rewards R[s * A + a, s']")
            self._reward_matrix = _make_read_only(reward_matrix)
            expected = np.asarray(
                reward_matrix.multiply(self._transition_matrix).sum(axis=1)
            ).reshape(n_states, n_rows // n_states)
        else:
            expected = validation.as_float_array(rewards, "rewards r[s, a]")
            if expected.ndim != 2:
                raise InvalidMDPError(
                    f"with sparse transitions the rewards must be r[s, a] (2-D) or a sparse R "
                    f"of shape (S * A, S), got a {expected.ndim}-D array of shape "
                    f"{expected.shape}")
            self._transition_matrix = sparse_transitions(transitions, *expected.shape)
        self.rewards = expected

    @property
    def n_states(self) -> int:
        return self.rewards.shape[0]

    @property
    def n_actions(self) -> int:
        return self.rewards.shape[1]

    @property
    def is_sparse(self) -> bool:
        """Whether the MDP was given sparse transitions (and stores no dense table)."""
        return self._dense_transitions is None

    @property
    def transitions(self) -> np.ndarray:
        """The dense table ``P[s, a, s']`` (built on first use for a sparse MDP)."""
        if self._dense_transitions is None:
            self._dense_transitions = self._densify(self._transition_matrix, "P[s, a, s']")
        return self._dense_transitions

    @property
    def reward_by_transition(self) -> np.ndarray | None:
        """``R[s, a, s']`` as a dense table, or None when the rewards were given as r(s, a)."""
        if self._dense_rewards_by_transition is None and self._reward_matrix is not None:
            self._dense_rewards_by_transition = self._densify(self._reward_matrix,
                                                              "R[s, a, s']")
        return self._dense_rewards_by_transition

    @property
    def transition_matrix(self) -> scipy.sparse.csr_matrix:
        """``P`` as a read-only CSR matrix of shape (S * A, S), row ``s * A + a``."""
        if self._transition_matrix is None:
            self._transition_matrix = _make_read_only(scipy.sparse.csr_matrix(
                self._dense_transitions.reshape(self.n_states * self.n_actions, self.n_states)))
        return self._transition_matrix

    @property
    def reward_matrix(self) -> scipy.sparse.csr_matrix | None:
        """``R`` as a read-only CSR matrix of shape (S * A, S), or None (rewards were r(s, a))."""
        if self._reward_matrix is None and self._dense_rewards_by_transition is not None:
            self._reward_matrix = _make_read_only(scipy.sparse.csr_matrix(
                self._dense_rewards_by_transition.reshape(self.n_states * self.n_actions,
                                                          self.n_states)))
        return self._reward_matrix

    def transition(self, state: int, action: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(next_states, probabilities, rewards)`` of the non-zero transitions of (s, a).

        The rewards are ``R[s, a, s']`` when the MDP has them, else ``r(s, a)`` repeated.
        Works on both kinds without building a dense table.
        """
        row = state * self.n_actions + action
        matrix = self.transition_matrix
        span = slice(matrix.indptr[row], matrix.indptr[row + 1])
        next_states, probabilities = matrix.indices[span], matrix.data[span]
        if self.reward_matrix is None:
            rewards = np.full(next_states.size, self.rewards[state, action])
        else:
            rewards = self.reward_matrix[row, next_states].toarray().ravel()
        return next_states, probabilities, rewards

    def _densify(self, matrix, what: str) -> np.ndarray:
        entries = self.n_states * self.n_actions * self.n_states
        if entries > DENSE_ENTRY_LIMIT:
            raise DenseTableTooLargeError(
                f"MDP {self.name!r} is sparse with {self.n_states} states and "
                f"{self.n_actions} actions: the dense {what} would hold {entries:.3g} entries "
                f"({entries * 8 / 2 ** 30:.3g} GiB, limit {DENSE_ENTRY_LIMIT}); use "
                f"mdp.transition_matrix (CSR, row s * A + a) or rlspec.oracles.certified")
        dense = matrix.toarray().reshape(self.n_states, self.n_actions, self.n_states)
        dense.setflags(write=False)
        return dense

    def with_gamma(self, gamma: float) -> TabularMDP:
        """The same MDP with another discount factor (validated again)."""
        if self.is_sparse:
            tables = (self.transition_matrix,
                      self.rewards if self.reward_matrix is None else self.reward_matrix)
        else:
            tables = (self.transitions,
                      self.rewards if self.reward_by_transition is None
                      else self.reward_by_transition)
        return TabularMDP(
            *tables,
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


def states_that_cannot_terminate(transition_matrix, terminal: np.ndarray) -> np.ndarray:
    """States from which no policy reaches a terminal state with positive probability.

    ``transition_matrix`` is P with rows ``s * A + a`` (CSR, shape (S * A, S)).  Backward
    reachability from the terminal states over the graph with an edge s -> s' whenever some
    action moves there with positive probability: one breadth-first search, O(non-zeros).
    """
    return np.flatnonzero(~reachable_states(state_graph(transition_matrix).T, terminal))


def state_graph(transition_matrix) -> scipy.sparse.csr_matrix:
    """The S x S adjacency (s -> s' when some action moves there with positive probability)."""
    matrix = scipy.sparse.csr_matrix(transition_matrix)
    n_states = matrix.shape[1]
    n_actions = matrix.shape[0] // n_states
    source_state = np.repeat(np.arange(n_states), n_actions)[
        np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))]
    positive = matrix.data > 0
    return scipy.sparse.csr_matrix(
        (np.ones(int(positive.sum()), dtype=np.int8),
         (source_state[positive], matrix.indices[positive])),
        shape=(n_states, n_states))


def reachable_states(graph, sources: np.ndarray) -> np.ndarray:
    """Mask of the nodes reachable from the mask ``sources`` along the directed ``graph``."""
    return breadth_first_predecessors(graph, sources) != UNREACHED


#: The predecessor :func:`breadth_first_predecessors` gives a node it never reached.
UNREACHED = -9999


def breadth_first_predecessors(graph, sources: np.ndarray) -> np.ndarray:
    """``predecessor[v]``: the node from which a breadth-first search from the mask
    ``sources`` along the directed ``graph`` first reached v (so following predecessors
    gives a shortest path back to a source); ``len(sources)`` for the sources themselves and
    :data:`UNREACHED` for nodes it cannot reach.  One search from an extra node wired to
    every source, O(edges).
    """
    graph = scipy.sparse.csr_matrix(graph)
    size = graph.shape[0]
    starts = np.flatnonzero(sources)
    edges = graph.tocoo()
    extended = scipy.sparse.csr_matrix(
        (np.ones(edges.nnz + starts.size, dtype=np.int8),
         (np.concatenate([edges.row, np.full(starts.size, size)]),
          np.concatenate([edges.col, starts]))),
        shape=(size + 1, size + 1))
    _, predecessors = scipy.sparse.csgraph.breadth_first_order(
        extended, size, directed=True, return_predecessors=True)
    predecessors = predecessors[:size].astype(np.int64)
    predecessors[predecessors < 0] = UNREACHED
    return predecessors


def sparse_transitions(matrix, n_states: int, n_actions: int) -> scipy.sparse.csr_matrix:
    """Validate sparse ``P`` (rows ``s * A + a``, shape (S * A, S)) and return it as CSR.

    Duplicate entries are summed (as scipy does), explicit zeros dropped, indices sorted;
    the probabilities must be finite, non-negative, and every row must sum to 1.
    """
    matrix = _finite_csr(matrix, "transitions P[s * A + a, s']")
    if matrix.shape != (n_states * n_actions, n_states):
        raise InvalidMDPError(
            f"sparse transitions P must have shape (S * A, S) = ({n_states * n_actions}, "
            f"{n_states}) for rewards r[s, a] of shape ({n_states}, {n_actions}); got "
            f"{matrix.shape}")
    if n_states == 0 or n_actions == 0:
        raise InvalidMDPError("transitions need at least one state and one action")
    if (matrix.data < 0).any():
        row = int(np.searchsorted(matrix.indptr, np.flatnonzero(matrix.data < 0)[0], "right")) - 1
        raise InvalidMDPError(
            f"transitions P[s * A + a, :] has a negative probability in row {row} "
            f"(s = {row // n_actions}, a = {row % n_actions})")
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    bad = np.abs(sums - 1.0) > validation.PROBABILITY_SUM_TOLERANCE
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidMDPError(
            f"transitions P[s * A + a, :] rows must sum to 1, but row {row} (s = "
            f"{row // n_actions}, a = {row % n_actions}) sums to {float(sums[row])!r}")
    return _make_read_only(matrix)


def _finite_csr(matrix, name: str) -> scipy.sparse.csr_matrix:
    if not scipy.sparse.issparse(matrix):
        raise InvalidMDPError(f"{name} must be a scipy.sparse matrix, got {type(matrix).__name__}")
    try:
        matrix = scipy.sparse.csr_matrix(matrix, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as error:
        raise InvalidMDPError(f"{name} must be numeric: {error}") from None
    matrix.sum_duplicates()
    if not np.isfinite(matrix.data).all():
        raise InvalidMDPError(f"{name} contains NaN or an infinite value")
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _make_read_only(matrix: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    for array in (matrix.data, matrix.indices, matrix.indptr):
        array.setflags(write=False)
    return matrix


def _labels(labels, count: int, prefix: str, name: str) -> tuple[str, ...]:
    if labels is None:
        return tuple(f"{prefix}{i}" for i in range(count))
    labels = tuple(str(label) for label in labels)
    if len(labels) != count:
        raise InvalidMDPError(f"{name} has {len(labels)} entries, expected {count}")
    return labels
