"""Mutation score: how many small wrong versions of each reference its own check rejects.

    python benchmarks/mutation_score.py --checks ppo --max-examples 20 --jobs 2
    python benchmarks/mutation_score.py --jobs 2 --max-examples 20 --json > mutation.json

For every spec entry, the reference function its check runs (``entry.checked_reference()``)
and the same-module functions it calls are mutated one small change at a time (the
operators below).  Each mutant module is executed into a fresh module object, and
``rlspec.check(entry.check, mutant, **entry.check_options)`` judges the mutant function.
A mutant is *killed* when the check fails, *survives* when it passes, and is a *timeout*
when the whole check runs past ``--mutant-timeout`` (the per-call ``--timeout`` of the
check is a kill: the check itself reports the hang).  A mutant whose module cannot even be
executed is *invalid* and not counted.

Some survivors are equivalent to the reference (``x - max(x)`` shifted by ``max(x) + 1``
gives the same softmax).  They are listed, each with its reason, in
``benchmarks/mutation_equivalents.toml``; the score leaves them out, and the script exits
with status 1 when a survivor is not in that list, so that a new one stands out.

Mutant ids read ``file:function:operator:original -> mutated`` with ``#k`` for the k-th
identical site in the function: unlike a line number, the id survives edits elsewhere in
the file.  Lines are shown too, for reading.

Validation code is not mutated (an ``if`` whose body only raises, ``assert``, ``raise``):
the checks judge valid inputs, so a mutant there is either killed trivially (it refuses a
valid input) or equivalent on every input a check may draw.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import inspect
import json
import multiprocessing
import re
import sys
import time
import tomllib
import types
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

EQUIVALENTS_FILE = Path(__file__).with_name("mutation_equivalents.toml")
REPOSITORY = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------- the operators

OPERATOR_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
                  ast.Pow: ast.Mult, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv}
COMPARISON_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
MIN_MAX_SWAPS = {"min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum",
                 "argmin": "argmax", "argmax": "argmin", "amin": "amax", "amax": "amin",
                 "clamp_min": "clamp_max", "clamp_max": "clamp_min", "fmin": "fmax",
                 "fmax": "fmin"}
#: A factor whose source mentions one of these is a mask; "drop-mask" removes it.
MASK_WORDS = re.compile(r"mask|done|termin|trunc|alive|valid|not_|nonterminal|weight", re.I)
#: Numerically careful calls and their naive forms (``{0}`` is the first argument,
#: ``{rest}`` the other arguments).
NAIVE_FORMS = {
    "logsumexp": "torch.log(torch.sum(torch.exp({0}){rest}))",
    "log_softmax": "torch.log(torch.softmax({0}{rest}))",
    "logsigmoid": "torch.log(torch.sigmoid({0}))",
    "softplus": "torch.log(1 + torch.exp({0}))",
    "log1p": "torch.log(1 + {0})",
    "expm1": "(torch.exp({0}) - 1)",
}


def _name_of(function: ast.expr) -> str | None:
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return None


def _changed_constants(value) -> list:
    """0 <-> 1, +-1 and x2 of a numeric literal, without repeats or the value itself."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    options = [1 - value] if value in (0, 1) else []
    options += [value + 1, value - 1, 2 * value]
    unique = []
    for option in options:
        option = type(value)(option)
        if option != value and option not in unique:
            unique.append(option)
    return unique


def _is_validation(statement: ast.stmt) -> bool:
    """``raise``, ``assert``, or an ``if`` whose body only raises (input validation)."""
    if isinstance(statement, (ast.Raise, ast.Assert)):
        return True
    return isinstance(statement, ast.If) and not statement.orelse and \
        all(isinstance(inner, ast.Raise) for inner in statement.body)


