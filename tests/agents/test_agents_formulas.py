"""Every formula the agents execute passes its rlspec check, through the public check API.

Each test hands ``rlspec.check`` the agent's own function, wrapped only to translate the
canonical signature of ``rlspec list oracles`` into the agent's batched torch one (numpy
in, numpy out; ``discounts = gamma (1 - terminated)``).  The adapters do no arithmetic of
the formula itself, so a wrong formula in ``agents/`` fails here.  The functions run in
float64, so the checks' default relative tolerance (1e-6) applies unchanged.
"""

import numpy as np
import pytest
import torch

import rlspec
from rlspec.agents import formulas_continuous as fc
from rlspec.agents import formulas_policy as fp
from rlspec.agents import formulas_value as fv
from rlspec.agents.buffers import ReplayBuffer, SumTree

EXAMPLES = 25


def tensor(array):
    return torch.as_tensor(np.asarray(array), dtype=torch.float64)


def discounts(terminated, gamma):
    return gamma * (1.0 - tensor(terminated))


def passes(name, candidate, **options):
    report = rlspec.check(name, candidate, max_examples=EXAMPLES, **options)
    assert report.passed, str(report)


# ----------------------------------------------------------------------------- DQN family

def test_q_learning_targets_pass_dqn_target():
    def candidate(rewards, next_q_target, terminated, truncated, gamma):
        return fv.q_learning_targets(tensor(rewards), tensor(next_q_target),
                                     discounts(terminated, gamma)).numpy()
    passes("dqn-target", candidate)


def test_double_q_learning_targets_pass_double_dqn_target():
    def candidate(rewards, next_q_online, next_q_target, terminated, gamma):
        return fv.double_q_learning_targets(tensor(rewards), tensor(next_q_online),
                                            tensor(next_q_target), discounts(terminated, gamma)).numpy()
    passes("double-dqn-target", candidate)


def test_n_step_windows_pass_n_step_q_target():
    """The segment's end is a cut like truncation: the window stops there and bootstraps."""
    def candidate(rewards, next_values, terminated, truncated, gamma, n):
        length = len(rewards)
        cut = np.asarray(truncated, dtype=bool).copy()
        cut[-1] = True
        rows = [np.minimum(np.arange(t, t + n), length - 1) for t in range(length)]
        inside = [np.arange(t, t + n) < length for t in range(length)]
        window = lambda array: tensor(np.stack([np.where(ok, np.asarray(array)[r], 0)  # noqa: E731
                                                for r, ok in zip(rows, inside)]))
        sums, factors, offsets = fv.n_step_windows(window(rewards), window(terminated),
                                                   window(cut), gamma)
        bootstrap = tensor(next_values)[torch.arange(length) + offsets]
        return (sums + factors * bootstrap).numpy()
    passes("n-step-q-target", candidate)


@pytest.mark.parametrize("name, kind", [("dqn-loss", "squared"), ("dqn-huber-loss", "huber")])
def test_td_loss_passes_dqn_losses(name, kind):
    def candidate(q_values, actions, rewards, next_q_target, terminated, gamma):
        targets = fv.q_learning_targets(rewards, next_q_target, gamma * (1.0 - terminated))
        taken = q_values.gather(1, actions.unsqueeze(1)).squeeze(1)
        return fv.td_loss(taken, targets, kind=kind)
    passes(name, candidate)


def test_td_loss_passes_critic_td_loss():
    def candidate(values, next_values, rewards, terminated, gamma):
        return fv.td_loss(values, rewards + gamma * (1.0 - terminated) * next_values)
    passes("critic-td-loss", candidate)


def test_dueling_aggregate_passes_dueling_aggregation():
    def candidate(values, advantages, aggregation):
        return fv.dueling_aggregate(tensor(values), tensor(advantages), aggregation).numpy()
    passes("dueling-aggregation", candidate)


def test_categorical_projection_passes_c51_projection():
    def candidate(rewards, terminated, gamma, next_probabilities, v_min, v_max):
        return fv.categorical_projection(tensor(rewards), discounts(terminated, gamma),
                                         tensor(next_probabilities), v_min, v_max).numpy()
    passes("c51-projection", candidate)


def test_proportional_priorities_pass_per_probabilities():
    def candidate(td_errors, alpha, epsilon):
        powered = fv.proportional_priorities(tensor(td_errors), epsilon) ** alpha
        return (powered / powered.sum()).numpy()
    passes("per-proportional-probabilities", candidate)


def test_importance_weights_pass_per_importance_weights():
    def candidate(priorities, indices, alpha, beta):
        return fv.importance_weights(tensor(priorities), torch.as_tensor(indices), alpha,
                                     beta).numpy()
    passes("per-importance-weights", candidate)


def test_linear_schedule_passes_per_beta_schedule():
    def candidate(step, total_steps, beta_start):
        return fv.linear_schedule(beta_start, 1.0, total_steps - 1, step)
    passes("per-beta-schedule", candidate)


