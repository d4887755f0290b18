"""Stable-Baselines3: its squashed Gaussian, its rollout buffer's GAE, and the PPO loss inside
``PPO.train()``, each run on the case's numbers.

- The distribution is SB3's own ``SquashedDiagGaussianDistribution``.
- GAE is ``RolloutBuffer.compute_returns_and_advantage`` on a buffer that holds the case in
  SB3's (T, n_envs) layout; its arrays are float64 so that the formula, not float32
  storage, is judged.  SB3 folds gamma V(final observation) of a truncated step into its
  reward in ``collect_rollouts``; the ``gae-sb3`` adapter does the same, so the buffer's GAE
  is judged on the full ``gae`` check.
- The PPO value loss and the advantage normalisation are read out of a real ``PPO.train()``
  call: a stub policy whose parameters are the case's values and log-probs answers
  ``evaluate_actions`` by the observation's index; one epoch, one minibatch holding the whole
  buffer; the loss is read from SB3's logger and its gradient from the stub's parameters.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from rlspec.checks.gae_conventions import sb3_style
from rlspec.integrations import Conformance, float64_tensors

# --------------------------------------------------------------- squashed Gaussian

def squashed_log_prob(mean, log_std, pre_tanh):
    """``SquashedDiagGaussianDistribution.log_prob(tanh(u), u)``, the path of SAC's actor loss."""
    from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution

    mean, log_std, pre_tanh = float64_tensors(mean, log_std, pre_tanh)
    distribution = SquashedDiagGaussianDistribution(mean.shape[1])
    distribution.proba_distribution(mean, log_std)
    return distribution.log_prob(torch.tanh(pre_tanh), pre_tanh)


def squashed_log_prob_of_action(mean, log_std, actions):
    """``SquashedDiagGaussianDistribution.log_prob(a)``: u recovered from the action."""
    from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution

    mean, log_std, actions = float64_tensors(mean, log_std, actions)
    distribution = SquashedDiagGaussianDistribution(mean.shape[1])
    distribution.proba_distribution(mean, log_std)
    return distribution.log_prob(actions)


# ------------------------------------------------------------------ rollout buffer

def _rollout_buffer(size: int, n_envs: int = 1, gamma: float = 0.99, gae_lambda: float = 0.95):
    """An empty float64 RolloutBuffer of ``size`` steps: 1-D observations, two actions."""
    from gymnasium import spaces
    from stable_baselines3.common.buffers import RolloutBuffer

    buffer = RolloutBuffer(size, spaces.Box(-np.inf, np.inf, (1,)), spaces.Discrete(2),
                           device="cpu", gae_lambda=gae_lambda, gamma=gamma, n_envs=n_envs)
    for name in ("observations", "actions", "rewards", "returns", "episode_starts", "values",
                 "log_probs", "advantages"):
        setattr(buffer, name, getattr(buffer, name).astype(np.float64))
    return buffer


def buffer_gae(rewards, values, episode_starts, last_values, dones, gamma, gae_lambda,
               output: str = "advantages"):
    """``RolloutBuffer.compute_returns_and_advantage`` on (T, n_envs) arrays in SB3's
    convention (``rlspec.checks.gae_conventions.sb3_style``); ``output`` is "advantages" or
    "returns"."""
    rewards = np.asarray(rewards, dtype=np.float64)
    buffer = _rollout_buffer(rewards.shape[0], rewards.shape[1], float(gamma), float(gae_lambda))
    buffer.rewards[:] = rewards
    buffer.values[:] = values
    buffer.episode_starts[:] = episode_starts
    buffer.compute_returns_and_advantage(torch.as_tensor(np.asarray(last_values, dtype=np.float64)),
                                         np.asarray(dones))
    return getattr(buffer, output).copy()


def gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """The buffer's advantages in the canonical signature of ``rlspec check gae``."""
    return sb3_style(buffer_gae, env_axis=True)(rewards, values, next_values, terminated,
                                                truncated, gamma, lam)


def gae_returns(rewards, values, next_values, terminated, truncated, gamma, lam):
    """The buffer's returns (advantages + values) for ``rlspec check gae-returns``."""
    return sb3_style(functools.partial(buffer_gae, output="returns"), env_axis=True)(
        rewards, values, next_values, terminated, truncated, gamma, lam)


# ------------------------------------------------------------------ PPO.train()

