"""Dynamic programming: policy evaluation, improvement and iteration, and value iteration.

Source: seed 000 "Model-Based Value Methods" (基于策略迭代 / 基于价值迭代的动态规划算法).
Tables follow the spec: ``transitions[s, a, s_next]``, ``rewards[s, a]``, ``policy[s, a]``.

Stopping: the sweeps stop when ``max_s |V_{k+1}(s) - V_k(s)| < threshold``.  For gamma < 1
the answer is then within ``gamma * threshold / (1 - gamma)`` of the exact fixed point
(Puterman 1994, Thm 6.3.1); ``rlspec.oracles.methods.accuracy.iteration_tolerance`` says so too.
"""

from __future__ import annotations

import numpy as np

from rlspec import validation
from rlspec.reference.bellman import (
    bellman_expectation_backup_v,
    bellman_optimality_backup,
    evaluate_policy_matrix_form,
    one_step_lookahead,
)
from rlspec.reference.policies import greedy_policy

__all__ = ["iterative_policy_evaluation", "policy_improvement", "policy_iteration", "value_iteration"]

#: Default stopping threshold: with gamma <= 0.99 the error bound is below 1e-8.
THRESHOLD = 1e-10

#: Policy iteration switches an action only when its one-step gain exceeds this fraction of
#: max(1, max |V|) / horizon (horizon = 1 / (1 - gamma), or 1 at gamma = 1).
TIE_TOLERANCE = 1e-7

#: A safety net against a loop that cannot converge (gamma = 1 with a policy that never
#: terminates); reaching it raises instead of returning a number that is not converged.
MAX_SWEEPS = 1_000_000


class NotConvergedError(RuntimeError):
    """The iteration did not reach its threshold within the allowed number of sweeps."""


def iterative_policy_evaluation(transitions, rewards, gamma, policy,
                                threshold: float = THRESHOLD,
                                max_sweeps: int = MAX_SWEEPS) -> np.ndarray:
    r"""V^pi by repeating the Bellman expectation backup from V = 0.

    .. math:: V^{k+1}(s) = \sum_a \pi(a|s)\Big(r(s,a) + \gamma\sum_{s'} P(s'|s,a) V^k(s')\Big)

    Source: seed 000 "Model-Based Value Methods", 策略评估.  Starting from 0 keeps terminal
    states (absorbing, reward 0) at 0, so episodic tasks with gamma = 1 work whenever the
    policy terminates with probability 1.

    Example: one state that stays with reward 1 and gamma 0.5: V = 1 + 0.5 + 0.25 + ... = 2.

    >>> round(float(iterative_policy_evaluation([[[1.0]]], [[1.0]], 0.5, [[1.0]])[0]), 9)
    2.0
    """
    values = np.zeros(np.shape(rewards)[0])
    for _ in range(max_sweeps):
        updated = bellman_expectation_backup_v(transitions, rewards, gamma, policy, values)
        if np.max(np.abs(updated - values)) < threshold:
            return updated
        values = updated
    raise NotConvergedError(f"policy evaluation did not converge in {max_sweeps} sweeps")


def policy_improvement(transitions, rewards, gamma, values) -> np.ndarray:
    r"""The greedy policy with respect to V, as a one-hot table.

    .. math:: \pi'(s) = \arg\max_a \Big\{ r(s,a) + \gamma \sum_{s'} P(s'|s,a) V^\pi(s') \Big\}

    Source: seed 000 "Model-Based Value Methods", 策略提升.  When V = V^pi, the policy
    improvement theorem (seed 000 "Pre-lessons", 策略提升定理) promises
    V^{pi'} >= V^pi in every state.

    >>> policy_improvement([[[1.0], [1.0]]], [[1.0, 3.0]], 0.5, [2.0])
    array([[0., 1.]])
    """
    return greedy_policy(one_step_lookahead(transitions, rewards, gamma, values))


