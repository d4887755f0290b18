"""The logic of ``rlspec train`` and ``rlspec plot`` (the lead wires them into the CLI).

``rlspec train ALGO ENV [--total-steps N] [--seed S] [--num-envs N] [--device D]
[--validate [K]] [--out DIR] [--set NAME=VALUE ...]`` trains one agent and writes
``DIR/metrics.jsonl`` (and ``.csv``), ``DIR/checkpoint.pt`` and ``DIR/summary.json``;
``rlspec plot RUN... [--out DIR]`` draws their figures.  Exit codes: 0 done, 1 live
validation found a mismatch, 2 usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from rlspec.agents import a2c, dqn, ppo, sac, td3
from rlspec.agents.live_validation import ValidationMismatch
from rlspec.agents.runtime import DEVICES

__all__ = ["add_train_arguments", "run_train", "add_plot_arguments", "run_plot", "TRAINERS"]

#: algorithm -> (config factory, train function)
TRAINERS = {
    "dqn": (dqn.DQNConfig, dqn.train),
    "a2c": (a2c.A2CConfig, a2c.train),
    "ppo": (ppo.PPOConfig, ppo.train),
    "td3": (td3.TD3Config, td3.train),
    "ddpg": (td3.ddpg_config, td3.train),
    "sac": (sac.SACConfig, sac.train),
}

#: Validate every this many updates when ``--validate`` is given without a number.
DEFAULT_VALIDATE_EVERY = 10


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("algorithm", choices=sorted(TRAINERS), help="the agent to train")
    parser.add_argument("env_id", help="a gymnasium id, e.g. CartPole-v1 or "
                                       "rlspec/frozenlake-4x4-v0 (exact optimum known)")
    parser.add_argument("--total-steps", type=int, default=None,
                        help="environment steps in all (default: the algorithm's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=None, help="parallel environments")
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    parser.add_argument("--validate", nargs="?", type=int, const=DEFAULT_VALIDATE_EVERY,
                        default=0, metavar="K",
                        help=f"send the real batch through the oracles every K updates "
                             f"(default K = {DEFAULT_VALIDATE_EVERY}); stop on a mismatch")
    parser.add_argument("--out", default=None,
                        help="run directory (default: runs/ALGO-ENV-sSEED)")
    parser.add_argument("--env-backend", choices=("auto", "gymnasium", "torch"), default="auto",
                        help="toy MDPs: batched in torch (auto, torch) or gymnasium's vector env")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest for these small networks)")
    parser.add_argument("--log-every", type=int, default=None, help="steps between records")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="any hyperparameter of the algorithm's config, e.g. "
                             "--set double=true --set learning_rate=1e-3")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parse_value(field: dataclasses.Field, text: str):
    """Turn ``text`` into the type of a config field (bool, int, float, tuple, str, None)."""
    if text.lower() == "none":
        return None
    default = field.default
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"--set {field.name}: expected true or false, got {text!r}")
        return text.lower() in ("true", "1")
    if isinstance(default, tuple):
        return tuple(int(part) for part in text.split(","))
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float) or "float" in str(field.type):
        return float(text)
    return text


def build_config(args: argparse.Namespace):
    make_config, _ = TRAINERS[args.algorithm]
    defaults = make_config()
    fields = {field.name: field for field in dataclasses.fields(defaults)}
    options = {"env_id": args.env_id, "seed": args.seed, "device": args.device,
               "validate_every": args.validate, "env_backend": args.env_backend,
               "threads": args.threads, "progress": not args.no_progress}
    for name, value in (("total_steps", args.total_steps), ("num_envs", args.num_envs),
                        ("log_every", args.log_every)):
        if value is not None:
            options[name] = value
    for assignment in args.set:
        name, separator, text = assignment.partition("=")
        if not separator or name not in fields:
            raise ValueError(f"--set {assignment!r}: expected NAME=VALUE with NAME one of "
                             f"{sorted(fields)}")
        options[name] = _parse_value(fields[name], text)
    safe_env = args.env_id.replace("/", "_")
    options["out"] = args.out or str(Path("runs") / f"{args.algorithm}-{safe_env}-s{args.seed}")
    return make_config(**options)


def run_train(args: argparse.Namespace) -> int:
    try:
        config = build_config(args)
    except ValueError as error:
        print(f"rlspec train: {error}", file=sys.stderr)
        return 2
    _, train = TRAINERS[args.algorithm]
    try:
        result = train(config)
    except ValidationMismatch as mismatch:
        print(f"rlspec train: {mismatch}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as error:
        print(f"rlspec train: {error}", file=sys.stderr)
        return 2
    summary = result.summary
    out = Path(config.out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"{args.algorithm} on {args.env_id}: {summary['steps']:,} steps in "
          f"{summary['seconds']:.1f} s ({summary['steps_per_second']:,.0f} steps/s), "
          f"mean episode return {summary['episode_return']:.4g}")
    if "regret" in summary:
        line = (f"exact: J^pi = {summary['exact_return']:.6g}, J* = {summary['optimal_return']:.6g}, "
                f"regret {summary['regret']:.3g} (greedy {summary['greedy_regret']:.3g}), "
                f"critic error {summary['critic_error']:.3g}")
        if "q_star_error" in summary:
            line += f", Q* error {summary['q_star_error']:.3g}"
        print(line)
    print(summary["validation"])
    print(f"wrote {out / 'metrics.jsonl'}, {out / 'metrics.csv'}, {out / 'checkpoint.pt'}, "
          f"{out / 'summary.json'}")
    return 0


def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="run directories written by rlspec train "
                                                "(or their metrics.jsonl files)")
    parser.add_argument("--out", default=None,
                        help="directory for the PNG files (default: the first run's plots/)")


def run_plot(args: argparse.Namespace) -> int:
    from rlspec.agents.metrics import read_metrics
    from rlspec.agents.plotting import plot_runs

    try:
        runs = {}
        for run in args.runs:
            path = Path(run)
            label = (path.parent if path.suffix == ".jsonl" else path).name
            runs[label] = read_metrics(path)
        first = Path(args.runs[0])
        directory = Path(args.out) if args.out else (
            first.parent if first.suffix == ".jsonl" else first) / "plots"
        written = plot_runs(runs, directory)
    except (FileNotFoundError, ImportError, ValueError) as error:
        print(f"rlspec plot: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    """``python -m rlspec.agents.cli train ...`` / ``plot ...`` until the lead wires them."""
    parser = argparse.ArgumentParser(prog="rlspec")
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(commands.add_parser("train", help="train an agent"))
    add_plot_arguments(commands.add_parser("plot", help="plot training runs"))
    args = parser.parse_args(argv)
    return run_train(args) if args.command == "train" else run_plot(args)


if __name__ == "__main__":
    sys.exit(main())
