"""The alignment trainers reach their stated fixed points, measured exactly by enumeration.

Toy problem: ``make_toy_problem()`` (2 prompts, 7 responses each).  KL figures are
E_x KL(pi_trained || pi_fix) over whole responses, exact up to float64 rounding.
"""

import numpy as np
import pytest
import torch

from rlspec.agents.alignment import exact
from rlspec.agents.alignment.dpo import DPOConfig, train_dpo
from rlspec.agents.alignment.grpo import GRPOConfig, train_grpo
from rlspec.agents.alignment.grpo_fixed_point import grpo_fixed_point
from rlspec.agents.alignment.policy import TabularCritic, TabularPolicy
from rlspec.agents.alignment.reward_model import RewardModelConfig, TabularRewardModel, train_reward_model
from rlspec.agents.alignment.rlhf_ppo import RLHFPPOConfig, train_rlhf_ppo
from rlspec.agents.alignment.toy_problem import make_toy_problem
from rlspec.reference.reward_model import fit_tabular_reward

torch.set_num_threads(1)
PROBLEM = make_toy_problem()


def _final(history):
    return history[-1]


def test_alignment_reward_model_reaches_the_maximum_likelihood_reward_and_the_population_gives_the_true_one():
    data = PROBLEM.preference_data(2000, np.random.default_rng(1))
    weights = exact.empirical_pair_weights(*data, PROBLEM.rewards.shape)
    model = TabularRewardModel(*PROBLEM.rewards.shape)
    train_reward_model(model, *data, RewardModelConfig(steps=300, batch_size=2000, eval_every=0,
                                                       validate_every=100))
    learned = model.table.detach().numpy()
    # Full-batch Adam on a strictly convex loss (connected comparisons): optimisation error only.
    assert exact.reward_gap_up_to_prompt_constant(learned, fit_tabular_reward(weights)) < 1e-4
    # The fixed point on the population is the true reward up to a constant per prompt.
    population = fit_tabular_reward(PROBLEM.pair_weights())
    assert exact.reward_gap_up_to_prompt_constant(population, PROBLEM.rewards) < 1e-9


@pytest.mark.parametrize("loss_type", ["dpo", "conservative", "ipo"])
def test_alignment_dpo_family_reaches_its_fixed_point_on_a_data_set(loss_type):
    """Full batch on a fixed data set: the loss is minimised deterministically, so the exact KL
    to the fixed point must fall to rounding level; 1e-8 leaves room for 300 Adam steps."""
    data = PROBLEM.preference_data(1000, np.random.default_rng(1))
    weights = exact.empirical_pair_weights(*data, PROBLEM.rewards.shape)
    config = DPOConfig(loss_type=loss_type, label_smoothing=0.1, steps=300, batch_size=1000,
                       eval_every=0, validate_every=300)
    fixed = (exact.ipo_fixed_point(PROBLEM.reference, weights, config.beta) if loss_type == "ipo"
             else exact.dpo_fixed_point(PROBLEM.reference, weights, config.beta,
                                        config.label_smoothing if loss_type == "conservative" else 0.0))
    policy = TabularPolicy(PROBLEM.reference)
    start = exact.mean_kl(policy.language_model().response_probabilities(), fixed)
    train_dpo(policy, PROBLEM.reference_policy(), PROBLEM.data_set_pairs(*data), config)
    end = exact.mean_kl(policy.language_model().response_probabilities(), fixed)
    assert start > 1e-3 and end < 1e-8


def test_alignment_ipo_population_fixed_point_is_the_win_rate_tilt_not_pi_star():
    weights, beta = PROBLEM.pair_weights(), 0.5
    win = exact.win_rate_against_reference(PROBLEM.reference, PROBLEM.rewards)
    by_closed_form = exact.kl_regularised_optimum(PROBLEM.reference, win, beta)
    assert exact.mean_kl(exact.ipo_fixed_point(PROBLEM.reference, weights, beta), by_closed_form) < 1e-12
    assert exact.mean_kl(by_closed_form, exact.kl_regularised_optimum(PROBLEM.reference, PROBLEM.rewards, beta)) > 0.1


def test_alignment_rlhf_ppo_reaches_pi_star():
    """At pi* every response's KL-penalised return equals beta log Z(x): advantages vanish,
    so PPO settles exactly; 1e-6 is far below the start (about 0.4) and above what 60
    iterations reach on this seed."""
    config = RLHFPPOConfig(iterations=60, rollout_size=128, eval_every=0, validate_every=30)
    target = exact.kl_regularised_optimum(PROBLEM.reference, PROBLEM.rewards, config.kl_coef)
    policy, critic = TabularPolicy(PROBLEM.reference), TabularCritic(PROBLEM.reference)
    train_rlhf_ppo(policy, PROBLEM.reference_policy(), critic, PROBLEM.reward, PROBLEM.prompts, config)
    assert exact.mean_kl(policy.language_model().response_probabilities(), target) < 1e-6


def test_alignment_grpo_with_k3_reaches_its_own_fixed_point_which_is_not_pi_star():
    config = GRPOConfig(iterations=150, groups=16, eval_every=0, validate_every=300)
    fixed, residual = grpo_fixed_point(PROBLEM.reference, PROBLEM.rewards, config.beta,
                                       group_size=config.group_size, step_size=10.0, max_steps=400)
    assert residual < 1e-5
    star = exact.kl_regularised_optimum(PROBLEM.reference, PROBLEM.rewards, config.beta)
    policy = TabularPolicy(PROBLEM.reference)
    train_grpo(policy, PROBLEM.reference_policy(), PROBLEM.reward, PROBLEM.prompts, config,
               PROBLEM.reference.max_length)
    trained = policy.language_model().response_probabilities()
    # Sampling noise of G = 4 groups never vanishes at this fixed point (advantages are not 0
    # there), so the bound is statistical: 5e-3, against 0.125 between the fixed point and pi*.
    assert exact.mean_kl(trained, fixed) < 5e-3
    assert exact.mean_kl(fixed, star) > 0.1
    assert exact.mean_kl(trained, star) > 0.05
