r"""Generalised advantage estimation (GAE), k-step advantages and lambda-returns.

Source: seed 001 "PPO", "3. 优势的推导" (k-step advantages A^1, A^2, ... and the
(1 - lambda)-weighted form); seed 003 "（4）重新设计优势" (the recursion
Adv_t = delta_t + gamma lambda Adv_{t+1}, and returns = advantages + values); Schulman,
Moritz, Levine, Jordan & Abbeel (2016), "High-dimensional continuous control using
generalized advantage estimation", eqs. 11-16.

Conventions (the canonical GAE signature of ``rlspec check gae``):

* time-major arrays for one segment of experience of length T: ``rewards[t]`` = r_t (the
  reward after the action at step t), ``values[t]`` = V(s_t), ``next_values[t]`` = V of the
  observation that followed step t.  On a *truncated* step that observation is the final
  one of the episode (gymnasium's ``final_observation``), not the first of the next
  episode; on a *terminated* step next_values[t] is ignored.
* ``terminated[t]``, ``truncated[t]``: booleans of step t, as ``env.step`` returns them.
  Step t is done when either is true; a terminated step never bootstraps, a truncated one
  bootstraps from next_values[t]; both cut the recursion (the next step starts a new
  episode).  When both are true, termination wins.
* The last step of the segment, when not done, bootstraps from next_values[T-1] (the
  value of the observation where the next segment will start).
* For a real rollout next_values[t] = values[t+1] whenever step t is not done (the same
  observation); only then do the recursion and the k-step form agree (``gae.lambda-
  weighted-sum``).
* Arrays may also be (T, N): N environments side by side, each column its own segment.
  float64 throughout; gamma and lambda in [0, 1].
"""

from __future__ import annotations

import numpy as np

from rlspec import validation

__all__ = ["generalized_advantage_estimation", "lambda_returns", "k_step_advantages",
           "gae_from_k_step_advantages"]


def _segment(rewards, values, next_values, terminated, truncated, gamma, lam=0.0):
    rewards = validation.as_float_array(rewards, "rewards[t]")
    if rewards.ndim not in (1, 2):
        raise validation.InvalidInputError(
            f"rewards[t] must be 1-D (T,) or 2-D (T, N) time-major, got shape {rewards.shape}")
    arrays = [rewards]
    for name, array in (("values[t]", values), ("next_values[t]", next_values)):
        array = validation.as_float_array(array, name)
        validation.check_shape(array, rewards.shape, name)
        arrays.append(array)
    for name, array in (("terminated[t]", terminated), ("truncated[t]", truncated)):
        array = validation.as_float_array(array, name)
        validation.check_shape(array, rewards.shape, name)
        if not np.all((array == 0) | (array == 1)):
            raise validation.InvalidInputError(f"{name} must hold booleans (0 or 1)")
        arrays.append(array.astype(bool))
    gamma = validation.check_gamma(gamma)
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:  # also rejects NaN
        raise validation.InvalidInputError(f"lam (lambda) must lie in [0, 1], got {lam!r}")
    return (*arrays, gamma, lam)


