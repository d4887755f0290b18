"""Each agent runs briefly with live validation on, and a planted bug stops it.

The brief runs (a few dozen updates) validate every update they make (``validate_every=1``) on a toy MDP (DQN,
A2C, PPO) or on Pendulum (TD3, DDPG, SAC) and must pass.  The planted bugs replace one
formula the agent executes with a classic mistake; the validator, which recomputes with
the oracles, must then stop the run with a message naming the formula.
"""

import pytest
import torch

from rlspec.agents import a2c, dqn, ppo, sac, td3
from rlspec.agents import formulas_continuous as fc
from rlspec.agents import formulas_policy as fp
from rlspec.agents import formulas_value as fv
from rlspec.agents.live_validation import ValidationMismatch

TOY = "rlspec/sb-gridworld-4x4-v0"


def small_dqn(**options):
    return dqn.DQNConfig(env_id=TOY, num_envs=4, total_steps=280, learning_starts=200,
                         train_frequency=4, batch_size=32, validate_every=1, log_every=280,
                         target_update_interval=100, **options)


@pytest.mark.parametrize("options", [
    {},
    {"double": True, "n_step": 3, "loss": "squared"},
    {"prioritized": True, "dueling": True},
    {"atoms": 11, "v_min": -20.0, "v_max": 0.0, "n_step": 2},
], ids=["dqn", "double-3-step", "per-dueling", "c51-2-step"])
def test_dqn_variants_pass_live_validation(options):
    result = dqn.train(small_dqn(**options))
    assert result.summary["updates"] > 0
    assert "all passed" in result.summary["validation"]


def test_ppo_and_a2c_pass_live_validation():
    for module, config in (
            (ppo, ppo.PPOConfig(env_id=TOY, num_envs=4, n_steps=32, batch_size=64, n_epochs=1,
                                total_steps=256, validate_every=1, log_every=256,
                                value_clip_epsilon=0.2)),
            (a2c, a2c.A2CConfig(env_id=TOY, num_envs=4, n_steps=8, total_steps=128,
                                validate_every=1, log_every=128))):
        result = module.train(config)
        assert "all passed" in result.summary["validation"], result.summary


@pytest.mark.parametrize("make_config", [td3.TD3Config, td3.ddpg_config, sac.SACConfig],
                         ids=["td3", "ddpg", "sac"])
def test_continuous_agents_pass_live_validation(make_config):
    config = make_config(env_id="Pendulum-v1", total_steps=120, learning_starts=100,
                         batch_size=32, validate_every=1, log_every=120, hidden=(32, 32))
    result = (sac if make_config is sac.SACConfig else td3).train(config)
    assert result.summary["updates"] >= 20
    assert "all passed" in result.summary["validation"]


# ----------------------------------------------------------------------------- planted bugs

def gae_truncation_as_termination(rewards, values, next_values, terminated, truncated, gamma, lam):
    """The classic bug: a time-limit cut treated like a terminal state (no bootstrap)."""
    done = (terminated.bool() | truncated.bool()).float()
    return ORIGINAL_GAE(rewards, values, next_values, done, truncated, gamma, lam)


ORIGINAL_GAE = fp.generalized_advantages


def test_live_validation_catches_gae_that_drops_the_bootstrap_at_truncation(monkeypatch):
    monkeypatch.setattr(fp, "generalized_advantages", gae_truncation_as_termination)
    # chain-5 never terminates, so with a time limit of 5 steps every episode is truncated.
    config = ppo.PPOConfig(env_id="rlspec/chain-5-v0", num_envs=2, n_steps=32, batch_size=64,
                           n_epochs=1, total_steps=64, validate_every=1, log_every=64,
                           max_episode_steps=5)
    with pytest.raises(ValidationMismatch, match="GAE advantages"):
        ppo.train(config)


def test_live_validation_catches_a_target_that_bootstraps_through_termination(monkeypatch):
    original = fv.n_step_windows

    def no_terminal_mask(rewards, terminated, truncated, gamma):
        return original(rewards, torch.zeros_like(terminated), truncated, gamma)

    monkeypatch.setattr(fv, "n_step_windows", no_terminal_mask)
    with pytest.raises(ValidationMismatch, match="step target"):
        dqn.train(small_dqn())


def test_live_validation_catches_a_sac_target_without_the_entropy_term(monkeypatch):
    def without_entropy(rewards, discounts, next_q1, next_q2, next_log_probs, alpha):
        return rewards + discounts * torch.minimum(next_q1, next_q2)

    monkeypatch.setattr(fc, "soft_q_targets", without_entropy)
    config = sac.SACConfig(env_id="Pendulum-v1", total_steps=105, learning_starts=100,
                           batch_size=16, validate_every=1, hidden=(16, 16))
    with pytest.raises(ValidationMismatch, match="critic targets"):
        sac.train(config)
