r"""The formulas of the DQN family, one batched torch function each.

Every function here is what ``agents/dqn.py`` executes, and each passes its rlspec check
(``tests/agents/test_agents_formulas.py`` runs ``rlspec.check`` on it; the check names are
given in each docstring).  They work on any device and dtype; the checks run them in float64.

Conventions: batch-first tensors; ``discounts[i]`` is the factor in front of the bootstrap,
:math:`\gamma^{m_i} (1 - \text{terminated})`, so that one-step, n-step, terminal and
truncated transitions all share one target formula (a truncated transition keeps its
bootstrap: only termination stops it).
"""

from __future__ import annotations

import torch

__all__ = [
    "q_learning_targets", "double_q_learning_targets", "n_step_windows", "td_loss",
    "dueling_aggregate", "categorical_projection", "categorical_cross_entropy",
    "proportional_priorities", "importance_weights", "epsilon_greedy_probabilities",
    "linear_schedule",
]


def q_learning_targets(rewards, next_q_target, discounts) -> torch.Tensor:
    r"""The DQN target :math:`y_i = r_i + d_i \max_{a'} Q_{\omega^-}(s'_i, a')`.

    ``d_i = gamma^m (1 - terminated)``; with m = 1 this is Mnih et al. (2015), Algorithm 1
    (check ``dqn-target``).  Example: r = (1, 1), Q'(s') = ((2, 4), (2, 4)), d = (1/2, 0):
    y = (3, 1).
    """
    return rewards + discounts * next_q_target.max(dim=1).values


def double_q_learning_targets(rewards, next_q_online, next_q_target, discounts) -> torch.Tensor:
    r"""Double DQN: :math:`y_i = r_i + d_i\, Q_{\omega^-}(s'_i, \arg\max_{a'} Q_\omega(s'_i, a'))`.

    van Hasselt et al. (2016), eq. (4) (check ``double-dqn-target``).  Example: online
    (1, 3) picks action 1, the target network values it at 2 (not its max 5): r = 0, d = 1,
    y = 2.
    """
    chosen = next_q_online.argmax(dim=1, keepdim=True)
    return rewards + discounts * next_q_target.gather(1, chosen).squeeze(1)


def n_step_windows(rewards, terminated, truncated, gamma: float):
    r"""Collapse windows of n consecutive steps into n-step transitions.

    For each row i (steps t .. t+n-1 of one environment), m is the number of steps up to
    and including the first that ended an episode (or n), and

    .. math:: R_i = \sum_{k<m} \gamma^k r_{t+k},\qquad d_i = \gamma^m (1 - \text{terminated}_{t+m-1})

    so that the n-step target is :math:`R_i + d_i \max_{a'} Q'(s_{t+m}, a')` (Sutton & Barto
    eq. 7.1; Hessel et al. 2018 for DQN).  A truncated step ends the window *with* its
    bootstrap.  Returns ``(return_sums[B], discounts[B], last_offsets[B])`` where
    ``last_offsets = m - 1`` indexes the step whose next observation is bootstrapped from
    (check ``n-step-q-target``).

    Example: gamma = 1/2, rewards (1, 2, 4), nothing ends: R = 1 + 1 + 1 = 3, d = 1/8,
    offset 2; the second step terminated: R = 2, d = 0, offset 1.
    """
    window = rewards.shape[1]
    done = (terminated.bool() | truncated.bool()).to(torch.int64)
    # ended_before[k] = 1 once an earlier step of the window ended the episode.
    ended_before = torch.cumsum(done, dim=1) - done
    inside = (ended_before == 0).to(rewards.dtype)
    powers = gamma ** torch.arange(window, dtype=rewards.dtype, device=rewards.device)
    return_sums = (rewards * inside * powers).sum(dim=1)
    steps = inside.sum(dim=1).to(torch.int64)                     # m
    last = (steps - 1).unsqueeze(1)
    stopped = terminated.to(rewards.dtype).gather(1, last).squeeze(1)
    discounts = gamma ** steps.to(rewards.dtype) * (1.0 - stopped)
    return return_sums, discounts, steps - 1


def td_loss(predictions, targets, weights=None, kind: str = "squared") -> torch.Tensor:
    r"""The mean regression loss of predictions on (constant) targets, optionally weighted.

    kind "squared": :math:`\frac1B\sum_i w_i \tfrac12 (Q_i - y_i)^2`; kind "huber":
    :math:`\frac1B\sum_i w_i H(Q_i - y_i)` with threshold 1 (Mnih et al. 2015, "error
    clipping").  ``targets`` is detached here, so no gradient flows into the target.
    Checks ``dqn-loss``, ``dqn-huber-loss`` and, with V instead of Q, ``critic-td-loss``.
    Example: Q = 3, y = 1, squared: 2; huber: 1.5.
    """
    errors = predictions - targets.detach()
    if kind == "squared":
        losses = 0.5 * errors.square()
    elif kind == "huber":
        losses = torch.nn.functional.huber_loss(predictions, targets.detach(), reduction="none",
                                                delta=1.0)
    else:
        raise ValueError(f"td_loss: kind must be 'squared' or 'huber', got {kind!r}")
    if weights is not None:
        losses = losses * weights
    return losses.mean()


