"""``rlspec train reward-model|dpo|rlhf-ppo|grpo|dr-grpo|dapo|gspo``: the command's logic.

The lead wires ``add_arguments`` and ``run`` into the ``rlspec`` CLI.  On the enumerable toy
problem (``--problem toy``, the default) every evaluation is exact: the metrics file gets
``kl_to_fixed_point``, ``expected_reward`` and ``kl_to_reference`` at every ``--eval-every``
step, and the last line printed is the final record as JSON.  ``--problem transformer``
(dpo, grpo and its variants) fine-tunes the tiny transformer on the sorting task and logs
held-out reward and accuracy.  Exit code 0, or 1 if live validation found a mismatch.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from rlspec.agents.alignment import exact
from rlspec.agents.alignment.dpo import LOSS_TYPES, DPOConfig, train_dpo
from rlspec.agents.alignment.grpo import GRPOConfig, train_grpo
from rlspec.agents.alignment.grpo_fixed_point import grpo_fixed_point
from rlspec.agents.alignment.live_validation import LiveValidationError
from rlspec.agents.alignment.metrics_log import MetricsLog
from rlspec.agents.alignment.policy import TabularCritic, TabularPolicy
from rlspec.agents.alignment.reward_model import RewardModelConfig, TabularRewardModel, train_reward_model
from rlspec.agents.alignment.rlhf_ppo import RLHFPPOConfig, train_rlhf_ppo
from rlspec.agents.alignment.toy_problem import make_toy_problem
from rlspec.reference.reward_model import fit_tabular_reward

__all__ = ["ALGORITHMS", "add_arguments", "run"]

ALGORITHMS = ("reward-model", "dpo", "rlhf-ppo", "grpo", "dr-grpo", "dapo", "gspo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("algorithm", choices=ALGORITHMS)
    parser.add_argument("--problem", choices=("toy", "transformer"), default="toy")
    parser.add_argument("--steps", type=int, default=None,
                        help="updates (reward-model, dpo) or iterations (rlhf-ppo, grpo family)")
    parser.add_argument("--beta", type=float, default=0.5, help="KL strength (DPO beta, PPO kl_coef, GRPO beta)")
    parser.add_argument("--loss-type", choices=LOSS_TYPES, default="dpo")
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--pairs", type=int, default=1000,
                        help="preference data set size; 0: fresh pairs from the population every step")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--validate-every", type=int, default=10,
                        help="live validation of the real batch against the oracles every k updates (0: off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--metrics", default=None, help="JSON-lines metrics file")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def _toy_run(args, metrics) -> list[dict]:
    problem = make_toy_problem(seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    show = not args.quiet
    reference = problem.reference_policy()

    def report_against(fixed):
        return lambda policy: exact.exact_report(policy.language_model(), problem.reference,
                                                 problem.rewards, fixed)

    if args.algorithm == "reward-model":
        data = problem.preference_data(max(args.pairs, 1), rng)
        fitted = fit_tabular_reward(exact.empirical_pair_weights(*data, problem.rewards.shape))
        model = TabularRewardModel(*problem.rewards.shape)

        def evaluate(model):
            learned = model.table.detach().numpy()
            return {"gap_to_maximum_likelihood": exact.reward_gap_up_to_prompt_constant(learned, fitted),
                    "gap_to_true_reward": exact.reward_gap_up_to_prompt_constant(learned, problem.rewards)}
        config = RewardModelConfig(steps=args.steps or 300, batch_size=len(data[0]),
                                   eval_every=args.eval_every, validate_every=args.validate_every, seed=args.seed)
        return train_reward_model(model, *data, config, evaluate, metrics, show)
    policy = TabularPolicy(problem.reference)
    if args.algorithm == "dpo":
        config = DPOConfig(beta=args.beta, loss_type=args.loss_type, label_smoothing=args.label_smoothing,
                           steps=args.steps or 300, eval_every=args.eval_every,
                           validate_every=args.validate_every, seed=args.seed)
        if args.pairs > 0:
            data = problem.preference_data(args.pairs, rng)
            weights, pairs = exact.empirical_pair_weights(*data, problem.rewards.shape), problem.data_set_pairs(*data)
            config.batch_size = args.pairs
        else:
            weights, pairs = problem.pair_weights(), problem.online_pairs()
        smoothing = config.label_smoothing if config.loss_type == "conservative" else 0.0
        fixed = (exact.ipo_fixed_point(problem.reference, weights, config.beta) if config.loss_type == "ipo"
                 else None if config.loss_type == "hinge"
                 else exact.dpo_fixed_point(problem.reference, weights, config.beta, smoothing))
        return train_dpo(policy, reference, pairs, config, report_against(fixed), metrics, show)
    if args.algorithm == "rlhf-ppo":
        config = RLHFPPOConfig(kl_coef=args.beta, iterations=args.steps or 100, eval_every=args.eval_every,
                               validate_every=args.validate_every, seed=args.seed)
        fixed = exact.kl_regularised_optimum(problem.reference, problem.rewards, config.kl_coef)
        return train_rlhf_ppo(policy, reference, TabularCritic(problem.reference), problem.reward,
                              problem.prompts, config, report_against(fixed), metrics, show)
    config = GRPOConfig(variant=args.algorithm, beta=args.beta, iterations=args.steps or 150,
                        eval_every=args.eval_every, validate_every=args.validate_every, seed=args.seed)
    reward = problem.reward
    fixed = None
    if args.algorithm == "grpo":
        fixed = grpo_fixed_point(problem.reference, problem.rewards, config.beta, config.group_size,
                                 step_size=10.0, max_steps=1500)[0]
    elif args.algorithm == "dapo":  # DAPO needs a 0/1 accuracy: 1 for each prompt's best response
        best = (problem.rewards == problem.rewards.max(axis=1, keepdims=True)).astype(float)
        reward = problem.reward_from_table(best)
    return train_grpo(policy, reference, reward, problem.prompts, config, problem.reference.max_length,
                      report_against(fixed), metrics, show)


def _transformer_run(args, metrics) -> list[dict]:
    from rlspec.agents.alignment import transformer

    if args.algorithm not in ("dpo", "grpo", "dr-grpo", "dapo", "gspo"):
        raise SystemExit(f"--problem transformer supports dpo and the GRPO family, not {args.algorithm}")
    task = transformer.SortTask()
    evaluate = transformer.held_out_evaluation(task)
    policy = transformer.TinyTransformer(task, seed=args.seed)
    transformer.pretrain(policy, 10, seed=args.seed)
    reference = transformer.frozen_copy(policy)
    if args.algorithm == "dpo":
        config = DPOConfig(beta=0.1, loss_type=args.loss_type, label_smoothing=args.label_smoothing,
                           steps=args.steps or 60, batch_size=64, learning_rate=1e-3,
                           eval_every=args.eval_every, validate_every=args.validate_every, seed=args.seed)
        return train_dpo(policy, reference, transformer.preference_pairs(task, reference), config,
                         evaluate, metrics, not args.quiet)
    config = GRPOConfig(variant=args.algorithm, beta=0.04, group_size=8, groups=16,
                        iterations=args.steps or 60, learning_rate=1e-3, eval_every=args.eval_every,
                        validate_every=args.validate_every, seed=args.seed)
    reward = task.accuracy if args.algorithm == "dapo" else task.reward
    return train_grpo(policy, reference, reward, task.prompts, config, task.max_length, evaluate,
                      metrics, not args.quiet)


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)  # tiny models: threads only contend
    metrics = MetricsLog(args.metrics)
    try:
        history = (_toy_run if args.problem == "toy" else _transformer_run)(args, metrics)
    except LiveValidationError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        metrics.close()
    if history:
        print(json.dumps(history[-1]))
    return 0
