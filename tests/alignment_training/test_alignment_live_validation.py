"""Live validation passes on the trainers' real batches and stops at a planted mismatch;
the exact GRPO expected update equals the average of the trainer's real gradients."""

import argparse
import itertools
import json

import numpy as np
import pytest
import torch

from rlspec.agents.alignment import cli, grpo, grpo_fixed_point, transformer
from rlspec.agents.alignment import dpo as dpo_module
from rlspec.agents.alignment.dpo import DPOConfig, train_dpo
from rlspec.agents.alignment.live_validation import LiveValidationError
from rlspec.agents.alignment.policy import TabularPolicy
from rlspec.agents.alignment.toy_problem import make_toy_problem
from rlspec.toy_mdps.language_model import pad_responses

torch.set_num_threads(1)


def test_alignment_live_validation_stops_a_dpo_trainer_whose_loss_is_wrong(monkeypatch):
    problem = make_toy_problem()
    # A planted bug: the DPO loss with beta applied twice.
    original = dpo_module.dpo_loss
    monkeypatch.setattr(dpo_module, "dpo_loss", lambda a, b, c, d, beta: original(a, b, c, d, beta * beta))
    with pytest.raises(LiveValidationError, match="dpo.loss"):
        train_dpo(TabularPolicy(problem.reference), problem.reference_policy(), problem.online_pairs(),
                  DPOConfig(steps=3, batch_size=8, eval_every=0, validate_every=1))


def test_alignment_exact_expected_update_equals_the_mean_of_real_grpo_gradients():
    """One prompt, 3 responses, G = 3: all 27 groups, each weighted by its probability; the
    trainer's own loss (first pass, ratio 1) differentiated on each group and averaged must
    give the enumerated field to rounding."""
    problem = make_toy_problem(n_prompts=1, vocabulary_size=2, max_length=2)
    policy = TabularPolicy(problem.reference)
    with torch.no_grad():
        policy.logits += torch.as_tensor(np.random.default_rng(3).normal(size=policy.logits.shape))
    frozen = problem.reference_policy()
    config = grpo.GRPOConfig(group_size=3, beta=0.3)
    enumeration = grpo_fixed_point._Enumeration(problem.reference, problem.rewards, 3, "group-std",
                                                config.std_epsilon)
    field = grpo_fixed_point.expected_update(policy, frozen, enumeration, config.beta,
                                             "seq-mean-token-mean")
    probabilities = policy.language_model().response_probabilities()[0]
    average = torch.zeros_like(policy.logits)
    for group in itertools.product(range(3), repeat=3):
        tokens, mask = pad_responses([problem.reference.responses[i] for i in group], 2)
        x = np.zeros(3, dtype=int)
        advantages = enumeration.advantages[0][enumeration.groups.tolist().index(list(group))]
        log_probs = policy.token_log_probs(x, tokens, mask)
        loss = grpo._loss(config, log_probs, log_probs.detach(),
                          frozen.token_log_probs(x, tokens, mask), advantages, mask, 2)
        average += float(np.prod(probabilities[list(group)])) * torch.autograd.grad(loss, policy.logits)[0]
    assert torch.allclose(average, field, atol=1e-12, rtol=0)


def test_alignment_tiny_transformer_fine_tunes_with_grpo_and_dpo_under_live_validation():
    results = transformer.run_demo(pretrain_steps=10, grpo_iterations=10, dpo_steps=10, validate_every=5)
    assert results["grpo"][-1]["reward"] > results["pretrained"]["reward"]
    assert results["dpo"][-1]["reward"] > results["pretrained"]["reward"]


def test_alignment_train_command_writes_metrics_with_the_exact_kl(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    path = tmp_path / "metrics.jsonl"
    code = cli.run(parser.parse_args(["rlhf-ppo", "--steps", "20", "--eval-every", "10",
                                      "--quiet", "--metrics", str(path)]))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert code == 0 and [r["step"] for r in records] == [10, 20]
    assert records[-1]["kl_to_fixed_point"] < records[0]["kl_to_fixed_point"]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == records[-1]
