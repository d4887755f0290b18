"""Plausible wrong implementations of DQN and its variants, each a bug people really write.

Registered in the catalogue (``bug_catalogue.py``) with the check that must reject it.
Signatures are the canonical ones (``rlspec list checks``).  Where a bug was reported in a
public repository, its docstring names the repository and the issue or pull request.
"""

from __future__ import annotations

import numpy as np
import torch

from bug_catalogue import bug


# ------------------------------------------------------------------------ DQN target

@bug("dqn-target", "bootstraps through a terminal state (ignores terminated)")
def target_bootstraps_terminal(rewards, next_q_target, terminated, truncated, gamma):
    return rewards + gamma * next_q_target.max(axis=1)


@bug("dqn-target", "treats a time-limit truncation as terminal (done = terminated or truncated)")
def target_truncation_is_terminal(rewards, next_q_target, terminated, truncated, gamma):
    """Curt-Park/rainbow-is-all-you-need#70: ``done = terminated or truncated`` masks the
    bootstrap at time limits too."""
    done = np.maximum(terminated, truncated)
    return rewards + gamma * (1 - done) * next_q_target.max(axis=1)


@bug("dqn-target", "takes max |Q| instead of max Q")
def target_max_abs(rewards, next_q_target, terminated, truncated, gamma):
    return rewards + gamma * (1 - terminated) * np.abs(next_q_target).max(axis=1)


@bug("dqn-target", "forgets gamma")
def target_without_gamma(rewards, next_q_target, terminated, truncated, gamma):
    return rewards + (1 - terminated) * next_q_target.max(axis=1)


# ------------------------------------------------------------------------ Double DQN

@bug("double-dqn-target", "plain DQN target: the target network both chooses and evaluates")
def double_is_plain_dqn(rewards, next_q_online, next_q_target, terminated, gamma):
    """MaximeVandegar/Papers-in-100-Lines-of-Code#21 and keon/deep-q-learning#35: a file
    called Double DQN that computes max_a Q_target(s', a)."""
    return rewards + gamma * (1 - terminated) * next_q_target.max(axis=1)


@bug("double-dqn-target", "the online network evaluates its own choice")
def double_online_evaluates(rewards, next_q_online, next_q_target, terminated, gamma):
    return rewards + gamma * (1 - terminated) * next_q_online.max(axis=1)


@bug("double-dqn-target", "roles swapped: the target network chooses, the online one evaluates")
def double_roles_swapped(rewards, next_q_online, next_q_target, terminated, gamma):
    chosen = next_q_target.argmax(axis=1)
    return rewards + gamma * (1 - terminated) * next_q_online[np.arange(len(chosen)), chosen]


@bug("double-dqn-target", "bootstraps through a terminal state")
def double_bootstraps_terminal(rewards, next_q_online, next_q_target, terminated, gamma):
    chosen = next_q_online.argmax(axis=1)
    return rewards + gamma * next_q_target[np.arange(len(chosen)), chosen]


# ------------------------------------------------------------------------ losses

def _taken(q_values, actions):
    return q_values.gather(1, actions.long().unsqueeze(1)).squeeze(1)


def _target(rewards, next_q_target, terminated, gamma):
    with torch.no_grad():
        return rewards + gamma * (1 - terminated) * next_q_target.max(dim=1).values


@bug("dqn-loss", "the target is not detached: the gradient flows into next_q_target")
def loss_target_not_detached(q_values, actions, rewards, next_q_target, terminated, gamma):
    """philtabor/Deep-Q-Learning-Paper-To-Code#9 and #16, boyu-ai/Hands-on-RL#112,
    datawhalechina/easy-rl#117: the TD target is built without no_grad/detach."""
    target = rewards + gamma * (1 - terminated) * next_q_target.max(dim=1).values
    return 0.5 * ((_taken(q_values, actions) - target) ** 2).mean()


@bug("dqn-loss", "sums over the batch instead of averaging")
def loss_summed(q_values, actions, rewards, next_q_target, terminated, gamma):
    target = _target(rewards, next_q_target, terminated, gamma)
    return 0.5 * ((_taken(q_values, actions) - target) ** 2).sum()


