"""Environment steps per second: a toy MDP batched in torch vs gymnasium's vector envs.

Both sample the same MDP (``rlspec/<name>-v0``) with uniformly random actions, including
the resets at episode ends; the torch version steps all N copies with a few tensor
operations (``agents.tabular_env``), gymnasium's ``SyncVectorEnv`` calls N Python
environments.  Prints steps/s for several N; ``--device cuda`` times the torch env on a GPU.

    python benchmarks/bench_tabular_env.py [--mdp frozenlake-8x8] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from rlspec.agents.envs import make_vector_env


def steps_per_second(env_id: str, num_envs: int, backend: str, device: str, seconds: float) -> float:
    env = make_vector_env(env_id, num_envs, device, backend=backend)
    env.reset(seed=0)
    generator = torch.Generator(device=device).manual_seed(0)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(10):
            actions = torch.randint(env.n_actions, (num_envs,), generator=generator, device=device)
            env.step(actions)
        steps += 10 * num_envs
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    rate = steps / (time.perf_counter() - started)
    env.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mdp", default="frozenlake-8x8")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing per configuration")
    args = parser.parse_args()
    torch.set_num_threads(1)
    env_id = f"rlspec/{args.mdp}-v0"
    print(f"{env_id}, uniformly random actions, {args.seconds:g} s per row, one torch thread")
    print(f"{'backend':<22}{'N':>7}{'env-steps/s':>14}")
    for num_envs in (1, 16, 64):
        rate = steps_per_second(env_id, num_envs, "gymnasium", "cpu", args.seconds)
        print(f"{'gymnasium SyncVector':<22}{num_envs:>7}{rate:>14,.0f}", flush=True)
    for num_envs in (16, 1024, 4096, 16384):
        rate = steps_per_second(env_id, num_envs, "torch", args.device, args.seconds)
        print(f"{'torch ' + args.device:<22}{num_envs:>7}{rate:>14,.0f}", flush=True)


if __name__ == "__main__":
    main()
