"""DPO losses for preference labels that are flipped with a known probability eps: robust DPO
(Chowdhury et al. 2024) and EXO's pairwise form (Ji et al. 2024).  TRL selects them with
``loss_type="robust"`` / ``"exo_pair"`` and reads ``label_smoothing`` as eps; its
``loss_type="sigmoid"`` with ``label_smoothing`` is conservative DPO (``dpo.label-smoothing``).

Spec entries ``dpo.robust`` and ``dpo.exo``; both use h of ``rlspec.reference.dpo``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from rlspec.reference.dpo import check_beta, log_ratio_difference
from rlspec.validation import InvalidInputError

__all__ = ["robust_dpo_loss", "exo_loss"]


def _flip_rate(label_smoothing, low: float, high: float, rule: str) -> float:
    """label_smoothing as a float in [low, high), or an error quoting ``rule``."""
    value = float(label_smoothing)
    if not low <= value < high:
        raise InvalidInputError(f"label_smoothing must satisfy {rule}, got {label_smoothing!r}")
    return value


def _scaled_margin(beta, policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                   reference_rejected_logps) -> torch.Tensor:
    """z = beta h, with the frozen reference model's log-probs detached."""
    frozen = [torch.as_tensor(x).detach() for x in (reference_chosen_logps, reference_rejected_logps)]
    return beta * log_ratio_difference(policy_chosen_logps, policy_rejected_logps, *frozen)


def robust_dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                    reference_rejected_logps, beta, label_smoothing) -> torch.Tensor:
    r"""Robust DPO (Chowdhury et al. 2024, "Provably Robust DPO", eq. 8), mean over pairs:

    .. math:: \ell(z) = \frac{(1 - \varepsilon)\,(-\log\sigma(z)) + \varepsilon \log\sigma(-z)}{1 - 2\varepsilon},
              \qquad z = \beta h

    Its expectation under labels flipped with probability eps is the DPO loss of the clean
    labels (the unbiasedness the paper proves), so eps < 1/2.  At eps = 0 it is DPO.

    >>> round(float(robust_dpo_loss([-1.0], [-1.0], [-1.0], [-1.0], 1.0, 0.1)), 6)
    0.693147
    """
    beta, eps = check_beta(beta), _flip_rate(label_smoothing, 0.0, 0.5, "0 <= eps < 1/2")
    z = _scaled_margin(beta, policy_chosen_logps, policy_rejected_logps,
                       reference_chosen_logps, reference_rejected_logps)
    return (((1 - eps) * -F.logsigmoid(z) + eps * F.logsigmoid(-z)) / (1 - 2 * eps)).mean()


def exo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
             reference_rejected_logps, beta, label_smoothing) -> torch.Tensor:
    r"""EXO with two responses (Ji et al. 2024, "Towards Efficient Exact Optimization of
    Language Model Alignment", eq. 13 at K = 2), mean over pairs: the reverse KL from the
    model's preference probability p = sigma(beta h) to the smoothed label (1 - eps, eps),

    .. math:: \ell = p \log\frac{p}{1 - \varepsilon} + (1 - p) \log\frac{1 - p}{\varepsilon}.

    Reverse KL is mode-seeking; conservative DPO is the forward KL plus a constant.

    >>> round(float(exo_loss([-1.0], [-1.0], [-1.0], [-1.0], 1.0, 0.5)), 12)
    0.0
    """
    beta, eps = check_beta(beta), _flip_rate(label_smoothing, 5e-324, 1.0, "0 < eps < 1")
    z = _scaled_margin(beta, policy_chosen_logps, policy_rejected_logps,
                       reference_chosen_logps, reference_rejected_logps)
    p = torch.sigmoid(z)
    return (p * (F.logsigmoid(z) - math.log(1 - eps))
            + (1 - p) * (F.logsigmoid(-z) - math.log(eps))).mean()
