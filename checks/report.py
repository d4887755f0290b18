"""The outcome of a check, as text for people and as strict JSON for programs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Report:
    """The outcome of ``rlspec.check``: pass or fail, how many cases ran, and for a failure
    the minimal counterexample found, with the spec entry it violates.  ``large_cases``
    lists the large generated MDPs judged (``large_states``): label, states, seconds.

    ``variant`` names the library convention judged (``check@variant``), None for the
    entry's own formula.  ``warnings`` lists what the candidate did that is not a wrong answer but may hurt (it
    wrote into its inputs); ``candidate_output`` is what it printed, cut at both ends.
    """

    check: str
    spec_id: str
    candidate: str
    passed: bool
    cases_run: int
    seconds: float
    tolerance: float
    counterexample: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    candidate_output: str = ""
    candidate_output_bytes: int = 0
    variant: str | None = None
    large_cases: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def site_page(self) -> str:
        """The entry's page in the site ``rlspec site OUT`` builds, relative to OUT."""
        from rlspec.spec.registry import site_page
        return site_page(self.spec_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check, "spec_id": self.spec_id, "variant": self.variant,
            "candidate": self.candidate,
            "passed": self.passed, "cases_run": self.cases_run,
            "seconds": round(self.seconds, 3), "relative_tolerance": self.tolerance,
            "counterexample": jsonable(self.counterexample), "warnings": self.warnings,
            "candidate_output": self.candidate_output,
            "candidate_output_bytes": self.candidate_output_bytes,
            "large_cases": jsonable(self.large_cases),
            "show": f"rlspec show {self.spec_id}", "site_page": self.site_page,
        }

    def to_json(self) -> str:
        """Strict JSON: NaN and infinities are written as the strings "NaN", "Infinity"
        and "-Infinity", which every JSON parser accepts."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def __repr__(self) -> str:
        return f"<rlspec Report {self.spec_id}: {'PASS' if self.passed else 'FAIL'}>\n{self}"

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        judged = self.spec_id + (f"@{self.variant}" if self.variant else "")
        lines = [
            f"rlspec check {judged}: {verdict}"
            + (f"  (check {self.check})" if self.check != self.spec_id else ""),
            f"  candidate: {self.candidate}",
            f"  cases run: {self.cases_run} in {self.seconds:.2f} s",
        ]
        lines += [f"  large case {run['case']}: {run['states']} states, judged in {run['seconds']:.2f} s"
                  for run in self.large_cases]
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
            if example.get("traceback"):
                lines.append("  " + example["traceback"].replace("\n", "\n  "))
        lines += [f"  warning: {warning}" for warning in self.warnings]
        if self.candidate_output:
            lines.append(f"  the candidate printed {self.candidate_output_bytes} bytes:")
            lines += ["    | " + line for line in self.candidate_output.rstrip().splitlines()]
        if not self.passed:
            lines.append(f"  the entry: rlspec show {self.spec_id}, or {self.site_page} of the "
                         f"documentation site (rlspec site OUT)")
        return "\n".join(lines)


def jsonable(value):
    """``value`` with arrays as lists and non-finite floats as strings."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _show(value, indent: int = 12) -> str:
    """An array on as many lines as numpy needs, continuation lines under the first."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=6, separator=", ", max_line_width=100,
                               prefix=" " * indent)
        return "\n".join(line.rstrip() for line in text.splitlines())
    return repr(value)
