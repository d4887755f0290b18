"""Correct DQN-family implementations written the way users write them: vectorised numpy,
torch with gather / no_grad / smooth_l1_loss, scipy's rankdata, a sum tree in the popular
flat-array layout, torch's index_add_.  None imports rlspec.

The test files of the deep value chapter assert that rlspec.check accepts each: a check that
rejected correct code would be as useless as one that accepted bugs.
"""

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata


# ------------------------------------------------------------------------ targets and losses

def dqn_target_vectorised(rewards, next_q_target, terminated, truncated, gamma):
    return rewards + gamma * (1.0 - terminated) * next_q_target.max(axis=1)


def double_dqn_target_torch(rewards, next_q_online, next_q_target, terminated, gamma):
    online, target = torch.as_tensor(next_q_online), torch.as_tensor(next_q_target)
    with torch.no_grad():
        chosen = online.argmax(dim=1, keepdim=True)
        values = target.gather(1, chosen).squeeze(1)
    return (torch.as_tensor(rewards) + gamma * (1 - torch.as_tensor(terminated)) * values).numpy()


def dqn_loss_mse(q_values, actions, rewards, next_q_target, terminated, gamma):
    """The common mse_loss form, times 1/2 to match the notes' 1/(2N)."""
    with torch.no_grad():
        target = rewards + gamma * (1 - terminated) * next_q_target.max(dim=1).values
    taken = q_values.gather(1, actions.unsqueeze(1)).squeeze(1)
    return 0.5 * F.mse_loss(taken, target)


def dqn_loss_smooth_l1(q_values, actions, rewards, next_q_target, terminated, gamma):
    """Stable-Baselines3's form: smooth_l1_loss against a target computed without gradient."""
    with torch.no_grad():
        target = rewards + gamma * (1 - terminated) * next_q_target.max(dim=1).values
    return F.smooth_l1_loss(q_values.gather(1, actions.unsqueeze(1)).squeeze(1), target)


def n_step_targets_backward(rewards, next_values, terminated, truncated, gamma, n):
    """Each window summed backwards from its end, rlax-style."""
    length = len(rewards)
    targets = np.zeros(length)
    for t in range(length):
        end = t
        while end < t + n - 1 and end < length - 1 and not (terminated[end] or truncated[end]):
            end += 1
        value = 0.0 if terminated[end] else next_values[end]
        for k in range(end, t - 1, -1):
            value = rewards[k] + gamma * value
        targets[t] = value
    return targets


def dueling_head_torch(values, advantages, aggregation):
    v, a = torch.as_tensor(values).unsqueeze(1), torch.as_tensor(advantages)
    baseline = a.max(dim=1, keepdim=True).values if aggregation == "max" else a.mean(dim=1, keepdim=True)
    return v + a - baseline


class UserReplayBuffer:
    def __init__(self, capacity, width):
        self.data = np.zeros((capacity, width))
        self.ptr, self.size, self.capacity = 0, 0, capacity

    def add(self, row):
        self.data[self.ptr] = row
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, indices):
        return self.data[indices]


def replay_sample_with_user_buffer(capacity, experiences, uniform_draws):
    buffer = UserReplayBuffer(capacity, experiences.shape[1])
    for row in experiences:
        buffer.add(row)
    return buffer.sample((uniform_draws * buffer.size).astype(int))


# ------------------------------------------------------------------------ prioritized replay

def proportional_vectorised(td_errors, alpha, epsilon):
    scaled = (np.abs(td_errors) + epsilon) ** alpha
    return scaled / scaled.sum()


def rank_based_with_scipy(td_errors, alpha):
    ranks = rankdata(-np.abs(td_errors), method="ordinal")
    scaled = (1.0 / ranks) ** alpha
    return scaled / scaled.sum()


def weights_baselines_style(priorities, indices, alpha, beta):
    """The smallest probability in the buffer gives the largest weight."""
    probabilities = priorities ** alpha / np.sum(priorities ** alpha)
    max_weight = (probabilities.min() * len(priorities)) ** (-beta)
    return (probabilities[indices] * len(priorities)) ** (-beta) / max_weight


def beta_by_fraction(step, total_steps, beta_start):
    if total_steps <= 1:
        return 1.0
    fraction = min(step / (total_steps - 1), 1.0)
    return beta_start + fraction * (1.0 - beta_start)


class FlatSumTree:
    """The popular layout: 2N - 1 nodes in one array, leaves at N - 1 .. 2N - 2, for any N.

    When N is not a power of two the leaves sit at different depths and the descent visits
    them in a rotated order, not 0..N-1; the sampling distribution is still exact, and the
    check accepts it.
    """

    def __init__(self, capacity):
        self.capacity = capacity
        self.tree = np.zeros(2 * capacity - 1)

    def update(self, index, priority):
        node = index + self.capacity - 1
        change = priority - self.tree[node]
        self.tree[node] = priority
        while node != 0:
            node = (node - 1) // 2
            self.tree[node] += change

    def get(self, value):
        node = 0
        while 2 * node + 1 < len(self.tree):
            left = 2 * node + 1
            if value < self.tree[left]:
                node = left
            else:
                value -= self.tree[left]
                node = left + 1
        return node - self.capacity + 1


def sum_tree_flat_layout(priorities, update_indices, update_priorities, uniform_draws):
    tree = FlatSumTree(len(priorities))
    for index, priority in enumerate(priorities):
        tree.update(index, priority)
    for index, priority in zip(update_indices, update_priorities):
        tree.update(int(index), priority)
    return np.array([tree.get(u) for u in uniform_draws])


# ------------------------------------------------------------------------ C51 and NoisyNet

def c51_projection_index_add(rewards, terminated, gamma, next_probabilities, v_min, v_max):
    probabilities = torch.as_tensor(next_probabilities)
    batch, atoms = probabilities.shape
    support = torch.linspace(v_min, v_max, atoms, dtype=torch.float64)
    delta = (v_max - v_min) / (atoms - 1)
    shifted = torch.as_tensor(rewards)[:, None] + gamma * (1 - torch.as_tensor(terminated))[:, None] * support
    b = (shifted.clamp(v_min, v_max) - v_min) / delta
    lower, upper = b.floor().long(), b.ceil().long()
    # When b is an integer both weights below are 0: move one index so the mass survives.
    lower[(upper > 0) & (lower == upper)] -= 1
    upper[(lower < atoms - 1) & (lower == upper)] += 1
    projected = torch.zeros(batch * atoms, dtype=torch.float64)
    offset = (torch.arange(batch) * atoms)[:, None]
    projected.index_add_(0, (lower + offset).view(-1), (probabilities * (upper.double() - b)).view(-1))
    projected.index_add_(0, (upper + offset).view(-1), (probabilities * (b - lower.double())).view(-1))
    return projected.view(batch, atoms).numpy()


def noisy_linear_torch(x, weight_mu, weight_sigma, bias_mu, bias_sigma, noise_in, noise_out):
    def scale(noise):
        noise = torch.as_tensor(noise)
        return noise.sign() * noise.abs().sqrt()

    epsilon_in, epsilon_out = scale(noise_in), scale(noise_out)
    weight = torch.as_tensor(weight_mu) + torch.as_tensor(weight_sigma) * torch.outer(epsilon_out, epsilon_in)
    bias = torch.as_tensor(bias_mu) + torch.as_tensor(bias_sigma) * epsilon_out
    return F.linear(torch.as_tensor(x), weight, bias).numpy()
