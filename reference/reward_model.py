r"""The Bradley-Terry reward-model loss, its gradient, and its population minimiser.

Preference model (Bradley & Terry 1952; Christiano et al. 2017, Eq. 1; Ouyang et al. 2022,
Eq. 1; seed 003, 4.2.2 "Reward 建模阶段"):

.. math:: P(y_w \succ y_l \mid x) = \sigma\big(r(x, y_w) - r(x, y_l)\big)

and the reward model is fitted by maximum likelihood, i.e. by minimising

.. math:: \mathcal L_R(r) = -\mathbb E_{(x, y_w, y_l)\sim\mathcal D}
          \big[\log\sigma\big(r(x, y_w) - r(x, y_l)\big)\big].

``-log sigmoid(z)`` is computed as ``softplus(-z)`` (``torch.nn.functional.logsigmoid``),
never as ``log(sigmoid(z))``: for z = -1000 the sigmoid underflows to 0 and its log is -inf,
while the loss is exactly 1000 (up to e^-1000).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from rlspec import validation
from rlspec.validation import InvalidInputError

__all__ = ["bradley_terry_loss", "bradley_terry_loss_gradient", "fit_tabular_reward"]


def as_vector(value, name: str) -> torch.Tensor:
    """``value`` as a 1-D float64 torch tensor (tensors keep their autograd graph), or an
    InvalidInputError naming ``name``.  Shared by the losses of this chapter."""
    if isinstance(value, torch.Tensor):
        tensor = value if value.dtype == torch.float64 else value.to(torch.float64)
        checked = tensor.detach().cpu().numpy()
    else:
        checked = validation.as_float_array(value, name)
        tensor = torch.as_tensor(checked, dtype=torch.float64)
    checked = validation.as_float_array(checked, name, ndim=1)  # shape, NaN, infinity
    if checked.size == 0:
        raise InvalidInputError(f"{name} is empty: a batch needs at least one pair")
    return tensor


def same_length(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise InvalidInputError(f"{name_a} and {name_b} must have the same length (one entry "
                                f"per preference pair), got {tuple(a.shape)} and {tuple(b.shape)}")


def bradley_terry_loss(chosen_rewards, rejected_rewards) -> torch.Tensor:
    r"""The reward-model loss, averaged over the batch:

    .. math:: \mathcal L = \frac1N \sum_n -\log\sigma\big(r^{(n)}_w - r^{(n)}_l\big)

    Source: seed 003, 4.2.2 "Reward 建模阶段" (the negative log-likelihood of the
    Bradley-Terry model); Ouyang et al. (2022), Eq. 1.

    Conventions: ``chosen_rewards[n] = r(x_n, y_w)``, ``rejected_rewards[n] = r(x_n, y_l)``;
    1-D, same length N >= 1; a torch scalar, differentiable with respect to both.

    Example: margins 0 and log 3 give losses log 2 and log(4/3) (sigma(log 3) = 3/4), mean
    (log 2 + log 4 - log 3) / 2 = (3 log 2 - log 3) / 2 ~ 0.490415.

    >>> round(float(bradley_terry_loss([0.0, math.log(3.0)], [0.0, 0.0])), 6)
    0.490415
    """
    chosen = as_vector(chosen_rewards, "chosen_rewards[N]")
    rejected = as_vector(rejected_rewards, "rejected_rewards[N]")
    same_length("chosen_rewards", chosen, "rejected_rewards", rejected)
    return -F.logsigmoid(chosen - rejected).mean()


def bradley_terry_loss_gradient(chosen_rewards, rejected_rewards
                                ) -> tuple[np.ndarray, np.ndarray]:
    r"""The gradient of :func:`bradley_terry_loss`, written out:

    .. math:: \frac{\partial\mathcal L}{\partial r^{(n)}_w} = -\frac1N\,\sigma(r^{(n)}_l - r^{(n)}_w),
              \qquad
              \frac{\partial\mathcal L}{\partial r^{(n)}_l} = +\frac1N\,\sigma(r^{(n)}_l - r^{(n)}_w)

    (from d/dz [-log sigma(z)] = -sigma(-z)).  A pair the model already orders confidently
    (r_w >> r_l) contributes almost nothing; a misordered pair pulls with weight up to 1/N.

    >>> [g.tolist() for g in bradley_terry_loss_gradient([0.0], [0.0])]
    [[-0.5], [0.5]]
    """
    chosen = as_vector(chosen_rewards, "chosen_rewards[N]").detach().numpy()
    rejected = as_vector(rejected_rewards, "rejected_rewards[N]").detach().numpy()
    if chosen.shape != rejected.shape:
        raise InvalidInputError("chosen_rewards and rejected_rewards must have the same length")
    n = len(chosen)
    weight = np.array([_sigmoid(float(rejected[k] - chosen[k])) for k in range(n)])
    return -weight / n, weight / n


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    return math.exp(z) / (1.0 + math.exp(z))


def _softplus(z: float) -> float:
    """log(1 + e^z) without overflow."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def fit_tabular_reward(pair_weights, tolerance: float = 1e-12, max_iterations: int = 1000
                       ) -> np.ndarray:
    r"""The minimiser of the population reward-model loss over *tabular* rewards.

    .. math:: \hat r = \arg\min_r \sum_{x,i,j} w_{xij}\,\big(-\log\sigma(r_{xi} - r_{xj})\big)

    where ``pair_weights[x, i, j] = w_xij`` is the probability (or count) of the datum
    "prompt x, y_w = response i, y_l = response j".  The loss is unchanged by adding a
    constant to every reward of one prompt, so the answer is normalised by ``r[x, 0] = 0``.

    Method: Newton's method per prompt on the free coordinates ``r[x, 1:]``, with a
    backtracking line search, stopped when the Newton step is below ``tolerance`` times
    max(1, max |r|).  The step, not the gradient, measures the distance to the minimiser:
    a reward gap of 30 makes the weights of one order about e^-30 and the gradient as small
    as the tolerance while the rewards are still off by 1.  Far from the minimiser a Newton
    step moves a gap by about 1, so ``max_iterations`` (1000) covers every gap whose weights
    are representable in float64 (e^-745); running out raises NotConvergedError.

    The loss is convex; it is strictly convex in the free coordinates exactly when the
    *comparison graph* (response i joined to j when w_xij + w_xji > 0) is connected.
    Otherwise the rewards are not identified and an InvalidInputError says which prompt.
    The minimum is attained (finite rewards) only if no group of responses wins every
    comparison with the rest; weights from a Bradley-Terry model always satisfy this.

    When the weights come from a Bradley-Terry model with reward r (and every pair is
    compared), the minimiser is r itself up to the per-prompt constant: the spec entry
    ``rm.population-minimiser``.

    Example: one prompt, response 0 beats 1 three times as often as the reverse, so
    r_1 - r_0 = log(1/3):

    >>> fit_tabular_reward([[[0.0, 0.375], [0.125, 0.0]]]).round(12).tolist()
    [[0.0, -1.098612288668]]

    A gap of 30.75: w_01 / w_10 = e^30.75, the rejected side's weight about 2e-14.

    >>> w = 0.5 * np.array([[[0.0, _sigmoid(30.75)], [_sigmoid(-30.75), 0.0]]])
    >>> fit_tabular_reward(w).round(9).tolist()
    [[0.0, -30.75]]
    """
    weights = validation.as_float_array(pair_weights, "pair_weights[prompt, i, j]", ndim=3)
    n_prompts, n_responses, other = weights.shape
    if other != n_responses:
        raise InvalidInputError(f"pair_weights must be square in its last two axes "
                                f"[prompt, winner, loser], got shape {weights.shape}")
    if (weights < 0).any():
        raise InvalidInputError("pair_weights must be non-negative (probabilities or counts)")
    rewards = np.zeros((n_prompts, n_responses))
    for x in range(n_prompts):
        _check_connected(weights[x], x)
        rewards[x] = _newton(weights[x], tolerance, max_iterations)
    return rewards


