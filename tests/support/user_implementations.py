"""Correct implementations written the way users write them: vectorised numpy, torch
autograd, gymnasium's transition table, P indexed [a, s, s'].  None imports rlspec.

``tests/check_api/test_check_api.py`` asserts that rlspec.check accepts each of them: a check that
rejected correct code would be as useless as one that accepted bugs.
"""

import numpy as np
import torch


def evaluate_by_sweeps(transitions, rewards, gamma, policy):
    markov = np.einsum("sa,sat->st", policy, transitions)
    reward = (policy * rewards).sum(axis=1)
    values = np.zeros(len(reward))
    while True:
        updated = reward + gamma * markov @ values
        if np.abs(updated - values).max() < 1e-12:
            return updated
        values = updated


def evaluate_by_solve(transitions, rewards, gamma, policy):
    """Right for gamma < 1; singular at gamma = 1 when the MDP has a terminal state."""
    markov = np.einsum("sa,sat->st", policy, transitions)
    return np.linalg.solve(np.eye(len(markov)) - gamma * markov, (policy * rewards).sum(axis=1))


def evaluate_action_major(P, R, discount, pi):
    """P[a, s, s'] and R[a, s], as in pymdptoolbox; used with the action-major adapter."""
    values = np.zeros(P.shape[1])
    for _ in range(100_000):
        q = R + discount * P @ values  # [a, s]
        updated = (pi.T * q).sum(axis=0)
        if np.abs(updated - values).max() < 1e-12:
            return updated
        values = updated
    return values


def evaluate_from_gym_table(transition_table, gamma, policy):
    """Reads env.unwrapped.P[s][a] = [(prob, next, reward, terminated)], the FrozenLake way."""
    values = np.zeros(len(transition_table))
    while True:
        delta, updated = 0.0, values.copy()
        for s, actions in transition_table.items():
            total = 0.0
            for a, outcomes in actions.items():
                for prob, next_state, reward, terminated in outcomes:
                    total += policy[s][a] * prob * (reward + gamma * values[next_state] * (not terminated))
            updated[s] = total
            delta = max(delta, abs(total - values[s]))
        values = updated
        if delta < 1e-12:
            return values


def value_iteration(transitions, rewards, gamma):
    values = np.zeros(rewards.shape[0])
    while True:
        updated = (rewards + gamma * transitions @ values).max(axis=1)
        if np.abs(updated - values).max() < 1e-12:
            return updated
        values = updated


def greedy_actions_after_value_iteration(transitions, rewards, gamma):
    values = value_iteration(transitions, rewards, gamma)
    return np.argmax(rewards + gamma * transitions @ values, axis=1)


def epsilon_greedy_splitting_ties(action_values, epsilon):
    is_max = action_values == action_values.max(axis=1, keepdims=True)
    greedy = is_max / is_max.sum(axis=1, keepdims=True)
    return epsilon / action_values.shape[1] + (1 - epsilon) * greedy


def discounted_occupancy(transitions, gamma, policy, initial_distribution):
    markov = np.einsum("sa,sat->st", policy, transitions)
    return (1 - gamma) * np.linalg.solve(np.eye(len(markov)) - gamma * markov.T, initial_distribution)


def softmax_gradient_by_autograd(transitions, rewards, gamma, initial_distribution, theta):
    """J(theta) = nu_0 . (I - gamma P_pi)^-1 r_pi, differentiated by torch; returns a tensor."""
    theta = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    p = torch.as_tensor(transitions, dtype=torch.float64)
    r = torch.as_tensor(rewards, dtype=torch.float64)
    policy = torch.softmax(theta, dim=1)
    markov = torch.einsum("sa,sat->st", policy, p)
    values = torch.linalg.solve(torch.eye(len(markov), dtype=torch.float64) - gamma * markov,
                                (policy * r).sum(dim=1))
    objective = torch.as_tensor(initial_distribution, dtype=torch.float64) @ values
    objective.backward()
    return theta.grad
