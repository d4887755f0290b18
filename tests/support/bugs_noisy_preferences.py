"""Plausible wrong implementations of the noisy-label DPO losses (``dpo.robust``, ``dpo.exo``),
the two meanings TRL gives ``label_smoothing`` besides conservative DPO."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bug_catalogue import bug


def _scaled_margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                   reference_rejected_logps, beta):
    return beta * ((policy_chosen_logps - reference_chosen_logps.detach())
                   - (policy_rejected_logps - reference_rejected_logps.detach()))


@bug("robust-dpo-loss", "conservative DPO: the flipped term added, and no 1 / (1 - 2 eps)")
def robust_dpo_as_conservative(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                               reference_rejected_logps, beta, label_smoothing):
    z = _scaled_margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                       reference_rejected_logps, beta)
    return (-(1 - label_smoothing) * F.logsigmoid(z) - label_smoothing * F.logsigmoid(-z)).mean()


@bug("exo-loss", "the forward KL(label || model) instead of the reverse KL(model || label)")
def exo_forward_kl(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                   reference_rejected_logps, beta, label_smoothing):
    z = _scaled_margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                       reference_rejected_logps, beta)
    eps = label_smoothing
    return ((1 - eps) * (math.log(1 - eps) - F.logsigmoid(z))
            + eps * (math.log(eps) - F.logsigmoid(-z))).mean()
