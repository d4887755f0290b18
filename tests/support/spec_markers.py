"""Which tests establish which spec entry, derived from the tests themselves.

A test names the entries it establishes with a marker, and nothing else keeps the list:

    @pytest.mark.spec("gae.advantage", "gae.lambda-return")
    def test_...

    pytestmark = pytest.mark.spec("ddpg.critic-target")   # every test in the module

    @pytest.mark.parametrize("x", [pytest.param(1, marks=pytest.mark.spec("dpo.loss"))])

:func:`marked_tests` finds these by parsing ``tests/**/test_*.py`` (no import, so it is quick
and sees files whatever their imports need).  Only string literals count: a marker built at
run time, such as ``pytest.mark.spec(entry.id)`` in ``test_every_entry_verifies``, labels a
failure (``tests/conftest.py``) but establishes nothing by itself.

Run ``python tests/support/spec_markers.py [ID ...]`` to print the mapping.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent


def _is_spec_mark(node: ast.AST) -> bool:
    """``pytest.mark.spec`` or ``mark.spec``."""
    return (isinstance(node, ast.Attribute) and node.attr == "spec"
            and isinstance(node.value, ast.Attribute) and node.value.attr == "mark")


def _spec_ids(node: ast.AST | None) -> list[str]:
    """The string-literal IDs of every ``pytest.mark.spec(...)`` call inside ``node``."""
    if node is None:
        return []
    ids = []
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and _is_spec_mark(call.func):
            ids += [arg.value for arg in call.args
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
    return ids


def _module_ids(tree: ast.Module) -> list[str]:
    ids = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(target, ast.Name) and target.id == "pytestmark" for target in targets):
                ids += _spec_ids(node.value)
    return ids


def _tests_in(body: list[ast.stmt], inherited: list[str], prefix: str):
    """(node id suffix, IDs) for each test function or method in ``body``."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            own = [i for decorator in node.decorator_list for i in _spec_ids(decorator)]
            yield prefix + node.name, inherited + own
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            own = [i for decorator in node.decorator_list for i in _spec_ids(decorator)]
            own += _module_ids(ast.Module(body=node.body, type_ignores=[]))
            yield from _tests_in(node.body, inherited + own, f"{prefix}{node.name}::")


def marked_tests(tests: Path = TESTS) -> dict[str, list[str]]:
    """Spec ID -> the node ids (``tests/<chapter>/test_x.py::test_y``) marked with it, sorted."""
    mapping: dict[str, set[str]] = defaultdict(set)
    for path in sorted(tests.rglob("test_*.py")):
        if ".venv" in path.parts or "site-packages" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(tests.parent).as_posix()
        for name, ids in _tests_in(tree.body, _module_ids(tree), f"{relative}::"):
            for spec_id in ids:
                mapping[spec_id].add(name)
    return {spec_id: sorted(nodes) for spec_id, nodes in sorted(mapping.items())}


if __name__ == "__main__":
    wanted = set(sys.argv[1:])
    for spec_id, nodes in marked_tests().items():
        if not wanted or spec_id in wanted:
            print(spec_id)
            for node in nodes:
                print(f"    {node}")
