r"""Exact answers for GRPO, Dr. GRPO, DAPO, GSPO and DCPO.

Independent of ``rlspec.reference``: group statistics in exact rationals (one square root
taken to 40 digits), losses and their gradients in 40-digit arithmetic from closed forms
(the reference relies on torch autograd), the overlong penalty in rationals, the dynamic
sampling filter by counting correct answers (the reference compares max and min), the DCPO
bounds as roots of their quadratics found by ``mpmath.polyroots`` (the reference uses the
closed-form square roots), DCPO's smooth advantages in rationals with the choice between
the two mixtures decided exactly on squared advantages, and its dual-clipped terms by the
identity A min(rho, h) / A min(max(rho, l), c) instead of nested min/max.  Conventions are
those of ``rlspec.reference.grpo``.

Accuracy as in ``rlspec.oracles.rlhf_ppo``: exact or 40-digit, rounded once to float64.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
from rlspec.oracles.methods.conversions import to_floats, to_fractions
from rlspec.oracles.methods.subgradients import LossAndGradient, scaled_interval
from rlspec.oracles.rlhf_ppo import DIGITS, clipped_surrogate_exact

__all__ = [
    "group_advantages_exact",
    "dr_grpo_advantages_exact",
    "k3_expectation_exact",
    "grpo_loss_exact",
    "dr_grpo_loss_exact",
    "dapo_loss_exact",
    "overlong_penalty_exact",
    "overlong_penalty_by_clamping",
    "dynamic_sampling_by_counting",
    "gspo_loss_exact",
    "gspo_token_loss_exact",
    "dcpo_bounds_by_roots",
    "dcpo_smooth_advantages_exact",
    "dcpo_smooth_advantage_ties",
    "dcpo_total_statistics_from_history",
    "dcpo_dual_clip_loss_exact",
    "dcpo_otm_loss_exact",
]


# ------------------------------------------------------------------ advantages

def group_advantages_exact(rewards, epsilon) -> np.ndarray:
    """(r - mean) / (sample std + epsilon) per group, with the mean and the variance exact
    rationals and the square root to 40 digits; exactly 0 for a group of equal rewards
    (its variance is the rational 0)."""
    rewards = to_fractions(rewards)
    out = np.zeros(rewards.shape)
    with mpmath.workdps(DIGITS):
        for g, group in enumerate(rewards):
            size = len(group)
            mean = sum(group, Fraction(0)) / size
            variance = sum(((r - mean) ** 2 for r in group), Fraction(0)) / (size - 1)
            if variance == 0:
                continue
            std = mpmath.sqrt(mpmath.mpf(variance.numerator) / variance.denominator)
            for i, reward in enumerate(group):
                centred = reward - mean
                out[g, i] = float(mpmath.mpf(centred.numerator) / centred.denominator
                                  / (std + mpmath.mpf(float(epsilon))))
    return out


def dr_grpo_advantages_exact(rewards) -> np.ndarray:
    """r - mean per group, in exact rationals."""
    rewards = to_fractions(rewards)
    out = np.zeros(rewards.shape)
    for g, group in enumerate(rewards):
        mean = sum(group, Fraction(0)) / len(group)
        out[g] = [float(r - mean) for r in group]
    return out


def k3_expectation_exact(policy_probabilities, reference_probabilities):
    """(E_{o ~ pi}[k3(o)], KL(pi || pi_ref)) for two distributions over a finite vocabulary,
    by enumeration in 40-digit arithmetic, with k3(o) = pi_ref(o)/pi(o) - log(pi_ref(o)/pi(o)) - 1.
    The two agree when pi_ref > 0 wherever pi > 0: the k3 estimator is unbiased."""
    with mpmath.workdps(DIGITS):
        expectation, divergence = mpmath.mpf(0), mpmath.mpf(0)
        for p, q in zip(policy_probabilities, reference_probabilities):
            p, q = mpmath.mpf(float(p)), mpmath.mpf(float(q))
            if p == 0:
                continue
            expectation += p * (q / p - mpmath.log(q / p) - 1)
            divergence += p * mpmath.log(p / q)
        return float(expectation), float(divergence)


# ------------------------------------------------------------------ losses

def _arrays(*arrays):
    return [np.asarray(array, dtype=np.float64) for array in arrays]


def _log_ratio(log_probs, old_log_probs, index):
    return mpmath.mpf(float(log_probs[index])) - mpmath.mpf(float(old_log_probs[index]))


def _token_level_loss(log_probs, old_log_probs, advantage_of, mask, low, high, weight_of,
                      extra=None) -> LossAndGradient:
    """-sum_{b,t} m w_b f_b,t with f the clipped surrogate (plus ``extra`` per token)."""
    with mpmath.workdps(DIGITS):
        total = mpmath.mpf(0)
        g_low, g_high = np.zeros(log_probs.shape), np.zeros(log_probs.shape)
        for index in zip(*np.nonzero(mask)):
            value, s_low, s_high = clipped_surrogate_exact(
                _log_ratio(log_probs, old_log_probs, index), advantage_of(index), low, high)
            if extra is not None:
                extra_value, extra_slope = extra(index)
                value, s_low, s_high = value + extra_value, s_low + extra_slope, s_high + extra_slope
            weight = weight_of(index)
            total += weight * value
            a, b = scaled_interval(s_low, s_high, -weight)
            g_low[index], g_high[index] = float(a), float(b)
        return LossAndGradient(float(-total), g_low, g_high)


def grpo_loss_exact(log_probs, old_log_probs, ref_log_probs, advantages, response_mask,
                    clip_epsilon, beta) -> LossAndGradient:
    """DeepSeekMath eq. (3) negated: -(1/B) sum_i (1/|o_i|) sum_t [clipped surrogate - beta k3],
    with the k3 term and its slope 1 - pi_ref/pi in closed form."""
    lp, old, ref, adv, mask = _arrays(log_probs, old_log_probs, ref_log_probs, advantages,
                                      response_mask)
    batch = mask.shape[0]
    with mpmath.workdps(DIGITS):
        eps, b = mpmath.mpf(float(clip_epsilon)), mpmath.mpf(float(beta))

        def penalty(index):
            d = mpmath.mpf(float(ref[index])) - mpmath.mpf(float(lp[index]))  # log(pi_ref / pi)
            return -b * (mpmath.exp(d) - d - 1), -b * (1 - mpmath.exp(d))

        return _token_level_loss(lp, old, lambda index: float(adv[index[0]]), mask, 1 - eps,
                                 1 + eps, lambda index: mpmath.mpf(1) / (batch * int(mask[index[0]].sum())),
                                 extra=penalty)


def dr_grpo_loss_exact(log_probs, old_log_probs, advantages, response_mask, clip_epsilon,
                       max_length) -> LossAndGradient:
    """-(1/B) sum_i (1/C) sum_t clipped surrogate: Dr. GRPO with the constant C = max_length."""
    lp, old, adv, mask = _arrays(log_probs, old_log_probs, advantages, response_mask)
    batch = mask.shape[0]
    with mpmath.workdps(DIGITS):
        eps, constant = mpmath.mpf(float(clip_epsilon)), mpmath.mpf(float(max_length))
        return _token_level_loss(lp, old, lambda index: float(adv[index[0]]), mask, 1 - eps,
                                 1 + eps, lambda index: 1 / (batch * constant))


def dapo_loss_exact(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                    epsilon_high) -> LossAndGradient:
    """DAPO's objective negated: -(1 / sum_i |o_i|) sum_{i,t} min(rho A, clip(rho, 1 - eps_low,
    1 + eps_high) A)."""
    lp, old, adv, mask = _arrays(log_probs, old_log_probs, advantages, response_mask)
    count = int(mask.sum())
    with mpmath.workdps(DIGITS):
        low = 1 - mpmath.mpf(float(epsilon_low))
        high = 1 + mpmath.mpf(float(epsilon_high))
        return _token_level_loss(lp, old, lambda index: float(adv[index[0]]), mask, low, high,
                                 lambda index: mpmath.mpf(1) / count)


def gspo_loss_exact(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                    epsilon_high) -> LossAndGradient:
    """GSPO's objective negated, with s_i = exp(mean log-ratio of response i): the loss is
    -(1/B) sum_i f(log s_i, A_i), and d log s_i / d log pi_{i,t} = 1 / |y_i| on its tokens."""
    lp, old, adv, mask = _arrays(log_probs, old_log_probs, advantages, response_mask)
    batch = mask.shape[0]
    g_low, g_high = np.zeros(lp.shape), np.zeros(lp.shape)
    with mpmath.workdps(DIGITS):
        low = 1 - mpmath.mpf(float(epsilon_low))
        high = 1 + mpmath.mpf(float(epsilon_high))
        total = mpmath.mpf(0)
        for i in range(batch):
            tokens = [t for t in range(mask.shape[1]) if mask[i, t] == 1.0]
            log_s = mpmath.fsum(_log_ratio(lp, old, (i, t)) for t in tokens) / len(tokens)
            value, s_low, s_high = clipped_surrogate_exact(log_s, float(adv[i]), low, high)
            total += value
            a, b = scaled_interval(s_low, s_high, -mpmath.mpf(1) / (batch * len(tokens)))
            for t in tokens:
                g_low[i, t], g_high[i, t] = float(a), float(b)
        return LossAndGradient(float(-total / batch), g_low, g_high)


def gspo_token_loss_exact(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                          epsilon_high) -> LossAndGradient:
    """GSPO-token's objective negated: each token's term is f(log s_i, A_{i,t}) with s_i the
    sequence ratio; the stop-gradients leave d/d log pi_{i,t} = f'(log s_i, A_{i,t}) / (B |y_i|),
    with no term from the other tokens of the response."""
    lp, old, adv, mask = _arrays(log_probs, old_log_probs, advantages, response_mask)
    batch = mask.shape[0]
    g_low, g_high = np.zeros(lp.shape), np.zeros(lp.shape)
    with mpmath.workdps(DIGITS):
        low = 1 - mpmath.mpf(float(epsilon_low))
        high = 1 + mpmath.mpf(float(epsilon_high))
        total = mpmath.mpf(0)
        for i in range(batch):
            tokens = [t for t in range(mask.shape[1]) if mask[i, t] == 1.0]
            log_s = mpmath.fsum(_log_ratio(lp, old, (i, t)) for t in tokens) / len(tokens)
            for t in tokens:
                value, s_low, s_high = clipped_surrogate_exact(log_s, float(adv[i, t]), low, high)
                total += value / len(tokens)
                a, b = scaled_interval(s_low, s_high, -mpmath.mpf(1) / (batch * len(tokens)))
                g_low[i, t], g_high[i, t] = float(a), float(b)
        return LossAndGradient(float(-total / batch), g_low, g_high)


# ------------------------------------------------------------------ DAPO's reward shaping

def overlong_penalty_exact(lengths, max_length, cache_length) -> np.ndarray:
    """DAPO eq. (13) case by case, in exact rationals."""
    l_max, l_cache = Fraction(int(max_length)), Fraction(int(cache_length))
    out = []
    for length in np.asarray(lengths, dtype=np.float64):
        y = Fraction(int(length))
        if y <= l_max - l_cache:
            out.append(Fraction(0))
        elif y <= l_max:
            out.append(((l_max - l_cache) - y) / l_cache)
        else:
            out.append(Fraction(-1))
    return to_floats(out)


def overlong_penalty_by_clamping(lengths, max_length, cache_length) -> np.ndarray:
    """The same penalty as one clamped line, min(0, max(-1, (L_max - L_cache - |y|) / L_cache)),
    in exact rationals: a second method for :func:`overlong_penalty_exact`."""
    l_max, l_cache = Fraction(int(max_length)), Fraction(int(cache_length))
    return to_floats([min(Fraction(0), max(Fraction(-1), (l_max - l_cache - Fraction(int(y))) / l_cache))
                      for y in np.asarray(lengths, dtype=np.float64)])


def dynamic_sampling_by_counting(accuracies) -> np.ndarray:
    """keep[g] = 0 < (number of correct responses in group g) < G, the constraint of DAPO's objective."""
    accuracies = np.asarray(accuracies, dtype=np.float64)
    size = accuracies.shape[1]
    return np.array([0 < int(sum(1 for a in group if a == 1.0)) < size for group in accuracies])


