"""Plausible wrong implementations of the RLHF chapter, each a bug people really write.

Registered in the catalogue (``bug_catalogue.py``) with the check that must reject it.
Each is a copy of a correct implementation in ``user_implementations_rlhf.py`` with one
thing changed.  Where a bug was reported in a public repository, its name cites the issue
or pull request (repository#number).
"""

from __future__ import annotations

import numpy as np
import torch

from bug_catalogue import bug


def _t(array):
    return torch.as_tensor(array, dtype=torch.float64)


def _last_columns(mask):
    return mask.shape[1] - 1 - torch.argmax(mask.flip(-1), dim=-1)


# ------------------------------------------------------------ token log-probabilities

@bug("token-log-probs", "no shift: logits[t] scored against token t, not t + 1 "
                        "(lucidrains/PaLM-rlhf-pytorch#31, PrimeIntellect-ai/prime-rl#1525)")
def log_probs_unshifted(logits, input_ids):
    log_probs = torch.log_softmax(_t(logits)[:, :-1], dim=-1)
    return log_probs.gather(-1, torch.as_tensor(input_ids)[:, :-1].unsqueeze(-1)).squeeze(-1)


@bug("token-log-probs", "shifted the wrong way: logits[t + 1] scored against token t + 1")
def log_probs_shifted_wrong_way(logits, input_ids):
    log_probs = torch.log_softmax(_t(logits)[:, 1:], dim=-1)
    return log_probs.gather(-1, torch.as_tensor(input_ids)[:, 1:].unsqueeze(-1)).squeeze(-1)


