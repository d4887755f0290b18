"""What TD3, DDPG and SAC share: the replay of continuous-action transitions and the loop.

The loop: uniform random actions for the first ``learning_starts`` steps, then the
agent's exploring actions; every step stored with its *final* observation (so a transition
cut by a time limit bootstraps from the state it reached, with ``discounts = gamma (1 -
terminated)``); ``gradient_steps`` updates every ``train_frequency`` steps; logging.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlspec.agents.buffers import ReplayBuffer
from rlspec.agents.training import CommonConfig, Run, TrainResult

__all__ = ["OffPolicyConfig", "ContinuousReplay", "train_off_policy"]


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

    def __init__(self, config: OffPolicyConfig, env, device, generator):
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


def train_off_policy(name: str, config: OffPolicyConfig, make_agent) -> TrainResult:
    """The shared loop; ``make_agent(config, env, device)`` builds a TD3 or SAC agent."""
    run = Run(name, config)
    if run.env.discrete_actions:
        raise ValueError(f"{name} needs a Box action space; {config.env_id} has discrete actions "
                         f"(use dqn, a2c or ppo)")
    agent = make_agent(config, run.env, run.device)
    replay = ContinuousReplay(config, run.env, run.device, agent.generator)
    low, high = run.env.action_low.float(), run.env.action_high.float()
    observations = run.observations()
    last_train, losses = 0, {}
    while run.step < config.total_steps:
        if run.step < config.learning_starts:
            uniform = torch.rand((run.env.num_envs, run.env.n_actions), generator=agent.generator,
                                 device=run.device)
            actions = low + uniform * (high - low)
        else:
            actions = agent.explore(observations)
        step = run.env.step(actions)
        replay.store(observations, actions, step)
        run.observe(step)
        observations = step.observations
        if run.step >= config.learning_starts and run.step - last_train >= config.train_frequency:
            last_train = run.step
            for _ in range(config.gradient_steps):
                run.updates += 1
                losses = agent.update(replay.sample(config.batch_size), run)
        run.maybe_log(agent, **losses)
    return run.finish(agent, **losses)
