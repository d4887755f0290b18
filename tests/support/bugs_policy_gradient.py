"""Plausible wrong implementations of the policy-gradient, actor-critic and GAE chapter.

Each is registered with the check that must reject it (``bug_catalogue.py``).  Where a
bug was reported in a public project, the name cites the repository and issue or pull
request.  Signatures are the canonical ones (``rlspec list checks``); the correct base
each bug perturbs is written out here, not imported from rlspec.
"""

from __future__ import annotations

import numpy as np

from bug_catalogue import bug

# ------------------------------------------------------------------ helpers

def _softmax(theta):
    shifted = np.exp(theta - theta.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _score_sum(theta, states, actions, weights):
    """sum_t w_t grad log pi(a_t|s_t) for the tabular softmax."""
    policy = _softmax(theta)
    gradient = np.zeros_like(theta)
    for s, a, w in zip(states, actions, weights):
        gradient[s] += w * (np.eye(theta.shape[1])[a] - policy[s])
    return gradient


def _reward_to_go(rewards, gamma):
    out, running = np.zeros_like(rewards), 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def _gae(rewards, values, next_values, terminated, truncated, gamma, lam, *,
         bootstrap_mask=None, carry_mask=None, next_value_of=None, lam_on_delta=False,
         carry_factor=None):
    """The correct recursion, with hooks that each bug below bends one way."""
    size = len(rewards)
    done = terminated | truncated
    bootstrap_mask = (~terminated) if bootstrap_mask is None else bootstrap_mask
    carry_mask = (~done) if carry_mask is None else carry_mask
    advantages, carry = np.zeros(size), 0.0
    for t in reversed(range(size)):
        following = next_values[t] if next_value_of is None else next_value_of(t)
        delta = rewards[t] + gamma * bootstrap_mask[t] * following - values[t]
        factor = gamma * lam if carry_factor is None else carry_factor
        carry = (lam * delta if lam_on_delta else delta) + factor * carry_mask[t] * carry
        advantages[t] = carry
    return advantages


# ---------------------------------------------------------- trajectory probability

@bug("trajectory-probability", "forgets the start-state probability p(s_0)")
def trajectory_probability_without_start(initial_distribution, transitions, policy, states, actions):
    probability = 1.0
    for t, a in enumerate(actions):
        probability *= policy[states[t], a] * transitions[states[t], a, states[t + 1]]
    return probability


@bug("trajectory-probability", "keeps only the policy's factors (the ones grad log p(tau) keeps)")
def trajectory_probability_policy_only(initial_distribution, transitions, policy, states, actions):
    return initial_distribution[states[0]] * np.prod([policy[s, a] for s, a in zip(states, actions)])


# ---------------------------------------------------------------------- REINFORCE

@bug("reinforce-gradient", "drops gamma^t: unbiased only at gamma = 1 (ufal/npfl122#117, "
                           "dennybritz/reinforcement-learning#185)")
def reinforce_without_step_discount(theta, states, actions, rewards, gamma, baseline):
    weights = _reward_to_go(rewards, gamma) - baseline[states]
    return _score_sum(theta, states, actions, weights)


@bug("reinforce-gradient", "weights every step by the whole return G_0, past rewards included "
                           "(huggingface/deep-rl-class#95, udacity/deep-reinforcement-learning#42)")
def reinforce_with_past_rewards(theta, states, actions, rewards, gamma, baseline):
    total = float(np.sum(gamma ** np.arange(len(rewards)) * rewards))
    weights = total - gamma ** np.arange(len(rewards)) * baseline[states]
    return _score_sum(theta, states, actions, weights)


@bug("reinforce-gradient", "uses the per-step discounted reward gamma^t r_t, not the reward-to-go "
                           "(hunkim/ReinforcementZeroToAll#1)")
def reinforce_per_step_reward(theta, states, actions, rewards, gamma, baseline):
    discounts = gamma ** np.arange(len(rewards))
    return _score_sum(theta, states, actions, discounts * (rewards - baseline[states]))


@bug("reinforce-gradient", "baseline read from the next state b(s_{t+1}), which depends on a_t")
def reinforce_action_dependent_baseline(theta, states, actions, rewards, gamma, baseline):
    following = np.append(baseline[states[1:]], 0.0)
    weights = gamma ** np.arange(len(rewards)) * (_reward_to_go(rewards, gamma) - following)
    return _score_sum(theta, states, actions, weights)


@bug("reinforce-gradient", "multiplies the mean log-probability by each return "
                           "(Farama-Foundation/Gymnasium#1336)")
def reinforce_mean_log_probability(theta, states, actions, rewards, gamma, baseline):
    weights = gamma ** np.arange(len(rewards)) * (_reward_to_go(rewards, gamma) - baseline[states])
    return _score_sum(theta, states, actions, np.full(len(rewards), weights.sum() / len(rewards)))


# ------------------------------------------------------------ the six forms of psi_t

def _psi_weights(form, rewards, gamma, states, actions, values, action_values, baseline, *,
                 step_discount=True, time_index=True, to_go_from_next=False,
                 bootstrap_at_end=False, baseline_at_next=False):
    """The correct weights (``pg.psi-forms``), with hooks that each bug below bends one way."""
    size = len(rewards)
    steps = np.arange(size)
    rows = steps if time_index else np.zeros(size, dtype=int)
    to_go = _reward_to_go(rewards, gamma)
    if to_go_from_next:
        to_go = np.append(to_go[1:], 0.0)
    if form == "total-return":
        return np.full(size, float(np.sum(gamma ** steps * rewards)))
    if form == "reward-to-go":
        psi = to_go
    elif form == "baseline":
        psi = to_go - (np.append(baseline[states[1:]], 0.0) if baseline_at_next else baseline[states])
    elif form == "action-value":
        psi = action_values[rows, states, actions]
    elif form == "advantage":
        psi = action_values[rows, states, actions] - values[rows, states]
    else:
        next_states = np.append(states[1:], states[-1])
        following = values[rows + 1, next_states]
        if not bootstrap_at_end:
            following[-1] = 0.0
        psi = rewards + gamma * following - values[rows, states]
    return gamma ** steps * psi if step_discount else psi


@bug("psi-weights", "returns the notes' psi_t: forms 2-6 without the step's discount gamma^t "
                    "(the pg.psi-forms erratum)")
def psi_weights_without_step_discount(form, rewards, gamma, states, actions, values,
                                      action_values, baseline):
    return _psi_weights(form, rewards, gamma, states, actions, values, action_values, baseline,
                        step_discount=False)


@bug("psi-weights", "stationary values: V_0 and Q_0 at every step instead of V_t and Q_t")
def psi_weights_stationary_values(form, rewards, gamma, states, actions, values,
                                  action_values, baseline):
    return _psi_weights(form, rewards, gamma, states, actions, values, action_values, baseline,
                        time_index=False)


@bug("psi-weights", "reward-to-go from t + 1: leaves out the step's own reward r_t")
def psi_weights_reward_to_go_from_next_step(form, rewards, gamma, states, actions, values,
                                            action_values, baseline):
    return _psi_weights(form, rewards, gamma, states, actions, values, action_values, baseline,
                        to_go_from_next=True)


@bug("psi-weights", "TD residual without (1 - terminal): the last step bootstraps on values[T]")
def psi_weights_td_residual_bootstraps_at_the_end(form, rewards, gamma, states, actions, values,
                                                  action_values, baseline):
    return _psi_weights(form, rewards, gamma, states, actions, values, action_values, baseline,
                        bootstrap_at_end=True)


@bug("psi-weights", "baseline read at the next state b(s_{t+1}), which depends on a_t")
def psi_weights_baseline_at_next_state(form, rewards, gamma, states, actions, values,
                                       action_values, baseline):
    return _psi_weights(form, rewards, gamma, states, actions, values, action_values, baseline,
                        baseline_at_next=True)


# ---------------------------------------------------------- softmax log-gradient

@bug("softmax-log-gradient", "forgets the expectation: returns phi(s, a) alone")
def log_gradient_without_expectation(features, weights, action):
    return features[action].copy()


@bug("softmax-log-gradient", "subtracts the plain mean of the features, not the pi-weighted one")
def log_gradient_uniform_mean(features, weights, action):
    return features[action] - features.mean(axis=0)


@bug("softmax-log-gradient", "the tabular (1 - pi(a|s)) phi(s, a) applied to shared features")
def log_gradient_tabular_formula(features, weights, action):
    scores = features @ weights
    policy = np.exp(scores - scores.max())
    policy /= policy.sum()
    return (1.0 - policy[action]) * features[action]


# --------------------------------------------------------------- optimal baseline

@bug("optimal-baseline", "the average return E[R] (the baseline of seed 003, not the minimiser)")
def baseline_average_return(scores, returns, probabilities):
    return np.full(scores.shape[1], probabilities @ returns)


@bug("optimal-baseline", "E[g R] / E[g]: the scores not squared")
def baseline_unsquared(scores, returns, probabilities):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (probabilities @ (scores * returns[:, None])) / (probabilities @ scores)


@bug("optimal-baseline", "ignores the probabilities: a plain average over the outcomes")
def baseline_unweighted(scores, returns, probabilities):
    squares = scores ** 2
    second = squares.mean(axis=0)
    return np.divide((squares * returns[:, None]).mean(axis=0), second,
                     out=np.zeros(scores.shape[1]), where=second > 0)


# ---------------------------------------------------------------------- off-policy

@bug("off-policy-reinforce-gradient", "one step's ratio only, as in the PPO surrogate (seed 001, "
                                      "6. 重要性采样)")
def off_policy_single_ratio(theta, states, actions, rewards, behaviour_probabilities, gamma):
    ratios = _softmax(theta)[states, actions] / behaviour_probabilities
    weights = gamma ** np.arange(len(rewards)) * _reward_to_go(rewards, gamma) * ratios
    return _score_sum(theta, states, actions, weights)


@bug("off-policy-reinforce-gradient", "the ratio inverted: beta / pi")
def off_policy_inverted_ratio(theta, states, actions, rewards, behaviour_probabilities, gamma):
    ratios = behaviour_probabilities / _softmax(theta)[states, actions]
    weighted = gamma ** np.arange(len(rewards)) * rewards * np.cumprod(ratios)
    return _score_sum(theta, states, actions, np.cumsum(weighted[::-1])[::-1])


@bug("off-policy-reinforce-gradient", "weights later rewards by the ratios up to step t only")
def off_policy_ratios_up_to_t(theta, states, actions, rewards, behaviour_probabilities, gamma):
    ratios = np.cumprod(_softmax(theta)[states, actions] / behaviour_probabilities)
    weights = gamma ** np.arange(len(rewards)) * _reward_to_go(rewards, gamma) * ratios
    return _score_sum(theta, states, actions, weights)


# ---------------------------------------------------------------------- critic loss

@bug("critic-td-loss", "differentiates through the TD target (Farama-Foundation/Gymnasium#1494, "
                       "datawhalechina/easy-rl#117)")
def critic_full_gradient(values, next_values, rewards, terminated, gamma):
    targets = rewards + gamma * (1.0 - terminated) * next_values  # no detach
    return (0.5 * (targets - values) ** 2).mean()


@bug("critic-td-loss", "bootstraps through a terminal transition")
def critic_bootstraps_terminal(values, next_values, rewards, terminated, gamma):
    targets = (rewards + gamma * next_values).detach()
    return (0.5 * (targets - values) ** 2).mean()


# ---------------------------------------------------------------------- A3C n-step

@bug("n-step-advantage", "discounts the bootstrap by gamma^(T-i-1), one power short")
def n_step_wrong_power(rewards, values, bootstrap_value, terminal, gamma):
    size = len(rewards)
    tail = 0.0 if terminal else bootstrap_value
    return np.array([sum(gamma ** (j - i) * rewards[j] for j in range(i, size))
                     + gamma ** (size - i - 1) * tail - values[i] for i in range(size)])


@bug("n-step-advantage", "bootstraps from V(s_T) even when s_T is terminal")
def n_step_bootstraps_terminal(rewards, values, bootstrap_value, terminal, gamma):
    running, out = bootstrap_value, np.zeros(len(rewards))
    for i in reversed(range(len(rewards))):
        running = rewards[i] + gamma * running
        out[i] = running - values[i]
    return out


@bug("n-step-advantage", "discounts the reward too: R = gamma (r_i + R)")
def n_step_discounts_reward(rewards, values, bootstrap_value, terminal, gamma):
    running, out = (0.0 if terminal else bootstrap_value), np.zeros(len(rewards))
    for i in reversed(range(len(rewards))):
        running = gamma * (rewards[i] + running)
        out[i] = running - values[i]
    return out


# ----------------------------------------------------------------------------- GAE

@bug("gae", "bootstraps through a termination (thu-ml/tianshou#869)")
def gae_bootstraps_termination(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam,
                bootstrap_mask=np.ones(len(rewards), dtype=bool))


@bug("gae", "truncation treated as termination: no bootstrap at a time limit "
            "(vwxyzjn/cleanrl#198, DLR-RM/stable-baselines3#633)")
def gae_truncation_as_termination(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam,
                bootstrap_mask=~(terminated | truncated))


@bug("gae", "the carry flows across a truncation into the next episode (Toni-SM/skrl#449)")
def gae_carry_across_truncation(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam,
                carry_mask=~terminated)


@bug("gae", "the carry is never reset at an episode boundary "
            "(vietnh1009/Super-mario-bros-PPO-pytorch#21)")
def gae_carry_never_reset(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam,
                carry_mask=np.ones(len(rewards), dtype=bool))


@bug("gae", "lambda applied to delta instead of the carry: A_t = lambda delta_t + gamma A_{t+1}")
def gae_lambda_on_delta(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam,
                lam_on_delta=True, carry_factor=gamma)


@bug("gae", "the carry decays by lambda alone, without gamma")
def gae_carry_without_gamma(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam, carry_factor=lam)


@bug("gae", "next value off by one: V(s_t) in place of V(s'_t) at a truncation "
            "(leggedrobotics/rsl_rl#43, DexForce/EmbodiChain#612)")
def gae_truncation_bootstraps_current_value(rewards, values, next_values, terminated, truncated,
                                            gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam,
                next_value_of=lambda t: values[t] if truncated[t] else next_values[t])


@bug("gae", "next value off by one: values[t+1], the next episode's first value, at a truncation "
            "(pytorch/rl#4209)")
def gae_next_episode_value(rewards, values, next_values, terminated, truncated, gamma, lam):
    last = len(rewards) - 1
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam,
                next_value_of=lambda t: next_values[t] if t == last else values[t + 1])


