"""Counterexamples to the notes' DQN chapter: one or more tests per spec entry of status
"erratum" among dqn.*, per.* and noisy.*.

Each test builds a small case by hand, computes the exact answer with the oracles (exact
rationals, sympy; the reference only where the erratum is about what it computes instead),
and asserts that the notes' statement, read literally, is false.  Numbers are dyadic so that
every equality below is exact.
"""

from fractions import Fraction

import numpy as np
import pytest

from rlspec.oracles import dqn as dqn_oracle
from rlspec.oracles import prioritized_replay
from rlspec.oracles.methods import exact_rational
from rlspec.reference import noisy_networks
from rlspec.toy_mdps.mdp import TabularMDP


def _fractions(values) -> list[Fraction]:
    return [Fraction(float(v)) for v in values]


# ----------------------------------------------------------------------------- dqn.td-target

@pytest.mark.spec("dqn.td-target")
def test_notes_dqn_target_bootstraps_past_the_end_of_an_episode():
    """Seed 000 "DQN", 目标网络: target r + gamma max_a' Q_target(s', a'), for every transition.

    A one-step episode (reward 1, then a terminal state) has return exactly 1.  A target
    network outputs something at the terminal observation, say (3, 5); the notes' target is
    then 1 + 5/2, the masked target 1.  A time-limit cut is the opposite case: on a
    self-loop paying 1 with gamma 1/2, V = 2 and the Bellman equation needs the bootstrap
    r + gamma V(s') = 2 even when the episode was truncated there; masking it gives 1.
    """
    gamma = 0.5
    (episode_return,) = exact_rational.discounted_returns_exact([1.0], gamma)
    assert episode_return == 1
    notes = Fraction(1) + Fraction(gamma) * max(_fractions([3.0, 5.0]))
    (masked,) = dqn_oracle.dqn_targets_exact([1.0], np.array([[3.0, 5.0]]), [1.0], gamma)
    assert masked == episode_return
    assert notes == Fraction(7, 2) != episode_return

    loop = TabularMDP(np.ones((1, 1, 1)), [[1.0]], gamma)
    (value,) = exact_rational.evaluate_policy_exact(loop.transitions, loop.rewards, gamma, [[1.0]])
    (bootstrapped,) = dqn_oracle.dqn_targets_exact([1.0], np.array([[float(value)]]), [0.0], gamma)
    (cut,) = dqn_oracle.dqn_targets_exact([1.0], np.array([[float(value)]]), [1.0], gamma)
    assert value == 2 and bootstrapped == value and cut != value


# ----------------------------------------------------------------------------- dqn.dueling

@pytest.mark.spec("dqn.dueling")
def test_notes_mean_dueling_value_is_the_mean_of_q_not_of_a():
    """Seed 000 "Dueling DQN", mean form: "此时 V(s) = (1/|A|) sum_a' A(s, a')".

    V = 1, A = (1, 3): Q = 1 + (1, 3) - 2 = (0, 2).  The mean of Q is 1 = V; the mean of A is 2.
    """
    q = dqn_oracle.dueling_exact([1.0], np.array([[1.0, 3.0]]), "mean")
    assert list(q[0]) == [0, 2]
    assert sum(q[0]) / 2 == 1                     # V is the mean of Q
    assert sum(_fractions([1.0, 3.0])) / 2 == 2   # the notes' mean of A is not V
    # The max form's claim V = max_a Q holds: Q = 1 + (1, 3) - 3 = (-1, 1).
    assert max(dqn_oracle.dueling_exact([1.0], np.array([[1.0, 3.0]]), "max")[0]) == 1


@pytest.mark.spec("dqn.dueling")
def test_advantages_do_not_sum_to_zero_over_actions():
    """Seed 000 "Dueling DQN": "在同一个状态下，所有动作的优势值之和为 0".

    One state, two self-looping actions paying 1 and 0, gamma 1/2.  Optimal: Q* = (2, 1),
    V* = 2, A* = (0, -1): the sum is -1 (it is max_a A* that is 0).  For pi = (3/4, 1/4):
    V = 3/2, Q = (7/4, 3/4), A = (1/4, -3/4): the sum is -1/2, the pi-weighted sum 0.
    """
    transitions, rewards, gamma = np.ones((1, 2, 1)), np.array([[1.0, 0.0]]), 0.5
    optimal, _ = exact_rational.optimal_values_exact(transitions, rewards, gamma)
    q_star = exact_rational.action_values_exact(transitions, rewards, gamma, optimal)[0]
    a_star = [q - optimal[0] for q in q_star]
    assert a_star == [0, -1] and sum(a_star) == -1 and max(a_star) == 0

    policy = np.array([[0.75, 0.25]])
    values = exact_rational.evaluate_policy_exact(transitions, rewards, gamma, policy)
    q_pi = exact_rational.action_values_exact(transitions, rewards, gamma, values)[0]
    advantages = [q - values[0] for q in q_pi]
    assert advantages == [Fraction(1, 4), Fraction(-3, 4)]
    assert sum(advantages) == Fraction(-1, 2)
    assert sum(Fraction(p) * a for p, a in zip(policy[0], advantages)) == 0


