"""``rlspec solve`` for large generated MDPs: the certified values and their proven bound.

The lead wires :func:`add_arguments` and :func:`run` into the ``rlspec`` command; the names
are those of ``rlspec.toy_mdps.large`` (``large-grid-100000``, ``large-random-1000-seed2``)
or of the catalogue (``chain-100000``), solved without any dense table.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from rlspec.oracles import certified

EXIT_OK, EXIT_USAGE = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mdp", help="a large MDP name, large-<kind>-<size>[-seed<k>], or a "
                                    "catalogue name")
    parser.add_argument("--policy", choices=["random", "optimal"], default="optimal",
                        help="the uniform random policy's values, or V* (default)")
    parser.add_argument("--gamma", type=float, default=None, help="override the discount")
    parser.add_argument("--json", action="store_true", help="print V, the policy and the "
                                                            "bound as JSON")


def build(name: str, gamma: float | None):
    from rlspec.toy_mdps import catalogue, large

    mdp = large.make_large_named(name) if name.startswith("large-") else catalogue.make(name)
    return mdp if gamma is None else mdp.with_gamma(gamma)


def run(arguments) -> int:
    from rlspec.validation import InvalidInputError

    try:
        mdp = build(arguments.mdp, arguments.gamma)
    except (KeyError, InvalidInputError) as error:
        print(f"rlspec solve: {error.args[0] if isinstance(error, KeyError) else error}")
        return EXIT_USAGE
    start = time.perf_counter()
    if arguments.policy == "random":
        uniform = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
        answer, actions = certified.evaluate_policy(mdp, uniform), None
    else:
        result = certified.optimal_policy(mdp)
        answer, actions = result.optimal_values, result.actions
    seconds = time.perf_counter() - start
    values = answer.values
    if arguments.json:
        print(json.dumps({"mdp": arguments.mdp, "gamma": mdp.gamma, "n_states": mdp.n_states,
                          "policy_kind": arguments.policy, "V": values.tolist(),
                          "policy": None if actions is None else actions.tolist(),
                          "error_bound": answer.error_bound, "method": answer.method}))
        return EXIT_OK
    start_value = float(mdp.initial_distribution @ values)
    print(f"{mdp!r}, {arguments.policy} policy, solved in {seconds:.2f} s")
    print(f"  V: min {values.min():.6g}, max {values.max():.6g}; "
          f"expected from the start distribution {start_value:.10g}")
    print(f"  proven: max |V - exact| <= {answer.error_bound:.3g} ({answer.method})")
    return EXIT_OK
