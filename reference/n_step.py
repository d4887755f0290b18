"""n-step bootstrapping: n-step returns, n-step TD and SARSA, off-policy n-step learning
with importance sampling, and the n-step tree-backup algorithm.

Source: seed 000 "Model-Free Value Methods", 多步Sarsa算法 and its "拓展" line
(使用重要性采样的多步离线学习法, 多步树回溯算法); seed 003 "2-8".  Sutton & Barto (2018),
chapter 7: eq. 7.1 (n-step return), 7.2 (n-step TD), 7.4-7.5 (n-step SARSA), 7.9-7.11
(off-policy with importance sampling), 7.16 and the box of §7.5 (tree backup).

Conventions (shared with ``monte_carlo`` and ``eligibility_traces``):

* A segment of experience is ``states[0..T]`` (:math:`S_0..S_T`), ``rewards[0..T-1]`` with
  ``rewards[t]`` the reward received on leaving ``states[t]`` (the notes' :math:`r_t`,
  Sutton & Barto's :math:`R_{t+1}`: mind the shift when reading the book), and
  ``actions[t]`` the action taken in ``states[t]``.
* ``terminated`` says that :math:`S_T` is terminal: nothing is bootstrapped from it.  If
  False the segment was cut short (a time limit, or the end of a buffer) and
  :math:`V(S_T)` or :math:`Q(S_T, A_T)` is used for the missing tail: truncation is not
  termination.  Every earlier state is non-terminal.
* The n-step return from t looks ahead to :math:`h = \\min(t + n, T)`:

  .. math:: G_{t:t+n} = \\sum_{k=t}^{h-1} \\gamma^{k-t} r_k
            + \\gamma^{h-t}\\, [\\text{bootstrap at } h]\\, V(S_h)

  where the bootstrap is dropped exactly when h = T and the episode terminated.  The
  power of gamma on the bootstrap is that of the number of rewards summed, h - t, not n.
* The ``*_episode`` functions run the online algorithm of Sutton & Barto's boxes: the
  updates for t = 0, 1, ..., T-1 are applied in that order, each computing its return
  with the table as the earlier updates left it.  The table passed in is not modified.
"""

from __future__ import annotations

import numpy as np

from rlspec import validation
from rlspec.reference.monte_carlo import episode
from rlspec.reference.temporal_difference import (
    action_value_table,
    check_alpha,
    check_flag,
    segment,
    state_value_table,
)
from rlspec.validation import InvalidInputError

__all__ = ["n_step_returns", "n_step_td_episode", "n_step_sarsa_episode",
           "off_policy_n_step_td_episode", "off_policy_n_step_sarsa_episode",
           "tree_backup_episode"]


def n_step_returns(rewards, state_values, terminated, gamma, n) -> np.ndarray:
    r"""The n-step return :math:`G_{t:t+n}` from every step of a segment, with fixed values.

    .. math:: G_{t:t+n} = r_t + \gamma r_{t+1} + \cdots + \gamma^{h-t-1} r_{h-1}
              + \gamma^{h-t} V(S_h),\qquad h = \min(t+n, T)

    (no bootstrap term when h = T and ``terminated``).  Source: seed 000 "多步Sarsa算法"
    (for Q, with h = t + n); Sutton & Barto (2018), eq. 7.1.  n = 1 is the TD(0) target;
    n >= T with ``terminated`` is the Monte-Carlo return.

    ``state_values[t]`` is :math:`V(S_t)` for t = 0..T (``state_values[T]`` is ignored when
    ``terminated``).  ``n`` is an integer >= 1.

    Example: rewards (1, 2, 4), V along the way (0, 8, 16, 32), gamma 1/2, n = 2, not
    terminated: G_0 = 1 + 1 + 16/4 = 6, G_1 = 2 + 2 + 32/4 = 12, G_2 = 4 + 32/2 = 20.

    >>> n_step_returns([1.0, 2.0, 4.0], [0.0, 8.0, 16.0, 32.0], False, 0.5, 2)
    array([ 6., 12., 20.])
    >>> n_step_returns([1.0, 2.0, 4.0], [0.0, 8.0, 16.0, 32.0], True, 0.5, 2)
    array([6., 4., 4.])
    """
    rewards, state_values = segment(rewards, state_values)
    terminated = check_flag(terminated, "terminated")
    gamma, n = validation.check_gamma(gamma), check_n(n)
    steps = rewards.size
    returns = np.zeros(steps)
    for t in range(steps):
        horizon = min(t + n, steps)
        total = 0.0
        for k in reversed(range(t, horizon)):
            total = rewards[k] + gamma * total
        if not (horizon == steps and terminated):
            total += gamma ** (horizon - t) * state_values[horizon]
        returns[t] = total
    return returns


