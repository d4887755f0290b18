"""One-step temporal-difference updates: TD(0), SARSA, Expected SARSA and Q-learning.

Source: seed 000 "Model-Free Value Methods" (时序差分算法, Sarsa 算法, Q-learning 算法);
seed 003 "2-5", "3-2", "3-3"; seed 004 "Monte Carlo vs Temporal Difference Learning" and
"Q-Learning".  Sutton & Barto (2018), §6.1 (eq. 6.2), §6.4 (eq. 6.7), §6.5 (eq. 6.8),
§6.6 (eq. 6.9).

Conventions shared by every function here (and by ``n_step`` and ``eligibility_traces``):

* One update per call, on explicit inputs: the table (``values[s]`` or
  ``action_values[s, a]``), the transition ``(state, action, reward, next_state)``, the
  step size ``alpha`` in (0, 1] and the discount ``gamma`` in [0, 1].
* ``reward`` is the reward received on the transition from ``state`` to ``next_state``:
  the notes' :math:`r_t` (seed 000) and Sutton & Barto's :math:`R_{t+1}`.
* ``terminated`` says that ``next_state`` is terminal: then nothing is bootstrapped (the
  value of a terminal state is 0 by definition, whatever the table holds there).  A
  transition cut off by a time limit (gymnasium's ``truncated``) is *not* terminated: pass
  ``terminated=False`` and the update bootstraps from ``next_state`` as usual.
* The table is not modified; the updated copy is returned.  Only the entry of ``state``
  (or of ``(state, action)``) changes.
"""

from __future__ import annotations

import numpy as np

from rlspec import validation
from rlspec.validation import InvalidInputError

__all__ = ["td0_update", "sarsa_update", "expected_sarsa_update", "q_learning_update"]


def td0_update(values, state, reward, next_state, terminated, alpha, gamma) -> np.ndarray:
    r"""One TD(0) update of a state-value table.

    .. math:: V(s_t) \leftarrow V(s_t) + \alpha\big[r_t + \gamma (1 - \text{term}_{t+1})
              V(s_{t+1}) - V(s_t)\big]

    Source: seed 000 "Model-Free Value Methods", 时序差分算法 (written with :math:`r_t`);
    seed 003 "2-5" and seed 004 write the same reward as :math:`R_{t+1}` and :math:`R_t`.
    Sutton & Barto (2018), eq. 6.2.

    The expected update, over the next state and the policy's action, is
    :math:`\alpha(\mathcal B^\pi V - V)(s)`; its fixed point is :math:`V^\pi`
    (``rlspec.oracles.bellman.expected_backup_v``).

    Example: V = (1, 2), a step from state 0 to state 1 with reward 1, alpha 1/2, gamma
    1/2: the target is 1 + 2/2 = 2, so V(0) moves half way from 1 to 2.

    >>> td0_update([1.0, 2.0], 0, 1.0, 1, False, 0.5, 0.5)
    array([1.5, 2. ])
    >>> td0_update([1.0, 2.0], 0, 1.0, 1, True, 0.5, 0.5)   # state 1 terminal: target 1
    array([1., 2.])
    """
    values = state_value_table(values)
    state, next_state = (state_index(s, values.shape[0], name)
                         for s, name in ((state, "state"), (next_state, "next_state")))
    reward, alpha, gamma = check_reward(reward), check_alpha(alpha), validation.check_gamma(gamma)
    bootstrap = 0.0 if check_flag(terminated, "terminated") else values[next_state]
    target = reward + gamma * bootstrap
    updated = values.copy()
    updated[state] += alpha * (target - values[state])
    return updated


