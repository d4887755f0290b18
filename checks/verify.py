"""``rlspec verify``: run every spec entry's battery against rlspec's own reference.

This is the same machinery users meet in ``rlspec check``, pointed at ``rlspec.reference``:
the edge cases, the generated cases and the named toy MDPs, judged by the oracles.  With
``jobs > 1`` the entries are shared among that many forked processes.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from rlspec.checks.report import Report
from rlspec.checks.runner import check
from rlspec.spec import registry

#: Generated cases per entry in a default run (118 entries, ~12,500 cases, ~40 s on 2 cores).
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
        report = check(entry.id, reference, max_examples=max_examples,
                       candidate_name=entry.checked_reference(), **entry.check_options)
        return Verification(entry, report, None, time.perf_counter() - started)
    except Exception as error:  # a broken entry is a failed row, not a crashed run
        return Verification(entry, None, f"{type(error).__name__}: {error}",
                            time.perf_counter() - started)


def verify(spec_ids: list[str] | None = None, max_examples: int = DEFAULT_EXAMPLES,
           jobs: int = 1) -> Iterator[Verification]:
    """Yield one :class:`Verification` per entry, in ID order (all entries when ``spec_ids``
    is empty), verified by ``jobs`` processes."""
    chosen = [registry.entry(spec_id) for spec_id in spec_ids] if spec_ids else registry.entries()
    if jobs <= 1:
        for entry in chosen:
            yield verify_entry(entry, max_examples)
        return
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        yield from pool.map(verify_entry, chosen, [max_examples] * len(chosen))
