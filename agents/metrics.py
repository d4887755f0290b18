"""Metrics of a run: one JSON object per line (``metrics.jsonl``), and a CSV copy at the end.

Every record has ``step`` (environment steps so far) and whatever the agent logs at that
point: the mean return of the episodes finished since the last record, steps/s, losses,
and on toy MDPs the exact figures of ``exact_evaluation`` (regret, critic error, ...).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import torch

__all__ = ["MetricsWriter", "ReturnMeter", "read_metrics"]


class ReturnMeter:
    """Sums the returns and lengths of finished episodes on the device; read them at log time."""

    def __init__(self, device):
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.length_total = torch.zeros((), dtype=torch.float64, device=device)
        self.count = torch.zeros((), dtype=torch.float64, device=device)
        self.last_mean = math.nan
        self.last_length = math.nan

    def add(self, step) -> None:
        self.total += step.episode_returns.sum()
        self.length_total += step.episode_lengths.sum()
        self.count += step.done.sum()

    def read(self) -> dict:
        """Mean return and length since the last read (the previous values when none ended)."""
        count = float(self.count)
        if count > 0:
            self.last_mean = float(self.total) / count
            self.last_length = float(self.length_total) / count
        self.total.zero_()
        self.length_total.zero_()
        self.count.zero_()
        return {"episode_return": self.last_mean, "episode_length": self.last_length,
                "episodes": int(count)}


class MetricsWriter:
    """Appends records to ``DIR/metrics.jsonl``; ``close()`` also writes ``DIR/metrics.csv``."""

    def __init__(self, directory: Path | None):
        self.directory = Path(directory) if directory is not None else None
        self.records: list[dict] = []
        self.file = None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.file = open(self.directory / "metrics.jsonl", "w", encoding="utf-8")

    def write(self, record: dict) -> None:
        record = {key: _plain(value) for key, value in record.items()}
        self.records.append(record)
        if self.file is not None:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is None:
            return
        self.file.close()
        columns = list(dict.fromkeys(key for record in self.records for key in record
                                     if not isinstance(record[key], (list, dict))))
        with open(self.directory / "metrics.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.records)
        self.file = None


def _plain(value):
    """JSON-ready: tensors and numpy scalars to floats, NaN to None."""
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_metrics(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` file (or of ``DIR/metrics.jsonl``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no metrics file (a run directory written by "
                                f"`rlspec train --out DIR` holds metrics.jsonl)")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
