"""Policies derived from action values: greedy and epsilon-greedy."""

from __future__ import annotations

import numpy as np

from rlspec import validation

__all__ = ["greedy_policy", "epsilon_greedy"]


def greedy_policy(action_values) -> np.ndarray:
    r"""The deterministic policy :math:`\pi(s) = \arg\max_a Q(s, a)` as a one-hot table.

    Ties go to the lowest-numbered action, as ``numpy.argmax`` does; every maximiser is an
    equally valid answer, and the checks accept any of them.

    >>> greedy_policy([[1.0, 3.0, 3.0]])
    array([[0., 1., 0.]])
    """
    action_values = validation.as_float_array(action_values, "action_values Q[s, a]", ndim=2)
    policy = np.zeros_like(action_values)
    for s in range(action_values.shape[0]):
        policy[s, int(np.argmax(action_values[s]))] = 1.0
    return policy


def epsilon_greedy(action_values, epsilon) -> np.ndarray:
    r"""The epsilon-greedy policy of seed 000 "Pre-lessons" (ε-贪婪).

    .. math:: \pi(a|s) = \begin{cases} \epsilon/|\mathcal A| + 1 - \epsilon
              & a = \arg\max_{a'} Q(s,a') \\ \epsilon/|\mathcal A| & \text{otherwise}\end{cases}

    Every action keeps probability epsilon / |A| (so the greedy action's epsilon share is
    counted again), and the remaining 1 - epsilon goes to the greedy action.  The notes'
    formula assumes a unique maximiser; with ties this function gives the 1 - epsilon to
    the lowest-numbered one (spec entry ``mdp.epsilon-greedy``, erratum).

    Example: Q = (1, 3, 2), epsilon = 0.3: every action gets 0.1, action 1 gets 0.7 more.

    >>> epsilon_greedy([[1.0, 3.0, 2.0]], 0.3)
    array([[0.1, 0.8, 0.1]])
    """
    action_values = validation.as_float_array(action_values, "action_values Q[s, a]", ndim=2)
    epsilon = float(epsilon)
    if not 0.0 <= epsilon <= 1.0:
        raise validation.InvalidInputError(f"epsilon must lie in [0, 1], got {epsilon!r}")
    n_actions = action_values.shape[1]
    return epsilon / n_actions + (1.0 - epsilon) * greedy_policy(action_values)