def n_step_td_episode(values, states, rewards, terminated, alpha, gamma, n) -> np.ndarray:
    r"""n-step TD prediction over one segment (Sutton & Barto 2018, §7.1, eq. 7.2).

    .. math:: V(S_t) \leftarrow V(S_t) + \alpha\big[G_{t:t+n} - V(S_t)\big],
              \quad t = 0, 1, \dots, T-1 \text{ in order}

    with :math:`G_{t:t+n}` bootstrapping on the table as it stands at update t.  n = 1 is
    TD(0) applied step by step; n >= T on a terminated episode is constant-step Monte
    Carlo with the updates applied in time order.

    Example: states (0, 1, terminal 2), rewards (1, 2), V = 0, alpha 1/2, gamma 1, n = 2:
    V(0) += (1 + 2) / 2 and V(1) += 2 / 2.

    >>> n_step_td_episode([0.0, 0.0, 5.0], [0, 1, 2], [1.0, 2.0], True, 0.5, 1.0, 2)
    array([1.5, 1. , 5. ])
    """
    values = state_value_table(values)
    states, rewards = episode(states, rewards, values.shape[0])
    terminated = check_flag(terminated, "terminated")
    alpha, gamma, n = check_alpha(alpha), validation.check_gamma(gamma), check_n(n)
    values = values.copy()
    for t in range(rewards.size):
        horizon, discounted_rewards = _reward_sum(rewards, t, n, gamma)
        target = discounted_rewards
        if not (horizon == rewards.size and terminated):
            target += gamma ** (horizon - t) * values[states[horizon]]
        values[states[t]] += alpha * (target - values[states[t]])
    return values


def n_step_sarsa_episode(action_values, states, actions, rewards, terminated, alpha, gamma,
                         n) -> np.ndarray:
    r"""n-step SARSA over one segment (Sutton & Barto 2018, §7.2, eqs. 7.4-7.5).

    .. math:: Q(S_t, A_t) \leftarrow Q(S_t, A_t) + \alpha\Big[\sum_{k=t}^{h-1}
              \gamma^{k-t} r_k + \gamma^{h-t} Q(S_h, A_h) - Q(S_t, A_t)\Big]

    Source: seed 000 "多步Sarsa算法", :math:`r_t + \gamma r_{t+1} + \dots +
    \gamma^{n-1} r_{t+n-1} + \gamma^n Q(s_{t+n}, a_{t+n})`, which is the case h = t + n;
    near the end of an episode fewer rewards are summed and a terminal :math:`S_T`
    contributes nothing.

    ``actions`` holds :math:`A_0..A_T`, one more than the rewards: :math:`A_T` is the action
    chosen in :math:`S_T`, used only to bootstrap a segment that did not terminate (pass any
    valid action, e.g. 0, when ``terminated``).

    Example: states (0, 1, 0), actions (0, 1, 1), rewards (1, 2), not terminated, gamma 1,
    n = 2, alpha 1/2, Q = 0 except Q(0, 1) = 4: G_0 = 1 + 2 + 4 = 7, so Q(0, 0) = 3.5; then
    G_1 = 2 + Q(0, 1) = 6, so Q(1, 1) = 3.

    >>> n_step_sarsa_episode([[0.0, 4.0], [0.0, 0.0]], [0, 1, 0], [0, 1, 1], [1.0, 2.0],
    ...                      False, 0.5, 1.0, 2)
    array([[3.5, 4. ],
           [0. , 3. ]])
    """
    q = action_value_table(action_values)
    states, actions, rewards = _q_segment(q, states, actions, rewards, with_last_action=True)
    terminated = check_flag(terminated, "terminated")
    alpha, gamma, n = check_alpha(alpha), validation.check_gamma(gamma), check_n(n)
    q = q.copy()
    for t in range(rewards.size):
        horizon, target = _reward_sum(rewards, t, n, gamma)
        if not (horizon == rewards.size and terminated):
            target += gamma ** (horizon - t) * q[states[horizon], actions[horizon]]
        q[states[t], actions[t]] += alpha * (target - q[states[t], actions[t]])
    return q


