"""``rlspec verify``: run every spec entry's battery against rlspec's own reference.

This is the same machinery users meet in ``rlspec check``, pointed at ``rlspec.reference``:
the edge cases, the generated cases and the named toy MDPs, judged by the oracles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rlspec.spec import registry
from rlspec.checks.runner import Report, check

#: Generated cases per entry in a default run (measured: 18 entries, ~2000 cases, ~15 s
#: on 2 cores; the target is about a minute, so the chapters still to come fit too).
DEFAULT_EXAMPLES = 100


@dataclass
class Verification:
    entry: registry.Entry
    report: Report | None
    error: str | None
    seconds: float

    @property
    def passed(self) -> bool:
        return self.error is None and self.report is not None and self.report.passed


def verify_entry(entry: registry.Entry, max_examples: int = DEFAULT_EXAMPLES) -> Verification:
    started = time.perf_counter()
    try:
        reference = registry.resolve(entry.checked_reference())
        report = check(entry.check, reference, max_examples=max_examples,
                       candidate_name=entry.checked_reference(), **entry.check_options)
        return Verification(entry, report, None, time.perf_counter() - started)
    except Exception as error:  # a broken entry is a failed row, not a crashed run
        return Verification(entry, None, f"{type(error).__name__}: {error}",
                            time.perf_counter() - started)


def verify(spec_ids: list[str] | None = None, max_examples: int = DEFAULT_EXAMPLES):
    """Yield one :class:`Verification` per entry (all entries when ``spec_ids`` is empty)."""
    chosen = [registry.entry(spec_id) for spec_id in spec_ids] if spec_ids else registry.entries()
    for entry in chosen:
        yield verify_entry(entry, max_examples)