def policy_iteration(transitions, rewards, gamma, threshold: float = THRESHOLD) -> np.ndarray:
    r"""An optimal policy by alternating evaluation and improvement.

    .. math:: \pi^0 \xrightarrow{\text{evaluate}} V^{\pi^0} \xrightarrow{\text{improve}} \pi^1
              \xrightarrow{\text{evaluate}} \cdots \xrightarrow{\text{improve}} \pi^*

    Source: seed 000 "Model-Based Value Methods", 基于策略迭代的动态规划算法.  Stops when
    improvement no longer changes the policy.  An action is replaced only when another is
    better by more than a tie tolerance, so ties and rounding cannot make the loop cycle
    between equally good policies (Sutton & Barto 2018, §4.3, notes this bug).

    Tie tolerance: a policy whose one-step gains max_a Q^pi(s, a) - V^pi(s) are all below g
    is within g / (1 - gamma) of optimal (Puterman 1994, Prop. 6.2.1 with Thm 6.3.1), so the
    tolerance is ``TIE_TOLERANCE * max(1, max |V|) * (1 - gamma)``: the stopped policy's values
    are within 1e-7 max(1, max |V|) of V*.  That needs gains resolved far below the tolerance,
    so for gamma < 1 each policy is evaluated by the direct solve (error a few ulps of |V|
    per unit of horizon) rather than by sweeps stopped at ``threshold``; this holds for
    1 / (1 - gamma) up to about 1000 (gamma <= 0.999).  With gamma = 1 the evaluation is
    iterative (``threshold``) and the tolerance is ``TIE_TOLERANCE * max(1, max |V|)``.

    With gamma = 1 the start policy must terminate: the MDP must be episodic with every
    non-terminating policy worse than some terminating one (rewards negative, as in the
    grid worlds), and the first policy is then found by moving towards the terminal states.

    Example: one state, actions with r = (1, 3) that both stay: the optimal policy takes 1.

    >>> policy_iteration([[[1.0], [1.0]]], [[1.0, 3.0]], 0.5)
    array([[0., 1.]])

    A gain of 5e-8 per step is worth 5e-5 over the horizon of 1000 steps of gamma = 0.999:

    >>> policy_iteration([[[1.0], [1.0]]], [[0.0, 5e-8]], 0.999)
    array([[0., 1.]])
    """
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    policy = _start_policy(transitions, rewards, gamma)
    while True:
        if gamma < 1.0:
            values = evaluate_policy_matrix_form(transitions, rewards, gamma, policy)
        else:
            values = iterative_policy_evaluation(transitions, rewards, gamma, policy, threshold)
        action_values = one_step_lookahead(transitions, rewards, gamma, values)
        inverse_horizon = 1.0 - gamma if gamma < 1.0 else 1.0
        tie = TIE_TOLERANCE * max(1.0, float(np.max(np.abs(values)))) * inverse_horizon
        current = np.argmax(policy, axis=1)
        best = np.argmax(action_values, axis=1)
        gain = action_values[np.arange(len(best)), best] - action_values[np.arange(len(best)), current]
        switch = gain > tie
        if not switch.any():
            return policy
        policy = np.eye(rewards.shape[1])[np.where(switch, best, current)]


def value_iteration(transitions, rewards, gamma, threshold: float = THRESHOLD) -> np.ndarray:
    r"""V* by repeating the Bellman optimality backup from V = 0.

    .. math:: V^{k+1}(s) = \max_a \Big\{ r(s,a) + \gamma \sum_{s'} P(s'|s,a) V^k(s') \Big\}

    Source: seed 000 "Model-Based Value Methods", 基于价值迭代的动态规划算法.  An optimal
    policy is then ``policy_improvement(transitions, rewards, gamma, V)``.

    Example: one state, actions with r = (1, 3) that both stay, gamma 0.5: V* = 3 / 0.5 = 6.

    >>> round(float(value_iteration([[[1.0], [1.0]]], [[1.0, 3.0]], 0.5)[0]), 9)
    6.0
    """
    values = np.zeros(np.shape(rewards)[0])
    for _ in range(MAX_SWEEPS):
        updated = bellman_optimality_backup(transitions, rewards, gamma, values)
        if np.max(np.abs(updated - values)) < threshold:
            return updated
        values = updated
    raise NotConvergedError(f"value iteration did not converge in {MAX_SWEEPS} sweeps")


def _start_policy(transitions, rewards, gamma) -> np.ndarray:
    """Action 0 everywhere, or with gamma = 1 a policy that heads for the terminal states."""
    n_states, n_actions = rewards.shape
    actions = np.zeros(n_states, dtype=int)
    if gamma == 1.0:
        terminal = np.array([np.all(transitions[s, :, s] == 1.0) and np.all(rewards[s] == 0.0)
                             for s in range(n_states)])
        while not terminal.all():
            reachable = transitions[:, :, terminal].sum(axis=2) > 0  # [s, a]
            frontier = ~terminal & reachable.any(axis=1)
            if not frontier.any():
                raise validation.InvalidInputError(
                    f"gamma = 1 but states {np.flatnonzero(~terminal).tolist()} cannot reach a "
                    f"terminal state, so no policy has a finite return there"
                )
            actions[frontier] = np.argmax(reachable[frontier], axis=1)
            terminal = terminal | frontier
    return np.eye(n_actions)[actions]
