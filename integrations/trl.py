"""TRL: the DPO-family losses of ``DPOTrainer._compute_loss`` and ``selective_log_softmax``.

TRL has no standalone DPO loss: the formulas sit inside ``DPOTrainer._compute_loss(model,
inputs)``, after the policy's forward pass.  :func:`dpo_trainer_loss` runs that method on a
trainer holding only the attributes the method reads, with a stub model whose per-token
log-probs carry the case's sequence log-probs (each on the first completion token, zeros
elsewhere, so TRL's sum over tokens gives them back) and precomputed reference log-probs.
The completion mask holds each response's length, which TRL's IPO divides by.

GRPO's group advantages sit inside ``GRPOTrainer._generate_and_score_completions``, behind
generation and reward calls; they are not driven here (``group-advantages@trl`` states
TRL's convention for code that copies it).
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import torch
from rlspec.integrations import Conformance


class _Accelerator:
    device = torch.device("cpu")

    @staticmethod
    def gather(tensor):
        return tensor

    gather_for_metrics = gather


def _trainer(loss_type: str, beta: float, label_smoothing: float):
    from trl import DPOTrainer

    trainer = DPOTrainer.__new__(DPOTrainer)
    trainer.__dict__.update(
        model=SimpleNamespace(training=False), accelerator=_Accelerator(),
        aux_loss_enabled=False, ld_alpha=None, precompute_ref_logps=True,
        f_divergence_type="reverse_kl", loss_types=[loss_type], loss_weights=[1.0],
        beta=float(beta), label_smoothing=float(label_smoothing), use_weighting=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0, _tp_size=1)
    return trainer


def dpo_trainer_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                     reference_rejected_logps, beta, loss_type="sigmoid", label_smoothing=0.0,
                     chosen_lengths=None, rejected_lengths=None):
    """The loss ``DPOTrainer._compute_loss`` returns for these sequence log-probs."""
    pairs = len(policy_chosen_logps)
    lengths = torch.cat([torch.as_tensor(chosen_lengths if chosen_lengths is not None else np.ones(pairs)),
                         torch.as_tensor(rejected_lengths if rejected_lengths is not None else np.ones(pairs))]).long()
    width = int(lengths.max()) + 1          # one prompt token, then the completion
    completion_mask = (torch.arange(width) >= 1) & (torch.arange(width) <= lengths[:, None])
    sequence_logps = torch.cat([policy_chosen_logps, policy_rejected_logps])
    first_token = torch.nn.functional.one_hot(torch.zeros(2 * pairs, dtype=torch.long), width - 1)
    outputs = SimpleNamespace(
        log_probs=sequence_logps[:, None] * first_token, entropy=torch.zeros(2 * pairs, width - 1),
        mean_logits=torch.zeros(2 * pairs, width - 1),
        is_top1=torch.zeros(2 * pairs, width - 1, dtype=torch.bool))
    inputs = {"input_ids": torch.zeros(2 * pairs, width, dtype=torch.long),
              "attention_mask": torch.ones(2 * pairs, width, dtype=torch.long),
              "completion_mask": completion_mask.long(),
              "ref_chosen_logps": reference_chosen_logps.detach(),
              "ref_rejected_logps": reference_rejected_logps.detach()}
    trainer = _trainer(loss_type, beta, label_smoothing)
    return trainer._compute_loss(lambda **_: outputs, inputs, return_outputs=False)


def dpo_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
             reference_rejected_logps, beta):
    return dpo_trainer_loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                            reference_rejected_logps, beta)


def _with_loss_type(loss_type: str):
    def candidate(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                  reference_rejected_logps, beta, **extra):
        return dpo_trainer_loss(policy_chosen_logps, policy_rejected_logps,
                                reference_chosen_logps, reference_rejected_logps, beta,
                                loss_type=loss_type, **extra)
    candidate.__name__ = candidate.__qualname__ = f"DPOTrainer_{loss_type}"
    return candidate


def token_log_probs(logits, input_ids):
    """``selective_log_softmax`` with the one-step shift every TRL trainer applies."""
    from trl.trainer.utils import selective_log_softmax

    logits, input_ids = torch.as_tensor(logits), torch.as_tensor(input_ids).long()
    return selective_log_softmax(logits[:, :-1], input_ids[:, 1:])


def conformance() -> list[Conformance]:
    # imported once here (trl imports lazily; seconds each); each check's worker inherits them
    from trl import DPOTrainer  # noqa: F401
    from trl.trainer.utils import selective_log_softmax  # noqa: F401

    return [
        Conformance('DPOTrainer._compute_loss loss_type="sigmoid"', "dpo-loss", dpo_loss),
        Conformance('DPOTrainer._compute_loss "sigmoid" + label_smoothing',
                    "conservative-dpo-loss", _with_loss_type("sigmoid"), "divergence",
                    "TRL 1.16 documents label_smoothing for robust DPO and EXO only; "
                    '"sigmoid" ignores it (no conservative DPO)'),
        Conformance('DPOTrainer._compute_loss loss_type="hinge"', "hinge-dpo-loss",
                    _with_loss_type("hinge")),
        Conformance('DPOTrainer._compute_loss loss_type="ipo"', "ipo-loss@length-normalised",
                    _with_loss_type("ipo")),
        Conformance('DPOTrainer._compute_loss loss_type="robust"', "robust-dpo-loss",
                    _with_loss_type("robust")),
        Conformance('DPOTrainer._compute_loss loss_type="robust"', "conservative-dpo-loss",
                    _with_loss_type("robust"), "divergence",
                    "label_smoothing is robust DPO's flip rate here, not conservative DPO"),
        Conformance('DPOTrainer._compute_loss loss_type="exo_pair"', "exo-loss",
                    _with_loss_type("exo_pair")),
        Conformance("trainer.utils.selective_log_softmax (shifted)", "token-log-probs",
                    token_log_probs),
    ]