def _sites(node: ast.AST):
    """Every mutation of ``node`` itself: ``(operator, replacement)`` pairs, where the
    replacement is a new node (or a list of statements for a ``with``)."""
    if isinstance(node, ast.BinOp):
        swap = OPERATOR_SWAPS.get(type(node.op))
        if swap:
            yield "operator", ast.BinOp(node.left, swap(), node.right)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            right = node.right
            if isinstance(node.op, ast.Sub) and isinstance(right, ast.Call) and \
                    _name_of(right.func) in ("max", "amax", "logsumexp"):
                yield "no-max-shift", node.left  # the same change as dropping the term
            else:
                yield "drop-term", node.left
            if isinstance(node.op, ast.Add):
                yield "drop-term", node.right
        if isinstance(node.op, ast.Mult):
            for kept, dropped in ((node.left, node.right), (node.right, node.left)):
                if MASK_WORDS.search(ast.unparse(dropped)):
                    yield "drop-mask", kept
    elif isinstance(node, ast.AugAssign):
        swap = OPERATOR_SWAPS.get(type(node.op))
        if swap:
            yield "operator", ast.AugAssign(node.target, swap(), node.value)
    elif isinstance(node, ast.Compare):
        for position, op in enumerate(node.ops):
            swap = COMPARISON_SWAPS.get(type(op))
            if swap:
                ops = list(node.ops)
                ops[position] = swap()
                yield "comparison", ast.Compare(node.left, ops, node.comparators)
    elif isinstance(node, ast.BoolOp):
        yield "boolean", ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(),
                                    node.values)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        yield "drop-negation", node.operand
    elif isinstance(node, ast.Constant):
        for value in _changed_constants(node.value):
            yield "constant", ast.Constant(value)
    elif isinstance(node, ast.Subscript):
        yield from _off_by_one(node)
    elif isinstance(node, ast.Call):
        yield from _call_sites(node)
    elif isinstance(node, ast.With) and any(
            _name_of(item.context_expr.func) in ("no_grad", "inference_mode")
            for item in node.items if isinstance(item.context_expr, ast.Call)):
        yield "no-no-grad", node.body


def _shifted(index: ast.expr, by: int) -> ast.expr:
    return ast.BinOp(index, ast.Add() if by > 0 else ast.Sub(), ast.Constant(1))


def _off_by_one(node: ast.Subscript):
    index = node.slice
    parts = list(index.elts) if isinstance(index, ast.Tuple) else [index]
    for position, part in enumerate(parts):
        for by in (1, -1):
            if isinstance(part, ast.Slice):
                bounds = [("lower", part.lower), ("upper", part.upper)]
                for field, bound in bounds:
                    if bound is not None:
                        moved = copy.copy(part)
                        setattr(moved, field, _shifted(bound, by))
                        yield "off-by-one", _with_part(node, parts, position, moved)
            elif isinstance(part, (ast.Name, ast.BinOp)):  # a constant index: "constant"
                yield "off-by-one", _with_part(node, parts, position, _shifted(part, by))


def _with_part(node: ast.Subscript, parts, position, replacement) -> ast.Subscript:
    parts = list(parts)
    parts[position] = replacement
    index = ast.Tuple(parts, ast.Load()) if isinstance(node.slice, ast.Tuple) else parts[0]
    return ast.Subscript(node.value, index, node.ctx)


def _call_sites(node: ast.Call):
    name = _name_of(node.func)
    if name in MIN_MAX_SWAPS:
        function = copy.copy(node.func)
        if isinstance(function, ast.Name):
            function.id = MIN_MAX_SWAPS[name]
        else:
            function.attr = MIN_MAX_SWAPS[name]
        yield "min-max", ast.Call(function, node.args, node.keywords)
    if name == "detach" and isinstance(node.func, ast.Attribute) and not node.args:
        yield "no-detach", node.func.value
    if name == "where" and len(node.args) == 3:
        yield "drop-where", node.args[1]
        yield "drop-where", node.args[2]
    if name in NAIVE_FORMS and node.args:
        rest = "".join(", " + ast.unparse(a) for a in node.args[1:]) + \
            "".join(", " + ast.unparse(k) for k in node.keywords)
        text = NAIVE_FORMS[name].format(ast.unparse(node.args[0]), rest=rest)
        yield "naive-" + name, ast.parse(text, mode="eval").body


