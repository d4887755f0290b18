"""Run a test with a bug planted and say whether it went red: the check that a property
test can fail.  Shared by every chapter's "…_can_fail" tests."""

from __future__ import annotations

from hypothesis import Phase, settings
from hypothesis.errors import InvalidArgument

#: Only whether the test fails matters, so hypothesis neither shrinks nor stores examples.
QUICK = settings(settings.default, phases=[Phase.explicit, Phase.generate], database=None)


def fails(test, *arguments, accept: tuple[type[BaseException], ...] = (AssertionError,)) -> bool:
    """True when ``test(*arguments)`` raises one of ``accept`` (also inside the group
    hypothesis raises when it finds several distinct failures)."""
    if hasattr(test, "hypothesis"):
        try:
            test = QUICK(test)
        except InvalidArgument:  # the test carries its own @settings: run it as it is
            pass
    try:
        test(*arguments)
    except accept:
        return True
    except ExceptionGroup as group:
        return group.subgroup(accept) is not None
    return False