class _CasePolicy(torch.nn.Module):
    """A policy whose value and log-probability for observation i are parameters i: PPO's
    minibatch is shuffled, so each observation carries its own index."""

    def __init__(self, values, log_probs):
        super().__init__()
        self.values = torch.nn.Parameter(torch.as_tensor(values, dtype=torch.float64).clone())
        self.log_probs = torch.nn.Parameter(torch.as_tensor(log_probs, dtype=torch.float64).clone())
        self.optimizer = torch.optim.SGD(self.parameters(), lr=0.0)

    def set_training_mode(self, mode: bool) -> None:
        pass

    def evaluate_actions(self, observations, actions):
        index = observations[:, 0].long()
        return self.values[index], self.log_probs[index], torch.zeros(len(index), dtype=torch.float64)


@functools.cache
def _ppo():
    import gymnasium
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import configure

    model = PPO("MlpPolicy", gymnasium.make("CartPole-v1"), n_steps=2, batch_size=2, n_epochs=1,
                ent_coef=0.0, vf_coef=1.0, max_grad_norm=float("inf"), device="cpu")
    model.set_logger(configure(None, [""]))
    return model


def ppo_train_once(values, old_values, returns, advantages, clip_range_vf=None,
                   normalize_advantage=False):
    """Run ``PPO.train()`` for one epoch over one minibatch holding the case (ratio 1: the
    log-probs equal the old ones).  Returns (SB3's loss value, d loss / d values,
    d loss / d log-probs)."""
    size = len(values)
    model = _ppo()
    buffer = _rollout_buffer(size)
    buffer.observations[:, 0, 0] = np.arange(size)
    buffer.values[:, 0] = old_values
    buffer.returns[:, 0] = returns
    buffer.advantages[:, 0] = advantages
    buffer.full = True
    model.rollout_buffer, model.batch_size = buffer, size
    model.normalize_advantage = normalize_advantage
    model.clip_range_vf = None if clip_range_vf is None else (lambda _: float(clip_range_vf))
    model.policy = _CasePolicy(values, np.zeros(size))
    model.train()
    recorded = model.logger.name_to_value
    loss = recorded["train/value_loss"] + recorded["train/policy_gradient_loss"]
    return loss, model.policy.values.grad.numpy().copy(), model.policy.log_probs.grad.numpy().copy()


def ppo_value_loss(values, old_values, returns, clip_epsilon):
    """SB3's PPO value loss with ``clip_range_vf = clip_epsilon``, as a tensor whose value and
    gradient with respect to ``values`` are those ``PPO.train()`` computed."""
    loss, gradient, _ = ppo_train_once(values.detach().numpy(), old_values.detach().numpy(),
                                       returns.detach().numpy(), np.zeros(len(values)),
                                       clip_range_vf=float(clip_epsilon))
    return loss + (torch.as_tensor(gradient) * (values - values.detach())).sum()


def ppo_advantage_normalization(advantages):
    """The advantages ``PPO.train()`` uses with ``normalize_advantage=True``, read from the
    gradient of its policy loss at ratio 1: d loss / d log pi_i = -A_i / N."""
    advantages = np.asarray(advantages, dtype=np.float64)
    _, _, gradient = ppo_train_once(np.zeros(advantages.size), np.zeros(advantages.size),
                                    np.zeros(advantages.size), advantages,
                                    normalize_advantage=True)
    return -gradient * advantages.size


def conformance() -> list[Conformance]:
    _ppo()  # SB3 imported and the PPO model built once here; each check's worker inherits them

    return [
        Conformance("SquashedDiagGaussianDistribution.log_prob(a, u)", "squashed-gaussian-log-prob",
                    squashed_log_prob, "divergence",
                    "epsilon = 1e-6 inside log(1 - tanh(u)^2 + eps) (documented: 'to avoid NaN')"),
        Conformance("SquashedDiagGaussianDistribution.log_prob(a, u)",
                    "squashed-gaussian-log-prob@sb3", squashed_log_prob),
        Conformance("SquashedDiagGaussianDistribution.log_prob(a)",
                    "squashed-gaussian-log-prob@sb3-from-action", squashed_log_prob_of_action),
        Conformance("RolloutBuffer.compute_returns_and_advantage (advantages)", "gae", gae),
        Conformance("RolloutBuffer.compute_returns_and_advantage (returns)", "gae-returns",
                    gae_returns),
        Conformance("PPO.train value loss (clip_range_vf)", "ppo-value-loss", ppo_value_loss,
                    "divergence", "mse(R, V_clipped): no max with the unclipped loss, no 1/2"),
        Conformance("PPO.train value loss (clip_range_vf)", "ppo-value-loss@sb3", ppo_value_loss),
        Conformance("PPO.train advantage normalisation", "advantage-normalization",
                    ppo_advantage_normalization, "divergence",
                    "a minibatch of one is left as it is (SB3 issue 325)"),
        Conformance("PPO.train advantage normalisation", "advantage-normalization@sb3",
                    ppo_advantage_normalization),
    ]
