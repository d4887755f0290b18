"""n-step returns, n-step and off-policy n-step episodes, tree backup, exactly.

Method, independence from ``rlspec.reference`` and accuracy: as stated in
``rlspec.oracles.monte_carlo``, which this module shares its conventions with.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec.oracles.methods.conversions import to_fractions

__all__ = [
    "n_step_return_exact",
    "n_step_returns_exact",
    "n_step_episode_exact",
    "tree_backup_episode_exact",
]


def n_step_return_exact(rewards, bootstrap_values, terminated, gamma: Fraction, t: int, n: int):
    """G_{t:t+n} = sum_{k=t}^{h-1} gamma^(k-t) r_k + gamma^(h-t) V(S_h) [unless terminal]."""
    steps = len(rewards)
    horizon = min(t + n, steps)
    total = sum((gamma ** (k - t) * rewards[k] for k in range(t, horizon)), Fraction(0))
    if not (horizon == steps and terminated):
        total += gamma ** (horizon - t) * bootstrap_values[horizon]
    return total


def n_step_returns_exact(rewards, state_values, terminated, gamma, n) -> np.ndarray:
    """G_{t:t+n} for every t, by direct sums."""
    r, v = list(to_fractions(rewards)), list(to_fractions(state_values))
    return np.array([n_step_return_exact(r, v, terminated, Fraction(gamma), t, int(n))
                     for t in range(len(r))], dtype=object)


def n_step_episode_exact(table, states, actions, rewards, terminated, alpha, gamma, n,
                         target_policy=None, behaviour_policy=None) -> np.ndarray:
    """The online n-step algorithms of Sutton & Barto ch. 7, updates in time order, exactly.

    ``table`` 1-D: n-step TD (``actions`` may be None); 2-D: n-step SARSA (``actions`` holds
    A_0..A_T).  With both policies: the importance-sampling versions, whose ratio for V
    covers A_t..A_(h-1) and for Q covers A_(t+1)..A_h (A_(T-1) at most when the episode
    terminated).
    """
    table = to_fractions(table)
    is_q = table.ndim == 2
    g, a = Fraction(gamma), Fraction(alpha)
    r = list(to_fractions(rewards))
    steps = len(r)
    states = [int(s) for s in states]
    actions = None if actions is None else [int(x) for x in actions]
    ratio = None
    if target_policy is not None:
        pi, b = to_fractions(target_policy), to_fractions(behaviour_policy)
        ratio = [pi[states[k], actions[k]] / b[states[k], actions[k]]
                 for k in range(len(actions) if (is_q and not terminated) else steps)]

    def key(k):
        return (states[k], actions[k]) if is_q else states[k]

    for t in range(steps):
        horizon = min(t + n, steps)
        bootstraps = not (horizon == steps and terminated)
        target = sum((g ** (k - t) * r[k] for k in range(t, horizon)), Fraction(0))
        if bootstraps:
            target += g ** (horizon - t) * table[key(horizon)]
        weight = Fraction(1)
        if ratio is not None:
            first, last = (t + 1, horizon if bootstraps else horizon - 1) if is_q \
                else (t, horizon - 1)
            for k in range(first, last + 1):
                weight *= ratio[k]
        step = a * weight
        table[key(t)] = (1 - step) * table[key(t)] + step * target
    return table


def tree_backup_episode_exact(action_values, states, actions, rewards, terminated, alpha,
                              gamma, n, policy) -> np.ndarray:
    """n-step tree backup, online, with each return written as the sum over its tree:

        G_t = sum_{k=t}^{h-1} gamma^(k-t) c_k [r_k + gamma L_(k+1)],
        c_k = prod_{j=t+1}^{k} pi(A_j|S_j),

    where L_(k+1) = sum_{a != A_(k+1)} pi(a|S_(k+1)) Q(S_(k+1), a) for k + 1 < h (the leaves
    off the taken path), and L_h = sum_a pi(a|S_h) Q(S_h, a), or 0 if S_h is terminal.
    """
    q, pi = to_fractions(action_values), to_fractions(policy)
    g, a = Fraction(gamma), Fraction(alpha)
    r = list(to_fractions(rewards))
    states, actions = [int(s) for s in states], [int(x) for x in actions]
    steps = len(r)
    for t in range(steps):
        horizon = min(t + n, steps)
        total, path_weight = Fraction(0), Fraction(1)
        for k in range(t, horizon):
            if k > t:
                path_weight *= pi[states[k], actions[k]]
            s_next = states[k + 1]
            if k + 1 < horizon:
                leaves = sum(pi[s_next, x] * q[s_next, x] for x in range(q.shape[1])
                             if x != actions[k + 1])
            elif horizon == steps and terminated:
                leaves = Fraction(0)
            else:
                leaves = sum(pi[s_next] * q[s_next])
            total += g ** (k - t) * path_weight * (r[k] + g * leaves)
        key = (states[t], actions[t])
        q[key] = (1 - a) * q[key] + a * total
    return q
