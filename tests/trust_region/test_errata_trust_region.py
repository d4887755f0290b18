"""Counterexamples to the notes' TRPO and PPO sections: one test per erratum.

Each test builds a small case by hand, computes the exact answer with the oracles (exact
rationals, mpmath, closed forms; the reference only where the erratum is about what the
reference does instead), and asserts that the notes' statement, read literally, is false
while the corrected statement of the spec entry holds.  Each test's ``@pytest.mark.spec``
marker names the entry it supports, which explains the correction in its "Erratum" section.

Numbers are halves, quarters and eighths so that equalities are exact.
"""

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rlspec.oracles import ppo as ppo_oracle, trpo as trpo_oracle
from rlspec.oracles.methods import exact_rational
from rlspec.oracles.methods.conversions import to_fractions
from rlspec.reference import ppo, trpo
from rlspec.toy_mdps import strategies




# ------------------------------------------------------------------------ trpo.surrogate

@pytest.mark.spec("trpo.surrogate")
def test_surrogate_needs_one_over_one_minus_gamma_when_rho_is_a_distribution():
    """Seed 000: E_{tau ~ pi'}[sum_t gamma^t A^pi] = E_{s ~ rho_pi'}[E_{a ~ pi'}[A^pi]] with
    rho "the probability distribution of the state".  With a probability distribution the
    right side is (1 - gamma) times the left: one state, gamma 1/2, actions paying (1, 0),
    old policy action 1 (J = 0), new policy action 0 (J' = 2)."""
    transitions, rewards, gamma = np.ones((1, 2, 1)), np.array([[1.0, 0.0]]), 0.5
    old, new, start = np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]), np.array([1.0])
    values = exact_rational.evaluate_policy_exact(transitions, rewards, gamma, old)
    q = exact_rational.action_values_exact(transitions, rewards, gamma, values)
    advantages = [q[0, a] - values[0] for a in range(2)]                 # (1, 0)
    left = Fraction(2) - Fraction(0)                                     # J(pi') - J(pi)
    as_distribution = sum(Fraction(new[0, a]) * advantages[a] for a in range(2))  # nu = (1,)
    assert as_distribution == 1 != left
    assert as_distribution / (1 - Fraction(gamma)) == left
    # The surrogate (old visitation = new visitation here: one state) is exact with the factor.
    assert trpo_oracle.surrogate_objective_exact(transitions, rewards, gamma, start, old, new) == 2


def _state_distributions(transitions, policy, start, steps):
    """P(s_t = s) for t = 0..steps, exactly."""
    p, pi = to_fractions(transitions), to_fractions(policy)
    n_states, n_actions = policy.shape
    current = list(to_fractions(start))
    out = [current]
    for _ in range(steps):
        current = [sum(current[s] * pi[s, a] * p[s, a, t] for s in range(n_states)
                       for a in range(n_actions)) for t in range(n_states)]
        out.append(current)
    return out


@pytest.mark.spec("trpo.surrogate")
def test_mixture_decomposition_fails_for_stochastic_policies():
    """Seed 002, 忽略状态分布的差异: for stochastic policies whose actions differ with
    probability epsilon, p_theta'(s_t) = (1 - eps)^t p_theta(s_t) + (1 - (1 - eps)^t) p_mistake(s_t).
    Two states, action a moves to state a; old policy (1/2, 1/2), new (5/8, 3/8) everywhere:
    the actions differ with probability eps = 1/8 under the best coupling (the total
    variation), yet p_mistake(s_1 = 1) would have to be -1/2."""
    transitions = np.zeros((2, 2, 2))
    transitions[:, 0, 0] = transitions[:, 1, 1] = 1.0
    old, new = np.full((2, 2), 0.5), np.tile([0.625, 0.375], (2, 1))
    start = np.array([1.0, 0.0])
    epsilon = Fraction(1, 2) * sum(abs(Fraction(a) - Fraction(b)) for a, b in zip(old[0], new[0]))
    assert epsilon == Fraction(1, 8)
    p_old = _state_distributions(transitions, old, start, 1)[1]
    p_new = _state_distributions(transitions, new, start, 1)[1]
    keep = (1 - epsilon) ** 1
    mistake = [(p_new[s] - keep * p_old[s]) / (1 - keep) for s in range(2)]
    assert mistake[1] == Fraction(-1, 2)  # not a probability
    # The corrected statement (TRPO, Lemma 3, by coupling) holds, here with equality:
    assert sum(abs(a - b) for a, b in zip(p_new, p_old)) == 2 * (1 - keep)


