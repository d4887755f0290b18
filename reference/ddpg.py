"""Deterministic actor-critics: the deterministic policy gradient, DDPG's soft target update
and its critic target.

Sources.  The notes name these methods but state no formulas: seed 000 has an empty
"## DDPG" section, seed 002 lists "确定性策略梯度 (DPG) , DDPG , TD3" under
"基于确定性策略的方法", and seed 003's interview questions 7-1 to 7-3 describe DDPG in words.
The formulas here are the papers': Silver, Lever, Heess, Degris, Wierstra & Riedmiller
(2014), "Deterministic Policy Gradient Algorithms", ICML, Theorem 1; Lillicrap, Hunt,
Pritzel, Heess, Erez, Tassa, Silver & Wierstra (2016), "Continuous control with deep
reinforcement learning", ICLR, Algorithm 1.

Conventions shared with ``td3`` and ``sac``: a batch of N transitions is given as 1-D float64
arrays indexed by transition; ``terminated[i]`` and ``truncated[i]`` are 0/1 flags (or bools)
with gymnasium's meaning: *terminated* means s' is a terminal state, whose value is 0 by
definition; *truncated* means the episode was cut off (a time limit) at a state that has a
value, so the target still bootstraps from it.  ``next_q[i]`` must then be the target critic's
value of the true final observation, not of the first observation of the next episode.
"""

from __future__ import annotations

import numpy as np

from rlspec import validation
from rlspec.validation import InvalidInputError

__all__ = ["deterministic_policy_gradient_lqr", "soft_target_update", "ddpg_critic_target"]

#: Iterations of the policy-evaluation and visitation recursions stop when an update changes
#: no entry by more than this, relative to the largest entry.  The recursions contract with
#: factor c = gamma * rho(M)^2 < 1 (in a suitable norm), so the error left is about
#: c / (1 - c) times this: far below the checks' 1e-6 for any c up to 1 - 1e-6.
LYAPUNOV_THRESHOLD = 1e-15
LYAPUNOV_MAX_ITERATIONS = 1_000_000
#: Q, R and Sigma_0 may differ from their transposes by rounding in their construction.
SYMMETRY_TOLERANCE = 1e-12


# ------------------------------------------------------------------ shared validation

def _flags(value, name: str, size: int) -> np.ndarray:
    """A 0/1 flag vector of length ``size`` as float64, or a clear error."""
    array = validation.as_float_array(value, f"{name}[N]", ndim=1)
    validation.check_shape(array, (size,), f"{name}[N]")
    bad = (array != 0.0) & (array != 1.0)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"{name}[N] must hold 0/1 flags or booleans, got "
                                f"{float(array[index])!r} at index {index}")
    return array


def _batch(rewards, terminated, truncated, **values) -> tuple[np.ndarray, ...]:
    """Validate a batch of transitions: rewards, the two flags and any per-transition values."""
    rewards = validation.as_float_array(rewards, "rewards[N]", ndim=1)
    size = rewards.shape[0]
    checked = [rewards, _flags(terminated, "terminated", size), _flags(truncated, "truncated", size)]
    for name, value in values.items():
        array = validation.as_float_array(value, f"{name}[N]", ndim=1)
        validation.check_shape(array, (size,), f"{name}[N]")
        checked.append(array)
    return tuple(checked)


def _square(value, name: str, size: int | None = None) -> np.ndarray:
    array = validation.as_float_array(value, name, ndim=2)
    if array.shape[0] != array.shape[1] or (size is not None and array.shape[0] != size):
        expected = f"({size}, {size})" if size is not None else "square"
        raise InvalidInputError(f"{name} must be {expected}, got shape {array.shape}")
    return array


def _lqr_arguments(dynamics, control, state_cost, action_cost, gain, initial_covariance, gamma):
    """Validate the linear-quadratic problem; return its arrays and gamma."""
    dynamics = _square(dynamics, "dynamics A[n, n]")
    n_states = dynamics.shape[0]
    control = validation.as_float_array(control, "control B[n, m]", ndim=2)
    if control.shape[0] != n_states:
        raise InvalidInputError(f"control B[n, m] must have n = {n_states} rows, got shape "
                                f"{control.shape}")
    n_actions = control.shape[1]
    state_cost = _square(state_cost, "state_cost Q[n, n]", n_states)
    action_cost = _square(action_cost, "action_cost R[m, m]", n_actions)
    gain = validation.as_float_array(gain, "gain K[m, n]", ndim=2)
    validation.check_shape(gain, (n_actions, n_states), "gain K[m, n]")
    initial_covariance = _square(initial_covariance, "initial_covariance Sigma_0[n, n]", n_states)
    for name, matrix in (("state_cost Q", state_cost), ("action_cost R", action_cost),
                         ("initial_covariance Sigma_0", initial_covariance)):
        asymmetry = float(np.max(np.abs(matrix - matrix.T)))
        if asymmetry > SYMMETRY_TOLERANCE * max(1.0, float(np.max(np.abs(matrix)))):
            raise InvalidInputError(
                f"{name} must be symmetric (only its symmetric part enters a quadratic form, and "
                f"the gradient formula -2 R a assumes R = R'); it differs from its transpose by "
                f"{asymmetry:.3g}")
    gamma = validation.check_gamma(gamma)
    closed_loop = dynamics + control @ gain
    radius = float(np.max(np.abs(np.linalg.eigvals(closed_loop)), initial=0.0))
    if gamma * radius ** 2 >= 1.0:
        raise InvalidInputError(
            f"the closed loop A + B K has spectral radius {radius:.6g}, so gamma * rho^2 = "
            f"{gamma * radius ** 2:.6g} >= 1: the discounted cost is infinite and J has no gradient")
    return dynamics, control, state_cost, action_cost, gain, initial_covariance, gamma


