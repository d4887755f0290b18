r"""Distributional RL (C51): projecting the Bellman-updated distribution onto a fixed support.

Source: seed 000 "其他改进内容：多步学习、噪声网络和值分布强化学习等" (值分布强化学习 named, no
formula) and seed 003, 4-6 (5) "分布式Q函数 ... 直接输出分布".  Paper: Bellemare, Dabney &
Munos (2017), "A Distributional Perspective on Reinforcement Learning", ICML: eq. (7) and
Algorithm 1.
"""

from __future__ import annotations

import math

import numpy as np

from rlspec import validation
from rlspec.validation import InvalidInputError

__all__ = ["categorical_support", "categorical_projection"]


def categorical_support(v_min, v_max, n_atoms) -> np.ndarray:
    r"""The fixed support :math:`z_j = v_{\min} + j\,\Delta z`, j = 0..K-1,
    :math:`\Delta z = (v_{\max} - v_{\min})/(K - 1)`.

    >>> categorical_support(-2.0, 2.0, 5)
    array([-2., -1.,  0.,  1.,  2.])
    """
    if int(n_atoms) != n_atoms or n_atoms < 2:
        raise InvalidInputError(f"the support needs n_atoms >= 2 atoms, got {n_atoms!r}")
    v_min, v_max = float(v_min), float(v_max)
    if not (math.isfinite(v_min) and math.isfinite(v_max) and v_min < v_max):
        raise InvalidInputError(f"the support needs finite v_min < v_max, got {v_min!r}, {v_max!r}")
    spacing = (v_max - v_min) / (n_atoms - 1)
    support = np.array([v_min + j * spacing for j in range(int(n_atoms))])
    support[-1] = v_max  # exact, whatever the rounding of (K - 1) * spacing
    return support


def categorical_projection(rewards, terminated, gamma, next_probabilities, v_min, v_max) -> np.ndarray:
    r"""C51's target distribution: the shifted atoms :math:`r + \gamma z_j` projected back
    onto the support by linear interpolation.

    .. math:: \hat{\mathcal T} z_j = \operatorname{clip}\big(r + \gamma (1 - \text{terminated})\, z_j,\;
              v_{\min},\; v_{\max}\big),\qquad b_j = (\hat{\mathcal T} z_j - v_{\min}) / \Delta z
    .. math:: m_{\lfloor b_j \rfloor} \mathrel{+}= p_j\,(\lceil b_j\rceil - b_j)\ \ \text{and}\ \
              m_{\lceil b_j \rceil} \mathrel{+}= p_j\,(b_j - \lfloor b_j\rfloor),
              \ \text{or}\ m_{b_j} \mathrel{+}= p_j \ \text{when } b_j \text{ is an integer}

    Source: Bellemare et al. (2017), Algorithm 1, with the integer case written out: there
    ⌊b⌋ = ⌈b⌉ and both weights of the formula are 0, so the formula alone would lose p_j
    (a bug reported in several implementations, spec ``c51.projection``).  Equivalently, eq.
    (7): :math:`(\Phi\hat{\mathcal T} Z)_i = \sum_j [1 - |\hat{\mathcal T} z_j - z_i|/\Delta z]_0^1\, p_j`.

    A terminated transition has a return of exactly r, so every atom moves to clip(r).
    The projection keeps total mass 1, and when no atom is clipped it keeps the mean:
    :math:`\sum_i z_i m_i = r + \gamma(1 - \text{terminated})\sum_j z_j p_j`.

    Conventions: ``rewards[b]``, ``terminated[b]`` (0.0/1.0), ``next_probabilities[b, j]``
    the target network's distribution over z_j at s'_b (for the action it chose);
    returns ``m[b, i]``.  Support from :func:`categorical_support`.

    Example: support (-2, -1, 0, 1, 2), all mass on z = 1, r = 0.5, gamma = 1/2: the atom
    moves to 0.5 + 0.5 = 1.0, exactly on the support (b = 3 is an integer), so m = e_3.
    With gamma = 1 it moves to 1.5 and splits evenly between 1 and 2.

    >>> categorical_projection([0.5], [0.0], 0.5, [[0, 0, 0, 1.0, 0]], -2.0, 2.0)
    array([[0., 0., 0., 1., 0.]])
    >>> categorical_projection([0.5], [0.0], 1.0, [[0, 0, 0, 1.0, 0]], -2.0, 2.0)
    array([[0. , 0. , 0. , 0.5, 0.5]])
    """
    probabilities = validation.as_float_array(next_probabilities, "next_probabilities", ndim=2)
    batch, n_atoms = probabilities.shape
    validation.check_probability_rows(probabilities, "next_probabilities[b, :]")
    rewards = validation.as_float_array(rewards, "rewards r_b", ndim=1)
    validation.check_shape(rewards, (batch,), "rewards r_b")
    terminated = validation.as_float_array(terminated, "terminated", ndim=1)
    validation.check_shape(terminated, (batch,), "terminated")
    if not np.all((terminated == 0.0) | (terminated == 1.0)):
        raise InvalidInputError(f"terminated must hold 0.0 or 1.0, got {terminated.tolist()}")
    gamma = validation.check_gamma(gamma)
    support = categorical_support(v_min, v_max, n_atoms)
    v_min, v_max = support[0], support[-1]
    spacing = (v_max - v_min) / (n_atoms - 1)

    projected = np.zeros((batch, n_atoms))
    for b in range(batch):
        discount = 0.0 if terminated[b] else gamma
        for j in range(n_atoms):
            shifted = min(max(rewards[b] + discount * support[j], v_min), v_max)
            position = (shifted - v_min) / spacing          # b_j in [0, K - 1]
            lower, upper = math.floor(position), math.ceil(position)
            lower, upper = min(lower, n_atoms - 1), min(upper, n_atoms - 1)
            if lower == upper:                              # exactly on an atom
                projected[b, lower] += probabilities[b, j]
            else:
                projected[b, lower] += probabilities[b, j] * (upper - position)
                projected[b, upper] += probabilities[b, j] * (position - lower)
    return projected