@bug("dqn-loss", "regresses every action's Q onto y (forgets to gather the taken action)")
def loss_all_actions(q_values, actions, rewards, next_q_target, terminated, gamma):
    target = _target(rewards, next_q_target, terminated, gamma)
    return 0.5 * ((q_values - target[:, None]) ** 2).mean()


@bug("dqn-loss", "bootstraps through a terminal state")
def loss_bootstraps_terminal(q_values, actions, rewards, next_q_target, terminated, gamma):
    with torch.no_grad():
        target = rewards + gamma * next_q_target.max(dim=1).values
    return 0.5 * ((_taken(q_values, actions) - target) ** 2).mean()


@bug("dqn-loss", "returns a float (loss.item()): nothing to differentiate")
def loss_as_float(q_values, actions, rewards, next_q_target, terminated, gamma):
    target = _target(rewards, next_q_target, terminated, gamma)
    return (0.5 * ((_taken(q_values, actions) - target) ** 2).mean()).item()


@bug("dqn-huber-loss", "the squared loss where error clipping is asked")
def huber_is_squared(q_values, actions, rewards, next_q_target, terminated, gamma):
    target = _target(rewards, next_q_target, terminated, gamma)
    return 0.5 * ((_taken(q_values, actions) - target) ** 2).mean()


@bug("dqn-huber-loss", "clips the TD error before squaring (its gradient vanishes for |delta| > 1)")
def huber_clips_error(q_values, actions, rewards, next_q_target, terminated, gamma):
    target = _target(rewards, next_q_target, terminated, gamma)
    return 0.5 * ((_taken(q_values, actions) - target).clamp(-1.0, 1.0) ** 2).mean()


@bug("dqn-huber-loss", "the target is not detached")
def huber_target_not_detached(q_values, actions, rewards, next_q_target, terminated, gamma):
    target = rewards + gamma * (1 - terminated) * next_q_target.max(dim=1).values
    return torch.nn.functional.smooth_l1_loss(_taken(q_values, actions), target)


# ------------------------------------------------------------------------ n-step targets

def _n_step(rewards, next_values, terminated, truncated, gamma, n, *, stop_at_end=True,
            bootstrap_terminal=False, truncation_terminal=False, bootstrap_power=None):
    """A loop with switches for the usual mistakes."""
    targets = np.zeros(len(rewards))
    for t in range(len(rewards)):
        total = 0.0
        for k in range(n):
            step = t + k
            total += gamma ** k * rewards[step]
            ended = terminated[step] or (truncation_terminal and truncated[step])
            last = k == n - 1 or step == len(rewards) - 1 or (truncated[step] and stop_at_end)
            if ended and stop_at_end and not bootstrap_terminal:
                break
            if last or (ended and stop_at_end):
                power = k + 1 if bootstrap_power is None else bootstrap_power(k)
                total += gamma ** power * next_values[step]
                break
        targets[t] = total
    return targets


@bug("n-step-q-target", "bootstraps through a terminal state")
def n_step_bootstraps_terminal(rewards, next_values, terminated, truncated, gamma, n):
    return _n_step(rewards, next_values, terminated, truncated, gamma, n, bootstrap_terminal=True)


@bug("n-step-q-target", "sums rewards across the end of an episode")
def n_step_crosses_episodes(rewards, next_values, terminated, truncated, gamma, n):
    """thu-ml/tianshou#135 and younggyoseo/FastTD3#6 discuss done-masking mistakes of this kind."""
    targets = np.zeros(len(rewards))
    for t in range(len(rewards)):
        steps = min(n, len(rewards) - t)
        total = sum(gamma ** k * rewards[t + k] for k in range(steps))
        last = t + steps - 1
        targets[t] = total + gamma ** steps * (1 - terminated[last]) * next_values[last]
    return targets


@bug("n-step-q-target", "treats a time-limit truncation as terminal")
def n_step_truncation_terminal(rewards, next_values, terminated, truncated, gamma, n):
    return _n_step(rewards, next_values, terminated, truncated, gamma, n, truncation_terminal=True)


