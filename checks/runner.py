"""``rlspec.check``: judge a user's function against an exact oracle.

A *battery* (``rlspec.checks.batteries``) knows the canonical signature of one formula,
how to make cases (fixed edge cases, hypothesis-generated ones, and the named toy MDPs),
and how to judge the candidate's answer on a case.  This module runs a battery:

1. the generated cases, with the fixed edge cases first, under hypothesis; on a failure
   hypothesis shrinks the case to a minimal one, which the report shows;
2. if those all pass, the named toy MDPs, smallest first.

The candidate never crashes the check: an exception, a NaN, a wrong shape or a call that
runs past ``timeout`` seconds becomes a failed case in the report.  The run is
deterministic (hypothesis is derandomized) so a CI job sees the same verdict every time.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import numpy as np

#: Default agreement demanded of a candidate: |got - expected| <= RELATIVE_TOLERANCE *
#: max(1, max |expected|), entry by entry.  Catalogued bugs are off by O(1) of the scale;
#: a correct iterative method stopped at a sensible threshold (1e-8) is off by far less.
RELATIVE_TOLERANCE = 1e-6

DEFAULT_MAX_EXAMPLES = 100
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Case:
    """One input to a candidate: keyword ``arguments`` in the canonical signature, plus a
    ``label`` saying where it came from and ``context`` the judge may use."""

    label: str
    arguments: dict[str, Any]
    context: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Mismatch:
    """What a judge found wrong with the candidate's answer on one case."""

    message: str
    expected: Any = None
    got: Any = None
    tolerance: float | None = None


class CandidateFailure(Exception):
    """The candidate raised, hung, or returned something that is not an answer."""

    def __init__(self, kind: str, message: str, got: Any = None):
        super().__init__(message)
        self.kind, self.message, self.got = kind, message, got


@dataclass
class Report:
    """The outcome of ``rlspec.check``: pass or fail, how many cases ran, and for a failure
    the minimal counterexample found, with the spec ID it violates."""

    check: str
    spec_id: str
    candidate: str
    passed: bool
    cases_run: int
    seconds: float
    tolerance: float
    counterexample: dict[str, Any] | None = None

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check, "spec_id": self.spec_id, "candidate": self.candidate,
            "passed": self.passed, "cases_run": self.cases_run,
            "seconds": round(self.seconds, 3), "relative_tolerance": self.tolerance,
            "counterexample": _jsonable(self.counterexample),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [
            f"rlspec check {self.check}: {verdict}  (spec {self.spec_id})",
            f"  candidate: {self.candidate}",
            f"  cases run: {self.cases_run} in {self.seconds:.2f} s",
        ]
        if self.counterexample:
            example = self.counterexample
            lines.append(f"  counterexample ({example['case']}):")
            for name, value in example["inputs"].items():
                lines.append(f"    {name} = {_show(value, indent=len(name) + 7)}")
            lines.append(f"  problem: {example['problem']}")
            if example.get("expected") is not None:
                lines.append(f"  expected: {_show(example['expected'])}")
            if example.get("got") is not None:
                lines.append(f"  got:      {_show(example['got'])}")
            if example.get("tolerance") is not None:
                lines.append(f"  tolerance: {example['tolerance']:.3g} (absolute, per entry)")
        return "\n".join(lines)


class Caller:
    """Calls the candidate on a case safely and turns its output into a float array.

    numpy inputs are copied for every call, since a candidate may write to them.  torch
    tensors are passed as given: a judge that checks gradients makes fresh leaf tensors
    for each call and differentiates the raw output (:meth:`raw`) with respect to them.
    """

    def __init__(self, candidate: Callable, timeout: float):
        self.candidate, self.timeout = candidate, timeout

    def raw(self, arguments: dict[str, Any]) -> Any:
        """The candidate's output as it returned it (a tensor keeps its graph)."""
        fresh = {name: np.array(value) if isinstance(value, np.ndarray) else value
                 for name, value in arguments.items()}
        return _call_with_timeout(self.candidate, fresh, self.timeout)

    def __call__(self, arguments: dict[str, Any], shape: tuple[int, ...] | None) -> np.ndarray:
        return as_answer(self.raw(arguments), shape)


def as_answer(output: Any, shape: tuple[int, ...] | None) -> np.ndarray:
    """The candidate's output as a float64 array of ``shape`` (``()`` for a scalar), or a
    CandidateFailure naming what is wrong with it."""
    if output is None:
        raise CandidateFailure("type", "returned None, not a numeric array (a missing return "
                                       "statement?)")
    if hasattr(output, "detach"):  # a torch tensor
        output = output.detach().cpu().numpy()
    try:
        answer = np.asarray(output, dtype=np.float64)
    except (TypeError, ValueError):
        raise CandidateFailure(
            "type", f"returned {type(output).__name__}, which is not a numeric array", output
        ) from None
    if shape is not None and answer.shape != tuple(shape):
        if answer.size == 1 and shape == ():
            answer = answer.reshape(())
        else:
            raise CandidateFailure(
                "shape", f"returned shape {answer.shape}, expected {tuple(shape)}", answer
            )
    if not np.all(np.isfinite(answer)):
        raise CandidateFailure("nan", "returned NaN or infinity", answer)
    return answer


