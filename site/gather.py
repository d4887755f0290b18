"""The parts of an entry a reader sees, gathered through rlspec's public faces.

Only the standard library and rlspec: ``rlspec show`` needs no extra.

The canonical signatures and the verification results come from the ``rlspec`` command
line (``rlspec list checks --json``, ``rlspec verify --json``), run in this process, so the
site and ``rlspec show`` print exactly what a user of the CLI would see.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import pkgutil
from functools import cache
from pathlib import Path


def _cli_json(*arguments: str):
    from rlspec.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exit_code = main(list(arguments))
    text = printed.getvalue()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise RuntimeError(f"`rlspec {' '.join(arguments)}` exited {exit_code} without JSON: "
                           f"{text[-500:]!r}") from None


@cache
def signatures() -> dict[str, str]:
    """{spec ID: the canonical signature of its check}, from ``rlspec list checks --json``."""
    return {item["id"]: item["signature"] for item in _cli_json("list", "checks", "--json")}


def source_of(dotted: str) -> str:
    """The source code of ``"package.module:function"``."""
    return inspect.getsource(pkgutil.resolve_name(dotted))


def run_verification(spec_ids: list[str], max_examples: int) -> dict[str, dict]:
    """``rlspec verify --json --max-examples N [ID ...]`` (every entry when ``spec_ids`` is
    empty), as {spec ID: row}.  A failing entry is a row with ``passed`` false."""
    rows = _cli_json("verify", "--json", "--max-examples", str(max_examples), *spec_ids)
    return {row["id"]: row for row in rows}


def read_verification(path: Path) -> dict[str, dict]:
    """The rows of a saved ``rlspec verify --json`` output, as {spec ID: row}."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
        return {row["id"]: row for row in rows}
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{path} is not the output of `rlspec verify --json`: {error}") from None


def sections(body: str) -> list[tuple[str, str]]:
    """Split an entry body at its ``## `` headings: ``[(heading, text), ...]``; the text
    before the first heading comes under the heading ``""``.  Headings inside fenced code
    blocks do not count."""
    found: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in body.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("## "):
            found.append((line[3:].strip(), []))
        else:
            found[-1][1].append(line)
    return [(heading, "\n".join(lines).strip("\n")) for heading, lines in found]