@bug("n-step-q-target", "gamma^(m-1) on the bootstrap (the notes' formula read literally)")
def n_step_off_by_one(rewards, next_values, terminated, truncated, gamma, n):
    return _n_step(rewards, next_values, terminated, truncated, gamma, n,
                   bootstrap_power=lambda k: k)


@bug("n-step-q-target", "bootstraps with gamma instead of gamma^m")
def n_step_gamma_once(rewards, next_values, terminated, truncated, gamma, n):
    """younggyoseo/FastTD3#6: the n-step target multiplied the bootstrap by gamma, not gamma^n."""
    return _n_step(rewards, next_values, terminated, truncated, gamma, n,
                   bootstrap_power=lambda k: 1)


# ------------------------------------------------------------------------ dueling

@bug("dueling-aggregation", "no subtraction: Q = V + A")
def dueling_plain_sum(values, advantages, aggregation):
    return values[:, None] + advantages


@bug("dueling-aggregation", "always subtracts the mean, whatever the aggregation")
def dueling_always_mean(values, advantages, aggregation):
    return values[:, None] + advantages - advantages.mean(axis=1, keepdims=True)


@bug("dueling-aggregation", "the mean over the batch instead of over actions")
def dueling_batch_mean(values, advantages, aggregation):
    baseline = advantages.max(axis=0, keepdims=True) if aggregation == "max" else \
        advantages.mean(axis=0, keepdims=True)
    return values[:, None] + advantages - baseline


# ------------------------------------------------------------------------ replay buffer

def _ring(capacity, experiences, size_of, write=None):
    storage = np.zeros((capacity, experiences.shape[1]))
    position, added = 0, 0
    for experience in experiences:
        slot = position if write is None else write(position, added)
        if slot is not None:
            storage[slot] = experience
        position, added = (position + 1) % capacity, added + 1
    return storage, size_of(added)


@bug("replay-buffer-sample", "samples from the whole capacity before the buffer is full")
def replay_uses_capacity(capacity, experiences, uniform_draws):
    storage, _ = _ring(capacity, experiences, lambda added: capacity)
    return storage[np.floor(uniform_draws * capacity).astype(int)]


@bug("replay-buffer-sample", "the 'full' flag is set one add too early")
def replay_full_too_early(capacity, experiences, uniform_draws):
    """assume-framework/assume#855: the position is advanced before the full check, so the
    buffer counts as full with one slot still empty, which can then be sampled."""
    storage, size = _ring(capacity, experiences,
                          lambda added: capacity if added + 1 >= capacity else added)
    return storage[np.floor(uniform_draws * size).astype(int)]


@bug("replay-buffer-sample", "stops adding once full (never overwrites the oldest)")
def replay_never_overwrites(capacity, experiences, uniform_draws):
    storage, size = _ring(capacity, experiences, lambda added: min(added, capacity),
                          write=lambda position, added: position if added < capacity else None)
    return storage[np.floor(uniform_draws * size).astype(int)]


@bug("replay-buffer-sample", "overwrites the newest slot once full (LIFO)")
def replay_overwrites_newest(capacity, experiences, uniform_draws):
    storage, size = _ring(capacity, experiences, lambda added: min(added, capacity),
                          write=lambda position, added: min(added, capacity - 1))
    return storage[np.floor(uniform_draws * size).astype(int)]


@bug("replay-buffer-sample", "never samples the last filled slot (randint(0, size - 1): the high end is exclusive)")
def replay_misses_last_slot(capacity, experiences, uniform_draws):
    storage, size = _ring(capacity, experiences, lambda added: min(added, capacity))
    return storage[np.floor(uniform_draws * max(size - 1, 1)).astype(int)]


# ------------------------------------------------------------------------ PER probabilities

def _normalise(powered):
    return powered / powered.sum()


@bug("per-proportional-probabilities", "no epsilon: a zero TD error is never sampled again")
def proportional_without_epsilon(td_errors, alpha, epsilon):
    with np.errstate(invalid="ignore", divide="ignore"):  # the bug's own 0/0 when all are 0
        return _normalise(np.abs(td_errors) ** alpha)


