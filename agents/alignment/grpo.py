r"""GRPO and its successors: Dr. GRPO, DAPO and GSPO (``variant``).

Per iteration: ``groups`` prompts, ``group_size`` responses each from the policy; the group
advantages; then ``epochs`` passes of the variant's loss on the whole batch (the ratio is
to the sampling policy, so the clip acts from the second pass on).

=========  ==========================================  ===================================
variant    advantages / loss (``rlspec.reference.grpo``)   objective and fixed point
=========  ==========================================  ===================================
grpo       (r - mean)/(std + eps); clipped surrogate,    E[A] with 1/|o| per response, and
           1/|o_i| per response, - beta k3 per token     beta k3 *in the loss*: the fixed
                                                         point is the zero of the expected
                                                         update, NOT pi* (``grpo_fixed_point``)
dr-grpo    r - mean; token sums / max_length             no KL: a maximiser of E[r]
dapo       (r - mean)/(std + eps) of r + overlong          no KL: a maximiser of the *shaped*
           penalty, groups with 0 < correct < G only;    reward E[acc + penalty(|y|)]
           decoupled clip, token mean over the batch
gspo       (r - mean)/(std + eps); sequence ratio          no KL: a maximiser of E[r]
           (pi/pi_old)^(1/|y|), clipped per response
=========  ==========================================  ===================================

The GRPO, Dr. GRPO and DAPO losses are the batched forms of ``batched_losses`` (same
formulas, one autograd graph per batch); GSPO's is the reference's.
DAPO's reward must be a 0/1 accuracy (its dynamic sampling counts correct answers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlspec.agents.alignment import live_validation
from rlspec.agents.alignment.batched_losses import dapo_token_loss, dr_grpo_loss, grpo_loss
from rlspec.agents.alignment.training_loop import RunRecorder, adam_with_linear_decay, due
from rlspec.reference.grpo import (
    dr_grpo_advantages, dynamic_sampling_filter, group_advantages, gspo_loss, overlong_penalty)
from rlspec.validation import InvalidInputError

__all__ = ["GRPOConfig", "VARIANTS", "train_grpo"]

VARIANTS = ("grpo", "dr-grpo", "dapo", "gspo")


@dataclass
class GRPOConfig:
    variant: str = "grpo"
    beta: float = 0.5              # GRPO's k3 coefficient (DeepSeekMath: 0.04)
    group_size: int = 4            # G responses per prompt
    groups: int = 64               # prompts per iteration
    std_epsilon: float = 1e-4      # eps of (r - mean) / (std + eps)
    clip_epsilon: float = 0.2      # GRPO and Dr. GRPO
    epsilon_low: float = 0.2       # DAPO (GSPO: 3e-4 in the paper, with long responses)
    epsilon_high: float = 0.28
    overlong_cache_length: int = 1  # DAPO's L_cache; L_max is the model's max_length
    dynamic_sampling_tries: int = 4  # DAPO: draws of groups to fill a batch
    iterations: int = 300
    epochs: int = 2
    learning_rate: float = 0.05
    eval_every: int = 10
    validate_every: int = 0
    seed: int = 0

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise InvalidInputError(f"variant must be one of {VARIANTS}, got {self.variant!r}")


def _loss(config: GRPOConfig, log_probs, old_log_probs, ref_log_probs, advantages, mask,
          max_length):
    if config.variant == "grpo":
        return grpo_loss(log_probs, old_log_probs, ref_log_probs, advantages, mask,
                         config.clip_epsilon, config.beta)
    if config.variant == "dr-grpo":
        return dr_grpo_loss(log_probs, old_log_probs, advantages, mask, config.clip_epsilon, max_length)
    if config.variant == "dapo":
        return dapo_token_loss(log_probs, old_log_probs, advantages, mask, config.epsilon_low,
                               config.epsilon_high)
    return gspo_loss(log_probs, old_log_probs, advantages, mask, config.epsilon_low, config.epsilon_high)


def _sample_groups(policy, reward, prompts, config: GRPOConfig, max_length, rng):
    """(x[B], tokens, mask, rewards[groups, G] used for the advantages, details for
    validation).  DAPO draws groups until ``groups`` pass the filter or the tries run out."""
    size = config.group_size
    kept_x, kept_tokens, kept_mask, accuracies_all, keep_all = [], [], [], [], []
    for _ in range(config.dynamic_sampling_tries if config.variant == "dapo" else 1):
        x = np.repeat(prompts(config.groups, rng), size, axis=0)
        tokens, mask = policy.sample(x, rng)
        scores = np.asarray(reward(x, tokens, mask), dtype=np.float64).reshape(-1, size)
        if config.variant != "dapo":
            return x, tokens, mask, scores, {}
        keep = dynamic_sampling_filter(scores)
        accuracies_all.append(scores)
        keep_all.append(keep)
        rows = np.repeat(keep, size)
        kept_x.append(x[rows])
        kept_tokens.append(tokens[rows])
        kept_mask.append(mask[rows])
        if sum(k.sum() for k in keep_all) >= config.groups:
            break
    x, tokens, mask = (np.concatenate(a)[:config.groups * size] for a in (kept_x, kept_tokens, kept_mask))
    accuracies = np.concatenate([a[k] for a, k in zip(accuracies_all, keep_all)])[:config.groups]
    lengths = mask.sum(axis=1)
    shaped = accuracies.reshape(-1) + overlong_penalty(lengths, max_length, config.overlong_cache_length)
    details = {"accuracies": np.concatenate(accuracies_all), "keep": np.concatenate(keep_all),
               "lengths": lengths, "shaped_rewards": shaped, "kept_accuracies": accuracies}
    return x, tokens, mask, shaped.reshape(-1, size), details


def train_grpo(policy, reference, reward, prompts, config: GRPOConfig, max_length: int,
               evaluate=None, metrics=None, show_progress: bool = False) -> list[dict]:
    """``reward(prompts, tokens, mask) -> rewards[N]``; ``prompts(n, rng) -> prompts[n]``;
    ``max_length`` is the generation budget (Dr. GRPO's constant, DAPO's L_max)."""
    rng = np.random.default_rng(config.seed)
    optimizer, schedule = adam_with_linear_decay(policy.parameters(), config.learning_rate,
                                                 config.iterations * config.epochs)
    recorder = RunRecorder(config.variant, config.iterations, evaluate, config.eval_every,
                           metrics, show_progress)
    settings = {**vars(config), "max_length": max_length,
                "overlong_max_length": max_length, "overlong_cache_length": config.overlong_cache_length}
    for iteration in range(1, config.iterations + 1):
        x, tokens, mask, rewards, details = _sample_groups(policy, reward, prompts, config,
                                                           max_length, rng)
        if len(x) == 0:  # DAPO found no group with something to learn
            recorder.record(iteration, policy, {"loss": 0.0, "mean_reward": 0.0})
            continue
        advantages = (dr_grpo_advantages(rewards) if config.variant == "dr-grpo"
                      else group_advantages(rewards, config.std_epsilon)).reshape(-1)
        with torch.no_grad():
            old_log_probs = policy.token_log_probs(x, tokens, mask).double()
            ref_log_probs = reference.token_log_probs(x, tokens, mask).double()
        checking = due(iteration, config.validate_every, config.iterations)
        for epoch in range(config.epochs):
            log_probs = policy.token_log_probs(x, tokens, mask).double()
            if checking and epoch == config.epochs - 1:  # a pass where ratios differ from 1
                log_probs.retain_grad()
            loss = _loss(config, log_probs, old_log_probs, ref_log_probs, advantages, mask, max_length)
            optimizer.zero_grad()
            loss.backward()
            if checking and epoch == config.epochs - 1:
                live_validation.validate_grpo_batch(
                    config.variant, rewards, advantages, log_probs, old_log_probs, ref_log_probs,
                    mask, loss, log_probs.grad, settings, accuracies=details.get("accuracies"),
                    keep=details.get("keep"), lengths=details.get("lengths"),
                    shaped_rewards=details.get("shaped_rewards"),
                    kept_accuracies=details.get("kept_accuracies"))
            optimizer.step()
            schedule.step()
        recorder.record(iteration, policy, {"loss": loss.item(), "mean_reward": float(rewards.mean())})
    return recorder.finish()
