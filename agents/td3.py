"""TD3, with DDPG as its special case (one critic, no target smoothing, no delay).

Fujimoto et al. (2018); Lillicrap et al. (2016) for DDPG.  Every formula is a function of
``formulas_continuous`` that passes its rlspec check.

One update:
1. targets: the target actor's action at s', smoothed with clipped noise; y = r + gamma
   (1 - terminated) min(Q'_1, Q'_2) (DDPG: Q'_1 at the unsmoothed action);
2. critics: (1/2) mean (Q_j - y)^2 summed over the critics, one Adam step;
3. every ``policy_delay``-th update: the actor ascends Q_1(s, mu(s)), and every target
   network moves by Polyak averaging;
4. every k updates (``validate_every``) the targets and the smoothing go through the oracles.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from rlspec.agents import formulas_continuous as fc
from rlspec.agents.formulas_value import td_loss
from rlspec.agents.networks import DeterministicActor, QCritic
from rlspec.agents.off_policy import (ContinuousReplay, OffPolicyConfig, ReplayingAgent,
                                      train_off_policy)
from rlspec.agents.training import TrainResult

__all__ = ["TD3Config", "TD3Agent", "train", "ddpg_config"]


@dataclass
class TD3Config(OffPolicyConfig):
    learning_rate: float = 1e-3
    hidden: tuple = (400, 300)
    policy_delay: int = 2
    target_noise: float = 0.2         # std of the target smoothing noise, x half the box width
    target_noise_clip: float = 0.5    # its clip, x half the box width
    exploration_noise: float = 0.1    # std of the Gaussian exploration noise, x half the width
    twin_critics: bool = True


def ddpg_config(**options) -> TD3Config:
    """DDPG as TD3 with one critic, no target smoothing and no delay."""
    return TD3Config(**{"policy_delay": 1, "target_noise": 0.0, "target_noise_clip": 0.0,
                        "twin_critics": False, **options})


class TD3Agent(ReplayingAgent):
    def __init__(self, config: TD3Config, env, device):
        self.config = config
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.replay = ContinuousReplay(config, env, device, self.generator)
        self.low, self.high = env.action_low.float(), env.action_high.float()
        self.half_width = (self.high - self.low) / 2
        self.actor = DeterministicActor(env.observation_size, self.low, self.high,
                                        config.hidden).to(device)
        count = 2 if config.twin_critics else 1
        self.critics = torch.nn.ModuleList(QCritic(env.observation_size, env.n_actions,
                                                   config.hidden) for _ in range(count)).to(device)
        self.actor_target, self.critics_target = copy.deepcopy(self.actor), copy.deepcopy(self.critics)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.learning_rate)
        self.critic_optimizer = torch.optim.Adam(self.critics.parameters(), lr=config.learning_rate)

    def act(self, observations, deterministic: bool = True) -> torch.Tensor:
        with torch.no_grad():
            return self.actor(observations)

    def explore(self, observations) -> torch.Tensor:
        actions = self.act(observations)
        noise = torch.randn(actions.shape, generator=self.generator, device=actions.device)
        noisy = actions + self.config.exploration_noise * self.half_width * noise
        return torch.maximum(torch.minimum(noisy, self.high), self.low)

    def update(self, run) -> dict:
        batch = self.replay.sample(self.config.batch_size)
        config, critics = self.config, self.critics
        # 1. targets
        with torch.no_grad():
            next_actions = self.actor_target(batch["next_obs"])
            noise = torch.randn(next_actions.shape, generator=self.generator,
                                device=next_actions.device) * config.target_noise * self.half_width
            smoothed = fc.smoothed_target_actions(next_actions, noise,
                                                  config.target_noise_clip * float(self.half_width.max()),
                                                  self.low, self.high)
            next_q = [critic(batch["next_obs"], smoothed) for critic in self.critics_target]
            discounts = run.gamma * (1.0 - batch["terminated"])
            targets = fc.clipped_double_q_targets(batch["rewards"], discounts, next_q[0], next_q[-1])
        if run.validator.due(run.updates):
            run.validator.begin(run.updates, run.step)
            run.validator.continuous_targets(batch["rewards"], batch["terminated"], next_q[0],
                                             next_q[-1], targets, run.gamma)
            run.validator.smoothing(next_actions, noise, config.target_noise_clip
                                    * float(self.half_width.max()), self.low, self.high, smoothed)
        # 2. critics
        critic_loss = sum(td_loss(critic(batch["obs"], batch["actions"]), targets)
                          for critic in critics)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        losses = {"critic_loss": float(critic_loss.detach())}
        # 3. delayed actor and target updates
        if fc.policy_update_due(run.updates, config.policy_delay):
            actor_loss = fc.deterministic_actor_loss(critics[0](batch["obs"], self.actor(batch["obs"])))
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            fc.soft_update_(self.actor_target.parameters(), self.actor.parameters(), config.tau)
            fc.soft_update_(self.critics_target.parameters(), critics.parameters(), config.tau)
            losses["actor_loss"] = float(actor_loss.detach())
        return losses

    def modules(self) -> dict:
        return {"actor": self.actor, "critics": self.critics}


def train(config: TD3Config) -> TrainResult:
    name = "td3" if config.twin_critics else "ddpg"
    return train_off_policy(name, config, TD3Agent)