def test_epsilon_greedy_probabilities_pass_epsilon_greedy():
    def candidate(action_values, epsilon):
        return fv.epsilon_greedy_probabilities(tensor(action_values), epsilon).numpy()
    passes("epsilon-greedy", candidate)


def test_replay_buffer_passes_replay_buffer_sample():
    def candidate(capacity, experiences, uniform_draws):
        buffer = ReplayBuffer(capacity, num_envs=1, fields={"x": (experiences.shape[1],)},
                              dtype=torch.float64)
        for row in experiences:
            buffer.add(x=tensor(row).unsqueeze(0))
        slots = buffer.slots_for(tensor(uniform_draws))
        return buffer.storage["x"].reshape(capacity, -1)[slots].numpy()
    passes("replay-buffer-sample", candidate)


def test_sum_tree_passes_sum_tree_sample():
    def candidate(priorities, update_indices, update_priorities, uniform_draws):
        tree = SumTree(len(priorities), dtype=torch.float64)
        tree.update(torch.arange(len(priorities)), tensor(priorities))
        for index, priority in zip(update_indices, update_priorities):
            tree.update(torch.tensor([int(index)]), tensor([priority]))
        return tree.find(tensor(uniform_draws)).numpy()
    passes("sum-tree-sample", candidate)


def test_soft_update_passes_soft_target_update():
    def candidate(target_params, online_params, tau):
        target = tensor(target_params).clone()
        fc.soft_update_([target], [tensor(online_params)], tau)
        return target.numpy()
    passes("soft-target-update", candidate)


# ----------------------------------------------------------------------------- A2C and PPO

def gae_columns(function):
    """The canonical one-environment signature on the agent's [T, N] function with N = 1."""
    def candidate(rewards, values, next_values, terminated, truncated, gamma, lam):
        column = lambda array: tensor(array).unsqueeze(1)  # noqa: E731
        return function(column(rewards), column(values), column(next_values),
                        column(terminated), column(truncated), gamma, lam)[:, 0].numpy()
    return candidate


def test_generalized_advantages_pass_gae():
    passes("gae", gae_columns(fp.generalized_advantages))


def test_lambda_returns_pass_gae_returns():
    def returns(rewards, values, next_values, terminated, truncated, gamma, lam):
        return fp.generalized_advantages(rewards, values, next_values, terminated, truncated,
                                         gamma, lam) + values
    passes("gae-returns", gae_columns(returns))


def test_generalized_advantages_with_lambda_one_pass_n_step_advantage():
    """A2C's n-step advantages are GAE with lambda = 1 on one segment."""
    def candidate(rewards, values, bootstrap_value, terminal, gamma):
        length = len(rewards)
        next_values = np.append(np.asarray(values)[1:], bootstrap_value)
        terminated = np.zeros(length)
        terminated[-1] = float(terminal)
        return gae_columns(fp.generalized_advantages)(rewards, values, next_values, terminated,
                                                      np.zeros(length), gamma, 1.0)
    passes("n-step-advantage", candidate)


def test_normalize_advantages_passes_advantage_normalization():
    passes("advantage-normalization", lambda advantages: fp.normalize_advantages(
        tensor(advantages)).numpy())


def test_clipped_surrogate_loss_passes_ppo_clip_loss():
    passes("ppo-clip-loss", fp.clipped_surrogate_loss)


def test_clipped_value_loss_passes_ppo_value_loss():
    passes("ppo-value-loss", fp.clipped_value_loss)


def test_categorical_entropy_passes_categorical_entropy():
    passes("categorical-entropy", fp.categorical_entropy)


def test_ppo_total_loss_passes_ppo_total_loss():
    passes("ppo-total-loss", fp.ppo_total_loss)


def test_policy_gradient_loss_passes_reinforce_gradient():
    """The tabular softmax policy's REINFORCE estimate is -T times d(policy_gradient_loss)
    with advantages gamma^t (G_t - b(s_t)), G_t the discounted return (GAE, lambda = 1,
    on values 0 with the episode terminated at its end)."""
    def candidate(theta, states, actions, rewards, gamma, baseline):
        logits = tensor(theta).requires_grad_(True)
        states, actions = torch.as_tensor(states), torch.as_tensor(actions)
        length = len(rewards)
        zeros = torch.zeros(length, 1, dtype=torch.float64)
        terminated = torch.zeros(length, 1, dtype=torch.float64)
        terminated[-1] = 1.0
        returns = fp.generalized_advantages(tensor(rewards).unsqueeze(1), zeros, zeros,
                                            terminated, zeros, gamma, 1.0)[:, 0]
        advantages = gamma ** torch.arange(length, dtype=torch.float64) * (
            returns - tensor(baseline)[states])
        log_prob = torch.log_softmax(logits[states], dim=1).gather(1, actions.unsqueeze(1))
        loss = fp.policy_gradient_loss(log_prob.squeeze(1), advantages)
        (gradient,) = torch.autograd.grad(-length * loss, logits)
        return gradient.numpy()
    passes("reinforce-gradient", candidate)


