r"""Sample-based policy-gradient estimators: trajectory probability, REINFORCE, the six
psi_t weightings, the variance-minimising baseline, the softmax log-gradient and the
off-policy (importance-weighted) estimator.

Source: seed 000 "Policy-Gradient (Policy-Based Method)" and "Actor-Critic" (the six forms
of psi_t); seed 001 "策略梯度" items 1-5; seed 002 "策略网络的梯度"; seed 003 "2.2 算法内容"
and "2.3 技巧"; seed 004 "CS 285 Lecture 5" (reward-to-go, the optimal baseline).

Conventions:

* A trajectory is ``states[t]``, ``actions[t]``, ``rewards[t]`` for t = 0..T-1 (the notes
  count from 1); ``rewards[t]`` follows the action at step t.
* The objective is the discounted finite-horizon return
  J(theta) = E[sum_{t<T} gamma^t r_t]; gamma = 1 gives the notes' undiscounted R-bar.
* The policy is the tabular softmax pi(a|s) = softmax(theta[s])_a, ``theta[s, a]`` float64,
  so grad log pi(a_t|s_t) is the [S, A] array with row s_t equal to e_{a_t} - pi(.|s_t)
  and zeros elsewhere.  Gradients are returned as [S, A] arrays: an estimate of dJ/dtheta.
* An estimator is g_hat = sum_t w_t grad log pi(a_t|s_t); it is *unbiased* when
  E[g_hat] = grad J exactly.  The weights carry gamma^t (the step's own discount): without
  it the estimators of forms 2-6 are unbiased only at gamma = 1 (``pg.reinforce``, erratum).
"""

from __future__ import annotations

import numpy as np

from rlspec import validation

__all__ = [
    "trajectory_probability", "finite_horizon_objective", "softmax_log_gradient",
    "score_function_gradient", "reinforce_gradient", "reinforce_gradient_total_return",
    "psi_weights", "variance_minimising_baseline", "off_policy_reinforce_gradient",
]


# ------------------------------------------------------------------------ helpers