@bug("token-log-probs", "log of a naive softmax: exp overflows at large logits")
def log_probs_naive_softmax(logits, input_ids):
    with np.errstate(over="ignore", invalid="ignore"):
        weights = np.exp(logits[:, :-1])
        probabilities = weights / weights.sum(axis=-1, keepdims=True)
    rows, columns = np.indices(input_ids[:, 1:].shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(probabilities[rows, columns, input_ids[:, 1:]])


@bug("token-log-probs", "log-softmax over the wrong axis (positions, not the vocabulary)")
def log_probs_wrong_axis(logits, input_ids):
    log_probs = torch.log_softmax(_t(logits)[:, :-1], dim=1)
    return log_probs.gather(-1, torch.as_tensor(input_ids)[:, 1:].unsqueeze(-1)).squeeze(-1)


# ------------------------------------------------------------ per-token rewards

def _kl_rewards(log_probs, ref_log_probs, action_mask, kl_coef):
    return -kl_coef * (_t(log_probs) - _t(ref_log_probs)) * _t(action_mask)


@bug("kl-penalised-rewards", "KL penalty with the sign flipped: +beta (log pi - log pi_ref)")
def rewards_kl_sign_flipped(log_probs, ref_log_probs, reward_score, action_mask, kl_coef,
                            clip_reward_value):
    mask = _t(action_mask)
    rewards = -_kl_rewards(log_probs, ref_log_probs, action_mask, kl_coef)
    score = torch.clamp(_t(reward_score), -clip_reward_value, clip_reward_value)
    rewards[torch.arange(mask.shape[0]), _last_columns(mask)] += score
    return rewards


@bug("kl-penalised-rewards", "score added to every response token, not only the last "
                             "(the reading asked about in deepspeedai/DeepSpeedExamples#751)")
def rewards_score_everywhere(log_probs, ref_log_probs, reward_score, action_mask, kl_coef,
                             clip_reward_value):
    mask = _t(action_mask)
    score = torch.clamp(_t(reward_score), -clip_reward_value, clip_reward_value)
    return _kl_rewards(log_probs, ref_log_probs, action_mask, kl_coef) + score[:, None] * mask


@bug("kl-penalised-rewards", "score added at the last column of the row, a padding column "
                             "when the response is shorter (rewards[:, -1] += score, right only "
                             "for unpadded rows: openai/lm-human-preferences#12)")
def rewards_score_at_row_end(log_probs, ref_log_probs, reward_score, action_mask, kl_coef,
                             clip_reward_value):
    rewards = _kl_rewards(log_probs, ref_log_probs, action_mask, kl_coef)
    rewards[:, -1] += torch.clamp(_t(reward_score), -clip_reward_value, clip_reward_value)
    return rewards


@bug("kl-penalised-rewards", "score one column past the last response token, as the notes' "
                             "ends = start + mask.sum() + 1 (deepspeedai/DeepSpeedExamples#672, "
                             "#888; wyf3/llm_related#37)")
def rewards_score_one_past_the_end(log_probs, ref_log_probs, reward_score, action_mask, kl_coef,
                                   clip_reward_value):
    mask = _t(action_mask)
    rewards = _kl_rewards(log_probs, ref_log_probs, action_mask, kl_coef)
    score = torch.clamp(_t(reward_score), -clip_reward_value, clip_reward_value)
    for b in range(mask.shape[0]):
        start = int(torch.argmax(mask[b]))
        ends = start + int(mask[b].sum()) + 1
        rewards[b, start:ends][-1] += score[b]  # the slice stops at the row's end
    return rewards


@bug("kl-penalised-rewards", "score not clipped to [-c, c]")
def rewards_score_unclipped(log_probs, ref_log_probs, reward_score, action_mask, kl_coef,
                            clip_reward_value):
    mask = _t(action_mask)
    rewards = _kl_rewards(log_probs, ref_log_probs, action_mask, kl_coef)
    rewards[torch.arange(mask.shape[0]), _last_columns(mask)] += _t(reward_score)
    return rewards


@bug("kl-penalised-rewards", "KL penalty left on prompt and padding columns (prompt tokens in "
                             "the mask)")
def rewards_kl_unmasked(log_probs, ref_log_probs, reward_score, action_mask, kl_coef,
                        clip_reward_value):
    mask = _t(action_mask)
    rewards = -kl_coef * (_t(log_probs) - _t(ref_log_probs))
    score = torch.clamp(_t(reward_score), -clip_reward_value, clip_reward_value)
    rewards[torch.arange(mask.shape[0]), _last_columns(mask)] += score
    return rewards


# ------------------------------------------------------------ GAE over the response

def _gae(rewards, values, mask, gamma, lam, zero_after_response=True, forget_lambda=False):
    mask = _t(mask)
    rewards = _t(rewards) * mask
    values = _t(values) * mask if zero_after_response else _t(values)
    advantages = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[0], dtype=torch.float64)
    for t in reversed(range(rewards.shape[1])):
        next_values = values[:, t + 1] if t + 1 < rewards.shape[1] else 0.0
        delta = rewards[:, t] + gamma * next_values - values[:, t]
        last = (delta + gamma * (1.0 if forget_lambda else lam) * last) * mask[:, t]
        advantages[:, t] = last
    return advantages


@bug("masked-gae", "bootstraps the last response token from the value in the first padding "
                   "column (the notes' loop without DeepSpeed-Chat's zeroing after the end)")
def gae_bootstraps_from_padding(rewards, values, action_mask, gamma, lam):
    return _gae(rewards, values, action_mask, gamma, lam, zero_after_response=False)


@bug("masked-gae", "forgets lambda: A_t = delta_t + gamma A_{t+1}")
def gae_without_lambda(rewards, values, action_mask, gamma, lam):
    return _gae(rewards, values, action_mask, gamma, lam, forget_lambda=True)


@bug("masked-gae", "GAE over every column: advantages leak onto the prompt")
def gae_over_prompt(rewards, values, action_mask, gamma, lam):
    mask = _t(action_mask)
    ends = _last_columns(mask)
    through_end = (torch.arange(mask.shape[1])[None, :] <= ends[:, None]).double()
    return _gae(rewards, values, through_end, gamma, lam)


@bug("masked-gae", "recursion run forwards: A_t = delta_t + gamma lambda A_{t-1}")
def gae_forwards(rewards, values, action_mask, gamma, lam):
    mask = _t(action_mask)
    rewards, values = _t(rewards) * mask, _t(values) * mask
    advantages = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[0], dtype=torch.float64)
    for t in range(rewards.shape[1]):
        next_values = values[:, t + 1] if t + 1 < rewards.shape[1] else 0.0
        delta = rewards[:, t] + gamma * next_values - values[:, t]
        last = (delta + gamma * lam * last) * mask[:, t]
        advantages[:, t] = last
    return advantages


