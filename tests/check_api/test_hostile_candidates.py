"""Hostile and careless candidates: each gets its documented verdict and exit code.

A candidate runs in a worker process (``rlspec.checks.worker``), so whatever it does —
exit, crash, hang while swallowing exceptions, print megabytes, allocate without bound,
return the wrong kind of object, write into its inputs — the judge survives and reports.
The command-line cases run ``rlspec check`` in a subprocess on a module written to a
temporary folder, as a user would, and parse ``--json`` with a strict parser.
"""

import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import rlspec
from rlspec.reference.gae import generalized_advantage_estimation as correct_gae

pytestmark = pytest.mark.slow

#: The module every command-line case imports its candidate from.
CANDIDATES = '''
import ctypes, os, sys, time
import numpy as np
from rlspec.reference.gae import generalized_advantage_estimation as gae

def exits(**a):
    os._exit(0)

def segfaults(**a):
    ctypes.string_at(0)

def raises_base_exception(**a):
    raise BaseException("not an Exception")

def swallows_everything(**a):
    while True:
        try:
            time.sleep(0.05)
        except BaseException:
            pass

def chatty(**a):
    sys.stdout.write("debug " * 200_000 + "\\n")
    print("to stderr", file=sys.stderr)
    return gae(**a)

def allocates(**a):
    return np.ones(2**37) [:len(a["rewards"])]

def returns_tuple(**a):
    return gae(**a), gae(**a), gae(**a)

def returns_complex(**a):
    return gae(**a) + 0j

def returns_string(**a):
    return str(float(gae(**a)[0]))

def returns_generator(**a):
    return (x for x in gae(**a))

def writes_inputs(**a):
    answer = gae(**a)
    a["rewards"][:] = 0.0
    return answer

def wrong_name(rewards, values, next_values, dones, truncated, gamma, lam):
    return gae(rewards, values, next_values, dones, truncated, gamma, lam)

def index_error_deep(**a):
    return _helper(a["rewards"])

def _helper(rewards):
    return rewards[len(rewards) + 5]
'''

EXITS_ON_IMPORT = "import sys\nsys.exit(4)\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("candidates")
    (path / "hostile.py").write_text(CANDIDATES)
    (path / "exits_on_import.py").write_text(EXITS_ON_IMPORT)
    return path


def rlspec_check(folder, *arguments, timeout=120):
    command = [sys.executable, "-m", "rlspec.cli", "check", *arguments]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout)


