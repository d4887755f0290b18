"""Exact answers for DQN's targets, losses, gradients, dueling heads and replay buffer.

Every float input is converted exactly to a Fraction, and each answer is computed by brute
force, transition by transition, in rational arithmetic: no rounding anywhere, so a float
answer is judged against the exact value of the problem the floats describe.  The methods
differ from ``rlspec.reference.dqn`` where they can: the maximum is found by comparing every
pair, the n-step horizon is located first and the sum written in closed form, the loss
gradient is the closed-form derivative (the reference uses autograd), the dueling
identifiability is a symbolic null space (sympy), and the replay buffer's slots are given
by modular arithmetic instead of a simulated ring.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy
from rlspec.oracles.methods.conversions import to_fractions

__all__ = [
    "dqn_targets_exact", "double_dqn_targets_exact", "dqn_loss_and_gradient_exact",
    "n_step_targets_exact", "dueling_exact", "dueling_null_space", "replay_slot_owners",
    "replay_sample_exact",
]


def _maximisers(row) -> list[int]:
    """Every a with row[a] >= row[b] for all b: comparison of every pair, no argmax."""
    return [a for a in range(len(row)) if all(row[a] >= row[b] for b in range(len(row)))]


def dqn_targets_exact(rewards, next_q_target, terminated, gamma) -> list[Fraction]:
    """y_i = r_i + gamma max_a' Q_target(s'_i, a'), or r_i when transition i terminated."""
    r, q, g = to_fractions(rewards), to_fractions(next_q_target), Fraction(float(gamma))
    targets = []
    for i in range(len(r)):
        if terminated[i]:
            targets.append(r[i])
        else:
            best = q[i, _maximisers(q[i])[0]]
            targets.append(r[i] + g * best)
    return targets


def double_dqn_targets_exact(rewards, next_q_online, next_q_target, terminated, gamma
                             ) -> list[set[Fraction]]:
    """For each transition, the set of admissible Double DQN targets: one per maximiser of
    the online network's Q(s', .), evaluated by the target network (a set because ties in
    the argmax may be broken any way)."""
    r, g = to_fractions(rewards), Fraction(float(gamma))
    online, target = to_fractions(next_q_online), to_fractions(next_q_target)
    admissible = []
    for i in range(len(r)):
        if terminated[i]:
            admissible.append({r[i]})
        else:
            admissible.append({r[i] + g * target[i, a] for a in _maximisers(online[i])})
    return admissible


def _huber(error: Fraction) -> Fraction:
    return error * error / 2 if abs(error) <= 1 else abs(error) - Fraction(1, 2)


def _huber_derivative(error: Fraction) -> Fraction:
    return max(Fraction(-1), min(Fraction(1), error))


def dqn_loss_and_gradient_exact(q_values, actions, rewards, next_q_target, terminated, gamma,
                                kind: str = "squared") -> tuple[Fraction, np.ndarray]:
    """The mean DQN loss and its exact gradient with respect to ``q_values`` [B, A].

    kind "squared": L = (1/B) sum_i (1/2) delta_i^2, dL/dQ[i, a_i] = delta_i / B;
    kind "huber":   L = (1/B) sum_i H(delta_i),     dL/dQ[i, a_i] = clip(delta_i, -1, 1) / B;
    delta_i = Q[i, a_i] - y_i with y_i from :func:`dqn_targets_exact`; every other entry of
    the gradient is 0, and the target is a constant (it has no gradient at all).
    """
    if kind not in ("squared", "huber"):
        raise ValueError(f"kind must be 'squared' or 'huber', got {kind!r}")
    q = to_fractions(q_values)
    targets = dqn_targets_exact(rewards, next_q_target, terminated, gamma)
    batch = len(targets)
    loss = Fraction(0)
    gradient = np.full(q.shape, Fraction(0), dtype=object)
    for i in range(batch):
        a = int(actions[i])
        error = q[i, a] - targets[i]
        if kind == "squared":
            loss += error * error / 2
            gradient[i, a] = error / batch
        else:
            loss += _huber(error)
            gradient[i, a] = _huber_derivative(error) / batch
    return loss / batch, gradient