@bug("per-proportional-probabilities", "epsilon added after the power: |delta|^alpha + epsilon")
def proportional_epsilon_outside(td_errors, alpha, epsilon):
    """HorizonRobotics/alf#1232 changed p^alpha + eps to (p + eps)^alpha to match the paper."""
    return _normalise(np.abs(td_errors) ** alpha + epsilon)


@bug("per-proportional-probabilities", "forgets alpha: P proportional to |delta| + epsilon")
def proportional_without_alpha(td_errors, alpha, epsilon):
    return _normalise(np.abs(td_errors) + epsilon)


def _rank_probabilities(keys, alpha):
    order = np.argsort(keys, kind="stable")
    ranks = np.empty(len(keys))
    ranks[order] = np.arange(1, len(keys) + 1)
    return _normalise((1.0 / ranks) ** alpha)


@bug("per-rank-probabilities", "rank 1 is the smallest |delta| (ascending order)")
def rank_ascending(td_errors, alpha):
    return _rank_probabilities(np.abs(td_errors), alpha)


@bug("per-rank-probabilities", "ranks the signed delta instead of |delta|")
def rank_signed(td_errors, alpha):
    return _rank_probabilities(-td_errors, alpha)


@bug("per-rank-probabilities", "forgets alpha")
def rank_without_alpha(td_errors, alpha):
    return _rank_probabilities(-np.abs(td_errors), 1.0)


# ------------------------------------------------------------------------ PER weights

def _probabilities(priorities, alpha):
    return _normalise(priorities ** alpha)


@bug("per-importance-weights", "not normalised: (N P(j))^-beta as the notes write it")
def weights_unnormalised(priorities, indices, alpha, beta):
    """takoika/PrioritizedExperienceReplay#1: the weights lacked the max-normalisation."""
    return (len(priorities) * _probabilities(priorities, alpha)[indices]) ** (-beta)


@bug("per-importance-weights", "normalised by the largest weight in the sampled batch")
def weights_batch_max(priorities, indices, alpha, beta):
    """takoika/PrioritizedExperienceReplay#2; chainer/chainerrl#570 keeps it as an option
    ('batch'), but the paper's max runs over the buffer, like its sum in P(i)."""
    raw = (len(priorities) * _probabilities(priorities, alpha)[indices]) ** (-beta)
    return raw / raw.max()


@bug("per-importance-weights", "normalised by the sum of the weights")
def weights_sum_normalised(priorities, indices, alpha, beta):
    raw = (len(priorities) * _probabilities(priorities, alpha)) ** (-beta)
    return raw[indices] / raw.sum()


@bug("per-importance-weights", "exponent +beta instead of -beta")
def weights_wrong_sign(priorities, indices, alpha, beta):
    """takoika/PrioritizedExperienceReplay#1: the weight was computed as (1/(N P))^-beta."""
    raw = (len(priorities) * _probabilities(priorities, alpha)) ** beta
    return raw[indices] / raw.max()


@bug("per-importance-weights", "forgets alpha in P(i) (weights of proportional sampling with alpha = 1)")
def weights_without_alpha(priorities, indices, alpha, beta):
    raw = (len(priorities) * _probabilities(priorities, 1.0)) ** (-beta)
    return raw[indices] / raw.max()


# ------------------------------------------------------------------------ beta schedule

@bug("per-beta-schedule", "divides by T instead of T - 1: never reaches 1 during training")
def beta_never_reaches_one(step, total_steps, beta_start):
    return beta_start + min(step / total_steps, 1.0) * (1.0 - beta_start)


@bug("per-beta-schedule", "off by one step: beta_0 + (t + 1)(1 - beta_0)/(T - 1)")
def beta_off_by_one(step, total_steps, beta_start):
    if total_steps == 1:
        return 1.0
    return min(1.0, beta_start + (step + 1) * (1.0 - beta_start) / (total_steps - 1))


@bug("per-beta-schedule", "no clamp: beta grows past 1 after the last step")
def beta_unclamped(step, total_steps, beta_start):
    if total_steps == 1:
        return 1.0
    return beta_start + step * (1.0 - beta_start) / (total_steps - 1)


# ------------------------------------------------------------------------ sum tree

