"""The discounted return."""

from __future__ import annotations

import numpy as np

from rlspec import validation

__all__ = ["discounted_returns"]


def discounted_returns(rewards, gamma) -> np.ndarray:
    r"""The discounted return from every step of one finished episode.

    .. math:: G_t = \sum_{k=0}^{T-1-t} \gamma^k r_{t+k} = r_t + \gamma G_{t+1},\qquad G_T = 0

    Source: seed 000 "Pre-lessons", the Bellman equation :math:`V^\pi(s) = E[G_t | S_t = s]`;
    seed 004, "CS 285 Lecture 5" (reward-to-go).

    Conventions: ``rewards[t]`` is the reward received after the action at step t, for
    t = 0..T-1, and the episode ends after step T-1 (nothing is bootstrapped).  The sum
    is computed backwards with the recursion, the way every implementation does.

    Example: rewards (1, 0, 2) with gamma 0.5 give
    G_2 = 2, G_1 = 0 + 0.5 * 2 = 1, G_0 = 1 + 0.5 * 1 = 1.5.

    >>> discounted_returns([1.0, 0.0, 2.0], 0.5)
    array([1.5, 1. , 2. ])
    """
    rewards = validation.as_float_array(rewards, "rewards r_t", ndim=1)
    gamma = validation.check_gamma(gamma)
    returns = np.zeros_like(rewards)
    return_after = 0.0
    for t in reversed(range(rewards.size)):
        return_after = rewards[t] + gamma * return_after
        returns[t] = return_after
    return returns