# ------------------------------------------------------------ actor loss

@bug("actor-clip-loss", "clips the log-ratio to [-eps, eps] instead of the ratio to "
                        "[1 - eps, 1 + eps]")
def actor_clips_log_ratio(log_probs, old_log_probs, advantages, action_mask, clip_range):
    log_ratio = (log_probs - old_log_probs) * action_mask
    ratio = torch.exp(log_ratio)
    clipped = torch.exp(torch.clamp(log_ratio, -clip_range, clip_range))
    loss = torch.max(-advantages * ratio, -advantages * clipped)
    return (loss * action_mask).sum() / action_mask.sum()


@bug("actor-clip-loss", "min of the two negated terms instead of max (an optimistic bound)")
def actor_min_instead_of_max(log_probs, old_log_probs, advantages, action_mask, clip_range):
    ratio = torch.exp((log_probs - old_log_probs) * action_mask)
    loss = torch.min(-advantages * ratio,
                     -advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range))
    return (loss * action_mask).sum() / action_mask.sum()


@bug("actor-clip-loss", "divides by every column (B T), padding and prompt included")
def actor_mean_over_all_columns(log_probs, old_log_probs, advantages, action_mask, clip_range):
    ratio = torch.exp((log_probs - old_log_probs) * action_mask)
    loss = torch.max(-advantages * ratio,
                     -advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range))
    return (loss * action_mask).sum() / action_mask.numel()


@bug("actor-clip-loss", "prompt tokens left in the mask (the attention mask up to the "
                        "response's end)")
def actor_prompt_in_mask(log_probs, old_log_probs, advantages, action_mask, clip_range):
    ends = _last_columns(action_mask)
    mask = (torch.arange(action_mask.shape[1])[None, :] <= ends[:, None]).double()
    ratio = torch.exp((log_probs - old_log_probs) * mask)
    loss = torch.max(-advantages * ratio,
                     -advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range))
    return (loss * mask).sum() / mask.sum()


@bug("actor-clip-loss", "the ratio detached: the loss has the right value and no gradient")
def actor_ratio_detached(log_probs, old_log_probs, advantages, action_mask, clip_range):
    ratio = torch.exp((log_probs - old_log_probs) * action_mask).detach()
    loss = torch.max(-advantages * ratio,
                     -advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range))
    return (loss * action_mask).sum() / action_mask.sum()


# ------------------------------------------------------------ critic loss

@bug("critic-clip-loss", "value clipping around the new values: clamp(V_old, V - c, V + c)")
def critic_clips_around_new_values(values, old_values, returns, action_mask, clip_range_value):
    clipped = torch.clamp(old_values, values - clip_range_value, values + clip_range_value)
    loss = torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * (loss * action_mask).sum() / action_mask.sum()


