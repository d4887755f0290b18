"""Monte Carlo value updates, exactly. (The note below covers its chapter's other oracle modules too.)

Exact answers for the sample-based updates of the model-free chapter, in rationals.

Each function takes the same inputs as its counterpart in ``rlspec.reference`` (monte_carlo,
temporal_difference, n_step, eligibility_traces) and returns the exact answer as an object
array of ``Fraction``; ``rlspec.checks.batteries.value_learning`` rounds it once to float.
Every float input is converted exactly (``Fraction(0.1)`` is the binary value it holds).

Independence from the reference: the same definitions, computed by other formulas.

* returns are direct sums with explicit powers of gamma, never the backward recursion;
* an incremental mean is computed as the closed-form mean (N V + sum G) / (N + k);
* an update is written ``(1 - alpha) old + alpha target``, not ``old + alpha (target - old)``;
* the lambda-return is the weighted sum of n-step returns of its definition, not the
  recursion :math:`G^\\lambda_t = r_t + \\gamma[(1-\\lambda)V + \\lambda G^\\lambda_{t+1}]`;
* eligibility traces are the closed forms :math:`e_t(s) = \\sum_{k \\le t, S_k = s}
  (\\gamma\\lambda)^{t-k}` (accumulating) and :math:`(\\gamma\\lambda)^{t - \\text{last visit}}`
  (replacing), never the decaying recursion;
* the tree-backup return is the sum over the paths of its tree, not the recursion of
  Sutton & Barto's box.

Cross-checks between these and ``rlspec.oracles.bellman`` (expectations that equal
Bellman backups) are in the tests.  Sizes here are tiny (a handful of steps), so exact
arithmetic costs nothing.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec.oracles.methods.conversions import to_fractions

__all__ = [
    "monte_carlo_exact",
]


def _exact_returns(rewards, gamma: Fraction) -> list[Fraction]:
    """G_t = sum_{k >= t} gamma^(k - t) r_k by direct sums."""
    r = to_fractions(rewards)
    return [sum((gamma ** (k - t) * r[k] for k in range(t, r.size)), Fraction(0))
            for t in range(r.size)]


def monte_carlo_exact(values, counts, states, rewards, gamma, first_visit: bool) -> np.ndarray:
    """The new mean of each state's returns: (N V + sum of this episode's returns) / (N + k),
    over its first visit (k <= 1) or every visit (k = number of visits)."""
    v = to_fractions(values)
    returns = _exact_returns(rewards, Fraction(gamma))
    states = [int(s) for s in states[:len(returns)]]
    result = v.copy()
    for s in set(states):
        visits = [t for t, state in enumerate(states) if state == s]
        if first_visit:
            visits = visits[:1]
        n = int(counts[s])
        result[s] = (n * v[s] + sum(returns[t] for t in visits)) / (n + len(visits))
    return result
