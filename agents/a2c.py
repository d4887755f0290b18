"""A2C: synchronous advantage actor-critic with n-step (or GAE) advantages.

Mnih et al. (2016), the synchronous variant; SB3's defaults.  Every formula is a function
of ``formulas_policy`` that passes its rlspec check: the advantages are GAE, which with
``gae_lambda = 1`` are A3C's n-step advantages R_t - V(s_t) bootstrapped from V of the
state the segment (or a truncated episode) ended in (check ``n-step-advantage``).

The phases of one iteration:
1. collect ``n_steps`` steps of every env (``on_policy.collect_rollout``);
2. advantages A and targets R = A + V on the rollout's own flags;
3. one gradient step on -mean(A log pi) + c_V (1/2) mean (V - R)^2 - c_H mean H;
4. log; every k iterations the rollout's advantages and the value loss and its gradient
   go through the oracles.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlspec.agents import formulas_policy as fp
from rlspec.agents.on_policy import PolicyAgent, collect_rollout, rollout_advantages
from rlspec.agents.training import CommonConfig, Run, TrainResult

__all__ = ["A2CConfig", "train"]


@dataclass
class A2CConfig(CommonConfig):
    learning_rate: float = 7e-4
    n_steps: int = 5                   # steps per env per update
    gae_lambda: float = 1.0            # 1: n-step advantages (A3C)
    # (1/2) mean (V - R)^2 here, so 1.0 equals SB3's vf_coef = 0.5 on mean (V - R)^2.
    value_coefficient: float = 1.0
    entropy_coefficient: float = 0.0
    max_grad_norm: float = 0.5
    rms_prop_alpha: float = 0.99
    rms_prop_epsilon: float = 1e-5
    normalize_advantages: bool = False
    hidden: tuple = (64, 64)


def train(config: A2CConfig) -> TrainResult:
    run = Run("a2c", config)
    agent = PolicyAgent(run.env, config.hidden, run.device, config.seed)
    optimizer = torch.optim.RMSprop(agent.network.parameters(), lr=config.learning_rate,
                                    alpha=config.rms_prop_alpha, eps=config.rms_prop_epsilon)
    observations = run.observations()
    losses = {}
    while run.step < config.total_steps:
        # 1. collect
        rollout, observations = collect_rollout(run, agent, observations, config.n_steps)
        # 2. advantages and targets
        advantages = rollout_advantages(run, rollout, config.gae_lambda)
        returns = advantages + rollout["values"]
        # 3. update
        obs, actions = rollout["obs"].flatten(0, 1), rollout["actions"].flatten(0, 1)
        log_prob, entropy = agent.log_prob_and_entropy(obs, actions)
        values = agent.value(obs)
        flat_advantages = advantages.flatten()
        if config.normalize_advantages:
            flat_advantages = fp.normalize_advantages(flat_advantages)
        loss = (fp.policy_gradient_loss(log_prob, flat_advantages)
                + config.value_coefficient * fp.clipped_value_loss(values, None, returns.flatten(), None)
                - config.entropy_coefficient * entropy.mean())
        run.updates += 1
        if run.validator.due(run.updates):
            run.validator.value_loss(fp.clipped_value_loss, values.detach(),
                                     rollout["values"].flatten(), returns.flatten(), None)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(agent.network.parameters(), config.max_grad_norm)
        optimizer.step()
        losses = {"loss": float(loss.detach()), "entropy": float(entropy.mean().detach())}
        # 4. log
        run.maybe_log(agent, **losses)
    return run.finish(agent, **losses)
