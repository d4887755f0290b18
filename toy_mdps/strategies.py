"""Hypothesis strategies for MDPs, policies and policy parameters: the project's test inputs.

Exactness is the design rule.  Every probability is a multiple of 1/8 (an integer count
out of ``denominator`` = 8), so each row is exactly representable in binary floating
point and sums to exactly 1.0; every reward is an integer in [-4, 4].  Then the oracles'
inputs carry no rounding error at all, expected rewards ``sum_s' p R`` are exact, and
the exact rational oracle solves the very MDP the floats describe.

Shrinking goes towards readable counterexamples: 1 state, 1 action, gamma 0.5, rewards 0,
all probability on the first state (in episodic MDPs: 7/8 on the first state, 1/8 on the
terminal one), deterministic start in state 0.

Every generated MDP is also reported with ``hypothesis.note`` (its tables in full), since
``repr(TabularMDP)`` shows only its size.

Example::

    from hypothesis import given
    from rlspec.toy_mdps.strategies import mdps_with_policy

    @given(mdps_with_policy(episodic=True))
    def test_values_are_finite(mdp_and_policy):
        mdp, policy = mdp_and_policy
        ...
"""

from __future__ import annotations

import numpy as np
from hypothesis import note
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rlspec.toy_mdps.mdp import TabularMDP

#: Discounts for continuing MDPs.  The first element is what hypothesis shrinks to; 0.5
#: keeps hand-checking a counterexample easy.  0.0 and 0.99 are the edge cases (no
#: future at all; a condition number of about 200).
GAMMAS = (0.5, 0.0, 0.9, 0.25, 0.75, 0.99)
#: Discounts for episodic MDPs, which may also be undiscounted.
EPISODIC_GAMMAS = (0.5, 1.0, 0.0, 0.9, 0.25, 0.75, 0.99)

#: Probabilities are multiples of 1 / DENOMINATOR (a power of two, hence exact).
DENOMINATOR = 8
#: Rewards are integers in [-REWARD_BOUND, REWARD_BOUND].
REWARD_BOUND = 4


def _check_size(value: int, name: str, smallest: int = 1) -> None:
    if int(value) != value or value < smallest:
        raise ValueError(f"{name} must be an integer >= {smallest}, got {value!r}")


def _counts(draw, size: int, total: int) -> np.ndarray:
    """Non-negative integers summing to ``total`` (a composition of ``total`` into ``size``).

    Drawn as ``size - 1`` cut points in [0, total], sorted; the counts are the gaps,
    listed last gap first so that cut points shrinking to 0 put everything on index 0.
    Every composition can be drawn.
    """
    cuts = draw(st.lists(st.integers(0, total), min_size=size - 1, max_size=size - 1))
    gaps = np.diff(np.array([0, *sorted(cuts), total]))
    return gaps[::-1].astype(np.int64)


def probability_vectors(size: int, denominator: int = DENOMINATOR
                        ) -> st.SearchStrategy[np.ndarray]:
    """A probability vector of length ``size`` whose entries are multiples of 1/denominator.

    With a power-of-two ``denominator`` (the default 8) every entry and every partial sum
    is exactly representable, so the vector sums to exactly 1.0.  Shrinks to
    ``[1, 0, ..., 0]``.
    """
    _check_size(size, "size")
    _check_size(denominator, "denominator")
    return _probability_vectors(size, denominator)


@st.composite
def _probability_vectors(draw, size: int, denominator: int) -> np.ndarray:
    return _counts(draw, size, denominator) / float(denominator)


def reward_tables(shape: tuple[int, ...], bound: int = REWARD_BOUND, denominator: int = 1
                  ) -> st.SearchStrategy[np.ndarray]:
    """Float arrays of multiples of ``1/denominator`` in [-bound, bound]; shrink to 0.

    The default gives the integers -4..4; ``denominator=4`` gives quarters.
    """
    _check_size(denominator, "denominator")
    return hnp.arrays(
        np.int64, shape, elements=st.integers(-bound * denominator, bound * denominator)
    ).map(lambda counts: counts / float(denominator))


def mdps(
    min_states: int = 1,
    max_states: int = 5,
    min_actions: int = 1,
    max_actions: int = 3,
    gammas: st.SearchStrategy[float] | None = None,
    episodic: bool = False,
    reward_by_transition: bool = False,
) -> st.SearchStrategy[TabularMDP]:
    """A :class:`TabularMDP` with exact probabilities (multiples of 1/8) and integer rewards.

    Parameters
    ----------
    min_states, max_states, min_actions, max_actions:
        Size bounds (inclusive).  With ``episodic=True`` the state count includes the
        terminal state and is at least 2.
    gammas:
        Strategy for gamma; default ``sampled_from(GAMMAS)``, or
        ``sampled_from(EPISODIC_GAMMAS)`` (which adds 1.0) when episodic.
    episodic:
        If True the last state is terminal (absorbing, reward 0) and every non-terminal
        (s, a) enters it with probability at least 1/8, so every policy terminates with
        probability 1 (expected episode length at most 8) and gamma = 1 is valid.
        Otherwise there are no terminal states.
    reward_by_transition:
        If True rewards are drawn as ``R[s, a, s']`` (so the gymnasium environment samples
        them per transition); r(s, a) is then their exact expectation.

    The initial distribution is drawn too (multiples of 1/8, over the non-terminal states
    when episodic); it shrinks to "start in state 0".
    """
    if episodic:
        min_states = max(min_states, 2)
    _check_size(min_states, "min_states")
    _check_size(min_actions, "min_actions")
    if max_states < min_states or max_actions < min_actions:
        raise ValueError(f"empty size range: states [{min_states}, {max_states}], actions "
                         f"[{min_actions}, {max_actions}]")
    if gammas is None:
        gammas = st.sampled_from(EPISODIC_GAMMAS if episodic else GAMMAS)
    return _mdps(min_states, max_states, min_actions, max_actions, gammas, episodic,
                 reward_by_transition)


