"""Counterexamples for the errata the formula audit found (``spec/audit/``), NE-1 ... NE-7.

Each is now an erratum item of the spec entry named in its marker, and ``spec/audit/new-errata.md``
says which. Each test computes the notes' formula as written and the corrected one on a small
example, shows that they differ, and that the corrected one agrees with an rlspec oracle or with
a derivation written out here. Exact arithmetic (Fractions) where the example allows it; float64
autograd otherwise, with the tolerance stated next to the comparison.
"""
from fractions import Fraction

import numpy as np
import pytest
import torch
from rlspec.oracles import dynamic_programming as policy_evaluation
from rlspec.oracles import gae, occupancy, policy_gradient
from rlspec.toy_mdps import catalogue

# --- NE-1: seed 002, PPO's truncated advantage estimator --------------------------------------

def notes_ppo_advantage(rewards, values, last_value, gamma, t):
    """Seed 002 (eq. 10 of Schulman et al. 2017 as printed):
    A_t = -V(s_t) + r_t + gamma r_{t+1} + ... + gamma^{T-t+1} r_{T-1} + gamma^{T-t} V(s_T),
    read literally: r_{t+l} weighted gamma^l up to r_{T-2}, and the last reward gamma^{T-t+1}."""
    horizon = len(rewards)
    middle = sum(gamma ** l * rewards[t + l] for l in range(horizon - 1 - t))
    return -values[t] + middle + gamma ** (horizon - t + 1) * rewards[horizon - 1] + gamma ** (horizon - t) * last_value


@pytest.mark.spec("ac.n-step-advantage")
def test_ne1_ppo_truncated_advantage_weights_the_last_reward_by_gamma_to_the_t_minus_t_minus_1():
    gamma = Fraction(1, 2)
    rewards, values, last_value = [Fraction(0), Fraction(1)], [Fraction(0), Fraction(0)], Fraction(0)
    # A3C's k-step advantage with k = T - t (Mnih et al. 2016), which is what eq. 10 transcribes,
    # and truncated GAE with lambda = 1 (PPO eqs. 11-12), to which eq. 10 is said to reduce.
    a3c = gae.n_step_advantages_exact(rewards, values, last_value, False, gamma)
    gae_at_lambda_one = gae.gae_exact(rewards, values, values[1:] + [last_value], [0, 0], [0, 1], gamma, 1.0)
    assert a3c == gae_at_lambda_one == [Fraction(1, 2), Fraction(1)]
    notes = [notes_ppo_advantage(rewards, values, last_value, gamma, t) for t in range(2)]
    # t = 0: gamma^3 r_1 = 1/8 instead of gamma r_1 = 1/2; t = T - 1 = 1: gamma^2 r_1 = 1/4
    # instead of r_1 = 1. Every step's last reward is off by the same factor gamma^2.
    assert notes == [Fraction(1, 8), Fraction(1, 4)]
    assert [n / c for n, c in zip(notes, a3c)] == [gamma ** 2, gamma ** 2]


# --- NE-2: seed 002, "max_theta J(theta) = E_{pi_theta}[A^{pi_theta}(s, a)]" -----------------

def values_of_softmax_policy(transitions, rewards, gamma, theta):
    """V^pi for pi = softmax(theta), by a differentiable linear solve (I - gamma P_pi) V = r_pi."""
    policy = torch.softmax(theta, dim=1)
    markov = torch.einsum("sa,sat->st", policy, transitions)
    reward = (policy * rewards).sum(dim=1)
    return torch.linalg.solve(torch.eye(len(reward), dtype=theta.dtype) - gamma * markov, reward), policy


@pytest.mark.spec("pg.policy-gradient-theorem")
def test_ne2_expected_advantage_of_the_policy_itself_is_zero_for_every_theta():
    mdp = catalogue.two_state(gamma=0.9)
    transitions = torch.tensor(mdp.transitions)
    rewards = torch.tensor(mdp.rewards)
    initial = np.asarray(mdp.initial_distribution)
    for theta_values in ([[0.0, 0.0], [0.0, 0.0]], [[0.3, -1.2], [2.0, 0.5]]):
        theta = torch.tensor(theta_values, dtype=torch.float64, requires_grad=True)
        values, policy = values_of_softmax_policy(transitions, rewards, mdp.gamma, theta)
        action_values = rewards + mdp.gamma * torch.einsum("sat,t->sa", transitions, values)
        advantages = action_values - values[:, None]
        weights = torch.tensor(occupancy.state_occupancy(mdp.transitions, mdp.gamma, policy.detach().numpy(), initial))
        notes_objective = (weights[:, None] * policy * advantages).sum()
        notes_objective.backward()
        # E_{a ~ pi}[A^pi(s, a)] = V - V = 0 in every state: the objective and its gradient are 0
        # up to the linear solve's rounding (condition number ~ 1/(1 - gamma) = 10).
        assert abs(notes_objective.item()) < 1e-12
        assert torch.allclose(theta.grad, torch.zeros_like(theta.grad), atol=1e-12)
        true_gradient = policy_gradient.softmax_policy_gradient(mdp.transitions, mdp.rewards, mdp.gamma, initial,
                                                                theta.detach().numpy())
        assert np.abs(true_gradient).max() > 0.1  # while the return does depend on theta