def generalized_advantage_estimation(rewards, values, next_values, terminated, truncated,
                                     gamma, lam) -> np.ndarray:
    r"""GAE advantages by the backward recursion.

    .. math:: \delta_t = r_t + \gamma (1 - \text{terminated}_t)\, V(s'_t) - V(s_t)
    .. math:: A_t = \delta_t + \gamma\lambda (1 - \text{done}_t)\, A_{t+1},\qquad A_T = 0,
              \qquad \text{done}_t = \text{terminated}_t \lor \text{truncated}_t

    Source: seed 003 "（4）重新设计优势" (the recursion); seed 001 "3. 优势的推导" (the
    weighted form it equals); Schulman et al. (2016), eq. 16.  The conventions are the
    module's: ``next_values[t]`` is V(s'_t) even on truncation.

    Limits: lambda = 0 gives the TD residual delta_t; lambda = 1 gives the discounted
    return to the end of the episode piece (bootstrapped where it was cut) minus V(s_t).

    Example (three steps, gamma = 1/2, lambda = 1/2, so gamma lambda = 1/4): rewards
    (1, 0, 2), values (1, 2, 4), next_values (2, 4, 8), step 1 truncated.  Then
    delta = (1 + 1 - 1, 0 + 2 - 2, 2 + 4 - 4) = (1, 0, 2); step 1 cuts the recursion, so
    A_2 = 2, A_1 = 0, A_0 = 1 + 0 / 4 = 1.

    >>> generalized_advantage_estimation([1.0, 0.0, 2.0], [1.0, 2.0, 4.0], [2.0, 4.0, 8.0],
    ...                                  [False, False, False], [False, True, False], 0.5, 0.5)
    array([1., 0., 2.])
    """
    rewards, values, next_values, terminated, truncated, gamma, lam = _segment(
        rewards, values, next_values, terminated, truncated, gamma, lam)
    advantages = np.zeros_like(rewards)
    carry = np.zeros_like(rewards[0])  # A_{t+1}, one per environment
    for t in reversed(range(rewards.shape[0])):
        bootstrap = np.where(terminated[t], 0.0, gamma * next_values[t])
        delta = rewards[t] + bootstrap - values[t]
        done = terminated[t] | truncated[t]
        carry = delta + gamma * lam * np.where(done, 0.0, carry)
        advantages[t] = carry
    return advantages


def lambda_returns(rewards, values, next_values, terminated, truncated, gamma, lam) -> np.ndarray:
    r"""The lambda-returns, the critic's regression targets in PPO: advantages + values.

    .. math:: G^\lambda_t = A_t + V(s_t)

    Written as a recursion: G^lambda_t = r_t on a terminated step; r_t + gamma V(s'_t) on a
    truncated step and on the segment's last step; otherwise
    r_t + gamma [(1 - lambda) V(s'_t) + lambda G^lambda_{t+1}].  Equivalently the
    (1 - lambda)-weighted average of k-step returns (Sutton & Barto 2018, eq. 12.2, cut at
    the end of the episode piece), which is what the oracle computes.

    Source: seed 003 "（4）重新设计优势": returns_t = A_t + V_t = r_t + gamma (V_{t+1} +
    lambda A_{t+1}); seed 001 "4. 训练 state value 网络" (the critic's label).

    Example: the three steps of :func:`generalized_advantage_estimation` give
    A = (1, 0, 2) and values (1, 2, 4), so G^lambda = (2, 2, 6).

    >>> lambda_returns([1.0, 0.0, 2.0], [1.0, 2.0, 4.0], [2.0, 4.0, 8.0],
    ...                [False, False, False], [False, True, False], 0.5, 0.5)
    array([2., 2., 6.])
    """
    advantages = generalized_advantage_estimation(rewards, values, next_values, terminated,
                                                  truncated, gamma, lam)
    return advantages + np.asarray(values, dtype=np.float64)


