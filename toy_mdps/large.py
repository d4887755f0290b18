"""Large sparse MDPs of any size, built vectorised (memory linear in the non-zeros).

``make_large(name, size, seed)`` builds one of :data:`LARGE_MDPS` with about ``size``
states; ``make_large_named("large-grid-100000-seed3")`` does the same from one string, the
form ``rlspec list mdps`` and ``rlspec solve`` use; importing ``rlspec.toy_mdps`` registers
each kind as the gymnasium id ``rlspec/large-<name>-v0`` taking ``size`` and ``seed``::

    gymnasium.make("rlspec/large-grid-v0", size=10_000, seed=0, max_episode_steps=5_000)

Every generator is deterministic in its arguments (numpy's ``default_rng(seed)``, PCG64,
and gymnasium's seeded map generator), so a (name, size, seed) triple names one MDP.

Sizes: ``size`` is the number of states asked for.  Grid worlds and FrozenLake maps are
square with side ``round(sqrt(size))`` (at least 2), so they have the nearest square
number of states; chains and random MDPs have exactly ``size`` states.
"""

from __future__ import annotations

import re

import numpy as np
import scipy.sparse

from rlspec.toy_mdps.catalogue import _point_mass, chain
from rlspec.toy_mdps.mdp import InvalidMDPError, TabularMDP

#: name -> one-line description (the builder's docstring has the details).
LARGE_MDPS: dict[str, str] = {
    "grid": "square grid world with random walls and slippery moves, -1 per step until the "
            "goal in the far corner; 4 actions, gamma 0.99",
    "frozenlake": "gymnasium's FrozenLake (slippery) on a random n x n map from "
                  "generate_random_map(n, seed); 4 actions, gamma 0.99",
    "chain": "the Strens (2000) chain with N states (slip 0.2, rewards 0 / 2 / 10); "
             "2 actions, gamma 0.99",
    "random": "seeded random sparse (Garnet) MDP, 3 successors per (s, a), standard normal "
              "rewards; 4 actions, gamma 0.95",
}

#: The instances ``rlspec list mdps`` shows (any size and seed work).
LARGE_NAME_EXAMPLES = ("large-grid-100000", "large-frozenlake-10000", "large-chain-100000",
                       "large-random-100000")

#: Compass moves (row, col) of the grid world, in action order (the catalogue's order).
GRID_MOVES = ((-1, 0), (1, 0), (0, 1), (0, -1))  # north, south, east, west
#: The two moves perpendicular to each grid action, where a slip sends the agent.
GRID_PERPENDICULAR = ((2, 3), (2, 3), (0, 1), (0, 1))
#: gymnasium FrozenLake's moves, in its action order: left, down, right, up.
FROZENLAKE_MOVES = ((0, -1), (1, 0), (0, 1), (-1, 0))


def square_side(size: int) -> int:
    """The side of the square map with about ``size`` cells: round(sqrt(size)), at least 2."""
    return max(2, int(round(np.sqrt(size))))


def grid_destinations(blocked: np.ndarray, moves) -> np.ndarray:
    """``destination[m, s]``: the cell that move m leads to from cell s (row-major), staying
    put when the target is off the grid or ``blocked``."""
    rows, cols = blocked.shape
    row, col = np.divmod(np.arange(rows * cols), cols)
    destinations = np.empty((len(moves), rows * cols), dtype=np.int64)
    for index, (d_row, d_col) in enumerate(moves):
        target_row, target_col = row + d_row, col + d_col
        inside = (target_row >= 0) & (target_row < rows) & (target_col >= 0) & (target_col < cols)
        target = np.where(inside, target_row * cols + target_col, 0)
        allowed = inside & ~blocked.reshape(-1)[target]
        destinations[index] = np.where(allowed, target, row * cols + col)
    return destinations


def outcome_matrix(destinations: np.ndarray, outcomes, terminal: np.ndarray,
                   values=None) -> scipy.sparse.csr_matrix:
    """Sparse ``(S * A, S)`` matrix with entry ``weight`` (or ``values[s']``) at
    ``(s * A + a, destinations[m, s])`` for each ``(m, weight)`` in ``outcomes[a]``; the
    rows of terminal states are self-loops with 1 (or 0 in a ``values`` matrix).

    Duplicates (two outcomes landing on one cell) are summed, as probabilities must be.
    """
    n_actions = len(outcomes)
    n_states = destinations.shape[1]
    states = np.arange(n_states)
    row_index, col_index, data = [], [], []
    for action, action_outcomes in enumerate(outcomes):
        for move, weight in action_outcomes:
            live = ~terminal
            row_index.append(states[live] * n_actions + action)
            col_index.append(destinations[move][live])
            data.append(np.full(live.sum(), weight) if values is None
                        else values[destinations[move][live]])
        if values is None:
            row_index.append(states[terminal] * n_actions + action)
            col_index.append(states[terminal])
            data.append(np.ones(terminal.sum()))
    return scipy.sparse.csr_matrix(
        (np.concatenate(data), (np.concatenate(row_index), np.concatenate(col_index))),
        shape=(n_states * n_actions, n_states))