def off_policy_n_step_td_episode(values, states, actions, rewards, terminated, alpha, gamma,
                                 n, target_policy, behaviour_policy) -> np.ndarray:
    r"""Off-policy n-step TD with importance sampling (Sutton & Barto 2018, eqs. 7.9-7.10).

    .. math:: V(S_t) \leftarrow V(S_t) + \alpha\,\rho_{t:h-1}\big[G_{t:t+n} - V(S_t)\big],
              \qquad \rho_{t:h-1} = \prod_{k=t}^{h-1}\frac{\pi(A_k|S_k)}{b(A_k|S_k)}

    The segment was generated by the behaviour policy b; V estimates :math:`V^\pi` of the
    target policy.  The ratio covers the actions whose rewards :math:`G_{t:t+n}` contains,
    :math:`A_t` (the action taken *in* :math:`S_t`) through :math:`A_{h-1}`; the bootstrap
    :math:`V(S_h)` needs no action.  Source: seed 000 "拓展", 使用重要性采样的多步离线学习法.

    ``actions`` holds :math:`A_0..A_{T-1}`; ``target_policy[s, a] = pi(a|s)`` and
    ``behaviour_policy[s, a] = b(a|s)``, which must be positive at every action taken.

    Example: one step from state 0 (action 1, reward 2) to a terminal state, pi(1|0) = 1,
    b(1|0) = 1/2: rho = 2 and V(0) = 0 + 1/2 * 2 * (2 - 0) = 2.

    >>> off_policy_n_step_td_episode([0.0, 0.0], [0, 1], [1], [2.0], True, 0.5, 1.0, 1,
    ...                              [[0.0, 1.0], [0.5, 0.5]], [[0.5, 0.5], [0.5, 0.5]])
    array([2., 0.])
    """
    values = state_value_table(values)
    states, rewards = episode(states, rewards, values.shape[0])
    n_actions = _n_actions(target_policy)
    actions = _actions(actions, rewards.size, n_actions, "actions A_0..A_(T-1)")
    ratios = _ratios(states, actions, target_policy, behaviour_policy, values.shape[0], n_actions)
    terminated = check_flag(terminated, "terminated")
    alpha, gamma, n = check_alpha(alpha), validation.check_gamma(gamma), check_n(n)
    values = values.copy()
    for t in range(rewards.size):
        horizon, target = _reward_sum(rewards, t, n, gamma)
        if not (horizon == rewards.size and terminated):
            target += gamma ** (horizon - t) * values[states[horizon]]
        rho = float(np.prod(ratios[t:horizon]))  # A_t .. A_(h-1)
        values[states[t]] += alpha * rho * (target - values[states[t]])
    return values


