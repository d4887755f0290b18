"""The rlspec pytest plugin (registered through the ``pytest11`` entry point, so installing
rlspec enables it).

- ``assert_conforms(check, candidate, **options)``: run ``rlspec.check`` and, on a failure,
  fail the test with the readable report (the counterexample, the spec ID and
  ``rlspec show ID``) instead of a dataclass repr.  Returns the report.
- the ``rlspec_check`` fixture: the same, with the session's options, and with the check
  name and options of the test's ``rlspec`` marker as defaults.
- the ``rlspec`` marker: ``@pytest.mark.rlspec("gae", tolerance=1e-5)``; ``pytest -m rlspec``
  selects the tests that judge code against the spec.
- ``--rlspec-examples N`` (generated cases per check) and ``--rlspec-profile`` (``quick``: 10,
  ``ci``: 50, ``thorough``: 500 examples; ``--rlspec-examples`` wins).

>>> def test_my_gae(rlspec_check):                     # doctest: +SKIP
...     rlspec_check("gae", my_gae, tolerance=1e-5)
"""

from __future__ import annotations

import pytest

PROFILES = {"quick": 10, "ci": 50, "thorough": 500}
DEFAULT_PROFILE = "ci"


def assert_conforms(check: str, candidate, **options):
    """``rlspec.check(check, candidate, **options)``; fails the calling test with the report."""
    import rlspec

    report = rlspec.check(check, candidate, **options)
    if not report.passed:
        pytest.fail(str(report), pytrace=False)
    return report


def pytest_addoption(parser):
    group = parser.getgroup("rlspec", "judging code against the rlspec oracles")
    group.addoption("--rlspec-examples", type=int, default=None,
                    help="generated cases per rlspec check (overrides the profile)")
    group.addoption("--rlspec-profile", choices=sorted(PROFILES), default=DEFAULT_PROFILE,
                    help="quick (10 examples), ci (50) or thorough (500); default ci")


def pytest_configure(config):
    config.addinivalue_line("markers", "rlspec(check=None, **options): the test judges code "
                            "with rlspec; gives the rlspec_check fixture its default check name "
                            "and options")


def examples_for(config) -> int:
    """The number of generated cases the session asks for."""
    chosen = config.getoption("--rlspec-examples")
    return chosen if chosen is not None else PROFILES[config.getoption("--rlspec-profile")]


@pytest.fixture
def rlspec_check(request):
    """``rlspec_check([check,] candidate, **options)`` -> Report; fails the test with the
    report.  The check name may come from the ``rlspec`` marker."""
    marker = request.node.get_closest_marker("rlspec")
    marked_check = marker.args[0] if marker and marker.args else None
    marked_options = dict(marker.kwargs) if marker else {}

    def judge(*arguments, **options):
        if len(arguments) == 1 and marked_check:
            check, candidate = marked_check, arguments[0]
        elif len(arguments) == 2:
            check, candidate = arguments
        else:
            raise TypeError("rlspec_check(check, candidate, **options), or rlspec_check(candidate) "
                            "under @pytest.mark.rlspec(check)")
        merged = {"max_examples": examples_for(request.config), **marked_options, **options}
        return assert_conforms(check, candidate, **merged)

    return judge