@st.composite
def _mdps(draw, min_states, max_states, min_actions, max_actions, gammas, episodic,
          reward_by_transition) -> TabularMDP:
    n_states = draw(st.integers(min_states, max_states))
    n_actions = draw(st.integers(min_actions, max_actions))
    gamma = draw(gammas)

    terminal = n_states - 1 if episodic else None
    counts = np.zeros((n_states, n_actions, n_states), dtype=np.int64)
    for state in range(n_states):
        for action in range(n_actions):
            if state == terminal:
                counts[state, action, state] = DENOMINATOR
            elif episodic:
                counts[state, action] = _counts(draw, n_states, DENOMINATOR - 1)
                counts[state, action, terminal] += 1
            else:
                counts[state, action] = _counts(draw, n_states, DENOMINATOR)
    transitions = counts / float(DENOMINATOR)

    reward_shape = (n_states, n_actions, n_states) if reward_by_transition \
        else (n_states, n_actions)
    rewards = draw(reward_tables(reward_shape)).copy()
    if reward_by_transition:
        rewards[transitions == 0.0] = 0.0  # unreachable transitions: keep the table tidy
    if terminal is not None:
        rewards[terminal] = 0.0

    n_starts = n_states - 1 if episodic else n_states
    initial = np.zeros(n_states)
    initial[:n_starts] = draw(probability_vectors(n_starts))

    mdp = TabularMDP(
        transitions, rewards, gamma,
        initial_distribution=initial,
        terminal_states=() if terminal is None else (terminal,),
        name=f"generated-{n_states}x{n_actions}",
    )
    note(f"generated MDP: gamma={gamma}, terminal={[] if terminal is None else [terminal]}"
         f"\n  P[s, a, s'] * 8 =\n{counts.tolist()}\n  rewards =\n{rewards.tolist()}"
         f"\n  initial distribution = {initial.tolist()}")
    return mdp


def policies(n_states: int, n_actions: int, kind: str = "stochastic"
             ) -> st.SearchStrategy[np.ndarray]:
    """A policy table ``pi[s, a]`` of shape (S, A).

    ``kind="stochastic"``: each row a probability vector of multiples of 1/8 (deterministic
    rows included; shrinks to "always action 0").  ``kind="deterministic"``: one-hot rows.
    """
    _check_size(n_states, "n_states")
    _check_size(n_actions, "n_actions")
    if kind == "stochastic":
        return st.lists(probability_vectors(n_actions), min_size=n_states,
                        max_size=n_states).map(np.stack)
    if kind == "deterministic":
        return st.lists(st.integers(0, n_actions - 1), min_size=n_states,
                        max_size=n_states).map(lambda actions: np.eye(n_actions)[actions])
    raise ValueError(f"kind must be 'stochastic' or 'deterministic', got {kind!r}")


def softmax_parameters(n_states: int, n_actions: int, bound: float = 3.0
                       ) -> st.SearchStrategy[np.ndarray]:
    """Logits ``theta[s, a]`` for a tabular softmax policy, floats in [-bound, bound].

    No NaN or infinity; bound 3 keeps every action's probability above
    ``exp(-6) / n_actions``, so gradients and log-probabilities stay well conditioned.
    """
    _check_size(n_states, "n_states")
    _check_size(n_actions, "n_actions")
    return hnp.arrays(
        np.float64, (n_states, n_actions),
        elements=st.floats(-bound, bound, allow_nan=False, allow_infinity=False),
    )


def mdps_with_policy(kind: str = "stochastic", **mdp_options
                     ) -> st.SearchStrategy[tuple[TabularMDP, np.ndarray]]:
    """``(mdp, policy)``: an MDP from :func:`mdps` (``mdp_options`` are its keyword
    arguments) and a policy of its shape and ``kind``."""
    if kind not in ("stochastic", "deterministic"):
        raise ValueError(f"kind must be 'stochastic' or 'deterministic', got {kind!r}")
    return _mdps_with_policy(mdps(**mdp_options), kind)


@st.composite
def _mdps_with_policy(draw, mdp_strategy, kind) -> tuple[TabularMDP, np.ndarray]:
    mdp = draw(mdp_strategy)
    policy = draw(policies(mdp.n_states, mdp.n_actions, kind))
    note(f"policy pi[s, a] * 8 =\n{(policy * DENOMINATOR).tolist()}")
    return mdp, policy