def k_step_advantages(rewards, values, next_values, terminated, truncated, gamma, k) -> np.ndarray:
    r"""The k-step advantage from every step, cut where the episode piece ends.

    .. math:: A^{(k)}_t = \sum_{l=0}^{m-1} \gamma^l r_{t+l}
              + \gamma^m (1 - \text{terminated}_{t+m-1})\, V(s'_{t+m-1}) - V(s_t),
              \qquad m = \min(k, n_t)

    where n_t is the number of steps from t to the end of its episode piece (the first done
    step, or the end of the segment).  Source: seed 001 "3. 优势的推导", A^1, A^2, A^3;
    seed 002 "A3C" (the same sum with k steps).  1-D arrays only.

    Example: rewards (1, 1, 1), values 0, next_values (0, 0, 8), nothing done, gamma 1/2,
    k = 2: A^(2)_0 = 1 + 1/2 = 1.5 (bootstrap V(s_2) = next_values[1] = 0),
    A^(2)_1 = 1 + 1/2 + 8/4 = 3.5, A^(2)_2 = 1 + 8/2 = 5 (only one step is left).

    >>> k_step_advantages([1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 8.0],
    ...                   [False] * 3, [False] * 3, 0.5, 2)
    array([1.5, 3.5, 5. ])
    """
    rewards, values, next_values, terminated, truncated, gamma, _ = _segment(
        rewards, values, next_values, terminated, truncated, gamma)
    if rewards.ndim != 1:
        raise validation.InvalidInputError("k_step_advantages takes one environment: 1-D arrays")
    if int(k) != k or k < 1:
        raise validation.InvalidInputError(f"k must be an integer >= 1, got {k!r}")
    done = terminated | truncated
    size = rewards.size
    advantages = np.zeros(size)
    for t in range(size):
        total, discount, last = 0.0, 1.0, t
        for last in range(t, min(t + int(k), size)):
            total += discount * rewards[last]
            discount *= gamma
            if done[last]:
                break
        if not terminated[last]:
            total += discount * next_values[last]
        advantages[t] = total - values[t]
    return advantages


def gae_from_k_step_advantages(rewards, values, next_values, terminated, truncated, gamma,
                               lam) -> np.ndarray:
    r"""GAE as the notes define it: a (1 - lambda)-weighted average of k-step advantages.

    .. math:: A_t = (1-\lambda) \sum_{k=1}^{n_t - 1} \lambda^{k-1} A^{(k)}_t + \lambda^{n_t - 1} A^{(n_t)}_t

    where n_t is the number of steps left in t's episode piece, so every k >= n_t gives the
    same A^(n_t), and the weights (1 - lambda) lambda^{k-1} for k >= n_t add up to the tail
    weight lambda^{n_t - 1}: the weights sum to 1 for every lambda in [0, 1], including
    lambda = 1, where only the longest advantage remains.

    Source: seed 001 "3. 优势的推导", item 4, A^GAE = (1 - lambda)(A^1 + lambda A^2 +
    lambda^2 A^3 + ...) (spec entry ``gae.lambda-weighted-sum``, erratum: the finite form
    needs the tail weight).  O(T^2); for reading and testing, not for training.

    Example: two steps, gamma = lambda = 1/2, rewards (1, 1), values 0, next_values (0, 4),
    nothing done.  From t = 0: A^(1) = 1, A^(2) = 1 + 1/2 + 4/4 = 2.5, n = 2, so
    A_0 = (1/2) 1 + (1/2) 2.5 = 1.75; from t = 1: A_1 = A^(1) = 1 + 4/2 = 3.

    >>> gae_from_k_step_advantages([1.0, 1.0], [0.0, 0.0], [0.0, 4.0], [False] * 2,
    ...                            [False] * 2, 0.5, 0.5)
    array([1.75, 3.  ])
    """
    rewards, values, next_values, terminated, truncated, gamma, lam = _segment(
        rewards, values, next_values, terminated, truncated, gamma, lam)
    if rewards.ndim != 1:
        raise validation.InvalidInputError("gae_from_k_step_advantages takes 1-D arrays")
    done = terminated | truncated
    size = rewards.size
    by_k = [k_step_advantages(rewards, values, next_values, terminated, truncated, gamma, k)
            for k in range(1, size + 1)]
    advantages = np.zeros(size)
    for t in range(size):
        remaining = next(u for u in range(t, size) if done[u] or u == size - 1) - t + 1
        weighted = sum((1.0 - lam) * lam ** (k - 1) * by_k[k - 1][t] for k in range(1, remaining))
        advantages[t] = weighted + lam ** (remaining - 1) * by_k[remaining - 1][t]
    return advantages