# ------------------------------------------------------------------ DCPO

def dcpo_bounds_by_roots(old_log_probs, epsilon_low, epsilon_high, max_ratio) -> np.ndarray:
    """bounds[2, n]: the larger real root of q r^2 - q r + eps_low = 0 (1/2 if it has none:
    the real part of the complex pair)
    and the larger root of q r^2 - q r - eps_high = 0 capped at max_ratio, with
    q = exp(old_log_prob), found numerically by mpmath.polyroots at 40 digits."""
    old = np.asarray(old_log_probs, dtype=np.float64)
    bounds = np.zeros((2, old.size))
    with mpmath.workdps(DIGITS):
        cap = mpmath.mpf(float(max_ratio))
        for n, log_q in enumerate(old):
            q = mpmath.exp(mpmath.mpf(float(log_q)))
            if q == 0:
                bounds[:, n] = (0.5, float(cap))
                continue
            # The roots sum to 1: a complex pair (q < 4 eps_low) has real part 1/2, the floor;
            # decided by the discriminant, since polyroots cannot resolve a real part of 1/2
            # next to imaginary parts of order sqrt(eps_low / q) (e^400 at q = e^-800).
            low_eps = mpmath.mpf(float(epsilon_low))
            lower = mpmath.mpf(0.5) if q < 4 * low_eps else _larger_root(q, low_eps)
            upper = _larger_root(q, -mpmath.mpf(float(epsilon_high)))
            bounds[0, n], bounds[1, n] = float(lower), float(min(upper, cap))
    return bounds


