r"""RLHF-PPO token-level formulas, exactly. (The note below covers its chapter's other oracle modules too.)

Exact answers for the RLHF-PPO token-level formulas and for loss aggregation.

Independent of ``rlspec.reference``: rational arithmetic (``fractions.Fraction``: every float
input converted exactly) where the formula is rational, 40-digit arithmetic (``mpmath``)
where it needs exp or log, direct sums where the reference uses recursions, and
closed-form (sub)gradients where the reference relies on autograd.  Conventions are those
of ``rlspec.reference.rlhf_ppo`` (columns aligned with the predicted token, a 0/1 mask of
response tokens).

Losses come back as :class:`LossAndGradient`: the value, and for each input entry an
interval ``[gradient_low, gradient_high]`` holding every valid derivative.  The interval is
a single point except where the loss has a kink exactly at the input (a clip boundary, or
the two branches of a max tied with different slopes); there autograd may return any
subgradient (torch splits ties between the branches), and the judges accept any value in
the interval.

Accuracy: the rational results are exact; the 40-digit ones are within 1e-35 relative
before the single rounding to float64 at the end, so these are correctly rounded up to an
ulp or two.  Cost: O(B T) operations on big rationals or mp numbers: keep B T below about
a thousand.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
from rlspec.oracles.methods.conversions import to_floats, to_fractions
from rlspec.oracles.methods.subgradients import LossAndGradient, scaled_interval

__all__ = [
    "token_log_probs_exact",
    "kl_penalised_rewards_exact",
    "masked_gae_exact",
    "masked_gae_from_lambda_returns",
    "clipped_surrogate_exact",
    "clipped_surrogate_by_identity",
    "actor_loss_exact",
    "critic_loss_exact",
]


DIGITS = 40


def _spans(mask) -> list[tuple[int, int] | None]:
    spans = []
    for row in np.asarray(mask, dtype=np.float64):
        ones = [t for t, m in enumerate(row) if m == 1.0]
        spans.append((ones[0], ones[-1]) if ones else None)
    return spans


def token_log_probs_exact(logits, input_ids) -> np.ndarray:
    """log softmax(logits[b, t])[input_ids[b, t + 1]] for t < L - 1, in 40-digit arithmetic:
    the log of a sum of exponentials, with no max-subtraction trick to lean on."""
    logits = np.asarray(logits, dtype=np.float64)
    ids = np.asarray(input_ids).astype(np.int64)
    batch, length, vocabulary = logits.shape
    out = np.zeros((batch, length - 1))
    with mpmath.workdps(DIGITS):
        for b in range(batch):
            for t in range(length - 1):
                total = mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in logits[b, t])
                out[b, t] = float(mpmath.mpf(float(logits[b, t, ids[b, t + 1]])) - mpmath.log(total))
    return out


def kl_penalised_rewards_exact(log_probs, ref_log_probs, reward_score, action_mask, kl_coef,
                               clip_reward_value) -> np.ndarray:
    """R[b, t] = -beta (log pi - log pi_ref) on the response, plus the clipped score at the
    last response column, 0 elsewhere: in exact rationals, rounded once."""
    lp, ref = to_fractions(log_probs), to_fractions(ref_log_probs)
    score = to_fractions(reward_score)
    beta, clip = Fraction(float(kl_coef)), Fraction(float(clip_reward_value))
    rewards = np.full(lp.shape, Fraction(0), dtype=object)
    for b, span in enumerate(_spans(action_mask)):
        if span is None:
            continue
        first, last = span
        for t in range(first, last + 1):
            rewards[b, t] = -beta * (lp[b, t] - ref[b, t])
        rewards[b, last] += max(-clip, min(clip, score[b]))
    return to_floats(rewards)


def _response_deltas(rewards, values, first, last, gamma) -> list[Fraction]:
    """TD errors over one response; V after the last response column is 0."""
    deltas = []
    for t in range(first, last + 1):
        next_value = values[t + 1] if t < last else Fraction(0)
        deltas.append(rewards[t] + gamma * next_value - values[t])
    return deltas


def masked_gae_exact(rewards, values, action_mask, gamma, lam) -> np.ndarray:
    """A_t = sum_{k >= t} (gamma lambda)^(k - t) delta_k over the response, as a direct double
    sum of rationals (not the backward recursion), 0 outside the response."""
    r, v = to_fractions(rewards), to_fractions(values)
    g, l = Fraction(float(gamma)), Fraction(float(lam))
    advantages = np.full(r.shape, Fraction(0), dtype=object)
    for b, span in enumerate(_spans(action_mask)):
        if span is None:
            continue
        first, last = span
        deltas = _response_deltas(r[b], v[b], first, last, g)
        for t in range(first, last + 1):
            advantages[b, t] = sum(((g * l) ** (k - t) * deltas[k - first]
                                    for k in range(t, last + 1)), Fraction(0))
    return to_floats(advantages)


def masked_gae_from_lambda_returns(rewards, values, action_mask, gamma, lam) -> np.ndarray:
    r"""A_t = G^lambda_t - V_t, with the lambda-return of an episode that ends after the
    response:

    .. math:: G^\lambda_t = (1-\lambda)\sum_{n=1}^{N-1}\lambda^{n-1} G^{(n)}_t + \lambda^{N-1} G^{(N)}_t,
              \quad G^{(n)}_t = \sum_{k<n}\gamma^k R_{t+k} + \gamma^n V_{t+n}

    N = the number of response tokens from t on, V = 0 after the last one (Sutton & Barto
    2018, §12.1).  A second method for ``masked_gae_exact``, in exact rationals."""
    r, v = to_fractions(rewards), to_fractions(values)
    g, l = Fraction(float(gamma)), Fraction(float(lam))
    advantages = np.full(r.shape, Fraction(0), dtype=object)
    for b, span in enumerate(_spans(action_mask)):
        if span is None:
            continue
        first, last = span
        for t in range(first, last + 1):
            steps = last - t + 1

            def n_step(n):
                bootstrap = v[b, t + n] if t + n <= last else Fraction(0)
                return sum((g ** k * r[b, t + k] for k in range(n)), Fraction(0)) + g ** n * bootstrap

            lambda_return = sum(((1 - l) * l ** (n - 1) * n_step(n) for n in range(1, steps)),
                                Fraction(0)) + l ** (steps - 1) * n_step(steps)
            advantages[b, t] = lambda_return - v[b, t]
    return to_floats(advantages)


def clipped_surrogate_exact(log_ratio, advantage, low, high):
    r"""f(x) = min(e^x A, clip(e^x, low, high) A) and its derivative interval in x.

    By cases on the definition, in 40-digit arithmetic: the unclipped branch has slope
    e^x A; the clipped one e^x A strictly inside (low, high), 0 outside, and anything
    between at the boundary; where the branches tie, any mix of their slopes.
    Returns ``(value, slope_low, slope_high)`` as mp numbers."""
    with mpmath.workdps(DIGITS):
        x, a = mpmath.mpf(log_ratio), mpmath.mpf(advantage)
        low, high = mpmath.mpf(low), mpmath.mpf(high)
        ratio = mpmath.exp(x)
        unclipped = ratio * a
        clipped_ratio = min(max(ratio, low), high)
        clipped = clipped_ratio * a
        slope_unclipped = (unclipped, unclipped)
        if low < ratio < high:
            slope_clipped = (unclipped, unclipped)
        elif ratio < low or ratio > high:
            slope_clipped = (mpmath.mpf(0), mpmath.mpf(0))
        else:
            slope_clipped = (min(0, unclipped), max(0, unclipped))
        if unclipped < clipped:
            return unclipped, *slope_unclipped
        if clipped < unclipped:
            return clipped, *slope_clipped
        return unclipped, min(slope_unclipped[0], slope_clipped[0]), \
            max(slope_unclipped[1], slope_clipped[1])


def clipped_surrogate_by_identity(log_ratio, advantage, low, high):
    r"""The same f by Spinning Up's identity, with no clip function:

    .. math:: \min(\rho A, \operatorname{clip}(\rho, 1-\epsilon_l, 1+\epsilon_h) A)
              = \min(\rho A,\ g(A)), \quad g(A) = (1+\epsilon_h) A \text{ if } A \ge 0
              \text{ else } (1-\epsilon_l) A

    valid because clip(ρ)A differs from ρA only on the side where it is the smaller one.
    Returns ``(value, slope_low, slope_high)``: slope ρA where ρA < g(A), 0 where g(A) is
    smaller, the interval between them at a tie (ρ at the bound the advantage pushes to)."""
    with mpmath.workdps(DIGITS):
        ratio, a = mpmath.exp(mpmath.mpf(log_ratio)), mpmath.mpf(advantage)
        bound = (mpmath.mpf(high) if a >= 0 else mpmath.mpf(low)) * a
        term = ratio * a
        if term < bound:
            return term, term, term
        if bound < term:
            return bound, mpmath.mpf(0), mpmath.mpf(0)
        return term, min(0, term), max(0, term)


def actor_loss_exact(log_probs, old_log_probs, advantages, action_mask, clip_range) -> LossAndGradient:
    """-(1 / sum m) sum m min(rho A, clip(rho, 1 - eps, 1 + eps) A) and its gradient in
    log_probs, token by token with :func:`clipped_surrogate_exact`."""
    lp = np.asarray(log_probs, dtype=np.float64)
    old = np.asarray(old_log_probs, dtype=np.float64)
    adv = np.asarray(advantages, dtype=np.float64)
    mask = np.asarray(action_mask, dtype=np.float64)
    eps = float(clip_range)
    with mpmath.workdps(DIGITS):
        low, high = 1 - mpmath.mpf(eps), 1 + mpmath.mpf(eps)
        count = int(mask.sum())
        total = mpmath.mpf(0)
        g_low, g_high = np.zeros(lp.shape), np.zeros(lp.shape)
        for index in zip(*np.nonzero(mask)):
            x = mpmath.mpf(float(lp[index])) - mpmath.mpf(float(old[index]))
            value, s_low, s_high = clipped_surrogate_exact(x, float(adv[index]), low, high)
            total += value
            a, b = scaled_interval(s_low, s_high, mpmath.mpf(-1) / count)
            g_low[index], g_high[index] = float(a), float(b)
        return LossAndGradient(float(-total / count), g_low, g_high)


def critic_loss_exact(values, old_values, returns, action_mask, clip_range_value) -> LossAndGradient:
    """(1/2)(1 / sum m) sum m max((V - G)^2, (clip(V, V_old - c, V_old + c) - G)^2) and its
    gradient in ``values``, in exact rationals."""
    v, old, target = to_fractions(values), to_fractions(old_values), to_fractions(returns)
    c = Fraction(float(clip_range_value))
    mask = np.asarray(action_mask, dtype=np.float64)
    count = int(mask.sum())
    total = Fraction(0)
    g_low = np.full(v.shape, Fraction(0), dtype=object)
    g_high = np.full(v.shape, Fraction(0), dtype=object)
    for index in zip(*np.nonzero(mask)):
        value, lower, upper, goal = v[index], old[index] - c, old[index] + c, target[index]
        clipped = min(max(value, lower), upper)
        first, second = (value - goal) ** 2, (clipped - goal) ** 2
        slope_first = (2 * (value - goal),) * 2
        if lower < value < upper:
            slope_second = (2 * (clipped - goal),) * 2
        elif value < lower or value > upper:
            slope_second = (Fraction(0),) * 2
        else:  # on the clip boundary: d clip / dV anywhere in [0, 1]
            slope_second = (min(0, 2 * (clipped - goal)), max(0, 2 * (clipped - goal)))
        if first > second:
            term, slopes = first, slope_first
        elif second > first:
            term, slopes = second, slope_second
        else:
            term = first
            slopes = (min(slope_first[0], slope_second[0]), max(slope_first[1], slope_second[1]))
        total += term
        g_low[index] = Fraction(1, 2 * count) * slopes[0]
        g_high[index] = Fraction(1, 2 * count) * slopes[1]
    return LossAndGradient(float(total / (2 * count)), to_floats(g_low), to_floats(g_high))