def _softmax(theta: np.ndarray) -> np.ndarray:
    shifted = np.exp(theta - theta.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _indices(values, name: str, size: int, bound: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size != size:
        raise validation.InvalidInputError(f"{name} must be 1-D of length {size}, got shape {array.shape}")
    if array.size and (not np.all(np.isfinite(array.astype(np.float64)))
                       or np.any(array != np.round(array))):
        raise validation.InvalidInputError(f"{name} must hold integer indices, got {array.tolist()}")
    array = array.astype(np.int64)
    if np.any((array < 0) | (array >= bound)):
        raise validation.InvalidInputError(f"{name} must lie in range({bound}), got {array.tolist()}")
    return array


def _trajectory(theta, states, actions, rewards):
    theta = validation.as_float_array(theta, "theta[s, a]", ndim=2)
    rewards = validation.as_float_array(rewards, "rewards[t]", ndim=1)
    states = _indices(states, "states[t]", rewards.size, theta.shape[0])
    actions = _indices(actions, "actions[t]", rewards.size, theta.shape[1])
    return theta, states, actions, rewards


def _discounted_reward_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_t + gamma G_{t+1}, G_T = 0 (seed 000: G_t = r_t + gamma G_{t+1})."""
    returns, after = np.zeros_like(rewards), 0.0
    for t in reversed(range(rewards.size)):
        after = rewards[t] + gamma * after
        returns[t] = after
    return returns


# ------------------------------------------------------- trajectories and J

def trajectory_probability(initial_distribution, transitions, policy, states, actions) -> float:
    r"""The probability of one trajectory under a policy.

    .. math:: p_\theta(\tau) = p(s_0) \prod_{t=0}^{T-1} \pi_\theta(a_t|s_t)\, p(s_{t+1}|s_t, a_t)

    Source: seed 001 "策略梯度" item 1; seed 000 "Policy-Gradient"; seed 003 "2.2 算法内容".
    ``states`` holds s_0..s_T (one more than ``actions``, a_0..a_{T-1}), as in the notes'
    product, which ends with p(s_{T+1} | s_T, a_T).  Only the policy factors depend on theta,
    so grad log p(tau) = sum_t grad log pi(a_t|s_t) (seed 001 item 3).

    Example: start in state 0 with probability 1/2, take action 1 with probability 1/4,
    which leads to state 1 with probability 1/2: p = 1/2 * 1/4 * 1/2 = 1/16.

    >>> trajectory_probability([0.5, 0.5], [[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.0, 1.0]]],
    ...                        [[0.75, 0.25], [1.0, 0.0]], [0, 1], [1])
    0.0625
    """
    transitions = validation.as_float_array(transitions, "transitions P[s, a, s']", ndim=3)
    n_states, n_actions, _ = transitions.shape
    validation.transitions_and_rewards(transitions, np.zeros((n_states, n_actions)))
    policy = validation.policy_table(policy, n_states, n_actions)
    start = validation.distribution(initial_distribution, n_states, "initial_distribution")
    actions = np.asarray(actions)
    actions = _indices(actions, "actions[t]", actions.size, n_actions)
    states = _indices(states, "states[t] (s_0..s_T, one more than actions)", actions.size + 1,
                      n_states)
    probability = start[states[0]]
    for t, a in enumerate(actions):
        probability *= policy[states[t], a] * transitions[states[t], a, states[t + 1]]
    return float(probability)


def finite_horizon_objective(transitions, rewards, gamma, policy, initial_distribution,
                             horizon) -> float:
    r"""J(theta) = E_{tau ~ p_theta}[sum_{t<H} gamma^t r(s_t, a_t)], by backward induction.

    .. math:: V_H = 0,\quad V_t(s) = \sum_a \pi(a|s)\Big(r(s,a) + \gamma \sum_{s'} P(s'|s,a) V_{t+1}(s')\Big),
              \quad J = \sum_s \nu_0(s) V_0(s)

    Source: seed 001 "策略梯度" item 2 (R-bar = sum_tau R(tau) p(tau)); seed 004 "CS 285
    Lecture 5" (J = E sum_t r(s_t, a_t)).  Summing R(tau) p(tau) over every trajectory
    gives the same number (``tests/test_pg_estimators.py``).

    Example: one state that stays, reward 1, gamma 1/2, H = 3: J = 1 + 1/2 + 1/4 = 1.75.

    >>> finite_horizon_objective([[[1.0]]], [[1.0]], 0.5, [[1.0]], [1.0], 3)
    1.75
    """
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    policy = validation.policy_table(policy, *rewards.shape)
    start = validation.distribution(initial_distribution, rewards.shape[0], "initial_distribution")
    if int(horizon) != horizon or horizon < 1:
        raise validation.InvalidInputError(f"horizon must be an integer >= 1, got {horizon!r}")
    values = np.zeros(rewards.shape[0])
    for _ in range(int(horizon)):
        values = (policy * (rewards + gamma * transitions @ values)).sum(axis=1)
    return float(start @ values)


# ------------------------------------------------------- score functions

def softmax_log_gradient(features, weights, action) -> np.ndarray:
    r"""grad_w log pi(a|s) for the softmax of linear scores f_w(s, a) = phi(s, a) . w.

    .. math:: \nabla_w \log\pi_w(a|s) = \nabla_w f_w(s,a) - \mathbb E_{a'\sim\pi_w(\cdot|s)}\nabla_w f_w(s,a')
              = \phi(s,a) - \sum_{a'} \pi_w(a'|s)\,\phi(s,a')

    Source: seed 002 "策略网络的梯度" (for any score f_theta; here f is linear so its
    gradient is the feature vector).  ``features[a, d]`` = phi(s, a) for the one state s,
    ``weights[d]`` = w; the result has shape (d,).  The tabular softmax is the case
    phi(s, a) = one-hot of (s, a).

    Example: two actions with features (1, 0) and (0, 1), w = 0 (so pi = (1/2, 1/2)):
    grad log pi(0) = (1, 0) - (1/2, 1/2) = (1/2, -1/2).

    >>> softmax_log_gradient([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0], 0)
    array([ 0.5, -0.5])
    """
    features = validation.as_float_array(features, "features phi[a, d]", ndim=2)
    weights = validation.as_float_array(weights, "weights w[d]", ndim=1)
    validation.check_shape(weights, (features.shape[1],), "weights w[d]")
    (action,) = _indices([action], "action", 1, features.shape[0])
    scores = features @ weights
    policy = np.exp(scores - scores.max())
    policy /= policy.sum()
    return features[action] - policy @ features


def score_function_gradient(theta, states, actions, weights) -> np.ndarray:
    r"""sum_t w_t grad_theta log pi_theta(a_t|s_t) for the tabular softmax.

    .. math:: \frac{\partial \log\pi(a_t|s_t)}{\partial\theta_{s,a}} = \mathbb 1[s = s_t]\big(\mathbb 1[a = a_t] - \pi(a|s_t)\big)

    Source: seed 002 "策略网络的梯度" with f_theta(s, a) = theta[s, a].  ``weights[t]`` = w_t.

    Example: one state, two actions, theta = 0, a single step taking action 1 with weight 2:
    2 * ((0, 1) - (1/2, 1/2)) = (-1, 1).

    >>> score_function_gradient([[0.0, 0.0]], [0], [1], [2.0])
    array([[-1.,  1.]])
    """
    weights = validation.as_float_array(weights, "weights w[t]", ndim=1)
    theta, states, actions, weights = _trajectory(theta, states, actions, weights)
    policy = _softmax(theta)
    gradient = np.zeros_like(theta)
    for s, a, w in zip(states, actions, weights):
        gradient[s] -= w * policy[s]
        gradient[s, a] += w
    return gradient


# ------------------------------------------------------------------ REINFORCE

def reinforce_gradient(theta, states, actions, rewards, gamma, baseline) -> np.ndarray:
    r"""REINFORCE with reward-to-go and a state baseline: one trajectory's estimate of dJ/dtheta.

    .. math:: \hat g = \sum_{t=0}^{T-1} \gamma^t \big(G_t - b(s_t)\big)\, \nabla_\theta \log \pi_\theta(a_t|s_t),
              \qquad G_t = \sum_{t'=t}^{T-1} \gamma^{t'-t} r_{t'}

    Source: seed 000 "REINFORCE 算法" and "Assign Suitable Credit"; seed 003 "（2）分配合适的
    分数"; seed 004 "Reducing Variance"; Williams (1992); Sutton & Barto (2018), §13.3-13.4,
    whose update carries the same gamma^t.  ``baseline[s]`` = b(s), any function of the
    state (zeros for plain reward-to-go).  Unbiased for gamma in [0, 1]: E[g_hat] = grad J.

    Example: one state, two actions, theta = 0, gamma = 1/2, baseline 0; actions (0, 1),
    rewards (1, 2).  G = (2, 2); weights (2, 1/2 * 2) = (2, 1);
    g = 2 ((1, 0) - (1/2, 1/2)) + 1 ((0, 1) - (1/2, 1/2)) = (1/2, -1/2).

    >>> reinforce_gradient([[0.0, 0.0]], [0, 0], [0, 1], [1.0, 2.0], 0.5, [0.0])
    array([[ 0.5, -0.5]])
    """
    theta, states, actions, rewards = _trajectory(theta, states, actions, rewards)
    gamma = validation.check_gamma(gamma)
    baseline = validation.as_float_array(baseline, "baseline b[s]", ndim=1)
    validation.check_shape(baseline, (theta.shape[0],), "baseline b[s]")
    returns = _discounted_reward_to_go(rewards, gamma)
    weights = gamma ** np.arange(rewards.size) * (returns - baseline[states])
    return score_function_gradient(theta, states, actions, weights)


def reinforce_gradient_total_return(theta, states, actions, rewards, gamma) -> np.ndarray:
    r"""REINFORCE with the whole trajectory's return as every step's weight.

    .. math:: \hat g = R(\tau) \sum_{t} \nabla_\theta\log\pi_\theta(a_t|s_t),\qquad R(\tau) = \sum_{t'} \gamma^{t'} r_{t'}

    Source: seed 001 "策略梯度" item 3 (R(tau^n) grad log p(a_t^n|s_t^n)); seed 000 psi form 1.
    Unbiased, with the same expectation as :func:`reinforce_gradient`, but noisier: the
    rewards before step t add terms of mean zero (seed 004 "Reducing Variance").

    Example: the trajectory of :func:`reinforce_gradient`: R = 1 + 1/2 * 2 = 2, and the two
    scores sum to (1/2, -1/2) + (-1/2, 1/2) = 0, so g = 0 here.

    >>> reinforce_gradient_total_return([[0.0, 0.0]], [0, 0], [0, 1], [1.0, 2.0], 0.5)
    array([[0., 0.]])
    """
    theta, states, actions, rewards = _trajectory(theta, states, actions, rewards)
    gamma = validation.check_gamma(gamma)
    total = float(np.sum(gamma ** np.arange(rewards.size) * rewards))
    return score_function_gradient(theta, states, actions, np.full(rewards.size, total))


PSI_FORMS = ("total-return", "reward-to-go", "baseline", "action-value", "advantage", "td-residual")


def psi_weights(form, rewards, gamma, states, actions, values=None, action_values=None,
                baseline=None, discount_weighting: bool = True) -> np.ndarray:
    r"""The per-step weights of the six forms of psi_t in g = E[sum_t psi_t grad log pi(a_t|s_t)].

    Forms (seed 000 "Actor-Critic", numbered as there; time-indexed values V_t, Q_t of the
    finite horizon H = T, with V_T = 0):

    1. ``total-return``: sum_{t'} gamma^{t'} r_{t'}
    2. ``reward-to-go``: sum_{t' >= t} gamma^{t'-t} r_{t'}
    3. ``baseline``: sum_{t' >= t} gamma^{t'-t} r_{t'} - b(s_t)
    4. ``action-value``: Q_t(s_t, a_t)
    5. ``advantage``: Q_t(s_t, a_t) - V_t(s_t)
    6. ``td-residual``: r_t + gamma V_{t+1}(s_{t+1}) - V_t(s_t)

    With ``discount_weighting`` (the default) forms 2-6 are multiplied by gamma^t, which makes
    all six unbiased for the discounted objective; ``False`` returns psi_t as the notes
    write it, which is unbiased only at gamma = 1 (``pg.psi-forms``, erratum).

    ``values[t, s]`` = V_t(s) for t < T, ``action_values[t, s, a]`` = Q_t(s, a),
    ``baseline[s]`` = b(s); each is needed only by the forms that use it.

    Example: rewards (1, 2), gamma 1/2: total return 2 on both steps; reward-to-go (2, 2),
    weighted (2, 1).

    >>> psi_weights("reward-to-go", [1.0, 2.0], 0.5, [0, 0], [0, 1])
    array([2., 1.])
    >>> psi_weights("reward-to-go", [1.0, 2.0], 0.5, [0, 0], [0, 1], discount_weighting=False)
    array([2., 2.])
    """
    if form not in PSI_FORMS:
        raise validation.InvalidInputError(f"form must be one of {PSI_FORMS}, got {form!r}")
    rewards = validation.as_float_array(rewards, "rewards[t]", ndim=1)
    gamma = validation.check_gamma(gamma)
    size = rewards.size
    states, actions = np.asarray(states, dtype=np.int64), np.asarray(actions, dtype=np.int64)
    discounts = gamma ** np.arange(size)
    if form == "total-return":
        return np.full(size, float(np.sum(discounts * rewards)))
    if form in ("reward-to-go", "baseline"):
        psi = _discounted_reward_to_go(rewards, gamma)
        if form == "baseline":
            if baseline is None:
                raise validation.InvalidInputError("form 'baseline' needs baseline[s]")
            psi = psi - validation.as_float_array(baseline, "baseline b[s]", ndim=1)[states]
    else:
        if values is None or (form != "td-residual" and action_values is None):
            raise validation.InvalidInputError(f"form {form!r} needs the time-indexed values[t, s]"
                                               + ("" if form == "td-residual" else " and action_values[t, s, a]"))
        values = validation.as_float_array(values, "values[t, s]", ndim=2)
        if form == "td-residual":
            following = np.array([values[t + 1, states[t + 1]] if t + 1 < size else 0.0
                                  for t in range(size)])
            psi = rewards + gamma * following - values[np.arange(size), states]
        else:
            q = validation.as_float_array(action_values, "action_values[t, s, a]", ndim=3)
            psi = q[np.arange(size), states, actions]
            if form == "advantage":
                psi = psi - values[np.arange(size), states]
    return discounts * psi if discount_weighting else psi


# --------------------------------------------------------------- the baseline

def variance_minimising_baseline(scores, returns, probabilities) -> np.ndarray:
    r"""The constant baseline that minimises the variance of each coordinate of g (R - b).

    .. math:: b_j = \frac{\mathbb E[g_j(\tau)^2 R(\tau)]}{\mathbb E[g_j(\tau)^2]},
              \qquad g(\tau) = \nabla_\theta \log p_\theta(\tau)

    Source: seed 004 "Reducing Variance" (b = E g^2 r / E g^2).  The variance of
    g_j (R - b) is E[g_j^2 (R - b)^2] - E[g_j R]^2 because E[g_j] = 0 for a score, a
    quadratic in b whose minimum is b_j.  Inputs describe the whole distribution: outcome i
    has probability ``probabilities[i]``, score ``scores[i, :]`` and return ``returns[i]``.
    Where E[g_j^2] = 0 every b_j is optimal; 0 is returned there.

    Example: a two-armed bandit with pi = (1/2, 1/2) and rewards (1, 3): the scores are
    +-(1/2, -1/2), so g_j^2 = 1/4 for both arms and b = (1 + 3) / 2 = 2 in both coordinates.

    >>> variance_minimising_baseline([[0.5, -0.5], [-0.5, 0.5]], [1.0, 3.0], [0.5, 0.5])
    array([2., 2.])
    """
    scores = validation.as_float_array(scores, "scores g[n, d]", ndim=2)
    returns = validation.as_float_array(returns, "returns R[n]", ndim=1)
    validation.check_shape(returns, (scores.shape[0],), "returns R[n]")
    probabilities = validation.distribution(probabilities, scores.shape[0], "probabilities p[n]")
    second_moment = probabilities @ scores ** 2
    weighted = probabilities @ (scores ** 2 * returns[:, None])
    return np.divide(weighted, second_moment, out=np.zeros_like(weighted),
                     where=second_moment > 0)


# ---------------------------------------------------------------- off-policy

def off_policy_reinforce_gradient(theta, states, actions, rewards, behaviour_probabilities,
                                  gamma) -> np.ndarray:
    r"""The policy gradient of pi_theta from a trajectory of a behaviour policy beta,
    with per-decision importance sampling.

    .. math:: \hat g = \sum_{t=0}^{T-1} \nabla_\theta\log\pi_\theta(a_t|s_t)
              \sum_{t'=t}^{T-1} \gamma^{t'} r_{t'} \prod_{k=0}^{t'} \rho_k,
              \qquad \rho_k = \frac{\pi_\theta(a_k|s_k)}{\beta(a_k|s_k)}

    Each reward r_t' is weighted by the ratios of the actions up to and including t' (it
    does not depend on later actions), so E_beta[g_hat] = grad J(pi_theta) exactly whenever
    beta > 0 wherever pi_theta > 0 (per-decision importance sampling, Precup, Sutton & Singh 2000,
    applied to the score-function gradient as in CS 285 Lecture 5).  With beta = pi_theta every ratio is 1 and this is :func:`reinforce_gradient`
    without baseline.  ``behaviour_probabilities[t]`` = beta(a_t|s_t).

    Source: seed 001 "PPO", "6. 重要性采样" (the substitution into the policy gradient, which
    keeps only one step's ratio: ``pg.off-policy-gradient``, erratum); seed 004 "Off-Policy
    Policy Gradients".

    Example: one state, theta = 0 (pi = (1/2, 1/2)), behaviour took action 1 with
    probability 1/4 and got reward 1: rho = 2, g = 2 * ((0, 1) - (1/2, 1/2)) = (-1, 1).

    >>> off_policy_reinforce_gradient([[0.0, 0.0]], [0], [1], [1.0], [0.25], 0.5)
    array([[-1.,  1.]])
    """
    theta, states, actions, rewards = _trajectory(theta, states, actions, rewards)
    gamma = validation.check_gamma(gamma)
    behaviour = validation.as_float_array(behaviour_probabilities, "behaviour_probabilities[t]", ndim=1)
    validation.check_shape(behaviour, rewards.shape, "behaviour_probabilities[t]")
    if np.any(behaviour <= 0) or np.any(behaviour > 1):
        raise validation.InvalidInputError(
            "behaviour_probabilities[t] must lie in (0, 1]: an action taken had positive "
            f"probability under the behaviour policy, got {behaviour.tolist()}")
    policy = _softmax(theta)
    # Each reward, discounted and weighted by the ratios of the actions up to it.
    weighted_rewards, ratio_so_far = np.zeros(rewards.size), 1.0
    for t in range(rewards.size):
        ratio_so_far *= policy[states[t], actions[t]] / behaviour[t]
        weighted_rewards[t] = gamma ** t * rewards[t] * ratio_so_far
    # Step t's weight: the weighted rewards from t on.
    weights, after = np.zeros(rewards.size), 0.0
    for t in reversed(range(rewards.size)):
        after += weighted_rewards[t]
        weights[t] = after
    return score_function_gradient(theta, states, actions, weights)
