"""Functions of the logits of a one-state softmax policy: the surrogate and KL that a TRPO
line search is handed (``trpo.line-search``), as picklable objects that print their own
definition.  They are the problem, evaluated in floats; the exact answers come from
``rlspec.oracles.trpo.line_search_by_enumeration``."""

from __future__ import annotations

import numpy as np


class BanditFunction(dict):
    """A function of the logits theta of a one-state softmax policy pi_theta = softmax(theta).

    ``kind="surrogate"``: L(theta) = sum_a pi_theta(a) A(a), the importance-weighted
    advantage E_{a ~ pi_old}[pi_theta(a) / pi_old(a) A(a)].  ``kind="kl"``:
    KL(pi_old || pi_theta).  It is a dict of its own definition, so a report prints it and
    ``--json`` encodes it.
    """

    def __init__(self, kind: str, old_logits, advantages):
        definition = ("L(theta) = sum_a softmax(theta)_a A_a" if kind == "surrogate"
                      else "KL(softmax(old_logits) || softmax(theta))")
        super().__init__(function=kind, definition=definition,
                         old_logits=[float(x) for x in old_logits],
                         advantages=[float(x) for x in advantages])
        self._old_log = self._log_softmax(np.asarray(old_logits, dtype=np.float64))
        self._advantages = np.asarray(advantages, dtype=np.float64)

    @staticmethod
    def _log_softmax(logits):
        shifted = logits - logits.max()
        return shifted - np.log(np.exp(shifted).sum())

    def __call__(self, theta) -> float:
        log_policy = self._log_softmax(np.asarray(theta, dtype=np.float64))
        if self["function"] == "surrogate":
            return float(np.exp(log_policy) @ self._advantages)
        return float(np.exp(self._old_log) @ (self._old_log - log_policy))

    def __repr__(self) -> str:
        return f"<{self['definition']}, old_logits={self['old_logits']}, A={self['advantages']}>"