def sarsa_update(action_values, state, action, reward, next_state, next_action, terminated,
                 alpha, gamma) -> np.ndarray:
    r"""One SARSA update: bootstrap on the action actually taken next.

    .. math:: Q(s_t, a_t) \leftarrow Q(s_t, a_t) + \alpha\big[r_t + \gamma
              (1 - \text{term}_{t+1}) Q(s_{t+1}, a_{t+1}) - Q(s_t, a_t)\big]

    Source: seed 000 "Model-Free Value Methods", Sarsa 算法; seed 003 "3-3".  Seed 003
    "3-5" drops the :math:`-Q(s_t, a_t)` inside the bracket (spec entry ``td.sarsa``,
    erratum).  Sutton & Barto (2018), eq. 6.7.

    ``next_action`` is :math:`a_{t+1}`, drawn from the policy being learned (on-policy);
    it is ignored when ``terminated``.  With ``a_{t+1} ~ pi(.|s_{t+1})`` the expected update
    is :math:`\alpha(\mathcal B^\pi Q - Q)(s_t, a_t)`, whose fixed point is :math:`Q^\pi`.

    Example: Q = [[0, 0], [2, 4]], from (0, 0) with reward 1 to state 1, next action 1,
    alpha 1/2, gamma 1/2: target 1 + 4/2 = 3, so Q(0, 0) = 1.5.

    >>> sarsa_update([[0.0, 0.0], [2.0, 4.0]], 0, 0, 1.0, 1, 1, False, 0.5, 0.5)
    array([[1.5, 0. ],
           [2. , 4. ]])
    """
    q = action_value_table(action_values)
    state, action, next_state = _transition(q, state, action, next_state)
    next_action = action_index(next_action, q.shape[1], "next_action")
    reward, alpha, gamma = check_reward(reward), check_alpha(alpha), validation.check_gamma(gamma)
    bootstrap = 0.0 if check_flag(terminated, "terminated") else q[next_state, next_action]
    updated = q.copy()
    updated[state, action] += alpha * (reward + gamma * bootstrap - q[state, action])
    return updated


def expected_sarsa_update(action_values, state, action, reward, next_state, terminated,
                          alpha, gamma, policy) -> np.ndarray:
    r"""One Expected SARSA update: bootstrap on the policy's expected next action value.

    .. math:: Q(s_t, a_t) \leftarrow Q(s_t, a_t) + \alpha\Big[r_t + \gamma
              (1 - \text{term}_{t+1}) \sum_{a} \pi(a|s_{t+1}) Q(s_{t+1}, a) - Q(s_t, a_t)\Big]

    Source: not in the notes, which give SARSA (seed 000 "Sarsa 算法"); Sutton & Barto
    (2018), §6.6, eq. 6.9; van Seijen, van Hasselt, Whiteson & Wiering (2009).  The
    expectation is under ``policy[s, a] = pi(a|s)``, the policy being evaluated (an
    epsilon-greedy policy of Q for control, or any target policy: Expected SARSA is then
    off-policy, and with the greedy policy it is Q-learning).

    Its expected update equals SARSA's, without the variance of sampling :math:`a_{t+1}`.

    Example: Q = [[0, 0], [2, 4]], pi(.|1) = (3/4, 1/4): the next value is 1.5 + 1 = 2.5,
    target 1 + 2.5/2 = 2.25, and with alpha 1/2, Q(0, 0) = 1.125.

    >>> expected_sarsa_update([[0.0, 0.0], [2.0, 4.0]], 0, 0, 1.0, 1, False, 0.5, 0.5,
    ...                       [[0.5, 0.5], [0.75, 0.25]])
    array([[1.125, 0.   ],
           [2.   , 4.   ]])
    """
    q = action_value_table(action_values)
    state, action, next_state = _transition(q, state, action, next_state)
    policy = validation.policy_table(policy, *q.shape)
    reward, alpha, gamma = check_reward(reward), check_alpha(alpha), validation.check_gamma(gamma)
    expected_next = 0.0
    for a in range(q.shape[1]):
        expected_next += policy[next_state, a] * q[next_state, a]
    bootstrap = 0.0 if check_flag(terminated, "terminated") else expected_next
    updated = q.copy()
    updated[state, action] += alpha * (reward + gamma * bootstrap - q[state, action])
    return updated


