"""What A2C and PPO share: the policy (categorical or Gaussian) and the rollout collection.

:class:`PolicyAgent` wraps :class:`~agents.networks.CategoricalActorCritic` or
:class:`~agents.networks.GaussianActorCritic` behind ``sample``, ``evaluate``, ``act`` and
``tables``.  :func:`collect_rollout` fills a ``[T, N]`` rollout, including
``next_values[t] = V(s'_t)`` of the observation each step *reached*: the next step's
observation, or the final observation where the episode ended, so that a truncated step
bootstraps from the state it was cut in (one batched critic pass for those, after the
rollout).
"""

from __future__ import annotations

import torch

from rlspec.agents.buffers import Rollout
from rlspec.agents import formulas_policy as fp
from rlspec.agents.networks import CategoricalActorCritic, GaussianActorCritic

__all__ = ["PolicyAgent", "collect_rollout", "rollout_advantages"]


class PolicyAgent:
    """An actor-critic policy for discrete or continuous (Box) actions."""

    def __init__(self, env, hidden, device, seed: int):
        self.discrete = env.discrete_actions
        self.generator = torch.Generator(device=device).manual_seed(seed)
        if self.discrete:
            self.network = CategoricalActorCritic(env.observation_size, env.n_actions, hidden)
        else:
            self.network = GaussianActorCritic(env.observation_size, env.n_actions, hidden)
            self.low, self.high = env.action_low.float(), env.action_high.float()
        self.network.to(device)
        self.action_shape = () if self.discrete else (env.n_actions,)

    def value(self, observations) -> torch.Tensor:
        return self.network.value(observations)

    def log_prob_and_entropy(self, observations, actions):
        """log pi(a|s) and the entropy H(pi(.|s)), by the checked formulas."""
        if self.discrete:
            logits = self.network.actor(observations)
            log_p = torch.log_softmax(logits, dim=-1).gather(1, actions.long().unsqueeze(1))
            return log_p.squeeze(1), fp.categorical_entropy(logits)
        mean, log_std = self.network.mean_and_log_std(observations)
        return (fp.diagonal_gaussian_log_prob(mean, log_std, actions),
                fp.diagonal_gaussian_entropy(log_std))

    @torch.no_grad()
    def sample(self, observations):
        """(actions to store, actions for the env, log pi, V) for a batch of observations."""
        values = self.value(observations)
        if self.discrete:
            logits = self.network.actor(observations)
            actions = torch.multinomial(torch.softmax(logits, dim=-1), 1,
                                        generator=self.generator).squeeze(1)
            env_actions = actions
        else:
            mean, log_std = self.network.mean_and_log_std(observations)
            noise = torch.randn(mean.shape, generator=self.generator, device=mean.device)
            actions = mean + log_std.exp() * noise
            # The env gets the action clipped to its box; the rollout keeps the sample, whose
            # log-probability is the one the ratio needs.
            env_actions = torch.maximum(torch.minimum(actions, self.high), self.low)
        log_prob, _ = self.log_prob_and_entropy(observations, actions)
        return actions, env_actions, log_prob, values

    @torch.no_grad()
    def act(self, observations, deterministic: bool = True) -> torch.Tensor:
        if not deterministic:
            return self.sample(observations)[1]
        if self.discrete:
            return self.network.actor(observations).argmax(dim=-1)
        mean, _ = self.network.mean_and_log_std(observations)
        return torch.maximum(torch.minimum(mean, self.high), self.low)

    def modules(self) -> dict:
        return {"actor_critic": self.network}

    def tables(self, states) -> dict:
        policy = torch.softmax(self.network.actor(states), dim=-1)
        return {"policy": policy, "values": self.value(states), "greedy": policy}


def collect_rollout(run, agent: PolicyAgent, observations, steps: int) -> tuple[Rollout, torch.Tensor]:
    """Run ``steps`` vector steps; return the rollout and the observations to continue from."""
    env = run.env
    fields = {"obs": (env.observation_size,), "actions": agent.action_shape,
              "final_obs": (env.observation_size,), "log_probs": (), "values": (), "rewards": (),
              "terminated": (), "truncated": (), "next_values": (), "done": ()}
    rollout = Rollout(steps, env.num_envs, fields,
                      dtypes={"actions": torch.int64 if agent.discrete else torch.float32},
                      device=run.device)
    for t in range(steps):
        actions, env_actions, log_probs, values = agent.sample(observations)
        step = env.step(env_actions)
        run.observe(step)
        rollout.store(t, obs=observations, actions=actions, log_probs=log_probs, values=values,
                      rewards=step.rewards, terminated=step.terminated, truncated=step.truncated,
                      final_obs=step.final_observations, done=step.done.float())
        observations = step.observations
    with torch.no_grad():
        values = rollout["values"]
        next_values = torch.cat([values[1:], agent.value(observations).unsqueeze(0)])
        done = rollout["done"].bool()
        if done.any():
            next_values[done] = agent.value(rollout["final_obs"][done])
    rollout.store(slice(None), next_values=next_values)
    return rollout, observations


def rollout_advantages(run, rollout: Rollout, gae_lambda: float) -> torch.Tensor:
    """GAE on the rollout's own rewards, values and flags; validated when the coming update
    (number ``run.updates + 1``) is due."""
    arguments = (rollout["rewards"], rollout["values"], rollout["next_values"],
                 rollout["terminated"], rollout["truncated"], run.gamma, gae_lambda)
    advantages = fp.generalized_advantages(*arguments)
    if run.validator.due(run.updates + 1):
        run.validator.begin(run.updates + 1, run.step)
        run.validator.advantages(*arguments, advantages)
    return advantages
