"""Episodes sampled from a toy MDP under a policy, for cases and tests."""

from __future__ import annotations

import numpy as np

from rlspec.toy_mdps.mdp import TabularMDP


def sample_episode(mdp: TabularMDP, policy, rng: np.random.Generator, max_steps: int,
                   start: int | None = None):
    """One episode of ``policy`` in ``mdp``, cut after ``max_steps`` steps.

    Returns ``(states[T+1], actions[T+1], rewards[T], terminated)``: A_T is drawn from the
    policy too (0 at a terminal state).  Rewards are ``R[s, a, s']`` when the MDP has them
    (random walks pay on entering a terminal), else ``r(s, a)``.  Sampled, not exact: the
    batteries use it to build realistic cases whose answers the oracles then compute.
    """
    policy = np.asarray(policy, dtype=np.float64)
    state = int(rng.choice(mdp.n_states, p=mdp.initial_distribution)) if start is None else start
    states, actions, rewards = [state], [], []
    terminated = bool(mdp.terminal_states[state])
    while not terminated and len(rewards) < max_steps:
        action = int(rng.choice(mdp.n_actions, p=policy[state]))
        next_state = int(rng.choice(mdp.n_states, p=mdp.transitions[state, action]))
        if mdp.reward_by_transition is not None:
            rewards.append(float(mdp.reward_by_transition[state, action, next_state]))
        else:
            rewards.append(float(mdp.rewards[state, action]))
        actions.append(action)
        states.append(next_state)
        state = next_state
        terminated = bool(mdp.terminal_states[state])
    actions.append(0 if terminated else int(rng.choice(mdp.n_actions, p=policy[state])))
    return (np.array(states), np.array(actions), np.array(rewards, dtype=np.float64),
            terminated)
