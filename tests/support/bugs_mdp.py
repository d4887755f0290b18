"""Plausible wrong implementations of the MDP chapter, each a bug people really write.

Registered in the catalogue (``bug_catalogue.py``) with the check that must reject it.
Signatures are the canonical ones (``rlspec list checks``).
"""

from __future__ import annotations

import numpy as np

from bug_catalogue import bug


def _markov(transitions, policy):
    return np.einsum("sa,sat->st", policy, transitions)


def _evaluate(transitions, rewards, gamma, policy, sweeps=5000, start=0.0):
    """Plain iterative evaluation, the base several bugs perturb."""
    values = np.full(rewards.shape[0], start)
    markov, reward = _markov(transitions, policy), (policy * rewards).sum(axis=1)
    for _ in range(sweeps):
        values = reward + gamma * markov @ values
    return values


# ------------------------------------------------------------ discounted return

@bug("discounted-return", "accumulates forwards: G_t = r_t + gamma G_{t-1}")
def returns_forwards(rewards, gamma):
    out, running = np.zeros_like(rewards), 0.0
    for t, reward in enumerate(rewards):
        running = reward + gamma * running
        out[t] = running
    return out


@bug("discounted-return", "discounts the first reward too: sum gamma^(k+1) r_{t+k}")
def returns_off_by_one(rewards, gamma):
    out, running = np.zeros_like(rewards), 0.0
    for t in reversed(range(len(rewards))):
        running = gamma * (rewards[t] + running)
        out[t] = running
    return out


@bug("discounted-return", "forgets gamma: undiscounted reward-to-go")
def returns_without_gamma(rewards, gamma):
    return np.cumsum(rewards[::-1])[::-1]


# ------------------------------------------------------------ Bellman backups

@bug("bellman-expectation-v", "forgets gamma in the backup")
def backup_v_without_gamma(transitions, rewards, gamma, policy, values):
    return (policy * (rewards + transitions @ values)).sum(axis=1)


@bug("bellman-expectation-v", "P transposed: sums over the source state")
def backup_v_transposed(transitions, rewards, gamma, policy, values):
    return (policy * (rewards + gamma * transitions.transpose(2, 1, 0) @ values)).sum(axis=1)


@bug("bellman-expectation-v", "max over actions instead of the policy's expectation")
def backup_v_greedy(transitions, rewards, gamma, policy, values):
    return (rewards + gamma * transitions @ values).max(axis=1)


@bug("bellman-expectation-q", "max over next actions (the Q-learning target, not B^pi)")
def backup_q_with_max(transitions, rewards, gamma, policy, action_values):
    return rewards + gamma * transitions @ action_values.max(axis=1)


@bug("bellman-expectation-q", "next-state value taken under the uniform policy")
def backup_q_uniform(transitions, rewards, gamma, policy, action_values):
    return rewards + gamma * transitions @ action_values.mean(axis=1)


@bug("bellman-optimality-backup", "averages over actions instead of taking the max")
def optimality_mean(transitions, rewards, gamma, values):
    return (rewards + gamma * transitions @ values).mean(axis=1)


@bug("bellman-optimality-backup", "forgets gamma")
def optimality_without_gamma(transitions, rewards, gamma, values):
    return (rewards + transitions @ values).max(axis=1)


@bug("bellman-optimality-backup", "max over next states instead of the expectation")
def optimality_optimistic(transitions, rewards, gamma, values):
    reachable = np.where(transitions > 0, values[None, None, :], -np.inf).max(axis=2)
    return (rewards + gamma * reachable).max(axis=1)


# ------------------------------------------------------------ policy evaluation

@bug("policy-evaluation", "forgets gamma (iterates V = r_pi + P_pi V a fixed number of times)")
def evaluation_without_gamma(transitions, rewards, gamma, policy):
    return _evaluate(transitions, rewards, 1.0, policy, sweeps=50)


@bug("policy-evaluation", "P_pi transposed in the linear solve")
def evaluation_transposed(transitions, rewards, gamma, policy):
    markov = _markov(transitions, policy)
    return np.linalg.lstsq(np.eye(len(markov)) - gamma * markov.T,
                           (policy * rewards).sum(axis=1), rcond=None)[0]


@bug("policy-evaluation", "bootstraps from a terminal state (values start at 1 and "
                          "terminal states are never reset)")
def evaluation_bootstraps_terminal(transitions, rewards, gamma, policy):
    return _evaluate(transitions, rewards, gamma, policy, start=1.0)


