r"""Single-sample estimators of KL(pi || pi_ref) and what they do when used as a loss.

Setting (J. Schulman 2020, "Approximating KL divergence", http://joschu.net/blog/kl-approx.html):
a sample x ~ pi (the policy being trained), its log-probability ``log_probs = log pi(x)`` and
the reference model's ``reference_log_probs = log pi_ref(x)``.  With the ratio

.. math:: r(x) = \frac{\pi_{\rm ref}(x)}{\pi(x)}

the three estimators are

.. math:: k_1 = -\log r, \qquad k_2 = \tfrac12 (\log r)^2, \qquad k_3 = (r - 1) - \log r .

In RLHF, x is one token given its prefix (seed 003, 3.3.2 computes ``log_probs -
ref_log_probs``, which is k1; GRPO, seed 000 "群体相对策略优化（GRPO）", penalises with k3,
Shao et al. 2024, Eq. 4).  Facts, each a spec entry and checked exactly by enumeration:

* E_pi[k1] = E_pi[k3] = KL(pi || pi_ref): both unbiased; E_pi[k2] is not, in general
  (``kl.estimator-bias``).  k2 and k3 are never negative; k1 is negative whenever
  pi_ref(x) > pi(x).
* Used as a loss *with the sample held fixed* (sample x, then back-propagate through
  log pi(x) only), the expected gradients are E[grad k1] = 0, E[grad k2] = grad KL(pi || pi_ref)
  and E[grad k3] = grad KL(pi_ref || pi), the *other* direction
  (``kl.estimator-loss-gradient``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rlspec import validation
from rlspec.reference.reward_model import as_vector, same_length
from rlspec.validation import InvalidInputError

__all__ = ["kl_estimator_k1", "kl_estimator_k2", "kl_estimator_k3", "kl_divergence",
           "expected_estimate", "estimator_loss_gradient"]

ESTIMATORS = ("k1", "k2", "k3")

#: A categorical's log-probabilities must satisfy |logsumexp - 0| below this.
NORMALISATION_TOLERANCE = 1e-9


def _sample_pair(log_probs, reference_log_probs):
    """The policy's log-probs and the frozen reference model's, detached: no gradient
    reaches the reference model."""
    policy = as_vector(log_probs, "log_probs[N]")
    reference = as_vector(reference_log_probs, "reference_log_probs[N]").detach()
    same_length("log_probs", policy, "reference_log_probs", reference)
    return policy, reference


def kl_estimator_k1(log_probs, reference_log_probs) -> torch.Tensor:
    r"""``k1 = -log r = log pi(x) - log pi_ref(x)``, per sample (elementwise, no mean).

    Source: seed 003, 3.3.2 "Reference Model（参考模型）" (``log_probs - ref_log_probs``);
    Schulman (2020).  Unbiased, but negative whenever pi_ref(x) > pi(x).

    >>> kl_estimator_k1([math.log(0.5)], [math.log(0.25)]).numpy().round(6)
    array([0.693147])
    """
    policy, reference = _sample_pair(log_probs, reference_log_probs)
    return policy - reference


def kl_estimator_k2(log_probs, reference_log_probs) -> torch.Tensor:
    r"""``k2 = (log r)^2 / 2 = (log pi_ref(x) - log pi(x))^2 / 2``, per sample.

    Source: Schulman (2020).  Never negative, biased: E_pi[k2] != KL(pi || pi_ref) in general
    (it is the second-order approximation, an f-divergence).

    >>> kl_estimator_k2([math.log(0.5)], [math.log(0.25)]).numpy().round(6)   # (log 2)^2 / 2
    array([0.240227])
    """
    policy, reference = _sample_pair(log_probs, reference_log_probs)
    return 0.5 * (reference - policy) ** 2


def kl_estimator_k3(log_probs, reference_log_probs) -> torch.Tensor:
    r"""``k3 = (r - 1) - log r`` with ``r = pi_ref(x) / pi(x)``, per sample.

    Source: Schulman (2020); GRPO's per-token KL (Shao et al. 2024, Eq. 4), the estimator
    behind seed 000's GRPO KL term.  Unbiased (E_pi[r - 1] = sum pi_ref - sum pi = 0) and
    never negative (log r <= r - 1).  Computed as ``expm1(d) - d`` with
    ``d = log pi_ref - log pi``, which keeps its relative accuracy when r is near 1.

    Example: pi(x) = 1/2, pi_ref(x) = 1/4: r = 1/2, k3 = -1/2 + log 2 ~ 0.193147.

    >>> kl_estimator_k3([math.log(0.5)], [math.log(0.25)]).numpy().round(6)
    array([0.193147])
    """
    policy, reference = _sample_pair(log_probs, reference_log_probs)
    log_ratio = reference - policy
    return torch.expm1(log_ratio) - log_ratio


# ---------------------------------------------------------------- exact categorical facts

def _categorical(log_probs, name: str) -> np.ndarray:
    values = validation.as_float_array(log_probs, name, ndim=1)
    total = math.fsum(math.exp(v) for v in values)
    if abs(math.log(total)) > NORMALISATION_TOLERANCE:
        raise InvalidInputError(
            f"{name} must be the log-probabilities of a distribution (their exponentials sum "
            f"to 1), but they sum to {total!r}")
    return values


def kl_divergence(log_probs, reference_log_probs) -> float:
    r"""``KL(pi || pi_ref) = sum_x pi(x) (log pi(x) - log pi_ref(x))`` for categoricals
    given by their log-probabilities (full support).

    >>> round(kl_divergence(np.log([0.5, 0.5]), np.log([0.25, 0.75])), 6)
    0.143841
    """
    policy = _categorical(log_probs, "log_probs[K]")
    reference = _categorical(reference_log_probs, "reference_log_probs[K]")
    validation.check_shape(reference, policy.shape, "reference_log_probs")
    return math.fsum(math.exp(policy[x]) * (policy[x] - reference[x]) for x in range(len(policy)))


def _estimate(estimator: str, log_pi: float, log_ref: float) -> float:
    d = log_ref - log_pi  # log r
    if estimator == "k1":
        return -d
    if estimator == "k2":
        return 0.5 * d * d
    return math.expm1(d) - d


def _check_estimator(estimator) -> str:
    if estimator not in ESTIMATORS:
        raise InvalidInputError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    return estimator


def expected_estimate(log_probs, reference_log_probs, estimator: str) -> float:
    r"""``E_{x ~ pi}[k(x)] = sum_x pi(x) k(x)``, by enumerating every outcome.

    Equals KL(pi || pi_ref) for k1 and k3; not for k2 in general.

    >>> p, q = np.log([0.5, 0.5]), np.log([0.25, 0.75])
    >>> [round(expected_estimate(p, q, k), 6) for k in ("k1", "k2", "k3")]
    [0.143841, 0.161214, 0.143841]
    """
    estimator = _check_estimator(estimator)
    policy = _categorical(log_probs, "log_probs[K]")
    reference = _categorical(reference_log_probs, "reference_log_probs[K]")
    validation.check_shape(reference, policy.shape, "reference_log_probs")
    return math.fsum(math.exp(policy[x]) * _estimate(estimator, policy[x], reference[x])
                     for x in range(len(policy)))


def estimator_loss_gradient(logits, reference_logits, estimator: str) -> np.ndarray:
    r"""The expected gradient of an estimator used as a loss, the sample held fixed:

    .. math:: g = \mathbb E_{x\sim\pi_\theta}\big[\nabla_\theta k(x)\big|_{x\ \rm fixed}\big]
              = \sum_x \pi_\theta(x)\, \frac{\partial k}{\partial \log\pi(x)}\,
                \nabla_\theta \log\pi_\theta(x)

    for a softmax policy ``pi_theta = softmax(logits)``, where
    ``d log pi(x) / d theta_j = 1[x = j] - pi(j)`` and dk/d log pi is 1 (k1),
    ``log pi - log pi_ref`` (k2), ``1 - r`` (k3).  This is what ``k(x).mean().backward()``
    computes on average over samples: autograd does not differentiate the sampling.  It is
    *not* the gradient of E_pi[k], which also differentiates pi in the expectation (the
    score-function term); for k1 and k3 that full gradient is grad KL(pi || pi_ref).

    Result (spec entry ``kl.estimator-loss-gradient``): k1 gives 0, k2 gives
    grad KL(pi || pi_ref), k3 gives grad KL(pi_ref || pi) = pi - pi_ref.

    >>> estimator_loss_gradient([0.0, 0.0], np.log([0.25, 0.75]), "k3").round(6)
    array([ 0.25, -0.25])

    Finite where the ratio r overflows: pi = (1, e^-800), pi_ref uniform, so pi - pi_ref:

    >>> estimator_loss_gradient([800.0, 0.0], [0.0, 0.0], "k3").round(6)
    array([ 0.5, -0.5])
    """
    estimator = _check_estimator(estimator)
    theta = validation.as_float_array(logits, "logits[K]", ndim=1)
    reference_theta = validation.as_float_array(reference_logits, "reference_logits[K]", ndim=1)
    validation.check_shape(reference_theta, theta.shape, "reference_logits")
    log_pi = theta - theta.max()
    log_pi = log_pi - math.log(float(np.exp(log_pi).sum()))
    log_ref = reference_theta - reference_theta.max()
    log_ref = log_ref - math.log(float(np.exp(log_ref).sum()))
    pi = np.exp(log_pi)
    gradient = np.zeros_like(theta)
    for x in range(len(theta)):          # the sampled outcome
        if estimator == "k1":
            weight = pi[x]
        elif estimator == "k2":
            weight = pi[x] * (log_pi[x] - log_ref[x])
        else:
            # pi(x) (1 - r(x)) with r = pi_ref / pi, written pi(x) - pi_ref(x): r overflows
            # where pi(x) underflows (logits (800, 0) give r = e^800 at x = 1).
            weight = pi[x] - math.exp(log_ref[x])
        for j in range(len(theta)):      # the parameter
            score = float(x == j) - pi[j]
            gradient[j] += weight * score
    return gradient
