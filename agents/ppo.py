"""PPO with the clipped objective, discrete or continuous actions, bootstrapping at truncation.

Schulman et al. (2017), with GAE (Schulman et al. 2016) and the implementation choices of
OpenAI baselines' PPO2 that SB3 and CleanRL keep: per-minibatch advantage normalisation,
optional value clipping, gradient-norm clipping.  Every formula is a function of
``formulas_policy`` that passes its rlspec check.

The phases of one iteration:
1. collect ``n_steps`` steps of every env (``on_policy.collect_rollout``); ``next_values``
   is V of the state each step reached, the final observation at a time limit;
2. advantages: GAE on the rollout's own rewards, values and terminated/truncated flags;
3. update: ``n_epochs`` passes of shuffled minibatches through ``ppo_total_loss``;
4. log; every k iterations (``validate_every``) the rollout's advantages and the first
   minibatch's losses and gradients go through the oracles.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlspec.agents import formulas_policy as fp
from rlspec.agents.on_policy import PolicyAgent, collect_rollout, rollout_advantages
from rlspec.agents.training import CommonConfig, Run, TrainResult

__all__ = ["PPOConfig", "train", "update"]


@dataclass
class PPOConfig(CommonConfig):
    learning_rate: float = 3e-4
    n_steps: int = 2048                # steps per env per rollout
    batch_size: int = 64               # minibatch size
    n_epochs: int = 10
    gae_lambda: float = 0.95
    clip_epsilon: float = 0.2
    value_clip_epsilon: float | None = None
    # Our value loss is (1/2) mean (V - R)^2, so 1.0 here equals SB3's vf_coef = 0.5 on its
    # mean (V - R)^2.
    value_coefficient: float = 1.0
    entropy_coefficient: float = 0.0
    normalize_advantages: bool = True
    max_grad_norm: float = 0.5
    hidden: tuple = (64, 64)


def update(run: Run, agent: PolicyAgent, optimizer, rollout, advantages, config) -> dict:
    """``n_epochs`` passes of minibatch updates (phase 3); returns the last losses."""
    flat = {name: rollout[name].flatten(0, 1) for name in ("obs", "actions", "log_probs", "values")}
    flat_advantages = advantages.flatten()
    size = flat_advantages.numel()
    validate = run.validator.due(run.updates + 1)
    for _ in range(config.n_epochs):
        order = torch.randperm(size, generator=agent.generator, device="cpu").to(run.device)
        for start in range(0, size, config.batch_size):
            batch = order[start:start + config.batch_size]
            log_prob, entropy = agent.log_prob_and_entropy(flat["obs"][batch], flat["actions"][batch])
            values = agent.value(flat["obs"][batch])
            loss = fp.ppo_total_loss(log_prob, flat["log_probs"][batch], flat_advantages[batch],
                                     values, flat["values"][batch], entropy, config.clip_epsilon,
                                     config.value_clip_epsilon, config.value_coefficient,
                                     config.entropy_coefficient, config.normalize_advantages)
            if validate:
                validate = False
                raw = flat_advantages[batch]
                run.validator.ppo_minibatch(
                    fp, log_prob.detach(), flat["log_probs"][batch], raw,
                    fp.normalize_advantages(raw) if config.normalize_advantages else raw,
                    values.detach(), flat["values"][batch], raw + flat["values"][batch],
                    config.clip_epsilon, config.value_clip_epsilon)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(agent.network.parameters(), config.max_grad_norm)
            optimizer.step()
    run.updates += 1
    return {"loss": float(loss.detach()), "entropy": float(entropy.mean().detach())}


def train(config: PPOConfig) -> TrainResult:
    run = Run("ppo", config)
    agent = PolicyAgent(run.env, config.hidden, run.device, config.seed)
    optimizer = torch.optim.Adam(agent.network.parameters(), lr=config.learning_rate, eps=1e-5)
    observations = run.observations()
    losses = {}
    while run.step < config.total_steps:
        # 1. collect
        rollout, observations = collect_rollout(run, agent, observations, config.n_steps)
        # 2. advantages
        advantages = rollout_advantages(run, rollout, config.gae_lambda)
        # 3. update
        losses = update(run, agent, optimizer, rollout, advantages, config)
        # 4. log
        run.maybe_log(agent, **losses)
    return run.finish(agent, **losses)
