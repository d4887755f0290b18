"""Live validation: a real SB3 PPO run on CartPole passes the rollout-buffer GAE callback
unmodified, and a planted GAE bug is caught in the first rollout; the verl hook accepts verl's
own GAE and rejects a corrupted one."""

import numpy as np
import pytest
import torch

from rlspec.integrations.live import (TrainingMismatch, check_group_advantages,
                                     check_loss_aggregation, check_verl_gae, sb3_callback_class)

STEPS = 64  # per rollout: CartPole episodes end inside it, so episode starts are exercised


def _ppo(**options):
    from stable_baselines3 import PPO
    return PPO("MlpPolicy", "CartPole-v1", n_steps=STEPS, batch_size=STEPS, n_epochs=1, seed=0,
               device="cpu", **options)


def test_unmodified_sb3_ppo_run_passes_the_gae_callback():
    pytest.importorskip("stable_baselines3")
    callback = sb3_callback_class()(every=1)
    _ppo().learn(2 * STEPS, callback=callback)
    assert callback.checked == 2


def test_planted_gae_bug_is_caught_in_the_first_rollout():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.buffers import RolloutBuffer

    class CarryAcrossEpisodes(RolloutBuffer):
        """The bug: the GAE carry is not cut where a new episode starts."""

        def compute_returns_and_advantage(self, last_values, dones):
            starts = self.episode_starts.copy()
            self.episode_starts[:] = 0.0
            super().compute_returns_and_advantage(last_values, dones)
            self.episode_starts[:] = starts

    with pytest.raises(TrainingMismatch, match="rollout 1: SB3 rollout buffer, environment 0"):
        _ppo(rollout_buffer_class=CarryAcrossEpisodes).learn(2 * STEPS,
                                                             callback=sb3_callback_class()())


def test_verl_hook_accepts_verl_gae_and_rejects_a_corrupted_one():
    pytest.importorskip("verl.trainer.ppo.core_algos")
    from verl.trainer.ppo.core_algos import compute_gae_advantage_return

    rewards = torch.tensor([[0.0, 0.5, 1.0, 0.0], [0.25, 0.0, 2.0, 1.0]], dtype=torch.float64)
    values = torch.tensor([[0.5, 1.0, -0.5, 0.0], [1.5, 0.25, 0.0, 0.5]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    advantages, returns = compute_gae_advantage_return(rewards, values * mask, mask, 0.9, 0.95)
    check_verl_gae(rewards, values * mask, mask, 0.9, 0.95, advantages, returns)
    corrupted = advantages.clone()
    corrupted[1, 2] += 0.1
    with pytest.raises(TrainingMismatch, match="advantages"):
        check_verl_gae(rewards, values * mask, mask, 0.9, 0.95, corrupted, returns)
    assert np.isfinite(advantages.numpy()).all()


def test_loss_aggregation_hook_accepts_verl_agg_loss_and_rejects_the_wrong_mode():
    pytest.importorskip("verl.trainer.ppo.core_algos")
    from verl.trainer.ppo.core_algos import agg_loss

    per_token = torch.tensor([[2.0, 9.0, 9.0, 9.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    # token-mean (2 + 4) / 5 = 1.2; seq-mean-token-mean (2 + 1) / 2 = 1.5
    for mode in ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum"):
        check_loss_aggregation(per_token, mask, mode, agg_loss(per_token, mask, mode))
    with pytest.raises(TrainingMismatch, match="seq-mean-token-mean"):
        check_loss_aggregation(per_token, mask, "seq-mean-token-mean",
                               agg_loss(per_token, mask, "token-mean"))


def test_group_advantage_hook_accepts_verl_grpo_and_rejects_the_other_epsilon():
    pytest.importorskip("verl.trainer.ppo.core_algos")
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    rewards = torch.tensor([[1.0], [0.0], [0.0], [2.0], [2.0], [0.5]], dtype=torch.float64)
    advantages, _ = compute_grpo_outcome_advantage(rewards, torch.ones_like(rewards),
                                                   np.array([0, 0, 0, 1, 1, 1]))
    check_group_advantages(rewards, advantages, group_size=3, epsilon=1e-6)
    with pytest.raises(TrainingMismatch, match="epsilon 0.0001"):
        check_group_advantages(rewards, advantages, group_size=3)  # TRL's epsilon
