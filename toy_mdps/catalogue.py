"""Named toy MDPs with published or closed-form solutions.

``make(name)`` builds one; ``names()`` lists them; ``describe(name)`` gives a one-line
summary.  Each builder's docstring cites its source and states the layout, the rewards,
gamma and the terminal states, so that a test comparing against a printed table can be
checked against the book by a reader.

Conventions shared by every builder (see ``rlspec.toy_mdps.mdp``):

* Terminal states are absorbing and pay 0; a reward for *entering* a terminal state is
  paid on the transition into it (``R[s, a, s_terminal]``).
* Grid worlds number their cells row-major, ``state = row * width + col``, carry
  ``grid_shape`` and label their states ``"(row,col)"``.  All hand-written grids share one
  helper, :func:`grid_world`, and the action order north, south, east, west.
* Sutton & Barto, *Reinforcement Learning: An Introduction*, 2nd edition (MIT Press,
  2018), is cited by section, example and figure number, which the printed book and the
  authors' PDF (incompleteideas.net/book/the-book-2nd.html) share; page numbers are not
  given, since printings and the PDF paginate differently.

Names of the form ``chain-N`` (N >= 2) and ``bandit-K`` (K >= 1) are patterns: ``make``
accepts any such N or K; ``names()`` lists one instance of each (``chain-5``,
``bandit-10``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import scipy.sparse

from rlspec.toy_mdps.mdp import InvalidMDPError, TabularMDP, reachable_states, state_graph

#: The four compass moves of the hand-written grid worlds, in action order.
GRID_MOVES: dict[str, tuple[int, int]] = {
    "north": (-1, 0),
    "south": (1, 0),
    "east": (0, 1),
    "west": (0, -1),
}

Cell = tuple[int, int]
#: ``outcome(cell, move) -> (next_cell, reward)`` for one deterministic grid step.
GridOutcome = Callable[[Cell, Cell], tuple[Cell, float]]


# --------------------------------------------------------------------------------------
# The grid-world helper
# --------------------------------------------------------------------------------------

def on_grid(shape: tuple[int, int], cell: Cell) -> bool:
    return 0 <= cell[0] < shape[0] and 0 <= cell[1] < shape[1]


def step_or_bump(shape: tuple[int, int], cell: Cell, move: Cell) -> tuple[Cell, bool]:
    """The cell a move leads to, and whether it bumped into the edge (then: no move)."""
    target = (cell[0] + move[0], cell[1] + move[1])
    if on_grid(shape, target):
        return target, False
    return cell, True


def grid_labels(shape: tuple[int, int]) -> list[str]:
    return [f"({row},{col})" for row in range(shape[0]) for col in range(shape[1])]


def grid_world(
    shape: tuple[int, int],
    outcome: GridOutcome,
    gamma: float,
    *,
    terminal_cells: tuple[Cell, ...] = (),
    initial_distribution=None,
    name: str = "",
) -> TabularMDP:
    """A deterministic grid world with the moves of :data:`GRID_MOVES`.

    ``outcome(cell, move)`` returns ``(next_cell, reward)`` for every non-terminal cell and
    every move; terminal cells are made absorbing with reward 0 here, so ``outcome`` is
    never called for them.  Cells are numbered row-major.
    """
    rows, cols = shape
    n_states, n_actions = rows * cols, len(GRID_MOVES)
    transitions = np.zeros((n_states, n_actions, n_states))
    rewards = np.zeros((n_states, n_actions))
    terminal = [row * cols + col for row, col in terminal_cells]
    for state in range(n_states):
        cell = divmod(state, cols)
        for action, move in enumerate(GRID_MOVES.values()):
            if state in terminal:
                transitions[state, action, state] = 1.0
                continue
            (next_row, next_col), reward = outcome(cell, move)
            transitions[state, action, next_row * cols + next_col] = 1.0
            rewards[state, action] = reward
    return TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=initial_distribution,
        terminal_states=terminal,
        state_labels=grid_labels(shape),
        action_labels=list(GRID_MOVES),
        grid_shape=shape,
        name=name,
    )


def _point_mass(n_states: int, state: int) -> np.ndarray:
    distribution = np.zeros(n_states)
    distribution[state] = 1.0
    return distribution


def _uniform_except(n_states: int, excluded) -> np.ndarray:
    distribution = np.ones(n_states)
    distribution[list(excluded)] = 0.0
    return distribution / distribution.sum()


# --------------------------------------------------------------------------------------
# Sutton & Barto (2018)
# --------------------------------------------------------------------------------------

def sb_gridworld_5x5(gamma: float = 0.9) -> TabularMDP:
    """The 5x5 gridworld of Sutton & Barto (2018), Example 3.5, Figure 3.2.

    Source: Sutton & Barto (2018), Example 3.5 "Gridworld", Figure 3.2 (values of the
    equiprobable random policy) and Example 3.8, Figure 3.5 (V* and an optimal policy).

    Layout: 5x5 cells, row-major, row 0 at the top; actions north, south, east, west.
    A moving action that would leave the grid leaves the state unchanged and pays -1.
    Every action taken in A = (0,1) pays +10 and moves to A' = (4,1); every action taken
    in B = (0,3) pays +5 and moves to B' = (2,3).  All other moves pay 0.
    Gamma 0.9 (the book's).  No terminal states (a continuing task); the initial
    distribution (which the book does not give) is uniform over the 25 cells.
    """
    shape = (5, 5)
    a_cell, a_prime, b_cell, b_prime = (0, 1), (4, 1), (0, 3), (2, 3)

    def outcome(cell: Cell, move: Cell) -> tuple[Cell, float]:
        if cell == a_cell:
            return a_prime, 10.0
        if cell == b_cell:
            return b_prime, 5.0
        next_cell, bumped = step_or_bump(shape, cell, move)
        return next_cell, -1.0 if bumped else 0.0

    return grid_world(shape, outcome, gamma, name="sb-gridworld-5x5")


def sb_gridworld_4x4(gamma: float = 1.0) -> TabularMDP:
    """The 4x4 gridworld of Sutton & Barto (2018), Example 4.1, Figure 4.1.

    Source: Sutton & Barto (2018), Example 4.1; Figure 4.1 prints iterative policy
    evaluation of the equiprobable random policy, whose k = infinity column is V.

    Layout: 4x4 cells, row-major; states 0 = (0,0) and 15 = (3,3), the two shaded corners,
    are terminal (absorbing, reward 0).  Actions north, south, east, west; a move off the
    grid leaves the state unchanged.  Every transition from a non-terminal state pays -1.
    Gamma 1 (undiscounted, episodic).  Initial distribution: uniform over the 14
    non-terminal cells (the book gives none).
    """
    shape = (4, 4)

    def outcome(cell: Cell, move: Cell) -> tuple[Cell, float]:
        next_cell, _ = step_or_bump(shape, cell, move)
        return next_cell, -1.0

    return grid_world(
        shape, outcome, gamma,
        terminal_cells=((0, 0), (3, 3)),
        initial_distribution=_uniform_except(16, (0, 15)),
        name="sb-gridworld-4x4",
    )


def cliff_walking(gamma: float = 1.0) -> TabularMDP:
    """Cliff walking of Sutton & Barto (2018), Example 6.6.

    Source: Sutton & Barto (2018), Example 6.6 "Cliff Walking".

    Layout: 4x12 cells, row-major, row 0 at the top; actions north, south, east, west.
    Start S = (3,0) (the initial distribution is a point mass there); goal G = (3,11) is
    terminal.  The cliff is (3,1)..(3,10): a move into it pays -100 and sends the agent to
    S.  Every other move pays -1; a move off the grid leaves the state unchanged (and
    pays -1).  Gamma 1.

    The cliff cells are never occupied (entering one puts the agent at S), but they stay
    states so that the grid is a plain row-major 4x12.  Their rows are S's rows: an agent
    "in" a cliff cell is really at the start, so each action from a cliff cell has exactly
    the outcome and reward it has from S, and V(cliff cell) = V(S) for every policy.

    Known value: the optimal path runs along the cliff edge, 13 steps, so V*(S) = -13.
    """
    shape = (4, 12)
    start = (3, 0)
    cliff = {(3, col) for col in range(1, 11)}

    def outcome(cell: Cell, move: Cell) -> tuple[Cell, float]:
        if cell in cliff:
            cell = start
        next_cell, _ = step_or_bump(shape, cell, move)
        if next_cell in cliff:
            return start, -100.0
        return next_cell, -1.0

    return grid_world(
        shape, outcome, gamma,
        terminal_cells=((3, 11),),
        initial_distribution=_point_mass(48, 3 * 12 + 0),
        name="cliff-walking",
    )


def _random_walk(n_inner: int, left_reward: float, right_reward: float, gamma: float,
                 inner_labels: list[str], name: str) -> TabularMDP:
    """A symmetric random walk on ``n_inner`` states between two terminal states.

    State 0 is the left terminal, 1..n_inner the walk, n_inner + 1 the right terminal.
    One action; it moves left or right with probability 1/2 each.  The rewards are paid
    on entering the terminals (``R[s, a, s']``).  The walk starts in the middle state.
    """
    n_states = n_inner + 2
    left, right = 0, n_inner + 1
    transitions = np.zeros((n_states, 1, n_states))
    rewards = np.zeros((n_states, 1, n_states))
    for terminal in (left, right):
        transitions[terminal, 0, terminal] = 1.0
    for state in range(1, n_inner + 1):
        transitions[state, 0, state - 1] = 0.5
        transitions[state, 0, state + 1] = 0.5
    rewards[1, 0, left] = left_reward
    rewards[n_inner, 0, right] = right_reward
    return TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=_point_mass(n_states, (n_inner + 1) // 2),
        terminal_states=(left, right),
        state_labels=["left terminal", *inner_labels, "right terminal"],
        action_labels=["step"],
        name=name,
    )


def random_walk_5(gamma: float = 1.0) -> TabularMDP:
    """The 5-state random walk of Sutton & Barto (2018), Example 6.2.

    Source: Sutton & Barto (2018), Example 6.2 "Random Walk".

    Layout: states in order left terminal, A, B, C, D, E, right terminal (indices 0..6).
    A single action "step" moves left or right with probability 1/2.  Reward +1 on
    entering the right terminal, 0 on every other transition.  Both terminals are
    absorbing with reward 0.  Gamma 1; every episode starts in C (state 3).

    Known values: V(A..E) = 1/6, 2/6, 3/6, 4/6, 5/6, the probability of leaving on the
    right.
    """
    return _random_walk(5, 0.0, 1.0, gamma, list("ABCDE"), "random-walk-5")


def random_walk_19(gamma: float = 1.0) -> TabularMDP:
    """The 19-state random walk of Sutton & Barto (2018), Example 7.1, Figure 7.2.

    Source: Sutton & Barto (2018), Example 7.1 "n-step TD Methods on the Random Walk".

    Layout: left terminal (index 0), the walk's states 1..19, right terminal (index 20).
    A single action "step" moves left or right with probability 1/2.  Reward -1 on
    entering the left terminal, +1 on entering the right one, 0 otherwise.  Gamma 1;
    every episode starts in the middle state 10.

    Known values: V(i) = P(right) - P(left) = i/20 - (20 - i)/20 = (i - 10)/10.
    """
    return _random_walk(19, -1.0, 1.0, gamma, [str(i) for i in range(1, 20)],
                        "random-walk-19")


def bandit(n_arms: int = 10, gamma: float = 1.0, seed: int = 0) -> TabularMDP:
    """A K-armed bandit as a one-step episodic MDP (the 10-armed testbed's arms).

    Source: Sutton & Barto (2018), Section 2.3 "The 10-armed Testbed": the arm
    means q*(a) are drawn from N(0, 1).  Here they are drawn once with
    ``numpy.random.default_rng(seed).normal(0, 1, n_arms)`` (seed 0 by default), so the
    MDP is a fixed, deterministic table.  The book's rewards are N(q*(a), 1) around the
    mean; only the expected reward q*(a) enters the MDP.

    Layout: state 0 is the single decision state, state 1 is terminal.  Action a ("arm a")
    pays q*(a) and moves to state 1.  Gamma 1; start in state 0.  So V*(0) = max_a q*(a)
    and Q*(0, a) = q*(a).
    """
    if n_arms < 1:
        raise ValueError(f"a bandit needs at least one arm, got n_arms = {n_arms}")
    means = np.random.default_rng(seed).normal(0.0, 1.0, n_arms)
    transitions = np.zeros((2, n_arms, 2))
    transitions[:, :, 1] = 1.0
    rewards = np.zeros((2, n_arms))
    rewards[0] = means
    return TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=[1.0, 0.0],
        terminal_states=(1,),
        state_labels=["decision", "done"],
        action_labels=[f"arm {arm}" for arm in range(n_arms)],
        name=f"bandit-{n_arms}",
    )


# --------------------------------------------------------------------------------------
# Closed-form and literature MDPs
# --------------------------------------------------------------------------------------

def two_state(gamma: float = 0.9) -> TabularMDP:
    r"""Two states, "stay" or "switch", with closed-form V* and V of the uniform policy.

    Source: constructed here for this suite; the closed forms are derived below.

    Layout: states 0 and 1; action 0 "stay" keeps the state, action 1 "switch" moves to
    the other state, deterministically.  Rewards:

    ====== ====== ========
    r(s,a) stay   switch
    ====== ====== ========
    0      0      1
    1      2      0
    ====== ====== ========

    No terminal states; start in state 0; default gamma 0.9 (any gamma in [0, 1) works;
    gamma = 1 is rejected because the task never ends).

    Optimal values.  In state 1, staying forever earns :math:`2/(1-\gamma)`; in state 0
    the best is to switch once (reward 1) and then stay:

    .. math:: V^*(1) = \frac{2}{1-\gamma}, \qquad
              V^*(0) = 1 + \gamma V^*(1) = \frac{1+\gamma}{1-\gamma}.

    This is optimal for every gamma in [0, 1): the alternatives are
    :math:`Q^*(0, \text{stay}) = Q^*(1, \text{switch}) = \gamma(1+\gamma)/(1-\gamma)`,
    strictly below both values because :math:`\gamma(1+\gamma) < 1+\gamma < 2`.

    Uniform random policy.  With :math:`V_0, V_1` its values,

    .. math:: V_0 = \tfrac12 (0 + \gamma V_0) + \tfrac12 (1 + \gamma V_1), \qquad
              V_1 = \tfrac12 (2 + \gamma V_1) + \tfrac12 (0 + \gamma V_0).

    Adding gives :math:`V_0 + V_1 = \tfrac32 / (1-\gamma)`; substituting back,

    .. math:: V_0 = \frac{2+\gamma}{4(1-\gamma)}, \qquad V_1 = \frac{4-\gamma}{4(1-\gamma)}.

    Example (gamma = 0.9): V* = (19, 20), V_uniform = (7.25, 7.75).
    Example (gamma = 0): V* = (1, 2), V_uniform = (0.5, 1), the one-step averages.
    """
    transitions = np.zeros((2, 2, 2))
    transitions[0, 0, 0] = transitions[1, 0, 1] = 1.0  # stay
    transitions[0, 1, 1] = transitions[1, 1, 0] = 1.0  # switch
    rewards = np.array([[0.0, 1.0], [2.0, 0.0]])
    return TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=[1.0, 0.0],
        state_labels=["0", "1"],
        action_labels=["stay", "switch"],
        name="two-state",
    )


def chain(n_states: int = 5, gamma: float = 0.99, slip_probability: float = 0.2) -> TabularMDP:
    """The "chain" problem, used by Strens (2000) to test exploration.

    Source: M. Strens (2000), "A Bayesian framework for reinforcement learning", ICML,
    the "Chain" task of its experiments, which takes the problem from Dearden, Friedman &
    Russell (1998), "Bayesian Q-learning", AAAI.  Both use 5 states; ``chain-N``
    generalises to N states as later papers do.

    Layout: states 0..N-1 in a line; start in state 0.  Two actions:

    * action 0 "forward" (the papers' action a): moves one state to the right and pays 0;
      in the last state N-1 it stays there and pays 10.
    * action 1 "back" (action b): returns to state 0 and pays 2 (also from state 0, where
      it stays).

    With probability ``slip_probability`` = 0.2 the agent "slips" and the *opposite*
    action's effect happens instead, reward included: a slipping "forward" returns to
    state 0 with reward 2, a slipping "back" moves right (or pays 10 at the end).  The
    reward therefore depends on the next state and is stored as ``R[s, a, s']``.
    No terminal states.  Default gamma 0.99: our choice; the papers report the total
    reward over the first 1000 steps rather than a discounted value, so check the
    discount against the paper you compare with.

    What we checked from memory: 5 states, rewards 0 / 10 / 2, slip 0.2 and the
    "opposite action" slip are as both papers describe; the gamma is not from them.
    The trap: "back" pays 2 at once, "forward" pays only at the far end, so a myopic
    learner settles for 2 per step while the optimum (for gamma near 1) walks to the end.
    """
    if n_states < 2:
        raise ValueError(f"the chain needs at least 2 states, got n_states = {n_states}")
    if not 0.0 <= slip_probability <= 1.0:
        raise ValueError(f"slip_probability must lie in [0, 1], got {slip_probability!r}")
    # Built sparse (rows s * 2 + a) and vectorised, so that chain-N works for any N.
    states = np.arange(n_states)
    effects = (  # (next state, reward) of each action's effect, for every state at once
        (np.minimum(states + 1, n_states - 1), np.where(states == n_states - 1, 10.0, 0.0)),
        (np.zeros(n_states, dtype=np.int64), np.full(n_states, 2.0)),
    )
    rows, next_states, probabilities, rewards_of = [], [], [], []
    for action in (0, 1):
        for performed, probability in ((action, 1.0 - slip_probability),
                                       (1 - action, slip_probability)):
            rows.append(states * 2 + action)
            next_states.append(effects[performed][0])
            probabilities.append(np.full(n_states, probability))
            rewards_of.append(effects[performed][1])
    # The two effects never share a next state (s + 1 or the last state vs 0), so no
    # (s, a, s') entry is listed twice and R holds one reward per entry.
    index = (np.concatenate(rows), np.concatenate(next_states))
    shape = (2 * n_states, n_states)
    transitions = scipy.sparse.csr_matrix((np.concatenate(probabilities), index), shape=shape)
    rewards = scipy.sparse.csr_matrix((np.concatenate(rewards_of), index), shape=shape)
    return TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=_point_mass(n_states, 0),
        state_labels=[str(state) for state in range(n_states)],
        action_labels=["forward", "back"],
        name=f"chain-{n_states}",
    )


# --------------------------------------------------------------------------------------
# Models read from gymnasium's own transition tables
# --------------------------------------------------------------------------------------

#: name -> (candidate gymnasium ids, newest first, and keyword arguments to gymnasium.make)
_GYMNASIUM_SOURCES: dict[str, tuple[tuple[str, ...], dict]] = {
    "frozenlake-4x4": (("FrozenLake-v1",), {"map_name": "4x4", "is_slippery": True}),
    "frozenlake-8x8": (("FrozenLake-v1",), {"map_name": "8x8", "is_slippery": True}),
    "taxi": (("Taxi-v4", "Taxi-v3"), {}),
    "cliffwalking-gym": (("CliffWalking-v1", "CliffWalking-v0"), {}),
}


def gymnasium_source(name: str) -> tuple[str, dict]:
    """The gymnasium id and ``gymnasium.make`` keyword arguments a table model is read from.

    The id is the newest registered version among the known ones: gymnasium 1.4 registers
    ``Taxi-v4`` (added in 1.3; ``Taxi-v3`` is deprecated there and refuses to build) and
    ``CliffWalking-v1``; older releases register ``Taxi-v3`` and ``CliffWalking-v0``.
    With their default arguments the versions share the transition tables (v4 and v1
    changed only the optional stochastic variants).
    """
    import gymnasium

    candidates, kwargs = _GYMNASIUM_SOURCES[name]
    for env_id in candidates:
        if env_id in gymnasium.envs.registry:
            return env_id, dict(kwargs)
    raise KeyError(f"none of {list(candidates)} is registered in this gymnasium "
                   f"({gymnasium.__version__})")


def model_from_gymnasium(
    env_id: str,
    gamma: float,
    make_kwargs: dict | None = None,
    *,
    state_labels=None,
    action_labels=None,
    grid_shape: tuple[int, int] | None = None,
    name: str = "",
) -> TabularMDP:
    """A :class:`TabularMDP` read from a toy-text env's table ``env.unwrapped.P``.

    The initial distribution is the env's ``initial_state_distrib``; the table becomes an
    MDP as :func:`from_gymnasium_table` describes.
    """
    import gymnasium

    env = gymnasium.make(env_id, **(make_kwargs or {}))
    try:
        base = env.unwrapped
        table = base.P
        initial = np.asarray(base.initial_state_distrib, dtype=np.float64)
        n_states, n_actions = int(base.observation_space.n), int(base.action_space.n)
    finally:
        env.close()
    return from_gymnasium_table(
        table, n_states, n_actions, gamma, initial,
        state_labels=state_labels, action_labels=action_labels, grid_shape=grid_shape,
        name=name or env_id,
    )


def from_gymnasium_table(
    table,
    n_states: int,
    n_actions: int,
    gamma: float,
    initial_distribution,
    *,
    state_labels=None,
    action_labels=None,
    grid_shape: tuple[int, int] | None = None,
    name: str = "",
) -> TabularMDP:
    """A sparse :class:`TabularMDP` from gymnasium's ``P[s][a] = [(p, s', r, terminated), ...]``.

    * ``P[s, a, s']`` sums the probabilities of the entries that lead to s' (FrozenLake
      lists the same next state twice when a slip bumps into a wall).
    * ``R[s, a, s']`` is the entries' reward; entries for the same (s, a, s') with
      different rewards raise :class:`InvalidMDPError`, since R[s, a, s'] could not hold them.
    * gymnasium flags ``terminated`` on the transition *into* a terminal cell, and the
      terminal cell's own rows are whatever the environment's geometry gives (gymnasium
      resets before they are ever used).  The spec's convention is an absorbing state with
      reward 0, so every state reached by a ``terminated`` entry becomes terminal and its
      rows are rewritten as absorbing with reward 0.
    * Check: from every non-terminal state reachable from the start distribution, an entry
      leads into a terminal state exactly when it is flagged ``terminated``; otherwise
      :class:`InvalidMDPError`.  States that cannot be reached are not checked: in Taxi
      the states "passenger already at the destination, taxi elsewhere" are reachable
      only from a terminal state, and moving the taxi onto the destination from them is
      not flagged ``terminated`` in gymnasium's table.  In the MDP they enter the
      terminal state, as from any other state.

    Memory is linear in the number of entries, so tables of any size convert (at the speed
    of a Python loop over the entries, about a million a second).

    Example: one state that ends the episode with reward 1 and a goal state,
    ``P = {0: {0: [(1.0, 1, 1.0, True)]}, 1: {0: [(1.0, 1, 0.0, True)]}}``, gives
    ``P[0, 0, 1] = 1``, ``R[0, 0, 1] = 1`` and state 1 terminal (absorbing, reward 0).
    """
    terminal = {int(next_state)
                for state in range(n_states) for action in range(n_actions)
                for _, next_state, _, terminated in table[state][action] if terminated}
    entries: dict[tuple[int, int], list[float]] = {}  # (row s*A+a, s') -> [p, reward]
    for state in range(n_states):
        for action in range(n_actions):
            row = state * n_actions + action
            if state in terminal:
                entries[(row, state)] = [1.0, 0.0]
                continue
            for probability, next_state, reward, _ in table[state][action]:
                key = (row, int(next_state))
                if key in entries and entries[key][1] != reward:
                    raise InvalidMDPError(
                        f"{name}: the table lists (s, a, s') = ({state}, {action}, "
                        f"{int(next_state)}) with rewards {entries[key][1]} and {reward}; "
                        f"R[s, a, s'] cannot hold both")
                entries.setdefault(key, [0.0, float(reward)])[0] += probability
    keys = np.array(list(entries), dtype=np.int64).reshape(-1, 2)
    values = np.array(list(entries.values()), dtype=np.float64).reshape(-1, 2)
    shape = (n_states * n_actions, n_states)
    transitions = scipy.sparse.csr_matrix((values[:, 0], (keys[:, 0], keys[:, 1])), shape=shape)
    rewards = scipy.sparse.csr_matrix((values[:, 1], (keys[:, 0], keys[:, 1])), shape=shape)

    initial = np.asarray(initial_distribution, dtype=np.float64)
    reachable = reachable_states(state_graph(transitions), initial > 0)
    for state in np.flatnonzero(reachable):
        if state in terminal:
            continue
        for action in range(n_actions):
            for _, next_state, _, terminated in table[state][action]:
                if bool(terminated) != (int(next_state) in terminal):
                    raise InvalidMDPError(
                        f"{name}: from reachable state {state}, action {action} leads to "
                        f"{int(next_state)} with terminated={terminated}, but that state "
                        f"is {'' if int(next_state) in terminal else 'not '}terminal"
                    )

    return TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=initial,
        terminal_states=sorted(terminal),
        state_labels=state_labels,
        action_labels=action_labels,
        grid_shape=grid_shape,
        name=name,
    )


def frozenlake(map_name: str = "4x4", gamma: float = 0.99) -> TabularMDP:
    """FrozenLake (slippery) read from gymnasium's transition table.

    Source: gymnasium ``FrozenLake-v1`` (``gymnasium/envs/toy_text/frozen_lake.py``) with
    ``map_name`` "4x4" or "8x8" and ``is_slippery=True``: the move goes in the intended
    direction with probability 1/3 and to each perpendicular direction with 1/3.

    Layout: the map's cells row-major, grid_shape (4, 4) or (8, 8); actions 0 left,
    1 down, 2 right, 3 up (gymnasium's order).  Reward 1 on reaching the goal G, 0
    otherwise.  Terminal states: the holes H and the goal G (gymnasium ends the episode
    on entering them), made absorbing with reward 0.  Start: the cell S.
    Gamma: gymnasium defines no discount; 0.99 is our default.
    See :func:`model_from_gymnasium` for how the table becomes an MDP.
    """
    env_id, kwargs = gymnasium_source(f"frozenlake-{map_name}")
    size = int(map_name.split("x")[0])
    return model_from_gymnasium(
        env_id, gamma, kwargs,
        state_labels=grid_labels((size, size)),
        action_labels=["left", "down", "right", "up"],
        grid_shape=(size, size),
        name=f"frozenlake-{map_name}",
    )


def frozenlake_4x4(gamma: float = 0.99) -> TabularMDP:
    """FrozenLake 4x4, slippery, read from gymnasium's transition table.

    Source: gymnasium ``FrozenLake-v1``, ``map_name="4x4"``, ``is_slippery=True``; see
    :func:`frozenlake` for the layout, rewards, terminal states and gamma (0.99, ours).
    """
    return frozenlake("4x4", gamma)


def frozenlake_8x8(gamma: float = 0.99) -> TabularMDP:
    """FrozenLake 8x8, slippery, read from gymnasium's transition table.

    Source: gymnasium ``FrozenLake-v1``, ``map_name="8x8"``, ``is_slippery=True``; see
    :func:`frozenlake` for the layout, rewards, terminal states and gamma (0.99, ours).
    """
    return frozenlake("8x8", gamma)


def taxi(gamma: float = 0.99) -> TabularMDP:
    """Taxi read from gymnasium's transition table (Dietterich 2000).

    Source: gymnasium ``Taxi-v4`` (``Taxi-v3`` before gymnasium 1.3; same table with the
    default ``is_rainy=False``, ``fickle_passenger=False``), after T. Dietterich (2000),
    "Hierarchical reinforcement learning with the MAXQ value function decomposition",
    JAIR 13.

    Layout: 500 states ``((taxi_row * 5 + taxi_col) * 5 + passenger_location) * 4 +
    destination``; passenger location 0..3 = R, G, Y, B, 4 = in the taxi.  Actions
    0 south, 1 north, 2 east, 3 west, 4 pickup, 5 dropoff.  Reward -1 per step, +20 for a
    dropoff at the destination, -10 for a pickup where the passenger is not or a dropoff
    away from the four locations (or with nobody aboard); a dropoff at one of the other
    three locations is legal (-1) and leaves the passenger there.  Terminal states:
    the 4 states reached by a successful dropoff (passenger at its destination, taxi
    there), made absorbing with reward 0.  Initial distribution: gymnasium's
    ``initial_state_distrib``, uniform over the 300 states with the passenger waiting at
    a location other than its destination.  Gamma: gymnasium defines no discount; 0.99 is
    our default.  See :func:`model_from_gymnasium`.
    """
    env_id, kwargs = gymnasium_source("taxi")
    places = ["R", "G", "Y", "B", "in taxi"]
    labels = []
    for state in range(500):
        rest, destination = divmod(state, 4)
        rest, passenger = divmod(rest, 5)
        row, col = divmod(rest, 5)
        labels.append(f"taxi ({row},{col}), passenger {places[passenger]}, "
                      f"destination {places[destination]}")
    return model_from_gymnasium(
        env_id, gamma, kwargs,
        state_labels=labels,
        action_labels=["south", "north", "east", "west", "pickup", "dropoff"],
        name="taxi",
    )


def cliffwalking_gym(gamma: float = 0.99) -> TabularMDP:
    """Cliff walking read from gymnasium's transition table.

    Source: gymnasium ``CliffWalking-v1`` (``CliffWalking-v0`` in older releases),
    after Sutton & Barto (2018), Example 6.6; the hand-written book version is
    :func:`cliff_walking`.

    Layout: 4x12 cells row-major; actions 0 up, 1 right, 2 down, 3 left (gymnasium's
    order, unlike the book version's).  Reward -1 per step; a move into the cliff
    (3,1)..(3,10) pays -100 and returns to the start (3,0).  Terminal state: the goal
    (3,11), made absorbing with reward 0.  The cliff cells' rows are gymnasium's (as if
    the agent stood there); they are never reached.  Start: (3,0).
    Gamma: gymnasium defines no discount; 0.99 is our default (with gamma = 1 the
    optimal return from the start is -13, as in the book).
    See :func:`model_from_gymnasium`.
    """
    env_id, kwargs = gymnasium_source("cliffwalking-gym")
    return model_from_gymnasium(
        env_id, gamma, kwargs,
        state_labels=grid_labels((4, 12)),
        action_labels=["up", "right", "down", "left"],
        grid_shape=(4, 12),
        name="cliffwalking-gym",
    )


# --------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------

_FIXED: dict[str, Callable[..., TabularMDP]] = {
    "sb-gridworld-5x5": sb_gridworld_5x5,
    "sb-gridworld-4x4": sb_gridworld_4x4,
    "random-walk-5": random_walk_5,
    "random-walk-19": random_walk_19,
    "cliff-walking": cliff_walking,
    "two-state": two_state,
    "frozenlake-4x4": frozenlake_4x4,
    "frozenlake-8x8": frozenlake_8x8,
    "taxi": taxi,
    "cliffwalking-gym": cliffwalking_gym,
}

#: pattern prefix -> (builder taking the size first, smallest size, the size's meaning)
_PATTERNS: dict[str, tuple[Callable[..., TabularMDP], int, str]] = {
    "chain": (chain, 2, "N"),
    "bandit": (bandit, 1, "K"),
}

#: The instances of the patterns that ``names()`` lists and gymnasium registers.
PATTERN_EXAMPLES = ("chain-5", "bandit-10")


def names() -> list[str]:
    """Every fixed name, then one instance of each pattern (``chain-5``, ``bandit-10``)."""
    return [*_FIXED, *PATTERN_EXAMPLES]


def builder(name: str) -> Callable[..., TabularMDP]:
    """The function that builds ``name`` (its docstring cites the source)."""
    return _resolve(name)[0]


def make(name: str, gamma: float | None = None) -> TabularMDP:
    """Build the named MDP; ``gamma=None`` keeps the MDP's default discount.

    Raises ``KeyError`` listing the valid names for an unknown name, and
    :class:`InvalidMDPError` for a gamma the MDP cannot take (gamma = 1 on a continuing
    task such as ``sb-gridworld-5x5``).
    """
    function, arguments = _resolve(name)
    if gamma is None:
        return function(*arguments)
    return function(*arguments, gamma=gamma)


def describe(name: str) -> str:
    """One line: the name, the builder's summary, and the size, gamma and terminals."""
    function = builder(name)
    mdp = make(name)
    summary = (function.__doc__ or "").strip().splitlines()[0].rstrip(".")
    terminal = np.flatnonzero(mdp.terminal_states).tolist()
    if not terminal:
        terminal_text = "no terminal states"
    elif len(terminal) <= 6:
        terminal_text = f"terminal states {terminal}"
    else:
        terminal_text = f"{len(terminal)} terminal states"
    actions = "1 action" if mdp.n_actions == 1 else f"{mdp.n_actions} actions"
    return (f"{name}: {summary}; {mdp.n_states} states, {actions}, gamma {mdp.gamma:g}, "
            f"{terminal_text}")


def _resolve(name: str) -> tuple[Callable[..., TabularMDP], tuple]:
    if name in _FIXED:
        return _FIXED[name], ()
    match = re.fullmatch(r"([a-z]+)-(\d+)", name) if isinstance(name, str) else None
    if match and match.group(1) in _PATTERNS:
        function, smallest, symbol = _PATTERNS[match.group(1)]
        size = int(match.group(2))
        if size >= smallest:
            return function, (size,)
        raise KeyError(f"{name!r}: {match.group(1)}-{symbol} needs {symbol} >= {smallest}")
    raise KeyError(f"unknown MDP name {name!r}; valid names: {', '.join(_FIXED)}, and the "
                   f"patterns chain-N (N >= 2) and bandit-K (K >= 1), e.g. "
                   f"{' and '.join(PATTERN_EXAMPLES)}")
