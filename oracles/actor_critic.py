"""The critic's TD loss and its semi-gradient, exactly.

For a batch of B transitions with critic predictions V(s_i) (``values``) and V(s'_i)
(``next_values``), rewards r_i and termination flags d_i:

    delta_i = r_i + gamma (1 - d_i) V(s'_i) - V(s_i),
    L = (1 / B) sum_i (1/2) delta_i^2                         (seed 000 "Actor-Critic", batched)

and the *semi-gradient*, the gradient with the TD target y_i = r_i + gamma (1 - d_i) V(s'_i)
held constant (Sutton & Barto 2018, §9.3):

    dL/dV(s_i) = -delta_i / B,        dL/dV(s'_i) = 0.

Two oracles: ``critic_td_loss_exact`` (the value, in Fractions) and
``critic_semi_gradient_exact`` (the semi-gradient, by exact central differences of L in
``values`` with the target frozen, which are exact for a quadratic, so no derivative
formula is used).  The tests cross-check them against the closed form -delta / B.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from rlspec import validation

__all__ = ["critic_td_loss_exact", "critic_semi_gradient_exact"]


def _batch(values, next_values, rewards, terminated, gamma):
    arrays = {}
    for name, array in (("values", values), ("next_values", next_values), ("rewards", rewards),
                        ("terminated", terminated)):
        if hasattr(array, "detach"):
            array = array.detach().cpu().numpy()
        arrays[name] = validation.as_float_array(array, f"{name}[i]", ndim=1)
        validation.check_shape(arrays[name], arrays["values"].shape, f"{name}[i]")
    if arrays["values"].size == 0:
        raise validation.InvalidInputError("the batch is empty: the mean of no losses is undefined")
    if not np.all((arrays["terminated"] == 0) | (arrays["terminated"] == 1)):
        raise validation.InvalidInputError("terminated[i] must hold booleans (0 or 1)")
    exact = {name: [Fraction(float(x)) for x in array] for name, array in arrays.items()}
    return exact, Fraction(validation.check_gamma(gamma))


def _targets(exact, g) -> list[Fraction]:
    return [r + (0 if d else g * v) for r, d, v in
            zip(exact["rewards"], exact["terminated"], exact["next_values"])]


def _loss(targets, values) -> Fraction:
    return sum((Fraction(1, 2) * (y - v) ** 2 for y, v in zip(targets, values)), Fraction(0)) \
        / len(values)


def critic_td_loss_exact(values, next_values, rewards, terminated, gamma) -> Fraction:
    """L = mean_i (1/2) (r_i + gamma (1 - d_i) V(s'_i) - V(s_i))^2, exactly."""
    exact, g = _batch(values, next_values, rewards, terminated, gamma)
    return _loss(_targets(exact, g), exact["values"])


def critic_semi_gradient_exact(values, next_values, rewards, terminated, gamma):
    """(dL/dvalues, dL/dnext_values) with the TD target frozen, as lists of Fractions: the
    first by exact central differences (L(v + h e_i) - L(v - h e_i)) / 2h, which equal the
    derivative of a quadratic for any h; the second is 0 by definition of the semi-gradient."""
    exact, g = _batch(values, next_values, rewards, terminated, gamma)
    targets, v = _targets(exact, g), exact["values"]
    h = Fraction(1)
    gradient = []
    for i in range(len(v)):
        up = [x + (h if j == i else 0) for j, x in enumerate(v)]
        down = [x - (h if j == i else 0) for j, x in enumerate(v)]
        gradient.append((_loss(targets, up) - _loss(targets, down)) / (2 * h))
    return gradient, [Fraction(0)] * len(v)
