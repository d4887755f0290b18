"""Bellman backups: the expectation equations for V and Q, their matrix form, and the
optimality operator.

All functions take the spec's tables: ``transitions[s, a, s_next] = p(s_next | s, a)``,
``rewards[s, a] = r(s, a)``, ``policy[s, a] = pi(a | s)``.
"""

from __future__ import annotations

import numpy as np

from rlspec import validation

__all__ = ["one_step_lookahead", "bellman_expectation_backup_v", "bellman_expectation_backup_q", "bellman_optimality_backup", "policy_markov_matrix", "policy_reward_vector", "evaluate_policy_matrix_form"]


def one_step_lookahead(transitions, rewards, gamma, values) -> np.ndarray:
    r"""Action values from state values by one step of look-ahead.

    .. math:: Q(s,a) = r(s,a) + \gamma \sum_{s'} p(s'|s,a) V(s')

    Source: seed 000 "Pre-lessons", 贝尔曼方程 (the bracket in the V equation) and
    "Model-Based Value Methods", 策略提升 (the expression inside argmax).  Both backups
    below, and policy improvement, are built on it.

    >>> one_step_lookahead([[[1.0], [1.0]]], [[1.0, 3.0]], 0.5, [2.0])
    array([[2., 4.]])
    """
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    values = _state_values(values, rewards.shape[0])
    action_values = np.zeros_like(rewards)
    for s in range(rewards.shape[0]):
        for a in range(rewards.shape[1]):
            action_values[s, a] = rewards[s, a] + gamma * transitions[s, a] @ values
    return action_values


def bellman_expectation_backup_v(transitions, rewards, gamma, policy, values) -> np.ndarray:
    r"""One application of the Bellman expectation operator for state values.

    .. math:: (\mathcal B^\pi V)(s) = \sum_a \pi(a|s)\Big(r(s,a)
              + \gamma \sum_{s'} p(s'|s,a) V(s')\Big)

    Source: seed 000 "Pre-lessons", 贝尔曼方程 (the second, shortened form).  V^pi is the
    unique fixed point of this operator when gamma < 1.

    Example: one state, one action, r = 1, gamma = 0.5, V = (4,) gives 1 + 0.5 * 4 = 3.

    >>> bellman_expectation_backup_v([[[1.0]]], [[1.0]], 0.5, [[1.0]], [4.0])
    array([3.])
    """
    transitions, rewards, gamma, policy = _tables(transitions, rewards, gamma, policy)
    return (policy * one_step_lookahead(transitions, rewards, gamma, values)).sum(axis=1)


def bellman_expectation_backup_q(transitions, rewards, gamma, policy, action_values) -> np.ndarray:
    r"""One application of the Bellman expectation operator for action values.

    .. math:: (\mathcal B^\pi Q)(s,a) = r(s,a) + \gamma \sum_{s'} p(s'|s,a)
              \sum_{a'} \pi(a'|s') Q(s',a')

    Source: seed 000 "Pre-lessons", 贝尔曼方程.

    Example: one state, two actions with r = (1, 0), uniform policy, gamma 0.5 and
    Q = (2, 4): the next-state value is (2 + 4) / 2 = 3, so the backup is (2.5, 1.5).

    >>> bellman_expectation_backup_q([[[1.0], [1.0]]], [[1.0, 0.0]], 0.5, [[0.5, 0.5]],
    ...                              [[2.0, 4.0]])
    array([[2.5, 1.5]])
    """
    transitions, rewards, gamma, policy = _tables(transitions, rewards, gamma, policy)
    action_values = validation.as_float_array(action_values, "action_values Q[s, a]", ndim=2)
    validation.check_shape(action_values, rewards.shape, "action_values Q[s, a]")
    next_state_values = (policy * action_values).sum(axis=1)  # sum_a' pi(a'|s') Q(s', a')
    backed_up = np.zeros_like(rewards)
    for s in range(rewards.shape[0]):
        for a in range(rewards.shape[1]):
            backed_up[s, a] = rewards[s, a] + gamma * transitions[s, a] @ next_state_values
    return backed_up


