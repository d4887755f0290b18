r"""The GRPO-family token losses written for whole batches (one autograd graph per batch).

``rlspec.reference.grpo`` writes each loss with a loop over responses, which reads like the
paper but builds an autograd graph with one branch per response: at 256 responses the
backward pass dominates training.  These compute the same formulas with masked tensor
operations; each passes its rlspec check (``grpo-loss``, ``dr-grpo-loss``, ``dapo-loss``),
which judges value and gradient against the 40-digit oracle.

Shared per-token term, for response tokens (mask 1) only:
``f_{i,t} = min(rho A_i, clip(rho, 1 - eps_low, 1 + eps_high) A_i)``,
``rho = exp(log pi - log pi_old)``.  Off the response the log-ratio is replaced by 0 before
exp, so padding may hold anything.
"""

from __future__ import annotations

import torch

from rlspec.reference.kl_estimators import kl_estimator_k3

__all__ = ["grpo_loss", "dr_grpo_loss", "dapo_token_loss"]


def _as_tensors(log_probs, old_log_probs, advantages, response_mask):
    log_probs = torch.as_tensor(log_probs, dtype=torch.float64)
    old = torch.as_tensor(old_log_probs, dtype=torch.float64).detach()
    advantages = torch.as_tensor(advantages, dtype=torch.float64).detach()
    inside = torch.as_tensor(response_mask, dtype=torch.float64) > 0
    return log_probs, old, advantages, inside


def _clipped_token_objective(log_probs, old, advantages, inside, low, high) -> torch.Tensor:
    """[B, T] f_{i,t} on the response, 0 elsewhere."""
    ratio = torch.exp(torch.where(inside, log_probs - old, torch.zeros_like(log_probs)))
    a = advantages[:, None]
    per_token = torch.minimum(ratio * a, torch.clamp(ratio, low, high) * a)
    return torch.where(inside, per_token, torch.zeros_like(per_token))


def grpo_loss(log_probs, old_log_probs, ref_log_probs, advantages, response_mask,
              clip_epsilon, beta) -> torch.Tensor:
    r"""``-(1/B) sum_i (1/|o_i|) sum_t [f_{i,t} - beta k3_{i,t}]`` (DeepSeekMath eq. 3; spec
    ``grpo.objective``), k3 from ``rlspec.reference.kl_estimators.kl_estimator_k3``.

    >>> grpo_loss([[-1.0, -2.0]], [[-1.0, -2.0]], [[-1.0, -2.0]], [1.0], [[1, 1]], 0.2, 0.0).item()
    -1.0
    """
    log_probs, old, advantages, inside = _as_tensors(log_probs, old_log_probs, advantages, response_mask)
    ref = torch.as_tensor(ref_log_probs, dtype=torch.float64).detach()
    surrogate = _clipped_token_objective(log_probs, old, advantages, inside,
                                         1.0 - clip_epsilon, 1.0 + clip_epsilon)
    on_response = torch.where(inside, log_probs, ref)  # k3 = 0 where pi = pi_ref
    penalty = kl_estimator_k3(on_response.reshape(-1), ref.reshape(-1)).reshape(ref.shape)
    per_token = surrogate - beta * torch.where(inside, penalty, torch.zeros_like(penalty))
    lengths = inside.sum(dim=1).to(torch.float64)
    return -(per_token.sum(dim=1) / lengths).mean()


def dr_grpo_loss(log_probs, old_log_probs, advantages, response_mask, clip_epsilon,
                 max_length) -> torch.Tensor:
    r"""``-(1/B) sum_i (1/C) sum_t f_{i,t}`` with C = max_length (spec ``grpo.dr-grpo-loss``).

    >>> dr_grpo_loss([[0.0, 0.0]], [[0.0, 0.0]], [0.5], [[1, 1]], 0.2, 4).item()
    -0.25
    """
    log_probs, old, advantages, inside = _as_tensors(log_probs, old_log_probs, advantages, response_mask)
    surrogate = _clipped_token_objective(log_probs, old, advantages, inside,
                                         1.0 - clip_epsilon, 1.0 + clip_epsilon)
    return -(surrogate.sum(dim=1) / float(max_length)).mean()


def dapo_token_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                    epsilon_high) -> torch.Tensor:
    r"""``-(1 / sum_i |o_i|) sum_{i,t} f_{i,t}`` with the decoupled clip (spec
    ``dapo.token-level-loss``).

    >>> round(dapo_token_loss([[0.0, 0.0]], [[0.0, 0.0]], [1.0], [[1, 1]], 0.2, 0.28).item(), 12)
    -1.0
    """
    log_probs, old, advantages, inside = _as_tensors(log_probs, old_log_probs, advantages, response_mask)
    surrogate = _clipped_token_objective(log_probs, old, advantages, inside,
                                         1.0 - epsilon_low, 1.0 + epsilon_high)
    return -surrogate.sum() / inside.sum().to(torch.float64)
