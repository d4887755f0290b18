"""Certified sparse solvers against the MDP toolboxes, side by side in one run (issue 13).

    pip install -e '.[bench]'            # mdptoolbox-hiive, pymdptoolbox
    python benchmarks/bench_scale.py --max-states 1000000 --toolbox-max-states 100000

For each MDP (``rlspec.toy_mdps.large``: Garnet random MDPs with 4 actions and 3
successors, gamma 0.95, the MDPs of the issue's measurements; and slippery grid worlds,
gamma 0.99) of 10^3 .. 10^6 states it times, in this process one after the other:

* V^pi of a seeded random deterministic policy: ``rlspec.oracles.certified.evaluate_policy``
  and, as the plain baseline, one sparse LU solve (``scipy.sparse.linalg.spsolve``);
* V*: ``certified.optimal_policy`` and the toolboxes' solvers on the same sparse tables:
  mdptoolbox-hiive ValueIteration (its default epsilon 0.01 and a tight 1e-8),
  PolicyIterationModified and PolicyIteration (both build the policy's transition matrix dense
  (74.5 GiB at 10^5 states); PolicyIteration's exact evaluation is a dense solve, so
  only up to 10^4 states), and pymdptoolbox's PolicyIteration (up to 10^4 states, same
  reason; its ValueIteration does not return V* and its LP is wrong, as issue 13 found).
  hiive's value iteration and modified policy iteration stop on the *span* of the change
  (an epsilon-optimal policy), so their V is off V* by a near-constant: their error
  column shows it, and only the exact policy iterations reach V*'s accuracy.

Columns: wall time (s, the toolboxes' including the construction of their solver
object, which converts the tables; "setup s" is that construction alone), peak memory traced by ``tracemalloc`` in a second run (MiB;
numpy and scipy arrays, not SuperLU's internal buffers; "nan" for runs over 60 s), the error ``max |V - V_certified|`` against the
certified answer, and for our rows the proven bound.  The ratios at the end compare our
V* time with the fastest toolbox method whose error is no larger than our bound (equal or
better accuracy) and with the fastest toolbox method at all.  A method that took longer
than ``--budget`` seconds is not run at the larger sizes.  The machine's load average is
printed: on a shared machine the times are upper bounds of an idle machine's.
"""

from __future__ import annotations

import os

# One BLAS thread for every method: on the shared 2-core machine threaded level-1/2 BLAS
# made the toolboxes' value iteration 300x slower (6 s instead of 0.02 s at 10^3 states)
# and our solves 15x slower.  Set before numpy loads OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402
import scipy.sparse.linalg  # noqa: E402

from rlspec.oracles import certified  # noqa: E402
from rlspec.toy_mdps import large  # noqa: E402


def measure(function, memory_limit_seconds: float = 60.0):
    """(result, seconds, peak MiB) of ``function()``.

    Timed on its own first; then, if that took under ``memory_limit_seconds``, run again
    under ``tracemalloc`` for the peak memory (NaN otherwise): tracing slowed the
    toolboxes' Python loops 200x, so time and memory never come from the same run.
    """
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    if seconds > memory_limit_seconds:
        return result, seconds, float("nan")
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, seconds, peak / 2 ** 20


def toolbox_tables(mdp):
    """The toolboxes' layout: a list of A sparse S x S matrices and R[s, a]."""
    matrix = mdp.transition_matrix
    rows = np.arange(mdp.n_states) * mdp.n_actions
    return [matrix[rows + a].tocsr() for a in range(mdp.n_actions)], np.array(mdp.rewards)


def toolbox_methods(n_states):
    """name -> function(P, R, gamma) -> V, for the methods that fit at this size."""
    import hiive.mdptoolbox.mdp as hiive

    methods = {
        "hiive ValueIteration eps=0.01": lambda p, r, g: hiive.ValueIteration(
            p, r, g, epsilon=0.01, max_iter=100_000, skip_check=True),
        "hiive ValueIteration eps=1e-8": lambda p, r, g: hiive.ValueIteration(
            p, r, g, epsilon=1e-8, max_iter=100_000, skip_check=True),
    }
    if n_states <= 10_000:  # these build the policy's transition matrix dense: S^2 floats
        methods["hiive PolicyIterationModified"] = lambda p, r, g: hiive.PolicyIterationModified(
            p, r, g, skip_check=True)
        methods["hiive PolicyIteration"] = lambda p, r, g: hiive.PolicyIteration(
            p, r, g, skip_check=True)
        try:
            import mdptoolbox.mdp as pymdptoolbox

            methods["pymdptoolbox PolicyIteration"] = lambda p, r, g: pymdptoolbox.PolicyIteration(
                p, r, g)
        except ImportError:
            pass
    return methods


def run_toolbox(make, tables, gamma):
    solver = make(*tables, gamma)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver.run()
    return np.asarray(solver.V, dtype=np.float64)


def plain_sparse_lu(mdp, actions):
    markov, reward = certified.policy_matrix(mdp, certified.policy_probabilities(mdp, actions))
    system = scipy.sparse.identity(mdp.n_states, format="csc") - mdp.gamma * markov
    return scipy.sparse.linalg.spsolve(system.tocsc(), reward)