@pytest.mark.spec("trpo.surrogate")
@given(strategies.mdps(max_states=3, max_actions=3),
       st.data())
def test_state_distributions_drift_at_most_two_times_one_minus_one_minus_eps_to_the_t(mdp, data):
    """The corrected claim on generated MDPs: with eps = max_s TV(pi(.|s), pi'(.|s)),
    sum_s |p_pi'(s_t) - p_pi(s_t)| <= 2 (1 - (1 - eps)^t) for every t (exact arithmetic)."""
    old = data.draw(strategies.policies(mdp.n_states, mdp.n_actions))
    new = data.draw(strategies.policies(mdp.n_states, mdp.n_actions))
    epsilon = max(Fraction(1, 2) * sum(abs(Fraction(a) - Fraction(b)) for a, b in zip(o, n))
                  for o, n in zip(old, new))
    start = np.array(mdp.initial_distribution)
    for t, (p_old, p_new) in enumerate(zip(_state_distributions(mdp.transitions, old, start, 6),
                                           _state_distributions(mdp.transitions, new, start, 6))):
        assert sum(abs(a - b) for a, b in zip(p_new, p_old)) <= 2 * (1 - (1 - epsilon) ** t)


# --------------------------------------------------------------------- trpo.kl-constraint

@pytest.mark.spec("trpo.kl-constraint")
def test_kl_direction_in_the_constraint_matters():
    """Seed 002 constrains E[D_KL(pi_theta' || pi_theta)] (new first); TRPO eq. (12)
    constrains D_KL(pi_theta_old || pi_theta) (old first).  KL is not symmetric: for
    old (1/2, 1/2) and new (1/4, 3/4) the two are ln(4/3)/2 = 0.1438 and 0.1308, so with
    delta = 0.14 a line search on one accepts the step and on the other rejects it."""
    old, new, weights = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]]), np.array([1.0])
    old_first = trpo_oracle.mean_kl_high_precision(old, new, weights)
    new_first = trpo_oracle.mean_kl_high_precision(new, old, weights)
    assert abs(old_first - 0.5 * np.log(4 / 3)) < 1e-15
    assert new_first < 0.14 < old_first

    theta_old, step = np.zeros(2), np.array([0.0, np.log(3.0)])  # softmax(step) = (1/4, 3/4)

    def softmax(theta):
        return np.exp(theta) / np.exp(theta).sum()

    def surrogate(theta):
        return float(softmax(theta) @ np.array([-1.0, 1.0]))

    def kl_old_first(theta):
        return trpo_oracle.mean_kl_high_precision([softmax(theta_old)], [softmax(theta)], weights)

    def kl_new_first(theta):
        return trpo_oracle.mean_kl_high_precision([softmax(theta)], [softmax(theta_old)], weights)

    accepted = trpo.backtracking_line_search(theta_old, step, surrogate, kl_new_first, 0.14,
                                             max_backtracks=1)
    rejected = trpo.backtracking_line_search(theta_old, step, surrogate, kl_old_first, 0.14,
                                             max_backtracks=1)
    assert np.array_equal(accepted, step) and np.array_equal(rejected, theta_old)


@pytest.mark.spec("trpo.fisher-vector-product", "trpo.kl-constraint")
def test_both_kl_directions_have_the_fisher_matrix_as_hessian():
    """Why the direction is harmless to second order: at theta' = theta both mean KLs have
    Hessian F, so TRPO's quadratic model (and the CG step) is the same; only the exact
    check in the line search sees the difference."""
    features = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[2.0, -1.0], [0.0, 0.0], [1.0, 0.0]]])
    theta, weights = np.array([0.5, -0.25]), np.array([0.75, 0.25])
    fisher = trpo_oracle.fisher_matrix(features, theta, weights)
    np.testing.assert_allclose(trpo_oracle.kl_hessian(features, theta, weights, old_first=True),
                               fisher, atol=1e-12)
    np.testing.assert_allclose(trpo_oracle.kl_hessian(features, theta, weights, old_first=False),
                               fisher, atol=1e-12)