def _iterate_to_fixed_point(step, start: np.ndarray, what: str) -> np.ndarray:
    current = start
    for _ in range(LYAPUNOV_MAX_ITERATIONS):
        updated = step(current)
        scale = max(1.0, float(np.max(np.abs(updated))))
        if float(np.max(np.abs(updated - current))) <= LYAPUNOV_THRESHOLD * scale:
            return updated
        current = updated
    raise RuntimeError(f"the {what} recursion did not converge in {LYAPUNOV_MAX_ITERATIONS} "
                       f"iterations (gamma * rho(A + B K)^2 is too close to 1)")


# ----------------------------------------------------------------- DPG theorem

def deterministic_policy_gradient_lqr(dynamics, control, state_cost, action_cost, gain,
                                      initial_covariance, gamma) -> np.ndarray:
    r"""dJ/dK for the linear policy mu_K(s) = K s, by the deterministic policy gradient theorem.

    .. math:: \nabla_\theta J(\mu_\theta) = \mathbb E_{s\sim\rho^{\mu}}\Big[\nabla_\theta\mu_\theta(s)\,
              \nabla_a Q^{\mu}(s,a)\big|_{a=\mu_\theta(s)}\Big],
              \qquad \rho^{\mu}(s) = \sum_{t\ge 0}\gamma^t\, p(s_t = s)

    (Silver et al. 2014, Theorem 1: the visitation is the *unnormalised* discounted one.)
    Here on the discounted linear-quadratic problem, where every term has a closed form:

    - dynamics s_{t+1} = A s_t + B a_t, reward r_t = -(s_t' Q s_t + a_t' R a_t), a_t = K s_t,
      and a start state s_0 with second moment E[s_0 s_0'] = Sigma_0;
    - policy evaluation: V^mu(s) = -s' P s with P = Q + K' R K + gamma M' P M, M = A + B K,
      so Q^mu(s, a) = -s' Q s - a' R a + gamma V^mu(A s + B a) and
      grad_a Q^mu(s, K s) = -2 (R K + gamma B' P M) s =: G s;
    - the discounted visitation enters only through its second moment
      Sigma_K = sum_t gamma^t E[s_t s_t'] = Sigma_0 + gamma M Sigma_K M';
    - d mu_i / d K_jk = [i = j] s_k, so the theorem gives dJ/dK = G Sigma_K, an [m, n] array.

    Source: seed 002 "基于确定性策略的方法" and seed 000 "## DDPG" name the method without a
    formula; the statement is Silver et al. (2014), Theorem 1.
    Conventions: ``gain[m, n]`` is K (the action is +K s, no minus sign); the answer has K's
    shape.  P and Sigma_K are found by plain fixed-point iteration (policy evaluation of a
    quadratic value), which converges because gamma * rho(M)^2 < 1 (checked on entry).

    Example: one state, one action, A = 1/2, B = 1, Q = R = 1, K = 0, Sigma_0 = 1, gamma = 1/2:
    M = 1/2, P = 1 + P/8 gives P = 8/7, Sigma_K = 1 + Sigma_K / 8 gives Sigma_K = 8/7, and
    G = -2 (0 + 1/2 * 8/7 * 1/2) = -4/7, so dJ/dK = -4/7 * 8/7 = -32/49 (pushing the action
    towards -s, which shrinks the state).

    >>> deterministic_policy_gradient_lqr([[0.5]], [[1.0]], [[1.0]], [[1.0]], [[0.0]], [[1.0]], 0.5)
    array([[-0.65306122]])
    >>> -32 / 49
    -0.6530612244897959
    """
    a, b, q, r, k, sigma_0, gamma = _lqr_arguments(dynamics, control, state_cost, action_cost,
                                                   gain, initial_covariance, gamma)
    closed_loop = a + b @ k
    one_step_cost = q + k.T @ r @ k
    # Policy evaluation: V(s) = -s' P s.
    p = _iterate_to_fixed_point(lambda p: one_step_cost + gamma * closed_loop.T @ p @ closed_loop,
                                np.zeros_like(q), "value (P)")
    # The critic's action gradient at a = K s is G s.
    action_gradient = -2.0 * (r @ k + gamma * b.T @ p @ closed_loop)
    # Discounted state visitation, second moment.
    visits = _iterate_to_fixed_point(lambda s: sigma_0 + gamma * closed_loop @ s @ closed_loop.T,
                                     np.zeros_like(sigma_0), "visitation (Sigma_K)")
    # E_{s ~ rho}[ grad_K mu(s) grad_a Q ] = E[(G s) s'] = G Sigma_K.
    n_actions, n_states = k.shape
    gradient = np.zeros((n_actions, n_states))
    for i in range(n_actions):
        for j in range(n_states):
            gradient[i, j] = sum(action_gradient[i, l] * visits[l, j] for l in range(n_states))
    return gradient


