"""What every alignment trainer's loop shares: the optimiser, when to evaluate and validate,
and where the figures go (metrics file, progress line, returned history)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from rlspec.agents.alignment.metrics_log import MetricsLog
from rlspec.agents.alignment.progress import ProgressLine

__all__ = ["adam_with_linear_decay", "due", "RunRecorder"]


def adam_with_linear_decay(parameters, learning_rate: float, steps: int):
    """Adam whose learning rate falls linearly from ``learning_rate`` to 0 over ``steps``
    updates.  The decay is what lets a stochastic trainer settle *on* its fixed point: with
    a constant rate the iterates keep a noise floor of order the rate."""
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: max(0.0, 1.0 - k / steps))
    return optimizer, schedule


def due(step: int, every: int, last: int) -> bool:
    """True every ``every`` steps (counted from 1) and at the last step; never if every <= 0."""
    return every > 0 and (step % every == 0 or step == last)


class RunRecorder:
    """Calls ``evaluate(policy) -> dict`` when due, merges the trainer's own figures, writes
    the record to the metrics log and the progress line, and keeps the history."""

    def __init__(self, name: str, steps: int, evaluate: Callable | None, eval_every: int,
                 metrics: MetricsLog | None = None, show_progress: bool = False):
        self.steps, self.evaluate, self.eval_every = steps, evaluate, eval_every
        self.metrics = metrics if metrics is not None else MetricsLog()
        self.progress = ProgressLine(name, steps, enabled=show_progress)

    def record(self, step: int, policy, figures: dict) -> None:
        if not due(step, self.eval_every, self.steps):
            return
        record = dict(figures)
        if self.evaluate is not None:
            record.update(self.evaluate(policy))
        self.metrics.write(step, record)
        self.progress.update(step, record)

    def finish(self) -> list[dict]:
        self.progress.close()
        return self.metrics.records