def _larger_root(q, constant):
    """The larger real part of the roots of q r^2 - q r + constant = 0, by mpmath.polyroots.

    With r = s t, s = sqrt(max(1, |constant| / q)), the polynomial divided by q s^2 is
    t^2 - t / s + constant / (q s^2), whose coefficients are at most 1 in size: polyroots
    converges even where q is e^-800 and the roots are of order e^400."""
    scale = mpmath.sqrt(max(mpmath.mpf(1), abs(constant) / q))
    roots = mpmath.polyroots([1, -1 / scale, constant / (q * scale ** 2)], maxsteps=200,
                             extraprec=60)
    return max(mpmath.re(root) for root in roots) * scale


def _dcpo_statistics(group, steps, old_mean, old_std):
    """(mean_new, var_new, mean_total, var_total) as exact rationals."""
    size = len(group)
    mean = sum(group, Fraction(0)) / size
    variance = sum(((r - mean) ** 2 for r in group), Fraction(0)) / (size - 1)
    if steps == 0:
        return mean, variance, mean, variance
    k = Fraction(steps)
    total_mean = (k * old_mean + mean) / (k + 1)
    total_variance = (k * old_std ** 2 + variance) / (k + 1) + k * (mean - old_mean) ** 2 / (k + 1) ** 2
    return mean, variance, total_mean, total_variance


