r"""Actor-critic pieces: the critic's TD loss (a semi-gradient) and A3C's n-step advantages.

Source: seed 000 "Actor-Critic" (the critic loss and its gradient; A2C and A3C); seed 002
"A3C" (the k-step advantage and Algorithm S3 of Mnih et al. 2016); seed 004 "CS 285
Lecture 6" (fitting V to bootstrapped targets).
"""

from __future__ import annotations

import numpy as np
import torch

from rlspec import validation

__all__ = ["critic_td_loss", "n_step_advantages"]


def critic_td_loss(values, next_values, rewards, terminated, gamma):
    r"""The critic's TD loss, whose autograd gradient is the TD *semi*-gradient.

    .. math:: \mathcal L(\omega) = \frac1B \sum_{i} \tfrac12 \big(y_i - V_\omega(s_i)\big)^2,
              \qquad y_i = r_i + \gamma (1 - d_i)\, V_\omega(s'_i) \ \text{held constant}

    .. math:: \nabla_\omega \mathcal L = -\frac1B \sum_i \big(y_i - V_\omega(s_i)\big)\nabla_\omega V_\omega(s_i)

    Source: seed 000 "Actor-Critic" (the loss 1/2 (r + gamma V(s_{t+1}) - V(s_t))^2 and the
    gradient -delta grad V(s_t)); the gradient the notes give is that of the loss with the
    target y treated as a constant, which is what ``detach`` does here (spec entry
    ``ac.critic-td-loss``, erratum; Sutton & Barto 2018, §9.3, "semi-gradient").

    Conventions: ``values[i]`` = V(s_i) and ``next_values[i]`` = V(s'_i), torch tensors that
    may require grad (the critic's outputs); ``rewards[i]``, ``terminated[i]`` (1 where s'_i
    is terminal: no bootstrap); the batch mean, as in CleanRL (``0.5 * (...) ** 2).mean()``).
    Returns a scalar tensor.

    Example: one transition, V(s) = 1, V(s') = 2, r = 1, gamma = 1/2: y = 2, L = 1/2, and
    dL/dV(s) = -(2 - 1) = -1, dL/dV(s') = 0.

    >>> v = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    >>> v_next = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    >>> loss = critic_td_loss(v, v_next, torch.tensor([1.0]), torch.tensor([0.0]), 0.5)
    >>> loss.backward(); loss.item(), v.grad.item(), v_next.grad
    (0.5, -1.0, None)
    """
    values = torch.as_tensor(values, dtype=torch.float64)
    next_values = torch.as_tensor(next_values, dtype=torch.float64)
    rewards = torch.as_tensor(rewards, dtype=torch.float64)
    terminated = torch.as_tensor(terminated, dtype=torch.float64)
    if not (values.shape == next_values.shape == rewards.shape == terminated.shape) \
            or values.ndim != 1 or values.numel() == 0:
        raise validation.InvalidInputError(
            f"values, next_values, rewards and terminated must be non-empty 1-D batches of one "
            f"length, got shapes {tuple(values.shape)}, {tuple(next_values.shape)}, "
            f"{tuple(rewards.shape)}, {tuple(terminated.shape)}")
    gamma = validation.check_gamma(gamma)
    with torch.no_grad():  # the TD target is a constant: no gradient flows into V(s')
        targets = rewards + gamma * (1.0 - terminated) * next_values
    return (0.5 * (targets - values) ** 2).mean()


def n_step_advantages(rewards, values, bootstrap_value, terminal, gamma) -> np.ndarray:
    r"""A3C's advantages for one segment of at most t_max steps (Mnih et al. 2016, Alg. S3).

    .. math:: R \leftarrow \begin{cases} 0 & s_T \text{ terminal} \\ V(s_T) & \text{otherwise}\end{cases},
              \qquad R \leftarrow r_i + \gamma R,\quad A_i = R - V(s_i)\quad (i = T-1, \dots, 0)

    so A_i = sum_{j=i}^{T-1} gamma^{j-i} r_j + gamma^{T-i} R - V(s_i): the k-step advantage
    of seed 002 with k = T - i, which shrinks towards the end of the segment.

    Source: seed 002 "A3C算法" (the pseudocode) and "A3C: 异步A2C方法" (the k-step advantage);
    seed 000 "异步优势 Actor-Critic（A3C）".  Conventions: ``rewards[i]`` = r_i and
    ``values[i]`` = V(s_i) for the segment's T steps; ``bootstrap_value`` = V(s_T), the value
    of the state after the last step, used only when ``terminal`` is False.

    Example: rewards (1, 1), values (0, 0), V(s_2) = 4, gamma 1/2, not terminal:
    R = 4, then R = 1 + 2 = 3 (A_1 = 3), then R = 1 + 1.5 = 2.5 (A_0 = 2.5).

    >>> n_step_advantages([1.0, 1.0], [0.0, 0.0], 4.0, False, 0.5)
    array([2.5, 3. ])
    """
    rewards = validation.as_float_array(rewards, "rewards[i]", ndim=1)
    values = validation.as_float_array(values, "values[i]", ndim=1)
    validation.check_shape(values, rewards.shape, "values[i]")
    bootstrap_value = float(validation.as_float_array(bootstrap_value, "bootstrap_value", ndim=0))
    gamma = validation.check_gamma(gamma)
    running = 0.0 if bool(terminal) else bootstrap_value
    advantages = np.zeros_like(rewards)
    for i in reversed(range(rewards.size)):
        running = rewards[i] + gamma * running
        advantages[i] = running - values[i]
    return advantages