def off_policy_n_step_sarsa_episode(action_values, states, actions, rewards, terminated, alpha,
                                    gamma, n, target_policy, behaviour_policy) -> np.ndarray:
    r"""Off-policy n-step SARSA with importance sampling (Sutton & Barto 2018, eq. 7.11).

    .. math:: Q(S_t, A_t) \leftarrow Q(S_t, A_t) + \alpha\,\rho_{t+1:h}\big[G_{t:t+n}
              - Q(S_t, A_t)\big],\qquad \rho_{t+1:h} = \prod_{k=t+1}^{h'}
              \frac{\pi(A_k|S_k)}{b(A_k|S_k)}

    where :math:`G_{t:t+n}` bootstraps on :math:`Q(S_h, A_h)` and :math:`h' = h` when it does,
    :math:`h' = T - 1` when the episode terminated at h = T.  The ratio starts at
    :math:`A_{t+1}`: :math:`A_t` is given (Q conditions on it), and :math:`A_h` is included
    because the bootstrap uses the sampled :math:`A_h`.  Source: seed 000 "拓展",
    使用重要性采样的多步离线学习法; seed 003 "2-8" gives a max in place of the correction,
    which is not a valid off-policy target (spec entry ``nstep.off-policy-sarsa``, erratum).

    ``actions`` holds :math:`A_0..A_T` as in :func:`n_step_sarsa_episode`.

    Example: states (0, 0, terminal 1), actions (0, 1, 0), rewards (1, 1), gamma 1, n = 2,
    alpha 1/2, Q = 0, pi(.|0) = (1/2, 1/2), b(.|0) = (3/4, 1/4): the update of (0, 0) has
    rho = pi(1|0)/b(1|0) = 2 and G = 2, so Q(0, 0) = 2; then (0, 1) has rho = 1 (no later
    action) and G = 1, so Q(0, 1) = 1/2.

    >>> off_policy_n_step_sarsa_episode([[0.0, 0.0], [0.0, 0.0]], [0, 0, 1], [0, 1, 0],
    ...     [1.0, 1.0], True, 0.5, 1.0, 2, [[0.5, 0.5], [0.5, 0.5]], [[0.75, 0.25], [0.5, 0.5]])
    array([[2. , 0.5],
           [0. , 0. ]])
    """
    q = action_value_table(action_values)
    states, actions, rewards = _q_segment(q, states, actions, rewards, with_last_action=True)
    terminated = check_flag(terminated, "terminated")
    # A_T enters only as the bootstrap action of a segment that did not terminate.
    ratios = _ratios(states, actions[:rewards.size] if terminated else actions,
                     target_policy, behaviour_policy, *q.shape)
    alpha, gamma, n = check_alpha(alpha), validation.check_gamma(gamma), check_n(n)
    q = q.copy()
    for t in range(rewards.size):
        horizon, target = _reward_sum(rewards, t, n, gamma)
        bootstraps = not (horizon == rewards.size and terminated)
        if bootstraps:
            target += gamma ** (horizon - t) * q[states[horizon], actions[horizon]]
        last = horizon if bootstraps else horizon - 1
        rho = float(np.prod(ratios[t + 1:last + 1]))  # A_(t+1) .. A_h'
        q[states[t], actions[t]] += alpha * rho * (target - q[states[t], actions[t]])
    return q


def tree_backup_episode(action_values, states, actions, rewards, terminated, alpha, gamma, n,
                        policy) -> np.ndarray:
    r"""The n-step tree-backup algorithm over one segment (Sutton & Barto 2018, §7.5).

    .. math:: G_{k} = r_k + \gamma\Big[\sum_{a \ne A_{k+1}} \pi(a|S_{k+1}) Q(S_{k+1}, a)
              + \pi(A_{k+1}|S_{k+1})\, G_{k+1}\Big],\quad k = h-2, \dots, t

    starting from :math:`G_{h-1} = r_{h-1} + \gamma \sum_a \pi(a|S_h) Q(S_h, a)` (just
    :math:`r_{h-1}` when :math:`S_h` is terminal), and then
    :math:`Q(S_t, A_t) \leftarrow Q(S_t, A_t) + \alpha [G_t - Q(S_t, A_t)]`.  This is eq. 7.16
    with our reward index (:math:`r_k = R_{k+1}`).  No importance ratios: the untaken actions
    enter through their expected values under pi, the taken one through the sampled
    continuation weighted by :math:`\pi(A_{k+1}|S_{k+1})`.  Source: seed 000 "拓展",
    多步树回溯算法; Precup, Sutton & Singh (2000).  n = 1 is Expected SARSA.

    ``actions`` holds :math:`A_0..A_{T-1}` (no action is needed at :math:`S_T`: its value is
    an expectation).  ``policy[s, a] = pi(a|s)``, the target policy; the behaviour policy
    does not enter.

    Example: states (0, 0, terminal 1), actions (0, 1), rewards (1, 2), gamma 1, n = 2,
    alpha 1, Q(0, .) = (4, 8), pi(.|0) = (1/2, 1/2): G_1 = 2, and G_0 = 1 + [4/2 + 2/2] = 4,
    so Q(0, 0) = 4; then the update of (0, 1) gives Q(0, 1) = 2.

    >>> tree_backup_episode([[4.0, 8.0], [0.0, 0.0]], [0, 0, 1], [0, 1], [1.0, 2.0], True,
    ...                     1.0, 1.0, 2, [[0.5, 0.5], [0.5, 0.5]])
    array([[4., 2.],
           [0., 0.]])
    """
    q = action_value_table(action_values)
    states, actions, rewards = _q_segment(q, states, actions, rewards, with_last_action=False)
    policy = validation.policy_table(policy, *q.shape)
    terminated = check_flag(terminated, "terminated")
    alpha, gamma, n = check_alpha(alpha), validation.check_gamma(gamma), check_n(n)
    q = q.copy()
    steps = rewards.size
    for t in range(steps):
        horizon = min(t + n, steps)
        if horizon == steps and terminated:
            target = rewards[horizon - 1]
        else:
            target = rewards[horizon - 1] + gamma * float(policy[states[horizon]] @ q[states[horizon]])
        for k in reversed(range(t, horizon - 1)):
            s_next, a_next = states[k + 1], actions[k + 1]
            others = float(policy[s_next] @ q[s_next]) - policy[s_next, a_next] * q[s_next, a_next]
            target = rewards[k] + gamma * (others + policy[s_next, a_next] * target)
        q[states[t], actions[t]] += alpha * (target - q[states[t], actions[t]])
    return q


