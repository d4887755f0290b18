"""rlspec.integrations: judge the formulas of real RL libraries where they live.

One module per library (:mod:`~rlspec.integrations.sb3`, :mod:`~rlspec.integrations.torchrl`,
:mod:`~rlspec.integrations.verl`, :mod:`~rlspec.integrations.rlax`,
:mod:`~rlspec.integrations.trl`, and :mod:`~rlspec.integrations.cleanrl` for CleanRL's
conventions).  Each calls the *installed* library's own code on the case's numbers (stub
networks whose outputs are the case, a buffer holding the case) and exposes the result in
rlspec's canonical signature, so that ``rlspec.check(name, candidate)`` judges the library.
Each module's :func:`conformance` lists what it can judge: the library function, the check
(``alias`` or ``alias@variant``), and where the library deliberately or mistakenly differs
from a check, why.  ``rlspec audit LIB`` (:mod:`rlspec.integrations.audit`) runs them all.

Install a library with its extra: ``pip install 'rlspec[sb3]'`` (``torchrl``, ``trl``,
``verl``, ``jax``, or ``integrations`` for all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rlspec.checks.core import RELATIVE_TOLERANCE

#: library name -> (module of this package, the distribution it judges)
LIBRARIES = {
    "sb3": ("rlspec.integrations.sb3", "stable-baselines3"),
    "torchrl": ("rlspec.integrations.torchrl", "torchrl"),
    "verl": ("rlspec.integrations.verl", "verl"),
    "rlax": ("rlspec.integrations.rlax", "rlax"),
    "trl": ("rlspec.integrations.trl", "trl"),
    "cleanrl": ("rlspec.integrations.cleanrl", None),
}

#: What a row expects: the check passes; or it fails because of a convention the library
#: documents; or because of a bug in the library (docs/integrations.md has a reproduction).
EXPECTATIONS = ("pass", "divergence", "bug")


@dataclass(frozen=True)
class Conformance:
    """One library function judged by one check (or variant)."""

    function: str
    check: str
    candidate: Callable
    expect: str = "pass"
    why: str = ""
    tolerance: float = RELATIVE_TOLERANCE

    def __post_init__(self):
        if self.expect not in EXPECTATIONS:
            raise ValueError(f"expect must be one of {EXPECTATIONS}, got {self.expect!r}")
        if self.expect != "pass" and not self.why:
            raise ValueError(f"{self.function} on {self.check}: say why it is expected to fail")


def float64_tensors(*arrays):
    """The arrays as float64 torch tensors (a library call receives the case's exact numbers)."""
    import torch
    return [torch.as_tensor(array, dtype=torch.float64) for array in arrays]