@bug("critic-clip-loss", "min of the two squared errors instead of max")
def critic_min(values, old_values, returns, action_mask, clip_range_value):
    clipped = torch.clamp(values, old_values - clip_range_value, old_values + clip_range_value)
    loss = torch.min((values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * (loss * action_mask).sum() / action_mask.sum()


@bug("critic-clip-loss", "forgets DeepSpeed-Chat's factor 0.5")
def critic_without_half(values, old_values, returns, action_mask, clip_range_value):
    clipped = torch.clamp(values, old_values - clip_range_value, old_values + clip_range_value)
    loss = torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    return (loss * action_mask).sum() / action_mask.sum()


# ------------------------------------------------------------ group advantages

@bug("group-advantages", "divides by the std with no guard: NaN for a group of equal rewards")
def advantages_no_guard(rewards, epsilon):
    rewards = _t(rewards)
    return (rewards - rewards.mean(1, keepdim=True)) / rewards.std(1, keepdim=True)


@bug("group-advantages", "population std (np.std's default ddof = 0) where the sample std is "
                         "specified (one-covenant/grail#9)")
def advantages_population_std(rewards, epsilon):
    std = rewards.std(axis=1, keepdims=True)
    centred = rewards - rewards.mean(axis=1, keepdims=True)
    return np.where(std > 0, centred / np.where(std > 0, std + epsilon, 1.0), 0.0)


@bug("group-advantages", "normalises over the whole batch instead of per group "
                         "(XU-YIJIE/grpo-flat#2, yifan123/flow_grpo#46)")
def advantages_batch_statistics(rewards, epsilon):
    rewards = _t(rewards)
    std = rewards.std()
    if rewards.max() == rewards.min():
        return torch.zeros_like(rewards)
    return (rewards - rewards.mean()) / (std + epsilon)


@bug("group-advantages", "guards std == 0, but the float std of equal rewards such as 0.1 is "
                         "a rounding residue of ~1e-17 (NVIDIA-NeMo/RL#4161)")
def advantages_guard_on_computed_std(rewards, epsilon):
    rewards = _t(rewards)
    std = rewards.std(1, keepdim=True)
    centred = rewards - rewards.mean(1, keepdim=True)
    return torch.where(std > 0, centred / (std + epsilon), torch.zeros_like(rewards))


@bug("dr-grpo-advantages", "still divides by the group std (plain GRPO)")
def dr_advantages_with_std(rewards):
    rewards = _t(rewards)
    std = rewards.std(1, keepdim=True)
    centred = rewards - rewards.mean(1, keepdim=True)
    return torch.where(std > 0, centred / std, torch.zeros_like(rewards))


@bug("dr-grpo-advantages", "subtracts the batch mean instead of each group's")
def dr_advantages_batch_mean(rewards):
    return rewards - rewards.mean()


# ------------------------------------------------------------ GRPO loss

def _surrogate(log_probs, old_log_probs, advantages, mask, low, high):
    ratio = torch.exp((log_probs - old_log_probs) * mask)
    advantages = advantages.unsqueeze(1) if advantages.ndim == 1 else advantages
    return torch.min(ratio * advantages, torch.clamp(ratio, low, high) * advantages)


def _grpo(log_probs, old_log_probs, ref_log_probs, advantages, mask, clip_epsilon, beta, kl):
    objective = _surrogate(log_probs, old_log_probs, advantages, mask, 1 - clip_epsilon,
                           1 + clip_epsilon)
    per_token = objective - beta * kl
    return -((per_token * mask).sum(1) / mask.sum(1)).mean()


def _k3(log_probs, ref_log_probs, mask):
    delta = (ref_log_probs - log_probs) * mask
    return torch.exp(delta) - delta - 1


@bug("grpo-loss", "KL in the wrong direction: k3 with log pi and log pi_ref swapped")
def grpo_kl_swapped(log_probs, old_log_probs, ref_log_probs, advantages, response_mask,
                    clip_epsilon, beta):
    kl = _k3(ref_log_probs, log_probs, response_mask)
    return _grpo(log_probs, old_log_probs, ref_log_probs, advantages, response_mask,
                 clip_epsilon, beta, kl)


@bug("grpo-loss", "KL added to the objective with the wrong sign (rewards drifting away)")
def grpo_kl_sign(log_probs, old_log_probs, ref_log_probs, advantages, response_mask,
                 clip_epsilon, beta):
    kl = _k3(log_probs, ref_log_probs, response_mask)
    return _grpo(log_probs, old_log_probs, ref_log_probs, advantages, response_mask,
                 clip_epsilon, -beta, kl)


@bug("grpo-loss", "k1 = log pi - log pi_ref in place of the k3 estimator")
def grpo_k1(log_probs, old_log_probs, ref_log_probs, advantages, response_mask, clip_epsilon,
            beta):
    kl = (log_probs - ref_log_probs) * response_mask
    return _grpo(log_probs, old_log_probs, ref_log_probs, advantages, response_mask,
                 clip_epsilon, beta, kl)


@bug("grpo-loss", "averages over every token of the batch where GRPO's per-response mean is "
                  "specified (huggingface/trl#2995, after trl#2881)")
def grpo_token_mean(log_probs, old_log_probs, ref_log_probs, advantages, response_mask,
                    clip_epsilon, beta):
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - clip_epsilon, 1 + clip_epsilon)
    per_token = objective - beta * _k3(log_probs, ref_log_probs, response_mask)
    return -(per_token * response_mask).sum() / response_mask.sum()


@bug("grpo-loss", "prompt tokens left in the mask")
def grpo_prompt_in_mask(log_probs, old_log_probs, ref_log_probs, advantages, response_mask,
                        clip_epsilon, beta):
    ends = _last_columns(response_mask)
    mask = (torch.arange(response_mask.shape[1])[None, :] <= ends[:, None]).double()
    return _grpo(log_probs, old_log_probs, ref_log_probs, advantages, mask, clip_epsilon, beta,
                 _k3(log_probs, ref_log_probs, mask))


@bug("dr-grpo-loss", "divides each response's sum by its own length (GRPO's 1/|o_i|)")
def dr_grpo_length_normalised(log_probs, old_log_probs, advantages, response_mask, clip_epsilon,
                              max_length):
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - clip_epsilon, 1 + clip_epsilon)
    return -((objective * response_mask).sum(1) / response_mask.sum(1)).mean()