@bug("policy-evaluation", "discounts the first reward: V = gamma (I - gamma P)^-1 r")
def evaluation_off_by_one(transitions, rewards, gamma, policy):
    return gamma * _evaluate(transitions, rewards, gamma, policy)


@bug("policy-evaluation", "ignores the policy: evaluates the uniform random policy")
def evaluation_uniform(transitions, rewards, gamma, policy):
    return _evaluate(transitions, rewards, gamma, np.full_like(policy, 1.0 / policy.shape[1]))


@bug("policy-evaluation", "stops too early: one sweep per state")
def evaluation_stops_early(transitions, rewards, gamma, policy):
    return _evaluate(transitions, rewards, gamma, policy, sweeps=rewards.shape[0])


# ------------------------------------------------------------ optimal control

def _value_iteration(transitions, rewards, gamma, combine=np.max, sweeps=5000):
    values = np.zeros(rewards.shape[0])
    for _ in range(sweeps):
        values = combine(rewards + gamma * transitions @ values, axis=1)
    return values


@bug("optimal-values", "value iteration with mean instead of max (evaluates uniform)")
def value_iteration_mean(transitions, rewards, gamma):
    return _value_iteration(transitions, rewards, gamma, np.mean)


@bug("optimal-values", "value iteration stopped after 5 sweeps")
def value_iteration_too_short(transitions, rewards, gamma):
    return _value_iteration(transitions, rewards, gamma, sweeps=5)


@bug("optimal-values", "value iteration with gamma applied to the reward too")
def value_iteration_discounted_reward(transitions, rewards, gamma):
    return _value_iteration(transitions, gamma * rewards, gamma)


@bug("optimal-policy", "myopic: greedy with respect to the immediate reward")
def policy_myopic(transitions, rewards, gamma):
    return np.argmax(rewards, axis=1)


@bug("optimal-policy", "argmin instead of argmax in the improvement step")
def policy_argmin(transitions, rewards, gamma):
    values = _value_iteration(transitions, rewards, gamma)
    return np.argmin(rewards + gamma * transitions @ values, axis=1)


@bug("policy-improvement", "greedy with respect to r(s, a) alone, ignoring V")
def improvement_ignores_values(transitions, rewards, gamma, values):
    return np.argmax(rewards, axis=1)


@bug("policy-improvement", "argmin instead of argmax")
def improvement_argmin(transitions, rewards, gamma, values):
    return np.eye(rewards.shape[1])[np.argmin(rewards + gamma * transitions @ values, axis=1)]


@bug("policy-improvement", "greedy with respect to V of the next state, forgetting r(s, a)")
def improvement_forgets_reward(transitions, rewards, gamma, values):
    return np.argmax(transitions @ values, axis=1)


# ------------------------------------------------------------ epsilon-greedy

@bug("epsilon-greedy", "spreads epsilon over the non-greedy actions only")
def epsilon_greedy_excluding_greedy(action_values, epsilon):
    n_actions = action_values.shape[1]
    greedy = np.eye(n_actions)[np.argmax(action_values, axis=1)]
    if n_actions == 1:
        return greedy
    return (1 - epsilon) * greedy + epsilon / (n_actions - 1) * (1 - greedy)


@bug("epsilon-greedy", "gives 1 - epsilon + epsilon/|A| to every tied maximiser")
def epsilon_greedy_every_tie(action_values, epsilon):
    n_actions = action_values.shape[1]
    is_max = action_values == action_values.max(axis=1, keepdims=True)
    return epsilon / n_actions + (1 - epsilon) * is_max


@bug("epsilon-greedy", "explores with probability 1 - epsilon (epsilon read backwards)")
def epsilon_greedy_backwards(action_values, epsilon):
    n_actions = action_values.shape[1]
    return (1 - epsilon) / n_actions + epsilon * np.eye(n_actions)[np.argmax(action_values, axis=1)]


# ------------------------------------------------------------ occupancy measures

@bug("state-occupancy", "missing the (1 - gamma) normalisation")
def occupancy_unnormalised(transitions, gamma, policy, initial_distribution):
    markov = _markov(transitions, policy)
    return np.linalg.solve(np.eye(len(markov)) - gamma * markov.T, initial_distribution)


@bug("state-occupancy", "flow equation with P_pi instead of its transpose")
def occupancy_transposed(transitions, gamma, policy, initial_distribution):
    markov = _markov(transitions, policy)
    return np.linalg.solve(np.eye(len(markov)) - gamma * markov, (1 - gamma) * initial_distribution)