# --------------------------------------------------------------------- helpers

def check_n(n) -> int:
    if isinstance(n, (bool, np.bool_)) or not float(n).is_integer() or n < 1:
        raise InvalidInputError(f"n (the number of steps) must be an integer >= 1, got {n!r}")
    return int(n)


def _reward_sum(rewards, t: int, n: int, gamma: float) -> tuple[int, float]:
    """h = min(t + n, T) and sum_{k=t}^{h-1} gamma^(k-t) r_k."""
    horizon = min(t + n, rewards.size)
    total = 0.0
    for k in reversed(range(t, horizon)):
        total = rewards[k] + gamma * total
    return horizon, total


def _n_actions(policy) -> int:
    policy = validation.as_float_array(policy, "target_policy pi[s, a]", ndim=2)
    return policy.shape[1]


def _actions(actions, length: int, n_actions: int, name: str) -> np.ndarray:
    raw = validation.as_float_array(actions, name, ndim=1)
    if raw.size != length:
        raise InvalidInputError(f"{name} must have {length} entries, got {raw.size}")
    if np.any(raw != np.round(raw)) or np.any(raw < 0) or np.any(raw >= n_actions):
        raise InvalidInputError(f"{name} must be integer indices in range(0, {n_actions}), got "
                                f"{raw.tolist()}")
    return raw.astype(np.int64)


def _q_segment(q, states, actions, rewards, with_last_action: bool):
    states, rewards = episode(states, rewards, q.shape[0])
    length = rewards.size + 1 if with_last_action else rewards.size
    name = "actions A_0..A_T" if with_last_action else "actions A_0..A_(T-1)"
    return states, _actions(actions, length, q.shape[1], name), rewards


def _ratios(states, actions, target_policy, behaviour_policy, n_states, n_actions):
    """pi(A_k|S_k) / b(A_k|S_k) for every k with an action."""
    target = validation.policy_table(target_policy, n_states, n_actions, "target_policy")
    behaviour = validation.policy_table(behaviour_policy, n_states, n_actions, "behaviour_policy")
    ratios = np.zeros(actions.size)
    for k, (s, a) in enumerate(zip(states[:actions.size], actions)):
        if behaviour[s, a] <= 0.0:
            raise InvalidInputError(
                f"action {a} was taken in state {s} at step {k}, but behaviour_policy gives it "
                f"probability 0: the segment cannot come from this behaviour policy")
        ratios[k] = target[s, a] / behaviour[s, a]
    return ratios
