"""rlspec's agents side by side with Stable-Baselines3: final return and steps/s, one run.

For each (algorithm, environment) both libraries train with the same hyperparameters and
the same number of environment steps, on the same machine, in the same process, one torch
thread each; then each policy is evaluated deterministically on 10 episodes.  The table
gives both final returns and steps/s and the ratios rlspec / SB3 (steps/s: higher is
better for rlspec above 1; return: rlspec's over SB3's).

    pip install -e '.[bench]'        # stable-baselines3 (and matplotlib)
    python benchmarks/bench_agents.py --reduced          # CartPole PPO, DQN; Pendulum SAC short
    python benchmarks/bench_agents.py --seeds 0 1 2      # every entry of BENCHMARKS

The hyperparameters are the RL Baselines3 Zoo's where it has them (constant learning rates
and clip ranges in place of its linear schedules).  Two conventions differ by a factor
and are converted: rlspec's value loss is (1/2) mean (V - R)^2, so its value coefficient is
twice SB3's ``vf_coef``; everything else has the same meaning in both.
"""

from __future__ import annotations

import argparse
import time

import torch

from rlspec.agents import dqn, ppo, sac, td3
from rlspec.agents.training import evaluate_episodes

#: name -> (algorithm, env id, total steps, reduced steps, shared hyperparameters)
BENCHMARKS = {
    "ppo-cartpole": ("ppo", "CartPole-v1", 100_000, 100_000, dict(
        n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
        ent_coef=0.0, learning_rate=1e-3, clip_range=0.2, vf_coef=0.5, max_grad_norm=0.5,
        net_arch=(64, 64))),
    "dqn-cartpole": ("dqn", "CartPole-v1", 50_000, 50_000, dict(
        n_envs=1, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
        learning_starts=1_000, gamma=0.99, target_update_interval=10, train_freq=256,
        gradient_steps=128, exploration_fraction=0.16, exploration_final_eps=0.04,
        net_arch=(256, 256))),
    "ppo-acrobot": ("ppo", "Acrobot-v1", 1_000_000, 100_000, dict(
        n_envs=16, n_steps=256, batch_size=256, gae_lambda=0.94, gamma=0.99, n_epochs=4,
        ent_coef=0.0, learning_rate=3e-4, clip_range=0.2, vf_coef=0.5, max_grad_norm=0.5,
        net_arch=(64, 64))),
    "ppo-lunarlander": ("ppo", "LunarLander-v3", 1_000_000, 100_000, dict(
        n_envs=16, n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4,
        ent_coef=0.01, learning_rate=3e-4, clip_range=0.2, vf_coef=0.5, max_grad_norm=0.5,
        net_arch=(64, 64))),
    "sac-pendulum": ("sac", "Pendulum-v1", 20_000, 5_000, dict(
        n_envs=1, learning_rate=1e-3, batch_size=256, buffer_size=1_000_000,
        learning_starts=100, gamma=0.99, tau=0.005, net_arch=(256, 256))),
    "td3-pendulum": ("td3", "Pendulum-v1", 20_000, 5_000, dict(
        n_envs=1, learning_rate=1e-3, batch_size=256, buffer_size=1_000_000,
        learning_starts=100, gamma=0.98, tau=0.005, net_arch=(400, 300))),
    "sac-halfcheetah": ("sac", "HalfCheetah-v5", 1_000_000, 20_000, dict(
        n_envs=1, learning_rate=3e-4, batch_size=256, buffer_size=1_000_000,
        learning_starts=10_000, gamma=0.99, tau=0.005, net_arch=(256, 256))),
}
REDUCED = ("ppo-cartpole", "dqn-cartpole", "sac-pendulum")
EVALUATION_EPISODES = 10