def dueling_aggregate(values, advantages, aggregation: str = "mean") -> torch.Tensor:
    r"""The dueling head :math:`Q = V + A - \operatorname{mean}_a A` (or ``max``).

    Wang et al. (2016), eqs. (8)-(9) (check ``dueling-aggregation``).  Example: V = 1,
    A = (0, 2): mean gives (0, 2), max gives (-1, 1).
    """
    if aggregation == "mean":
        baseline = advantages.mean(dim=1, keepdim=True)
    elif aggregation == "max":
        baseline = advantages.max(dim=1, keepdim=True).values
    else:
        raise ValueError(f"dueling_aggregate: aggregation must be 'mean' or 'max', got "
                         f"{aggregation!r}")
    return values.unsqueeze(1) + advantages - baseline


def categorical_projection(rewards, discounts, next_probabilities, v_min: float, v_max: float
                           ) -> torch.Tensor:
    r"""C51: project the distribution of :math:`r + d z` back onto the support z.

    With :math:`z_j = v_{min} + j\Delta`, each shifted atom :math:`\hat z_j =
    \operatorname{clip}(r + d z_j, v_{min}, v_{max})` splits its mass between its two
    neighbours by linear interpolation: :math:`b = (\hat z_j - v_{min})/\Delta`, the lower
    neighbour gets :math:`p_j (\lceil b\rceil - b)`, the upper :math:`p_j (b - \lfloor
    b\rfloor)`, and an atom that lands exactly on the grid keeps all of it (Bellemare et al.
    2017, Algorithm 1; check ``c51-projection``).  Example: support (0, 1, 2), r = 0.5,
    d = 0, all mass moves to 0.5, split (1/2, 1/2, 0).
    """
    n_atoms = next_probabilities.shape[1]
    delta = (v_max - v_min) / (n_atoms - 1)
    support = torch.linspace(v_min, v_max, n_atoms, dtype=next_probabilities.dtype,
                             device=next_probabilities.device)
    shifted = (rewards.unsqueeze(1) + discounts.unsqueeze(1) * support).clamp(v_min, v_max)
    position = (shifted - v_min) / delta
    lower, upper = position.floor(), position.ceil()
    on_grid = (lower == upper).to(next_probabilities.dtype)
    lower_mass = next_probabilities * (upper - position + on_grid)
    upper_mass = next_probabilities * (position - lower)
    projected = torch.zeros_like(next_probabilities)
    projected.scatter_add_(1, lower.long().clamp(0, n_atoms - 1), lower_mass)
    projected.scatter_add_(1, upper.long().clamp(0, n_atoms - 1), upper_mass)
    return projected


def categorical_cross_entropy(target_probabilities, log_probabilities, weights=None
                              ) -> torch.Tensor:
    r"""C51's loss :math:`\frac1B\sum_i w_i \big(-\sum_j m_{ij} \log p_{ij}\big)`, m held constant.

    Bellemare et al. (2017), Algorithm 1, last line.  Example: m = (1, 0), p = (1/2, 1/2):
    log 2.
    """
    losses = -(target_probabilities.detach() * log_probabilities).sum(dim=1)
    if weights is not None:
        losses = losses * weights
    return losses.mean()


def proportional_priorities(td_errors, epsilon: float) -> torch.Tensor:
    r"""Prioritized replay's priority :math:`p_i = |\delta_i| + \epsilon`.

    Schaul et al. (2016), section 3.3; :math:`P(i) = p_i^\alpha / \sum_k p_k^\alpha` is
    what the sum tree samples (check ``per-proportional-probabilities``).
    """
    return td_errors.abs() + epsilon


def importance_weights(priorities, indices, alpha: float, beta: float) -> torch.Tensor:
    r""":math:`w_j = (N P(j))^{-\beta} / \max_i (N P(i))^{-\beta}`, the max over the buffer.

    Schaul et al. (2016), section 3.4 (check ``per-importance-weights``).  In logs, since
    :math:`(N P(j))^{-\beta} / (N P_{min})^{-\beta} = (P_{min} / P(j))^{\beta}` and
    :math:`P_{min}/P(j) = (p_{min}/p_j)^\alpha`: :math:`w_j = (p_{min}/p_j)^{\alpha\beta}`.
    Example: priorities (1, 4), alpha = 1/2, beta = 1: w = (1, 1/2).
    """
    smallest = priorities.min()
    return (smallest / priorities[indices]) ** (alpha * beta)


def epsilon_greedy_probabilities(action_values, epsilon: float) -> torch.Tensor:
    r""":math:`\pi(a|s) = \epsilon / |A| + (1 - \epsilon)\,[a = \arg\max_b Q(s, b)]`.

    Sutton & Barto section 2.2 (check ``epsilon-greedy``); the first maximiser wins ties.
    Example: Q = (1, 3), epsilon = 1/2: (1/4, 3/4).
    """
    n_actions = action_values.shape[-1]
    greedy = torch.nn.functional.one_hot(action_values.argmax(dim=-1), n_actions)
    return epsilon / n_actions + (1.0 - epsilon) * greedy.to(action_values.dtype)


def linear_schedule(start: float, end: float, duration: int, step: int) -> float:
    r"""Linear interpolation from ``start`` at step 0 to ``end`` at ``duration``, then flat.

    The exploration schedule of Mnih et al. (2015).  Example: 1 to 0.1 over 100 steps is
    0.55 at step 50 and 0.1 from step 100 on.
    """
    if duration <= 0:
        return end
    fraction = min(step / duration, 1.0)
    return (1.0 - fraction) * start + fraction * end  # exactly `end` once fraction = 1
