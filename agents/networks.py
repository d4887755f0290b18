"""The networks the agents share: plain MLPs and the heads built on them.

* :class:`QNetwork`: Q(s, .) for DQN, optionally dueling (``formulas_value.dueling_aggregate``)
  and/or distributional (C51: a softmax over ``atoms`` per action);
* :class:`CategoricalActorCritic`, :class:`GaussianActorCritic`: separate actor and critic
  MLPs for A2C and PPO;
* :class:`DeterministicActor`, :class:`SquashedGaussianActor`, :class:`QCritic` for TD3
  and SAC; actions are scaled from [-1, 1] to the action box.
"""

from __future__ import annotations

import torch
from torch import nn

from rlspec.agents.formulas_continuous import rescale_squashed_action, squashed_gaussian_log_prob
from rlspec.agents.formulas_value import dueling_aggregate

__all__ = ["mlp", "QNetwork", "CategoricalActorCritic", "GaussianActorCritic",
           "DeterministicActor", "SquashedGaussianActor", "QCritic"]


def mlp(sizes, activation=nn.Tanh, output_gain: float | None = None) -> nn.Sequential:
    """Linear layers of the given sizes with ``activation`` between them (not after the last).

    ``output_gain`` gives the last layer an orthogonal initialisation with that gain (0.01
    for a policy's logits makes the initial policy nearly uniform, as in PPO
    implementations); the hidden layers keep torch's default initialisation.
    """
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    if output_gain is not None:
        nn.init.orthogonal_(layers[-1].weight, gain=output_gain)
        nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


class QNetwork(nn.Module):
    """Q(s, a) for every action; dueling and C51 as options."""

    def __init__(self, observation_size: int, n_actions: int, hidden=(64, 64), dueling=False,
                 atoms: int = 1, v_min: float = -10.0, v_max: float = 10.0):
        super().__init__()
        self.n_actions, self.atoms, self.dueling = n_actions, atoms, dueling
        self.body = mlp([observation_size, *hidden], activation=nn.ReLU)
        self.body.append(nn.ReLU())
        width = hidden[-1]
        self.advantage_head = nn.Linear(width, n_actions * atoms)
        self.value_head = nn.Linear(width, atoms) if dueling else None
        if atoms > 1:
            self.register_buffer("support", torch.linspace(v_min, v_max, atoms))

    def logits(self, observations) -> torch.Tensor:
        """[B, A] Q-values, or [B, A, atoms] distribution logits for C51."""
        features = self.body(observations)
        advantages = self.advantage_head(features).view(-1, self.n_actions, self.atoms)
        if self.value_head is not None:
            values = self.value_head(features)                         # [B, atoms]
            # Aggregate per atom: the dueling formula acts on each atom's logits, so the
            # (batch, atom) pairs become the rows of one [B * atoms, A] call.
            rows = advantages.permute(0, 2, 1).reshape(-1, self.n_actions)
            aggregated = dueling_aggregate(values.reshape(-1), rows)
            advantages = aggregated.view(-1, self.atoms, self.n_actions).permute(0, 2, 1)
        return advantages.squeeze(2) if self.atoms == 1 else advantages

    def forward(self, observations) -> torch.Tensor:
        """Q(s, .) [B, A]; for C51 the mean of each action's distribution."""
        logits = self.logits(observations)
        if self.atoms == 1:
            return logits
        return (torch.softmax(logits, dim=2) * self.support).sum(dim=2)


class CategoricalActorCritic(nn.Module):
    """pi(.|s) as softmax logits and V(s), two MLPs (discrete actions)."""

    def __init__(self, observation_size: int, n_actions: int, hidden=(64, 64)):
        super().__init__()
        self.actor = mlp([observation_size, *hidden, n_actions], output_gain=0.01)
        self.critic = mlp([observation_size, *hidden, 1], output_gain=1.0)

    def value(self, observations) -> torch.Tensor:
        return self.critic(observations).squeeze(-1)

    def distribution(self, observations):
        return torch.distributions.Categorical(logits=self.actor(observations))


class GaussianActorCritic(nn.Module):
    """A diagonal Gaussian policy N(mu(s), exp(log_std)^2), log_std state-independent."""

    def __init__(self, observation_size: int, action_size: int, hidden=(64, 64),
                 initial_log_std: float = 0.0):
        super().__init__()
        self.actor = mlp([observation_size, *hidden, action_size], output_gain=0.01)
        self.log_std = nn.Parameter(torch.full((action_size,), initial_log_std))
        self.critic = mlp([observation_size, *hidden, 1], output_gain=1.0)

    def value(self, observations) -> torch.Tensor:
        return self.critic(observations).squeeze(-1)

    def mean_and_log_std(self, observations):
        mean = self.actor(observations)
        return mean, self.log_std.expand_as(mean)


class DeterministicActor(nn.Module):
    """mu(s) = low + (tanh(f(s)) + 1) (high - low) / 2, inside the action box."""

    def __init__(self, observation_size: int, action_low, action_high, hidden=(256, 256)):
        super().__init__()
        self.net = mlp([observation_size, *hidden, action_low.numel()], activation=nn.ReLU)
        self.register_buffer("low", action_low.float())
        self.register_buffer("high", action_high.float())

    def forward(self, observations) -> torch.Tensor:
        return rescale_squashed_action(self.net(observations), self.low, self.high)


class SquashedGaussianActor(nn.Module):
    """a = tanh(u), u ~ N(mu(s), sigma(s)^2), scaled to the box; log pi by the squash formula."""

    LOG_STD_RANGE = (-5.0, 2.0)

    def __init__(self, observation_size: int, action_low, action_high, hidden=(256, 256)):
        super().__init__()
        size = action_low.numel()
        self.net = mlp([observation_size, *hidden, 2 * size], activation=nn.ReLU)
        self.register_buffer("low", action_low.float())
        self.register_buffer("high", action_high.float())

    def gaussian(self, observations):
        """(mean, log_std) of u, log_std squashed smoothly into LOG_STD_RANGE."""
        mean, raw_log_std = self.net(observations).chunk(2, dim=-1)
        low, high = self.LOG_STD_RANGE
        return mean, low + 0.5 * (high - low) * (torch.tanh(raw_log_std) + 1.0)

    def forward(self, observations, deterministic: bool = False):
        """(action in the box, log pi of it) with the reparameterisation trick.

        The box scaling a = low + (tanh(u) + 1)(high - low)/2 adds the constant
        -sum log((high - low)/2) to log pi (spec entry sac.rescaled-squashed-gaussian-log-prob).
        It changes no gradient of the actor loss and is left out here, so the temperature
        targets the entropy of tanh(u), not of the rescaled action (the two agree on [-1, 1]).
        """
        mean, log_std = self.gaussian(observations)
        pre_tanh = mean if deterministic else mean + log_std.exp() * torch.randn_like(mean)
        log_prob = squashed_gaussian_log_prob(mean, log_std, pre_tanh)
        action = rescale_squashed_action(pre_tanh, self.low, self.high)
        return action, log_prob


class QCritic(nn.Module):
    """Q(s, a) for continuous actions: an MLP on the concatenation."""

    def __init__(self, observation_size: int, action_size: int, hidden=(256, 256)):
        super().__init__()
        self.net = mlp([observation_size + action_size, *hidden, 1], activation=nn.ReLU)

    def forward(self, observations, actions) -> torch.Tensor:
        return self.net(torch.cat([observations, actions], dim=-1)).squeeze(-1)