def rlspec_config(algorithm: str, env_id: str, steps: int, seed: int, h: dict):
    common = dict(env_id=env_id, total_steps=steps, seed=seed, num_envs=h["n_envs"],
                  gamma=h["gamma"], threads=1, log_every=max(steps // 20, 1))
    if algorithm == "ppo":
        return ppo.PPOConfig(**common, learning_rate=h["learning_rate"], n_steps=h["n_steps"],
                             batch_size=h["batch_size"], n_epochs=h["n_epochs"],
                             gae_lambda=h["gae_lambda"], clip_epsilon=h["clip_range"],
                             value_coefficient=2.0 * h["vf_coef"],
                             entropy_coefficient=h["ent_coef"], max_grad_norm=h["max_grad_norm"],
                             hidden=h["net_arch"])
    if algorithm == "dqn":
        return dqn.DQNConfig(**common, learning_rate=h["learning_rate"], batch_size=h["batch_size"],
                             buffer_size=h["buffer_size"], learning_starts=h["learning_starts"],
                             target_update_interval=h["target_update_interval"],
                             train_frequency=h["train_freq"], gradient_steps=h["gradient_steps"],
                             exploration_fraction=h["exploration_fraction"],
                             epsilon_end=h["exploration_final_eps"], hidden=h["net_arch"])
    off_policy = dict(learning_rate=h["learning_rate"], batch_size=h["batch_size"],
                      buffer_size=h["buffer_size"], learning_starts=h["learning_starts"],
                      tau=h["tau"], hidden=h["net_arch"])
    if algorithm == "sac":
        return sac.SACConfig(**common, **off_policy)
    return td3.TD3Config(**common, **off_policy)


def rlspec_run(algorithm, env_id, steps, seed, h) -> tuple[float, float]:
    config = rlspec_config(algorithm, env_id, steps, seed, h)
    trainer = {"ppo": ppo.train, "dqn": dqn.train, "sac": sac.train, "td3": td3.train}[algorithm]
    result = trainer(config)
    final = evaluate_episodes(env_id, result.agent, EVALUATION_EPISODES, seed=10_000 + seed)
    return final, result.summary["steps_per_second"]


def sb3_run(algorithm, env_id, steps, seed, h) -> tuple[float, float]:
    import stable_baselines3 as sb3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    env = make_vec_env(env_id, n_envs=h["n_envs"], seed=seed)
    arch = list(h["net_arch"])
    if algorithm == "ppo":
        model = sb3.PPO("MlpPolicy", env, learning_rate=h["learning_rate"], n_steps=h["n_steps"],
                        batch_size=h["batch_size"], n_epochs=h["n_epochs"], gamma=h["gamma"],
                        gae_lambda=h["gae_lambda"], clip_range=h["clip_range"],
                        ent_coef=h["ent_coef"], vf_coef=h["vf_coef"],
                        max_grad_norm=h["max_grad_norm"], seed=seed, device="cpu",
                        policy_kwargs={"net_arch": arch})
    elif algorithm == "dqn":
        model = sb3.DQN("MlpPolicy", env, learning_rate=h["learning_rate"],
                        batch_size=h["batch_size"], buffer_size=h["buffer_size"],
                        learning_starts=h["learning_starts"], gamma=h["gamma"],
                        target_update_interval=h["target_update_interval"],
                        train_freq=h["train_freq"], gradient_steps=h["gradient_steps"],
                        exploration_fraction=h["exploration_fraction"],
                        exploration_final_eps=h["exploration_final_eps"], seed=seed,
                        device="cpu", policy_kwargs={"net_arch": arch})
    else:
        cls = sb3.SAC if algorithm == "sac" else sb3.TD3
        model = cls("MlpPolicy", env, learning_rate=h["learning_rate"], batch_size=h["batch_size"],
                    buffer_size=h["buffer_size"], learning_starts=h["learning_starts"],
                    gamma=h["gamma"], tau=h["tau"], seed=seed, device="cpu",
                    policy_kwargs={"net_arch": arch})
    started = time.perf_counter()
    model.learn(total_timesteps=steps)
    rate = steps / (time.perf_counter() - started)
    evaluation_env = make_vec_env(env_id, n_envs=1, seed=10_000 + seed)
    final, _ = evaluate_policy(model, evaluation_env, n_eval_episodes=EVALUATION_EPISODES,
                               deterministic=True)
    return float(final), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reduced", action="store_true",
                        help=f"only {', '.join(REDUCED)}, at their reduced step counts")
    parser.add_argument("--only", nargs="*", default=None, choices=sorted(BENCHMARKS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.only or (REDUCED if args.reduced else tuple(BENCHMARKS))
    header = (f"{'benchmark':<17}{'steps':>9}{'seed':>5}  {'rlspec return':>13}{'SB3 return':>11}"
              f"{'ratio':>7}  {'rlspec steps/s':>14}{'SB3 steps/s':>12}{'ratio':>7}")
    print(header)
    for name in names:
        algorithm, env_id, full, reduced, h = BENCHMARKS[name]
        steps = reduced if args.reduced else full
        for seed in args.seeds:
            ours, our_rate = rlspec_run(algorithm, env_id, steps, seed, h)
            theirs, their_rate = sb3_run(algorithm, env_id, steps, seed, h)
            ratio = ours / theirs if theirs > 0 else theirs / ours if ours < 0 else float("nan")
            print(f"{name:<17}{steps:>9,}{seed:>5}  {ours:>13.1f}{theirs:>11.1f}{ratio:>7.2f}  "
                  f"{our_rate:>14,.0f}{their_rate:>12,.0f}{our_rate / their_rate:>7.2f}", flush=True)
    print("return ratio: rlspec / SB3 for positive returns, SB3 / rlspec for negative ones "
          "(above 1: rlspec better); steps/s ratio: rlspec / SB3 (wall time of training, "
          "rlspec's including its metric records)")


if __name__ == "__main__":
    main()