class _Mutator(ast.NodeTransformer):
    """Walks the chosen functions in a fixed order, numbering every site; applies site
    ``target`` (or, with ``target=None``, only records the sites)."""

    def __init__(self, functions: set[str], target: int | None = None):
        self.functions, self.target = functions, target
        self.sites: list[tuple[str, str, int, str, str]] = []  # function, operator, line, before, after
        self.current: str | None = None
        self.parents: list[ast.AST] = []

    def visit_FunctionDef(self, node):
        if self.current is not None or node.name not in self.functions:
            return node
        self.current = node.name
        body = node.body[1:] if ast.get_docstring(node) is not None else node.body
        start = len(node.body) - len(body)
        node.body[start:] = self._statements(body)
        self.current = None
        return node

    def _statements(self, statements):
        result = []
        for statement in statements:
            if _is_validation(statement):
                result.append(statement)
                continue
            visited = self.visit(statement)
            result.extend(visited if isinstance(visited, list) else [visited])
        return result

    def generic_visit(self, node):
        if self.current is None:
            return super().generic_visit(node)
        for operator, replacement in _sites(node):
            number = len(self.sites)
            before, after = self._describe(node, replacement)
            line = getattr(node, "lineno", 0) or getattr(self.parents[-1], "lineno", 0)
            self.sites.append((self.current, operator, line, before, after))
            if number == self.target:
                return replacement
        self.parents.append(node)
        try:
            return self._visit_children(node)
        finally:
            self.parents.pop()

    def _describe(self, node, replacement) -> tuple[str, str]:
        """The change as source text; a constant is shown in its enclosing expression."""
        if isinstance(replacement, list):
            return ast.unparse(node).split("\n")[0], "<body without the with>"
        parent = self.parents[-1] if self.parents else None
        if not isinstance(node, ast.Constant) or not isinstance(parent, ast.expr):
            return ast.unparse(node), ast.unparse(replacement)
        before = ast.unparse(parent)
        for field, value in ast.iter_fields(parent):
            if value is node:
                setattr(parent, field, replacement)
                after = ast.unparse(parent)
                setattr(parent, field, node)
                return before, after
            if isinstance(value, list) and any(item is node for item in value):
                position = next(i for i, item in enumerate(value) if item is node)
                value[position] = replacement
                after = ast.unparse(parent)
                value[position] = node
                return before, after
        return ast.unparse(node), ast.unparse(replacement)

    def _visit_children(self, node):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, field, self._statements(value))
            elif isinstance(value, list):
                setattr(node, field, [self.visit(item) if isinstance(item, ast.AST) else item
                                      for item in value])
            elif isinstance(value, ast.AST) and not isinstance(value, (ast.expr_context,)):
                if isinstance(node, ast.arguments) or field in ("annotation", "returns"):
                    continue
                setattr(node, field, self.visit(value))
        return node


# ----------------------------------------------------------------------- the mutants

@dataclass(frozen=True)
class Mutant:
    id: str
    check: str
    spec_id: str
    chapter: str
    reference: str       # "rlspec.reference.module:function", the function the check runs
    function: str        # the function the change is in
    line: int
    operator: str
    site: int            # index among the sites of the chosen functions
    options: tuple       # the entry's check_options, as sorted (key, value) pairs


def _module_tree(module_name: str) -> tuple[ast.Module, str]:
    module = importlib.import_module(module_name)
    path = inspect.getsourcefile(module)
    return ast.parse(Path(path).read_text(encoding="utf-8"), filename=path), path


def _called_functions(tree: ast.Module, function: str) -> set[str]:
    """``function`` and the module-level functions it reaches by name, transitively."""
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    reached, frontier = {function}, [function]
    while frontier:
        for node in ast.walk(defined[frontier.pop()]):
            if isinstance(node, ast.Name) and node.id in defined and node.id not in reached:
                reached.add(node.id)
                frontier.append(node.id)
    return reached


def mutants_of(check: str, spec_id: str, reference: str, options: dict) -> list[Mutant]:
    module_name, _, function = reference.partition(":")
    tree, path = _module_tree(module_name)
    mutator = _Mutator(_called_functions(tree, function))
    mutator.visit(tree)
    relative = Path(path).resolve().relative_to(REPOSITORY).as_posix() \
        if Path(path).resolve().is_relative_to(REPOSITORY) else Path(path).name
    seen: dict[str, int] = defaultdict(int)
    mutants = []
    for number, (owner, operator, line, before, after) in enumerate(mutator.sites):
        key = f"{relative}:{owner}:{operator}:{before} -> {after}"
        seen[key] += 1
        mutants.append(Mutant(
            id=key + (f"#{seen[key]}" if seen[key] > 1 else ""), check=check, spec_id=spec_id,
            chapter=spec_id.split(".")[0], reference=reference, function=owner, line=line,
            operator=operator, site=number, options=tuple(sorted(options.items()))))
    return mutants


def mutant_function(mutant: Mutant):
    """The mutated reference function, from the mutated module executed afresh."""
    module_name, _, function = mutant.reference.partition(":")
    tree, path = _module_tree(module_name)
    mutator = _Mutator(_called_functions(tree, function), target=mutant.site)
    tree = ast.fix_missing_locations(mutator.visit(tree))
    module = types.ModuleType(module_name)
    module.__file__, module.__package__ = path, module_name.rpartition(".")[0]
    exec(compile(tree, path, "exec"), module.__dict__)
    return getattr(module, function)