def q_learning_update(action_values, state, action, reward, next_state, terminated, alpha,
                      gamma, next_action=None) -> np.ndarray:
    r"""One Q-learning update: bootstrap on the greedy next action value.

    .. math:: Q(s_t, a_t) \leftarrow Q(s_t, a_t) + \alpha\big[r_t + \gamma
              (1 - \text{term}_{t+1}) \max_a Q(s_{t+1}, a) - Q(s_t, a_t)\big]

    Source: seed 000 "Model-Free Value Methods", Q-learning 算法; seed 003 "3-2"; seed 004
    "Q-Learning".  Watkins & Dayan (1992); Sutton & Barto (2018), eq. 6.8.

    Off-policy: the action actually taken next does not enter.  ``next_action``, the
    behaviour's A_{t+1}, is accepted so that Q-learning takes SARSA's transition tuple (the
    ``q-learning-update`` check passes it), and ignored.  Whatever policy chose
    ``action``, the expected update is :math:`\alpha(\mathcal B^{*} Q - Q)(s_t, a_t)` with the
    optimality operator, whose fixed point is :math:`Q^{*}`.

    Example: Q = [[0, 0], [2, 4]], from (0, 1) with reward 1 to state 1, alpha 1/2, gamma
    1/2: target 1 + 4/2 = 3, so Q(0, 1) = 1.5.

    >>> q_learning_update([[0.0, 0.0], [2.0, 4.0]], 0, 1, 1.0, 1, False, 0.5, 0.5)
    array([[0. , 1.5],
           [2. , 4. ]])
    """
    q = action_value_table(action_values)
    state, action, next_state = _transition(q, state, action, next_state)
    reward, alpha, gamma = check_reward(reward), check_alpha(alpha), validation.check_gamma(gamma)
    bootstrap = 0.0 if check_flag(terminated, "terminated") else float(np.max(q[next_state]))
    updated = q.copy()
    updated[state, action] += alpha * (reward + gamma * bootstrap - q[state, action])
    return updated


# ----------------------------------------------------------------- shared validation
# Used by monte_carlo, n_step and eligibility_traces too, so that every function in the
# chapter rejects bad input with the same words.

def state_value_table(values) -> np.ndarray:
    values = validation.as_float_array(values, "values V[s]", ndim=1)
    if values.size == 0:
        raise InvalidInputError("values V[s] needs at least one state")
    return values


def action_value_table(action_values) -> np.ndarray:
    q = validation.as_float_array(action_values, "action_values Q[s, a]", ndim=2)
    if q.size == 0:
        raise InvalidInputError(f"action_values Q[s, a] needs at least one state and one "
                                f"action, got shape {q.shape}")
    return q


def _integer(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{name} must be an integer index, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be an integer index, got {value!r}") from None
    if not np.isfinite(number) or number != int(number):
        raise InvalidInputError(f"{name} must be an integer index, got {value!r}")
    return int(number)


def state_index(value, n_states: int, name: str = "state") -> int:
    index = _integer(value, name)
    if not 0 <= index < n_states:
        raise InvalidInputError(f"{name} = {index} is not a state of the table "
                                f"(range(0, {n_states}))")
    return index


def action_index(value, n_actions: int, name: str = "action") -> int:
    index = _integer(value, name)
    if not 0 <= index < n_actions:
        raise InvalidInputError(f"{name} = {index} is not an action of the table "
                                f"(range(0, {n_actions}))")
    return index


def check_alpha(alpha) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise InvalidInputError(f"alpha (the step size) must be a number in (0, 1], got "
                                f"{alpha!r}") from None
    if not 0.0 < value <= 1.0:  # also rejects NaN
        raise InvalidInputError(f"alpha (the step size) must lie in (0, 1], got {alpha!r}")
    return value


def check_reward(reward) -> float:
    value = validation.as_float_array(reward, "reward", ndim=0)
    return float(value)


def segment(rewards, state_values) -> tuple[np.ndarray, np.ndarray]:
    """Validate one segment: rewards r_0..r_{T-1} and the values V(S_0)..V(S_T) along it."""
    rewards = validation.as_float_array(rewards, "rewards r_t", ndim=1)
    state_values = validation.as_float_array(state_values, "state_values V(S_t)", ndim=1)
    if rewards.size == 0:
        raise InvalidInputError("a segment needs at least one step: rewards r_t is empty")
    if state_values.size != rewards.size + 1:
        raise InvalidInputError(
            f"state_values must hold V(S_0)..V(S_T), one more entry than rewards: got "
            f"{state_values.size} values for {rewards.size} rewards")
    return rewards, state_values


def check_flag(flag, name: str) -> bool:
    if isinstance(flag, (bool, np.bool_)) or flag in (0, 1):
        return bool(flag)
    raise InvalidInputError(f"{name} must be True or False, got {flag!r}")


def _transition(q, state, action, next_state):
    n_states, n_actions = q.shape
    return (state_index(state, n_states), action_index(action, n_actions),
            state_index(next_state, n_states, "next_state"))
