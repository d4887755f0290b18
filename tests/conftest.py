"""Shared test set-up: Hypothesis profiles, tests/support on the import path, and a failing
test's report naming its spec entries.

Hypothesis profiles: `ci` is derandomized so that CI sees the same cases every run.
Select with HYPOTHESIS_PROFILE=ci|dev|thorough (default dev).  `.ci/run` uses ci.
"""

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=40, derandomize=True, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow], print_blob=True,
)
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# The shared helpers (the bug catalogue, mutation, the user implementations) live in
# tests/support/ and are imported by their plain module names from every chapter's folder.
SUPPORT = Path(__file__).parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test names the spec entries it establishes (its ``@pytest.mark.spec`` IDs)."""
    report = yield
    if report.failed:
        ids = dict.fromkeys(spec_id for mark in item.iter_markers("spec") for spec_id in mark.args)
        if ids:
            report.sections.append(("spec entry", "\n".join(
                f"spec entry: {spec_id} (spec/entries/{spec_id}.md; rlspec show {spec_id})"
                for spec_id in ids)))
    return report