def compare(expected, got: np.ndarray, tolerance: float) -> Mismatch | None:
    """Entry-wise |got - expected| <= tolerance * max(1, max |expected|)."""
    expected = np.asarray(expected, dtype=np.float64)
    absolute = tolerance * max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = np.abs(got - expected)
    if np.all(error <= absolute):
        return None
    worst = np.unravel_index(int(np.argmax(error)), error.shape) if error.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if error.ndim else ""
    return Mismatch(
        f"differs from the oracle by {float(error[worst]):.6g}{where}",
        expected=expected, got=got, tolerance=absolute,
    )


def check(name: str, candidate: Callable, *, max_examples: int = DEFAULT_MAX_EXAMPLES,
          timeout: float = DEFAULT_TIMEOUT_SECONDS, tolerance: float = RELATIVE_TOLERANCE,
          include_undiscounted: bool = True, candidate_name: str | None = None) -> Report:
    """Run the battery ``name`` against ``candidate`` and return a :class:`Report`.

    ``name`` is a check name from ``rlspec list oracles`` (for example
    ``"policy-evaluation"``); ``candidate`` follows the battery's canonical signature
    (``rlspec.checks.batteries.BATTERIES[name].signature``; adapters in
    ``rlspec.checks.adapters`` map other conventions).  ``include_undiscounted=False``
    leaves out the episodic gamma = 1 cases, for functions meant for gamma < 1 only.
    """
    from rlspec.checks.batteries import battery as find_battery

    if int(max_examples) < 1:
        raise ValueError(f"max_examples must be at least 1, got {max_examples!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be non-negative, got {tolerance!r}")
    battery = find_battery(name)
    label = candidate_name or getattr(candidate, "__qualname__", repr(candidate))
    caller = Caller(candidate, timeout)
    counter = {"cases": 0}
    started = time.perf_counter()

    def judge(case: Case) -> dict[str, Any] | None:
        counter["cases"] += 1
        try:
            mismatch = battery.judge(case, caller, tolerance)
        except CandidateFailure as failure:
            return _counterexample(case, failure.message, got=failure.got)
        if mismatch is None:
            return None
        return _counterexample(case, mismatch.message, mismatch.expected, mismatch.got,
                               mismatch.tolerance)

    keep = (lambda case: True) if include_undiscounted else \
        (lambda case: case.arguments.get("gamma", 0.0) < 1.0)
    found = _search(battery, judge, keep, max_examples)
    if found is None:
        for case in battery.toy_cases():
            if keep(case):
                found = judge(case)
                if found is not None:
                    break
    return Report(
        check=battery.name, spec_id=battery.spec_id, candidate=label, passed=found is None,
        cases_run=counter["cases"], seconds=time.perf_counter() - started,
        tolerance=tolerance, counterexample=found,
    )


class _Falsified(Exception):
    def __init__(self, counterexample):
        super().__init__(counterexample["problem"])
        self.counterexample = counterexample


def _search(battery, judge, keep, max_examples: int) -> dict[str, Any] | None:
    """Run the edge cases and generated cases; return hypothesis's shrunk counterexample."""
    settings = hypothesis.settings(
        max_examples=max_examples, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck), report_multiple_bugs=False,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
        verbosity=hypothesis.Verbosity.quiet,
    )

    def property_holds(case: Case) -> None:
        if not keep(case):
            return
        found = judge(case)
        if found is not None:
            raise _Falsified(found)

    test = hypothesis.given(battery.generated_cases())(property_holds)
    for case in reversed(battery.edge_cases()):
        test = hypothesis.example(case)(test)
    try:
        settings(test)()
    except _Falsified as falsified:
        return falsified.counterexample
    return None


def _counterexample(case: Case, problem, expected=None, got=None, tolerance=None):
    return {"case": case.label, "inputs": dict(case.arguments), "problem": problem,
            "expected": expected, "got": got, "tolerance": tolerance}


class _Timeout(Exception):
    pass


def _call_with_timeout(function: Callable, arguments: dict[str, Any], seconds: float):
    """Call ``function(**arguments)``; raise CandidateFailure if it raises or hangs.

    In the main thread a SIGALRM interrupts a hung candidate.  Elsewhere the call runs in
    a daemon thread that is abandoned (it cannot be killed) once the time is up; a candidate
    that spins forever there keeps competing for the GIL, so run checks from the main
    thread where you can.
    """
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):
        def on_alarm(signum, frame):
            raise _Timeout

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return function(**arguments)
        except _Timeout:
            raise CandidateFailure("timeout", f"did not return within {seconds:g} s") from None
        except (Exception, SystemExit) as error:
            raise CandidateFailure("raised", f"raised {type(error).__name__}: {error}") from None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    outcome: dict[str, Any] = {}

    def target():
        try:
            outcome["value"] = function(**arguments)
        except BaseException as error:  # reported below, never re-raised in this thread
            outcome["error"] = error

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise CandidateFailure("timeout", f"did not return within {seconds:g} s")
    if "error" in outcome:
        error = outcome["error"]
        raise CandidateFailure("raised", f"raised {type(error).__name__}: {error}")
    return outcome["value"]


def _show(value, indent: int = 12) -> str:
    """An array on as many lines as numpy needs, continuation lines under the first."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=6, separator=", ", max_line_width=100,
                               prefix=" " * indent)
        return "\n".join(line.rstrip() for line in text.splitlines())
    return repr(value)


def _jsonable(value):
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
