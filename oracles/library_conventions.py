"""Exact oracles for the conventions real libraries deliberately use (the checks' *variants*).

Each function is either its own exact formula (mpmath at 40 digits, or exact rationals) or
an exact transformation of the entry's own oracle: the same oracle evaluated on transformed
inputs, with the gradient carried through the transformation by the chain rule.  Which
library uses which convention, and why, is in the entries' "Variants" sections; the
library code itself was read to learn the convention, never copied.

- :func:`squashed_gaussian_log_density_epsilon`: log N(u; mu, sigma) - log(1 - tanh(u)^2 + eps),
  Stable-Baselines3's form (eps = 1e-6 inside the log, u given).
- :func:`squashed_gaussian_log_density_of_action`: the same with u recovered from the action
  by atanh(clip(a, -1 + 2^-52, 1 - 2^-52)) (SB3's ``log_prob(actions)``).
- :func:`dual_clip_surrogate_loss` and bounds: PPO's clipped loss with a second clip
  c A for negative advantages (Ye et al. 2020; verl's ``clip_ratio_c`` = 3).
- :func:`clamped_k3_and_slopes`: k3 on a log-ratio clamped to [-20, 20], the value clamped to
  [-10, 10] (verl's ``low_var_kl``).
- :func:`whitened_masked_gae`: masked GAE whitened over the batch's response tokens with
  the sample variance and 1e-8 inside the square root (verl's GAE).
- :func:`unclipped_target_value_loss_exact` and bounds: mean (R - V_clipped)^2, SB3's PPO
  value loss (no max with the unclipped loss, no 1/2).
- :func:`advantages_normalized_unless_single`: (A - mean) / std, a one-element batch left as
  it is (SB3).
- :func:`robust_dpo_loss_and_gradient` and :func:`exo_loss_and_gradient`: two losses for
  noisy preference labels that TRL selects with ``label_smoothing``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np

from rlspec.oracles import kl_estimators, rlhf_ppo
from rlspec.oracles import ppo as ppo_oracle

DIGITS = 40

#: SB3's epsilon in the advantage normalisation's denominator std + eps.
SB3_NORMALIZATION_EPSILON = 1e-8
#: SB3's epsilon inside the log of the tanh correction.
SB3_LOG_EPSILON = 1e-6
#: float64's machine epsilon: SB3 clips an action to [-1 + eps, 1 - eps] before atanh.
FLOAT64_EPSILON = 2.0 ** -52
#: verl's low_var_kl: the log-ratio is clamped to +-20, the estimate to +-10.
LOW_VAR_KL_LOG_RATIO_BOUND = 20.0
LOW_VAR_KL_VALUE_BOUND = 10.0
#: verl's masked_whiten adds this to the variance under the square root, and its masked
#: mean adds it to the count it divides by.
WHITEN_EPSILON = 1e-8

__all__ = [
    "squashed_gaussian_log_density_epsilon", "squashed_gaussian_log_density_of_action",
    "dual_clip_surrogate_loss", "dual_clip_gradient_bounds", "clamped_k3_and_slopes",
    "whitened_masked_gae", "unclipped_target_value_loss_exact",
    "unclipped_target_value_gradient_bounds", "advantages_normalized_unless_single",
    "robust_dpo_loss_and_gradient", "exo_loss_and_gradient",
]


def _mp(value) -> mpmath.mpf:
    return mpmath.mpf(float(value))


def _sigmoid(z: mpmath.mpf) -> mpmath.mpf:
    return 1 / (1 + mpmath.exp(-z))


def _log_sigmoid(z: mpmath.mpf) -> mpmath.mpf:
    """log sigma(z) = -log(1 + e^-z), exact in mpmath (no overflow)."""
    return -mpmath.log1p(mpmath.exp(-z))


# ------------------------------------------------------------- squashed Gaussian (SB3)

def _gaussian_log_density(x: mpmath.mpf, mean, log_std) -> mpmath.mpf:
    sigma = mpmath.exp(_mp(log_std))
    return -((x - _mp(mean)) / sigma) ** 2 / 2 - _mp(log_std) - mpmath.log(2 * mpmath.pi) / 2


def _summed_over_dimensions(term, mean, log_std, values) -> np.ndarray:
    """sum_j term(mu_ij, log sigma_ij, x_ij) per row i, in 40-digit mpmath."""
    mean, log_std, values = (np.asarray(x, dtype=np.float64) for x in (mean, log_std, values))
    with mpmath.workdps(DIGITS):
        return np.array([float(mpmath.fsum(term(_mp(m), _mp(s), _mp(x)) for m, s, x in zip(*row)))
                         for row in zip(mean, log_std, values)])


def squashed_gaussian_log_density_epsilon(mean, log_std, pre_tanh,
                                          epsilon: float = SB3_LOG_EPSILON) -> np.ndarray:
    r"""sum_j [log N(u_j; mu_j, sigma_j) - log(1 - tanh(u_j)^2 + eps)] per row.

    Example: mu = u = 0, log sigma = 0: -log(2 pi)/2 - log(1 + 1e-6) = -0.9189395.
    At u = 20 the correction is log(1e-6 + 1.7e-17), about -13.8155, where the exact
    density has log(1 - tanh^2 20) = -38.6137.
    """
    def term(mu, log_sigma, u):
        return _gaussian_log_density(u, mu, log_sigma) - mpmath.log(1 - mpmath.tanh(u) ** 2 + _mp(epsilon))

    return _summed_over_dimensions(term, mean, log_std, pre_tanh)


def squashed_gaussian_log_density_of_action(mean, log_std, actions,
                                            epsilon: float = SB3_LOG_EPSILON) -> np.ndarray:
    r"""sum_j [log N(atanh(clip(a_j)); mu_j, sigma_j) - log(1 - a_j^2 + eps)] per row, with
    clip to [-1 + 2^-52, 1 - 2^-52]: the density of a *given* action, u recovered from it.

    Example: a = 1 (a saturated action): u = atanh(1 - 2^-52) = 18.368..., so with mu = 0,
    log sigma = 0 the Gaussian term is -169.6180 and the correction -log(1e-6) = +13.8155.
    """
    bound = _mp(1.0 - FLOAT64_EPSILON)

    def term(mu, log_sigma, a):
        u = mpmath.atanh(min(max(a, -bound), bound))
        return _gaussian_log_density(u, mu, log_sigma) - mpmath.log(1 - a ** 2 + _mp(epsilon))

    return _summed_over_dimensions(term, mean, log_std, actions)


# ------------------------------------------------------------------- PPO dual clip

def _dual_clipped(log_prob, old_log_prob, advantages, clip_ratio_c) -> list[bool]:
    """Where the second clip is active: A < 0 and r > c."""
    return [a < 0 and math.exp(x - x_old) > c for x, x_old, a, c in
            zip(log_prob, old_log_prob, advantages, np.broadcast_to(clip_ratio_c, len(advantages)))]


def dual_clip_surrogate_loss(log_prob, old_log_prob, advantages, clip_epsilon,
                             clip_ratio_c) -> float:
    r"""-mean_t f_t with f_t = max(min(r A, clip(r) A), c A) for A < 0, min(r A, clip(r) A)
    otherwise: the clipped loss of :func:`rlspec.oracles.ppo.clipped_surrogate_loss` with each
    dual-clipped term replaced by c A.

    Example: r = 5, A = -1, eps = 0.2, c = 3: the PPO term is max(r, 0.8) A = -5, the dual
    clip caps the loss at c |A| = 3, so the loss is 3.
    """
    log_prob, old_log_prob, advantages = (np.asarray(x, dtype=np.float64) for x in
                                          (log_prob, old_log_prob, advantages))
    size = len(advantages)
    loss = ppo_oracle.clipped_surrogate_loss(log_prob, old_log_prob, advantages, clip_epsilon)
    for t, clipped in enumerate(_dual_clipped(log_prob, old_log_prob, advantages, clip_ratio_c)):
        if clipped:
            single = ppo_oracle.clipped_surrogate_loss(log_prob[t:t + 1], old_log_prob[t:t + 1],
                                                       advantages[t:t + 1], clip_epsilon)
            loss += (-clip_ratio_c * advantages[t] - single) / size
    return loss


def dual_clip_gradient_bounds(log_prob, old_log_prob, advantages, clip_epsilon, clip_ratio_c
                              ) -> tuple[np.ndarray, np.ndarray]:
    """The PPO bounds, with 0 where the dual clip is active (the loss is the constant -c A
    there) and the interval between 0 and the PPO gradient at r = c exactly."""
    lower, upper = ppo_oracle.clipped_surrogate_gradient_bounds(log_prob, old_log_prob,
                                                                advantages, clip_epsilon)
    for t, (x, x_old, a) in enumerate(zip(log_prob, old_log_prob, advantages)):
        r = math.exp(x - x_old)
        if a < 0 and abs(r - clip_ratio_c) <= ppo_oracle.KINK_TOLERANCE * clip_ratio_c:
            lower[t], upper[t] = min(lower[t], 0.0), max(upper[t], 0.0)
        elif a < 0 and r > clip_ratio_c:
            lower[t] = upper[t] = 0.0
    return lower, upper


# ----------------------------------------------------------------- clamped k3 (verl)

def clamped_k3_and_slopes(log_probs, reference_log_probs) -> tuple[np.ndarray, np.ndarray]:
    r"""Per sample, ``clamp(k3(clamp(d, -20, 20)), -10, 10)`` with d = log pi_ref - log pi,
    and its slope d / d log pi: the exact k3 slope 1 - e^d where neither clamp is active,
    0 where one is (a clamped quantity does not move).

    Example: d = 8: k3 = e^8 - 9 = 2971.96, clamped to 10, slope 0; d = -8: k3 = 7.000335,
    slope 1 - e^-8 = 0.999665.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    reference_log_probs = np.asarray(reference_log_probs, dtype=np.float64)
    bound = LOW_VAR_KL_LOG_RATIO_BOUND
    log_ratio = np.clip(reference_log_probs - log_probs, -bound, bound)
    values, slopes = kl_estimators.kl_estimates_and_slopes(
        np.zeros_like(log_ratio), log_ratio, "k3")
    inside = (np.abs(reference_log_probs - log_probs) < bound) & (values < LOW_VAR_KL_VALUE_BOUND)
    return np.minimum(values, LOW_VAR_KL_VALUE_BOUND), np.where(inside, slopes, 0.0)


