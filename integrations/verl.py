"""verl: the algorithm functions of ``verl.trainer.ppo.core_algos``, called directly.

verl's token arrays are (batch, response_length) with a response mask, rlspec's RLHF
convention; GRPO takes one outcome score per response (the sum of its token rewards) and a
group index per row.  ``compute_policy_loss_vanilla`` takes its clip ranges from an actor
config; an OmegaConf dict holding exactly those keys stands in for it.

verl's full dependency set (vLLM, a Ray cluster, flash-attention) does not install on a CPU;
``core_algos`` itself imports only ray, omegaconf, codetiming, tensordict and transformers
(the ``verl`` extra), so verl is installed with ``--no-deps`` next to them.
"""

from __future__ import annotations

import numpy as np
import torch
from rlspec.integrations import Conformance, float64_tensors


def _core():
    from verl.trainer.ppo import core_algos
    return core_algos


def gae_advantages(rewards, values, action_mask, gamma, lam):
    """``compute_gae_advantage_return``'s advantages (whitened inside the function)."""
    rewards, values, mask = float64_tensors(rewards, values, action_mask)
    advantages, _ = _core().compute_gae_advantage_return(rewards, values, mask, gamma, lam)
    return advantages


def group_advantages(rewards):
    """``compute_grpo_outcome_advantage`` with one response per row: each response's score is
    its single token reward, rows of a group share an index."""
    rewards = np.asarray(rewards, dtype=np.float64)
    groups, size = rewards.shape
    scores = torch.as_tensor(rewards.reshape(-1, 1))
    index = np.repeat(np.arange(groups), size)
    advantages, _ = _core().compute_grpo_outcome_advantage(scores, torch.ones_like(scores), index)
    return advantages.reshape(groups, size)


def policy_loss(log_prob, old_log_prob, advantages, clip_epsilon, clip_ratio_c=3.0):
    """``compute_policy_loss_vanilla`` on one response holding the N samples as tokens,
    ``token-mean`` aggregation (the mean of the canonical check)."""
    from omegaconf import OmegaConf

    config = OmegaConf.create({"clip_ratio": float(clip_epsilon), "clip_ratio_low": None,
                               "clip_ratio_high": None, "clip_ratio_c": float(clip_ratio_c),
                               "global_batch_info": {}})
    row = [old_log_prob.detach().reshape(1, -1), log_prob.reshape(1, -1),
           advantages.detach().reshape(1, -1)]  # rollout data carries no graph in verl
    loss, _ = _core().compute_policy_loss_vanilla(*row, torch.ones_like(row[0]),
                                                  loss_agg_mode="token-mean", config=config)
    return loss


def ppo_clip_loss(log_prob, old_log_prob, advantages, clip_epsilon):
    """The same, in the canonical signature of ``ppo-clip-loss`` (verl's default c = 3)."""
    return policy_loss(log_prob, old_log_prob, advantages, clip_epsilon)


def low_var_kl(log_probs, reference_log_probs):
    """``kl_penalty(logprob, ref_logprob, "low_var_kl")``, per sample."""
    return _core().kl_penalty(log_probs, reference_log_probs.detach(), "low_var_kl")


def aggregation(mode: str):
    """``agg_loss(loss_mat, loss_mask, mode)`` in the canonical signature of the check ``mode``
    (``loss_scale_factor`` is the normaliser of ``seq-mean-token-sum-norm``)."""
    def candidate(per_token_loss, mask, normaliser=None):
        extra = {} if normaliser is None else {"loss_scale_factor": normaliser}
        return _core().agg_loss(per_token_loss, mask.detach(), mode, **extra)
    candidate.__name__ = candidate.__qualname__ = f"agg_loss_{mode.replace('-', '_')}"
    return candidate


AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def conformance() -> list[Conformance]:
    _core()  # imported once here (seconds); each check's worker process inherits it
    return [
        Conformance("compute_gae_advantage_return", "masked-gae", gae_advantages, "divergence",
                    "the advantages are whitened over the batch inside the function"),
        Conformance("compute_gae_advantage_return", "masked-gae@verl-whitened", gae_advantages),
        Conformance("compute_grpo_outcome_advantage", "group-advantages@verl", group_advantages),
        Conformance("compute_grpo_outcome_advantage", "group-advantages@trl", group_advantages,
                    "divergence", "epsilon = 1e-6 (TRL: 1e-4)"),
        Conformance("compute_policy_loss_vanilla", "ppo-clip-loss", ppo_clip_loss, "divergence",
                    "dual-clip PPO is always on (clip_ratio_c = 3)"),
        Conformance("compute_policy_loss_vanilla", "ppo-clip-loss@dual-clip", policy_loss),
        Conformance('kl_penalty(..., "low_var_kl")', "kl-k3", low_var_kl, "divergence",
                    "k3 is clamped to [-10, 10] (and log r to [-20, 20])"),
        Conformance('kl_penalty(..., "low_var_kl")', "kl-k3@verl-low-var", low_var_kl),
        *[Conformance(f'agg_loss(..., "{mode}")', mode, aggregation(mode)) for mode in AGGREGATIONS],
    ]