def _check_connected(weights: np.ndarray, prompt: int) -> None:
    """Refuse a prompt whose rewards are not identified, or whose minimiser is at infinity."""
    n = len(weights)
    missing = sorted(set(range(n)) - _reachable_from_0((weights + weights.T) > 0))
    if missing:
        raise InvalidInputError(
            f"prompt {prompt}: responses {missing} are never compared (directly or through "
            f"others) with response 0, so their rewards are not identified by the preferences")
    # Connected, but if some group of responses wins every comparison with the rest, the
    # loss keeps falling as that group's rewards rise: the minimiser is at infinity.
    if len(_reachable_from_0(weights > 0)) < n or len(_reachable_from_0(weights.T > 0)) < n:
        raise InvalidInputError(
            f"prompt {prompt}: some responses win (or lose) every comparison with the others, "
            f"so the loss has no minimiser: their reward gap would grow without bound")


def _reachable_from_0(linked: np.ndarray) -> set[int]:
    """The responses reachable from response 0 along ``linked[i, j]``."""
    seen, frontier = {0}, [0]
    while frontier:
        i = frontier.pop()
        for j in np.flatnonzero(linked[i]):
            if int(j) not in seen:
                seen.add(int(j))
                frontier.append(int(j))
    return seen


#: The line search accepts a step that raises the loss by at most this fraction of it: the
#: loss is a sum of softplus terms each rounded to a few ulps, so a smaller change is noise,
#: and near the minimiser (a change of order step^2) every step would otherwise be refused.
LOSS_ROUNDING = 1e-14