@bug("state-occupancy", "the stationary distribution of P_pi instead of the discounted one")
def occupancy_stationary(transitions, gamma, policy, initial_distribution):
    distribution = np.array(initial_distribution, dtype=float)
    for _ in range(2000):
        distribution = distribution @ _markov(transitions, policy)
    return distribution


@bug("state-action-occupancy", "forgets pi(a|s): rho(s, a) = nu(s)")
def occupancy_without_policy(transitions, gamma, policy, initial_distribution):
    markov = _markov(transitions, policy)
    nu = np.linalg.solve(np.eye(len(markov)) - gamma * markov.T, (1 - gamma) * initial_distribution)
    return np.repeat(nu[:, None], policy.shape[1], axis=1)


@bug("policy-from-occupancy", "normalises by the total instead of per state")
def policy_from_occupancy_global(occupancy):
    return occupancy / occupancy.sum()


@bug("policy-from-occupancy", "divides by sum_a rho without a guard (NaN where unvisited)")
def policy_from_occupancy_unguarded(occupancy):
    with np.errstate(invalid="ignore", divide="ignore"):
        return occupancy / occupancy.sum(axis=1, keepdims=True)


# ------------------------------------------------------------ policy gradient

def _softmax(theta):
    weights = np.exp(theta - theta.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def _q_and_nu(transitions, rewards, gamma, policy, initial_distribution):
    markov = _markov(transitions, policy)
    values = np.linalg.solve(np.eye(len(markov)) - gamma * markov, (policy * rewards).sum(axis=1))
    q = rewards + gamma * transitions @ values
    nu = np.linalg.solve(np.eye(len(markov)) - gamma * markov.T, (1 - gamma) * initial_distribution)
    return q, values, nu


@bug("performance-difference", "the old policy's state visits instead of the new one's "
                               "(the TRPO surrogate taken for the exact difference)")
def performance_difference_old_visits(transitions, rewards, gamma, initial_distribution,
                                      new_policy, old_policy):
    q, values, _ = _q_and_nu(transitions, rewards, gamma, old_policy, initial_distribution)
    _, _, nu_old = _q_and_nu(transitions, rewards, gamma, old_policy, initial_distribution)
    return float(nu_old @ (new_policy * (q - values[:, None])).sum(axis=1) / (1 - gamma))


@bug("performance-difference", "missing the 1 / (1 - gamma) factor")
def performance_difference_unscaled(transitions, rewards, gamma, initial_distribution,
                                    new_policy, old_policy):
    q, values, _ = _q_and_nu(transitions, rewards, gamma, old_policy, initial_distribution)
    _, _, nu_new = _q_and_nu(transitions, rewards, gamma, new_policy, initial_distribution)
    return float(nu_new @ (new_policy * (q - values[:, None])).sum(axis=1))


@bug("softmax-policy-gradient", "weights by the normalised nu without 1 / (1 - gamma)")
def gradient_normalised_visits(transitions, rewards, gamma, initial_distribution, theta):
    policy = _softmax(theta)
    q, values, nu = _q_and_nu(transitions, rewards, gamma, policy, initial_distribution)
    return nu[:, None] * policy * (q - values[:, None])


@bug("softmax-policy-gradient", "score without the baseline term: d log pi / d theta = 1[a]")
def gradient_without_softmax_baseline(transitions, rewards, gamma, initial_distribution, theta):
    policy = _softmax(theta)
    q, _, nu = _q_and_nu(transitions, rewards, gamma, policy, initial_distribution)
    return nu[:, None] * policy * q / (1 - gamma)


@bug("softmax-policy-gradient", "start distribution in place of the state visits")
def gradient_start_states_only(transitions, rewards, gamma, initial_distribution, theta):
    policy = _softmax(theta)
    q, values, _ = _q_and_nu(transitions, rewards, gamma, policy, initial_distribution)
    return initial_distribution[:, None] * policy * (q - values[:, None]) / (1 - gamma)


# ------------------------------------------------------------ importance sampling

@bug("importance-sampling", "ratio inverted: q / p")
def importance_inverted(values, target_probabilities, behaviour_probabilities):
    return float(np.mean(values * behaviour_probabilities / target_probabilities))


@bug("importance-sampling", "self-normalised (weighted) estimate passed off as the ordinary one")
def importance_self_normalised(values, target_probabilities, behaviour_probabilities):
    ratios = target_probabilities / behaviour_probabilities
    with np.errstate(invalid="ignore", divide="ignore"):  # the bug's own 0/0 when p = 0
        return float((ratios * values).sum() / ratios.sum())