@pytest.mark.spec("pg.policy-gradient-theorem")
def test_ne2_corrected_surrogate_with_the_old_advantage_has_the_policy_gradient_at_the_old_policy():
    mdp = catalogue.two_state(gamma=0.9)
    initial = np.asarray(mdp.initial_distribution)
    old_theta = np.array([[0.3, -1.2], [2.0, 0.5]])
    old_policy = policy_gradient.softmax(old_theta)
    old_values = policy_evaluation.evaluate_policy(mdp.transitions, mdp.rewards, mdp.gamma, old_policy)
    old_advantages = torch.tensor(policy_evaluation.action_values(mdp.transitions, mdp.rewards, mdp.gamma, old_policy)
                                  - old_values[:, None])
    # TRPO eq. 3 / Kakade & Langford 2002: L(theta) = sum_s d(s) sum_a pi_theta(a|s) A^{pi_old}(s, a)
    # with d the unnormalised discounted visitation nu / (1 - gamma).
    visitation = torch.tensor(occupancy.state_occupancy(mdp.transitions, mdp.gamma, old_policy, initial) / (1 - mdp.gamma))
    theta = torch.tensor(old_theta, requires_grad=True)
    surrogate = (visitation[:, None] * torch.softmax(theta, dim=1) * old_advantages).sum()
    surrogate.backward()
    expected = policy_gradient.softmax_policy_gradient(mdp.transitions, mdp.rewards, mdp.gamma, initial, old_theta)
    # two float64 routes through linear solves with condition ~10: agreement to 1e-10 is generous
    np.testing.assert_allclose(theta.grad.numpy(), expected, rtol=0, atol=1e-10)


# --- NE-3: seed 003 5-2, the REINFORCE estimate with the reward sum running to N ------------

def score(theta, action):
    """grad_theta log softmax(theta)[action] = e_action - softmax(theta)."""
    return np.eye(len(theta))[action] - policy_gradient.softmax(theta[None, :])[0]


def two_step_bandit_expectation(theta, weight_of_trajectory):
    """E over the 4 trajectories (a_1, a_2) of a two-step bandit (reward r_t = a_t, both steps
    from one softmax policy) of weight_of_trajectory(actions, rewards), enumerated exactly."""
    probabilities = policy_gradient.softmax(theta[None, :])[0]
    total = np.zeros_like(theta)
    for first in (0, 1):
        for second in (0, 1):
            actions = (first, second)
            total += probabilities[first] * probabilities[second] * weight_of_trajectory(actions, [float(a) for a in actions])
    return total


@pytest.mark.spec("pg.reinforce")
def test_ne3_reinforce_needs_all_T_rewards_and_the_sum_over_t():
    theta = np.array([0.0, np.log(3.0)])  # pi = (1/4, 3/4)
    # J = E[r_1 + r_2] = 2 pi(1); dJ/dtheta = 2 pi(1)(e_1 - pi) = (-3/8, 3/8), by hand.
    true_gradient = np.array([-3 / 8, 3 / 8])
    correct = two_step_bandit_expectation(theta, lambda a, r: (score(theta, a[0]) + score(theta, a[1])) * sum(r))
    np.testing.assert_allclose(correct, true_gradient, atol=1e-15)
    # The notes' last line with one trajectory (N = 1): sum_{t=1}^{N} r = r_1 only.
    rewards_to_n = two_step_bandit_expectation(theta, lambda a, r: (score(theta, a[0]) + score(theta, a[1])) * sum(r[:1]))
    # The notes' middle line: a single grad log pi(a_t|s_t) (here t = 1) times the full return.
    single_score = two_step_bandit_expectation(theta, lambda a, r: score(theta, a[0]) * sum(r))
    np.testing.assert_allclose(rewards_to_n, true_gradient / 2, atol=1e-15)
    np.testing.assert_allclose(single_score, true_gradient / 2, atol=1e-15)


# --- NE-4: seed 003 5-1, "grad p_theta(tau) = grad log p_theta(a_t^n | s_t^n)" ---------------

