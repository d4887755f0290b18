"""Counterexamples to the notes' policy-gradient, actor-critic and GAE chapter.

Each test builds a small case by hand, computes the exact answer with the oracles (exact
enumeration of trajectories, exact dynamic programming, Fractions; never
``rlspec.reference``), and asserts that the notes' statement, read literally, is false,
then that the corrected statement of the spec entry holds.  Every equality is exact.

The running example: the ``two-state`` MDP (action 0 stays, action 1 switches; rewards
r(0, .) = (0, 1), r(1, .) = (2, 0)), start in state 0, the uniform policy, horizon H = 2.
"""

from fractions import Fraction

import numpy as np
import pytest
import torch

from rlspec.oracles import gae as gae_oracle
from rlspec.oracles import pg_estimators
from rlspec.oracles.methods import trajectories
from rlspec.toy_mdps.catalogue import make

TWO_STATE = make("two-state", gamma=0.5)
UNIFORM = np.full((2, 2), 0.5)
HORIZON = 2


def _setting(gamma, policy=UNIFORM):
    tables = (TWO_STATE.transitions, TWO_STATE.rewards)
    found = trajectories.enumerate_trajectories(*tables, policy, TWO_STATE.initial_distribution, HORIZON)
    gradient = pg_estimators.finite_horizon_gradient_exact(
        *tables, gamma, policy, TWO_STATE.initial_distribution, HORIZON)
    values, action_values = pg_estimators.finite_horizon_values_exact(*tables, gamma, policy, HORIZON)
    return found, gradient, values, action_values


def _expected_estimate(found, policy, weights_of):
    """E[sum_t w_t grad log pi(a_t|s_t)] over every trajectory, exactly."""
    return trajectories.expectation_over_trajectories(
        found, lambda tau: pg_estimators.score_function_gradient_exact(
            policy, tau.states, tau.actions, weights_of(tau)))


def _fractions(rows):
    return np.array([[Fraction(x) for x in row] for row in rows], dtype=object)


# ------------------------------------------------------------ pg.psi-forms / pg.reinforce

@pytest.mark.spec("pg.psi-forms", "pg.reinforce")
def test_psi_forms_as_written_estimate_neither_gradient_when_gamma_is_below_one():
    """Seed 000 "Actor-Critic": g = E[sum_t psi_t grad log pi(a_t|s_t)] for six psi_t, among
    them (1) sum_{t'} gamma^{t'} r_t' and (2) sum_{t' >= t} gamma^{t'-t} r_t'.  With gamma = 1/2
    form 1 gives grad J_gamma, form 2 (and forms 3-6) give something else, which is not the
    gradient of the undiscounted objective either; with gamma^t on forms 2-6 all agree."""
    g = Fraction(1, 2)
    found, gradient, values, action_values = _setting(0.5)
    assert (gradient == _fractions([[Fraction(-3, 8), Fraction(3, 8)], [Fraction(1, 8), Fraction(-1, 8)]])).all()

    def total_return(tau):
        return [sum(g ** u * r for u, r in enumerate(tau.rewards))] * HORIZON

    def reward_to_go(tau, step_discount=False):
        return [(g ** t if step_discount else 1) * sum(g ** (u - t) * tau.rewards[u]
                                                       for u in range(t, HORIZON))
                for t in range(HORIZON)]

    def advantage(tau, step_discount=False):
        return [(g ** t if step_discount else 1) * (action_values[t, s, a] - values[t, s])
                for t, (s, a) in enumerate(zip(tau.states, tau.actions))]

    form_1 = _expected_estimate(found, UNIFORM, total_return)
    form_2 = _expected_estimate(found, UNIFORM, reward_to_go)
    form_5 = _expected_estimate(found, UNIFORM, advantage)
    assert (form_1 == gradient).all()
    literal = _fractions([[Fraction(-7, 16), Fraction(7, 16)], [Fraction(1, 4), Fraction(-1, 4)]])
    assert (form_2 == literal).all() and (form_5 == literal).all()  # the same, and wrong
    undiscounted = pg_estimators.finite_horizon_gradient_exact(
        TWO_STATE.transitions, TWO_STATE.rewards, 1.0, UNIFORM, TWO_STATE.initial_distribution, HORIZON)
    assert (undiscounted == _fractions([[Fraction(-1, 2), Fraction(1, 2)], [Fraction(1, 4), Fraction(-1, 4)]])).all()
    assert not (form_2 == undiscounted).all()
    # Corrected: the step's own discount gamma^t makes every form unbiased.
    assert (_expected_estimate(found, UNIFORM, lambda tau: reward_to_go(tau, True)) == gradient).all()
    assert (_expected_estimate(found, UNIFORM, lambda tau: advantage(tau, True)) == gradient).all()


