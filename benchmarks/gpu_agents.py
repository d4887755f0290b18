"""The GPU checks of the agents, in one script that should finish in under 8 minutes.

1. env-steps/s of the batched torch toy MDP on the GPU (and on the CPU for reference);
2. a tabular agent at scale: PPO with 4,096 parallel copies of FrozenLake 8x8 on the GPU,
   judged exactly (regret, critic error) at the end;
3. a PPO run (CartPole-v1) and a SAC run (Pendulum-v1) with ``--device cuda``, each with
   live validation on, to show that the same code runs and validates on the device.

    python benchmarks/gpu_agents.py            # needs torch with CUDA and a visible GPU

Not yet run: no GPU was lent to the session that wrote it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch



def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_agents: torch sees no CUDA device; nothing to check", file=sys.stderr)
        return 2
    from rlspec.agents import ppo, sac
    sys.path.insert(0, str(Path(__file__).parent))   # bench_tabular_env sits next to this file
    from bench_tabular_env import steps_per_second

    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    for device, count in (("cuda", 65_536), ("cuda", 262_144), ("cpu", 4_096)):
        rate = steps_per_second("rlspec/frozenlake-8x8-v0", count, "torch", device, 3.0)
        print(f"batched frozenlake-8x8 on {device}, N = {count:,}: {rate:,.0f} env-steps/s")

    started = time.perf_counter()
    result = ppo.train(ppo.PPOConfig(
        env_id="rlspec/frozenlake-8x8-v0", device="cuda", num_envs=4096, n_steps=64,
        batch_size=16_384, n_epochs=4, learning_rate=1e-3, entropy_coefficient=0.01,
        total_steps=20_000_000, log_every=2_000_000, validate_every=50))
    s = result.summary
    print(f"PPO frozenlake-8x8, 4,096 envs on cuda: {s['steps']:,} steps, "
          f"{s['steps_per_second']:,.0f} steps/s, regret {s['regret']:.4g} (greedy "
          f"{s['greedy_regret']:.4g}), critic error {s['critic_error']:.3g}; {s['validation']}; "
          f"{time.perf_counter() - started:.0f} s")

    for label, train, config in (
            ("PPO CartPole-v1", ppo.train, ppo.PPOConfig(
                env_id="CartPole-v1", device="cuda", num_envs=8, n_steps=32, batch_size=256,
                n_epochs=20, gae_lambda=0.8, gamma=0.98, learning_rate=1e-3,
                total_steps=100_000, validate_every=20)),
            ("SAC Pendulum-v1", sac.train, sac.SACConfig(
                env_id="Pendulum-v1", device="cuda", learning_rate=1e-3, total_steps=10_000,
                validate_every=500))):
        started = time.perf_counter()
        s = train(config).summary
        print(f"{label} on cuda: return {s['episode_return']:.1f}, {s['steps_per_second']:,.0f} "
              f"steps/s; {s['validation']}; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
