"""Correct implementations of the RLHF chapter's checks, written the way TRL, verl,
OpenRLHF and DeepSpeed-Chat users write them: vectorised torch, masks as tensors, no loops
over tokens.  None imports rlspec.

``tests/rlhf/test_rlhf_ppo.py``, ``tests/rlhf/test_grpo.py`` and ``tests/rlhf/test_loss_aggregation.py``
assert that rlspec.check accepts each of them: a check that rejected correct code would be
as useless as one that accepted bugs.  ``tests/support/bugs_rlhf.py`` changes one thing in copies of
these to make the catalogued bugs.
"""

import numpy as np
import torch


def _t(array):
    return torch.as_tensor(array, dtype=torch.float64)


# ------------------------------------------------------------------ RLHF-PPO

def gather_log_probs(logits, input_ids):
    """DeepSpeed-Chat's gather_log_probs(logits[:, :-1], seq[:, 1:])."""
    logits, ids = _t(logits), torch.as_tensor(input_ids, dtype=torch.int64)
    log_probs = torch.log_softmax(logits[:, :-1, :], dim=-1)
    return log_probs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def compute_rewards(log_probs, ref_log_probs, reward_score, action_mask, kl_coef,
                    clip_reward_value):
    """The KL penalty on the response, the clipped score at its last token."""
    mask = _t(action_mask)
    rewards = -kl_coef * (_t(log_probs) - _t(ref_log_probs)) * mask
    last = mask.shape[1] - 1 - torch.argmax(mask.flip(-1), dim=-1)  # last column with mask 1
    score = torch.clamp(_t(reward_score), -clip_reward_value, clip_reward_value)
    rewards[torch.arange(mask.shape[0]), last] += score
    return rewards


def gae_over_response(rewards, values, action_mask, gamma, lam):
    """trl-style backward loop, values and rewards zeroed off the response first."""
    mask = _t(action_mask)
    rewards, values = _t(rewards) * mask, _t(values) * mask
    advantages = torch.zeros_like(rewards)
    last_advantage = torch.zeros(rewards.shape[0], dtype=torch.float64)
    for t in reversed(range(rewards.shape[1])):
        next_values = values[:, t + 1] if t + 1 < rewards.shape[1] else 0.0
        delta = rewards[:, t] + gamma * next_values - values[:, t]
        last_advantage = (delta + gamma * lam * last_advantage) * mask[:, t]
        advantages[:, t] = last_advantage
    return advantages


def actor_loss(log_probs, old_log_probs, advantages, action_mask, clip_range):
    """DeepSpeed-Chat's actor_loss_fn (its rollout tensors carry no graph)."""
    old_log_probs, advantages = old_log_probs.detach(), advantages.detach()
    ratio = torch.exp((log_probs - old_log_probs) * action_mask)
    loss1 = -advantages * ratio
    loss2 = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    return torch.sum(torch.max(loss1, loss2) * action_mask) / action_mask.sum()


def critic_loss(values, old_values, returns, action_mask, clip_range_value):
    """DeepSpeed-Chat's critic_loss_fn (its rollout tensors carry no graph)."""
    old_values, returns = old_values.detach(), returns.detach()
    clipped = torch.clamp(values, old_values - clip_range_value, old_values + clip_range_value)
    loss = torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * torch.sum(loss * action_mask) / action_mask.sum()


# ------------------------------------------------------------------ GRPO family

def grpo_advantages(rewards, epsilon):
    """TRL-style: torch.std (Bessel) per group, with the guard for equal rewards."""
    rewards = _t(rewards)
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True)
    equal = (rewards.max(dim=1, keepdim=True).values == rewards.min(dim=1, keepdim=True).values)
    return torch.where(equal, torch.zeros_like(rewards), (rewards - mean) / (std + epsilon))


def dr_grpo_advantages(rewards):
    rewards = _t(rewards)
    return rewards - rewards.mean(dim=1, keepdim=True)


def _rollout_data(*tensors):
    """The rollout's tensors carry no graph: TRL and verl compute them under no_grad."""
    return (tensor.detach() for tensor in tensors)


def _surrogate(log_probs, old_log_probs, advantages, mask, low, high):
    ratio = torch.exp((log_probs - old_log_probs) * mask)
    if advantages.ndim == 1:
        advantages = advantages.unsqueeze(1)
    return torch.min(ratio * advantages, torch.clamp(ratio, low, high) * advantages)


def grpo_loss(log_probs, old_log_probs, ref_log_probs, advantages, response_mask, clip_epsilon,
              beta):
    """The pre-v0.16 TRL GRPO loss: per-sequence mean, then batch mean, k3 KL."""
    old_log_probs, ref_log_probs, advantages = _rollout_data(old_log_probs, ref_log_probs,
                                                             advantages)
    mask = response_mask
    objective = _surrogate(log_probs, old_log_probs, advantages, mask, 1 - clip_epsilon,
                           1 + clip_epsilon)
    delta = (ref_log_probs - log_probs) * mask
    kl = torch.exp(delta) - delta - 1
    per_token = objective - beta * kl
    return -((per_token * mask).sum(dim=1) / mask.sum(dim=1)).mean()


def dr_grpo_loss(log_probs, old_log_probs, advantages, response_mask, clip_epsilon, max_length):
    old_log_probs, advantages = _rollout_data(old_log_probs, advantages)
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - clip_epsilon, 1 + clip_epsilon)
    return -((objective * response_mask).sum(dim=1) / max_length).mean()


def dapo_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low, epsilon_high):
    old_log_probs, advantages = _rollout_data(old_log_probs, advantages)
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - epsilon_low, 1 + epsilon_high)
    return -(objective * response_mask).sum() / response_mask.sum()


