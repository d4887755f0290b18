"""Seeded random MDPs (Garnet-style: a fixed number of successors per state-action pair).

``random_mdp(n_states, n_actions, gamma, seed)`` gives the same tables for the same
arguments on every platform numpy's ``default_rng`` (PCG64) runs on.  For the exactly
representable MDPs that property-based tests want, see ``rlspec.toy_mdps.strategies``.
"""

from __future__ import annotations

import numpy as np

from rlspec.toy_mdps.mdp import TabularMDP


def random_mdp(
    n_states: int,
    n_actions: int,
    gamma: float,
    seed: int,
    *,
    branching: int | None = None,
    episodic: bool = False,
    termination_probability: float = 0.1,
    reward_by_transition: bool = False,
) -> TabularMDP:
    """A random MDP drawn with ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    n_states, n_actions:
        Table sizes.  With ``episodic=True`` the count includes the terminal state, which
        is the last one (index ``n_states - 1``), so at least 2 are needed.
    gamma:
        Discount; gamma = 1 is valid only with ``episodic=True``.
    seed:
        Seed of ``numpy.random.default_rng``; the same arguments give identical tables.
    branching:
        How many next states each (s, a) can reach (the sparsity; ``None`` = every state).
        The successors are drawn uniformly without replacement and their probabilities
        from a flat Dirichlet.  In episodic mode the terminal state comes on top of these.
    episodic:
        If True, the last state is terminal (absorbing, reward 0) and every non-terminal
        (s, a) enters it with probability at least ``termination_probability``, so every
        policy terminates with probability 1 (the expected episode length is at most
        ``1 / termination_probability``) and gamma = 1 is allowed.
    termination_probability:
        The least probability of termination per step in episodic mode, in (0, 1].
    reward_by_transition:
        If True the rewards are ``R[s, a, s']`` (standard normal entries on the reachable
        transitions); otherwise ``r(s, a)`` is standard normal.

    Returns
    -------
    TabularMDP
        Named ``random-<S>x<A>-seed<seed>``; initial distribution uniform over the
        non-terminal states.
    """
    if n_states < 1 or n_actions < 1:
        raise ValueError(f"need n_states >= 1 and n_actions >= 1, got {n_states} and "
                         f"{n_actions}")
    if episodic and n_states < 2:
        raise ValueError(f"episodic=True needs n_states >= 2 (a non-terminal state and the "
                         f"terminal one), got {n_states}")
    if episodic and not 0.0 < termination_probability <= 1.0:
        raise ValueError(f"termination_probability must lie in (0, 1], got "
                         f"{termination_probability!r}")
    if branching is None:
        branching = n_states
    if not 1 <= branching <= n_states:
        raise ValueError(f"branching must lie in [1, n_states = {n_states}], got {branching}")

    rng = np.random.default_rng(seed)
    terminal = n_states - 1 if episodic else None
    transitions = np.zeros((n_states, n_actions, n_states))
    for state in range(n_states):
        for action in range(n_actions):
            if state == terminal:
                transitions[state, action, state] = 1.0
                continue
            successors = rng.choice(n_states, size=branching, replace=False)
            weights = rng.dirichlet(np.ones(branching))
            if episodic:
                weights = weights * (1.0 - termination_probability)
                transitions[state, action, terminal] = termination_probability
            np.add.at(transitions[state, action], successors, weights)

    if reward_by_transition:
        rewards = rng.standard_normal((n_states, n_actions, n_states))
        rewards[transitions == 0.0] = 0.0
        if episodic:
            rewards[terminal] = 0.0
    else:
        rewards = rng.standard_normal((n_states, n_actions))
        if episodic:
            rewards[terminal] = 0.0

    initial = np.ones(n_states)
    if episodic:
        initial[terminal] = 0.0
    return TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=initial / initial.sum(),
        terminal_states=() if terminal is None else (terminal,),
        name=f"random-{n_states}x{n_actions}-seed{seed}",
    )
