"""Correct implementations of the model-free chapter written the way users write them:
vectorised numpy, torch, an agent object that keeps its trace, rlax-style time-major
returns with per-step discounts.  None imports rlspec.

``tests/value_learning/test_temporal_difference.py`` asserts that rlspec.check accepts each of them: a
check that rejected correct code would be as useless as one that accepted bugs.
"""

import numpy as np
import torch


# ------------------------------------------------------------------ Monte Carlo

def first_visit_mc(values, counts, states, rewards, gamma):
    values, counts = values.astype(float).copy(), counts.astype(float).copy()
    T = len(rewards)
    discounts = gamma ** np.arange(T)
    returns = np.array([np.dot(discounts[:T - t], rewards[t:]) for t in range(T)])
    _, first = np.unique(states[:T], return_index=True)
    for t in first:
        s = states[t]
        counts[s] += 1
        values[s] += (returns[t] - values[s]) / counts[s]
    return values


def every_visit_mc(values, counts, states, rewards, gamma):
    """As a batch mean: (N V + sum of returns) / (N + visits), per state."""
    T = len(rewards)
    g, returns = 0.0, np.zeros(T)
    for t in range(T - 1, -1, -1):
        g = rewards[t] + gamma * g
        returns[t] = g
    n_states = len(values)
    sums = np.bincount(states[:T], weights=returns, minlength=n_states)
    visits = np.bincount(states[:T], minlength=n_states)
    total = counts + visits
    return np.where(visits > 0, (counts * values + sums) / np.maximum(total, 1), values)


# ------------------------------------------------------------------ one-step TD

def td0(values, state, reward, next_state, terminated, alpha, gamma):
    v = torch.tensor(values, dtype=torch.float64)
    target = reward + gamma * v[next_state] * (1.0 - float(terminated))
    v[state] = v[state] + alpha * (target - v[state])
    return v


def sarsa(action_values, state, action, reward, next_state, next_action, terminated, alpha, gamma):
    q = action_values.copy()
    target = reward + (0.0 if terminated else gamma * q[next_state, next_action])
    q[state, action] = (1 - alpha) * q[state, action] + alpha * target
    return q


def expected_sarsa(action_values, state, action, reward, next_state, terminated, alpha, gamma,
                   policy):
    q = action_values.copy()
    next_value = np.einsum("a,a->", policy[next_state], q[next_state])
    q[state, action] += alpha * (reward + gamma * (1 - terminated) * next_value - q[state, action])
    return q


def q_learning(action_values, state, action, reward, next_state, next_action, terminated, alpha,
               gamma):
    """Takes SARSA's transition tuple, as the check's canonical signature does, and ignores
    next_action: the target is the greedy one."""
    q = torch.as_tensor(action_values).clone()
    with torch.no_grad():
        target = reward + gamma * q[next_state].max() * (not terminated)
        q[state, action] += alpha * (target - q[state, action])
    return q.numpy()


def q_learning_without_next_action(action_values, state, action, reward, next_state, terminated,
                                   alpha, gamma):
    """The textbook signature, without the next action: checked through the
    ``ignore-next-action`` adapter."""
    q = np.array(action_values, dtype=float)
    target = reward + (0.0 if terminated else gamma * q[next_state].max())
    q[state, action] += alpha * (target - q[state, action])
    return q


# ------------------------------------------------------------------ n-step

def n_step_returns_rlax_style(rewards, state_values, terminated, gamma, n):
    """rlax-like: per-step discounts, 0 on the step into a terminal state, and a window."""
    T = len(rewards)
    discount_t = np.full(T, gamma)
    if terminated:
        discount_t[-1] = 0.0
    returns = np.zeros(T)
    for t in range(T):
        end = min(t + n, T)
        g = state_values[end]
        for k in range(end - 1, t - 1, -1):
            g = rewards[k] + discount_t[k] * g
        returns[t] = g
    return returns


def _n_step_agent(table, key, bootstrap, states, rewards, terminated, alpha, gamma, n,
                  weight=lambda tau, h: 1.0):
    """Sutton & Barto's box, with the clock t and the update time tau = t - n + 1."""
    table = table.astype(float).copy()
    T = len(rewards)
    for t in range(T + n - 1):
        tau = t - n + 1
        if tau < 0:
            continue
        if tau >= T:
            break
        h = min(tau + n, T)
        G = sum(gamma ** (i - tau) * rewards[i] for i in range(tau, h))
        if h < T or not terminated:
            G += gamma ** (h - tau) * bootstrap(table, h)
        table[key(tau)] += alpha * weight(tau, h) * (G - table[key(tau)])
    return table


def n_step_td(values, states, rewards, terminated, alpha, gamma, n):
    return _n_step_agent(values, lambda k: states[k], lambda v, h: v[states[h]], states, rewards,
                         terminated, alpha, gamma, n)


def n_step_sarsa(action_values, states, actions, rewards, terminated, alpha, gamma, n):
    return _n_step_agent(action_values, lambda k: (states[k], actions[k]),
                         lambda q, h: q[states[h], actions[h]], states, rewards, terminated,
                         alpha, gamma, n)