def _smooth_choice(reward, mean, variance, total_mean, total_variance, steps):
    """(A_new^2, A_total^2, use_sa_new) in exact rationals.

    |SA_new|^2 - |SA_total|^2 = (2w - 1)(A_total^2 - A_new^2) with w = 1/(k + 1), so SA_new
    is chosen iff that is negative; both squares are rationals."""
    square_new = (reward - mean) ** 2 / variance if variance else Fraction(0)
    square_total = (reward - total_mean) ** 2 / total_variance if total_variance else Fraction(0)
    weight = Fraction(1, steps + 1)
    return square_new, square_total, (2 * weight - 1) * (square_total - square_new) < 0


def _sqrt(fraction):
    return mpmath.sqrt(mpmath.mpf(fraction.numerator) / fraction.denominator)


def _mp(fraction):
    return mpmath.mpf(fraction.numerator) / fraction.denominator


def dcpo_smooth_advantages_exact(rewards, previous_steps, previous_mean, previous_std) -> np.ndarray:
    """DCPO's smooth advantages: statistics in exact rationals (previous_std squared
    exactly), the choice between SA_new and SA_total decided exactly by the sign of
    (2w - 1)(A_total^2 - A_new^2), the chosen mixture evaluated at 40 digits."""
    rewards = to_fractions(rewards)
    steps = [int(k) for k in np.asarray(previous_steps, dtype=np.float64)]
    means = to_fractions(previous_mean)
    stds = to_fractions(previous_std)
    out = np.zeros(rewards.shape)
    with mpmath.workdps(DIGITS):
        for g, group in enumerate(rewards):
            k = steps[g]
            mean, variance, total_mean, total_variance = _dcpo_statistics(group, k, means[g], stds[g])
            weight = mpmath.mpf(1) / (k + 1)
            for j, reward in enumerate(group):
                _, _, use_new = _smooth_choice(reward, mean, variance, total_mean, total_variance, k)
                a_new = _mp(reward - mean) / _sqrt(variance) if variance else mpmath.mpf(0)
                a_total = (_mp(reward - total_mean) / _sqrt(total_variance) if total_variance
                           else mpmath.mpf(0))
                if use_new:
                    out[g, j] = float(weight * a_total + (1 - weight) * a_new)
                else:
                    out[g, j] = float(weight * a_new + (1 - weight) * a_total)
    return out