def overlong_penalty(lengths, max_length, cache_length):
    expected = max_length - cache_length
    return np.clip((expected - np.asarray(lengths)) / cache_length, -1.0, 0.0)


def keep_groups(accuracies):
    return np.asarray(accuracies).std(axis=1) > 0


def gspo_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low, epsilon_high):
    """verl-style: the mean log-ratio per sequence."""
    old_log_probs, advantages = _rollout_data(old_log_probs, advantages)
    lengths = response_mask.sum(dim=1)
    log_s = ((log_probs - old_log_probs) * response_mask).sum(dim=1) / lengths
    s = torch.exp(log_s)
    objective = torch.min(s * advantages, torch.clamp(s, 1 - epsilon_low, 1 + epsilon_high) * advantages)
    return -objective.mean()


def gspo_token_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                    epsilon_high):
    """verl's compute_policy_loss_gspo, with its seq-mean-token-mean aggregation."""
    old_log_probs, advantages = _rollout_data(old_log_probs, advantages)
    lengths = response_mask.sum(dim=1)
    log_s = ((log_probs - old_log_probs) * response_mask).sum(dim=1) / lengths
    log_ratio = log_probs - log_probs.detach() + log_s.detach().unsqueeze(-1)
    ratio = torch.exp(log_ratio * response_mask)
    objective = torch.min(ratio * advantages,
                          torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high) * advantages)
    return -((objective * response_mask).sum(dim=1) / lengths).mean()


def dcpo_bounds(old_log_probs, epsilon_low, epsilon_high, max_ratio):
    """In the spirit of the DCPO authors' get_clip_low_high (q = exp(old log-prob))."""
    q = torch.exp(_t(old_log_probs))
    low = (1 + torch.sqrt(torch.clamp(1 - 4 * epsilon_low / q, min=0))) / 2
    high = torch.clamp((1 + torch.sqrt(1 + 4 * epsilon_high / q)) / 2, max=max_ratio)
    return torch.stack([low, high])



def dcpo_smooth_advantages(rewards, previous_steps, previous_mean, previous_std):
    """In the spirit of the DCPO authors' compute_dcpo_outcome_advantage (torch.std, the
    pooled update of get_mean_std, the smaller of the two mixtures)."""
    rewards = _t(rewards)
    out = torch.zeros_like(rewards)
    for g, group in enumerate(rewards):
        k = float(previous_steps[g])
        new_mean, new_std = group.mean(), group.std()
        if group.max() == group.min():
            new_mean, new_std = group[0], torch.tensor(0.0, dtype=torch.float64)
        if k == 0:
            mean, std = new_mean, new_std
        else:
            old_mean, old_std = float(previous_mean[g]), float(previous_std[g])
            mean = (old_mean * k + new_mean) / (k + 1)
            var = (k * old_std ** 2 + new_std ** 2 + k / (k + 1) * (new_mean - old_mean) ** 2) / (k + 1)
            std = torch.sqrt(var)
        a_new = (group - new_mean) / new_std if new_std > 0 else torch.zeros_like(group)
        a_total = (group - mean) / std if std > 0 else torch.zeros_like(group)
        w = 1 / (k + 1)
        smooth_new = w * a_total + (1 - w) * a_new
        smooth_total = w * a_new + (1 - w) * a_total
        out[g] = torch.where(smooth_new.abs() < smooth_total.abs(), smooth_new, smooth_total)
    return out


def _dcpo_token_losses(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                       epsilon_high, max_ratio, clip_ratio_c):
    """compute_policy_loss_dcpo's per-token loss matrix (clip_type="dynamic")."""
    old_log_probs, advantages = _rollout_data(old_log_probs, advantages)
    advantages = advantages.unsqueeze(1)
    old = torch.where(response_mask == 1, old_log_probs, torch.zeros_like(old_log_probs))
    low, high = dcpo_bounds(old, epsilon_low, epsilon_high, max_ratio)
    ratio = torch.exp((log_probs - old_log_probs) * response_mask)
    losses1 = -advantages * ratio
    losses2 = -advantages * torch.clamp(ratio, low, high)
    clipped = torch.maximum(losses1, losses2)
    dual = torch.min(-advantages * clip_ratio_c, clipped)
    return torch.where(advantages < 0, dual, clipped)


def dcpo_dual_clip_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                        epsilon_high, max_ratio, clip_ratio_c):
    losses = _dcpo_token_losses(log_probs, old_log_probs, advantages, response_mask,
                                epsilon_low, epsilon_high, max_ratio, clip_ratio_c)
    return (losses * response_mask).sum() / response_mask.sum()


def dcpo_otm_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                  epsilon_high, max_ratio, clip_ratio_c):
    losses = _dcpo_token_losses(log_probs, old_log_probs, advantages, response_mask,
                                epsilon_low, epsilon_high, max_ratio, clip_ratio_c)
    return (losses * response_mask).sum(dim=-1).mean()

# ------------------------------------------------------------------ aggregation (verl's agg_loss)

def token_mean(per_token_loss, mask):
    return (per_token_loss * mask).sum() / mask.sum()


def seq_mean_token_mean(per_token_loss, mask):
    return ((per_token_loss * mask).sum(dim=-1) / mask.sum(dim=-1)).mean()


def seq_mean_token_sum(per_token_loss, mask):
    return (per_token_loss * mask).sum(dim=-1).mean()


def seq_mean_token_sum_norm(per_token_loss, mask, normaliser):
    return (per_token_loss * mask).sum(dim=-1).mean() / normaliser
