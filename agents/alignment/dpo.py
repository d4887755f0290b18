r"""DPO and its variants: IPO, hinge (SLiC-HF) and conservative DPO (label smoothing).

Objective (Rafailov et al. 2023, Eq. 7; seed 003, 4.3.1): the mean over preference pairs of a
loss of the log-ratio difference
``h = (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l))``, sequence
log-probs summed over tokens (``rlspec.agents.alignment.policy.sequence_log_probs``):

========================  ====================================  ==============================
``loss_type``             per-pair loss (``rlspec.reference.dpo``)  fixed point (``exact``)
========================  ====================================  ==============================
``dpo``                   -log sigmoid(beta h)                  pi_ref exp(r_w / beta)
``conservative``          smoothed labels, eps                  same, r_w of smoothed pairs
``ipo``                   (h - 1/(2 beta))^2                    pi_ref exp(u), least squares
``hinge``                 max(0, 1 - beta h)                    not unique (a linear program)
========================  ====================================  ==============================

with r_w the Bradley-Terry MLE reward of the preference weights w the pairs are drawn from:
on *online* pairs (fresh from the population each step) w is the population and the DPO
fixed point is pi* ∝ pi_ref exp(r / beta); on a fixed data set it is pi* of the fitted reward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from rlspec.agents.alignment import live_validation
from rlspec.agents.alignment.training_loop import RunRecorder, adam_with_linear_decay, due
from rlspec.reference.dpo import conservative_dpo_loss, dpo_loss, hinge_dpo_loss, ipo_loss
from rlspec.validation import InvalidInputError

__all__ = ["DPOConfig", "LOSS_TYPES", "preference_loss", "train_dpo"]

LOSS_TYPES = ("dpo", "ipo", "hinge", "conservative")


@dataclass
class DPOConfig:
    beta: float = 0.5             # KL strength; tau of IPO
    loss_type: str = "dpo"        # one of LOSS_TYPES
    label_smoothing: float = 0.0  # eps of conservative DPO
    steps: int = 1500             # updates
    batch_size: int = 128         # pairs per update
    learning_rate: float = 0.05   # Adam, decayed linearly to 0
    eval_every: int = 100
    validate_every: int = 0
    seed: int = 0


def preference_loss(config: DPOConfig, policy_chosen, policy_rejected, reference_chosen,
                    reference_rejected) -> torch.Tensor:
    """The loss ``config.loss_type`` names, from the verified reference functions; the
    reference model's log-probs are constants (detached)."""
    reference_chosen = torch.as_tensor(reference_chosen, dtype=torch.float64).detach()
    reference_rejected = torch.as_tensor(reference_rejected, dtype=torch.float64).detach()
    arguments = (policy_chosen, policy_rejected, reference_chosen, reference_rejected, config.beta)
    if config.loss_type == "dpo":
        return dpo_loss(*arguments)
    if config.loss_type == "ipo":
        return ipo_loss(*arguments)
    if config.loss_type == "hinge":
        return hinge_dpo_loss(*arguments)
    if config.loss_type == "conservative":
        return conservative_dpo_loss(*arguments, config.label_smoothing)
    raise InvalidInputError(f"loss_type must be one of {LOSS_TYPES}, got {config.loss_type!r}")


def train_dpo(policy, reference, pairs: Callable, config: DPOConfig, evaluate=None,
              metrics=None, show_progress: bool = False) -> list[dict]:
    """Train ``policy`` against the frozen ``reference`` (same interface, see ``policy``).

    ``pairs(batch_size, rng) -> (prompts, chosen_tokens, chosen_mask, rejected_tokens,
    rejected_mask)`` supplies the preference data (online or from a data set)."""
    rng = np.random.default_rng(config.seed)
    optimizer, schedule = adam_with_linear_decay(policy.parameters(), config.learning_rate, config.steps)
    recorder = RunRecorder(f"dpo[{config.loss_type}]", config.steps, evaluate, config.eval_every,
                           metrics, show_progress)
    for step in range(1, config.steps + 1):
        prompts, chosen, chosen_mask, rejected, rejected_mask = pairs(config.batch_size, rng)
        with torch.no_grad():
            reference_chosen = reference.token_log_probs(prompts, chosen, chosen_mask).sum(1).double()
            reference_rejected = reference.token_log_probs(prompts, rejected, rejected_mask).sum(1).double()
        policy_chosen = policy.token_log_probs(prompts, chosen, chosen_mask).sum(1).double()
        policy_rejected = policy.token_log_probs(prompts, rejected, rejected_mask).sum(1).double()
        checking = due(step, config.validate_every, config.steps)
        if checking:
            policy_chosen.retain_grad()
            policy_rejected.retain_grad()
        loss = preference_loss(config, policy_chosen, policy_rejected, reference_chosen,
                               reference_rejected)
        optimizer.zero_grad()
        loss.backward()
        if checking:
            live_validation.validate_dpo_batch(
                policy_chosen, policy_rejected, reference_chosen, reference_rejected, config.beta,
                config.loss_type, config.label_smoothing, loss, policy_chosen.grad,
                policy_rejected.grad)
        optimizer.step()
        schedule.step()
        recorder.record(step, policy, {"loss": loss.item()})
    return recorder.finish()
