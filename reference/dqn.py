r"""Deep Q-networks: the TD target, the loss, replay, Double DQN, dueling heads, n-step targets.

Source: seed 000 "DQN" and "DQN 优化技巧" (Double DQN, Dueling DQN, 多步学习); seed 003
§5.2.4 (4-1 .. 4-8); seed 004 "Deep Q-Network (DQN)".  Papers: Mnih et al. 2015 (Nature,
"Human-level control through deep reinforcement learning"), van Hasselt, Guez & Silver 2016
("Deep Reinforcement Learning with Double Q-learning"), Wang et al. 2016 ("Dueling Network
Architectures for Deep Reinforcement Learning"), Hessel et al. 2018 ("Rainbow").

Conventions shared by every function here (the spec's ``dqn.*`` entries):

- A batch of B transitions ``(s_i, a_i, r_i, s'_i)``.  ``q_values[i, a]`` is the online
  network's Q(s_i, a); ``next_q_target[i, a]`` the target network's Q(s'_i, a);
  ``next_q_online[i, a]`` the online network's Q(s'_i, a).
- ``terminated[i]`` is 1.0 when s'_i is a terminal state (the MDP ended: no bootstrap) and 0.0
  otherwise; ``truncated[i]`` is 1.0 when the episode was cut by a time limit at s'_i, which is
  *not* terminal: the target bootstraps from s'_i, the true next observation.  Flags are
  float64 0.0/1.0, as replay buffers store them; if both are set, terminated wins.
- float64 throughout; targets are numpy arrays, losses are torch scalars (so that autograd
  can differentiate them with respect to the online network's outputs only).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from rlspec import validation
from rlspec.validation import InvalidInputError

__all__ = [
    "dqn_target", "double_dqn_target", "dqn_loss", "dqn_huber_loss", "n_step_q_targets",
    "dueling_aggregate", "dueling_decompose", "ReplayBuffer", "replay_buffer_sample",
]

AGGREGATIONS = ("mean", "max")


# ----------------------------------------------------------------------------- validation

def _flags(value, name: str, size: int) -> np.ndarray:
    flags = validation.as_float_array(value, name, ndim=1)
    validation.check_shape(flags, (size,), name)
    if not np.all((flags == 0.0) | (flags == 1.0)):
        bad = int(np.flatnonzero((flags != 0.0) & (flags != 1.0))[0])
        raise InvalidInputError(f"{name} must hold 0.0 or 1.0, got {flags[bad]!r} at index {bad}")
    return flags


def _batch(rewards, name_of_table: str, table, terminated) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rewards = validation.as_float_array(rewards, "rewards r_i", ndim=1)
    table = validation.as_float_array(table, name_of_table, ndim=2)
    if table.shape[0] != rewards.size or table.shape[1] == 0:
        raise InvalidInputError(
            f"{name_of_table} must have shape (B, A) with B = len(rewards) = {rewards.size} and "
            f"A >= 1, got {table.shape}")
    return rewards, table, _flags(terminated, "terminated", rewards.size)


def _aggregation(aggregation) -> str:
    if aggregation not in AGGREGATIONS:
        raise InvalidInputError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    return aggregation


# ----------------------------------------------------------------------------- targets

def dqn_target(rewards, next_q_target, terminated, truncated, gamma) -> np.ndarray:
    r"""The DQN TD target with a target network, one per transition.

    .. math:: y_i = r_i + \gamma\,(1 - \text{terminated}_i)\,\max_{a'} Q_{\omega^-}(s'_i, a')

    Source: seed 000 "DQN", 目标网络: the target :math:`r + \gamma\max_{a'}Q_{\omega^-}(s', a')`;
    the notes leave out the terminal case, which Mnih et al. (2015, Algorithm 1) state:
    :math:`y_j = r_j` when the episode terminates at step j + 1 (spec ``dqn.td-target``).

    ``truncated`` is accepted to make the convention explicit and plays no part: a transition
    cut by a time limit is bootstrapped from its next observation like any other.

    Example: r = (1, 1), Q_target(s', .) = ((2, 4), (2, 4)), the second transition terminal,
    gamma 1/2: y = (1 + 4/2, 1) = (3, 1).

    >>> dqn_target([1.0, 1.0], [[2.0, 4.0], [2.0, 4.0]], [0.0, 1.0], [0.0, 0.0], 0.5)
    array([3., 1.])
    """
    rewards, next_q_target, terminated = _batch(rewards, "next_q_target", next_q_target, terminated)
    _flags(truncated, "truncated", rewards.size)
    gamma = validation.check_gamma(gamma)
    targets = np.zeros(rewards.size)
    for i in range(rewards.size):
        bootstrap = 0.0 if terminated[i] else max(next_q_target[i])
        targets[i] = rewards[i] + gamma * bootstrap
    return targets


def double_dqn_target(rewards, next_q_online, next_q_target, terminated, gamma) -> np.ndarray:
    r"""The Double DQN target: the online network chooses, the target network evaluates.

    .. math:: y_i = r_i + \gamma\,(1 - \text{terminated}_i)\,
              Q_{\omega^-}\big(s'_i, \arg\max_{a'} Q_{\omega}(s'_i, a')\big)

    Source: seed 000 "DQN 优化技巧", Double DQN (the notes' formula, with ω the online and
    ω⁻ the target network); van Hasselt, Guez & Silver (2016), eq. (4).  Ties in the argmax
    go to the first maximiser here; the check accepts any maximiser.

    Example: online Q(s', .) = (1, 3) picks action 1; target Q(s', .) = (5, 2) values it at 2,
    although max_a Q_target = 5 (the plain DQN target would use 5).  r = 0, gamma = 1: y = 2.

    >>> double_dqn_target([0.0], [[1.0, 3.0]], [[5.0, 2.0]], [0.0], 1.0)
    array([2.])
    """
    rewards, next_q_online, terminated = _batch(rewards, "next_q_online", next_q_online, terminated)
    next_q_target = validation.as_float_array(next_q_target, "next_q_target", ndim=2)
    validation.check_shape(next_q_target, next_q_online.shape, "next_q_target")
    gamma = validation.check_gamma(gamma)
    targets = np.zeros(rewards.size)
    for i in range(rewards.size):
        chosen = int(np.argmax(next_q_online[i]))
        bootstrap = 0.0 if terminated[i] else next_q_target[i, chosen]
        targets[i] = rewards[i] + gamma * bootstrap
    return targets


def n_step_q_targets(rewards, next_values, terminated, truncated, gamma, n) -> np.ndarray:
    r"""n-step Q-learning targets for every step of a time-major segment of experience.

    .. math:: G_t^{(n)} = \sum_{k=0}^{m-1} \gamma^k r_{t+k}
              + \gamma^{m}\,(1 - \text{terminated}_{t+m-1})\,\max_{a'} Q_{\omega^-}(s_{t+m}, a')

    where m ≤ n is the number of steps taken before the sum stops: after n steps, at the end
    of an episode (terminated or truncated at step t + m − 1), or at the end of the segment.
    At a terminal the sum is truncated and nothing is bootstrapped; at a time-limit
    truncation or the end of the segment it bootstraps from the next observation.

    Source: seed 000 "其他改进内容：多步学习、噪声网络和值分布强化学习等" (whose formula writes
    γ^k and s_{t+k} outside the sum: an erratum, spec ``dqn.n-step-target``); Hessel et al.
    (2018), eq. (2); Sutton & Barto (2018), eq. (7.1).

    Conventions: ``rewards[t]`` is r_t, received after the action at step t;
    ``next_values[t]`` is max_a' Q_target(s_{t+1}, a') for the observation that followed
    step t (the final observation when step t was truncated); ``terminated[t]`` and
    ``truncated[t]`` flag how step t ended.  Loops are written out as in the paper.

    Example: rewards (1, 1, 1), step 1 terminal, next values all 10, gamma 1/2, n = 2:
    G_0 = 1 + 1/2 (stops at the terminal), G_1 = 1, G_2 = 1 + 10/2 (end of segment).

    >>> n_step_q_targets([1.0, 1.0, 1.0], [10.0, 10.0, 10.0], [0, 1, 0], [0, 0, 0], 0.5, 2)
    array([1.5, 1. , 6. ])
    """
    rewards = validation.as_float_array(rewards, "rewards r_t", ndim=1)
    length = rewards.size
    next_values = validation.as_float_array(next_values, "next_values", ndim=1)
    validation.check_shape(next_values, (length,), "next_values")
    terminated = _flags(terminated, "terminated", length)
    truncated = _flags(truncated, "truncated", length)
    gamma = validation.check_gamma(gamma)
    if int(n) != n or n < 1:
        raise InvalidInputError(f"n must be an integer >= 1, got {n!r}")
    targets = np.zeros(length)
    for t in range(length):
        total, discount = 0.0, 1.0
        for k in range(int(n)):
            step = t + k
            total += discount * rewards[step]
            discount *= gamma
            if terminated[step]:
                break  # the episode ended: nothing after it belongs to this return
            last = k == n - 1 or truncated[step] or step == length - 1
            if last:
                total += discount * next_values[step]  # bootstrap from s_{step + 1}
                break
        targets[t] = total
    return targets


# ----------------------------------------------------------------------------- losses

def _as_tensor(value, dtype=torch.float64) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value), dtype=dtype)


def _td_errors(q_values, actions, rewards, next_q_target, terminated, gamma) -> list[torch.Tensor]:
    """Q_omega(s_i, a_i) - y_i for each i, with y_i computed without gradient."""
    q_values = _as_tensor(q_values)
    next_q_target = _as_tensor(next_q_target)
    rewards, terminated = _as_tensor(rewards), _as_tensor(terminated)
    actions = _as_tensor(actions, dtype=torch.int64)
    if q_values.ndim != 2 or next_q_target.shape != q_values.shape:
        raise InvalidInputError(
            f"q_values and next_q_target must both have shape (B, A), got "
            f"{tuple(q_values.shape)} and {tuple(next_q_target.shape)}")
    batch, n_actions = q_values.shape
    for name, value in (("actions", actions), ("rewards", rewards), ("terminated", terminated)):
        if tuple(value.shape) != (batch,):
            raise InvalidInputError(f"{name} must have shape ({batch},), got {tuple(value.shape)}")
    if batch == 0:
        raise InvalidInputError("the batch is empty: the mean loss over 0 transitions is undefined")
    if ((actions < 0) | (actions >= n_actions)).any():
        raise InvalidInputError(f"actions must lie in range({n_actions}), got {actions.tolist()}")
    _flags(terminated.detach().numpy(), "terminated", batch)
    gamma = validation.check_gamma(gamma)
    errors = []
    for i in range(batch):
        with torch.no_grad():  # the target network is not trained by this loss
            bootstrap = 0.0 if terminated[i] else next_q_target[i].max()
            target = rewards[i] + gamma * bootstrap
        errors.append(q_values[i, actions[i]] - target)
    return errors


def dqn_loss(q_values, actions, rewards, next_q_target, terminated, gamma) -> torch.Tensor:
    r"""The DQN loss in the notes' squared form, a torch scalar differentiable in ``q_values``.

    .. math:: L = \frac{1}{2B}\sum_{i=1}^{B}\big(Q_\omega(s_i, a_i) - y_i\big)^2,\qquad
              y_i = r_i + \gamma (1 - \text{terminated}_i) \max_{a'} Q_{\omega^-}(s'_i, a')

    Source: seed 000 "DQN": :math:`\frac{1}{2N}\sum_i [Q_\omega(s_i, a_i) - (r_i + \gamma
    \max_{a'} Q(s'_i, a'))]^2` with the target network of 目标网络.  The target y is a
    constant for the gradient (a semi-gradient): ∂L/∂Q_ω(s_i, a_i) = (Q_ω(s_i, a_i) − y_i)/B,
    every other entry of q_values has gradient 0, and next_q_target has none.

    Note the 1/2: ``torch.nn.functional.mse_loss`` is the mean of the squares *without* it,
    twice this loss.

    Example: Q(s, a) = 3, y = 1 + 1/2 * 2 = 2: L = (3 - 2)^2 / 2 = 0.5.

    >>> float(dqn_loss([[3.0, 0.0]], [0], [1.0], [[2.0, 0.0]], [0.0], 0.5))
    0.5
    """
    errors = _td_errors(q_values, actions, rewards, next_q_target, terminated, gamma)
    total = sum(0.5 * error ** 2 for error in errors)
    return total / len(errors)


def dqn_huber_loss(q_values, actions, rewards, next_q_target, terminated, gamma) -> torch.Tensor:
    r"""The DQN loss with Mnih et al.'s error clipping: the mean Huber loss with threshold 1.

    .. math:: L = \frac{1}{B}\sum_i H(\delta_i),\quad
              H(\delta) = \begin{cases}\tfrac12\delta^2 & |\delta| \le 1\\
              |\delta| - \tfrac12 & |\delta| > 1\end{cases},\quad \delta_i = Q_\omega(s_i, a_i) - y_i

    Source: seed 000 "DQN" gives the squared loss (:func:`dqn_loss`, equal to this one
    while every |δ| ≤ 1); Mnih et al. (2015), Methods, "error clipping": clipping the
    derivative of the squared error to [−1, 1] is this loss.  It equals
    ``torch.nn.functional.smooth_l1_loss(q, y)`` (beta = 1), which Stable-Baselines3 uses.
    Gradient: clip(δ_i, −1, 1) / B on the taken action, 0 elsewhere and on the target.

    Example: δ = 3 - 0 = 3 > 1, so L = 3 - 1/2 = 2.5.

    >>> float(dqn_huber_loss([[3.0]], [0], [0.0], [[7.0]], [1.0], 0.5))
    2.5
    """
    errors = _td_errors(q_values, actions, rewards, next_q_target, terminated, gamma)
    total = sum(0.5 * error ** 2 if abs(error.item()) <= 1.0 else error.abs() - 0.5
                for error in errors)
    return total / len(errors)


# ----------------------------------------------------------------------------- dueling

def dueling_aggregate(values, advantages, aggregation) -> np.ndarray:
    r"""The dueling head: Q from a state value V and advantages A.

    .. math:: Q(s, a) = V(s) + A(s, a) - \max_{a'} A(s, a')   \quad(\text{"max"})
    .. math:: Q(s, a) = V(s) + A(s, a) - \tfrac{1}{|\mathcal A|}\sum_{a'} A(s, a')  \quad(\text{"mean"})

    Source: seed 000 "DQN 优化技巧", Dueling DQN (both forms); Wang et al. (2016), eqs. (8)
    and (9).  Without the subtraction, Q = V + A (seed 003, 4-8) cannot be split back into V
    and A; with it, V is recovered as max_a Q (resp. mean_a Q), see
    :func:`dueling_decompose` and the spec entry ``dqn.dueling`` (erratum: the notes give
    V = mean of A for the mean form).

    Conventions: ``values[b]``, ``advantages[b, a]`` for a batch of states.

    Example: V = 1, A = (1, 3): max form Q = 1 + (1, 3) - 3 = (-1, 1); mean form
    Q = 1 + (1, 3) - 2 = (0, 2).

    >>> dueling_aggregate([1.0], [[1.0, 3.0]], "max"), dueling_aggregate([1.0], [[1.0, 3.0]], "mean")
    (array([[-1.,  1.]]), array([[0., 2.]]))
    """
    aggregation = _aggregation(aggregation)
    values = validation.as_float_array(values, "values V(s)", ndim=1)
    advantages = validation.as_float_array(advantages, "advantages A(s, a)", ndim=2)
    if advantages.shape[0] != values.size or advantages.shape[1] == 0:
        raise InvalidInputError(f"advantages must have shape ({values.size}, A) with A >= 1, "
                                f"got {advantages.shape}")
    q = np.zeros_like(advantages)
    for b in range(values.size):
        row = advantages[b]
        baseline = max(row) if aggregation == "max" else math.fsum(row) / row.size
        q[b] = values[b] + row - baseline
    return q


def dueling_decompose(action_values, aggregation) -> tuple[np.ndarray, np.ndarray]:
    r"""The unique (V, A) with the dueling constraint that aggregate to the given Q.

    Under "max" the head's output satisfies max_a (A − max A) = 0, so
    :math:`V(s) = \max_a Q(s, a)`; under "mean", :math:`V(s) = \frac{1}{|\mathcal A|}\sum_a Q(s, a)`.
    Then :math:`A(s, a) = Q(s, a) - V(s)` is the *centred* advantage (max 0, resp. mean 0).
    The network's raw A is determined only up to adding a constant per state, which the
    subtraction removes; V is determined exactly.  Plain Q = V + A determines neither.

    Source: seed 000 "DQN 优化技巧", Dueling DQN ("此时 V(s) = max_a Q(s, a)").

    >>> dueling_decompose([[0.0, 2.0]], "mean")
    (array([1.]), array([[-1.,  1.]]))
    """
    aggregation = _aggregation(aggregation)
    q = validation.as_float_array(action_values, "action_values Q(s, a)", ndim=2)
    if q.shape[1] == 0:
        raise InvalidInputError("action_values needs at least one action")
    values = np.array([max(row) if aggregation == "max" else math.fsum(row) / row.size for row in q])
    return values, q - values[:, None]


# ----------------------------------------------------------------------------- replay

class ReplayBuffer:
    r"""A ring buffer of fixed capacity: FIFO overwrite once full, uniform sampling.

    Source: seed 000 "DQN", **经验放回**; seed 003, 4-2 ("当回放缓冲区'装满'后，就会自动删去
    最早进入缓冲区的数据").  The t-th experience added (t = 0, 1, ...) goes to slot
    ``t % capacity``, overwriting the oldest one once the buffer is full.  Sampling is
    uniform over the ``size = min(t, capacity)`` filled slots: a uniform draw u in [0, 1)
    selects slot ``floor(u * size)``, so each slot has probability exactly 1/size.
    """

    def __init__(self, capacity: int, width: int):
        if int(capacity) != capacity or capacity < 1:
            raise InvalidInputError(f"capacity must be an integer >= 1, got {capacity!r}")
        self.capacity = int(capacity)
        self.storage = np.zeros((self.capacity, int(width)))
        self.next_slot = 0  # where the next experience goes
        self.size = 0       # how many slots hold an experience

    def add(self, experience) -> None:
        self.storage[self.next_slot] = experience
        self.next_slot = (self.next_slot + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def slot(self, u: float) -> int:
        """The slot a uniform draw u in [0, 1) selects."""
        if self.size == 0:
            raise InvalidInputError("cannot sample from an empty replay buffer")
        if not 0.0 <= u < 1.0:
            raise InvalidInputError(f"uniform draws must lie in [0, 1), got {u!r}")
        return int(math.floor(u * self.size))

    def sample(self, uniform_draws) -> np.ndarray:
        rows = [self.storage[self.slot(float(u))] for u in uniform_draws]
        return np.array(rows).reshape(len(rows), self.storage.shape[1])


def replay_buffer_sample(capacity, experiences, uniform_draws) -> np.ndarray:
    r"""Add ``experiences`` in order to an empty :class:`ReplayBuffer`, then sample.

    Conventions: ``experiences[t]`` is the t-th experience added, a row of floats (for
    example ``(s, a, r, s', terminated)``); ``uniform_draws[j]`` in [0, 1) selects slot
    ``floor(u_j * size)``; returns the sampled rows, exactly as stored.  To use a sampler
    that draws integers (``rng.integers(size)``), pass ``u = index / size``.

    Example: capacity 2 and experiences 10, 20, 30: 30 overwrote 10 in slot 0, so the
    slots hold (30, 20) and u = 0.25, 0.75 select 30 and 20.

    >>> replay_buffer_sample(2, [[10.0], [20.0], [30.0]], [0.25, 0.75])
    array([[30.],
           [20.]])
    """
    experiences = validation.as_float_array(experiences, "experiences", ndim=2)
    draws = validation.as_float_array(uniform_draws, "uniform_draws", ndim=1)
    buffer = ReplayBuffer(capacity, experiences.shape[1])
    for experience in experiences:
        buffer.add(experience)
    return buffer.sample(draws)