@pytest.mark.spec("pg.trajectory-probability")
def test_ne4_gradient_of_a_trajectory_probability_is_probability_times_score():
    theta = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    probability = torch.softmax(theta, dim=0)[0]  # a one-step trajectory: p_theta(tau) = pi(a_0)
    (gradient_of_probability,) = torch.autograd.grad(probability, theta, retain_graph=True)
    (score_of_action,) = torch.autograd.grad(torch.log(probability), theta)
    assert gradient_of_probability.tolist() == [0.25, -0.25]
    assert score_of_action.tolist() == [0.5, -0.5]  # the notes' right-hand side: twice too large
    assert torch.allclose(gradient_of_probability, probability.detach() * score_of_action, atol=0)


# --- NE-5: seed 003 2-4, Q_pi(s, a) with r(s', a) --------------------------------------------

@pytest.mark.spec("mdp.bellman-expectation-q")
def test_ne5_bellman_equation_for_q_uses_the_reward_of_the_current_state():
    mdp = catalogue.two_state(gamma=0.5)
    uniform = np.full((2, 2), 0.5)
    values = policy_evaluation.evaluate_policy(mdp.transitions, mdp.rewards, mdp.gamma, uniform)
    action_values = policy_evaluation.action_values(mdp.transitions, mdp.rewards, mdp.gamma, uniform)
    # Sutton & Barto 2018, §3.5, with expected rewards: sum_{s'} p(s'|s, a)[r(s, a) + gamma V(s')]
    correct = np.einsum("sat,t->sa", mdp.transitions, values) * mdp.gamma + mdp.rewards
    # the notes': sum_{s'} p(s'|s, a)[r(s', a) + gamma V(s')]
    notes = np.einsum("sat,ta->sa", mdp.transitions, mdp.rewards) + mdp.gamma * np.einsum("sat,t->sa", mdp.transitions, values)
    np.testing.assert_allclose(correct, action_values, atol=1e-12)
    # "switch" from state 0 pays r(0, switch) = 1, the notes charge r(1, switch) = 0
    assert notes[0, 1] == pytest.approx(action_values[0, 1] - 1.0, abs=1e-12)


# --- NE-6: seed 003 6-3, A3C's rollout loop "while t - t_start <= t_max" ----------------------

def steps_collected(t_max, keep_going):
    """Steps one worker collects from a non-terminating environment before its update."""
    t = t_start = 1
    while keep_going(t - t_start, t_max):
        t += 1
    return t - t_start


@pytest.mark.spec("ac.n-step-advantage")
def test_ne6_a3c_rollout_holds_t_max_steps_not_t_max_plus_one():
    t_max = 2
    paper = steps_collected(t_max, lambda elapsed, limit: elapsed != limit)  # "until t - t_start == t_max"
    notes = steps_collected(t_max, lambda elapsed, limit: elapsed <= limit)
    assert (paper, notes) == (t_max, t_max + 1)
    gamma, reward = Fraction(1, 2), Fraction(1)
    # with rewards 1 and V = 0 the first state's advantage is a t_max-step, not (t_max+1)-step, sum
    first_paper = gae.n_step_advantages_exact([reward] * paper, [0] * paper, 0, False, gamma)[0]
    first_notes = gae.n_step_advantages_exact([reward] * notes, [0] * notes, 0, False, gamma)[0]
    assert (first_paper, first_notes) == (Fraction(3, 2), Fraction(7, 4))


# --- NE-7: seed 004, "E grad_theta p_theta = 0" -------------------------------------------------

@pytest.mark.spec("pg.variance-minimising-baseline")
def test_ne7_it_is_the_expected_score_that_vanishes_not_the_expected_gradient_of_p():
    theta = torch.tensor([np.log(3.0), 0.0], dtype=torch.float64, requires_grad=True)  # pi = (3/4, 1/4)
    probabilities = torch.softmax(theta, dim=0)
    gradients = [torch.autograd.grad(probabilities[a], theta, retain_graph=True)[0] for a in range(2)]
    scores = [torch.autograd.grad(torch.log(probabilities[a]), theta, retain_graph=True)[0] for a in range(2)]
    weights = probabilities.detach()
    expected_gradient_of_p = sum(weights[a] * gradients[a] for a in range(2))
    expected_score = sum(weights[a] * scores[a] for a in range(2))
    # by hand: sum_a pi(a)^2 (e_a - pi) = (9/64 - 3/64, -9/64 + 3/64) = (3/32, -3/32)
    assert torch.allclose(expected_gradient_of_p, torch.tensor([3 / 32, -3 / 32], dtype=torch.float64), atol=1e-15)
    assert torch.allclose(expected_score, torch.zeros(2, dtype=torch.float64), atol=1e-15)