def strict_json(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("function, code, problem", [
    ("exits", 1, "exited with status 0"),
    ("segfaults", 1, "segmentation fault"),
    ("raises_base_exception", 1, "raised BaseException: not an Exception"),
    ("swallows_everything", 1, "did not return within 1 s"),
    ("allocates", 1, "raised MemoryError"),
    ("returns_tuple", 1, "returned a tuple of 3 items"),
    ("returns_complex", 1, "complex"),
    ("returns_string", 1, "returned the string"),
    ("returns_generator", 1, "returned a generator"),
    ("index_error_deep", 1, "raised IndexError"),
])
def test_each_hostile_candidate_fails_with_its_cause_in_strict_json(folder, function, code,
                                                                     problem):
    started = time.perf_counter()
    result = rlspec_check(folder, "gae.advantage", f"hostile:{function}", "--json",
                          "--timeout", "1", "--max-examples", "5", "--memory-limit", "2048")
    report = strict_json(result.stdout)
    assert result.returncode == code, result.stderr
    assert report["passed"] is False and report["spec_id"] == "gae.advantage"
    assert problem in report["counterexample"]["problem"]
    assert time.perf_counter() - started < 60


def test_a_raising_candidate_shows_its_own_traceback_without_rlspec_frames(folder):
    result = rlspec_check(folder, "gae.advantage", "hostile:index_error_deep")
    assert result.returncode == 1
    assert "in _helper" in result.stdout and "rewards[len(rewards) + 5]" in result.stdout
    assert "checks/candidate.py" not in result.stdout and "worker.py" not in result.stdout


def test_megabytes_of_prints_stay_out_of_the_json_and_are_cut(folder):
    result = rlspec_check(folder, "gae.advantage", "hostile:chatty", "--json",
                          "--max-examples", "5")
    report = strict_json(result.stdout)
    assert result.returncode == 0 and report["passed"]
    assert report["candidate_output_bytes"] > 10 * 1_200_000
    assert len(report["candidate_output"]) < 10_000 and "bytes cut" in report["candidate_output"]
    assert "to stderr" in report["candidate_output"]


def test_an_input_writer_passes_with_a_warning_or_fails_when_forbidden(folder):
    warned = rlspec_check(folder, "gae.advantage", "hostile:writes_inputs", "--json")
    assert warned.returncode == 0
    assert "wrote into its input rewards" in strict_json(warned.stdout)["warnings"][0]
    forbidden = rlspec_check(folder, "gae.advantage", "hostile:writes_inputs",
                             "--forbid-input-writes", "--json")
    assert forbidden.returncode == 1
    assert "wrote into its input rewards" in strict_json(forbidden.stdout)["counterexample"]["problem"]


@pytest.mark.parametrize("arguments, message", [
    (["gae.advantage", "hostile:wrong_name"], "use --rename terminated=dones"),
    (["gae.advantage", "hostile:wrong_name", "--rename", "nosuch=foo"], "no argument 'nosuch'"),
    (["gae.advantage", "hostile:wrong_name", "--rename", "=foo"], "CANONICAL=YOURS"),
    (["gae.advantage", "hostile:wrong_name", "--rename", "dones=terminated"],
     "wrong way round"),
    (["gae.advantage", "exits_on_import:f"], "cannot load exits_on_import:f: SystemExit: 4"),
    (["gae.advantage", "hostile:chatty", "--timeout", "inf"], "timeout must be"),
    (["gae.advantage", "hostile:chatty", "--tolerance", "inf"], "tolerance must be"),
    (["gae.advantage", "hostile:chatty", "--tolerance", "0"], "tolerance must be"),
    (["value-iteration", "hostile:chatty"], "did you mean dp.value-iteration"),
])
def test_usage_errors_exit_2_with_one_line_naming_the_fix(folder, arguments, message):
    result = rlspec_check(folder, *arguments)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_the_python_api_rejects_the_same_options_as_the_command():
    for options in ({"timeout": float("inf")}, {"tolerance": float("inf")}, {"tolerance": 0.0},
                    {"max_examples": 0}):
        with pytest.raises(rlspec.UsageError):
            rlspec.check("gae.advantage", correct_gae, **options)


def test_a_pytest_session_whose_check_meets_an_exiting_candidate_fails(tmp_path):
    (tmp_path / "test_exiting.py").write_text(textwrap.dedent('''
        import os
        import rlspec

        def exits(**arguments):
            os._exit(0)

        def test_my_gae():
            assert rlspec.check("gae.advantage", exits, max_examples=3)

        def test_unrelated_failure():
            assert False
    '''))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "2 failed" in result.stdout


def test_the_callers_alarm_and_signal_handler_are_left_alone():
    def on_alarm(signum, frame):
        raise AssertionError("the caller's alarm must not fire during this test")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        assert rlspec.check("gae.advantage", correct_gae, max_examples=5).passed
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < remaining < 100.0
        assert signal.getsignal(signal.SIGALRM) is on_alarm
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_candidate_defined_in_a_test_needs_no_pickling_and_its_verdict_is_right():
    def off_by_a_factor(**arguments):
        return 2.0 * correct_gae(**arguments)

    report = rlspec.check("gae", off_by_a_factor, max_examples=5)
    assert not report.passed and report.spec_id == "gae.advantage"
    assert np.isfinite(report.counterexample["expected"]).all()
