"""Soft actor-critic: the soft Bellman target, the tanh-squashed Gaussian policy's
log-density (and its rescaling to action bounds), the automatic temperature loss and the
actor loss.

Sources: Haarnoja, Zhou, Abbeel & Levine (2018a), "Soft Actor-Critic: Off-Policy Maximum
Entropy Deep Reinforcement Learning with a Stochastic Actor", ICML (eqs. 5-7, 12-13 and
Appendix C, "Enforcing Action Bounds"); Haarnoja, Zhou, Hartikainen, Tucker, Ha, Tan,
Kumar, Zhu, Gupta, Abbeel & Levine (2018b), "Soft Actor-Critic Algorithms and Applications",
arXiv:1812.05905 (twin critics, eq. 18 for the temperature).  The notes only name SAC: seed
000 has an empty "## SAC" section and lists SAC as off-policy.

The losses (``temperature_loss``, ``temperature_loss_log_alpha``, ``sac_actor_loss``) take
and return torch tensors, because what matters about a loss is its gradient; the other
functions are numpy in, numpy out.  Batches follow ``rlspec.reference.ddpg``'s conventions.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rlspec import validation
from rlspec.reference.ddpg import _batch
from rlspec.validation import InvalidInputError

__all__ = ["soft_bellman_target", "squashed_gaussian_log_prob", "rescale_squashed_action",
           "rescaled_squashed_gaussian_log_prob", "temperature_loss",
           "temperature_loss_log_alpha", "sac_actor_loss"]

HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)
#: |log_std| beyond this makes sigma = exp(log_std) overflow or vanish in float64 arithmetic
#: downstream ((u - mu) / sigma); SAC implementations clamp log_std to about [-20, 2].
LOG_STD_BOUND = 300.0


def soft_bellman_target(rewards, terminated, truncated, next_q1, next_q2, next_log_probs,
                        alpha, gamma) -> np.ndarray:
    r"""SAC's critic target with twin critics and the entropy bonus inside the bootstrap.

    .. math:: y_i = r_i + \gamma\,(1-\text{terminated}_i)\,\Big(\min_{j=1,2}Q_{\bar\theta_j}(s'_i,\tilde a'_i)
              - \alpha\log\pi_\phi(\tilde a'_i\mid s'_i)\Big),\qquad \tilde a'_i\sim\pi_\phi(\cdot\mid s'_i)

    Source: Haarnoja et al. (2018a), eqs. (2)-(3) and (5)-(7): the soft value is
    V(s') = E_{a'~pi}[Q(s', a') - alpha log pi(a'|s')], so the entropy term belongs to the
    *next* state and is discounted and masked with it; (2018b) adds the min over two target
    critics.  A sample of this target, averaged over a' ~ pi, is the soft Bellman backup.
    Conventions: ``next_q1``, ``next_q2`` are the target critics at a fresh action ã' drawn
    from the *current* policy in the next observation; ``next_log_probs`` is log pi(ã'|s')
    at that same action; ``alpha`` >= 0 is the temperature; gamma in [0, 1].

    Example: r = 1, gamma = 1/2, critics (4, 6), log pi = -2, alpha = 1/2:
    y = 1 + 1/2 * (4 + 1) = 3.5; terminated: y = 1.

    >>> soft_bellman_target([1.0, 1.0], [0, 1], [0, 0], [4.0, 4.0], [6.0, 6.0], [-2.0, -2.0], 0.5, 0.5)
    array([3.5, 1. ])
    """
    rewards, terminated, _truncated, q1, q2, log_probs = _batch(
        rewards, terminated, truncated, next_q1=next_q1, next_q2=next_q2,
        next_log_probs=next_log_probs)
    gamma = validation.check_gamma(gamma)
    alpha = _temperature(alpha)
    targets = np.empty_like(rewards)
    for i in range(rewards.shape[0]):
        soft_value = min(q1[i], q2[i]) - alpha * log_probs[i]
        targets[i] = rewards[i] + (0.0 if terminated[i] else gamma * soft_value)
    return targets


def squashed_gaussian_log_prob(mean, log_std, pre_tanh) -> np.ndarray:
    r"""log pi(a|s) of a = tanh(u), u ~ N(mean, diag(exp(log_std))^2), summed over dimensions.

    .. math:: \log\pi(a\mid s) = \sum_{j=1}^{d}\Big[\log\mathcal N(u_j;\mu_j,\sigma_j)
              - \log\big(1-\tanh^2 u_j\big)\Big],\qquad
              \log\big(1-\tanh^2 u\big) = 2\big(\log 2 - u - \operatorname{softplus}(-2u)\big)

    Source: Haarnoja et al. (2018a), Appendix C, eq. (21) (change of variables: the density
    of a = tanh(u) is the density of u divided by |da/du| = 1 - tanh(u)^2).  The second
    form, exact algebra since 1 - tanh(u)^2 = 4 e^{-2u} / (1 + e^{-2u})^2, is the one used
    here: the first rounds 1 - tanh(u)^2 to 0 once |u| > 19 and returns +inf, while this one
    is finite for every finite u.
    Conventions: ``mean[N, d]``, ``log_std[N, d]`` (the natural log of the standard
    deviation), ``pre_tanh[N, d]`` = u, the sample before squashing (the reparameterised
    sample mean + exp(log_std) * eps); returns ``log_prob[N]``.  Actions scaled to bounds
    [low, high] by a = c + s tanh(u) subtract a further sum_j log s_j, which is not included.

    Example: one dimension, mean 0, log_std 0, u = 0: log N(0; 0, 1) = -log(2 pi) / 2
    = -0.918939 and the correction is log(1 - 0) = 0.  At u = 50 the naive form gives inf;
    here log(1 - tanh(50)^2) = 2 (log 2 - 50) - 2 log1p(e^-100) = -98.6137, so with mean 50
    log pi = -0.9189 + 98.6137 = 97.6948 (a density far above 1 near the bound a = 1).

    >>> squashed_gaussian_log_prob([[0.0]], [[0.0]], [[0.0]]).round(6)
    array([-0.918939])
    >>> squashed_gaussian_log_prob([[50.0]], [[0.0]], [[50.0]]).round(4)
    array([97.6948])
    """
    mean = validation.as_float_array(mean, "mean[N, d]", ndim=2)
    log_std = validation.as_float_array(log_std, "log_std[N, d]", ndim=2)
    pre_tanh = validation.as_float_array(pre_tanh, "pre_tanh[N, d]", ndim=2)
    validation.check_shape(log_std, mean.shape, "log_std[N, d] (the shape of mean)")
    validation.check_shape(pre_tanh, mean.shape, "pre_tanh[N, d] (the shape of mean)")
    if np.any(np.abs(log_std) > LOG_STD_BOUND):
        index = tuple(int(i) for i in np.argwhere(np.abs(log_std) > LOG_STD_BOUND)[0])
        raise InvalidInputError(
            f"log_std[N, d] = {float(log_std[index])!r} at index {index} is outside "
            f"[-{LOG_STD_BOUND:g}, {LOG_STD_BOUND:g}]: exp(log_std) would be 0 or overflow "
            f"(implementations clamp log_std to about [-20, 2])")
    n, d = mean.shape
    log_prob = np.zeros(n)
    for i in range(n):
        for j in range(d):
            u = pre_tanh[i, j]
            z = (u - mean[i, j]) / math.exp(log_std[i, j])
            gaussian = -0.5 * z * z - log_std[i, j] - HALF_LOG_TWO_PI
            log_jacobian = 2.0 * (math.log(2.0) - u - _softplus(-2.0 * u))  # log(1 - tanh(u)^2)
            log_prob[i] += gaussian - log_jacobian
    return log_prob


def rescale_squashed_action(pre_tanh, action_low, action_high) -> np.ndarray:
    r"""The action in the box [low, high] from the pre-squash sample u: an affine map of tanh(u).

    .. math:: a = \ell + \big(\tanh u + 1\big)\,\frac{h - \ell}{2} = c + s\tanh u,\qquad
              s = \frac{h-\ell}{2},\quad c = \frac{h+\ell}{2}

    tanh maps onto (-1, 1) and the affine map takes -1 to low and +1 to high, dimension by
    dimension, so every action is strictly inside the box and none is clipped.
    Source: Haarnoja et al. (2018a), Appendix C ("Enforcing Action Bounds": an unbounded
    Gaussian squashed by tanh); the affine rescaling is how the authors' code and CleanRL
    (``action_scale``, ``action_bias``) fit it to an environment's bounds.
    Conventions: ``pre_tanh[N, d]`` = u; ``action_low[d]``, ``action_high[d]`` finite, with
    low < high (scalars are broadcast); returns ``actions[N, d]``.  Computed as written in
    the first form, which returns exactly low and high when tanh rounds to -1 and +1.

    Example: u = 0 in [0, 4] gives the centre, 2; u = atanh(1/2) in [-1, 3] gives
    -1 + (3/2)(2) = 2.

    >>> rescale_squashed_action([[0.0, math.atanh(0.5)]], [0.0, -1.0], [4.0, 3.0]).round(12)
    array([[2., 2.]])
    """
    pre_tanh = validation.as_float_array(pre_tanh, "pre_tanh[N, d]", ndim=2)
    low, high = _action_bounds(action_low, action_high, pre_tanh.shape[1])
    return low + (np.tanh(pre_tanh) + 1.0) * (high - low) / 2.0


def rescaled_squashed_gaussian_log_prob(mean, log_std, pre_tanh, action_low, action_high) -> np.ndarray:
    r"""log pi(a|s) of a = c + s tanh(u), u ~ N(mean, diag(exp(log_std))^2): the squashed
    Gaussian's log-density with the Jacobian of the rescaling.

    .. math:: \log\pi(a\mid s) = \sum_{j=1}^{d}\Big[\log\mathcal N(u_j;\mu_j,\sigma_j)
              - \log\big(s_j\,(1-\tanh^2 u_j)\big)\Big],\qquad s_j = \frac{h_j-\ell_j}{2}

    da_j/du_j = s_j (1 - tanh^2 u_j), so the correction of ``squashed_gaussian_log_prob``
    gains sum_j log s_j; the density then integrates to 1 over the box, not over (-1, 1)^d.
    Source: Haarnoja et al. (2018a), Appendix C, eq. (21) with the Jacobian of a = c + s tanh u
    (the authors' code and CleanRL subtract log(action_scale * (1 - tanh(u)^2))).
    Conventions: as ``squashed_gaussian_log_prob``, plus the bounds of
    ``rescale_squashed_action``; the log(1 - tanh^2 u) term is evaluated stably.

    Example: d = 1, mean = log_std = u = 0, bounds [-2, 2] (s = 2): -log(2 pi) / 2 - log 2
    = -1.612086; bounds [-1, 1] give the unscaled -0.918939.

    >>> rescaled_squashed_gaussian_log_prob([[0.0]], [[0.0]], [[0.0]], [-2.0], [2.0]).round(6)
    array([-1.612086])
    """
    log_prob = squashed_gaussian_log_prob(mean, log_std, pre_tanh)
    low, high = _action_bounds(action_low, action_high, np.shape(pre_tanh)[1])
    return log_prob - np.log((high - low) / 2.0).sum()


def temperature_loss(log_alpha, log_probs, target_entropy) -> torch.Tensor:
    r"""The temperature objective of Haarnoja et al. (2018b), eq. (18), with alpha = exp(log_alpha).

    .. math:: J(\alpha) = \frac1N\sum_{i}\big[-\alpha\,\big(\log\pi(a_i\mid s_i) + \bar{\mathcal H}\big)\big],
              \qquad \frac{\partial J}{\partial\log\alpha} = -\alpha\Big(\overline{\log\pi} + \bar{\mathcal H}\Big)

    The gradient's sign is the point: when the policy's entropy -mean(log pi) is below the
    target H̄, mean(log pi) + H̄ > 0, the gradient is negative, and gradient *descent* raises
    alpha (more weight on entropy); above the target, alpha falls.
    Source: (2018b) eq. (18) and Algorithm 1 ("α ← α − λ ∇̂_α J(α)"), optimised through
    log alpha so that alpha stays positive, as rail-berkeley/softlearning and CleanRL do.
    ``temperature_loss_log_alpha`` is the other common form (spec entry
    ``sac.temperature-loss-log-alpha``).
    Conventions: ``log_alpha`` a 0-d tensor (the trained parameter); ``log_probs[N]`` the
    log-densities of fresh actions from the current policy; they are *detached* here, so
    this loss trains only the temperature.  ``target_entropy`` a float (commonly -dim(A)).
    Returns a 0-d float64 tensor: the batch mean (a sum would scale alpha's step by N).

    Example: log_alpha = 0 (alpha = 1), log pi = (-1, 0), target -1: J = -(-2 - 1) / 2 = 1.5;
    entropy 0.5 is above the target -1, and dJ/dlog_alpha = +1.5 > 0, so alpha decreases.

    >>> log_alpha = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    >>> loss = temperature_loss(log_alpha, torch.tensor([-1.0, 0.0]), -1.0)
    >>> loss.backward(); float(loss.detach()), float(log_alpha.grad)
    (1.5, 1.5)
    """
    log_alpha, log_probs, target_entropy = _temperature_arguments(log_alpha, log_probs, target_entropy)
    slack = log_probs.detach() + target_entropy
    return (-torch.exp(log_alpha) * slack).mean()


def temperature_loss_log_alpha(log_alpha, log_probs, target_entropy) -> torch.Tensor:
    r"""The temperature loss written in log alpha, as rail-berkeley/softlearning (TF1) and
    Stable-Baselines3 write it.

    .. math:: L(\log\alpha) = \frac1N\sum_i\big[-\log\alpha\,\big(\log\pi(a_i\mid s_i)+\bar{\mathcal H}\big)\big],
              \qquad \frac{\partial L}{\partial\log\alpha} = -\Big(\overline{\log\pi}+\bar{\mathcal H}\Big)

    Its gradient is eq. (18)'s divided by alpha > 0: the same sign, so the same fixed point
    (mean log pi = -H̄) and the same direction of every step, with a step size that does
    not shrink as alpha -> 0.  The value differs from ``temperature_loss``, so the two are
    separate checks.
    Source: Haarnoja et al. (2018b) eq. (18) for the objective; the log alpha form is the
    softlearning / SB3 implementation choice (discussed in DLR-RM/stable-baselines3#36).
    Conventions as ``temperature_loss``.

    Example: log_alpha = 0, log pi = (-1, 0), target -1: L = -0 * ... = 0 and
    dL/dlog_alpha = -(-0.5 - 1) = 1.5.

    >>> log_alpha = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    >>> loss = temperature_loss_log_alpha(log_alpha, torch.tensor([-1.0, 0.0]), -1.0)
    >>> loss.backward(); float(loss.detach()), float(log_alpha.grad)
    (0.0, 1.5)
    """
    log_alpha, log_probs, target_entropy = _temperature_arguments(log_alpha, log_probs, target_entropy)
    slack = log_probs.detach() + target_entropy
    return (-log_alpha * slack).mean()


def sac_actor_loss(log_probs, q1, q2, alpha) -> torch.Tensor:
    r"""SAC's policy loss  mean(alpha log pi(ã|s) - min(Q_1(s, ã), Q_2(s, ã))).

    .. math:: J_\pi(\phi) = \frac1N\sum_i\Big[\alpha\log\pi_\phi(\tilde a_i\mid s_i)
              - \min_{j=1,2}Q_{\theta_j}(s_i,\tilde a_i)\Big],\qquad
              \tilde a_i = \tanh\big(\mu_\phi(s_i) + \sigma_\phi(s_i)\,\epsilon_i\big)

    Source: Haarnoja et al. (2018a), eq. (12)-(13) (the reparameterised KL objective, up to a
    constant), with the min of the twin critics as in (2018b) and its reference code.
    Minimising it raises the soft value  E[min Q - alpha log pi].
    Conventions: ``log_probs[N]``, ``q1[N]``, ``q2[N]`` are tensors that carry the graph back
    to the actor's parameters through the reparameterised action ã (so they must not be
    detached); ``alpha`` is the current temperature as a number; a tensor is detached, since
    this loss must not train the temperature.  Returns a 0-d float64 tensor.  Gradients:
    d/dlog pi_i = alpha / N; d/dQ_j,i = -1/N on the smaller critic and 0 on the other.

    Example: alpha 1/2, log pi = (-2, 0), critics (1, 3) and (2, -1): the minima are (1, -1),
    the loss is mean(-1 - 1, 0 + 1) = -0.5.

    >>> float(sac_actor_loss(torch.tensor([-2.0, 0.0]), torch.tensor([1.0, 3.0]),
    ...                      torch.tensor([2.0, -1.0]), 0.5))
    -0.5
    """
    log_probs = _tensor(log_probs, "log_probs[N]", ndim=1)
    q1 = _tensor(q1, "q1[N]", ndim=1)
    q2 = _tensor(q2, "q2[N]", ndim=1)
    for name, tensor in (("q1[N]", q1), ("q2[N]", q2)):
        if tensor.shape != log_probs.shape:
            raise InvalidInputError(f"{name} must have the shape of log_probs, {tuple(log_probs.shape)}, "
                                    f"got {tuple(tensor.shape)}")
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach()
    alpha = _temperature(alpha)
    return (alpha * log_probs - torch.minimum(q1, q2)).mean()


# ------------------------------------------------------------------------ helpers

def _softplus(x: float) -> float:
    """log(1 + e^x) without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _action_bounds(action_low, action_high, d: int) -> tuple[np.ndarray, np.ndarray]:
    low = np.broadcast_to(validation.as_float_array(action_low, "action_low[d]"), (d,))
    high = np.broadcast_to(validation.as_float_array(action_high, "action_high[d]"), (d,))
    if not np.all(low < high):
        j = int(np.flatnonzero(~(low < high))[0])
        raise InvalidInputError(f"action_low[{j}] = {float(low[j])!r} must be below action_high[{j}] = "
                                f"{float(high[j])!r}: the box has no interior to rescale onto")
    return low, high


def _temperature(alpha) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise InvalidInputError(f"alpha must be a non-negative number, got {alpha!r}") from None
    if not (value >= 0.0 and math.isfinite(value)):
        raise InvalidInputError(f"alpha (the temperature) must be finite and >= 0, got {alpha!r}")
    return value


def _tensor(value, name: str, ndim: int) -> torch.Tensor:
    """A float64 tensor that keeps ``value``'s autograd graph; finite, of ``ndim`` dimensions."""
    tensor = value if isinstance(value, torch.Tensor) else \
        torch.as_tensor(validation.as_float_array(value, name))
    tensor = tensor.to(torch.float64)
    if tensor.dim() != ndim:
        raise InvalidInputError(f"{name} must be {ndim}-D, got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor.detach()).all()):
        raise InvalidInputError(f"{name} contains NaN or infinity")
    return tensor


def _temperature_arguments(log_alpha, log_probs, target_entropy):
    if isinstance(log_alpha, torch.Tensor) and log_alpha.numel() == 1:
        log_alpha = log_alpha.reshape(())  # a parameter of shape (1,), as SB3 keeps it
    log_alpha = _tensor(log_alpha, "log_alpha", ndim=0)
    log_probs = _tensor(log_probs, "log_probs[N]", ndim=1)
    if log_probs.numel() == 0:
        raise InvalidInputError("log_probs[N] is empty: the loss is a mean over at least one sample")
    try:
        target_entropy = float(target_entropy)
    except (TypeError, ValueError):
        raise InvalidInputError(f"target_entropy must be a number, got {target_entropy!r}") from None
    if not math.isfinite(target_entropy):
        raise InvalidInputError(f"target_entropy must be finite, got {target_entropy!r}")
    return log_alpha, log_probs, target_entropy
