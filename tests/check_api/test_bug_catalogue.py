"""Every catalogued bug is rejected by its check, with a counterexample that names the spec.

This is what makes each battery a test that can fail: if a check let a catalogued bug
through, this file goes red.  The counterexample must be small (hypothesis shrinks it) and
must carry the spec ID, the inputs, and what went wrong.
"""

import numpy as np
import pytest

import rlspec
from rlspec.checks.batteries import BATTERIES

from bug_catalogue import load_all

CATALOGUE = load_all()

#: Enough generated cases to find every catalogued bug, few enough to keep the file fast.
EXAMPLES = 40


@pytest.mark.parametrize("bug", CATALOGUE, ids=lambda bug: f"{bug.check}: {bug.name}")
def test_check_rejects_catalogued_bug(bug):
    report = rlspec.check(bug.check, bug.implementation, max_examples=EXAMPLES)
    assert not report.passed, f"{bug.check} let through: {bug.name}"
    example = report.counterexample
    assert report.spec_id == BATTERIES[bug.check].spec_id
    assert example["inputs"] and example["problem"]
    # Minimal: a generated counterexample is shrunk to a handful of states.
    transitions = example["inputs"].get("transitions")
    if example["case"] == "generated" and transitions is not None:
        assert np.shape(transitions)[0] <= 3, example


def test_every_check_has_a_catalogued_bug():
    assert {bug.check for bug in CATALOGUE} == set(BATTERIES)