@pytest.mark.spec("pg.psi-forms")
def test_at_gamma_one_the_six_forms_agree_as_the_notes_say():
    found, gradient, values, action_values = _setting(1.0)
    rewards_to_go = lambda tau: [sum(tau.rewards[t:]) for t in range(HORIZON)]  # noqa: E731
    td_residual = lambda tau: [tau.rewards[t] + (values[t + 1, tau.states[t + 1]] if t + 1 < HORIZON else 0)  # noqa: E731
                               - values[t, tau.states[t]] for t in range(HORIZON)]
    assert (_expected_estimate(found, UNIFORM, rewards_to_go) == gradient).all()
    assert (_expected_estimate(found, UNIFORM, td_residual) == gradient).all()


@pytest.mark.spec("pg.reinforce")
def test_reward_to_go_must_include_the_reward_of_step_t_itself():
    """Seed 000, REINFORCE: causality "the policy at t' should not affect the reward at t
    (t <= t')".  At t = t' it does: r(s_t, a_t) depends on a_t, so dropping it (summing
    t' > t only) biases the estimator; only strictly earlier rewards may go."""
    found, gradient, _, _ = _setting(1.0)
    later_only = lambda tau: [sum(tau.rewards[t + 1:]) for t in range(HORIZON)]  # noqa: E731
    earlier_and_now = lambda tau: [sum(tau.rewards) for _ in range(HORIZON)]  # noqa: E731
    assert not (_expected_estimate(found, UNIFORM, later_only) == gradient).all()
    assert (_expected_estimate(found, UNIFORM, earlier_and_now) == gradient).all()


# -------------------------------------------------------- pg.variance-minimising-baseline

@pytest.mark.spec("pg.variance-minimising-baseline")
def test_a_baseline_independent_of_theta_can_still_bias_the_gradient():
    """Seed 004 "Reducing Variance": b "need not be constant, as long as it does not depend
    on theta".  b(tau) = r(tau) does not depend on theta, yet grad log p(tau) (r(tau) - b(tau))
    is 0 for every trajectory: the estimate has expectation 0, not grad J.  A baseline may
    depend on the state s_t, never on a_t or what follows it."""
    found, gradient, _, _ = _setting(1.0)
    returns = {tau: sum(tau.rewards) for tau in found}
    biased = _expected_estimate(found, UNIFORM, lambda tau: [returns[tau] - returns[tau]] * HORIZON)
    assert (biased == 0).all() and not (gradient == 0).all()
    # A baseline of the state (per step, in the reward-to-go form) leaves it unbiased.
    by_state = {0: Fraction(5), 1: Fraction(-3)}
    unbiased = _expected_estimate(found, UNIFORM, lambda tau: [sum(tau.rewards[t:]) - by_state[tau.states[t]]
                                                               for t in range(HORIZON)])
    assert (unbiased == gradient).all()


# ------------------------------------------------------------------ pg.off-policy-gradient

@pytest.mark.spec("pg.off-policy-gradient")
def test_one_step_ratio_with_the_behaviour_advantage_is_not_the_policy_gradient():
    """Seed 001 "6. 重要性采样": grad R = (1/N) sum A^GAE_theta grad log P_theta = (1/N) sum
    A^GAE_theta' (P_theta / P_theta') grad log P_theta, with data from theta'.  Exactly, with
    the behaviour's advantages A_t^{theta'}, one ratio per step and gamma = 1 (so no discount
    question arises): equal when theta' = theta, different otherwise.  Weighting each reward
    by the ratios of every action before it (per-decision IS) gives the gradient exactly."""
    target = np.array([[0.75, 0.25], [0.25, 0.75]])
    for behaviour, equal in ((target, True), (UNIFORM, False)):
        found, _, values, action_values = _setting(1.0, behaviour)
        _, gradient, _, _ = _setting(1.0, target)

        def one_ratio(tau):
            return [Fraction(target[s, a]) / Fraction(behaviour[s, a]) * (action_values[t, s, a] - values[t, s])
                    for t, (s, a) in enumerate(zip(tau.states, tau.actions))]

        assert bool((_expected_estimate(found, target, one_ratio) == gradient).all()) is equal
        per_decision = trajectories.expectation_over_trajectories(
            found, lambda tau: pg_estimators.off_policy_gradient_exact(
                target, tau.states, tau.actions, tau.arrays()["rewards"],
                [behaviour[s, a] for s, a in zip(tau.states, tau.actions)], 1.0))
        assert (per_decision == gradient).all()


