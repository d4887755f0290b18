"""Adapters: wrap a function written in another convention so that it takes the canonical
arguments of a check.

Adapters compose; a convention adapter works on the canonical names, so it goes outside
``rename``: ``action_major(rename(my_function, transitions="P"))``.  The ``rlspec check``
command applies them in that order.

>>> import numpy as np
>>> def evaluate(P, R, discount, pi):          # your names...
...     return np.linalg.solve(np.eye(len(R)) - discount * np.einsum("sa,sat->st", pi, P),
...                            (pi * R).sum(1))
>>> candidate = rename(evaluate, transitions="P", rewards="R", gamma="discount", policy="pi")
>>> candidate(transitions=np.ones((1, 1, 1)), rewards=np.ones((1, 1)), gamma=0.5,
...           policy=np.ones((1, 1)))
array([2.])
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np


def rename(candidate: Callable, **names: str) -> Callable:
    """Pass canonical argument ``k`` to ``candidate`` as keyword ``names[k]``."""

    @functools.wraps(candidate)
    def adapted(**arguments):
        return candidate(**{names.get(key, key): value for key, value in arguments.items()})

    return adapted


def action_major(candidate: Callable) -> Callable:
    """For functions that index transitions as ``P[a, s, s']`` (and rewards as ``R[a, s]``),
    the layout of pymdptoolbox and many course notebooks."""

    @functools.wraps(candidate)
    def adapted(**arguments):
        if "transitions" in arguments:
            arguments["transitions"] = np.ascontiguousarray(arguments["transitions"].transpose(1, 0, 2))
        if "rewards" in arguments:
            arguments["rewards"] = np.ascontiguousarray(arguments["rewards"].T)
        return candidate(**arguments)

    return adapted


def gymnasium_transition_table(candidate: Callable) -> Callable:
    """For functions that read gymnasium's toy-text table ``P[s][a] = [(prob, next_state,
    reward, terminated), ...]`` (FrozenLake's ``env.unwrapped.P``) instead of arrays.

    The candidate receives ``transition_table`` in place of ``transitions`` and ``rewards``;
    every outcome of (s, a) carries the expected reward r(s, a), which leaves every
    expectation unchanged, and ``terminated`` is True when the next state is absorbing
    with reward 0, the spec's terminal states.
    """

    @functools.wraps(candidate)
    def adapted(transitions, rewards, **arguments):
        n_states, n_actions, _ = transitions.shape
        absorbing = [bool(np.all(transitions[s, :, s] == 1.0) and np.all(rewards[s] == 0.0))
                     for s in range(n_states)]
        table = {
            s: {a: [(float(transitions[s, a, t]), t, float(rewards[s, a]), absorbing[t])
                    for t in np.flatnonzero(transitions[s, a])]
                for a in range(n_actions)}
            for s in range(n_states)
        }
        return candidate(transition_table=table, **arguments)

    return adapted


def sparse_transitions(candidate: Callable) -> Callable:
    """For solvers built for large MDPs: ``transitions`` arrives as a
    ``scipy.sparse.csr_matrix`` of shape (S * A, S), row ``s * A + a`` (the layout of
    ``TabularMDP.transition_matrix``).  The large cases of the MDP checks (``rlspec check
    --large``) come in that format already and pass through unchanged."""
    import scipy.sparse

    @functools.wraps(candidate)
    def adapted(**arguments):
        transitions = arguments.get("transitions")
        if transitions is not None and not scipy.sparse.issparse(transitions):
            n_states, n_actions, _ = transitions.shape
            arguments["transitions"] = scipy.sparse.csr_matrix(
                transitions.reshape(n_states * n_actions, n_states))
        return candidate(**arguments)

    return adapted


def ignore_next_action(candidate: Callable) -> Callable:
    """For Q-learning updates written without the behaviour's next action: the
    ``q-learning-update`` check passes SARSA's whole transition, ``next_action`` included
    (so that bootstrapping on it is caught), and this drops it before the call."""

    @functools.wraps(candidate)
    def adapted(next_action=None, **arguments):
        return candidate(**arguments)

    return adapted


ADAPTERS = {
    "action-major": action_major,
    "gymnasium-table": gymnasium_transition_table,
    "sparse-transitions": sparse_transitions,
    "ignore-next-action": ignore_next_action,
}


def all_adapters() -> dict[str, Callable]:
    """Every input-convention adapter by the name ``rlspec check --adapter`` and
    ``rlspec.check(..., adapter=)`` take: the ones above and the GAE conventions
    (``gae-cleanrl`` is CleanRL's ppo.py, whose rollout is in (num_steps, num_envs) torch
    tensors)."""
    from rlspec.checks import gae_conventions

    named = {**ADAPTERS,
             **{f"gae-{name}": adapter for name, adapter in gae_conventions.ADAPTERS.items()}}
    named["gae-cleanrl"] = functools.partial(gae_conventions.cleanrl_style, env_axis=True,
                                             tensors=True)
    return named


def named(name: str) -> Callable:
    return all_adapters()[name]
