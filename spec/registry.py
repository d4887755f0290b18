"""The specification: one Markdown file per formula, theorem or algorithm, in ``entries/``.

Each file opens with a TOML block between ``+++`` lines (Hugo's front-matter convention,
so GitHub renders the rest as ordinary Markdown) holding the machine-readable fields:

    id          stable ID, e.g. "dp.value-iteration" (never reused or renamed)
    title       one line
    source      where the notes state it: ["seed 000 · Model-Based Value Methods · ..."]
    reference   ["rlspec.reference.module:function", ...]
    oracle      ["rlspec.oracles.module:function", ...]
    check       the battery ``rlspec verify`` runs (``rlspec list checks``)
    check_reference  optional: which reference the battery runs (default: the first)
    check_options    optional: keyword options for ``rlspec.check``
    status      "verified" (the notes are right) or "erratum" (the notes are wrong or
                ambiguous; the body gives the corrected statement and a test shows why)

The Markdown body holds the statement, notation, assumptions, a worked example and errata.

The tests that establish an entry are not listed here: each test carries the IDs it serves,
``@pytest.mark.spec("gae.advantage", ...)``, and the entry -> tests mapping is derived from
those markers (``tests/support/spec_markers.py``).
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ENTRIES_DIRECTORY = Path(__file__).parent / "entries"
STATUSES = ("verified", "erratum")


class SpecFormatError(ValueError):
    """A spec entry file is malformed."""


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    source: tuple[str, ...]
    reference: tuple[str, ...]
    oracle: tuple[str, ...]
    check: str
    status: str
    body: str
    path: Path
    check_reference: str | None = None
    check_options: dict[str, Any] = field(default_factory=dict)

    def checked_reference(self) -> str:
        return self.check_reference or self.reference[0]

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "source": list(self.source),
                "reference": list(self.reference), "oracle": list(self.oracle),
                "check": self.check, "status": self.status}


def parse_entry(path: Path) -> Entry:
    text = path.read_text(encoding="utf-8")
    parts = text.split("+++\n", 2)
    if len(parts) != 3 or parts[0].strip():
        raise SpecFormatError(f"{path.name}: must start with a TOML block between '+++' lines")
    try:
        fields = tomllib.loads(parts[1])
    except tomllib.TOMLDecodeError as error:
        raise SpecFormatError(f"{path.name}: bad front matter: {error}") from None
    required = ("id", "title", "source", "reference", "oracle", "check", "status")
    missing = [name for name in required if not fields.get(name)]
    if missing:
        raise SpecFormatError(f"{path.name}: missing or empty fields {missing}")
    if fields["status"] not in STATUSES:
        raise SpecFormatError(f"{path.name}: status must be one of {STATUSES}")
    unknown = set(fields) - set(required) - {"check_reference", "check_options"}
    if unknown:
        raise SpecFormatError(f"{path.name}: unknown fields {sorted(unknown)}")
    listed = {name: tuple(fields[name]) for name in ("source", "reference", "oracle")}
    return Entry(id=fields["id"], title=fields["title"], check=fields["check"],
                 status=fields["status"], body=parts[2], path=path,
                 check_reference=fields.get("check_reference"),
                 check_options=fields.get("check_options", {}), **listed)


@cache
def _load() -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for path in sorted(ENTRIES_DIRECTORY.glob("*.md")):
        entry = parse_entry(path)
        if entry.id in entries:
            raise SpecFormatError(f"duplicate spec ID {entry.id!r} in {path.name}")
        entries[entry.id] = entry
    return entries


def entries() -> list[Entry]:
    """Every spec entry, ordered by ID."""
    return sorted(_load().values(), key=lambda entry: entry.id)


def entry(spec_id: str) -> Entry:
    try:
        return _load()[spec_id]
    except KeyError:
        raise KeyError(f"no spec entry {spec_id!r}; see `rlspec list spec`") from None


def site_page(spec_id: str) -> str:
    """The entry's page in the documentation site (``rlspec site OUT``), relative to OUT."""
    return f"entries/{spec_id}.html"


def resolve(dotted: str):
    """The object named by ``"package.module:attribute"``."""
    module_name, _, attribute = dotted.partition(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise AttributeError(f"{module_name} has no attribute {attribute!r}") from None
