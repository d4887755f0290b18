"""The pytest plugin: a failing rlspec check fails the test with the readable report (the
counterexample, the spec ID, `rlspec show`), the marker names the check, and the options set
the number of examples."""

import subprocess
import sys
import textwrap

import numpy as np

from rlspec.integrations.pytest_plugin import PROFILES, assert_conforms

USER_TESTS = textwrap.dedent('''
    import numpy as np
    import pytest

    def normalise(advantages):
        if len(advantages) < 2:
            return np.zeros_like(advantages)
        return (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8)

    def normalise_without_centring(advantages):
        return advantages / (advantages.std(ddof=1) + 1e-8)

    @pytest.mark.rlspec("advantage-normalization")
    def test_mine(rlspec_check):
        report = rlspec_check(normalise)
        assert report.cases_run <= {examples} + 10

    def test_broken(rlspec_check):
        rlspec_check("advantage-normalization", normalise_without_centring)
''')


def test_plugin_fails_with_the_report_and_counts_examples(tmp_path):
    (tmp_path / "test_user.py").write_text(USER_TESTS.format(examples=PROFILES["quick"]))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--rlspec-profile", "quick", str(tmp_path / "test_user.py")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    assert "rlspec check ppo.advantage-normalization: FAIL" in run.stdout
    assert "counterexample" in run.stdout and "rlspec show ppo.advantage-normalization" in run.stdout


def test_assert_conforms_returns_the_report_of_a_passing_check():
    def normalise(advantages):
        if len(advantages) < 2:
            return np.zeros_like(advantages)
        return (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8)

    assert assert_conforms("advantage-normalization", normalise, max_examples=3).passed
