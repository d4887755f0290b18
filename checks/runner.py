"""``rlspec.check``: judge a user's function against an exact oracle.

A *battery* (``rlspec.checks.batteries``) knows the canonical signature of one formula,
how to make cases (fixed edge cases, hypothesis-generated ones, and the named toy MDPs),
and how to judge the candidate's answer on a case.  This module runs a battery:

0. the candidate is loaded in a worker process (:mod:`rlspec.checks.worker`) and the first
   case's arguments are bound to its parameters without running it, so that a wrong
   parameter name is a usage error, not a counterexample;
1. the generated cases, with the fixed edge cases first, under hypothesis; on a failure
   hypothesis shrinks the case to a minimal one, which the report shows;
2. if those all pass, the named toy MDPs, smallest first;
3. with ``large_states``, the MDP checks then run generated MDPs of up to that many states
   (``rlspec.toy_mdps.large``) with a time budget per case, judged against certified
   answers: a check of a solver built for large problems.

The candidate never crashes the check: an exception, a NaN, a wrong shape, an exit, a
crash, or a call that runs past ``timeout`` seconds becomes a failed case in the report.
The run is deterministic (hypothesis is derandomized) so a CI job sees the same verdict.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rlspec.checks.candidate import Request
from rlspec.checks.core import (RELATIVE_TOLERANCE, CandidateFailure, Case, Differentiated,
                                Mismatch, UsageError, answer)
from rlspec.checks.report import Report
from rlspec.checks.worker import CandidateOutput, CandidateSource, Worker

DEFAULT_MAX_EXAMPLES = 100
DEFAULT_TIMEOUT_SECONDS = 10.0
#: The worker's address-space limit: a candidate that allocates more gets a MemoryError
#: (reported as its failure) instead of driving the machine into swap or the OOM killer.
DEFAULT_MEMORY_LIMIT_MB = 8192
#: The time a candidate may take on one large case (``large_states``).
DEFAULT_LARGE_TIMEOUT_SECONDS = 60.0
#: The largest relative tolerance accepted: beyond it a check would pass answers that are
#: wrong in their second digit.
MAX_TOLERANCE = 1e-2

_LEAK_HINT = ("the formula treats it as a constant: compute it under torch.no_grad() or "
              "call .detach() on it")


class Caller:
    """How a judge calls the candidate: every call goes through the worker.

    ``call(arguments, shape)`` returns the answer as a float64 array; ``call.loss(...)``
    returns a loss's value and gradients.  Inputs the candidate wrote into are collected
    in ``written`` for the report.
    """

    def __init__(self, worker: Worker, timeout: float, forbid_input_writes: bool):
        self.worker, self.timeout = worker, timeout
        self.forbid_input_writes = forbid_input_writes
        self.written: set[str] = set()

    def __call__(self, arguments: dict[str, Any], shape: tuple[int, ...] | None) -> np.ndarray:
        outcome = self._call(Request(arguments))
        return answer(outcome.value, shape)

    def loss(self, arguments: dict[str, Any], differentiate: tuple[str, ...],
             frozen: dict[str, str] | tuple[str, ...] = (), shape: tuple[int, ...] = (),
             weights: np.ndarray | None = None) -> Differentiated:
        """The loss the candidate returns on torch tensors, with d(sum of weights * loss) /
        d input for each name in ``differentiate``.  The inputs in ``frozen`` (a name, or a
        name with a hint) also require grad, and a loss that sends gradient into one of
        them fails: the formula treats them as constants."""
        hints = frozen if isinstance(frozen, dict) else dict.fromkeys(frozen, _LEAK_HINT)
        outcome = self._call(Request(arguments, tensors=True, differentiate=tuple(differentiate),
                                     frozen=tuple(hints), weights=weights))
        value = answer(outcome.value, shape)
        for name, hint in hints.items():
            leaked = outcome.gradients[name]
            if np.any(leaked != 0.0):
                raise CandidateFailure("leak", f"the loss sends gradient into {name} "
                                               f"(d loss / d {name} is not 0): {hint}", leaked)
        return Differentiated(value, {name: outcome.gradients[name] for name in differentiate})

    def _call(self, request: Request):
        if request.tensors:
            import torch  # noqa: F401  (imported once here, so later workers inherit it)
        outcome = self.worker.call(request, self.timeout)
        if outcome.written:
            self.written.update(outcome.written)
            if self.forbid_input_writes:
                raise CandidateFailure("input-write", f"wrote into its input "
                                                      f"{', '.join(outcome.written)} in place")
        if outcome.failure:
            kind, message, got, details = outcome.failure
            raise CandidateFailure(kind, message, got, details)
        return outcome


def validated_options(max_examples, timeout, tolerance, memory_limit) -> tuple:
    """The options of a check, or a UsageError naming the one out of range; the CLI and
    ``rlspec.check`` both go through here, so they accept and reject the same values."""
    if isinstance(max_examples, bool) or not isinstance(max_examples, (int, np.integer)) \
            or max_examples < 1:
        raise UsageError(f"max_examples must be a positive integer, got {max_examples!r}")
    if not _finite_number(timeout) or timeout <= 0:
        raise UsageError(f"timeout must be a finite positive number of seconds, got {timeout!r}")
    if not _finite_number(tolerance) or not 0 < tolerance <= MAX_TOLERANCE:
        raise UsageError(f"tolerance must be a relative tolerance in (0, {MAX_TOLERANCE:g}], "
                         f"got {tolerance!r}")
    if isinstance(memory_limit, bool) or not isinstance(memory_limit, (int, np.integer)) \
            or memory_limit < 64:
        raise UsageError(f"memory_limit must be a whole number of megabytes, at least 64, "
                         f"got {memory_limit!r}")
    return int(max_examples), float(timeout), float(tolerance), int(memory_limit)


def _large_adapter(battery, spec_id: str, large_states, large_timeout,
                   adapter: str | None) -> str:
    """The adapter of a run with large cases (they pass sparse transitions, so every case
    does), or a UsageError naming what is wrong with the large-case options."""
    from rlspec.checks.batteries import BATTERIES
    from rlspec.toy_mdps.large import LARGE_CASE_SIZES

    if battery.large is None:
        having = ", ".join(sorted(b.spec_id for b in BATTERIES.values() if b.large))
        raise UsageError(f"{spec_id} has no large cases; the checks that have them: {having}")
    smallest = min(size for _, size in LARGE_CASE_SIZES)
    if isinstance(large_states, bool) or not isinstance(large_states, (int, np.integer)) \
            or large_states < smallest:
        raise UsageError(f"large_states must be a whole number of states, at least "
                         f"{smallest} (the smallest large case), got {large_states!r}")
    if not _finite_number(large_timeout) or large_timeout <= 0:
        raise UsageError(f"large_timeout must be a finite positive number of seconds, got "
                         f"{large_timeout!r}")
    if adapter not in (None, "sparse-transitions"):
        raise UsageError(f"the large cases pass transitions as a sparse matrix, which the "
                         f"adapter {adapter!r} cannot convert; leave the adapter out")
    return "sparse-transitions"


def validated_rename(rename) -> tuple[tuple[str, str], ...]:
    """``rename`` as (canonical, yours) pairs: from a dict, or from CANONICAL=YOURS texts."""
    if rename is None:
        return ()
    pairs = list(rename.items()) if isinstance(rename, dict) else \
        [tuple(text.split("=", 1)) if isinstance(text, str) else text for text in rename]
    for pair in pairs:
        if len(pair) != 2 or not all(isinstance(n, str) and n.isidentifier() for n in pair):
            shown = "=".join(pair) if all(isinstance(n, str) for n in pair) else repr(pair)
            raise UsageError(f"rename takes CANONICAL=YOURS, two parameter names, got {shown!r}")
    return tuple(pairs)


def check(name: str, candidate: Callable | str, *, max_examples: int = DEFAULT_MAX_EXAMPLES,
          timeout: float = DEFAULT_TIMEOUT_SECONDS, tolerance: float = RELATIVE_TOLERANCE,
          include_undiscounted: bool = True, candidate_name: str | None = None,
          adapter: str | None = None, rename=None, forbid_input_writes: bool = False,
          memory_limit: int = DEFAULT_MEMORY_LIMIT_MB, large_states: int | None = None,
          large_timeout: float = DEFAULT_LARGE_TIMEOUT_SECONDS) -> Report:
    """Judge ``candidate`` on the check ``name`` and return a :class:`Report`.

    ``name`` is a spec entry ID (``"gae.advantage"``) or a check's alias (``"gae"``), with
    ``@variant`` for a library convention (``"ppo.value-clipping@sb3"``); see
    ``rlspec list checks``.  ``candidate`` is a callable in the check's canonical signature,
    or ``"module:function"`` to import in the worker.  ``adapter`` names an input convention
    (``rlspec.checks.adapters.all_adapters()``) and ``rename`` maps canonical argument names
    to yours (``{"terminated": "dones"}``).  ``include_undiscounted=False`` leaves out the
    episodic gamma = 1 cases; ``forbid_input_writes`` fails a candidate that writes into its
    inputs (otherwise a warning).  ``memory_limit`` is in megabytes.  ``large_states``
    adds, for the MDP checks that have them, generated MDPs of up to that many states, each
    call limited to ``large_timeout`` seconds; every case then passes ``transitions`` as a
    CSR matrix (S * A, S) (the ``sparse-transitions`` adapter).  Raises UsageError,
    before judging anything, for an unknown name, an option out of range, or a candidate
    whose parameters do not take the check's arguments.
    """
    from rlspec.checks.batteries import find

    max_examples, timeout, tolerance, memory_limit = validated_options(
        max_examples, timeout, tolerance, memory_limit)
    battery, spec_id = find(name)
    if large_states is not None:
        adapter = _large_adapter(battery, spec_id, large_states, large_timeout, adapter)
    if adapter is not None:
        from rlspec.checks.adapters import all_adapters
        if adapter not in all_adapters():
            raise UsageError(f"no adapter {adapter!r}; adapters: {', '.join(sorted(all_adapters()))}")
    if not (callable(candidate) or (isinstance(candidate, str) and ":" in candidate)):
        raise UsageError(f"candidate must be a callable or 'module:function', got {candidate!r}")
    label = candidate_name or (candidate if isinstance(candidate, str)
                               else getattr(candidate, "__qualname__", repr(candidate)))
    source = CandidateSource(candidate, label, adapter, validated_rename(rename), os.getcwd())
    output = CandidateOutput()
    worker = Worker(source, memory_limit * 2**20, output)
    caller = Caller(worker, timeout, forbid_input_writes)
    counter = {"cases": 0}
    large_cases_run: list[dict[str, Any]] = []
    started = time.perf_counter()

    def judge(case: Case, rule=battery.judge) -> dict[str, Any] | None:
        counter["cases"] += 1
        try:
            mismatch = rule(case, caller, tolerance)
        except CandidateFailure as failure:
            return _counterexample(case, failure.message, got=failure.got,
                                   traceback=failure.details)
        if mismatch is None:
            return None
        return _counterexample(case, mismatch.message, mismatch.expected, mismatch.got,
                               mismatch.tolerance)

    def keep(case: Case) -> bool:
        return include_undiscounted or case.arguments.get("gamma", 0.0) < 1.0

    try:
        edge_cases = battery.make_edge_cases()
        worker.dry_run(edge_cases[0].arguments, timeout)
        found = _search(battery, edge_cases, judge, keep, max_examples)
        if found is None:
            for case in battery.make_toy_cases():
                if keep(case):
                    found = judge(case)
                    if found is not None:
                        break
        if found is None and large_states is not None:
            caller.timeout = large_timeout
            for case in battery.large.make(large_states):
                case_started = time.perf_counter()
                found = judge(case, battery.large.judge)
                large_cases_run.append({"case": case.label,
                                        "states": case.context["mdp"].n_states,
                                        "seconds": time.perf_counter() - case_started})
                if found is not None:
                    break
    except CandidateFailure as failure:  # the dry run itself died or hung
        raise UsageError(f"{label}: {failure.message}") from None
    finally:
        worker.stop()
    warnings = [f"the candidate wrote into its input {name} in place (a rollout buffer "
                f"would be corrupted; forbid_input_writes / --forbid-input-writes makes "
                f"this a failure)" for name in sorted(caller.written)]
    return Report(
        check=battery.name, spec_id=spec_id, candidate=label, passed=found is None,
        cases_run=counter["cases"], seconds=time.perf_counter() - started,
        tolerance=tolerance, counterexample=found, warnings=warnings,
        candidate_output=output.text(), candidate_output_bytes=output.size,
        variant=battery.variant, large_cases=large_cases_run,
    )


class _Falsified(Exception):
    def __init__(self, counterexample):
        super().__init__(counterexample["problem"])
        self.counterexample = counterexample


def _search(battery, edge_cases, judge, keep, max_examples: int) -> dict[str, Any] | None:
    """Run the edge cases and generated cases; return hypothesis's shrunk counterexample."""
    import hypothesis

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

    test = hypothesis.given(battery.make_generated())(property_holds)
    for case in reversed(edge_cases):
        test = hypothesis.example(case)(test)
    try:
        settings(test)()
    except _Falsified as falsified:
        return falsified.counterexample
    return None


def _counterexample(case: Case, problem, expected=None, got=None, tolerance=None,
                    traceback=None):
    inputs = case.context.get("shown_inputs", case.arguments)
    return {"case": case.label, "inputs": dict(inputs), "problem": problem,
            "expected": expected, "got": got, "tolerance": tolerance, "traceback": traceback}


def _finite_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) \
        and math.isfinite(value)


__all__ = ["Caller", "Case", "Mismatch", "UsageError", "check"]