def off_policy_n_step_td(values, states, actions, rewards, terminated, alpha, gamma, n,
                         target_policy, behaviour_policy):
    T = len(rewards)
    rho = target_policy[states[:T], actions] / behaviour_policy[states[:T], actions]
    return _n_step_agent(values, lambda k: states[k], lambda v, h: v[states[h]], states, rewards,
                         terminated, alpha, gamma, n,
                         weight=lambda tau, h: np.prod(rho[tau:min(tau + n, T)]))


def off_policy_n_step_sarsa(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                            target_policy, behaviour_policy):
    T = len(rewards)
    last = T if not terminated else T - 1
    rho = np.ones(T + 1)
    rho[:last + 1] = (target_policy[states[:last + 1], actions[:last + 1]]
                      / behaviour_policy[states[:last + 1], actions[:last + 1]])
    return _n_step_agent(action_values, lambda k: (states[k], actions[k]),
                         lambda q, h: q[states[h], actions[h]], states, rewards, terminated,
                         alpha, gamma, n,
                         weight=lambda tau, h: np.prod(rho[tau + 1:min(tau + n, last) + 1]))


def tree_backup(action_values, states, actions, rewards, terminated, alpha, gamma, n, policy):
    """Sutton & Barto's box for n-step tree backup, with R_(k+1) = rewards[k]."""
    Q = action_values.astype(float).copy()
    T = len(rewards)
    for tau in range(T):
        t = min(tau + n, T) - 1          # the last step whose reward enters
        if t + 1 >= T and terminated:
            G = rewards[T - 1]
        else:
            G = rewards[t] + gamma * policy[states[t + 1]] @ Q[states[t + 1]]
        for k in range(t, tau, -1):
            s, a = states[k], actions[k]
            G = rewards[k - 1] + gamma * (policy[s] @ Q[s] - policy[s, a] * Q[s, a]) \
                + gamma * policy[s, a] * G
        Q[states[tau], actions[tau]] += alpha * (G - Q[states[tau], actions[tau]])
    return Q


# ------------------------------------------------------------------ lambda

def lambda_returns_by_weights(rewards, state_values, terminated, gamma, lam):
    """The definition: a weighted average of n-step returns, weights summing to 1."""
    T = len(rewards)
    n_step = np.array([n_step_returns_rlax_style(rewards, state_values, terminated, gamma, n)
                       for n in range(1, T + 1)])          # [n - 1, t]
    out = np.zeros(T)
    for t in range(T):
        weights = np.array([(1 - lam) * lam ** (n - 1) for n in range(1, T - t)] + [lam ** (T - t - 1)])
        out[t] = weights @ n_step[:T - t, t]
    return out


class TDLambdaAgent:
    """An agent that keeps its trace between steps and clears it in ``reset``."""

    def __init__(self, values, alpha, gamma, lam, replacing=False):
        self.v, self.alpha, self.gamma, self.lam = values.astype(float).copy(), alpha, gamma, lam
        self.replacing = replacing
        self.reset()

    def reset(self):
        self.z = np.zeros_like(self.v)

    def step(self, state, reward, next_state, terminated):
        self.z *= self.gamma * self.lam
        self.z[state] = 1.0 if self.replacing else self.z[state] + 1.0
        target = reward + (0.0 if terminated else self.gamma * self.v[next_state])
        self.v += self.alpha * (target - self.v[state]) * self.z


def _run_agent(values, states, rewards, terminated, alpha, gamma, lam, replacing):
    agent = TDLambdaAgent(values, alpha, gamma, lam, replacing)
    T = len(rewards)
    for t in range(T):
        agent.step(states[t], rewards[t], states[t + 1], terminated and t == T - 1)
    return agent.v


def td_lambda(values, states, rewards, terminated, alpha, gamma, lam):
    return _run_agent(values, states, rewards, terminated, alpha, gamma, lam, replacing=False)


def td_lambda_replacing(values, states, rewards, terminated, alpha, gamma, lam):
    return _run_agent(values, states, rewards, terminated, alpha, gamma, lam, replacing=True)


def offline_lambda_return(values, states, rewards, terminated, alpha, gamma, lam):
    """The forward view itself: a correct answer to the offline TD(lambda) check."""
    G = lambda_returns_by_weights(rewards, values[states], terminated, gamma, lam)
    increment = np.bincount(states[:-1], weights=G - values[states[:-1]], minlength=len(values))
    return values + alpha * increment


CORRECT = [
    ("first-visit-mc", first_visit_mc),
    ("every-visit-mc", every_visit_mc),
    ("td0-update", td0),
    ("sarsa-update", sarsa),
    ("expected-sarsa-update", expected_sarsa),
    ("q-learning-update", q_learning),
    ("n-step-return", n_step_returns_rlax_style),
    ("n-step-td", n_step_td),
    ("n-step-sarsa", n_step_sarsa),
    ("off-policy-n-step-td", off_policy_n_step_td),
    ("off-policy-n-step-sarsa", off_policy_n_step_sarsa),
    ("tree-backup", tree_backup),
    ("lambda-return", lambda_returns_by_weights),
    ("td-lambda", td_lambda),
    ("td-lambda-replacing", td_lambda_replacing),
    ("offline-td-lambda", offline_lambda_return),
]