@pytest.mark.spec("dqn.dueling")
def test_plain_dueling_sum_cannot_be_split_into_v_and_a():
    """Seed 003, 4-8: Q(s, a) = V(s) + A(s, a).  (V, A) = (1, (0, 2)) and (3, (-2, 0)) give the
    same Q = (1, 3), so V is not determined by Q; the symbolic null space of (V, A) -> Q
    has a direction that moves V.  With the mean subtracted it has none."""
    first = [Fraction(1) + a for a in _fractions([0.0, 2.0])]
    second = [Fraction(3) + a for a in _fractions([-2.0, 0.0])]
    assert first == second == [1, 3]
    (direction,) = dqn_oracle.dueling_null_space(2, "none")
    assert direction[0] != 0
    (direction,) = dqn_oracle.dueling_null_space(2, "mean")
    assert direction[0] == 0


# ----------------------------------------------------------------------------- dqn.n-step-target

@pytest.mark.spec("dqn.n-step-target")
def test_notes_n_step_formula_read_literally_is_not_the_n_step_return():
    """Seed 000 "其他改进内容": sum_{k<n} gamma^k r_{t+k} + gamma^k max_a' Q(s_{t+k}, a'), with k
    left over from the sum; read as k = n - 1 it bootstraps from s_{t+n-1} with gamma^(n-1).

    A deterministic chain 0 -> 1 -> 2 -> 3 -> 4 (terminal), reward 1 per step, and a second
    action that stays and pays 0; gamma 1/2.  With the exact Q*, the n-step target of the
    optimal trajectory equals Q*(s_t, a_t) (the n-step Bellman equation); the literal reading
    does not.
    """
    n_states, gamma, n = 5, 0.5, 2
    transitions = np.zeros((n_states, 2, n_states))
    rewards = np.zeros((n_states, 2))
    for s in range(n_states - 1):
        transitions[s, 0, s + 1], rewards[s, 0] = 1.0, 1.0
        transitions[s, 1, s] = 1.0
    transitions[n_states - 1, :, n_states - 1] = 1.0
    values, _ = exact_rational.optimal_values_exact(transitions, rewards, gamma)
    q_star = exact_rational.action_values_exact(transitions, rewards, gamma, values)

    steps = n_states - 1  # the optimal trajectory from 0 takes action 0 four times
    trajectory_rewards = np.ones(steps)
    next_values = np.array([float(values[t + 1]) for t in range(steps)])
    terminated = np.zeros(steps)
    terminated[-1] = 1.0
    targets = dqn_oracle.n_step_targets_exact(trajectory_rewards, next_values, terminated,
                                              np.zeros(steps), gamma, n)
    assert targets == [q_star[t, 0] for t in range(steps)]

    g = Fraction(gamma)
    t = 0
    literal = sum(g ** k for k in range(n)) + g ** (n - 1) * values[t + n - 1]
    assert literal != q_star[t, 0]
    assert (literal, q_star[t, 0]) == (Fraction(19, 8), Fraction(15, 8))  # 1 + 1/2 + V*(1)/2 vs V*(0)


# ----------------------------------------------------------------------------- per.importance-weights

@pytest.mark.spec("per.importance-weights")
def test_unnormalised_importance_weights_exceed_one():
    """Seed 000 PER: w_i = (N P(i))^-beta, without Schaul et al.'s division by max_i w_i.

    p = (1, 3), alpha = beta = 1: P = (1/4, 3/4), the notes' weights (2, 2/3): the first
    scales its update *up* by 2.  Normalised: (1, 1/3), never above 1.
    """
    probabilities = [Fraction(1, 4), Fraction(3, 4)]
    notes = [1 / (2 * p) for p in probabilities]
    assert notes == [2, Fraction(2, 3)] and max(notes) > 1
    normalised = prioritized_replay.importance_weights_precise([1.0, 3.0], [0, 1], 1.0, 1.0)
    np.testing.assert_array_equal(normalised, [1.0, 1.0 / 3.0])
    assert [w / max(notes) for w in notes] == [1, Fraction(1, 3)]


# ----------------------------------------------------------------------------- noisy.factorised-linear

@pytest.mark.spec("noisy.factorised-linear")
def test_scalar_noise_moves_every_output_along_one_direction():
    """Seed 000 噪声网络: "eps_w 和 eps_b 是将退火到 0 的随机标量".

    With one scalar eps shared by all weights and biases, the perturbation of the output is
    eps (sigma_w x + sigma_b): any two noise draws perturb a 2-output layer along parallel
    vectors (determinant exactly 0).  With the factorised matrix noise of Fortunato et al.
    two draws give independent directions.  Perfect squares keep f exact.
    """
    x = np.array([[1.0, 2.0]])
    layer = {"weight_mu": np.array([[0.5, -1.0], [0.25, 0.0]]),
             "weight_sigma": np.array([[0.5, 0.25], [1.0, 0.5]]),
             "bias_mu": np.array([0.0, 1.0]), "bias_sigma": np.array([0.25, 0.5])}
    plain = x @ layer["weight_mu"].T + layer["bias_mu"]

    def determinant(u, v):
        u, v = _fractions(u), _fractions(v)
        return u[0] * v[1] - u[1] * v[0]

    direction = x @ layer["weight_sigma"].T + layer["bias_sigma"]
    scalar_draws = [1.0, -2.25]
    scalar = [eps * direction[0] for eps in scalar_draws]
    assert determinant(*scalar) == 0

    draws = [(np.array([4.0, 0.25]), np.array([1.0, -2.25])),
             (np.array([-1.0, 2.25]), np.array([0.25, 4.0]))]
    factorised = [noisy_networks.noisy_linear(x, **layer, noise_in=e_in, noise_out=e_out)[0] - plain[0]
                  for e_in, e_out in draws]
    assert determinant(*factorised) != 0