@bug("dr-grpo-loss", "sums over responses instead of averaging them (verl-project/verl#3741)")
def dr_grpo_summed_over_responses(log_probs, old_log_probs, advantages, response_mask,
                                  clip_epsilon, max_length):
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - clip_epsilon, 1 + clip_epsilon)
    return -(objective * response_mask).sum() / max_length


# ------------------------------------------------------------ DAPO

@bug("dapo-loss", "epsilon_low and epsilon_high swapped")
def dapo_epsilons_swapped(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                          epsilon_high):
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - epsilon_high, 1 + epsilon_low)
    return -(objective * response_mask).sum() / response_mask.sum()


@bug("dapo-loss", "symmetric clip with epsilon_low on both sides (no clip-higher)")
def dapo_symmetric_clip(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                        epsilon_high):
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - epsilon_low, 1 + epsilon_low)
    return -(objective * response_mask).sum() / response_mask.sum()


@bug("dapo-loss", "sequence mean of token means where the token mean is specified (the "
                  "length bias DAPO removes)")
def dapo_sequence_mean(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                       epsilon_high):
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - epsilon_low, 1 + epsilon_high)
    return -((objective * response_mask).sum(1) / response_mask.sum(1)).mean()


@bug("dapo-loss", "mean over the batch of per-response sums, not over tokens "
                  "(akaszubski/autonomous-dev#413)")
def dapo_batch_mean_of_sums(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                            epsilon_high):
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - epsilon_low, 1 + epsilon_high)
    return -(objective * response_mask).sum(1).mean()


@bug("dapo-overlong-penalty", "no floor at -1 beyond L_max (verl's form, right only when "
                              "responses are truncated at L_max)")
def overlong_no_floor(lengths, max_length, cache_length):
    return np.minimum(-(lengths - (max_length - cache_length)) / cache_length, 0.0)


@bug("dapo-overlong-penalty", "divides the overshoot by L_max instead of L_cache")
def overlong_divides_by_max(lengths, max_length, cache_length):
    return np.clip((max_length - cache_length - lengths) / max_length, -1.0, 0.0)


@bug("dapo-overlong-penalty", "penalty interval placed after L_max instead of before it")
def overlong_interval_after_max(lengths, max_length, cache_length):
    return np.clip((max_length - lengths) / cache_length, -1.0, 0.0)


@bug("dapo-dynamic-sampling", "drops only the groups where every response is correct")
def filter_only_all_correct(accuracies):
    return accuracies.min(axis=1) < 1


@bug("dapo-dynamic-sampling", "drops only the groups where every response is wrong")
def filter_only_all_wrong(accuracies):
    return accuracies.max(axis=1) > 0


# ------------------------------------------------------------ GSPO

def _gspo(log_s, advantages, epsilon_low, epsilon_high):
    s = torch.exp(log_s)
    return -torch.min(s * advantages,
                      torch.clamp(s, 1 - epsilon_low, 1 + epsilon_high) * advantages).mean()


@bug("gspo-loss", "sequence ratio without the 1/|y| power (a product of token ratios)")
def gspo_no_length_power(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                         epsilon_high):
    log_s = ((log_probs - old_log_probs) * response_mask).sum(1)
    return _gspo(log_s, advantages, epsilon_low, epsilon_high)


