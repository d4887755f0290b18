"""The tabular softmax policy, its policy gradient, and the performance-difference identity.

Objective (seed 002, "策略梯度的优化目标", second form): J(theta) = E_{s_0 ~ nu_0} V^{pi_theta}(s_0).
"""

from __future__ import annotations

import numpy as np

from rlspec import validation
from rlspec.reference.bellman import one_step_lookahead
from rlspec.reference.dynamic_programming import iterative_policy_evaluation
from rlspec.reference.occupancy import state_occupancy_by_iteration

__all__ = ["softmax_policy", "policy_gradient_theorem", "performance_difference_by_advantages"]


def softmax_policy(theta) -> np.ndarray:
    r"""The tabular softmax policy :math:`\pi_\theta(a|s) = e^{\theta_{s,a}} / \sum_b e^{\theta_{s,b}}`.

    Source: seed 002, "策略网络的梯度" (with the score f_theta(s, a) = theta[s, a]).  The
    largest score is subtracted first, which changes nothing mathematically and keeps
    exp from overflowing (theta = 1000 would otherwise give inf / inf = NaN).

    >>> softmax_policy([[0.0, np.log(3.0)], [1000.0, 1000.0]])
    array([[0.25, 0.75],
           [0.5 , 0.5 ]])
    """
    theta = validation.as_float_array(theta, "theta[s, a]", ndim=2)
    policy = np.zeros_like(theta)
    for s in range(theta.shape[0]):
        weights = np.exp(theta[s] - theta[s].max())
        policy[s] = weights / weights.sum()
    return policy


def policy_gradient_theorem(transitions, rewards, gamma, initial_distribution, theta) -> np.ndarray:
    r"""dJ/dtheta for the tabular softmax policy, by the policy gradient theorem.

    .. math:: \nabla_\theta J = \sum_{s} d^\pi(s) \sum_{a} \pi(a|s)\,
              \nabla_\theta \log\pi(a|s)\, Q^\pi(s,a),
              \qquad d^\pi(s) = \sum_t \gamma^t P^\pi_t(s) = \frac{\nu^\pi(s)}{1-\gamma}

    with the softmax log-gradient identity (seed 002, "策略网络的梯度")

    .. math:: \frac{\partial \log \pi(a'|s')}{\partial \theta_{s,a}}
              = \mathbb 1[s'=s]\,\big(\mathbb 1[a'=a] - \pi(a|s)\big).

    Source: seed 002, "复习：策略梯度定理".  The notes write the theorem as an expectation
    "E_{pi_theta}" without naming the state distribution; with the normalised nu^pi the
    right-hand side needs the factor 1 / (1 - gamma) (spec entry
    ``pg.policy-gradient-theorem``, erratum).  Needs gamma < 1.

    Example: one state that stays, two actions paying (1, 0), theta = 0, gamma 0.5:
    pi = (1/2, 1/2), V = 0.5 / 0.5 = 1, Q = (1 + 0.5, 0 + 0.5) = (1.5, 0.5), d = 2, so
    dJ/dtheta = 2 * 1/2 * (Q - V) = (0.5, -0.5).

    >>> policy_gradient_theorem([[[1.0], [1.0]]], [[1.0, 0.0]], 0.5, [1.0], [[0.0, 0.0]]).round(6)
    array([[ 0.5, -0.5]])
    """
    gamma = validation.check_gamma_below_one(gamma)
    policy = softmax_policy(theta)
    values = iterative_policy_evaluation(transitions, rewards, gamma, policy)
    action_values = one_step_lookahead(transitions, rewards, gamma, values)
    visits = state_occupancy_by_iteration(transitions, gamma, policy, initial_distribution) / (1.0 - gamma)
    n_states, n_actions = policy.shape
    gradient = np.zeros_like(policy)
    for s in range(n_states):
        for a in range(n_actions):
            for a_taken in range(n_actions):
                score = float(a_taken == a) - policy[s, a]  # d log pi(a_taken|s) / d theta[s, a]
                gradient[s, a] += visits[s] * policy[s, a_taken] * score * action_values[s, a_taken]
    return gradient


def performance_difference_by_advantages(transitions, rewards, gamma, initial_distribution,
                                         new_policy, old_policy) -> float:
    r"""J(pi') - J(pi) from the old policy's advantages under the new policy's visits.

    .. math:: J(\pi') - J(\pi) = \mathbb E_{\tau\sim p_{\pi'}}\Big[\sum_t \gamma^t A^{\pi}(s_t,a_t)\Big]
              = \frac{1}{1-\gamma}\sum_s \nu^{\pi'}(s)\sum_a \pi'(a|s) A^{\pi}(s,a)

    Source: seed 004, "PPO: Proximal Policy Optimization" (with its proof), and seed 002,
    "优化目标的优化量" (the identity TRPO starts from); Kakade & Langford (2002), Lemma 6.1.
    Needs gamma < 1 for the normalised form.

    Example: one state that stays, actions paying (1, 0), gamma 0.5.  Old policy takes
    action 1: V = 0, A = (1, 0).  New policy takes action 0: nu' = (1,), so
    J' - J = 2 * 1 * 1 = 2, and indeed J' = 1 / (1 - 0.5) = 2, J = 0.

    >>> performance_difference_by_advantages([[[1.0], [1.0]]], [[1.0, 0.0]], 0.5, [1.0],
    ...                                      [[1.0, 0.0]], [[0.0, 1.0]])
    2.0
    """
    gamma = validation.check_gamma_below_one(gamma)
    old_values = iterative_policy_evaluation(transitions, rewards, gamma, old_policy)
    advantages = one_step_lookahead(transitions, rewards, gamma, old_values) - old_values[:, None]
    new_visits = state_occupancy_by_iteration(transitions, gamma, new_policy, initial_distribution)
    new_policy = np.asarray(new_policy, dtype=np.float64)
    return float(new_visits @ (new_policy * advantages).sum(axis=1) / (1.0 - gamma))
