"""Every formula the alignment trainers execute passes its rlspec check."""

import pytest
import torch

import rlspec
from rlspec.agents.alignment import batched_losses, exact, policy
from rlspec.agents.alignment.dpo import DPOConfig, preference_loss
from rlspec.reference import dpo, grpo, reward_model, rlhf_ppo


def _trainer_loss(loss_type):
    """``preference_loss`` as the DPO trainer calls it, under the check's argument names."""
    def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
             reference_rejected_logps, beta, label_smoothing=0.0):
        config = DPOConfig(beta=beta, loss_type=loss_type, label_smoothing=label_smoothing)
        return preference_loss(config, policy_chosen_logps, policy_rejected_logps,
                               reference_chosen_logps, reference_rejected_logps)
    return loss


# (check name, the function the trainer calls); the reference ones are imported by the trainers
# under these names, so this list is exactly what runs in training.
EXECUTED = [
    ("sequence-log-probs", lambda logits, tokens, mask: policy.sequence_log_probs(logits, tokens, mask).numpy()),
    ("kl-divergence", exact.categorical_kl),
    ("reward-model-loss", reward_model.bradley_terry_loss),
    ("dpo-loss", _trainer_loss("dpo")),
    ("ipo-loss", _trainer_loss("ipo")),
    ("hinge-dpo-loss", _trainer_loss("hinge")),
    ("conservative-dpo-loss", _trainer_loss("conservative")),
    ("kl-penalised-rewards", rlhf_ppo.kl_penalised_rewards),
    ("masked-gae", rlhf_ppo.masked_gae),
    ("actor-clip-loss", rlhf_ppo.actor_clip_loss),
    ("critic-clip-loss", rlhf_ppo.critic_clip_loss),
    ("group-advantages", grpo.group_advantages),
    ("dr-grpo-advantages", grpo.dr_grpo_advantages),
    ("grpo-loss", batched_losses.grpo_loss),
    ("dr-grpo-loss", batched_losses.dr_grpo_loss),
    ("dapo-loss", batched_losses.dapo_token_loss),
    ("gspo-loss", grpo.gspo_loss),
    ("dapo-overlong-penalty", grpo.overlong_penalty),
    ("dapo-dynamic-sampling", grpo.dynamic_sampling_filter),
]


@pytest.mark.parametrize("name, function", EXECUTED, ids=[name for name, _ in EXECUTED])
def test_alignment_trainer_formula_passes_its_check(name, function):
    torch.set_num_threads(1)
    report = rlspec.check(name, function, max_examples=15)
    assert report.passed, str(report)


def test_alignment_batched_grpo_loss_without_the_mean_over_lengths_fails_its_check():
    """The check can fail: dropping 1/|o_i| (a token sum) is caught."""
    def wrong(log_probs, old_log_probs, ref_log_probs, advantages, response_mask, clip_epsilon, beta):
        mask = torch.as_tensor(response_mask, dtype=torch.float64)
        lengths = mask.sum(dim=1, keepdim=True)
        return batched_losses.grpo_loss(log_probs, old_log_probs, ref_log_probs, advantages,
                                        response_mask, clip_epsilon, beta) * 0 + \
            batched_losses.dr_grpo_loss(log_probs, old_log_probs, advantages, response_mask,
                                        clip_epsilon, 1.0) + 0 * lengths.sum()
    assert not rlspec.check("grpo-loss", wrong, max_examples=15).passed