# ------------------------------------------------------------ whitened GAE (verl)

def whitened_masked_gae(rewards, values, action_mask, gamma, lam) -> np.ndarray:
    r"""(A - m) / sqrt(v + 1e-8) over the response tokens of the whole batch, A the masked
    GAE of :func:`rlspec.oracles.rlhf_ppo.masked_gae_exact`, in exact rationals over the N masked
    entries: verl's masked mean divides by N + 1e-8, so m = sum A / (N + 1e-8) and
    v = sum (A - m)^2 / (N + 1e-8) * N / (N - 1) (the sample variance, up to that 1e-8).
    NaN off the response (not judged).

    Example: one row, advantages (1, 3) on the response: mean 2, var 2, output
    (-1, 1) / sqrt(2 + 1e-8) = (-0.70710678, 0.70710678).
    """
    mask = np.asarray(action_mask, dtype=np.float64) == 1.0
    if mask.sum() < 2:
        raise ValueError("whitening needs at least two response tokens (the sample variance "
                         "divides by N - 1)")
    advantages = rlhf_ppo.masked_gae_exact(rewards, values, action_mask, gamma, lam)
    chosen = [Fraction(float(a)) for a in advantages[mask]]
    size = len(chosen)
    count = size + Fraction(WHITEN_EPSILON)  # verl's masked mean: sum / (N + 1e-8)
    mean = sum(chosen, Fraction(0)) / count
    variance = sum(((a - mean) ** 2 for a in chosen), Fraction(0)) / count * size / (size - 1)
    out = np.full(advantages.shape, np.nan)
    with mpmath.workdps(DIGITS):
        scale = 1 / mpmath.sqrt(mpmath.mpf(variance.numerator) / variance.denominator
                                + _mp(WHITEN_EPSILON))
        out[mask] = [float(mpmath.mpf((a - mean).numerator) / (a - mean).denominator * scale)
                     for a in chosen]
    return out


