"""rlspec.check: correct user code passes; misbehaving code gets a report, never a crash."""

import json
import threading
import time

import numpy as np
import pytest

import rlspec
from rlspec.checks import adapters

import user_implementations as user


@pytest.mark.parametrize("name, candidate", [
    ("policy-evaluation", user.evaluate_by_sweeps),
    ("policy-evaluation", adapters.gymnasium_transition_table(user.evaluate_from_gym_table)),
    ("policy-evaluation", adapters.action_major(adapters.rename(
        user.evaluate_action_major, transitions="P", rewards="R", gamma="discount", policy="pi"))),
    ("optimal-values", user.value_iteration),
    ("optimal-policy", user.greedy_actions_after_value_iteration),
    ("epsilon-greedy", user.epsilon_greedy_splitting_ties),
    ("state-occupancy", user.discounted_occupancy),
    ("softmax-policy-gradient", user.softmax_gradient_by_autograd),
], ids=lambda value: value if isinstance(value, str) else getattr(value, "__name__", ""))
def test_correct_user_implementation_passes(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)
    assert report.cases_run > 30


def test_a_solver_for_gamma_below_one_fails_only_on_undiscounted_cases():
    report = rlspec.check("policy-evaluation", user.evaluate_by_solve, max_examples=30)
    assert not report.passed
    assert report.counterexample["inputs"]["gamma"] == 1.0
    assert "LinAlgError" in report.counterexample["problem"]
    assert rlspec.check("policy-evaluation", user.evaluate_by_solve, max_examples=30,
                        include_undiscounted=False).passed


def _raises(**arguments):
    raise RuntimeError("boom")


def _exits(**arguments):
    raise SystemExit(3)


def _hangs(**arguments):
    while True:
        pass


@pytest.mark.parametrize("candidate, problem", [
    (_raises, "raised RuntimeError: boom"),
    (_exits, "raised SystemExit"),
    (lambda **arguments: None, "not a numeric array"),
    (lambda **arguments: "values", "returned the string 'values'"),
    (lambda **arguments: np.zeros(7), "returned shape (7,)"),
    (lambda transitions, **arguments: np.full(len(transitions), np.nan), "NaN"),
    (lambda transitions, **arguments: np.full(len(transitions), np.inf), "infinity"),
    (_hangs, "did not return within 0.2 s"),
], ids=["raises", "exits", "none", "string", "wrong-shape", "nan", "inf", "hangs"])
def test_misbehaving_candidate_gets_a_report_not_a_crash(candidate, problem):
    report = rlspec.check("policy-evaluation", candidate, timeout=0.2, max_examples=5)
    assert not report.passed
    assert problem in report.counterexample["problem"]
    assert report.spec_id in str(report)


def _sleeps(**arguments):
    time.sleep(3)


def test_a_hang_outside_the_main_thread_is_reported_too():
    # A thread cannot be killed, so the abandoned call runs on: it sleeps rather than spins,
    # or it would hold the GIL against the rest of the test session.
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault(
        "report", rlspec.check("policy-evaluation", _sleeps, timeout=0.2, max_examples=5)))
    worker.start()
    worker.join(30)
    assert "did not return" in outcome["report"].counterexample["problem"]


def test_candidate_that_writes_to_its_inputs_cannot_corrupt_later_cases():
    def vandal(transitions, rewards, gamma, policy):
        answer = user.evaluate_by_sweeps(transitions, rewards, gamma, policy)
        transitions[:] = 0.0
        rewards[:] = 1e9
        return answer

    assert rlspec.check("policy-evaluation", vandal, max_examples=20).passed


def test_reports_are_deterministic_and_serialisable():
    def missing_gamma(transitions, rewards, gamma, policy):
        return user.evaluate_by_sweeps(transitions, rewards, 0.0, policy)

    first = rlspec.check("policy-evaluation", missing_gamma)
    second = rlspec.check("policy-evaluation", missing_gamma)
    assert first.counterexample["inputs"].keys() == second.counterexample["inputs"].keys()
    assert str(first).splitlines()[3:] == str(second).splitlines()[3:]
    decoded = json.loads(first.to_json())
    assert decoded["passed"] is False and decoded["spec_id"] == "dp.policy-evaluation"
    assert decoded["counterexample"]["expected"] is not None


def test_unknown_check_suggests_the_closest_names():
    with pytest.raises(rlspec.UsageError, match="did you mean policy-evaluation, dp.policy-evaluation"):
        rlspec.check("policy-evalution", user.evaluate_by_sweeps)


def test_a_topic_word_finds_the_checks():
    from rlspec.checks.batteries import search
    assert {"gae.advantage", "gae.lambda-return", "rlhf.masked-gae"} <= set(search("gae"))
    assert "dp.value-iteration" in search("value iteration")
    assert all(spec_id.startswith(("dpo.", "kl.", "rm.")) or "dpo" in spec_id
               for spec_id in search("dpo loss"))


def test_a_passing_check_finishes_promptly():
    started = time.perf_counter()
    assert rlspec.check("policy-evaluation", user.evaluate_by_sweeps, max_examples=10).passed
    assert time.perf_counter() - started < 60  # generous: a guard against a runaway battery


@pytest.mark.parametrize("options, message", [
    ({"max_examples": 0}, "max_examples"),
    ({"timeout": 0}, "timeout"),
    ({"tolerance": -1.0}, "tolerance"),
])
def test_bad_check_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        rlspec.check("policy-evaluation", user.evaluate_by_sweeps, **options)
