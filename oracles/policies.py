"""Which policies are epsilon-greedy for an action-value table, decided exactly.

The notes' formula (seed 000, "ε-贪婪") names "the" maximiser; with ties there are several,
and every split of the greedy mass 1 - epsilon among the tied maximisers is defensible.
This oracle therefore describes the whole set of valid answers rather than one answer:

* every action that is not a maximiser gets exactly epsilon / |A|;
* every maximiser gets at least epsilon / |A|;
* each row sums to 1.

Comparisons are exact (Fractions) except for ``tolerance``, the slack allowed for the
candidate's own rounding.
"""

from __future__ import annotations

from fractions import Fraction

from rlspec import validation

__all__ = ["epsilon_greedy_violations"]


def epsilon_greedy_violations(action_values, epsilon, policy, tolerance: float = 0.0) -> list[str]:
    """The ways ``policy`` fails to be epsilon-greedy for ``action_values`` (empty: it is)."""
    q = validation.as_float_array(action_values, "action_values Q[s, a]", ndim=2)
    policy = validation.as_float_array(policy, "policy pi[s, a]", ndim=2)
    validation.check_shape(policy, q.shape, "policy pi[s, a]")
    floor = Fraction(float(epsilon)) / q.shape[1]
    slack = Fraction(tolerance)
    problems = []
    for s in range(q.shape[0]):
        best = q[s].max()
        row = [Fraction(p) for p in policy[s]]
        if abs(sum(row) - 1) > slack:
            problems.append(f"state {s}: probabilities sum to {float(sum(row)):.6g}, not 1")
        for a, probability in enumerate(row):
            if q[s, a] < best and abs(probability - floor) > slack:
                problems.append(f"state {s}: non-greedy action {a} gets {float(probability):.6g}"
                                f", not epsilon / |A| = {float(floor):.6g}")
            if q[s, a] == best and probability < floor - slack:
                problems.append(f"state {s}: greedy action {a} gets {float(probability):.6g}, "
                                f"less than epsilon / |A| = {float(floor):.6g}")
    return problems
