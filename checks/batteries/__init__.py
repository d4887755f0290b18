"""The batteries: one module per chapter of the notes, each registering its checks.

A battery knows one formula's canonical signature, how to make cases (edge cases,
hypothesis-generated cases, named toy MDPs) and how to judge a candidate's answer against
an oracle from ``rlspec.oracles``.  ``rlspec.check`` runs it (``rlspec.checks.runner``).

To add a check: in the chapter's module (any module in this folder is imported), call
:func:`register` with a :class:`Battery`'s fields; give it a spec entry whose ``check``
names it; add a catalogued bug in ``tests/bugs_<chapter>.py`` that it must reject.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from rlspec.checks.runner import Caller, Case, Mismatch

Judge = Callable[[Case, Caller, float], "Mismatch | None"]


@dataclass(frozen=True)
class Battery:
    name: str
    spec_id: str
    summary: str
    signature: str
    reference: str  # "module:function", the rlspec reference in this signature
    judge: Judge
    make_generated: Callable[[], st.SearchStrategy]
    make_edge_cases: Callable[[], list[Case]]
    make_toy_cases: Callable[[], list[Case]]

    def generated_cases(self) -> st.SearchStrategy:
        return self.make_generated()

    def edge_cases(self) -> list[Case]:
        return self.make_edge_cases()

    def toy_cases(self) -> list[Case]:
        return self.make_toy_cases()


BATTERIES: dict[str, Battery] = {}


def battery(name: str) -> Battery:
    """The battery called ``name``; a KeyError lists the valid names."""
    try:
        return BATTERIES[name]
    except KeyError:
        raise KeyError(f"no check called {name!r}; valid checks: {', '.join(sorted(BATTERIES))}") \
            from None


def register(**fields) -> None:
    """Add a battery; its name must be new."""
    if fields["name"] in BATTERIES:
        raise ValueError(f"a check called {fields['name']!r} is already registered")
    BATTERIES[fields["name"]] = Battery(**fields)



def _import_chapters() -> None:
    """Every module of this package is a chapter that registers its batteries on import."""
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        importlib.import_module(f"{__name__}.{module.name}")


_import_chapters()  # kept last: the chapters import register from this module