class _Tree:
    """A sum tree with switches for the usual mistakes."""

    def __init__(self, size, propagate="recompute", left_closed=True, leaf_offset=0):
        self.leaves = 1
        while self.leaves < size:
            self.leaves *= 2
        self.nodes = np.zeros(2 * self.leaves)
        self.propagate, self.left_closed, self.leaf_offset = propagate, left_closed, leaf_offset

    def update(self, index, priority):
        node = self.leaves + index
        self.nodes[node] = priority
        node //= 2
        while node >= 1:
            if self.propagate == "recompute":
                self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]
            elif self.propagate == "add-new":
                self.nodes[node] += priority
            # "none": the inner sums keep their old values
            node //= 2

    def find(self, u):
        node = 1
        while node < self.leaves:
            left = 2 * node
            go_left = u < self.nodes[left] if self.left_closed else u <= self.nodes[left]
            if go_left:
                node = left
            else:
                u -= self.nodes[left]
                node = left + 1
        return node - self.leaves + self.leaf_offset


def _tree_sample(priorities, update_indices, update_priorities, uniform_draws, build_exactly=False,
                 **switches):
    tree = _Tree(len(priorities), **switches)
    if build_exactly:  # build correctly, so that only the later updates are affected
        tree.propagate, saved = "recompute", tree.propagate
    for i, priority in enumerate(priorities):
        tree.update(i, priority)
    if build_exactly:
        tree.propagate = saved
    for index, priority in zip(update_indices, update_priorities):
        tree.update(int(index), priority)
    return np.array([tree.find(u) for u in uniform_draws])


@bug("sum-tree-sample", "an update changes the leaf but not the sums above it")
def tree_stale_sums(priorities, update_indices, update_priorities, uniform_draws):
    return _tree_sample(priorities, update_indices, update_priorities, uniform_draws,
                        build_exactly=True, propagate="none")


@bug("sum-tree-sample", "an update adds the new priority to the parents instead of the change")
def tree_adds_new_priority(priorities, update_indices, update_priorities, uniform_draws):
    return _tree_sample(priorities, update_indices, update_priorities, uniform_draws,
                        propagate="add-new")


@bug("sum-tree-sample", "descends left when u <= left sum: returns a zero-priority leaf at u = 0")
def tree_right_closed(priorities, update_indices, update_priorities, uniform_draws):
    """JuliaReinforcementLearning/ReinforcementLearningCore.jl#83 and
    JuliaReinforcementLearning/ReinforcementLearningTrajectories.jl#59: zero-priority leaves
    sampled; Howuhh/prioritized_experience_replay#3: the <= comparison."""
    return _tree_sample(priorities, update_indices, update_priorities, uniform_draws,
                        left_closed=False)


@bug("sum-tree-sample", "leaf index off by one (node - leaves + 1)")
def tree_off_by_one(priorities, update_indices, update_priorities, uniform_draws):
    return _tree_sample(priorities, update_indices, update_priorities, uniform_draws, leaf_offset=1)


# ------------------------------------------------------------------------ C51 projection

def _project(rewards, terminated, gamma, next_probabilities, v_min, v_max, *, integer_fix=True,
             clip=True, mask_terminal=True, weights=None):
    batch, atoms = next_probabilities.shape
    support = np.linspace(v_min, v_max, atoms)
    spacing = (v_max - v_min) / (atoms - 1)
    discount = gamma * (1 - terminated) if mask_terminal else np.full(batch, gamma)
    shifted = rewards[:, None] + discount[:, None] * support[None, :]
    if clip:
        shifted = np.clip(shifted, v_min, v_max)
    position = (shifted - v_min) / spacing
    lower, upper = np.floor(position).astype(int), np.ceil(position).astype(int)
    if integer_fix:
        on_atom = lower == upper
        lower_weight = np.where(on_atom, 1.0, upper - position)
        upper_weight = np.where(on_atom, 0.0, position - lower)
    else:
        lower_weight, upper_weight = upper - position, position - lower
    mass = next_probabilities if weights is None else weights(next_probabilities, support)
    projected = np.zeros((batch, atoms))
    for b in range(batch):
        for j in range(atoms):
            if 0 <= lower[b, j] < atoms:
                projected[b, lower[b, j]] += mass[b, j] * lower_weight[b, j]
            if 0 <= upper[b, j] < atoms:
                projected[b, upper[b, j]] += mass[b, j] * upper_weight[b, j]
    return projected


