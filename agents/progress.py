"""A one-line progress bar on stderr: steps, return, steps/s and, where known, the optimum."""

from __future__ import annotations

import math
import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """``[#####.....] 12,288/50,000  return 87.3  1,520 steps/s  regret 0.012``.

    Redrawn at most ten times a second; ``enabled=False`` (or a non-terminal stream with
    ``only_tty``) prints nothing, so tests and logs stay quiet.
    """

    WIDTH = 24

    def __init__(self, total: int, enabled: bool = True, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.enabled = enabled
        self.last_draw = 0.0

    def update(self, step: int, fields: dict, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        filled = int(self.WIDTH * min(step / max(self.total, 1), 1.0))
        parts = [f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {step:,}/{self.total:,}"]
        for name, value in fields.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            parts.append(f"{name} {value:,.4g}" if isinstance(value, float) else f"{name} {value}")
        self.stream.write("\r" + "  ".join(parts) + "\033[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
