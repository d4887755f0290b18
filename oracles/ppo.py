"""Closed forms and exact answers for the PPO chapter, by methods the reference does not use.

The reference computes each loss the way implementations do (torch, ``min`` of two terms,
autograd for the gradient).  These oracles use other routes:

- clipped objective: the case split min(r A, clip(r) A) = A min(r, 1 + eps) for A >= 0 and
  A max(r, 1 - eps) for A < 0 (Spinning Up's g(eps, A) form), and its gradient in closed
  form, d(-L^CLIP)/d log pi_t = -r_t A_t / N where the unclipped term is the smaller and 0
  where the clipped one is, with both one-sided derivatives returned at a kink;
- KL penalty: closed-form value and gradient from softmax algebra,
  d KL(p_old || softmax(z)) / dz = softmax(z) - p_old;
- adaptive KL coefficient, clipped value loss and advantage normalisation: exact rational
  arithmetic on the binary values of the float inputs (``Fraction(x)`` is exact);
- entropy: 50-digit mpmath, with the gradient dH/dz_b = -p_b (log p_b + H).

The tests cross-check each against a second route (mpmath finite differences, sympy,
torch.distributions, the ``statistics`` module).
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np

from rlspec import validation

__all__ = ["clipped_surrogate_loss", "clipped_surrogate_gradient_bounds", "kl_penalty_loss",
           "kl_penalty_gradient", "adaptive_kl_coefficient_exact", "clipped_value_loss_exact",
           "clipped_value_gradient_bounds_exact", "normalized_advantages_exact",
           "categorical_entropy_high_precision", "categorical_entropy_gradient",
           "total_loss_exact"]

#: Significant digits for the mpmath oracles.
DIGITS = 50

#: A ratio within this relative distance of 1 +- eps is treated as sitting on the kink of
#: the clip, where every value between the two one-sided derivatives is a valid
#: (sub)gradient.  exp(log_prob - old_log_prob) carries a relative rounding error of a few
#: ulps (~1e-15); 1e-9 leaves a wide margin and is still far from any generated ratio.
KINK_TOLERANCE = 1e-9


def _arrays(*named):
    arrays = [validation.as_float_array(value, name, ndim=1) for name, value in named]
    if len({array.size for array in arrays}) != 1 or arrays[0].size == 0:
        raise validation.InvalidInputError(
            f"{', '.join(name for name, _ in named)} must be non-empty and of equal length")
    return arrays


def clipped_surrogate_loss(log_prob, old_log_prob, advantages, clip_epsilon) -> float:
    """-mean_t g-form: A min(r, 1 + eps) for A >= 0, A max(r, 1 - eps) for A < 0."""
    log_prob, old_log_prob, advantages = _arrays(
        ("log_prob", log_prob), ("old_log_prob", old_log_prob), ("advantages", advantages))
    epsilon = float(clip_epsilon)
    terms = []
    for x, x_old, a in zip(log_prob, old_log_prob, advantages):
        r = math.exp(x - x_old)
        terms.append(a * min(r, 1.0 + epsilon) if a >= 0 else a * max(r, 1.0 - epsilon))
    return -math.fsum(terms) / len(terms)


def clipped_surrogate_gradient_bounds(log_prob, old_log_prob, advantages, clip_epsilon
                                      ) -> tuple[np.ndarray, np.ndarray]:
    """d(-L^CLIP)/d log_prob_t in closed form, as (lower, upper) one-sided bounds.

    Away from a kink both equal -r_t A_t / N (unclipped term active) or 0 (clipped term
    active).  At r_t = 1 + eps with A > 0, or r_t = 1 - eps with A < 0, they are the two
    one-sided derivatives, and any value between them is a valid subgradient (torch's
    ``minimum`` splits a tie evenly, ``clamp`` passes the gradient at its bounds).
    """
    log_prob, old_log_prob, advantages = _arrays(
        ("log_prob", log_prob), ("old_log_prob", old_log_prob), ("advantages", advantages))
    epsilon, size = float(clip_epsilon), log_prob.size
    lower, upper = np.zeros(size), np.zeros(size)
    for t, (x, x_old, a) in enumerate(zip(log_prob, old_log_prob, advantages)):
        r = math.exp(x - x_old)
        full = -r * a / size
        if a == 0:
            continue
        edge = 1.0 + epsilon if a > 0 else 1.0 - epsilon
        if abs(r - edge) <= KINK_TOLERANCE * max(1.0, abs(edge)):
            lower[t], upper[t] = min(full, 0.0), max(full, 0.0)
        elif (a > 0 and r < edge) or (a < 0 and r > edge):
            lower[t] = upper[t] = full
    return lower, upper


def _softmax_rows(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_normaliser = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_policy = shifted - log_normaliser
    return np.exp(log_policy), log_policy


def _kl_penalty_parts(logits, old_logits, actions, advantages):
    logits = validation.as_float_array(logits, "logits[N, A]", ndim=2)
    old_logits = validation.as_float_array(old_logits, "old_logits[N, A]", ndim=2)
    advantages = validation.as_float_array(advantages, "advantages[N]", ndim=1)
    actions = np.asarray(actions).astype(int)
    policy, log_policy = _softmax_rows(logits)
    old_policy, old_log_policy = _softmax_rows(old_logits)
    rows = np.arange(logits.shape[0])
    ratio = np.exp(log_policy[rows, actions] - old_log_policy[rows, actions])
    kl = np.where(old_policy > 0, old_policy * (old_log_policy - log_policy), 0.0).sum(axis=1)
    return policy, old_policy, ratio, kl, actions, advantages


def kl_penalty_loss(logits, old_logits, actions, advantages, beta) -> float:
    """-mean_t [r_t A_t - beta KL(softmax(old_logits_t) || softmax(logits_t))]."""
    _, _, ratio, kl, _, advantages = _kl_penalty_parts(logits, old_logits, actions, advantages)
    return -math.fsum(ratio * advantages - float(beta) * kl) / ratio.size


def kl_penalty_gradient(logits, old_logits, actions, advantages, beta) -> np.ndarray:
    """d(-L^KLPEN)/d logits[t, b] = -(1/N) [A_t r_t (1[b = a_t] - p_tb) - beta (p_tb - p^old_tb)].

    From d log softmax(z)_a / dz_b = 1[a = b] - p_b and d KL(q || softmax(z)) / dz = p - q.
    """
    policy, old_policy, ratio, _, actions, advantages = _kl_penalty_parts(
        logits, old_logits, actions, advantages)
    size = ratio.size
    indicator = np.zeros_like(policy)
    indicator[np.arange(size), actions] = 1.0
    return -((advantages * ratio)[:, None] * (indicator - policy)
             - float(beta) * (policy - old_policy)) / size


def adaptive_kl_coefficient_exact(beta, kl, kl_target) -> Fraction:
    """The adaptive rule decided in exact rationals (the float inputs' binary values)."""
    beta, kl, kl_target = Fraction(float(beta)), Fraction(float(kl)), Fraction(float(kl_target))
    if kl < kl_target * Fraction(2, 3):
        return beta / 2
    if kl > kl_target * Fraction(3, 2):
        return beta * 2
    return beta


def _value_terms(values, old_values, returns, clip_epsilon):
    v, v_old, r = (np.vectorize(Fraction, otypes=[object])(np.asarray(x, dtype=np.float64))
                   for x in (values, old_values, returns))
    epsilon = Fraction(float(clip_epsilon))
    for value, old, target in zip(v, v_old, r):
        moved = min(max(value - old, -epsilon), epsilon)
        yield value, old, target, epsilon, (value - target) ** 2, (old + moved - target) ** 2


def clipped_value_loss_exact(values, old_values, returns, clip_epsilon) -> Fraction:
    """(1/2) mean_t max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2), exactly."""
    terms = [max(unclipped, clipped) for *_, unclipped, clipped in
             _value_terms(values, old_values, returns, clip_epsilon)]
    return Fraction(1, 2) * sum(terms) / len(terms)


def clipped_value_gradient_bounds_exact(values, old_values, returns, clip_epsilon
                                        ) -> tuple[list[Fraction], list[Fraction]]:
    """d L^V / d V_t exactly, as (lower, upper) one-sided bounds.

    (1/N) (V - R) where the unclipped square is the larger; (1/N) (V_clip - R) times
    1[|V - V_old| < eps] where the clipped one is (the clip's own slope is 1 inside and 0
    outside); at a tie or on the clip's edge, the two one-sided derivatives.
    """
    terms = list(_value_terms(values, old_values, returns, clip_epsilon))
    size = len(terms)
    lower, upper = [], []
    for value, old, target, epsilon, unclipped, clipped in terms:
        moved = value - old
        clipped_value = old + min(max(moved, -epsilon), epsilon)
        d_unclipped = (value - target) / size
        # One-sided slopes of the clipped branch: 1 strictly inside, 0 strictly outside;
        # on the edge the left and right slopes differ.
        if -epsilon < moved < epsilon:
            slopes = (1, 1)
        elif moved == epsilon:
            slopes = (1, 0) if epsilon > 0 else (0, 0)
        elif moved == -epsilon:
            slopes = (0, 1)
        else:
            slopes = (0, 0)
        if epsilon == 0 and moved == 0:
            slopes = (0, 0)
        d_clipped = [(clipped_value - target) * s / size for s in slopes]  # (left, right)
        if unclipped > clipped:
            candidates = [d_unclipped]
        elif clipped > unclipped:
            candidates = d_clipped
        else:  # a tie of the max: left and right derivatives come from either branch
            candidates = [d_unclipped, *d_clipped]
        lower.append(min(candidates))
        upper.append(max(candidates))
    return lower, upper


def normalized_advantages_exact(advantages, ddof: int = 1, epsilon: float = 0.0) -> list[float]:
    """(A - mean) / (std + epsilon) with the mean and variance exact; std = 0 (output 0) when
    N - ddof <= 0 or the batch is constant.  Returned as floats: one rounding for the sqrt,
    one for the sum with epsilon, one for the quotient.

    An epsilon changes the answer by the factor std / (std + epsilon), far from 1 when the
    spread is itself of order epsilon: for (0, 2e-8), 1/sqrt(2) = 0.707107 with epsilon = 0
    and 0.414214 with epsilon = 1e-8.
    """
    values = [Fraction(float(a)) for a in validation.as_float_array(advantages, "advantages[N]", ndim=1)]
    size = len(values)
    mean = sum(values) / size
    centred = [v - mean for v in values]
    if size - ddof <= 0 or all(c == 0 for c in centred):
        return [0.0] * size
    std = math.sqrt(sum(c * c for c in centred) / (size - ddof))
    return [float(c) / (std + epsilon) for c in centred]


def _entropy_row(row):
    top = max(row)
    weights = [mpmath.exp(z - top) for z in row]
    total = sum(weights)
    probabilities = [w / total for w in weights]
    logs = [mpmath.log(w) - mpmath.log(total) for w in weights]
    return probabilities, logs, -sum(p * lg for p, lg in zip(probabilities, logs))


def categorical_entropy_high_precision(logits) -> np.ndarray:
    """H_t = -sum_a p_ta log p_ta for p_t = softmax(logits[t]), in 50-digit arithmetic."""
    logits = validation.as_float_array(logits, "logits[N, A]", ndim=2)
    with mpmath.workdps(DIGITS):
        return np.array([float(_entropy_row([mpmath.mpf(float(z)) for z in row])[2])
                         for row in logits])


def categorical_entropy_gradient(logits) -> np.ndarray:
    """dH_t / d logits[t, b] = -p_tb (log p_tb + H_t), in 50-digit arithmetic."""
    logits = validation.as_float_array(logits, "logits[N, A]", ndim=2)
    gradient = np.zeros_like(logits)
    with mpmath.workdps(DIGITS):
        for t, row in enumerate(logits):
            probabilities, logs, entropy = _entropy_row([mpmath.mpf(float(z)) for z in row])
            for b, (p, lg) in enumerate(zip(probabilities, logs)):
                gradient[t, b] = float(-p * (lg + entropy))
    return gradient


def total_loss_exact(log_prob, old_log_prob, advantages, values, old_values, entropy,
                     clip_epsilon, value_clip_epsilon, value_coefficient, entropy_coefficient,
                     normalize, ddof: int = 1):
    """PPO's total loss L^CLIP(A_hat) + c1 L^V - c2 mean(H) and the bounds of its gradient in
    ``log_prob``, ``values`` and ``entropy``, composed from the component oracles above.

    The value targets are ``advantages + old_values`` with the raw advantages; only the
    policy term uses the normalised ones (sample std for ``ddof=1``, population for 0).
    Returns (value, {name: (lower, upper)})."""
    advantages = np.asarray(advantages, dtype=np.float64)
    policy_advantages = np.array(normalized_advantages_exact(advantages, ddof)) \
        if normalize else advantages
    returns = advantages + np.asarray(old_values, dtype=np.float64)
    size = advantages.size
    policy = clipped_surrogate_loss(log_prob, old_log_prob, policy_advantages, clip_epsilon)
    p_low, p_high = clipped_surrogate_gradient_bounds(log_prob, old_log_prob, policy_advantages,
                                                      clip_epsilon)
    if value_clip_epsilon is None:
        exact = [Fraction(float(v)) - Fraction(float(r)) for v, r in zip(values, returns)]
        value = float(sum(e * e for e in exact) / (2 * size))
        v_low = v_high = np.array([float(e / size) for e in exact])
    else:
        value = float(clipped_value_loss_exact(values, old_values, returns, value_clip_epsilon))
        low, high = clipped_value_gradient_bounds_exact(values, old_values, returns,
                                                        value_clip_epsilon)
        v_low, v_high = np.array([float(x) for x in low]), np.array([float(x) for x in high])
    c1, c2 = float(value_coefficient), float(entropy_coefficient)
    total = policy + c1 * value - c2 * float(np.mean(entropy))
    entropy_gradient = np.full(size, -c2 / size)
    return total, {"log_prob": (p_low, p_high), "values": (c1 * v_low, c1 * v_high),
                   "entropy": (entropy_gradient, entropy_gradient)}