@bug("c51-projection", "floor(b) = ceil(b) when b is an integer: that atom's mass is lost")
def c51_integer_b_loses_mass(rewards, terminated, gamma, next_probabilities, v_min, v_max):
    """floringogianu/categorical-dqn#1 and Curt-Park/rainbow-is-all-you-need#76 (also
    flyyufelix/C51-DDQN-Keras#8): m_l += p (u - b) and m_u += p (b - l) are both 0 there."""
    return _project(rewards, terminated, gamma, next_probabilities, v_min, v_max, integer_fix=False)


@bug("c51-projection", "no clipping: mass shifted outside [v_min, v_max] is dropped")
def c51_without_clipping(rewards, terminated, gamma, next_probabilities, v_min, v_max):
    return _project(rewards, terminated, gamma, next_probabilities, v_min, v_max, clip=False)


@bug("c51-projection", "terminal transitions keep gamma z (not collapsed to r)")
def c51_terminal_not_collapsed(rewards, terminated, gamma, next_probabilities, v_min, v_max):
    return _project(rewards, terminated, gamma, next_probabilities, v_min, v_max, mask_terminal=False)


@bug("c51-projection", "projects p_j z_j instead of p_j (the distribution times the support)")
def c51_times_support(rewards, terminated, gamma, next_probabilities, v_min, v_max):
    """higgsfield/RL-Adventure#8: the next distribution was multiplied by the support before
    the projection, so the result does not sum to 1."""
    return _project(rewards, terminated, gamma, next_probabilities, v_min, v_max,
                    weights=lambda p, z: p * z[None, :])


# ------------------------------------------------------------------------ NoisyNet

def _layer(x, weight_mu, weight_sigma, bias_mu, bias_sigma, weight_noise, bias_noise):
    return x @ (weight_mu + weight_sigma * weight_noise).T + bias_mu + bias_sigma * bias_noise


def _f(e):
    return np.sign(e) * np.sqrt(np.abs(e))


@bug("noisy-linear", "f(x) = sqrt(|x|) without the sign")
def noisy_without_sign(x, weight_mu, weight_sigma, bias_mu, bias_sigma, noise_in, noise_out):
    f_in, f_out = np.sqrt(np.abs(noise_in)), np.sqrt(np.abs(noise_out))
    return _layer(x, weight_mu, weight_sigma, bias_mu, bias_sigma, np.outer(f_out, f_in), f_out)


@bug("noisy-linear", "no f at all: eps_w = outer(eps_out, eps_in)")
def noisy_without_f(x, weight_mu, weight_sigma, bias_mu, bias_sigma, noise_in, noise_out):
    return _layer(x, weight_mu, weight_sigma, bias_mu, bias_sigma, np.outer(noise_out, noise_in),
                  noise_out)


@bug("noisy-linear", "independent noise eps_ij drawn inside instead of the factorised input")
def noisy_independent(x, weight_mu, weight_sigma, bias_mu, bias_sigma, noise_in, noise_out):
    generator = np.random.default_rng(0)
    return _layer(x, weight_mu, weight_sigma, bias_mu, bias_sigma,
                  generator.standard_normal(weight_mu.shape), generator.standard_normal(bias_mu.shape))


@bug("noisy-linear", "outer product transposed: f(eps_in) f(eps_out)^T")
def noisy_transposed(x, weight_mu, weight_sigma, bias_mu, bias_sigma, noise_in, noise_out):
    return _layer(x, weight_mu, weight_sigma, bias_mu, bias_sigma,
                  np.outer(_f(noise_in), _f(noise_out)), _f(noise_out))


@bug("noisy-linear", "no noise on the bias")
def noisy_bias_without_noise(x, weight_mu, weight_sigma, bias_mu, bias_sigma, noise_in, noise_out):
    return _layer(x, weight_mu, weight_sigma, bias_mu, bias_sigma,
                  np.outer(_f(noise_out), _f(noise_in)), 0.0)