# -------------------------------------------------------------------- ac.critic-td-loss

@pytest.mark.spec("ac.critic-td-loss")
def test_the_notes_critic_gradient_is_the_semi_gradient_not_the_gradient_of_the_loss():
    """Seed 000 "Actor-Critic": L(w) = 1/2 (r + gamma V_w(s_{t+1}) - V_w(s_t))^2 and "the
    corresponding gradient" -(r + gamma V_w(s_{t+1}) - V_w(s_t)) grad V_w(s_t).  With a linear
    critic V_w(s) = w . phi(s) the gradient of L is delta (gamma phi(s') - phi(s)); the notes'
    formula drops gamma delta phi(s'), i.e. it is the gradient with the target held fixed."""
    phi, phi_next = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64)
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    r, gamma = 1.0, 0.5
    delta = r + gamma * (w @ phi_next) - w @ phi  # 1 + 1.5 - 1 = 1.5
    (full,) = torch.autograd.grad(0.5 * delta ** 2, w)
    notes = -delta.detach() * phi
    assert full.tolist() == [-0.75, 0.75]  # 1.5 * (0.5 (1, 1) - (1, 0))
    assert notes.tolist() == [-1.5, 0.0]
    target = (r + gamma * (w @ phi_next)).detach()
    (semi,) = torch.autograd.grad(0.5 * (target - w @ phi) ** 2, w)
    assert semi.tolist() == notes.tolist()


# ------------------------------------------------------------ gae.lambda-weighted-sum

@pytest.mark.spec("gae.lambda-weighted-sum")
def test_the_finite_lambda_weighted_sum_needs_the_tail_weight():
    """Seed 001 "3. 优势的推导", item 4: A^GAE = (1 - lambda)(A^1 + lambda A^2 + lambda^2 A^3 + ...).
    On an episode that ends after n steps only A^1..A^n exist; the finite sum has weights
    summing to 1 - lambda^n, and at lambda = 1 it is 0 for every episode.  Three steps,
    rewards (1, 1, 1), V = 0, gamma = 1/2, terminated at the end: GAE(1) is the return 7/4."""
    segment = dict(rewards=[1.0, 1.0, 1.0], values=[0.0] * 3, next_values=[0.0] * 3,
                   terminated=[False, False, True], truncated=[False] * 3, gamma=0.5)
    for lam in (Fraction(1), Fraction(1, 2)):
        k_step = [gae_oracle.k_step_advantages_exact(**segment, k=k)[0] for k in (1, 2, 3)]
        literal = (1 - lam) * sum(lam ** (k - 1) * k_step[k - 1] for k in (1, 2, 3))
        gae = gae_oracle.gae_exact(**segment, lam=float(lam))[0]
        assert literal != gae
        assert gae - literal == lam ** 3 * k_step[2]  # the missing tail, exactly
        corrected = (1 - lam) * sum(lam ** (k - 1) * k_step[k - 1] for k in (1, 2)) + lam ** 2 * k_step[2]
        assert corrected == gae
    assert gae_oracle.gae_exact(**segment, lam=1.0)[0] == Fraction(7, 4)


@pytest.mark.spec("gae.lambda-weighted-sum")
def test_the_last_term_of_the_longest_advantage_has_power_n_minus_one():
    """Seed 001, item 3: A^T(s_t, a) = r_t + gamma r_{t+1} + ... + gamma^T r_T - V(s_t).  The
    k-step pattern A^k = sum_{l<k} gamma^l r_{t+l} + gamma^k V(s_{t+k}) - V(s_t) puts gamma^{T-t}
    on r_T (the episode's last reward, counting t = 1..T as the notes do).  From t = 1 with
    T = 3, rewards (0, 0, 1), gamma = 1/2, V = 0: the advantage is 1/4, the notes' 1/8."""
    rewards, g = [Fraction(0), Fraction(0), Fraction(1)], Fraction(1, 2)
    t, last = 1, 3  # the notes' 1-based indices
    notes = sum(g ** (u - t) * rewards[u - 1] for u in range(t, last)) + g ** last * rewards[last - 1]
    monte_carlo = gae_oracle.k_step_advantages_exact(
        [0.0, 0.0, 1.0], [0.0] * 3, [0.0] * 3, [False, False, True], [False] * 3, 0.5, k=3)[0]
    assert monte_carlo == Fraction(1, 4) and notes == Fraction(1, 8)
    assert monte_carlo == sum(g ** (u - t) * rewards[u - 1] for u in range(t, last + 1))
