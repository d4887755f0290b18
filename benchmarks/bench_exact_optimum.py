"""What DQN and PPO learn on the toy MDPs, judged exactly: regret, critic error, Q* error.

For each MDP (through its gymnasium id, one-hot observations, the batched torch backend)
both agents train with a fixed budget; the exact figures of ``agents.exact_evaluation``
are printed at the end: J* and J^pi (discounted, from the initial distribution), the regret
of the acting and of the greedy policy, the occupancy-weighted critic error against the
exact V^pi/Q^pi and, for DQN, against Q*.

    python benchmarks/bench_exact_optimum.py [--scale 0.2] [--only frozenlake-4x4 taxi]

``--scale`` multiplies every budget (1 = the full budgets below).
"""

from __future__ import annotations

import argparse

import torch

from rlspec.agents import dqn, ppo

#: MDP -> (DQN steps, PPO steps); one torch thread, CPU.
BUDGETS = {
    "sb-gridworld-5x5": (50_000, 200_000),
    "frozenlake-4x4": (50_000, 200_000),
    "frozenlake-8x8": (200_000, 1_000_000),
    "cliff-walking": (50_000, 200_000),
    "taxi": (200_000, 1_000_000),
}


def configurations(name: str, scale: float, seed: int):
    dqn_steps, ppo_steps = (max(int(steps * scale), 2_000) for steps in BUDGETS[name])
    env_id = f"rlspec/{name}-v0"
    yield "dqn", dqn.train, dqn.DQNConfig(
        env_id=env_id, seed=seed, num_envs=8, total_steps=dqn_steps, learning_starts=1_000,
        train_frequency=8, gradient_steps=2, batch_size=128, target_update_interval=500,
        exploration_fraction=0.5, learning_rate=1e-3, double=True, threads=1,
        log_every=dqn_steps // 10)
    yield "ppo", ppo.train, ppo.PPOConfig(
        env_id=env_id, seed=seed, num_envs=64, n_steps=64, batch_size=1_024, n_epochs=4,
        learning_rate=1e-3, entropy_coefficient=0.01, total_steps=ppo_steps, threads=1,
        log_every=ppo_steps // 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", nargs="*", default=None, choices=sorted(BUDGETS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'MDP':<18}{'agent':<6}{'steps':>10}{'steps/s':>9}{'J*':>10}{'J^pi':>10}"
          f"{'regret':>10}{'greedy':>10}{'critic err':>11}{'Q* err':>9}")
    for name in args.only or BUDGETS:
        for label, train, config in configurations(name, args.scale, args.seed):
            s = train(config).summary
            print(f"{name:<18}{label:<6}{s['steps']:>10,}{s['steps_per_second']:>9,.0f}"
                  f"{s['optimal_return']:>10.4g}{s['exact_return']:>10.4g}{s['regret']:>10.3g}"
                  f"{s['greedy_regret']:>10.3g}{s['critic_error']:>11.3g}"
                  f"{s.get('q_star_error', float('nan')):>9.3g}", flush=True)


if __name__ == "__main__":
    main()
