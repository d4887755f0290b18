"""``rlspec audit LIB [--json]``: run every check and variant that applies to the installed
library and print its conformance table.

Each row is one library function judged by one check (``alias`` or ``alias@variant``): the
verdict, the counterexample's case and problem when it fails, and the library's documented
divergence or the known bug that explains an expected failure.  Exit status: 0 when every
failure is a documented divergence (a convention the library states, judged correctly by a
variant); 1 when a function fails a check it should pass, or a known library bug shows;
2 when the library is not installed.

The lead wires it into the CLI as ``rlspec audit`` with :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import time

from rlspec.integrations import LIBRARIES

DEFAULT_EXAMPLES = 25
EXIT_CONFORMS, EXIT_NONCONFORMING, EXIT_NOT_INSTALLED = 0, 1, 2


def add_arguments(parser) -> None:
    parser.add_argument("library", choices=sorted(LIBRARIES),
                        help="the library to audit (its extra must be installed: "
                             "pip install 'rlspec[LIB]')")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES,
                        help=f"generated cases per check (default {DEFAULT_EXAMPLES})")


def installed_version(library: str) -> str | None:
    distribution = LIBRARIES[library][1]
    if distribution is None:
        return "scripts (not installed)"
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _verdict(expect: str, passed: bool) -> str:
    if passed:
        return "PASS" if expect == "pass" else "PASS (expected to fail: update the table)"
    return {"pass": "FAIL", "divergence": "documented divergence", "bug": "known bug"}[expect]


def audit(library: str, max_examples: int = DEFAULT_EXAMPLES) -> dict:
    """Run the library's conformance rows; returns the table as a dict (see :func:`run`)."""
    import rlspec

    module = importlib.import_module(LIBRARIES[library][0])
    started, rows = time.perf_counter(), []
    for row in module.conformance():
        report = rlspec.check(row.check, row.candidate, max_examples=max_examples,
                              tolerance=row.tolerance, timeout=60.0,
                              candidate_name=row.function)
        example = report.counterexample or {}
        rows.append({
            "function": row.function, "entry": report.spec_id,
            "check": row.check.split("@")[0], "variant": report.variant,
            "verdict": _verdict(row.expect, report.passed), "passed": report.passed,
            "expected": row.expect,
            "counterexample": (f"{example['case']}: {example['problem']}" if example else ""),
            "documented": row.why, "seconds": round(report.seconds, 2),
        })
    failing = [r for r in rows if not r["passed"] and r["expected"] != "divergence"]
    return {"library": library, "version": installed_version(library), "rows": rows,
            "conventions": [list(c) for c in getattr(module, "CONVENTIONS", [])],
            "seconds": round(time.perf_counter() - started, 1),
            "conforms": not failing}


def format_table(result: dict) -> str:
    lines = [f"rlspec audit {result['library']} {result['version']}: "
             f"{'conforms up to documented divergences' if result['conforms'] else 'DOES NOT CONFORM'}"
             f" ({len(result['rows'])} checks, {result['seconds']} s)"]
    header = ("function", "entry", "check", "variant", "verdict")
    table = [header] + [(r["function"], r["entry"], r["check"], r["variant"] or "-", r["verdict"])
                        for r in result["rows"]]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table if result["rows"] else []:
        lines.append(("  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths))).rstrip())
    for r in result["rows"]:
        if not r["passed"]:
            lines.append(f"  - {r['function']} on {r['check']}: {r['counterexample'][:240]}")
            if r["documented"]:
                lines.append(f"    why: {r['documented']}")
    for what, how, note in result["conventions"]:
        lines.append(f"  convention: {what}: judge with {how}; {note}")
    return "\n".join(lines)


def run(args) -> int:
    version = installed_version(args.library)
    if version is None:
        print(f"{LIBRARIES[args.library][1]} is not installed: pip install 'rlspec[{args.library}]'")
        return EXIT_NOT_INSTALLED
    result = audit(args.library, args.examples)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return EXIT_CONFORMS if result["conforms"] else EXIT_NONCONFORMING


def main(argv=None) -> int:
    """``python -m rlspec.integrations.audit LIB`` until the CLI has ``rlspec audit``."""
    import argparse

    parser = argparse.ArgumentParser(prog="rlspec audit", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