def dcpo_smooth_advantage_ties(rewards, previous_steps, previous_mean, previous_std) -> bool:
    """True where some response has |SA_new| = |SA_total| with SA_new = -SA_total != 0 (the
    two standardised advantages opposite, A_new = -A_total): there the choice rests on the
    last bit of a float comparison, and the case cannot judge an implementation."""
    rewards = to_fractions(rewards)
    steps = [int(k) for k in np.asarray(previous_steps, dtype=np.float64)]
    means, stds = to_fractions(previous_mean), to_fractions(previous_std)
    for g, group in enumerate(rewards):
        k = steps[g]
        if k < 2:  # w = 1 or 1/2: the two mixtures are equal
            continue
        statistics = _dcpo_statistics(group, k, means[g], stds[g])
        for reward in group:
            square_new, square_total, _ = _smooth_choice(reward, *statistics, k)
            if square_new == square_total and square_new != 0 and \
                    (reward - statistics[0]) * (reward - statistics[2]) < 0:
                return True
    return False


def dcpo_total_statistics_from_history(history) -> tuple[Fraction, Fraction]:
    """The cumulative (mean, variance) of one prompt from all its steps' reward groups,
    without the recursion: the mean of the per-step means, and the mean of the per-step
    sample variances plus the population variance of the per-step means.  Exact rationals;
    a second method for the statistics inside :func:`dcpo_smooth_advantages_exact`."""
    means, variances = [], []
    for group in history:
        group = to_fractions(group)
        mean = sum(group, Fraction(0)) / len(group)
        means.append(mean)
        variances.append(sum(((r - mean) ** 2 for r in group), Fraction(0)) / (len(group) - 1))
    steps = len(means)
    grand = sum(means, Fraction(0)) / steps
    between = sum(((m - grand) ** 2 for m in means), Fraction(0)) / steps
    return grand, sum(variances, Fraction(0)) / steps + between


def _dcpo_term(log_ratio, advantage, low, high, dual):
    """J(x) and its slope interval in x: A min(rho, h) for A >= 0 and A min(max(rho, l), c)
    for A < 0 (rho = e^x), with every valid slope at a kink."""
    ratio, a = mpmath.exp(log_ratio), mpmath.mpf(advantage)
    if a == 0:
        return mpmath.mpf(0), mpmath.mpf(0), mpmath.mpf(0)
    free = ratio * a
    if a > 0:
        lower_kink, upper_kink = None, high
        value = a * min(ratio, high)
    else:
        lower_kink, upper_kink = low, dual
        value = a * min(max(ratio, low), dual)
    if (lower_kink is None or ratio > lower_kink) and ratio < upper_kink:
        return value, free, free
    if ratio == upper_kink or (lower_kink is not None and ratio == lower_kink):
        return value, min(0, free), max(0, free)
    return value, mpmath.mpf(0), mpmath.mpf(0)


def _dcpo_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low, epsilon_high,
               max_ratio, clip_ratio_c, weight_of) -> LossAndGradient:
    lp, old, adv, mask = _arrays(log_probs, old_log_probs, advantages, response_mask)
    g_low, g_high = np.zeros(lp.shape), np.zeros(lp.shape)
    with mpmath.workdps(DIGITS):
        dual = mpmath.mpf(float(clip_ratio_c))
        total = mpmath.mpf(0)
        for index in zip(*np.nonzero(mask)):
            (low,), (high,) = dcpo_bounds_by_roots([old[index]], epsilon_low, epsilon_high, max_ratio)
            value, s_low, s_high = _dcpo_term(_log_ratio(lp, old, index), float(adv[index[0]]),
                                              mpmath.mpf(low), mpmath.mpf(high), dual)
            weight = weight_of(mask, index)
            total += weight * value
            a, b = scaled_interval(s_low, s_high, -weight)
            g_low[index], g_high[index] = float(a), float(b)
        return LossAndGradient(float(-total), g_low, g_high)


def dcpo_dual_clip_loss_exact(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                              epsilon_high, max_ratio, clip_ratio_c) -> LossAndGradient:
    """-(1 / sum_i |o_i|) sum_{i,t} J_{i,t}: DCPO's dual-clipped terms with the bounds of
    :func:`dcpo_bounds_by_roots`, token-mean aggregated."""
    count = int(np.asarray(response_mask, dtype=np.float64).sum())
    return _dcpo_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                      epsilon_high, max_ratio, clip_ratio_c,
                      lambda mask, index: mpmath.mpf(1) / count)


def dcpo_otm_loss_exact(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                        epsilon_high, max_ratio, clip_ratio_c) -> LossAndGradient:
    """-(1/B) sum_i sum_t J_{i,t}: the same terms, each token weighing 1/B (OTM)."""
    return _dcpo_loss(log_probs, old_log_probs, advantages, response_mask, epsilon_low,
                      epsilon_high, max_ratio, clip_ratio_c,
                      lambda mask, index: mpmath.mpf(1) / mask.shape[0])