# --------------------------------------------------------------- SB3 value loss

def _value_parts(values, old_values, returns, clip_epsilon):
    epsilon = Fraction(float(clip_epsilon))
    for v, v_old, r in zip(values, old_values, returns):
        v, v_old, r = Fraction(float(v)), Fraction(float(v_old)), Fraction(float(r))
        yield v - v_old, v_old + min(max(v - v_old, -epsilon), epsilon), r, epsilon


def unclipped_target_value_loss_exact(values, old_values, returns, clip_epsilon) -> Fraction:
    r"""mean_t (R_t - V^clip_t)^2 with V^clip = V_old + clip(V - V_old, -eps, eps), exactly.

    Example: V = 2, V_old = 1, R = 3, eps = 0.2: V^clip = 1.2, loss (3 - 1.2)^2 = 3.24 (the
    entry's own form takes max with (2 - 3)^2 = 1 and halves: 1.62).
    """
    terms = [(r - clipped) ** 2 for _, clipped, r, _ in
             _value_parts(values, old_values, returns, clip_epsilon)]
    return sum(terms, Fraction(0)) / len(terms)


def unclipped_target_value_gradient_bounds(values, old_values, returns, clip_epsilon
                                           ) -> tuple[list[float], list[float]]:
    """d loss / d V_t: 2 (V^clip - R) / N inside the clip range, 0 outside, and the interval
    between them exactly on its edge."""
    lower, upper = [], []
    parts = list(_value_parts(values, old_values, returns, clip_epsilon))
    for step, clipped, r, epsilon in parts:
        inside = float(2 * (clipped - r) / len(parts))
        if abs(step) < epsilon:
            lower.append(inside), upper.append(inside)
        elif abs(step) == epsilon:
            lower.append(min(inside, 0.0)), upper.append(max(inside, 0.0))
        else:
            lower.append(0.0), upper.append(0.0)
    return lower, upper


