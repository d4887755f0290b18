"""Reward models: the Bradley-Terry loss and gradient, and the reward a preference
distribution identifies.

Method, independence from ``rlspec.reference`` and accuracy: as stated in
``rlspec.oracles.dpo``, which this module shares its conventions with.
"""

from __future__ import annotations

import mpmath
import numpy as np
from rlspec import validation
from rlspec.oracles.methods.conversions import fraction_list
from rlspec.oracles.methods.high_precision import log_sigmoid, mpf, sigmoid
from rlspec.validation import InvalidInputError

__all__ = [
    "bradley_terry_loss_and_gradient",
        "reward_from_pair_weights",
    "population_loss_gradient",
]


#: Significant decimal digits of the mpmath evaluations.
DIGITS = 50


def bradley_terry_loss_and_gradient(chosen_rewards, rejected_rewards
                                    ) -> tuple[float, np.ndarray, np.ndarray]:
    """``(loss, d loss / d chosen_rewards, d loss / d rejected_rewards)`` of the mean
    Bradley-Terry negative log-likelihood ``mean_n -log sigma(r_w - r_l)``:
    d/d r_w = -sigma(r_l - r_w) / N and d/d r_l = +sigma(r_l - r_w) / N."""
    chosen = fraction_list(chosen_rewards, "chosen_rewards[N]")
    rejected = fraction_list(rejected_rewards, "rejected_rewards[N]")
    if len(chosen) != len(rejected) or not chosen:
        raise InvalidInputError("chosen_rewards and rejected_rewards must have the same, "
                                "non-zero length")
    n = len(chosen)
    with mpmath.workdps(DIGITS):
        margins = [mpf(w - l) for w, l in zip(chosen, rejected)]
        loss = -mpmath.fsum(log_sigmoid(z) for z in margins) / n
        pulls = [sigmoid(-z) / n for z in margins]
        return (float(loss), np.array([-float(p) for p in pulls]),
                np.array([float(p) for p in pulls]))


def checked_pair_weights(pair_weights) -> np.ndarray:
    weights = validation.as_float_array(pair_weights, "pair_weights[prompt, i, j]", ndim=3)
    if weights.shape[1] != weights.shape[2]:
        raise InvalidInputError(f"pair_weights must be [prompt, winner, loser], got {weights.shape}")
    if (weights < 0).any():
        raise InvalidInputError("pair_weights must be non-negative")
    return weights


def reward_from_pair_weights(pair_weights) -> np.ndarray:
    r"""The reward a Bradley-Terry preference distribution identifies, in closed form:

    .. math:: r(x, y_i) - r(x, y_0) = \log\frac{w_{x i 0}}{w_{x 0 i}}

    because w_xij / w_xji = sigma(r_i - r_j) / sigma(r_j - r_i) = exp(r_i - r_j) (the
    sampling weights of the pair cancel).  Normalised by r[x, 0] = 0.  Needs every response
    compared with response 0 in both orders (w_xi0, w_x0i > 0), which holds when the pairs
    are sampled from a reference model with full support.  Evaluated at 50 digits.
    """
    weights = checked_pair_weights(pair_weights)
    n_prompts, n_responses, _ = weights.shape
    rewards = np.zeros((n_prompts, n_responses))
    with mpmath.workdps(DIGITS):
        for x in range(n_prompts):
            for i in range(1, n_responses):
                if weights[x, i, 0] <= 0 or weights[x, 0, i] <= 0:
                    raise InvalidInputError(
                        f"prompt {x}: response {i} is never compared with response 0 in both "
                        f"orders, so the log-odds identity cannot be used")
                rewards[x, i] = float(mpmath.log(mpmath.mpf(float(weights[x, i, 0])))
                                      - mpmath.log(mpmath.mpf(float(weights[x, 0, i]))))
    return rewards


def population_loss_gradient(rewards, pair_weights) -> np.ndarray:
    r"""The exact gradient of the population loss
    ``L(r) = sum_{x,i,j} w_xij (-log sigma(r_xi - r_xj))`` with respect to ``r[x, k]``:

    .. math:: \frac{\partial L}{\partial r_{xk}} = \sum_j \big(-w_{xkj}\,\sigma(r_{xj} - r_{xk})
              + w_{xjk}\,\sigma(r_{xk} - r_{xj})\big)

    It vanishes exactly at the minimiser (the loss is convex).  Evaluated at 50 digits.
    """
    weights = checked_pair_weights(pair_weights)
    table = validation.as_float_array(rewards, "rewards[prompt, response]", ndim=2)
    validation.check_shape(table, weights.shape[:2], "rewards")
    n_prompts, n_responses = table.shape
    gradient = np.zeros_like(table)
    with mpmath.workdps(DIGITS):
        r = [[mpmath.mpf(float(v)) for v in row] for row in table]
        for x in range(n_prompts):
            for k in range(n_responses):
                gradient[x, k] = float(mpmath.fsum(
                    -mpmath.mpf(float(weights[x, k, j])) * sigmoid(r[x][j] - r[x][k])
                    + mpmath.mpf(float(weights[x, j, k])) * sigmoid(r[x][k] - r[x][j])
                    for j in range(n_responses)))
    return gradient
