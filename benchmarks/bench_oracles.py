"""Print how long the oracles, the reference and `rlspec verify` take on this machine.

    python benchmarks/bench_oracles.py            # oracles and reference
    python benchmarks/bench_oracles.py --verify   # also the full `rlspec verify`

Figures, not tests: nothing here asserts a time.
"""

import argparse
import time

import numpy as np

from rlspec.oracles import dynamic_programming as dynamic_programming_oracle
from rlspec.oracles.methods import exact_rational, linear_program
from rlspec.reference import dynamic_programming
from rlspec.toy_mdps.catalogue import make
from rlspec.toy_mdps.random_mdps import random_mdp


def timed(label: str, function, *arguments, repeat: int = 3) -> None:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function(*arguments)
        best = min(best, time.perf_counter() - started)
    print(f"  {label:<58} {best * 1000:10.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--verify", action="store_true", help="also time `rlspec verify`")
    verify = parser.parse_args().verify

    print("policy evaluation, uniform policy (best of 3):")
    for name in ("sb-gridworld-5x5", "frozenlake-8x8", "taxi"):
        mdp = make(name)
        uniform = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
        tables = (mdp.transitions, mdp.rewards, mdp.gamma, uniform)
        timed(f"{name} ({mdp.n_states} states): dense LU", dynamic_programming_oracle.evaluate_policy, *tables, False)
        timed(f"{name} ({mdp.n_states} states): scipy.sparse", dynamic_programming_oracle.evaluate_policy, *tables, True)
        if mdp.n_states <= 64:
            timed(f"{name}: reference iterative evaluation", dynamic_programming.iterative_policy_evaluation,
                  *tables, repeat=1)

    print("optimal values:")
    for name in ("sb-gridworld-5x5", "cliff-walking", "frozenlake-8x8", "taxi"):
        mdp = make(name)
        tables = (mdp.transitions, mdp.rewards, mdp.gamma)
        timed(f"{name} ({mdp.n_states} x {mdp.n_actions}): linear program (HiGHS)",
              linear_program.optimal_values_lp, *tables, repeat=1)
        if mdp.n_states <= 64:
            timed(f"{name}: reference value iteration", dynamic_programming.value_iteration, *tables, repeat=1)
    for n_states in (4, 8, 12):
        mdp = random_mdp(n_states, 3, 0.9, seed=0)
        timed(f"random {n_states} x 3: exact rational policy iteration",
              exact_rational.optimal_values_exact, mdp.transitions, mdp.rewards, mdp.gamma, repeat=1)

    if verify:
        from rlspec.checks.verify import verify as run_verify

        started, cases = time.perf_counter(), 0
        rows = list(run_verify())
        cases = sum(row.report.cases_run for row in rows if row.report)
        print(f"rlspec verify: {len(rows)} entries, {cases} cases, "
              f"{sum(row.passed for row in rows)} passed, {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
