"""Run a test with a bug planted and say whether it went red: the check that a property
test can fail.  Shared by every chapter's "…_can_fail" tests."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import Phase, settings
from hypothesis.errors import InvalidArgument

#: Only whether the test fails matters, so hypothesis neither shrinks nor stores examples.
QUICK = settings(settings.default, phases=[Phase.explicit, Phase.generate], database=None)


def fails(test, *arguments, accept: tuple[type[BaseException], ...] = (AssertionError,)) -> bool:
    """True when ``test`` raises one of ``accept`` (also inside the group hypothesis raises
    when it finds several distinct failures).  A parametrised test called without
    arguments is run with each of its parameter sets until one fails."""
    for run in _runs(test, arguments):
        try:
            run()
        except accept:
            return True
        except ExceptionGroup as group:
            if group.subgroup(accept) is not None:
                return True
            raise
    return False


def _runs(test, arguments) -> list[Callable[[], object]]:
    if hasattr(test, "hypothesis"):
        try:
            test = QUICK(test)
        except InvalidArgument:  # the test carries its own @settings: run it as it is
            pass
    marks = [mark for mark in getattr(test, "pytestmark", []) if mark.name == "parametrize"]
    if arguments or not marks:
        return [lambda: test(*arguments)]
    names, values = marks[0].args[:2]
    names = [name.strip() for name in names.split(",")] if isinstance(names, str) else list(names)
    return [lambda value=value: test(**dict(zip(names, value if len(names) > 1 else [value])))
            for value in values]