@bug("gspo-loss", "divides the summed log-ratio by the padded length T, not by |y_i|")
def gspo_padded_length(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                       epsilon_high):
    log_s = ((log_probs - old_log_probs) * response_mask).sum(1) / response_mask.shape[1]
    return _gspo(log_s, advantages, epsilon_low, epsilon_high)


@bug("gspo-loss", "token-level ratio and clip (GRPO's) instead of the sequence ratio")
def gspo_token_ratios(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                      epsilon_high):
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - epsilon_low, 1 + epsilon_high)
    return -((objective * response_mask).sum(1) / response_mask.sum(1)).mean()


@bug("gspo-token-loss", "no stop-gradient on s_i: the value is right, the gradient is not")
def gspo_token_without_stop_gradient(log_probs, old_log_probs, advantages, response_mask,
                                     epsilon_low, epsilon_high):
    lengths = response_mask.sum(1)
    log_s = ((log_probs - old_log_probs) * response_mask).sum(1) / lengths
    ratio = torch.exp((log_probs - log_probs.detach() + log_s.unsqueeze(-1)) * response_mask)
    objective = torch.min(ratio * advantages,
                          torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high) * advantages)
    return -((objective * response_mask).sum(1) / lengths).mean()


@bug("gspo-token-loss", "each token's own ratio in place of s_i (GRPO with GSPO's aggregation)")
def gspo_token_own_ratio(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                         epsilon_high):
    objective = _surrogate(log_probs, old_log_probs, advantages, response_mask,
                           1 - epsilon_low, 1 + epsilon_high)
    return -((objective * response_mask).sum(1) / response_mask.sum(1)).mean()


# ------------------------------------------------------------ DCPO

def _dcpo(old_log_probs, low_eps, high_eps, cap, half=0.5, floor=True):
    q = np.exp(old_log_probs)
    inner = 1 - 4 * low_eps / q
    low = half * (1 + np.sqrt(np.maximum(inner, 0.0) if floor else inner))
    high = half * (1 + np.sqrt(1 + 4 * high_eps / q))
    return np.stack([low, np.minimum(high, cap) if cap is not None else high])


@bug("dcpo-clip-bounds", "epsilon_low and epsilon_high swapped")
def dcpo_swapped(old_log_probs, epsilon_low, epsilon_high, max_ratio):
    return _dcpo(old_log_probs, epsilon_high, epsilon_low, max_ratio)


@bug("dcpo-clip-bounds", "no cap on the upper bound")
def dcpo_uncapped(old_log_probs, epsilon_low, epsilon_high, max_ratio):
    return _dcpo(old_log_probs, epsilon_low, epsilon_high, None)


@bug("dcpo-clip-bounds", "forgets the 1/2: 1 + sqrt(...)")
def dcpo_without_half(old_log_probs, epsilon_low, epsilon_high, max_ratio):
    return _dcpo(old_log_probs, epsilon_low, epsilon_high, max_ratio, half=1.0)


@bug("dcpo-clip-bounds", "no floor under the square root: NaN when 4 epsilon_low > q")
def dcpo_without_floor(old_log_probs, epsilon_low, epsilon_high, max_ratio):
    with np.errstate(invalid="ignore"):
        return _dcpo(old_log_probs, epsilon_low, epsilon_high, max_ratio, floor=False)



