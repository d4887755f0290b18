"""Correct implementations of the policy-gradient chapter, written the way users write them:
torch autograd of a surrogate loss, CleanRL's GAE loop over (T, N) tensors, SB3's buffer
method, rlax's function, Spinning Up's discounted cumulative sums.  None imports rlspec.

``tests/policy_gradient/test_gae.py``, ``tests/policy_gradient/test_pg_estimators.py`` and ``tests/policy_gradient/test_actor_critic.py``
assert that rlspec.check accepts each of them through the matching adapter.
"""

import numpy as np
import scipy.signal
import torch

# ------------------------------------------------------------------------- GAE

def gae_cleanrl(rewards, values, dones, next_value, next_done, gamma, gae_lambda):
    """CleanRL's ppo.py loop, on (num_steps, num_envs) torch tensors."""
    num_steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    lastgaelam = 0
    for t in reversed(range(num_steps)):
        if t == num_steps - 1:
            nextnonterminal = 1.0 - next_done
            nextvalues = next_value
        else:
            nextnonterminal = 1.0 - dones[t + 1]
            nextvalues = values[t + 1]
        delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
        advantages[t] = lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
    return advantages


def gae_sb3(rewards, values, episode_starts, last_values, dones, gamma, gae_lambda):
    """SB3's RolloutBuffer.compute_returns_and_advantage, as a function on numpy arrays."""
    buffer_size = len(rewards)
    advantages = np.zeros_like(rewards)
    last_gae_lam = 0
    for step in reversed(range(buffer_size)):
        if step == buffer_size - 1:
            next_non_terminal = 1.0 - dones
            next_values = last_values
        else:
            next_non_terminal = 1.0 - episode_starts[step + 1]
            next_values = values[step + 1]
        delta = rewards[step] + gamma * next_values * next_non_terminal - values[step]
        last_gae_lam = delta + gamma * gae_lambda * next_non_terminal * last_gae_lam
        advantages[step] = last_gae_lam
    return advantages


def gae_rlax(r_t, discount_t, lambda_, values):
    """rlax.truncated_generalized_advantage_estimation, in numpy."""
    lambda_ = np.ones_like(discount_t) * lambda_
    delta_t = r_t + discount_t * values[1:] - values[:-1]
    advantage_t, carry = np.zeros_like(delta_t), 0.0
    for i in reversed(range(len(delta_t))):
        carry = delta_t[i] + discount_t[i] * lambda_[i] * carry
        advantage_t[i] = carry
    return advantage_t


