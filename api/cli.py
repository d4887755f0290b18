"""The ``rlspec`` command: verify the spec, solve toy MDPs, list what exists, check your code."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from rlspec.checks.verify import DEFAULT_EXAMPLES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return EXIT_USAGE
    from rlspec.checks.core import UsageError as CheckUsageError

    try:
        return arguments.run(arguments)
    except (UsageError, CheckUsageError) as error:
        print(f"rlspec {arguments.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `rlspec list | head`: the reader left, which is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


class UsageError(Exception):
    """A command-line argument names something that does not exist."""


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlspec",
        description="A verified reference specification and test-oracle suite for deep RL: "
                    "exact oracles for the formulas of the notes, and checks for your own code.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    verify = commands.add_parser(
        "verify", help="verify spec entries: rlspec's references against the exact oracles",
        description="Run every spec entry's check against rlspec's own reference: edge cases, "
                    "generated cases and the named toy MDPs. Exits 1 if any entry fails.")
    verify.add_argument("ids", nargs="*", metavar="ID", help="spec IDs (default: all)")
    verify.add_argument("--max-examples", type=_positive(int), default=None,
                        help=f"generated cases per entry (default {DEFAULT_EXAMPLES})")
    verify.add_argument("-j", "--jobs", type=_positive(int), default=1,
                        help="verify entries in this many processes (default 1)")
    verify.add_argument("--json", action="store_true", help="print JSON instead of a table")
    verify.set_defaults(run=_verify)

    solve = commands.add_parser(
        "solve", help="print the exact values of a named toy MDP",
        description="Solve a named toy MDP exactly (linear solve for a policy's values, linear "
                    "program for the optimal ones). Grid worlds print as grids.")
    solve.add_argument("mdp", help="an MDP name from `rlspec list mdps`; large-<kind>-<size>"
                                   "[-seed<k>] is built sparse and solved with a proven bound")
    solve.add_argument("--policy", choices=["random", "optimal"], default="optimal",
                       help="the equiprobable random policy or an optimal one (default)")
    solve.add_argument("--gamma", type=float, default=None, help="override the discount")
    solve.add_argument("--json", action="store_true",
                       help="print {mdp, gamma, policy_kind, states, V, Q, policy} as JSON")
    solve.set_defaults(run=_solve)

    from rlspec.site import command as site_command
    from rlspec.site import show as site_show

    show = commands.add_parser(
        "show", help="print a spec entry and run its worked example",
        description="Print the spec entry ID (statement, conventions, signature, erratum, the "
                    "reference's source) and run the reference's worked examples live.")
    site_show.add_arguments(show)
    show.set_defaults(run=site_show.run)

    site = commands.add_parser(
        "site", help="build the documentation site (needs the `site` extra)",
        description="Build a static site from the spec entries: a page per entry with "
                    "rendered math, sources, figures and the last verification.")
    site_command.add_arguments(site)
    site.set_defaults(run=site_command.run)

    for name, summary in (("train", "train an agent, with live validation and exact optima "
                                    "on toy MDPs (rlspec train --help)"),
                          ("plot", "draw learning curves and value heat maps of runs")):
        delegated = commands.add_parser(name, help=summary, add_help=False)
        delegated.add_argument("arguments", nargs=argparse.REMAINDER)
        delegated.set_defaults(run=_delegated(name))

    from rlspec.integrations import audit as library_audit

    audit = commands.add_parser(
        "audit", help="judge an installed library's formulas (sb3, torchrl, trl, verl, rlax, "
                      "cleanrl)",
        description="Run every applicable check and variant against the installed library and "
                    "print a conformance table. Exit 0 when only documented divergences remain.")
    library_audit.add_arguments(audit)
    audit.set_defaults(run=library_audit.run)

    listing = commands.add_parser(
        "list", help="list MDPs, checks or spec entries",
        description="List the named toy MDPs, the checks (spec ID, alias, signature) or the "
                    "spec entries. Words after the kind keep the rows that contain them all, "
                    "e.g. `rlspec list checks value iteration`.")
    listing.add_argument("kind", nargs="?", choices=["mdps", "checks", "spec"], default=None)
    listing.add_argument("words", nargs="*", help="keep the rows that contain every word")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)

    check = commands.add_parser(
        "check", help="check your own function against an exact oracle",
        description="Judge module:callable on the check NAME, a spec entry ID or its alias "
                    "(`rlspec list checks`). The function runs in a worker process. Exit 0 if "
                    "it conforms, 1 with a minimal counterexample if not, 2 on a usage error.")
    check.add_argument("name", help="a spec entry ID (gae.advantage) or a check alias (gae)")
    check.add_argument("candidate", help="module:callable, importable from the current directory")
    check.add_argument("--max-examples", type=int, default=100,
                       help="generated cases to try (default 100)")
    check.add_argument("--timeout", type=float, default=10.0,
                       help="seconds allowed per call (default 10)")
    check.add_argument("--tolerance", type=float, default=None,
                       help="relative tolerance in (0, 0.01] (default 1e-6 of max(1, |expected|))")
    check.add_argument("--memory-limit", type=int, default=None, metavar="MB",
                       help="the worker's memory limit in megabytes (default 8192)")
    check.add_argument("--adapter", default=None,
                       help="your function's input convention, if not the canonical one: "
                            + ", ".join(sorted(_adapter_names())))
    check.add_argument("--rename", action="append", default=[], metavar="CANONICAL=YOURS",
                       help="pass a canonical argument under your parameter name (repeatable)")
    check.add_argument("--discounted-only", action="store_true",
                       help="leave out episodic gamma = 1 cases")
    check.add_argument("--forbid-input-writes", action="store_true",
                       help="fail a function that writes into its input arrays (default: warn)")
    check.add_argument("--large", type=int, default=None, metavar="STATES",
                       help="MDP checks: add generated MDPs of up to STATES states (10000 to "
                            "1000000), judged against certified answers; every case then "
                            "passes transitions as a CSR matrix (S * A, S)")
    check.add_argument("--large-timeout", type=float, default=None, metavar="SECONDS",
                       help="seconds allowed per large case (default 60)")
    check.add_argument("--json", action="store_true", help="print the report as strict JSON")
    check.set_defaults(run=_check)
    return parser


#: The alignment trainers of ``rlspec train`` (rlspec.agents.alignment); the others are the
#: control agents (rlspec.agents).
ALIGNMENT_TRAINERS = ("reward-model", "dpo", "rlhf-ppo", "grpo", "dr-grpo", "dapo", "gspo")


def _delegated(command: str):
    """``rlspec train`` and ``rlspec plot`` parse their own arguments, so that torch and the
    agents are imported only when one of them runs."""
    def run(arguments) -> int:
        parser = argparse.ArgumentParser(prog=f"rlspec {command}")
        if command == "train" and arguments.arguments[:1] and \
                arguments.arguments[0] in ALIGNMENT_TRAINERS:
            from rlspec.agents.alignment import cli as alignment_cli
            alignment_cli.add_arguments(parser)
            return alignment_cli.run(parser.parse_args(arguments.arguments))
        from rlspec.agents import cli as agents_cli

        getattr(agents_cli, f"add_{command}_arguments")(parser)
        return getattr(agents_cli, f"run_{command}")(parser.parse_args(arguments.arguments))
    return run


def _adapter_names() -> list[str]:
    from rlspec.checks.adapters import all_adapters
    return list(all_adapters())


def _verify(arguments) -> int:
    from rlspec.checks.verify import verify
    from rlspec.spec import registry

    for spec_id in arguments.ids:
        try:
            registry.entry(spec_id)
        except KeyError as error:
            raise UsageError(error.args[0]) from None
    started = time.perf_counter()
    rows = []
    for result in verify(arguments.ids, arguments.max_examples or DEFAULT_EXAMPLES,
                         arguments.jobs):
        rows.append(result)
        if not arguments.json:
            _print_verification_row(result, first=len(rows) == 1)
    failed = [row for row in rows if not row.passed]
    if arguments.json:
        print(json.dumps([{**row.entry.summary(), "passed": row.passed,
                           "cases": row.report.cases_run if row.report else 0,
                           "seconds": round(row.seconds, 3), "error": row.error,
                           "counterexample": row.report.to_dict()["counterexample"]
                           if row.report else None} for row in rows], indent=2))
    else:
        for row in failed:
            print()
            print(row.error if row.error else row.report)
        print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed "
              f"({sum(row.report.cases_run for row in rows if row.report)} cases, "
              f"{time.perf_counter() - started:.1f} s)")
    return EXIT_FAILED if failed else EXIT_OK


def _print_verification_row(result, first: bool) -> None:
    if first:
        print(f"{'ID':<34} {'TITLE':<46} {'STATUS':<9} {'CASES':>6} {'TIME':>7}  RESULT")
    entry = result.entry
    cases = result.report.cases_run if result.report else 0
    print(f"{entry.id:<34} {entry.title[:46]:<46} {entry.status:<9} {cases:>6} "
          f"{result.seconds:>6.2f}s  {'PASS' if result.passed else 'FAIL'}", flush=True)


def _solve(arguments) -> int:
    if arguments.mdp.startswith("large-"):  # sparse: the certified solvers and their bound
        from rlspec import solve_large
        return solve_large.run(arguments)
    import numpy as np
    from rlspec.oracles.dynamic_programming import action_values, evaluate_policy
    from rlspec.oracles.methods.linear_program import (
        optimal_action_values_lp,
        optimal_actions,
    )
    from rlspec.toy_mdps.catalogue import make
    from rlspec.validation import InvalidInputError

    try:
        mdp = make(arguments.mdp, arguments.gamma)
    except KeyError as error:
        raise UsageError(error.args[0]) from None
    except InvalidInputError as error:
        raise UsageError(str(error)) from None
    tables = (mdp.transitions, mdp.rewards, mdp.gamma)
    if arguments.policy == "random":
        policy = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
        values = evaluate_policy(*tables, policy)
        q = action_values(*tables, policy)
    else:
        q = optimal_action_values_lp(*tables)
        values = q.max(axis=1)
        # Actions within 1e-7 of the scale count as tied: the LP's error is far smaller, and
        # a printed grid shows no differences below that.
        policy = optimal_actions(q, 1e-7 * max(1.0, float(np.abs(q).max())))
    if arguments.json:
        print(json.dumps({
            "mdp": arguments.mdp, "gamma": mdp.gamma, "policy_kind": arguments.policy,
            "states": list(mdp.state_labels), "actions": list(mdp.action_labels),
            "grid_shape": list(mdp.grid_shape) if mdp.grid_shape else None,
            "terminal_states": np.flatnonzero(mdp.terminal_states).tolist(),
            "V": values.tolist(), "Q": q.tolist(), "policy": policy.tolist(),
        }, indent=2))
        return EXIT_OK
    print(f"{mdp!r}, {arguments.policy} policy")
    if mdp.grid_shape:
        rows, cols = mdp.grid_shape
        grid = values.reshape(rows, cols)
        width = max(len(f"{v:.1f}") for v in values) + 1
        print("V (row-major, state = row * width + col):")
        for row in grid:
            print("  " + "".join(f"{v:>{width}.1f}" for v in row))
    else:
        for label, value in zip(mdp.state_labels, values):
            print(f"  V({label}) = {value:.6g}")
    if arguments.policy == "optimal":
        print("optimal actions:")
        for s, label in enumerate(mdp.state_labels):
            if not mdp.terminal_states[s] and mdp.n_states <= 64:
                chosen = [mdp.action_labels[a] for a in np.flatnonzero(policy[s])]
                print(f"  {label}: {', '.join(chosen)}")
    return EXIT_OK


def _list(arguments) -> int:
    kinds = [arguments.kind] if arguments.kind else ["mdps", "checks", "spec"]
    words = [word.lower() for word in arguments.words]
    listing = {kind: [row for row in _listing(kind)
                      if all(word in json.dumps(row).lower() for word in words)]
               for kind in kinds}
    if arguments.json:
        print(json.dumps(listing if arguments.kind is None else listing[arguments.kind], indent=2))
        return EXIT_OK
    for kind, items in listing.items():
        print(f"{kind}:")
        for item in items:
            if kind == "mdps":
                print(f"  {item['description']}")
            elif kind == "checks":
                alias = f"(alias {item['alias']})"
                print(f"  {item['id']:<34} {alias:<34} {item['summary']}\n"
                      f"  {'':<34} {item['signature']}")
            else:
                print(f"  {item['id']:<34} {item['status']:<9} {item['check']:<26} "
                      f"{item['title']}")
    return EXIT_OK


def _listing(kind: str) -> list[dict]:
    if kind == "mdps":
        from rlspec.toy_mdps.catalogue import describe, names
        from rlspec.toy_mdps.large import LARGE_NAME_EXAMPLES, describe_large
        return [{"name": name, "description": describe(name)} for name in names()] + \
            [{"name": name, "description": describe_large(name)} for name in LARGE_NAME_EXAMPLES]
    from rlspec.spec import registry
    if kind == "spec":
        return [entry.summary() for entry in registry.entries()]
    from rlspec.checks.batteries import BATTERIES, variants_of
    rows = []
    for entry in registry.entries():
        rows.append({"id": entry.id, "alias": entry.check, "summary": BATTERIES[entry.check].summary,
                     "signature": BATTERIES[entry.check].signature, "title": entry.title})
        rows += [{"id": f"{entry.id}@{v.variant}", "alias": f"{entry.check}@{v.variant}",
                  "summary": f"{v.summary} [variant: {v.users}]", "signature": v.signature,
                  "title": entry.title} for v in variants_of(entry.check) if v.spec_id == entry.id]
    return rows


def _check(arguments) -> int:
    from rlspec.checks.core import RELATIVE_TOLERANCE
    from rlspec.checks.runner import DEFAULT_LARGE_TIMEOUT_SECONDS, DEFAULT_MEMORY_LIMIT_MB, check

    if arguments.candidate.count(":") != 1 or not all(arguments.candidate.split(":")):
        raise UsageError(f"candidate must be module:callable, got {arguments.candidate!r}")
    report = check(arguments.name, arguments.candidate, max_examples=arguments.max_examples,
                   timeout=arguments.timeout,
                   tolerance=RELATIVE_TOLERANCE if arguments.tolerance is None
                   else arguments.tolerance,
                   include_undiscounted=not arguments.discounted_only,
                   adapter=arguments.adapter, rename=arguments.rename,
                   forbid_input_writes=arguments.forbid_input_writes,
                   memory_limit=arguments.memory_limit or DEFAULT_MEMORY_LIMIT_MB,
                   large_states=arguments.large,
                   large_timeout=arguments.large_timeout or DEFAULT_LARGE_TIMEOUT_SECONDS)
    print(report.to_json() if arguments.json else report)
    return EXIT_OK if report.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