def _population_loss(weights: np.ndarray, rewards: np.ndarray) -> float:
    """The loss without its diagonal terms w_ii log 2, which no reward changes."""
    n = len(rewards)
    return math.fsum(weights[i, j] * _softplus(rewards[j] - rewards[i])
                     for i in range(n) for j in range(n) if weights[i, j] > 0 and i != j)


def _gradient_and_hessian(weights: np.ndarray, rewards: np.ndarray):
    """The loss's gradient and Hessian in r, summed pair by pair.

    Each unordered pair {i, j} pulls with one net force, w_ij sigma(r_j - r_i) - w_ji
    sigma(r_i - r_j), added to r_j and subtracted from r_i, and each coordinate is summed
    with ``math.fsum``.  So the rounding of a heavy pair's pull cancels in the directions it
    does not act on: where two responses are compared with each other often (weight 0.5) and
    with response 0 only at weights ~1e-13 (gaps of 30), summing term by term left a gradient
    error of an ulp of the heavy pair, which moved the Newton step by 4e-5 forever."""
    n = len(rewards)
    pulls, hessian = [[] for _ in range(n)], np.zeros((n, n))
    for i, j in itertools.combinations(range(n), 2):  # a pair never compared adds 0
        towards_i, towards_j = _sigmoid(rewards[j] - rewards[i]), _sigmoid(rewards[i] - rewards[j])
        net = weights[i, j] * towards_i - weights[j, i] * towards_j
        pulls[i].append(-net)
        pulls[j].append(net)
        # sigma(z) sigma(-z), not pull * (1 - pull): 1 - pull rounds to 0 beyond |z| = 37
        curvature = (weights[i, j] + weights[j, i]) * towards_i * towards_j
        hessian[i, i] += curvature
        hessian[j, j] += curvature
        hessian[i, j] -= curvature
        hessian[j, i] -= curvature
    return np.array([math.fsum(pull) for pull in pulls]), hessian


class NotConvergedError(RuntimeError):
    """Newton's method did not reach its tolerance within the allowed iterations."""


def _newton(weights: np.ndarray, tolerance: float, max_iterations: int) -> np.ndarray:
    n = len(weights)
    rewards = np.zeros(n)
    if n == 1:
        return rewards
    for _ in range(max_iterations):
        gradient, hessian = _gradient_and_hessian(weights, rewards)
        step = np.zeros(n)
        step[1:] = np.linalg.solve(hessian[1:, 1:], -gradient[1:])
        if np.max(np.abs(step)) <= tolerance * max(1.0, float(np.max(np.abs(rewards)))):
            return rewards + step
        current, size = _population_loss(weights, rewards), 1.0
        while size > 1e-10:  # backtracking: Newton steps can overshoot far from the optimum
            trial = rewards + size * step
            if _population_loss(weights, trial) <= current * (1.0 + LOSS_ROUNDING):
                break
            size /= 2.0
        rewards = rewards + size * step
    raise NotConvergedError(f"Newton's method did not converge in {max_iterations} iterations "
                            f"(is some response preferred in every comparison it appears in?)")