@pytest.mark.spec("trpo.kl-constraint")
def test_lagrange_multiplier_update_needs_the_projection_onto_lambda_at_least_zero():
    """Seed 002: lambda <- lambda + alpha (D_KL - eps), with no projection.  Starting from
    lambda = 0 at theta' = theta (D_KL = 0 < eps) one step gives lambda = -alpha eps < 0, and
    then the penalised objective L - lambda (D - eps) *rewards* divergence: on a bandit
    whose advantages are all 0 (nothing to gain), a distant policy scores higher than the
    old one.  Dual ascent for an inequality constraint projects: lambda <- max(0, ...)
    (Boyd & Vandenberghe 2004, section 5.5.3: lambda >= 0)."""
    alpha, radius = Fraction(1), Fraction(1, 100)
    lam = Fraction(0) + alpha * (Fraction(0) - radius)
    assert lam < 0
    old, weights = np.array([[0.5, 0.5]]), np.array([1.0])

    def penalised(new_policy, multiplier):
        surrogate = 0.0  # every advantage is 0
        kl = trpo_oracle.mean_kl_high_precision(old, new_policy, weights)
        return surrogate - float(multiplier) * (kl - float(radius))

    far = np.array([[0.99, 0.01]])
    assert penalised(far, lam) > penalised(old, lam)           # the unprojected update
    projected = max(Fraction(0), lam)
    assert penalised(far, projected) <= penalised(old, projected)  # the projected one


# ------------------------------------------------------------------ ppo.clipped-objective

def _clip_gradient(ratio, advantage, epsilon=0.2):
    log_prob = torch.tensor([np.log(ratio)], dtype=torch.float64, requires_grad=True)
    loss = ppo.clipped_surrogate_loss(log_prob, torch.zeros(1, dtype=torch.float64),
                                      torch.tensor([advantage], dtype=torch.float64), epsilon)
    (gradient,) = torch.autograd.grad(loss, log_prob)
    return float(gradient)


@pytest.mark.spec("ppo.clipped-objective")
def test_beyond_the_clip_range_the_gradient_still_flows_on_the_other_side():
    """Seed 003, 3.4.1 (5): "在超过约束范围时，我们停止对Actor模型进行更新" (beyond the range
    the actor stops being updated).  Only half true: with r = 1.5 > 1 + eps and A = -2 the
    unclipped term r A = -3 is the smaller, so the gradient is -r A = 3, not 0; the
    gradient is cut only where r left the range in the advantage's direction."""
    lower, upper = ppo_oracle.clipped_surrogate_gradient_bounds([np.log(1.5)], [0.0], [-2.0], 0.2)
    assert lower[0] == upper[0] != 0.0
    assert abs(lower[0] - 3.0) < 1e-12 and abs(_clip_gradient(1.5, -2.0) - 3.0) < 1e-12
    assert _clip_gradient(1.5, 2.0) == 0.0     # clipped in the advantage's direction
    assert _clip_gradient(0.5, -2.0) == 0.0
    assert _clip_gradient(0.5, 2.0) == -1.0    # below 1 - eps with A > 0: still flows


@pytest.mark.spec("ppo.clipped-objective")
def test_ppo_clips_the_ratio_not_the_gradient():
    """Seed 004: "PPO ... uses constraints on the gradient".  The clip bounds the ratio's
    contribution, not the gradient: inside the range the gradient is -r A / N, as large as
    the advantage makes it (here 1.1 * 1000), and outside it is exactly 0."""
    big = _clip_gradient(1.1, 1000.0)
    assert abs(big + 1100.0) < 1e-9
    assert _clip_gradient(1.3, 1000.0) == 0.0


# ------------------------------------------------------------------------ ppo.kl-penalty

