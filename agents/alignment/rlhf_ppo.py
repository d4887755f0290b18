r"""RLHF-PPO at the token level, as seed 003 chapter 3 describes DeepSpeed-Chat.

Per iteration: sample responses from the policy; score each with the reward r(x, y);
build the per-token reward ``R_t = -beta (log pi_old - log pi_ref)(y_t) + [t last] clip(r)``
(``kl_penalised_rewards``, spec ``rlhf.token-rewards``); masked GAE with the critic's values
(``masked_gae``, ``rlhf.masked-gae``); then ``epochs`` passes of the clipped actor loss
(``actor_clip_loss``, ``rlhf.actor-loss``) and the clipped critic loss (``critic_clip_loss``,
``rlhf.critic-loss``) over minibatches.

Objective and fixed point.  With gamma = 1 the return of a response is
``r(x, y) - beta log(pi(y|x) / pi_ref(y|x))`` (the k1 estimator, in the reward, summed
over tokens), whose expectation is ``E[r] - beta KL(pi || pi_ref)``; the log-ratio in the
reward is a constant of the rollout, and its score-function term has mean 0, so the
expected policy gradient is the gradient of that objective.  Its maximiser is
pi* ∝ pi_ref exp(clip(r) / beta) (``exact.kl_regularised_optimum``), and at the joint fixed
point the tabular critic is V^{pi*}, where GAE's advantage is unbiased for every lambda.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rlspec.agents.alignment import live_validation
from rlspec.agents.alignment.training_loop import RunRecorder, adam_with_linear_decay, due
from rlspec.reference.rlhf_ppo import actor_clip_loss, critic_clip_loss, kl_penalised_rewards, masked_gae

__all__ = ["RLHFPPOConfig", "train_rlhf_ppo"]


@dataclass
class RLHFPPOConfig:
    kl_coef: float = 0.5            # beta of the per-token KL penalty (DeepSpeed-Chat: 0.1)
    clip_reward_value: float = 5.0  # the score is clipped to [-c, c]
    gamma: float = 1.0
    lam: float = 0.95
    clip_range: float = 0.2         # actor ratio clip
    clip_range_value: float = 0.2   # critic clip around the old values
    iterations: int = 300           # rollouts
    rollout_size: int = 256         # responses per rollout
    epochs: int = 2                 # passes over each rollout
    minibatches: int = 2            # minibatches per pass
    actor_learning_rate: float = 0.05
    critic_learning_rate: float = 0.1
    eval_every: int = 10            # iterations between evaluations
    validate_every: int = 0         # iterations between live validations (first minibatch)
    seed: int = 0


def train_rlhf_ppo(policy, reference, critic, reward, prompts, config: RLHFPPOConfig,
                   evaluate=None, metrics=None, show_progress: bool = False) -> list[dict]:
    """``reward(prompts, tokens, mask) -> scores[N]``; ``prompts(n, rng) -> prompts[n]``;
    ``critic(prompts, tokens, mask) -> values[N, L]`` (0 on padding)."""
    rng = np.random.default_rng(config.seed)
    updates = config.iterations * config.epochs * config.minibatches
    actor_opt, actor_schedule = adam_with_linear_decay(policy.parameters(), config.actor_learning_rate, updates)
    critic_opt, critic_schedule = adam_with_linear_decay(critic.parameters(), config.critic_learning_rate, updates)
    recorder = RunRecorder("rlhf-ppo", config.iterations, evaluate, config.eval_every, metrics,
                           show_progress)
    for iteration in range(1, config.iterations + 1):
        # ---- rollout: responses, scores, token rewards, advantages
        x = prompts(config.rollout_size, rng)
        tokens, mask = policy.sample(x, rng)
        with torch.no_grad():
            old_log_probs = policy.token_log_probs(x, tokens, mask).double().numpy()
            ref_log_probs = reference.token_log_probs(x, tokens, mask).double().numpy()
            old_values = critic(x, tokens, mask).double().numpy()
        scores = reward(x, tokens, mask)
        token_rewards = kl_penalised_rewards(old_log_probs, ref_log_probs, scores, mask,
                                             config.kl_coef, config.clip_reward_value)
        advantages = masked_gae(token_rewards, old_values, mask, config.gamma, config.lam)
        returns = advantages + old_values
        # ---- update: clipped actor and critic losses over minibatches
        checking = due(iteration, config.validate_every, config.iterations)
        for _ in range(config.epochs):
            for batch in np.array_split(rng.permutation(len(x)), config.minibatches):
                log_probs = policy.token_log_probs(x[batch], tokens[batch], mask[batch]).double()
                values = critic(x[batch], tokens[batch], mask[batch]).double()
                if checking:
                    log_probs.retain_grad()
                    values.retain_grad()
                actor_loss = actor_clip_loss(log_probs, old_log_probs[batch], advantages[batch],
                                             mask[batch], config.clip_range)
                critic_loss = critic_clip_loss(values, old_values[batch], returns[batch],
                                               mask[batch], config.clip_range_value)
                actor_opt.zero_grad()
                critic_opt.zero_grad()
                (actor_loss + critic_loss).backward()  # disjoint parameters: two separate losses
                if checking:
                    live_validation.validate_rlhf_ppo_batch(
                        old_log_probs[batch], ref_log_probs[batch], scores[batch], mask[batch],
                        config.kl_coef, config.clip_reward_value, token_rewards[batch],
                        old_values[batch], config.gamma, config.lam, advantages[batch],
                        log_probs, config.clip_range, actor_loss, log_probs.grad, values,
                        config.clip_range_value, critic_loss, values.grad)
                    checking = False
                actor_opt.step()
                critic_opt.step()
                actor_schedule.step()
                critic_schedule.step()
        recorder.record(iteration, policy, {"actor_loss": actor_loss.item(),
                                            "critic_loss": critic_loss.item(),
                                            "mean_score": float(np.mean(scores))})
    return recorder.finish()
