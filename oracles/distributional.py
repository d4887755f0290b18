"""Exact C51 projections, two ways, in rational arithmetic.

The support z_i = v_min + i (v_max - v_min)/(K - 1) is built from exact Fractions, every
shifted atom r + gamma z_j is exact, and the clip and the interpolation weights are exact:
the answer is the exact projection of the distribution the floats describe.

- :func:`categorical_projection_exact` goes target atom by target atom: eq. (7) of Bellemare
  et al. (2017), m_i = sum_j [1 - |T z_j - z_i| / dz]_0^1 p_j (a "hat" function around z_i).
- :func:`categorical_projection_by_neighbours` goes source atom by source atom: find, by a
  scan of the support, the two atoms that bracket T z_j and split p_j between them in
  proportion to the distances.  No floor, no ceil, no index arithmetic.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec.oracles.methods.conversions import to_fractions

__all__ = ["categorical_projection_exact", "categorical_projection_by_neighbours"]


def _shifted_atoms(reward, terminated, gamma, v_min, v_max, n_atoms):
    """The exact support and the clipped shifted atoms clip(r + gamma (1 - term) z_j)."""
    v_min, v_max = Fraction(float(v_min)), Fraction(float(v_max))
    spacing = (v_max - v_min) / (n_atoms - 1)
    support = [v_min + i * spacing for i in range(n_atoms)]
    discount = Fraction(0) if terminated else Fraction(float(gamma))
    reward = Fraction(float(reward))
    shifted = [min(max(reward + discount * z, v_min), v_max) for z in support]
    return support, spacing, shifted


def categorical_projection_exact(rewards, terminated, gamma, next_probabilities, v_min, v_max
                                 ) -> np.ndarray:
    """m[b, i] = sum_j max(0, 1 - |T z_j - z_i| / dz) p[b, j], as exact Fractions."""
    p = to_fractions(next_probabilities)
    batch, n_atoms = p.shape
    result = np.empty((batch, n_atoms), dtype=object)
    for b in range(batch):
        support, spacing, shifted = _shifted_atoms(rewards[b], terminated[b], gamma, v_min,
                                                   v_max, n_atoms)
        for i in range(n_atoms):
            result[b, i] = sum((max(Fraction(0), 1 - abs(shifted[j] - support[i]) / spacing) * p[b, j]
                                for j in range(n_atoms)), Fraction(0))
    return result


def categorical_projection_by_neighbours(rewards, terminated, gamma, next_probabilities, v_min,
                                         v_max) -> np.ndarray:
    """Each p[b, j] split between the two support atoms that bracket T z_j, as Fractions."""
    p = to_fractions(next_probabilities)
    batch, n_atoms = p.shape
    result = np.full((batch, n_atoms), Fraction(0), dtype=object)
    for b in range(batch):
        support, spacing, shifted = _shifted_atoms(rewards[b], terminated[b], gamma, v_min,
                                                   v_max, n_atoms)
        for j in range(n_atoms):
            x = shifted[j]
            if x in support:  # exactly on an atom: all of it goes there
                result[b, support.index(x)] += p[b, j]
                continue
            upper = next(i for i in range(n_atoms) if support[i] > x)
            lower = upper - 1
            result[b, lower] += p[b, j] * (support[upper] - x) / spacing
            result[b, upper] += p[b, j] * (x - support[lower]) / spacing
    return result