def bellman_optimality_backup(transitions, rewards, gamma, values) -> np.ndarray:
    r"""One application of the Bellman optimality ("backup") operator.

    .. math:: (\mathcal B V)(s) = \max_a \Big\{ r(s,a) + \gamma \sum_{s'} p(s'|s,a) V(s') \Big\}

    Source: seed 000 "Pre-lessons", 贝尔曼回溯算子.  For gamma < 1 it is a gamma-contraction
    in the sup norm with the unique fixed point V*; for gamma = 1 it is not (spec entry
    ``mdp.bellman-optimality-operator``, erratum).

    Example: one state, actions with r = (1, 3) that both stay, gamma 0.5, V = (2,):
    max(1 + 1, 3 + 1) = 4.

    >>> bellman_optimality_backup([[[1.0], [1.0]]], [[1.0, 3.0]], 0.5, [2.0])
    array([4.])
    """
    return one_step_lookahead(transitions, rewards, gamma, values).max(axis=1)


def policy_markov_matrix(transitions, policy) -> np.ndarray:
    r"""The state-to-state transition matrix of a policy, the :math:`\mathcal P` of the
    matrix form: :math:`P_\pi[s, s'] = \sum_a \pi(a|s)\, p(s'|s,a)`.

    >>> policy_markov_matrix([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]],
    ...                      [[0.5, 0.5], [1.0, 0.0]])
    array([[0.5, 0.5],
           [0. , 1. ]])
    """
    transitions = validation.as_float_array(transitions, "transitions P[s, a, s']", ndim=3)
    policy = validation.policy_table(policy, *transitions.shape[:2])
    return np.einsum("sa,sat->st", policy, transitions)


def policy_reward_vector(rewards, policy) -> np.ndarray:
    r"""The expected one-step reward of a policy, the :math:`\mathcal R` of the matrix form:
    :math:`r_\pi[s] = \sum_a \pi(a|s)\, r(s,a)`.

    >>> policy_reward_vector([[1.0, 3.0]], [[0.5, 0.5]])
    array([2.])
    """
    rewards = validation.as_float_array(rewards, "rewards r[s, a]", ndim=2)
    policy = validation.policy_table(policy, *rewards.shape)
    return (policy * rewards).sum(axis=1)


def evaluate_policy_matrix_form(transitions, rewards, gamma, policy) -> np.ndarray:
    r"""V^pi from the matrix form of the Bellman equation, solved directly.

    .. math:: \mathcal V = \mathcal R + \gamma \mathcal P \mathcal V
              \quad\Longrightarrow\quad \mathcal V = (I - \gamma \mathcal P)^{-1} \mathcal R

    Source: seed 000 "Pre-lessons", 贝尔曼方程的矩阵形式.  :math:`I - \gamma P_\pi` is
    invertible for gamma < 1 (its eigenvalues lie in the disc of radius gamma around 1,
    seed 004 links the proof).  At gamma = 1 it is singular whenever the MDP has a
    terminal state, so this function requires gamma < 1; for episodic tasks use
    :func:`rlspec.reference.dynamic_programming.iterative_policy_evaluation`.

    Example: one state that stays with reward 1 and gamma 0.5 gives V = 1 / (1 - 0.5) = 2.

    >>> evaluate_policy_matrix_form([[[1.0]]], [[1.0]], 0.5, [[1.0]])
    array([2.])
    """
    transitions, rewards, gamma, policy = _tables(transitions, rewards, gamma, policy)
    if gamma >= 1.0:
        raise validation.InvalidInputError(
            "the matrix form (I - gamma P_pi) V = R_pi is singular at gamma = 1 when the MDP "
            "has terminal states; use iterative_policy_evaluation for episodic tasks"
        )
    markov_matrix = policy_markov_matrix(transitions, policy)
    reward_vector = policy_reward_vector(rewards, policy)
    return np.linalg.solve(np.eye(rewards.shape[0]) - gamma * markov_matrix, reward_vector)


def _tables(transitions, rewards, gamma, policy):
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    policy = validation.policy_table(policy, *rewards.shape)
    return transitions, rewards, validation.check_gamma(gamma), policy


def _state_values(values, n_states: int) -> np.ndarray:
    values = validation.as_float_array(values, "values V[s]", ndim=1)
    validation.check_shape(values, (n_states,), "values V[s]")
    return values
