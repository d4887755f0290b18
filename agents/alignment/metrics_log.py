"""Metrics as JSON lines: one object per evaluation, with the step it was taken at.

The file format ``rlspec plot`` reads (one JSON object per line, a ``step`` key and numbers)
is the one the control agents write; the lead may merge this module with theirs.

>>> import io, json
>>> stream = io.StringIO()
>>> log = MetricsLog(stream)
>>> log.write(3, {"loss": 0.5})
>>> json.loads(stream.getvalue())
{'step': 3, 'loss': 0.5}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

__all__ = ["MetricsLog"]


class MetricsLog:
    """Appends ``{"step": step, **metrics}`` lines to a path or an open text stream, and keeps
    every record in ``records`` (the trainers return them as their history)."""

    def __init__(self, destination: str | Path | IO[str] | None = None):
        self.records: list[dict] = []
        if destination is None or hasattr(destination, "write"):
            self._stream, self._owned = destination, False
        else:
            Path(destination).parent.mkdir(parents=True, exist_ok=True)
            self._stream, self._owned = open(destination, "w", encoding="utf-8"), True

    def write(self, step: int, metrics: dict) -> None:
        record = {"step": int(step), **{key: float(value) for key, value in metrics.items()}}
        self.records.append(record)
        if self._stream is not None:
            self._stream.write(json.dumps(record) + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()