def gae_by_discount_cumsum(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Spinning Up's way: the deltas of each episode piece, discounted-summed backwards with
    scipy.signal.lfilter (``discount_cumsum``), in the canonical signature."""
    deltas = rewards + gamma * np.where(terminated, 0.0, next_values) - values
    done = terminated | truncated
    advantages, start = np.zeros_like(rewards), 0
    for end in range(len(rewards)):
        if done[end] or end == len(rewards) - 1:
            piece = deltas[start:end + 1]
            advantages[start:end + 1] = scipy.signal.lfilter([1], [1, -gamma * lam], piece[::-1])[::-1]
            start = end + 1
    return advantages


def gae_vectorised(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Canonical signature on (T, N) arrays, written with whole-row numpy operations."""
    not_terminated = 1.0 - terminated.astype(np.float64)
    not_done = 1.0 - (terminated | truncated).astype(np.float64)
    deltas = rewards + gamma * not_terminated * next_values - values
    advantages = np.zeros_like(rewards)
    carry = np.zeros(rewards.shape[1])
    for t in range(rewards.shape[0] - 1, -1, -1):
        carry = deltas[t] + gamma * lam * not_done[t] * carry
        advantages[t] = carry
    return advantages


def gae_vectorised_flattened_wrongly(rewards, values, next_values, terminated, truncated, gamma, lam):
    """A (T, N) implementation that forgets the environment axis: it flattens the arrays
    row by row and runs one recursion over all T * N entries, so the carry of one
    environment leaks into its neighbour at the same time step."""
    flat = [np.reshape(array, (-1, 1)) for array in (rewards, values, next_values, terminated, truncated)]
    return gae_vectorised(*flat, gamma, lam).reshape(np.shape(rewards))


def returns_sb3(rewards, values, next_values, terminated, truncated, gamma, lam):
    """The critic targets as SB3 forms them: advantages + values (canonical signature)."""
    return gae_by_discount_cumsum(rewards, values, next_values, terminated, truncated, gamma, lam) + values


# ------------------------------------------------------------------ estimators

def reinforce_by_autograd(theta, states, actions, rewards, gamma, baseline):
    """The surrogate loss -sum_t gamma^t (G_t - b(s_t)) log pi(a_t|s_t), differentiated by torch."""
    logits = torch.tensor(theta, requires_grad=True)
    log_probs = torch.log_softmax(logits, dim=1)[torch.as_tensor(states), torch.as_tensor(actions)]
    returns, running = [], 0.0
    for reward in reversed(rewards.tolist()):
        running = reward + gamma * running
        returns.insert(0, running)
    weights = torch.tensor(returns) - torch.as_tensor(baseline)[torch.as_tensor(states)]
    discounts = gamma ** torch.arange(len(rewards), dtype=torch.float64)
    loss = -(discounts * weights * log_probs).sum()
    loss.backward()
    return -logits.grad


def off_policy_by_autograd(theta, states, actions, rewards, behaviour_probabilities, gamma):
    """Per-decision importance weights computed with the ratios detached, then autograd."""
    logits = torch.tensor(theta, requires_grad=True)
    log_probs = torch.log_softmax(logits, dim=1)[torch.as_tensor(states), torch.as_tensor(actions)]
    ratios = torch.exp(log_probs.detach()) / torch.as_tensor(behaviour_probabilities)
    discounted = gamma ** torch.arange(len(rewards), dtype=torch.float64) * torch.as_tensor(rewards)
    per_reward = discounted * torch.cumprod(ratios, dim=0)
    weights = torch.flip(torch.cumsum(torch.flip(per_reward, [0]), 0), [0])
    (weights * log_probs).sum().backward()
    return logits.grad


def psi_weights_spinning_up(form, rewards, gamma, states, actions, values, action_values,
                            baseline):
    """The six weights with Spinning Up's discount_cumsum (scipy.signal.lfilter) for the
    reward-to-go, and the step discounts gamma^t applied at the end."""
    steps = np.arange(len(rewards))
    reward_to_go = scipy.signal.lfilter([1], [1, -gamma], rewards[::-1])[::-1]
    v, q = values[steps, states], action_values[steps, states, actions]
    next_v = np.append(values[steps[1:], states[1:]], 0.0)  # the trajectory ends: V_T = 0
    psi = {"total-return": np.full(len(rewards), reward_to_go[0]),
           "reward-to-go": reward_to_go, "baseline": reward_to_go - baseline[states],
           "action-value": q, "advantage": q - v, "td-residual": rewards + gamma * next_v - v}[form]
    return psi if form == "total-return" else gamma ** steps * psi


def softmax_log_gradient_with_scipy(features, weights, action):
    from scipy.special import softmax

    policy = softmax(features @ weights)
    return features[action] - features.T @ policy


def optimal_baseline_vectorised(scores, returns, probabilities):
    second = np.einsum("n,nd->d", probabilities, scores ** 2)
    first = np.einsum("n,nd,n->d", probabilities, scores ** 2, returns)
    return np.where(second > 0, first / np.where(second > 0, second, 1.0), 0.0)


def trajectory_probability_by_logs(initial_distribution, transitions, policy, states, actions):
    with np.errstate(divide="ignore"):
        log_p = np.log(initial_distribution[states[0]])
        for t, a in enumerate(actions):
            log_p += np.log(policy[states[t], a]) + np.log(transitions[states[t], a, states[t + 1]])
    return float(np.exp(log_p))


# ----------------------------------------------------------------- actor-critic

def critic_loss_cleanrl(values, next_values, rewards, terminated, gamma):
    """CleanRL's value loss, 0.5 * ((newvalue - b_returns) ** 2).mean(), with one-step
    returns computed under no_grad."""
    with torch.no_grad():
        b_returns = rewards + gamma * (1.0 - terminated) * next_values
    return 0.5 * ((values - b_returns) ** 2).mean()


def a3c_advantages(rewards, values, bootstrap_value, terminal, gamma):
    """The A3C worker's loop, with Python lists."""
    R = 0.0 if terminal else bootstrap_value
    advantages = []
    for r, v in zip(reversed(rewards.tolist()), reversed(values.tolist())):
        R = r + gamma * R
        advantages.append(R - v)
    return np.array(advantages[::-1])