def _smooth(rewards, previous_steps, previous_mean, previous_std, ddof=1, between=True,
            larger=False, step_offset=1, pooled=True):
    """The smooth advantages of user_implementations_rlhf, with one thing changeable."""
    rewards = np.asarray(rewards, dtype=np.float64)
    out = np.zeros_like(rewards)
    for g, group in enumerate(rewards):
        k = float(previous_steps[g])
        new_mean, new_std = group.mean(), group.std(ddof=ddof)
        if not pooled:  # the previous steps' statistics alone
            mean, std = (new_mean, new_std) if k == 0 else (previous_mean[g], previous_std[g])
        elif k == 0:
            mean, std = new_mean, new_std
        else:
            var = k * previous_std[g] ** 2 + new_std ** 2
            if between:
                var += k / (k + 1) * (new_mean - previous_mean[g]) ** 2
            mean, std = (previous_mean[g] * k + new_mean) / (k + 1), np.sqrt(var / (k + 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            a_new = (group - new_mean) / new_std if new_std > 1e-12 else np.zeros_like(group)
            a_total = (group - mean) / std if std > 1e-12 else np.zeros_like(group)
            w = 1 / (k + step_offset)
        smooth_new = w * a_total + (1 - w) * a_new
        smooth_total = w * a_new + (1 - w) * a_total
        pick_new = np.abs(smooth_new) > np.abs(smooth_total) if larger else \
            np.abs(smooth_new) < np.abs(smooth_total)
        out[g] = np.where(pick_new, smooth_new, smooth_total)
    return out


@bug("dcpo-smooth-advantages", "population std (np.std's default ddof = 0) for the current step")
def dcpo_smooth_population_std(rewards, previous_steps, previous_mean, previous_std):
    return _smooth(rewards, previous_steps, previous_mean, previous_std, ddof=0)


@bug("dcpo-smooth-advantages", "cumulative variance without the between-steps term "
                               "k (mu_new - mu_old)^2 / (k + 1)^2")
def dcpo_smooth_no_between_term(rewards, previous_steps, previous_mean, previous_std):
    return _smooth(rewards, previous_steps, previous_mean, previous_std, between=False)


@bug("dcpo-smooth-advantages", "keeps the mixture of larger magnitude")
def dcpo_smooth_larger(rewards, previous_steps, previous_mean, previous_std):
    return _smooth(rewards, previous_steps, previous_mean, previous_std, larger=True)


@bug("dcpo-smooth-advantages", "step index off by one: weight 1/k for k earlier steps, "
                               "not 1/(k + 1)")
def dcpo_smooth_off_by_one(rewards, previous_steps, previous_mean, previous_std):
    return _smooth(rewards, previous_steps, previous_mean, previous_std, step_offset=0)


@bug("dcpo-smooth-advantages", "standardises against the earlier steps' statistics, "
                               "not updated with the current step")
def dcpo_smooth_stale_statistics(rewards, previous_steps, previous_mean, previous_std):
    return _smooth(rewards, previous_steps, previous_mean, previous_std, pooled=False)


def _dcpo_terms(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                epsilon_high, max_ratio, clip_ratio_c, dynamic=True, dual="negative",
                bounds_from=None):
    """Per-token DCPO losses as in user_implementations_rlhf, with one thing changeable."""
    old_log_probs, advantages = old_log_probs.detach(), advantages.detach().unsqueeze(1)
    source = old_log_probs if bounds_from is None else bounds_from
    ratio = torch.exp((log_probs - old_log_probs) * response_mask)
    if dynamic:
        q = torch.exp(torch.where(response_mask == 1, source, torch.zeros_like(source)))
        low = (1 + torch.sqrt(torch.clamp(1 - 4 * epsilon_low / q, min=0))) / 2
        high = torch.clamp((1 + torch.sqrt(1 + 4 * epsilon_high / q)) / 2, max=max_ratio)
    else:
        low, high = 1 - epsilon_low, 1 + epsilon_high
    clipped = torch.maximum(-advantages * ratio, -advantages * torch.clamp(ratio, low, high))
    if dual is None:
        return clipped
    dual_clipped = torch.min(-advantages * clip_ratio_c, clipped)
    return dual_clipped if dual == "all" else torch.where(advantages < 0, dual_clipped, clipped)


def _token_mean(losses, mask):
    return (losses * mask).sum() / mask.sum()


@bug("dcpo-dual-clip-loss", "no dual clip: the loss of A < 0 grows without bound in the ratio")
def dcpo_no_dual_clip(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                      epsilon_high, max_ratio, clip_ratio_c):
    return _token_mean(_dcpo_terms(log_probs, old_log_probs, advantages, response_mask,
                                   epsilon_low, epsilon_high, max_ratio, clip_ratio_c,
                                   dual=None), response_mask)


@bug("dcpo-dual-clip-loss", "dual clip applied to every token, positive advantages too")
def dcpo_dual_clip_everywhere(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                              epsilon_high, max_ratio, clip_ratio_c):
    return _token_mean(_dcpo_terms(log_probs, old_log_probs, advantages, response_mask,
                                   epsilon_low, epsilon_high, max_ratio, clip_ratio_c,
                                   dual="all"), response_mask)


@bug("dcpo-dual-clip-loss", "fixed bounds 1 - eps_low, 1 + eps_high (DAPO's) instead of DCPO's")
def dcpo_fixed_bounds(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                      epsilon_high, max_ratio, clip_ratio_c):
    return _token_mean(_dcpo_terms(log_probs, old_log_probs, advantages, response_mask,
                                   epsilon_low, epsilon_high, max_ratio, clip_ratio_c,
                                   dynamic=False), response_mask)


@bug("dcpo-dual-clip-loss", "bounds from the current log-probs, not the old ones")
def dcpo_bounds_from_current(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                             epsilon_high, max_ratio, clip_ratio_c):
    return _token_mean(_dcpo_terms(log_probs, old_log_probs, advantages, response_mask,
                                   epsilon_low, epsilon_high, max_ratio, clip_ratio_c,
                                   bounds_from=log_probs), response_mask)


def _otm_terms(log_probs, old_log_probs, advantages, response_mask, epsilon_low, epsilon_high,
               max_ratio, clip_ratio_c):
    return _dcpo_terms(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                       epsilon_high, max_ratio, clip_ratio_c) * response_mask


@bug("dcpo-otm-loss", "one token mean over the batch (DAPO's aggregation; what the released "
                      "agg_loss only-token-mean branch computes on a micro-batch)")
def dcpo_otm_as_token_mean(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                           epsilon_high, max_ratio, clip_ratio_c):
    return _otm_terms(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                      epsilon_high, max_ratio, clip_ratio_c).sum() / response_mask.sum()


@bug("dcpo-otm-loss", "divides each response's sum by its length (GRPO's 1/|o_i|)")
def dcpo_otm_per_response_mean(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                               epsilon_high, max_ratio, clip_ratio_c):
    terms = _otm_terms(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                       epsilon_high, max_ratio, clip_ratio_c)
    return (terms.sum(-1) / response_mask.sum(-1)).mean()


@bug("dcpo-otm-loss", "sums over responses instead of averaging them (the released agg_loss "
                      "before lime-RL/DCPO commit 2778707: masked_sum)")
def dcpo_otm_summed(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                    epsilon_high, max_ratio, clip_ratio_c):
    return _otm_terms(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                      epsilon_high, max_ratio, clip_ratio_c).sum()

# ------------------------------------------------------------ aggregation

@bug("token-mean", "mean over the batch of per-response sums, not over tokens "
                   "(akaszubski/autonomous-dev#413)")
def token_mean_batch_mean(per_token_loss, mask):
    return (per_token_loss * mask).sum(-1).mean()


@bug("token-mean", "divides by every column, padding included")
def token_mean_all_columns(per_token_loss, mask):
    return (per_token_loss * mask).sum() / mask.numel()


@bug("seq-mean-token-mean", "one global token mean where the per-response mean is specified "
                            "(huggingface/trl#2995)")
def seq_mean_as_token_mean(per_token_loss, mask):
    return (per_token_loss * mask).sum() / mask.sum()


@bug("seq-mean-token-mean", "divides each response's sum by the padded length T")
def seq_mean_padded_length(per_token_loss, mask):
    return ((per_token_loss * mask).sum(-1) / mask.shape[-1]).mean()


@bug("seq-mean-token-sum", "divides each response's sum by its token count "
                           "(verl-project/verl#1233, #911)")
def seq_sum_divided_by_count(per_token_loss, mask):
    return ((per_token_loss * mask).sum(-1) / mask.sum(-1)).mean()


@bug("seq-mean-token-sum-norm", "sums over responses instead of averaging them "
                                "(verl-project/verl#3741)")
def seq_sum_norm_summed(per_token_loss, mask, normaliser):
    return (per_token_loss * mask).sum() / normaliser


@bug("seq-mean-token-sum-norm", "divides by each response's own length, not the constant")
def seq_sum_norm_by_length(per_token_loss, mask, normaliser):
    return ((per_token_loss * mask).sum(-1) / mask.sum(-1)).mean()
