"""Edge cases that expose whole classes of bugs (issue 14, "What to build" 1): for each class
a small wrong function, exact in real arithmetic or right on most inputs, that the check
rejects only because its battery now holds the input that exposes it."""

import numpy as np
import torch

import rlspec

FEW = 5  # generated cases: the edge cases run first and must be what rejects the bug


def _naive_softmax_log_gradient(features, weights, action):
    """grad log pi = phi(a) - sum_a' pi(a') phi(a'), softmax without the max shift."""
    scores = np.exp(features @ weights)
    return features[action] - (scores / scores.sum()) @ features


def test_power_a_softmax_without_the_max_shift_is_rejected():
    report = rlspec.check("softmax-log-gradient", _naive_softmax_log_gradient,
                          max_examples=FEW)
    assert not report.passed
    assert "800" in report.counterexample["case"]


def _mask_after_exp_dapo_loss(log_probs, old_log_probs, advantages, response_mask,
                              epsilon_low, epsilon_high):
    """DAPO's token-level loss, masked only after the exp: the value is right, but where a
    masked token's ratio overflows the gradient is 0 * inf = NaN."""
    ratio = torch.exp(log_probs - old_log_probs.detach())
    advantage = advantages.detach()[:, None]
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token = -torch.minimum(ratio * advantage, clipped * advantage)
    return (per_token * response_mask).nan_to_num(0.0).sum() / response_mask.sum()


def test_power_a_mask_applied_after_exp_is_rejected():
    report = rlspec.check("dapo-loss", _mask_after_exp_dapo_loss, max_examples=FEW)
    assert not report.passed
    assert "masked token" in report.counterexample["case"]


def _unscaled_tie_policy_iteration(transitions, rewards, gamma):
    """Policy iteration whose tie tolerance 1e-7 max(1, |V|) ignores the factor 1 - gamma."""
    transitions, rewards = np.asarray(transitions), np.asarray(rewards)
    n_states, n_actions = rewards.shape
    actions = np.zeros(n_states, dtype=int)
    while True:
        policy = np.eye(n_actions)[actions]
        markov = np.einsum("sa,sat->st", policy, transitions)
        values = np.linalg.solve(np.eye(n_states) - gamma * markov, (policy * rewards).sum(1))
        q = rewards + gamma * transitions @ values
        best = q.argmax(axis=1)
        gain = q[np.arange(n_states), best] - q[np.arange(n_states), actions]
        switch = gain > 1e-7 * max(1.0, np.abs(values).max())
        if not switch.any():
            return policy
        actions = np.where(switch, best, actions)


def test_power_a_tie_tolerance_not_scaled_by_the_horizon_is_rejected():
    report = rlspec.check("optimal-policy", _unscaled_tie_policy_iteration,
                          max_examples=FEW, include_undiscounted=False)
    assert not report.passed
    assert "5e-8" in report.counterexample["case"]


def _flipping_policy_iteration(transitions, rewards, gamma):
    """Policy iteration that prefers a change: among the maximisers of Q(s, .) (up to 1e-9)
    it takes one other than the current action, so between tied actions it flips forever."""
    transitions, rewards = np.asarray(transitions), np.asarray(rewards)
    n_states, n_actions = rewards.shape
    actions = np.zeros(n_states, dtype=int)
    while True:
        policy = np.eye(n_actions)[actions]
        markov = np.einsum("sa,sat->st", policy, transitions)
        values = np.linalg.solve(np.eye(n_states) - gamma * markov, (policy * rewards).sum(1))
        q = rewards + gamma * transitions @ values
        new = actions.copy()
        for s in range(n_states):
            maximisers = np.flatnonzero(q[s] >= q[s].max() - 1e-9)
            others = maximisers[maximisers != actions[s]]
            new[s] = others[0] if others.size else actions[s]
        if np.array_equal(new, actions):
            return policy
        actions = new


def test_power_policy_iteration_that_flips_between_tied_actions_times_out():
    report = rlspec.check("optimal-policy", _flipping_policy_iteration, max_examples=FEW,
                          include_undiscounted=False, timeout=2.0)
    assert not report.passed
    assert "did not return" in report.counterexample["problem"]


def _beta_schedule_one_at_two_steps(step, total_steps, beta_start):
    """The linear ramp, with the short horizons special-cased wrongly: 1 when T <= 2."""
    if total_steps <= 2:
        return 1.0
    return min(1.0, beta_start + step * (1.0 - beta_start) / (total_steps - 1))


def _naive_mean_kl(old_policy, new_policy, state_weights):
    """sum_s w(s) KL(old || new) with 0 log 0 handled but 0 * inf left to NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(old_policy > 0, old_policy * np.log(old_policy / new_policy), 0.0)
    return float(state_weights @ terms.sum(axis=1))


def test_power_boundary_horizons_and_zero_weights_are_rejected():
    report = rlspec.check("per-beta-schedule", _beta_schedule_one_at_two_steps,
                          max_examples=FEW)
    assert not report.passed and "two steps" in report.counterexample["case"]
    report = rlspec.check("mean-kl", _naive_mean_kl, max_examples=FEW)
    assert not report.passed and "weight 0" in report.counterexample["case"]
