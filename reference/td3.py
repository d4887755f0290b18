"""TD3: twin critics with a clipped double-Q target, target policy smoothing, and delayed
actor and target updates, and the deterministic actor loss.

Source: Fujimoto, van Hoof & Meger (2018), "Addressing Function Approximation Error in
Actor-Critic Methods", ICML, Section 4 and Algorithm 1.  The notes only name the method
(seed 002, "基于确定性策略的方法": "确定性策略梯度 (DPG) , DDPG , TD3"; seed 000 lists TD3
as off-policy).  Batches follow the conventions of ``rlspec.reference.ddpg``: 1-D float64
arrays indexed by transition, ``terminated`` / ``truncated`` 0/1 flags, and only
``terminated`` stops the bootstrap.
"""

from __future__ import annotations

import numpy as np

import torch

from rlspec import validation
from rlspec.reference.ddpg import _batch
from rlspec.reference.sac import _tensor
from rlspec.validation import InvalidInputError

__all__ = ["clipped_double_q_target", "target_policy_smoothing", "delayed_update_schedule",
           "td3_actor_loss"]


def clipped_double_q_target(rewards, terminated, truncated, next_q1, next_q2, gamma) -> np.ndarray:
    r"""The clipped double-Q target  y = r + gamma (1 - terminated) min(Q'_1, Q'_2).

    .. math:: y_i = r_i + \gamma\,(1-\text{terminated}_i)\,\min_{j=1,2} Q_{\theta'_j}(s'_i, \tilde a_i)

    Source: Fujimoto et al. (2018), eq. (10) and Algorithm 1 (the mask is in the authors'
    code).  Both critics regress on this one target; taking the smaller estimate counters the
    overestimation that maximising a noisy critic produces.
    Conventions: ``next_q1[i]``, ``next_q2[i]`` are the two *target* critics at the smoothed
    target action ã_i (``target_policy_smoothing``) in the next observation; gamma in [0, 1].

    Example: r = 1, gamma = 1/2, critics (4, 6): y = 1 + 2 = 3; if the transition
    terminated, y = 1.

    >>> clipped_double_q_target([1.0, 1.0], [0, 1], [0, 0], [4.0, 4.0], [6.0, 6.0], 0.5)
    array([3., 1.])
    """
    rewards, terminated, _truncated, q1, q2 = _batch(rewards, terminated, truncated,
                                                     next_q1=next_q1, next_q2=next_q2)
    gamma = validation.check_gamma(gamma)
    targets = np.empty_like(rewards)
    for i in range(rewards.shape[0]):
        smaller = q1[i] if q1[i] <= q2[i] else q2[i]
        targets[i] = rewards[i] + (0.0 if terminated[i] else gamma * smaller)
    return targets


def target_policy_smoothing(next_actions, noise, noise_clip, action_low, action_high) -> np.ndarray:
    r"""TD3's smoothed target action  ã = clip(mu'(s') + clip(eps, -c, c), a_low, a_high).

    .. math:: \tilde a = \operatorname{clip}\big(\mu_{\phi'}(s') + \operatorname{clip}(\epsilon,-c,c),\;
              a_{\text{low}},\, a_{\text{high}}\big), \qquad \epsilon\sim\mathcal N(0,\sigma^2)

    Source: Fujimoto et al. (2018), eq. (14) and Algorithm 1 line 12 ("ã ← π_φ'(s') + ε,
    ε ~ clip(N(0, σ̃), −c, c)"); the outer clip to the action bounds is in the authors' code
    and in Spinning Up's statement of the algorithm.
    Conventions: ``next_actions[N, d]`` is the target actor's output mu'(s'); ``noise[N, d]``
    is the Gaussian sample *already scaled* by sigma (and, like ``noise_clip``, in the units
    of the action; the paper's sigma = 0.2 and c = 0.5 are for actions in [-1, 1]); the
    randomness is an input so that the function is deterministic.  ``action_low[d]`` and
    ``action_high[d]`` are the per-dimension bounds (scalars are broadcast).  The noise is
    clipped first, the sum second: clipping only the sum lets noise beyond c through.

    Example: mu' = 0.9, noise 0.7, c = 0.5, bounds [-1, 1]: 0.9 + 0.5 = 1.4, clipped to 1;
    mu' = -0.2, noise -0.1: -0.3 (nothing clipped).

    >>> target_policy_smoothing([[0.9], [-0.2]], [[0.7], [-0.1]], 0.5, [-1.0], [1.0])
    array([[ 1. ],
           [-0.3]])
    """
    actions = validation.as_float_array(next_actions, "next_actions[N, d]", ndim=2)
    noise = validation.as_float_array(noise, "noise[N, d]", ndim=2)
    validation.check_shape(noise, actions.shape, "noise[N, d] (the shape of next_actions)")
    n, d = actions.shape
    low = np.broadcast_to(validation.as_float_array(action_low, "action_low[d]"), (d,))
    high = np.broadcast_to(validation.as_float_array(action_high, "action_high[d]"), (d,))
    if np.any(low > high):
        j = int(np.flatnonzero(low > high)[0])
        raise InvalidInputError(f"action_low[{j}] = {float(low[j])!r} exceeds action_high[{j}] = "
                                f"{float(high[j])!r}")
    try:
        noise_clip = float(noise_clip)
    except (TypeError, ValueError):
        raise InvalidInputError(f"noise_clip must be a non-negative number, got {noise_clip!r}") from None
    if not noise_clip >= 0.0:
        raise InvalidInputError(f"noise_clip must be non-negative, got {noise_clip!r}")
    smoothed = np.empty_like(actions)
    for i in range(n):
        for j in range(d):
            clipped_noise = min(max(noise[i, j], -noise_clip), noise_clip)
            smoothed[i, j] = min(max(actions[i, j] + clipped_noise, low[j]), high[j])
    return smoothed