def grid_world(side: int, seed: int = 0, *, slip: float = 0.2, wall_density: float = 0.2,
               gamma: float = 0.99) -> TabularMDP:
    """A ``side x side`` grid world with random walls and slippery moves.

    Layout: cells row-major (``state = row * side + col``), start (0, 0), goal
    (side-1, side-1) terminal.  Each other cell is a wall with probability
    ``wall_density`` (``default_rng(seed).random((side, side)) < wall_density``).
    Actions north, south, east, west.  A move goes the intended way with probability
    ``1 - slip`` and to each perpendicular side with ``slip / 2``; a move into a wall or
    off the grid leaves the agent where it is.  Reward -1 per step from every non-goal
    cell, so ``V*(s) = -(1 - gamma^d) / (1 - gamma)`` on a deterministic grid (slip 0) with
    d the shortest-path length.  Wall cells are states too (so the grid stays row-major)
    but cannot be entered; regions walled off from the goal are allowed for gamma < 1,
    and make gamma = 1 invalid (their return is -infinity).

    Example: ``grid_world(2, slip=0, wall_density=0)`` has V*(start) = -(1 + gamma).
    """
    if not 0.0 <= slip <= 1.0 or not 0.0 <= wall_density < 1.0:
        raise ValueError(f"need slip in [0, 1] and wall_density in [0, 1), got {slip!r} "
                         f"and {wall_density!r}")
    n_states = side * side
    walls = np.random.default_rng(seed).random((side, side)) < wall_density
    walls[0, 0] = walls[-1, -1] = False
    terminal = np.zeros(n_states, dtype=bool)
    terminal[-1] = True
    outcomes = [((action, 1.0 - slip), (GRID_PERPENDICULAR[action][0], slip / 2),
                 (GRID_PERPENDICULAR[action][1], slip / 2)) for action in range(4)]
    transitions = outcome_matrix(grid_destinations(walls, GRID_MOVES), outcomes, terminal)
    rewards = np.where(terminal[:, None], 0.0, -1.0) * np.ones((1, 4))
    return TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=_point_mass(n_states, 0),
        terminal_states=np.flatnonzero(terminal),
        action_labels=["north", "south", "east", "west"],
        grid_shape=(side, side),
        name=f"large-grid-{n_states}-seed{seed}",
    )


def frozenlake_map(side: int, seed: int = 0) -> list[str]:
    """gymnasium's ``generate_random_map(size=side, p=0.8, seed=seed)``: rows of S, F, H, G
    with a frozen path from S to G (gymnasium checks it by depth-first search; about 7 s at
    side 1000)."""
    from gymnasium.envs.toy_text.frozen_lake import generate_random_map

    return generate_random_map(size=side, p=0.8, seed=seed)


def frozenlake(side: int, seed: int = 0, *, gamma: float = 0.99) -> TabularMDP:
    """Slippery FrozenLake on gymnasium's random ``side x side`` map for ``seed``.

    Source: gymnasium ``FrozenLake-v1`` with ``desc=generate_random_map(side, seed=seed)``
    and ``is_slippery=True``: action a moves in direction a, a - 1 or a + 1 (mod 4) with
    probability 1/3 each (gymnasium's floats: 1/3, and (1 - 1/3) / 2 for the slips) (actions 0 left, 1 down, 2 right, 3 up), staying put at the edge;
    reward 1 on entering the goal G; the holes H and the goal end the episode.  The
    tables equal ``from_gymnasium_table`` of that environment's ``P`` (a test checks it);
    built here vectorised because the Python table of a 10^6-cell map takes minutes.
    Terminal: every H and G cell, absorbing with reward 0.  Start: the S cell (0, 0).
    """
    desc = np.array([list(row) for row in frozenlake_map(side, seed)])
    n_states = side * side
    letters = desc.reshape(-1)
    terminal = (letters == "H") | (letters == "G")
    destinations = grid_destinations(np.zeros((side, side), dtype=bool), FROZENLAKE_MOVES)
    # gymnasium's own numbers: success_rate = 1/3, fail_rate = (1 - success_rate) / 2, which
    # is one ulp above 1/3 in float64; using them keeps the tables bit-identical.
    success_rate = 1.0 / 3.0
    fail_rate = (1.0 - success_rate) / 2.0
    outcomes = [(((action - 1) % 4, fail_rate), (action, success_rate),
                 ((action + 1) % 4, fail_rate)) for action in range(4)]
    transitions = outcome_matrix(destinations, outcomes, terminal)
    # Two outcomes never land on G together: the only shared landing cell is the
    # non-terminal cell itself (bumps), so summing duplicates leaves R at 0 or 1.
    goal_reward = outcome_matrix(destinations, outcomes, terminal,
                                 values=(letters == "G").astype(np.float64))
    return TabularMDP(
        transitions, goal_reward, gamma,
        initial_distribution=(letters == "S").astype(np.float64),
        terminal_states=np.flatnonzero(terminal),
        action_labels=["left", "down", "right", "up"],
        grid_shape=(side, side),
        name=f"large-frozenlake-{n_states}-seed{seed}",
    )