def test_diagonal_gaussian_log_prob_matches_torch_distributions():
    """No rlspec check covers the plain Gaussian; torch.distributions computes it another
    way (its own log-density), in float64."""
    generator = torch.Generator().manual_seed(0)
    mean, log_std, actions = (torch.randn(16, 3, generator=generator, dtype=torch.float64)
                              for _ in range(3))
    expected = torch.distributions.Normal(mean, log_std.exp()).log_prob(actions).sum(-1)
    torch.testing.assert_close(fp.diagonal_gaussian_log_prob(mean, log_std, actions), expected,
                               rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- TD3, DDPG, SAC

def test_clipped_double_q_targets_pass_td3_target():
    def candidate(rewards, terminated, truncated, next_q1, next_q2, gamma):
        return fc.clipped_double_q_targets(tensor(rewards), discounts(terminated, gamma),
                                           tensor(next_q1), tensor(next_q2)).numpy()
    passes("td3-target", candidate)


def test_clipped_double_q_targets_with_one_critic_pass_ddpg_target():
    def candidate(rewards, terminated, truncated, next_q, gamma):
        q = tensor(next_q)
        return fc.clipped_double_q_targets(tensor(rewards), discounts(terminated, gamma), q,
                                           q).numpy()
    passes("ddpg-target", candidate)


def test_soft_q_targets_pass_sac_target():
    def candidate(rewards, terminated, truncated, next_q1, next_q2, next_log_probs, alpha, gamma):
        return fc.soft_q_targets(tensor(rewards), discounts(terminated, gamma), tensor(next_q1),
                                 tensor(next_q2), tensor(next_log_probs), alpha).numpy()
    passes("sac-target", candidate)


def test_smoothed_target_actions_pass_target_policy_smoothing():
    def candidate(next_actions, noise, noise_clip, action_low, action_high):
        return fc.smoothed_target_actions(tensor(next_actions), tensor(noise), noise_clip,
                                          tensor(action_low), tensor(action_high)).numpy()
    passes("target-policy-smoothing", candidate)


def test_policy_update_due_passes_delayed_policy_updates():
    def candidate(n_updates, policy_delay):
        due = [int(fc.policy_update_due(k, policy_delay)) for k in range(1, n_updates + 1)]
        return np.array([due, due]).T
    passes("delayed-policy-updates", candidate)


def test_squashed_gaussian_log_prob_passes_its_check():
    def candidate(mean, log_std, pre_tanh):
        return fc.squashed_gaussian_log_prob(tensor(mean), tensor(log_std),
                                             tensor(pre_tanh)).numpy()
    passes("squashed-gaussian-log-prob", candidate)


def test_temperature_loss_passes_its_check():
    passes("temperature-loss", fc.temperature_loss)


def test_rescale_squashed_action_passes_action_bound_rescaling():
    def candidate(pre_tanh, action_low, action_high):
        return fc.rescale_squashed_action(tensor(pre_tanh), tensor(action_low), tensor(action_high)).numpy()
    passes("action-bound-rescaling", candidate)


def test_sac_actor_loss_passes_its_check():
    passes("sac-actor-loss", fc.sac_actor_loss)


def test_deterministic_actor_loss_passes_td3_actor_loss():
    """TD3's agent computes only the first critic at the actor's action: q2 is not passed."""
    passes("td3-actor-loss", lambda q1, q2: fc.deterministic_actor_loss(q1))


# ----------------------------------------------------------------------------- no check: by hand

def test_categorical_cross_entropy_by_hand():
    """m = (1, 0), p = (1/2, 1/2) costs log 2; weights scale each row (hand-computed)."""
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    log_p = torch.log(torch.tensor([[0.5, 0.5], [0.25, 0.75]], dtype=torch.float64))
    weights = torch.tensor([1.0, 2.0], dtype=torch.float64)
    expected = (np.log(2.0) + 2.0 * -np.log(0.75)) / 2.0
    assert fv.categorical_cross_entropy(target, log_p, weights).item() == pytest.approx(expected,
                                                                                        rel=1e-15)


def test_linear_schedule_by_hand():
    assert fv.linear_schedule(1.0, 0.1, 100, 50) == pytest.approx(0.55, rel=1e-15)
    assert fv.linear_schedule(1.0, 0.1, 100, 500) == 0.1


def test_diagonal_gaussian_entropy_matches_torch_distributions():
    log_std = torch.tensor([[0.0, -1.0, 0.5]], dtype=torch.float64)
    expected = torch.distributions.Normal(torch.zeros(1, 3, dtype=torch.float64),
                                          log_std.exp()).entropy().sum(-1)
    torch.testing.assert_close(fp.diagonal_gaussian_entropy(log_std), expected, rtol=1e-14,
                               atol=1e-14)