def delayed_update_schedule(n_updates, policy_delay) -> np.ndarray:
    r"""Which critic updates are followed by an actor update and a target update.

    ``schedule[k - 1] = (actor, targets)`` for the k-th critic update, k = 1, ..., n_updates:
    both are 1 exactly when k is a multiple of the delay d,

    .. math:: \text{update actor and targets after critic update } k \iff k \bmod d = 0 .

    Source: Fujimoto et al. (2018), Section 5.2 and Algorithm 1 ("if t mod d then: update φ
    by the deterministic policy gradient; update target networks"), with t counted from 1 as
    in the authors' code (``total_it += 1`` before the test).  The actor first moves after d
    critic updates, "to minimize error before introducing a policy update"; the target
    networks move with the actor, not after every critic update.  d = 1 is DDPG.
    Conventions: a float64 array of shape [n_updates, 2] holding 0/1; column 0 is the
    actor, column 1 the targets (both critics' and the actor's).

    Example: d = 2 over 5 critic updates: the actor and targets move after updates 2 and 4.

    >>> delayed_update_schedule(5, 2)[:, 0]
    array([0., 1., 0., 1., 0.])
    """
    n_updates = _count(n_updates, "n_updates", minimum=0)
    policy_delay = _count(policy_delay, "policy_delay", minimum=1)
    schedule = np.zeros((n_updates, 2))
    for k in range(1, n_updates + 1):
        if k % policy_delay == 0:
            schedule[k - 1] = (1.0, 1.0)
    return schedule


def td3_actor_loss(q1, q2=None) -> torch.Tensor:
    r"""TD3's actor loss  -mean(Q_1(s, mu(s))): the first critic only, at the online actor's action.

    .. math:: L(\phi) = -\frac1N\sum_{i=1}^N Q_{\theta_1}\big(s_i, \mu_\phi(s_i)\big),\qquad
              \nabla_\phi L = -\frac1N\sum_i \nabla_a Q_{\theta_1}(s_i, a)\big|_{a=\mu_\phi(s_i)}\,
              \nabla_\phi\mu_\phi(s_i)

    Source: Fujimoto et al. (2018), Algorithm 1 ("update φ by the deterministic policy
    gradient ∇_φ J(φ) = N⁻¹ Σ ∇_a Q_θ1(s, a)|_{a=π_φ(s)} ∇_φ π_φ(s)") and Section 4.1: the
    actor ascends Q_θ1 alone; the min of the two critics belongs to the *target*
    (``clipped_double_q_target``), not to the actor.  DDPG's actor loss is the same formula
    with its one critic (Silver et al. 2014; Lillicrap et al. 2016).
    Conventions: ``q1[N]`` is Q_θ1(s_i, mu_φ(s_i)), the first *online* critic at the *online*
    actor's action (not the target actor's), a tensor carrying the graph back to φ through
    the action; ``q2[N]``, the second critic at the same action, is accepted so that the
    twin critics can be passed as SAC's actor loss takes them, and takes no part.  Only the
    actor's optimiser steps on this loss: the critic parameters receive gradient from it
    but must not be updated by it.  Returns a 0-d float64 tensor, the batch mean;
    d L / d q1_i = -1/N, d L / d q2_i = 0.

    Example: Q_1 = (1, 3), Q_2 = (-5, 0): L = -(1 + 3) / 2 = -2 (the smaller critic would
    give 2.5, the sum -4).

    >>> float(td3_actor_loss(torch.tensor([1.0, 3.0]), torch.tensor([-5.0, 0.0])))
    -2.0
    """
    q1 = _tensor(q1, "q1[N]", ndim=1)
    if q1.numel() == 0:
        raise InvalidInputError("q1[N] is empty: the loss is a mean over at least one state")
    if q2 is not None:
        q2 = _tensor(q2, "q2[N]", ndim=1)
        if q2.shape != q1.shape:
            raise InvalidInputError(f"q2[N] must have the shape of q1, {tuple(q1.shape)}, "
                                    f"got {tuple(q2.shape)}")
    return -q1.mean()


def _count(value, name: str, minimum: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number.is_integer() or number < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(number)