@pytest.mark.spec("ppo.kl-penalty")
def test_a_gradient_inside_the_loss_is_not_the_surrogate():
    """Seed 001, 7. 两个分布的差距不能过大: loss_1 = -(1/N) sum A grad P_theta / P_theta' + beta kl,
    a loss that contains the gradient symbol.  Differentiating it as written gives the
    second derivative of P, not the policy gradient.  A one-action logistic policy
    P_theta = sigmoid(theta), theta = theta' = 0, A = 1: the surrogate -A P_theta / P_theta'
    has gradient -P'(0) / P(0) = -1/2, while the literal loss -A P'(theta) / P(theta') has
    gradient -P''(0) / P(0) = 0."""
    theta = torch.zeros((), dtype=torch.float64, requires_grad=True)
    p_old = torch.sigmoid(torch.zeros((), dtype=torch.float64))
    surrogate_loss = -torch.sigmoid(theta) / p_old
    (right,) = torch.autograd.grad(surrogate_loss, theta)
    (first_derivative,) = torch.autograd.grad(torch.sigmoid(theta), theta, create_graph=True)
    literal_loss = -first_derivative / p_old
    (literal,) = torch.autograd.grad(literal_loss, theta)
    assert float(right) == -0.5 and float(literal) == 0.0


@pytest.mark.spec("ppo.kl-penalty")
def test_sampling_from_the_new_policy_double_counts_it():
    """Seed 003, 2.4 and 4.1: J^theta'(theta) = E_{(s_t, a_t) ~ pi_theta}[p_theta / p_theta' A^theta'],
    sampled from the *new* policy (2.3 has the right pi_theta').  On a two-armed bandit with
    pi_theta = (3/4, 1/4), pi_theta' = (1/2, 1/2), A = (1, -1): the intended value
    sum_a pi_theta A = 1/2, the literal one sum_a pi_theta^2 / pi_theta' A = 1."""
    new, old, advantages = [Fraction(3, 4), Fraction(1, 4)], [Fraction(1, 2)] * 2, [1, -1]
    intended = sum(o * (n / o) * a for n, o, a in zip(new, old, advantages))   # a ~ pi_theta'
    literal = sum(n * (n / o) * a for n, o, a in zip(new, old, advantages))    # a ~ pi_theta
    assert intended == Fraction(1, 2) and literal == 1


@pytest.mark.spec("ppo.kl-penalty")
def test_kl_argument_order_of_the_penalty():
    """Seed 003 writes KL(theta, theta^k) with theta the policy being trained; PPO eq. (8)
    penalises KL[pi_theta_old, pi_theta], old first.  They differ (old (1/2, 1/2), new
    (1/4, 3/4)), and so do the losses: the check ``ppo-kl-penalty-loss`` uses the paper's."""
    logits, old_logits = np.array([[0.0, np.log(3.0)]]), np.zeros((1, 2))
    paper = ppo_oracle.kl_penalty_loss(logits, old_logits, [0], [0.0], 1.0)
    assert abs(paper - 0.5 * np.log(4 / 3)) < 1e-12
    reversed_kl = float((np.array([0.25, 0.75]) * np.log(np.array([0.25, 0.75]) / 0.5)).sum())
    assert abs(paper - reversed_kl) > 0.01


# ------------------------------------------------------------- ppo.advantage-normalization

@pytest.mark.spec("ppo.advantage-normalization")
def test_the_notes_normalisation_line_gives_nan_for_a_single_advantage():
    """Seed 003, 2.5 代码实现: A_k = (A_k - A_k.mean()) / (A_k.std() + 1e-10).  torch's std is
    the sample (N - 1) standard deviation, undefined for N = 1: the line returns NaN (the
    bug of DLR-RM/stable-baselines3#325).  rlspec defines sigma = 0 there, so the single
    centred advantage 0 stays 0."""
    a_k = torch.tensor([3.0], dtype=torch.float64)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        notes = (a_k - a_k.mean()) / (a_k.std() + 1e-10)
    assert torch.isnan(notes).all()
    assert ppo_oracle.normalized_advantages_exact([3.0]) == [0.0]
    assert ppo.normalize_advantages([3.0]).tolist() == [0.0]
