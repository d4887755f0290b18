"""Start-up and isolation costs of the command line, beside Python's and torch's own.

Prints the median wall time of each command over a few runs, measured in the same run:
``python -c pass`` and ``python -c "import torch"`` as the floor, then ``rlspec --help``,
``rlspec list``, a check of a numpy formula (the discounted return) and of a torch loss
(PPO's clipped objective), and the per-call cost of the worker process.

    python benchmarks/bench_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NUMPY_CANDIDATE = '''
import numpy as np

def discounted_return(rewards, gamma):
    out, running = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out
'''

TORCH_CANDIDATE = '''
import torch

def ppo_loss(log_prob, old_log_prob, advantages, clip_epsilon):
    ratio = torch.exp(log_prob - old_log_prob.detach())
    advantages = advantages.detach()
    clipped = torch.clamp(ratio, 1 - clip_epsilon, 1 + clip_epsilon)
    return -torch.min(ratio * advantages, clipped * advantages).mean()
'''


def timed(command: list[str], folder: Path, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, cwd=folder, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    python = sys.executable
    rlspec = [python, "-m", "rlspec.cli"]
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        (folder / "mine.py").write_text(NUMPY_CANDIDATE)
        (folder / "mine_torch.py").write_text(TORCH_CANDIDATE)
        rows = [
            ("python -c pass", [python, "-c", "pass"]),
            ("python -c 'import torch'", [python, "-c", "import torch"]),
            ("rlspec --help", [*rlspec, "--help"]),
            ("rlspec list", [*rlspec, "list"]),
            ("rlspec check mdp.return (numpy)", [*rlspec, "check", "mdp.return",
                                                 "mine:discounted_return"]),
            ("rlspec check ppo.clipped-objective (torch)",
             [*rlspec, "check", "ppo.clipped-objective", "mine_torch:ppo_loss"]),
        ]
        results = {label: timed(command, folder, repeats) for label, command in rows}
    floor = results["python -c pass"]
    print(f"{'command':<44} {'median s':>9} {'minus python':>13}")
    for label, seconds in results.items():
        print(f"{label:<44} {seconds:>9.3f} {seconds - floor:>13.3f}")
    _print_call_cost()


def _print_call_cost() -> None:
    """The worker's cost inside one process: a fork per check and a round trip per case."""
    import numpy as np

    import rlspec
    from rlspec.checks.candidate import Request
    from rlspec.checks.worker import CandidateOutput, CandidateSource, Worker

    worker = Worker(CandidateSource(lambda rewards, gamma: rewards, "identity"), 0,
                    CandidateOutput())
    started = time.perf_counter()
    worker.start(10.0)
    start_cost = time.perf_counter() - started
    request = Request({"rewards": np.ones(8), "gamma": 0.5})
    calls = 2000
    started = time.perf_counter()
    for _ in range(calls):
        worker.call(request, 10.0)
    per_call = (time.perf_counter() - started) / calls
    worker.stop()
    started = time.perf_counter()
    report = rlspec.check("mdp.return", lambda rewards, gamma: _returns(rewards, gamma))
    check_cost = time.perf_counter() - started
    print(f"\nworker start (fork): {start_cost * 1e3:.2f} ms; one call's round trip: "
          f"{per_call * 1e6:.0f} us; a whole check of mdp.return in-process: "
          f"{check_cost:.2f} s for {report.cases_run} cases")


def _returns(rewards, gamma):
    import numpy as np
    out, running = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


if __name__ == "__main__":
    main()
