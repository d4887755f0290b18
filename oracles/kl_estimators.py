"""The k1, k2, k3 KL estimators, their slopes and the exact categorical KL.

Method, independence from ``rlspec.reference`` and accuracy: as stated in
``rlspec.oracles.dpo``, which this module shares its conventions with.
"""

from __future__ import annotations

import mpmath
import numpy as np
from rlspec import validation
from rlspec.oracles.methods.conversions import fraction_list
from rlspec.oracles.methods.high_precision import mpf
from rlspec.validation import InvalidInputError

__all__ = [
    "kl_estimates_and_slopes",
    "categorical_kl",
    "estimator_loss_gradient_closed_form",
]


#: Significant decimal digits of the mpmath evaluations.
DIGITS = 50


ESTIMATORS = ("k1", "k2", "k3")


def kl_estimates_and_slopes(log_probs, reference_log_probs, estimator: str
                            ) -> tuple[np.ndarray, np.ndarray]:
    r"""Per sample, ``(k(x), dk / d log pi(x))`` with ``d = log pi_ref(x) - log pi(x)`` exact:

    ===  =====================  ======================
    k    value                  d k / d log pi(x)
    ===  =====================  ======================
    k1   -d                     1
    k2   d^2 / 2                -d
    k3   e^d - 1 - d            1 - e^d
    ===  =====================  ======================

    (log pi_ref is held fixed: the reference model is frozen.)
    """
    if estimator not in ESTIMATORS:
        raise InvalidInputError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    policy = fraction_list(log_probs, "log_probs[N]")
    reference = fraction_list(reference_log_probs, "reference_log_probs[N]")
    if len(policy) != len(reference):
        raise InvalidInputError("log_probs and reference_log_probs must have the same length")
    values, slopes = [], []
    with mpmath.workdps(DIGITS):
        for p, q in zip(policy, reference):
            d = q - p                                   # exact
            if estimator == "k1":
                values.append(float(-d))
                slopes.append(1.0)
            elif estimator == "k2":
                values.append(float(d * d / 2))
                slopes.append(float(-d))
            else:
                e = mpmath.exp(mpf(d))
                values.append(float(e - 1 - mpf(d)))
                slopes.append(float(1 - e))
    return np.array(values), np.array(slopes)


def _log_softmax_exact(values) -> list:
    row = [mpmath.mpf(float(v)) for v in values]
    log_z = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))
    return [v - log_z for v in row]


def categorical_kl(log_probs, reference_log_probs) -> float:
    """KL(pi || pi_ref) = sum_x pi(x) log(pi(x) / pi_ref(x)) at 50 digits.  The inputs are
    renormalised exactly first (log-softmax), so log-probabilities that sum to 1 only up to
    rounding describe the distribution they round."""
    policy = validation.as_float_array(log_probs, "log_probs[K]", ndim=1)
    reference = validation.as_float_array(reference_log_probs, "reference_log_probs[K]", ndim=1)
    validation.check_shape(reference, policy.shape, "reference_log_probs")
    with mpmath.workdps(DIGITS):
        lp, lq = _log_softmax_exact(policy), _log_softmax_exact(reference)
        return float(mpmath.fsum(mpmath.exp(a) * (a - b) for a, b in zip(lp, lq)))


def estimator_loss_gradient_closed_form(logits, reference_logits, estimator: str) -> np.ndarray:
    r"""E_{x~pi}[grad_theta k(x)] with the sample fixed, for pi = softmax(logits), from the
    closed forms (derived in the spec entry ``kl.estimator-loss-gradient``):

    * k1: ``E[grad log pi(x)] = 0`` (the score has mean zero);
    * k2: ``E[log(pi/pi_ref)(x) grad log pi(x)] = grad KL(pi || pi_ref)``
      ``= pi_j (log(pi_j / pi_ref_j) - KL(pi || pi_ref))``;
    * k3: ``E[(1 - pi_ref/pi)(x) grad log pi(x)] = -sum_x pi_ref(x) grad log pi(x)``
      ``= grad KL(pi_ref || pi) = pi_j - pi_ref_j``.
    """
    if estimator not in ESTIMATORS:
        raise InvalidInputError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    theta = validation.as_float_array(logits, "logits[K]", ndim=1)
    reference_theta = validation.as_float_array(reference_logits, "reference_logits[K]", ndim=1)
    validation.check_shape(reference_theta, theta.shape, "reference_logits")
    if estimator == "k1":
        return np.zeros_like(theta)
    with mpmath.workdps(DIGITS):
        lp, lq = _log_softmax_exact(theta), _log_softmax_exact(reference_theta)
        if estimator == "k3":
            return np.array([float(mpmath.exp(a) - mpmath.exp(b)) for a, b in zip(lp, lq)])
        kl = mpmath.fsum(mpmath.exp(a) * (a - b) for a, b in zip(lp, lq))
        return np.array([float(mpmath.exp(a) * (a - b - kl)) for a, b in zip(lp, lq)])