def checked_pairs(selection: list[str] | None) -> list[tuple[str, str, str, dict]]:
    """``(check, spec_id, reference, options)`` for each entry, once per check and reference;
    ``selection`` keeps those whose check name, spec ID or chapter prefix is listed."""
    import rlspec

    pairs, seen = [], set()
    for entry in rlspec.entries():
        key = (entry.check, entry.checked_reference())
        names = {entry.check, entry.id, entry.id.split(".")[0]}
        if key in seen or (selection and not names & set(selection)):
            continue
        seen.add(key)
        pairs.append((entry.check, entry.id, entry.checked_reference(), dict(entry.check_options)))
    return pairs


# ----------------------------------------------------------------------- running them

def _judge(task: tuple[Mutant | None, str, str, dict, int, float]) -> dict:
    """Run one check on one mutant (or on the reference itself when ``mutant`` is None)."""
    import rlspec
    from rlspec.spec.registry import resolve

    mutant, check, reference, options, max_examples, timeout = task
    started = time.perf_counter()
    try:
        function = resolve(reference) if mutant is None else mutant_function(mutant)
    except Exception as error:  # the mutated module does not even execute
        return {"status": "invalid", "problem": f"{type(error).__name__}: {error}", "seconds": 0.0}
    report = rlspec.check(check, function, max_examples=max_examples, timeout=timeout, **options)
    problem = report.counterexample["problem"] if report.counterexample else None
    return {"status": "survived" if report.passed else "killed", "problem": problem,
            "case": report.counterexample["case"] if report.counterexample else None,
            "seconds": round(time.perf_counter() - started, 3)}


def _worker(connection) -> None:
    while True:
        task = connection.recv()
        if task is None:
            return
        connection.send(_judge(task))


class _Pool:
    """Worker processes that each judge one task at a time; a worker that runs past the
    wall-clock limit is killed and replaced, and its task is reported as a timeout."""

    def __init__(self, jobs: int, limit: float):
        self.context = multiprocessing.get_context("spawn")
        self.limit, self.workers = limit, [self._start() for _ in range(jobs)]

    def _start(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(child,), daemon=True)
        process.start()
        return {"process": process, "connection": parent, "task": None, "since": 0.0}

    def run(self, tasks: list, on_result) -> None:
        pending = list(enumerate(tasks))
        while pending or any(w["task"] is not None for w in self.workers):
            for position, worker in enumerate(self.workers):
                if worker["task"] is None and pending:
                    worker["task"] = pending.pop(0)
                    worker["since"] = time.monotonic()
                    worker["connection"].send(worker["task"][1])
                elif worker["task"] is not None and worker["connection"].poll(0.05):
                    index, _ = worker["task"]
                    worker["task"] = None
                    on_result(index, worker["connection"].recv())
                elif worker["task"] is not None and time.monotonic() - worker["since"] > self.limit:
                    index, _ = worker["task"]
                    worker["process"].kill()
                    worker["process"].join()
                    self.workers[position] = self._start()
                    on_result(index, {"status": "timeout", "problem": f"ran past {self.limit:g} s",
                                      "seconds": self.limit})

    def close(self) -> None:
        for worker in self.workers:
            worker["connection"].send(None)
            worker["process"].join(timeout=5)


# ----------------------------------------------------------------------- reporting

def load_equivalents(path: Path = EQUIVALENTS_FILE) -> dict[tuple[str, str], str]:
    """Reviewed equivalent survivors: ``{(check, mutant id): reason}``.  A mutant of a shared
    helper is equivalent only for the checks listed with it (a branch one check never takes
    may be the one another check needs)."""
    if not path.exists():
        return {}
    listed = tomllib.loads(path.read_text(encoding="utf-8")).get("equivalent", [])
    return {(check, item["id"]): item["reason"] for item in listed for check in item["checks"]}


def is_equivalent(result: dict, equivalents: dict[tuple[str, str], str]) -> bool:
    return (result["check"], result["id"]) in equivalents


def summarise(results: list[dict], equivalents: dict[str, str]) -> dict:
    """Counts per check and per chapter; score = killed / (killed + survived + timeouts),
    equivalent survivors and invalid mutants left out."""
    def empty():
        return {"mutants": 0, "killed": 0, "survived": 0, "equivalent": 0, "timeout": 0,
                "invalid": 0}

    by_check, by_chapter, total = defaultdict(empty), defaultdict(empty), empty()
    for result in results:
        status = result["status"]
        if status == "survived" and is_equivalent(result, equivalents):
            status = "equivalent"
        for counts in (by_check[result["check"]], by_chapter[result["chapter"]], total):
            counts["mutants"] += 1
            counts[status] += 1
    for counts in [*by_check.values(), *by_chapter.values(), total]:
        judged = counts["killed"] + counts["survived"] + counts["timeout"]
        counts["score"] = round(counts["killed"] / judged, 4) if judged else None
    return {"checks": dict(by_check), "chapters": dict(by_chapter), "total": total}


