"""The catalogue of plausible wrong implementations: the bugs people really write.

Each chapter keeps its bugs in ``tests/support/bugs_<chapter>.py``, registering each with
``@bug(check, name)``.  ``tests/check_api/test_bug_catalogue.py`` asserts that every one is rejected
by its check with a counterexample; a check that let one through could not fail.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Bug:
    check: str
    name: str
    implementation: Callable


CATALOGUE: list[Bug] = []


def bug(check: str, name: str):
    """Register the decorated function as a wrong implementation ``check`` must reject."""
    def register(function):
        CATALOGUE.append(Bug(check, name, function))
        return function
    return register


def load_all() -> list[Bug]:
    """Import every ``bugs_*.py`` beside this file and return the whole catalogue."""
    for path in sorted(Path(__file__).parent.glob("bugs_*.py")):
        importlib.import_module(path.stem)
    return CATALOGUE