@bug("gae", "done flags read one step late, episode_starts[t] for episode_starts[t+1] "
            "(hill-a/stable-baselines#385, anthonytorlucci/rlevo#342)")
def gae_done_one_step_late(rewards, values, next_values, terminated, truncated, gamma, lam):
    late_terminated = np.concatenate([[False], terminated[:-1]])
    late_done = np.concatenate([[False], (terminated | truncated)[:-1]])
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam,
                bootstrap_mask=~late_terminated, carry_mask=~late_done)


@bug("gae", "rewards shifted by one step, r_{t-1} for r_t (openai/spinningup#50)")
def gae_rewards_shifted(rewards, values, next_values, terminated, truncated, gamma, lam):
    shifted = np.concatenate([[0.0], rewards[:-1]])
    return _gae(shifted, values, next_values, terminated, truncated, gamma, lam)


@bug("gae-no-truncation", "the carry is never reset at an episode boundary")
def gae_no_truncation_carry_never_reset(rewards, values, next_values, terminated, truncated,
                                        gamma, lam):
    return gae_carry_never_reset(rewards, values, next_values, terminated, truncated, gamma, lam)


@bug("gae-no-truncation", "bootstraps through a termination")
def gae_no_truncation_bootstraps(rewards, values, next_values, terminated, truncated, gamma, lam):
    return gae_bootstraps_termination(rewards, values, next_values, terminated, truncated, gamma, lam)


@bug("gae-returns", "returns formed as the advantages alone, without + V(s_t)")
def returns_are_advantages(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam)


@bug("gae-returns", "returns = advantages + next values")
def returns_with_next_values(rewards, values, next_values, terminated, truncated, gamma, lam):
    return _gae(rewards, values, next_values, terminated, truncated, gamma, lam) + next_values


@bug("gae-returns", "Monte Carlo returns within each episode piece, never bootstrapped")
def returns_monte_carlo(rewards, values, next_values, terminated, truncated, gamma, lam):
    done = terminated | truncated
    out, running = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * (0.0 if done[t] else running)
        out[t] = running
    return out