def _table(title: str, rows: dict) -> list[str]:
    lines = [f"{title:<34} {'mutants':>7} {'killed':>7} {'surv.':>6} {'equiv.':>6} "
             f"{'t/o':>4} {'inval.':>6} {'score':>7}"]
    for name, c in sorted(rows.items()):
        score = "-" if c["score"] is None else f"{100 * c['score']:.1f}%"
        lines.append(f"{name:<34} {c['mutants']:>7} {c['killed']:>7} {c['survived']:>6} "
                     f"{c['equivalent']:>6} {c['timeout']:>4} {c['invalid']:>6} {score:>7}")
    return lines


# ----------------------------------------------------------------------- command line

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checks", nargs="*", metavar="NAME",
                        help="check names, spec IDs or chapter prefixes (default: every entry)")
    parser.add_argument("--max-examples", type=int, default=20,
                        help="hypothesis examples per check run (default 20)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds per candidate call inside a check (default 5)")
    parser.add_argument("--mutant-timeout", type=float, default=300.0,
                        help="wall-clock seconds for one whole check run (default 300)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--equivalents", type=Path, default=EQUIVALENTS_FILE,
                        help="the reviewed list of equivalent survivors")


def run(args: argparse.Namespace) -> int:
    """0 when every survivor is a listed equivalent, 1 otherwise (2 when a reference fails
    its own check unmutated, which makes its mutants meaningless)."""
    pairs = checked_pairs(args.checks)
    if not pairs:
        print(f"no spec entry matches {args.checks}", file=sys.stderr)
        return 2
    mutants = [m for pair in pairs for m in mutants_of(*pair)]
    if args.list:
        for mutant in mutants:
            print(f"{mutant.check:<30} {mutant.id}  (line {mutant.line})")
        print(f"{len(mutants)} mutants of {len(pairs)} checks")
        return 0
    started = time.perf_counter()
    pool = _Pool(max(1, args.jobs), args.mutant_timeout)
    baseline_tasks = [(None, check, reference, options, args.max_examples, args.timeout)
                      for check, _, reference, options in pairs]
    baseline_failures = []

    def on_baseline(index, outcome):
        if outcome["status"] != "survived":
            baseline_failures.append((pairs[index][0], outcome.get("problem")))

    pool.run(baseline_tasks, on_baseline)
    if baseline_failures:
        pool.close()
        for check, problem in baseline_failures:
            print(f"the reference fails its own check {check}: {problem}", file=sys.stderr)
        return 2
    results: list[dict | None] = [None] * len(mutants)
    done = {"count": 0}

    def on_result(index, outcome):
        mutant = mutants[index]
        results[index] = {**asdict(mutant), "options": dict(mutant.options), **outcome}
        done["count"] += 1
        if done["count"] % 100 == 0:
            print(f"  {done['count']}/{len(mutants)} mutants judged, "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr)

    pool.run([(m, m.check, m.reference, dict(m.options), args.max_examples, args.timeout)
              for m in mutants], on_result)
    pool.close()
    equivalents = load_equivalents(args.equivalents)
    summary = summarise(results, equivalents)
    new_survivors = [r for r in results
                     if r["status"] == "survived" and not is_equivalent(r, equivalents)]
    timeouts = [r for r in results if r["status"] == "timeout"]
    if args.json:
        print(json.dumps({"summary": summary, "new_survivors": [r["id"] for r in new_survivors],
                          "seconds": round(time.perf_counter() - started, 1),
                          "max_examples": args.max_examples, "mutants": results}, indent=1))
    else:
        print("\n".join(_table("check", summary["checks"])))
        print()
        print("\n".join(_table("chapter", {**summary["chapters"], "ALL": summary["total"]})))
        for title, rows in (("survivors not in the equivalents list", new_survivors),
                            ("timeouts", timeouts)):
            if rows:
                print(f"\n{title} ({len(rows)}):")
                for row in rows:
                    print(f"  [{row['check']}] {row['id']}  (line {row['line']})")
        print(f"\n{len(mutants)} mutants of {len(pairs)} checks in "
              f"{time.perf_counter() - started:.0f} s, {args.max_examples} examples per check")
    return 1 if new_survivors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