# ------------------------------------------------------ SB3 advantage normalisation

def advantages_normalized_unless_single(advantages) -> list[float]:
    """(A - mean) / (sample std + 1e-8), SB3's exact constant (as
    :func:`rlspec.oracles.ppo.normalized_advantages_exact` with N - 1), except that a batch of
    one is returned unchanged.

    Example: [3.0] -> [3.0]; [1.0, 3.0] -> [-0.70710678, 0.70710678]; [0, 2e-8] ->
    [-0.41421356, 0.41421356] (the epsilon matters when the spread is of its order).
    """
    advantages = np.asarray(advantages, dtype=np.float64)
    if advantages.size == 1:
        return [float(advantages[0])]
    return ppo_oracle.normalized_advantages_exact(advantages, ddof=1,
                                                  epsilon=SB3_NORMALIZATION_EPSILON)


# ----------------------------------------------------------- noisy-label DPO losses

def _margins(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
             reference_rejected_logps) -> list[Fraction]:
    columns = [[Fraction(float(x)) for x in np.asarray(c, dtype=np.float64)] for c in
               (policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                reference_rejected_logps)]
    return [(pc - rc) - (pr - rr) for pc, pr, rc, rr in zip(*columns)]


def _pairwise(per_pair, margins, beta):
    """Mean over pairs of loss(beta h) and its gradient d/d chosen = -d/d rejected."""
    values, slopes = [], []
    with mpmath.workdps(DIGITS):
        b = _mp(beta)
        for h in margins:
            value, slope = per_pair(b * mpmath.mpf(h.numerator) / h.denominator)
            values.append(value)
            slopes.append(slope * b / len(margins))
        loss = float(mpmath.fsum(values) / len(values))
    gradient = np.array([float(s) for s in slopes])
    return loss, gradient, -gradient


def robust_dpo_loss_and_gradient(policy_chosen_logps, policy_rejected_logps,
                                 reference_chosen_logps, reference_rejected_logps, beta,
                                 label_smoothing):
    r"""Robust DPO (Chowdhury et al. 2024, eq. 8): with z = beta h and flip rate eps < 1/2,
    l(z) = [(1 - eps)(-log sigma(z)) + eps log sigma(-z)] / (1 - 2 eps), unbiased for the DPO
    loss under labels flipped with probability eps.  Returns (mean loss, d/d chosen,
    d/d rejected); dl/dz = -[(1 - eps) sigma(-z) + eps sigma(z)] / (1 - 2 eps).

    Example: h = 0, eps = 0.1: l = (0.9 - 0.1) log 2 / 0.8 = log 2 = 0.693147.
    """
    eps = _mp(label_smoothing)

    def per_pair(z):
        value = ((1 - eps) * -_log_sigmoid(z) + eps * _log_sigmoid(-z)) / (1 - 2 * eps)
        slope = -((1 - eps) * _sigmoid(-z) + eps * _sigmoid(z)) / (1 - 2 * eps)
        return value, slope

    with mpmath.workdps(DIGITS):
        return _pairwise(per_pair, _margins(policy_chosen_logps, policy_rejected_logps,
                                            reference_chosen_logps, reference_rejected_logps), beta)


def exo_loss_and_gradient(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                          reference_rejected_logps, beta, label_smoothing):
    r"""EXO's pairwise loss (Ji et al. 2024, eq. 13 with two responses): the reverse KL from
    p = sigma(z), z = beta h, to the smoothed label (1 - eps, eps):
    l(z) = p log(p / (1 - eps)) + (1 - p) log((1 - p) / eps), with dl/dz =
    p (1 - p) (z + log(eps / (1 - eps))).

    Example: h = 0, eps = 1/2: l = 0; eps = 1e-3, z = 0: l = log(1/2) - (log(0.999) +
    log(0.001)) / 2 = 2.761231.
    """
    eps = _mp(label_smoothing)

    def per_pair(z):
        p = _sigmoid(z)
        value = p * (_log_sigmoid(z) - mpmath.log(1 - eps)) + \
            (1 - p) * (_log_sigmoid(-z) - mpmath.log(eps))
        return value, p * (1 - p) * (z + mpmath.log(eps / (1 - eps)))

    with mpmath.workdps(DIGITS):
        return _pairwise(per_pair, _margins(policy_chosen_logps, policy_rejected_logps,
                                            reference_chosen_logps, reference_rejected_logps), beta)