# ----------------------------------------------------------------- soft target update

def soft_target_update(target_params, online_params, tau) -> np.ndarray:
    r"""The soft ("Polyak") target update of DDPG:  theta' <- tau theta + (1 - tau) theta'.

    .. math:: \theta' \leftarrow \tau\,\theta + (1-\tau)\,\theta'

    Source: Lillicrap et al. (2016), Algorithm 1 (with tau = 0.001 there); the notes' DQN
    "目标网络" (seed 000) and seed 003 question 4-2 describe the hard copy, which is tau = 1.
    Repeated k times towards fixed online parameters it leaves
    theta'_k - theta = (1 - tau)^k (theta'_0 - theta): the target trails the online network
    with a geometric memory of time constant about 1 / tau updates.
    Conventions: ``target_params`` and ``online_params`` are float arrays of one shape (all of
    a network's parameters, flattened or not); ``tau`` in [0, 1].  Returns a new array; the
    inputs are not modified.  Written as ``target + tau * (online - target)`` the same
    update is what ``torch.lerp(target, online, tau)`` computes.

    Example: target 0, online 1, tau = 1/4: one update gives 1/4, a second 7/16
    (= 1 - (3/4)^2).

    >>> soft_target_update([0.0, 2.0], [1.0, 2.0], 0.25)
    array([0.25, 2.  ])
    >>> soft_target_update(soft_target_update([0.0], [1.0], 0.25), [1.0], 0.25)
    array([0.4375])
    """
    target = validation.as_float_array(target_params, "target_params")
    online = validation.as_float_array(online_params, "online_params")
    validation.check_shape(online, target.shape, "online_params (the shape of target_params)")
    try:
        tau = float(tau)
    except (TypeError, ValueError):
        raise InvalidInputError(f"tau must be a number in [0, 1], got {tau!r}") from None
    if not 0.0 <= tau <= 1.0:
        raise InvalidInputError(f"tau must lie in [0, 1] (1 is a hard copy), got {tau!r}")
    updated = np.empty_like(target)
    for index in np.ndindex(target.shape):
        updated[index] = tau * online[index] + (1.0 - tau) * target[index]
    return updated


# ----------------------------------------------------------------- critic target

def ddpg_critic_target(rewards, terminated, truncated, next_q, gamma) -> np.ndarray:
    r"""DDPG's critic target  y = r + gamma (1 - terminated) Q'(s', mu'(s')).

    .. math:: y_i = r_i + \gamma\,(1 - \text{terminated}_i)\,Q_{\omega'}\big(s'_i, \mu_{\theta'}(s'_i)\big)

    Source: Lillicrap et al. (2016), Algorithm 1 ("Set y_i = r_i + gamma Q'(s_{i+1},
    mu'(s_{i+1}|theta^mu')|theta^Q')"), with the termination mask that every implementation
    adds; seed 003 question 4-2 writes the same target without gamma and without the mask
    (spec entry ``ddpg.critic-target``, erratum).
    Conventions: ``next_q[i]`` is the *target* critic at the *target* actor's action in the
    next observation.  A truncated transition still bootstraps: only ``terminated`` masks.
    gamma in [0, 1].

    Example: rewards (1, 1, 1), next_q (10, 10, 10), gamma 1/2; the second transition ends
    in a terminal state and the third is cut off by a time limit:
    y = (1 + 5, 1 + 0, 1 + 5) = (6, 1, 6).

    >>> ddpg_critic_target([1.0, 1.0, 1.0], [0, 1, 0], [0, 0, 1], [10.0, 10.0, 10.0], 0.5)
    array([6., 1., 6.])
    """
    rewards, terminated, _truncated, next_q = _batch(rewards, terminated, truncated, next_q=next_q)
    gamma = validation.check_gamma(gamma)
    targets = np.empty_like(rewards)
    for i in range(rewards.shape[0]):
        bootstrap = 0.0 if terminated[i] else gamma * next_q[i]
        targets[i] = rewards[i] + bootstrap
    return targets