def benchmark(kinds, sizes, toolbox_max, budget, lu_max):
    rows = []
    too_slow: set[str] = set()
    for kind in kinds:
        for size in sizes:
            mdp, build_seconds, _ = measure(lambda: large.make_large(kind, size, seed=0))
            label = f"{kind}-{mdp.n_states}"
            print(f"\n{label}: {mdp!r}, {mdp.transition_matrix.nnz} non-zeros, built in "
                  f"{build_seconds:.2f} s", flush=True)
            actions = np.random.default_rng(0).integers(0, mdp.n_actions, mdp.n_states)

            v_pi, seconds, peak = measure(lambda: certified.evaluate_policy(mdp, actions))
            rows.append((label, "V^pi", "rlspec certified", seconds, peak, 0.0,
                         v_pi.error_bound, None))
            if f"{kind} spsolve" not in too_slow and mdp.n_states <= lu_max:
                lu, seconds, peak = measure(lambda: plain_sparse_lu(mdp, actions))
                rows.append((label, "V^pi", "scipy spsolve (LU)", seconds, peak,
                             float(np.abs(lu - v_pi.values).max()), None, None))
                if seconds > budget:
                    too_slow.add(f"{kind} spsolve")

            optimal, seconds, peak = measure(lambda: certified.optimal_policy(mdp))
            v_star = optimal.optimal_values
            rows.append((label, "V*", "rlspec certified", seconds, peak, 0.0,
                         v_star.error_bound, None))
            if mdp.n_states <= toolbox_max:
                tables = toolbox_tables(mdp)
                for name, make in toolbox_methods(mdp.n_states).items():
                    if f"{kind} {name}" in too_slow:
                        continue
                    values, seconds, peak = measure(lambda: run_toolbox(make, tables, mdp.gamma))
                    setup = float("nan")
                    if seconds < budget:
                        start = time.perf_counter()
                        make(*tables, mdp.gamma)
                        setup = time.perf_counter() - start
                    rows.append((label, "V*", name, seconds, peak,
                                 float(np.abs(values - v_star.values).max()), None, setup))
                    if seconds > budget:
                        too_slow.add(f"{kind} {name}")
            for row in rows:
                if row[0] == label:
                    print(format_row(row), flush=True)
    return rows


def format_row(row) -> str:
    label, quantity, method, seconds, peak, error, bound, setup = row
    bound_text = f"{bound:.1e}" if bound is not None else "-"
    setup_text = f"{setup:.2f}" if setup is not None else "-"
    return (f"{label:<16} {quantity:<5} {method:<32} {seconds:>9.2f} {setup_text:>8} "
            f"{peak:>9.1f} {error:>10.1e} {bound_text:>9}")


def print_ratios(rows):
    print("\nV* time ratios (toolbox / rlspec certified):")
    for label in dict.fromkeys(row[0] for row in rows):
        ours = next(r for r in rows if r[0] == label and r[2] == "rlspec certified"
                    and r[1] == "V*")
        theirs = [r for r in rows if r[0] == label and r[1] == "V*" and r is not ours]
        if not theirs:
            continue
        fastest = min(theirs, key=lambda r: r[3])
        accurate = [r for r in theirs if r[5] <= ours[6]]
        text = (f"  {label:<16} fastest: {fastest[2]} {fastest[3] / ours[3]:.1f}x "
                f"({(fastest[3] - fastest[7]) / ours[3]:.1f}x without its setup)")
        if accurate:
            best = min(accurate, key=lambda r: r[3])
            text += (f"; fastest at equal accuracy: {best[2]} {best[3] / ours[3]:.1f}x "
                     f"({(best[3] - best[7]) / ours[3]:.1f}x without its setup)")
        else:
            text += "; no toolbox method reached our accuracy"
        print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-states", type=int, default=1_000_000)
    parser.add_argument("--toolbox-max-states", type=int, default=100_000)
    parser.add_argument("--lu-max-states", type=int, default=10_000,
                        help="largest MDP for the plain sparse LU (its fill-in on random "
                             "graphs grows fast: 13 s at 10^4 states, unfinished after 25 "
                             "minutes at 10^5)")
    parser.add_argument("--kinds", nargs="+", default=["random", "grid"],
                        choices=list(large.LARGE_MDPS))
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds after which a method is skipped at larger sizes")
    arguments = parser.parse_args()
    sizes = [size for size in (1_000, 10_000, 100_000, 1_000_000)
             if size <= arguments.max_states]
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
    rows = benchmark(arguments.kinds, sizes, arguments.toolbox_max_states, arguments.budget,
                     arguments.lu_max_states)
    print(f"\nload average at end: {os.getloadavg()}")
    print(f"\n{'MDP':<16} {'what':<5} {'method':<32} {'time s':>9} {'setup s':>8} "
          f"{'peak MiB':>9} {'error':>10} {'bound':>9}")
    for row in rows:
        print(format_row(row))
    print_ratios(rows)


if __name__ == "__main__":
    main()