def n_step_targets_exact(rewards, next_values, terminated, truncated, gamma, n) -> list[Fraction]:
    """G_t = sum_{k<m} gamma^k r_{t+k} + gamma^m (1 - terminated_{t+m-1}) next_values[t+m-1].

    The horizon is found first: h = the last step of the sum = min(t + n - 1, the first step
    >= t that ends the episode (terminated or truncated), T - 1); m = h - t + 1.  Then the sum
    is written out in closed form with exact powers of gamma.
    """
    r, v, g = to_fractions(rewards), to_fractions(next_values), Fraction(float(gamma))
    length = len(r)
    targets = []
    for t in range(length):
        ends = [k for k in range(t, length) if terminated[k] or truncated[k]]
        h = min([t + int(n) - 1, length - 1] + ends[:1])
        total = sum((g ** (k - t) * r[k] for k in range(t, h + 1)), Fraction(0))
        if not terminated[h]:
            total += g ** (h - t + 1) * v[h]
        targets.append(total)
    return targets


def dueling_exact(values, advantages, aggregation) -> np.ndarray:
    """Q[b, a] = V[b] + A[b, a] - (max_a' or mean_a') A[b, a'], as exact Fractions."""
    v, adv = to_fractions(values), to_fractions(advantages)
    q = np.empty(adv.shape, dtype=object)
    for b in range(adv.shape[0]):
        row = list(adv[b])
        if aggregation == "max":
            baseline = row[_maximisers(row)[0]]
        elif aggregation == "mean":
            baseline = sum(row, Fraction(0)) / len(row)
        else:
            raise ValueError(f"aggregation must be 'max' or 'mean', got {aggregation!r}")
        for a in range(len(row)):
            q[b, a] = v[b] + row[a] - baseline
    return q


def dueling_null_space(n_actions: int, aggregation: str, maximiser: int = 0) -> list[sympy.Matrix]:
    """A basis of the directions (dV, dA_0, ..., dA_{n-1}) that leave Q unchanged.

    aggregation "none" is the plain Q = V + A; "mean" subtracts the mean of A; "max" subtracts
    max A, which is linear on the region where action ``maximiser`` attains the maximum, so
    the null space is that of the linear map there.  A basis vector with a nonzero first
    entry means V cannot be recovered from Q.
    """
    k = int(n_actions)
    rows = []
    for a in range(k):
        row = [sympy.Integer(1)] + [sympy.Integer(int(b == a)) for b in range(k)]
        if aggregation == "mean":
            row = [row[0]] + [row[1 + b] - sympy.Rational(1, k) for b in range(k)]
        elif aggregation == "max":
            row = [row[0]] + [row[1 + b] - int(b == maximiser) for b in range(k)]
        elif aggregation != "none":
            raise ValueError(f"aggregation must be 'none', 'mean' or 'max', got {aggregation!r}")
        rows.append(row)
    return sympy.Matrix(rows).nullspace()


def replay_slot_owners(capacity: int, n_added: int) -> list[int]:
    """For each filled slot k of a ring buffer, the index of the experience it holds.

    Experience t goes to slot t mod capacity, so slot k holds the latest t < n_added with
    t = k (mod capacity): t = k + capacity * floor((n_added - 1 - k) / capacity).
    """
    size = min(int(capacity), int(n_added))
    return [k + capacity * ((n_added - 1 - k) // capacity) for k in range(size)]


def replay_sample_exact(capacity, experiences, uniform_draws) -> np.ndarray:
    """The rows a uniform ring buffer returns: slot floor(u * size) computed in exact
    rationals, then the experience that slot holds (exactly, bit for bit)."""
    experiences = np.asarray(experiences, dtype=np.float64)
    owners = replay_slot_owners(int(capacity), len(experiences))
    size = len(owners)
    rows = []
    for u in uniform_draws:
        slot = int(Fraction(float(u)) * size)  # int() of a non-negative Fraction is its floor
        rows.append(experiences[owners[slot]])
    return np.array(rows).reshape(len(rows), experiences.shape[1])
