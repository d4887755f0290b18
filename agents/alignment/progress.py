"""A one-line progress display on stderr: ``name  step/total  key=value ...``, rewritten in place.

Silent when ``enabled`` is False (tests, library use).  The control agents have their own
progress bar; the lead may merge the two.
"""

from __future__ import annotations

import sys

__all__ = ["ProgressLine"]


class ProgressLine:
    def __init__(self, name: str, total: int, enabled: bool = True, stream=None):
        self.name, self.total, self.enabled = name, total, enabled
        self.stream = stream if stream is not None else sys.stderr

    def update(self, step: int, metrics: dict) -> None:
        if not self.enabled:
            return
        shown = "  ".join(f"{key}={value:.4g}" for key, value in metrics.items())
        self.stream.write(f"\r{self.name}  {step}/{self.total}  {shown}\033[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
