r"""Bradley-Terry reward-model training from preference pairs (seed 003, 4.2.2).

Objective: the mean negative log-likelihood of the data under Bradley-Terry,
``-(1/N) sum_n log sigmoid(r(x_n, y_w) - r(x_n, y_l))`` (``rlspec.reference.reward_model.
bradley_terry_loss``, spec ``rm.bradley-terry-loss``), by minibatch Adam.

Fixed point: the maximum-likelihood reward of the data set, unique up to a constant per
prompt when every prompt's comparison graph is connected (spec ``rm.population-minimiser``,
computed exactly by Newton's method in ``fit_tabular_reward``).  Its distance to the true
reward is the *statistical* error of the finite data set, which shrinks like 1/sqrt(N).

The model is a table ``r[x, i]`` over prompts and the enumerable model's responses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlspec.agents.alignment import live_validation
from rlspec.agents.alignment.training_loop import RunRecorder, adam_with_linear_decay, due
from rlspec.reference.reward_model import bradley_terry_loss

__all__ = ["RewardModelConfig", "TabularRewardModel", "train_reward_model"]


@dataclass
class RewardModelConfig:
    steps: int = 1500            # minibatch updates
    batch_size: int = 256        # preference pairs per update
    learning_rate: float = 0.1   # Adam, decayed linearly to 0
    eval_every: int = 100        # updates between exact evaluations (0: never)
    validate_every: int = 0      # updates between live validations (0: never)
    seed: int = 0


class TabularRewardModel(torch.nn.Module):
    """``r[x, i]``: one learned reward per prompt and response index, starting at 0."""

    def __init__(self, n_prompts: int, n_responses: int):
        super().__init__()
        self.table = torch.nn.Parameter(torch.zeros((n_prompts, n_responses), dtype=torch.float64))

    def forward(self, prompts, responses) -> torch.Tensor:
        return self.table[torch.as_tensor(prompts), torch.as_tensor(responses)]


def train_reward_model(model: TabularRewardModel, prompts, chosen, rejected,
                       config: RewardModelConfig, evaluate=None, metrics=None,
                       show_progress: bool = False) -> list[dict]:
    """Fit ``model`` to the data set ``(prompts[N], chosen[N], rejected[N])`` (response
    indices); returns the history of records (step, loss, and ``evaluate(model)``)."""
    rng = np.random.default_rng(config.seed)
    optimizer, schedule = adam_with_linear_decay(model.parameters(), config.learning_rate, config.steps)
    recorder = RunRecorder("reward-model", config.steps, evaluate, config.eval_every, metrics,
                           show_progress)
    for step in range(1, config.steps + 1):
        batch = (np.arange(len(prompts)) if config.batch_size >= len(prompts)  # full batch
                 else rng.integers(len(prompts), size=config.batch_size))
        chosen_rewards = model(prompts[batch], chosen[batch])
        rejected_rewards = model(prompts[batch], rejected[batch])
        checking = due(step, config.validate_every, config.steps)
        if checking:
            chosen_rewards.retain_grad()
            rejected_rewards.retain_grad()
        loss = bradley_terry_loss(chosen_rewards, rejected_rewards)
        optimizer.zero_grad()
        loss.backward()
        if checking:
            live_validation.validate_reward_model_batch(
                chosen_rewards, rejected_rewards, loss, chosen_rewards.grad, rejected_rewards.grad)
        optimizer.step()
        schedule.step()
        recorder.record(step, model, {"loss": loss.item()})
    return recorder.finish()
