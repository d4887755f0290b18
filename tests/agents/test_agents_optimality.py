"""DQN and PPO learn an optimal policy of a small toy MDP, proved by exact policy evaluation.

The MDP is Sutton & Barto's 4x4 grid world (Example 4.1) through its gymnasium id, at the
agents' discount 0.99.  "Optimal" means a regret V*(s0) - V^pi(s0) (averaged over the
initial distribution) of 0 up to the oracles' own derived float64 error
(``ExactEvaluator.regret_tolerance``): the greedy policy of the learned network is
evaluated by one linear solve and V* comes from the linear program.  Each test first shows
that the untrained network is *not* optimal, so that the final assertion can fail.
The seeds and budgets are fixed; the runs are deterministic on the CPU.
"""

import numpy as np
import torch

from rlspec.agents import dqn, ppo
from rlspec.agents.exact_evaluation import ExactEvaluator, greedy_table
from rlspec.agents.networks import CategoricalActorCritic, QNetwork
from rlspec.toy_mdps import make

GRID = "rlspec/sb-gridworld-4x4-v0"


def evaluator():
    return ExactEvaluator(make("sb-gridworld-4x4"), gamma=0.99)


def greedy_of(table: torch.Tensor) -> np.ndarray:
    return greedy_table(table.detach().double().numpy())


def test_untrained_networks_are_not_optimal_on_the_grid_world():
    exact, states = evaluator(), torch.eye(16)
    torch.manual_seed(1)
    for network in (QNetwork(16, 4), CategoricalActorCritic(16, 4).actor):
        regret = exact.regret(greedy_of(network(states)))
        assert regret > 100 * exact.regret_tolerance, regret


def test_dqn_learns_an_optimal_policy_of_the_grid_world():
    config = dqn.DQNConfig(env_id=GRID, seed=1, num_envs=8, total_steps=3000, learning_starts=400,
                           train_frequency=8, batch_size=64, target_update_interval=200,
                           exploration_fraction=0.5, learning_rate=3e-3, log_every=1000,
                           buffer_size=4000)
    result = dqn.train(config)
    exact = evaluator()
    q = result.agent.online(torch.eye(16))
    assert exact.is_optimal(greedy_of(q)), exact.regret(greedy_of(q))
    assert result.summary["greedy_regret"] <= exact.regret_tolerance
    assert np.isfinite(result.summary["q_star_error"])


def test_ppo_learns_an_optimal_policy_of_the_grid_world():
    config = ppo.PPOConfig(env_id=GRID, seed=1, num_envs=32, n_steps=32, batch_size=256,
                           n_epochs=4, learning_rate=3e-3, total_steps=8192, log_every=2048)
    result = ppo.train(config)
    exact = evaluator()
    logits = result.agent.network.actor(torch.eye(16))
    assert exact.is_optimal(greedy_of(logits)), exact.regret(greedy_of(logits))
    # The critic tracks the exact V^pi of the (stochastic) policy it evaluates: within 10%
    # of the values' scale (V ranges over about -1 to -22 here) where the policy goes.
    scale = float(np.abs(exact.optimal_values).max())
    assert result.summary["critic_error"] < 0.1 * scale, result.summary