def random_sparse_mdp(n_states: int, seed: int = 0, *, n_actions: int = 4, branching: int = 3,
                      gamma: float = 0.95) -> TabularMDP:
    """A seeded random sparse MDP (Garnet: Archibald, McKinnon & Thomas 1995).

    For each (s, a): ``branching`` successors drawn uniformly *with* replacement (a
    successor drawn twice gets the sum of its weights), weights from a flat Dirichlet;
    ``r(s, a)`` standard normal.  No terminal states; uniform initial distribution.
    All draws come from one ``default_rng(seed)`` in this order: successors, weights,
    rewards.  These are the MDPs of issue 13's measurements (4 actions, 3 successors,
    gamma 0.95).
    """
    if n_states < 1 or n_actions < 1 or branching < 1:
        raise ValueError(f"need n_states, n_actions, branching >= 1, got {n_states}, "
                         f"{n_actions}, {branching}")
    rng = np.random.default_rng(seed)
    n_rows = n_states * n_actions
    successors = rng.integers(0, n_states, size=(n_rows, branching))
    weights = rng.dirichlet(np.ones(branching), size=n_rows)
    rewards = rng.standard_normal((n_states, n_actions))
    transitions = scipy.sparse.csr_matrix(
        (weights.reshape(-1), successors.reshape(-1),
         np.arange(0, n_rows * branching + 1, branching)),
        shape=(n_rows, n_states))
    return TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=np.full(n_states, 1.0 / n_states),
        name=f"large-random-{n_states}-seed{seed}",
    )


def make_large(name: str, size: int, seed: int = 0) -> TabularMDP:
    """Build the large MDP ``name`` (a key of :data:`LARGE_MDPS`) with about ``size`` states.

    ``seed`` picks the walls (grid), the map (frozenlake) or the tables (random); the chain
    has no randomness and ignores it.
    """
    if name not in LARGE_MDPS:
        raise KeyError(f"unknown large MDP {name!r}; valid: {', '.join(LARGE_MDPS)}")
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise InvalidMDPError(f"size must be an integer >= 2, got {size!r}")
    if name == "grid":
        return grid_world(square_side(size), seed)
    if name == "frozenlake":
        return frozenlake(square_side(size), seed)
    if name == "chain":
        return chain(int(size))
    return random_sparse_mdp(int(size), seed)


def parse_large_name(name: str) -> tuple[str, int, int]:
    """``"large-<kind>-<size>[-seed<k>]"`` -> (kind, size, seed); KeyError otherwise."""
    match = re.fullmatch(r"large-([a-z]+)-(\d+)(?:-seed(\d+))?", name)
    if not match or match.group(1) not in LARGE_MDPS:
        raise KeyError(f"{name!r} is not a large MDP name: use large-<kind>-<size>[-seed<k>] "
                       f"with kind one of {', '.join(LARGE_MDPS)}, e.g. "
                       f"{LARGE_NAME_EXAMPLES[0]}")
    return match.group(1), int(match.group(2)), int(match.group(3) or 0)


def make_large_named(name: str) -> TabularMDP:
    """``make_large`` from a name such as ``large-grid-100000`` or ``large-random-1000-seed2``."""
    return make_large(*parse_large_name(name))


def describe_large(name: str) -> str:
    """One line for ``rlspec list mdps``, without building the MDP."""
    kind, size, seed = parse_large_name(name)
    return f"{name}: {LARGE_MDPS[kind]}; about {size} states, seed {seed} (any size works)"


#: (kind, size) of the large cases :func:`large_cases` yields, smallest first.
LARGE_CASE_SIZES: tuple[tuple[str, int], ...] = (
    ("random", 10_000), ("grid", 10_000), ("frozenlake", 2_500), ("chain", 10_000),
    ("random", 100_000), ("grid", 100_000), ("random", 1_000_000),
)


def large_cases(max_states: int = 100_000, seed: int = 0, with_policy: bool = True):
    """Yield ``(label, mdp, policy)`` (or ``(label, mdp)``) for the large-MDP checks.

    The MDPs of :data:`LARGE_CASE_SIZES` with at most ``max_states`` states, smallest
    first, so a caller with a time budget per case can stop at the first that runs over.
    The policy is a seeded random deterministic one (one action per state), which no
    solver can guess by symmetry.
    """
    for kind, size in LARGE_CASE_SIZES:
        if size > max_states:
            continue
        mdp = make_large(kind, size, seed)
        label = f"large-{kind}-{size}-seed{seed}"
        if not with_policy:
            yield label, mdp
            continue
        rng = np.random.default_rng(seed)
        yield label, mdp, rng.integers(0, mdp.n_actions, size=mdp.n_states)
