"""What the off-policy agents share: the loop (DQN, TD3, DDPG, SAC) and a replay of
continuous-action transitions (TD3, DDPG, SAC).

The loop: act (uniform random actions for the first ``learning_starts`` steps of a Box
action space), store every step with its *final* observation (so a transition cut by a
time limit bootstraps from the state it reached, with ``discounts = gamma (1 -
terminated)``), ``gradient_steps`` updates every ``train_frequency`` steps, log.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlspec.agents.buffers import ReplayBuffer
from rlspec.agents.training import CommonConfig, Run, TrainResult

__all__ = ["OffPolicyConfig", "ContinuousReplay", "ReplayingAgent", "train_off_policy"]


@dataclass
class OffPolicyConfig(CommonConfig):
    buffer_size: int = 1_000_000
    batch_size: int = 256
    learning_starts: int = 100        # environment steps of uniform random actions
    train_frequency: int = 1
    gradient_steps: int = 1
    tau: float = 0.005                # Polyak rate of the target networks
    hidden: tuple = (256, 256)


class ContinuousReplay:
    """A :class:`ReplayBuffer` of (s, a, r, s', terminated) and uniform batches of it."""

    def __init__(self, config, env, device, generator):
        if env.discrete_actions:
            raise ValueError(f"TD3, DDPG and SAC need a Box action space; {config.env_id} has "
                             f"discrete actions (use dqn, a2c or ppo)")
        fields = {"obs": (env.observation_size,), "next_obs": (env.observation_size,),
                  "actions": (env.n_actions,), "rewards": (), "terminated": ()}
        self.buffer = ReplayBuffer(max(1, config.buffer_size // env.num_envs), env.num_envs,
                                   fields, device=device)
        self.generator = generator

    def store(self, observations, actions, step) -> None:
        self.buffer.add(obs=observations, actions=actions, rewards=step.rewards,
                        next_obs=step.final_observations, terminated=step.terminated)

    def sample(self, batch_size: int) -> dict:
        items = self.buffer.sample_items(batch_size, self.generator)
        return self.buffer.gather(items, ("obs", "actions", "rewards", "next_obs", "terminated"))


class ReplayingAgent:
    """The part of TD3 and SAC the loop talks to besides ``explore`` and ``update``."""

    replay: ContinuousReplay

    def store(self, observations, actions, step) -> None:
        self.replay.store(observations, actions, step)

    def after_step(self, run) -> None:
        """Nothing between steps: the target networks move inside ``update``."""


def train_off_policy(name: str, config, make_agent) -> TrainResult:
    """The loop DQN, TD3, DDPG and SAC share.

    ``make_agent(config, env, device)`` builds an agent with ``explore(observations)``,
    ``store(observations, actions, step)``, ``update(run) -> dict`` of losses (``run.updates``
    is already counted) and ``after_step(run)``.  With a Box action space the first
    ``learning_starts`` steps take uniform random actions (DQN explores by epsilon instead).
    """
    run = Run(name, config)
    agent = make_agent(config, run.env, run.device)
    observations = run.observations()
    last_train, losses = 0, {}
    while run.step < config.total_steps:
        # 1. collect
        if run.step < config.learning_starts and not run.env.discrete_actions:
            low, high = run.env.action_low.float(), run.env.action_high.float()
            uniform = torch.rand((run.env.num_envs, run.env.n_actions), generator=agent.generator,
                                 device=run.device)
            actions = low + uniform * (high - low)
        else:
            actions = agent.explore(observations)
        step = run.env.step(actions)
        agent.store(observations, actions, step)
        run.observe(step)
        observations = step.observations
        # 2. updates
        if run.step >= config.learning_starts and run.step - last_train >= config.train_frequency:
            last_train = run.step
            for _ in range(config.gradient_steps):
                run.updates += 1
                losses = agent.update(run)
        agent.after_step(run)
        # 3. log
        run.maybe_log(agent, **losses)
    return run.finish(agent, **losses)
