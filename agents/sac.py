"""SAC with twin critics and automatic temperature.

Haarnoja et al. (2018a, 2018b).  Every formula is a function of ``formulas_continuous``
that passes its rlspec check.

One update:
1. targets: a' ~ pi(.|s') with its log-probability (squashed Gaussian); y = r + gamma
   (1 - terminated) (min(Q'_1, Q'_2)(s', a') - alpha log pi(a'|s'));
2. critics: (1/2) mean (Q_j - y)^2 summed over both, one Adam step;
3. actor: mean(alpha log pi(a|s) - min(Q_1, Q_2)(s, a)) with a reparameterised;
4. temperature: mean(-alpha (log pi + target entropy)), log alpha the parameter;
5. the target critics move by Polyak averaging; every k updates (``validate_every``) the
   targets, the actor and temperature losses with their gradients, and log pi go through
   the oracles.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from rlspec.agents import formulas_continuous as fc
from rlspec.agents.formulas_value import td_loss
from rlspec.agents.networks import QCritic, SquashedGaussianActor
from rlspec.agents.off_policy import (ContinuousReplay, OffPolicyConfig, ReplayingAgent,
                                      train_off_policy)
from rlspec.agents.training import TrainResult

__all__ = ["SACConfig", "SACAgent", "train"]


@dataclass
class SACConfig(OffPolicyConfig):
    learning_rate: float = 3e-4
    initial_alpha: float = 1.0
    auto_temperature: bool = True
    target_entropy: float | None = None   # None: -dim(A), Haarnoja et al. (2018b)


class SACAgent(ReplayingAgent):
    def __init__(self, config: SACConfig, env, device):
        self.config = config
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.replay = ContinuousReplay(config, env, device, self.generator)
        self.actor = SquashedGaussianActor(env.observation_size, env.action_low, env.action_high,
                                           config.hidden).to(device)
        self.critics = torch.nn.ModuleList(QCritic(env.observation_size, env.n_actions,
                                                   config.hidden) for _ in range(2)).to(device)
        self.critics_target = copy.deepcopy(self.critics)
        self.log_alpha = torch.tensor(float(torch.log(torch.tensor(config.initial_alpha))),
                                      device=device, requires_grad=config.auto_temperature)
        self.target_entropy = (-float(env.n_actions) if config.target_entropy is None
                               else config.target_entropy)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.learning_rate)
        self.critic_optimizer = torch.optim.Adam(self.critics.parameters(), lr=config.learning_rate)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=config.learning_rate)

    def act(self, observations, deterministic: bool = True) -> torch.Tensor:
        with torch.no_grad():
            return self.actor(observations, deterministic=deterministic)[0]

    def explore(self, observations) -> torch.Tensor:
        return self.act(observations, deterministic=False)

    def update(self, run) -> dict:
        batch = self.replay.sample(self.config.batch_size)
        config, critics = self.config, self.critics
        alpha = float(self.log_alpha.detach().exp())
        # 1. targets
        with torch.no_grad():
            next_actions, next_log_probs = self.actor(batch["next_obs"])
            next_q1, next_q2 = (critic(batch["next_obs"], next_actions)
                                for critic in self.critics_target)
            discounts = run.gamma * (1.0 - batch["terminated"])
            targets = fc.soft_q_targets(batch["rewards"], discounts, next_q1, next_q2,
                                        next_log_probs, alpha)
        # 2. critics
        critic_loss = sum(td_loss(critic(batch["obs"], batch["actions"]), targets)
                          for critic in critics)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        # 3. actor
        actions, log_probs = self.actor(batch["obs"])
        q1, q2 = (critic(batch["obs"], actions) for critic in critics)
        actor_loss = fc.sac_actor_loss(log_probs, q1, q2, alpha)
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        # 4. temperature
        losses = {"critic_loss": float(critic_loss.detach()), "actor_loss": float(actor_loss.detach()),
                  "alpha": alpha}
        if config.auto_temperature:
            alpha_loss = fc.temperature_loss(self.log_alpha, log_probs, self.target_entropy)
            self.alpha_optimizer.zero_grad()
            alpha_loss.backward()
            self.alpha_optimizer.step()
        # 5. targets move; validation
        fc.soft_update_(self.critics_target.parameters(), critics.parameters(), config.tau)
        if run.validator.due(run.updates):
            self.validate(run, batch, next_q1, next_q2, next_log_probs, targets, log_probs, q1, q2,
                          alpha)
        return losses

    def validate(self, run, batch, next_q1, next_q2, next_log_probs, targets, log_probs, q1, q2,
                 alpha) -> None:
        validator = run.validator
        validator.begin(run.updates, run.step)
        validator.continuous_targets(batch["rewards"], batch["terminated"], next_q1, next_q2,
                                     targets, run.gamma, next_log_probs, alpha)
        with torch.no_grad():  # the actor's Gaussian at this batch, for the log pi oracle
            mean, log_std = self.actor.gaussian(batch["obs"])
            pre_tanh = mean + log_std.exp() * torch.randn_like(mean)
        validator.sac_losses(fc, log_probs.detach(), q1.detach(), q2.detach(), alpha,
                             self.log_alpha.detach() if self.config.auto_temperature else None,
                             self.target_entropy, mean, log_std, pre_tanh)

    def modules(self) -> dict:
        return {"actor": self.actor, "critics": self.critics}


def train(config: SACConfig) -> TrainResult:
    return train_off_policy("sac", config, SACAgent)
