"""TD3: the clipped double-Q target, target policy smoothing, the delayed schedule and the
actor loss, each
against independent oracles; each theorem test fails with a planted bug; bad input gets a
clear error; correct user code passes ``rlspec.check``."""

import doctest
import re
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import rlspec
import bugs_continuous_control as bugs
import user_implementations_continuous_control as user
from rlspec.oracles import dynamic_programming, td3 as oracle
from rlspec.oracles.methods.accuracy import EPS, SAFETY
from rlspec.reference import ddpg, td3
from rlspec.validation import InvalidInputError
from mutation import fails
from test_ddpg import _one_step_batch, deterministic_chains


def test_reference_doctests_pass():
    assert doctest.testmod(td3).failed == 0


def _grid(low, high, denominator):
    return st.integers(low, high).map(lambda k: k / denominator)


def _columns(n, *specs):
    return st.tuples(*(st.lists(spec, min_size=n, max_size=n) for spec in specs)).map(
        lambda columns: tuple(np.array(c, dtype=np.float64) for c in columns))


twin_batches = st.integers(1, 6).flatmap(lambda n: _columns(
    n, _grid(-32, 32, 4), st.booleans(), st.booleans(), _grid(-320, 320, 4), _grid(-320, 320, 4)))
GAMMAS = st.sampled_from([0.99, 0.5, 0.0, 1.0])


# ---------------------------------------------------------------- clipped double Q

@pytest.mark.spec("td3.clipped-double-q-target")
@given(twin_batches, GAMMAS)
def test_td3_target_matches_exact_rationals(batch, gamma):
    rewards, terminated, truncated, q1, q2 = batch
    # r + gamma min(q1, q2): the min is exact, the rest rounds twice.
    tolerance = 2 * EPS * (np.abs(rewards) + gamma * np.maximum(np.abs(q1), np.abs(q2)))
    got = td3.clipped_double_q_target(rewards, terminated, truncated, q1, q2, gamma)
    exact = oracle.td3_targets_exact(rewards, terminated, q1, q2, gamma)
    assert np.all(np.abs(got - exact) <= tolerance)


@pytest.mark.spec("td3.clipped-double-q-target")
@given(twin_batches, GAMMAS)
@example((np.zeros(2), np.zeros(2), np.zeros(2), np.array([-3.0, 2.0]), np.array([1.0, -6.0])), 0.5)
def test_td3_target_is_at_most_either_single_critic_target(batch, gamma):
    """Since gamma (1 - terminated) >= 0, the min commutes with the target: the TD3 target is
    exactly the smaller of the two single-critic (DDPG) targets, computed with the same
    roundings, so equality is exact."""
    rewards, terminated, truncated, q1, q2 = batch
    got = td3.clipped_double_q_target(rewards, terminated, truncated, q1, q2, gamma)
    first = ddpg.ddpg_critic_target(rewards, terminated, truncated, q1, gamma)
    second = ddpg.ddpg_critic_target(rewards, terminated, truncated, q2, gamma)
    assert np.all(got <= first) and np.all(got <= second)
    assert np.array_equal(got, np.minimum(first, second))


@pytest.mark.spec("td3.clipped-double-q-target")
@given(deterministic_chains(), st.integers(1, 8))
def test_td3_target_with_equal_critics_at_q_mu_returns_q_mu(chain, overestimate):
    """Critic 1 = Q^mu, critic 2 = Q^mu + an overestimate: the min picks Q^mu, so the target
    is the fixed point again (tolerance as in the DDPG fixed-point test)."""
    transitions, rewards, gamma, mu = chain
    q_mu = dynamic_programming.action_values(transitions, rewards, gamma, np.eye(rewards.shape[1])[mu])
    pairs, r, terminated, next_q = _one_step_batch(transitions, rewards, q_mu, mu)
    targets = td3.clipped_double_q_target(r, terminated, np.zeros_like(r), next_q,
                                          next_q + overestimate, gamma)
    kappa = (1 + gamma) / (1 - gamma)
    tolerance = SAFETY * len(rewards) * EPS * kappa * max(1.0, np.abs(q_mu).max())
    np.testing.assert_allclose(targets, [q_mu[s, a] for s, a in pairs], rtol=0, atol=tolerance)


# ------------------------------------------------------------------- smoothing

@st.composite
def smoothing_cases(draw):
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    low = np.array(draw(st.lists(st.sampled_from([-1.0, -2.0, 0.0, -0.5]), min_size=d, max_size=d)))
    width = np.array(draw(st.lists(st.sampled_from([2.0, 1.0, 3.0, 0.5]), min_size=d, max_size=d)))
    inside = np.array(draw(st.lists(_grid(0, 8, 8), min_size=n * d, max_size=n * d))).reshape(n, d)
    noise = np.array(draw(st.lists(_grid(-12, 12, 8), min_size=n * d, max_size=n * d))).reshape(n, d)
    return {"next_actions": low + inside * width, "noise": noise,
            "noise_clip": draw(st.sampled_from([0.5, 0.25, 0.0, 1.0])),
            "action_low": low, "action_high": low + width}


@pytest.mark.spec("td3.target-policy-smoothing")
@given(smoothing_cases())
def test_smoothing_matches_both_oracles(case):
    """The inputs are multiples of 1/8 far from overflow, so every sum is exact in binary and
    the reference, the rational oracle and the median-of-three oracle agree exactly."""
    exact = oracle.smoothed_actions_exact(**case)
    assert np.array_equal(oracle.smoothed_actions_by_median(**case), exact)
    assert np.array_equal(td3.target_policy_smoothing(**case), exact)


@pytest.mark.spec("td3.target-policy-smoothing")
@given(smoothing_cases())
def test_smoothed_action_stays_within_bounds_and_within_c_of_the_target_action(case):
    smoothed = td3.target_policy_smoothing(**case)
    assert np.all(smoothed >= case["action_low"]) and np.all(smoothed <= case["action_high"])
    assert np.all(np.abs(smoothed - case["next_actions"]) <= case["noise_clip"])
    # Where nothing is clipped, the noise passes through unchanged.
    free = (np.abs(case["noise"]) <= case["noise_clip"]) & \
        (case["next_actions"] + case["noise"] >= case["action_low"]) & \
        (case["next_actions"] + case["noise"] <= case["action_high"])
    assert np.array_equal(smoothed[free], (case["next_actions"] + case["noise"])[free])


@pytest.mark.spec("td3.target-policy-smoothing")
@pytest.mark.parametrize("change, message", [
    ({"noise": [[0.1, 0.2]]}, "noise[N, d] (the shape of next_actions) must have shape (1, 1)"),
    ({"noise_clip": -0.5}, "noise_clip must be non-negative"),
    ({"action_low": [2.0]}, "action_low[0] = 2.0 exceeds action_high[0] = 1.0"),
    ({"next_actions": [0.5]}, "next_actions[N, d] must be a 2-D array"),
])
def test_smoothing_rejects_bad_input_with_a_clear_error(change, message):
    case = {"next_actions": [[0.5]], "noise": [[0.1]], "noise_clip": 0.5, "action_low": [-1.0],
            "action_high": [1.0]}
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        td3.target_policy_smoothing(**{**case, **change})


# ------------------------------------------------------------------- schedule

schedules = st.tuples(st.integers(0, 30), st.integers(1, 6))


@pytest.mark.spec("td3.delayed-policy-updates")
@given(schedules)
@example((5, 2))
def test_schedule_matches_both_oracles(n_and_d):
    n, d = n_and_d
    closed_form = oracle.delayed_schedule_closed_form(n, d)
    assert np.array_equal(oracle.delayed_schedule_by_countdown(n, d), closed_form)
    assert np.array_equal(td3.delayed_update_schedule(n, d), closed_form)


@pytest.mark.spec("td3.delayed-policy-updates")
@given(schedules)
def test_schedule_has_floor_n_over_d_actor_updates_each_after_d_critic_updates(n_and_d):
    n, d = n_and_d
    schedule = td3.delayed_update_schedule(n, d)
    assert schedule.shape == (n, 2)
    assert np.array_equal(schedule[:, 0], schedule[:, 1])  # targets move with the actor
    moments = np.flatnonzero(schedule[:, 0]) + 1  # critic updates after which the actor moves
    assert len(moments) == n // d
    assert np.all(np.diff(np.concatenate([[0], moments])) == d)  # d critic updates before each


@pytest.mark.spec("td3.delayed-policy-updates")
@pytest.mark.parametrize("n, d, message", [
    (5, 0, "policy_delay must be an integer >= 1"),
    (-1, 2, "n_updates must be an integer >= 0"),
    (2.5, 2, "n_updates must be an integer >= 0"),
    (True, 2, "n_updates must be an integer >= 0"),
])
def test_schedule_rejects_bad_input_with_a_clear_error(n, d, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        td3.delayed_update_schedule(n, d)


# ------------------------------------------------------------------ actor loss

actor_cases = st.integers(1, 6).flatmap(lambda n: _columns(n, _grid(-320, 320, 4), _grid(-320, 320, 4)))


def _reference_actor_loss(q1, q2):
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (q1, q2)]
    loss = td3.td3_actor_loss(*leaves)
    gradients = torch.autograd.grad(loss, leaves, allow_unused=True)
    return float(loss.detach()), [np.zeros(len(q1)) if g is None else g.numpy() for g in gradients]


@pytest.mark.spec("td3.actor-loss")
@given(actor_cases)
@example((np.array([1.0, 3.0]), np.array([-5.0, 0.0])))
def test_actor_loss_value_and_gradients_match_exact_rationals(case):
    """The value -mean(Q1) to half an ulp (one rounding of a rational), d/dQ1 = -1/N exactly
    (a power of two over N), and no gradient into the second critic at all."""
    value, (g_q1, g_q2) = _reference_actor_loss(*case)
    exact = oracle.actor_loss_exact(*case)
    assert abs(value - exact["value"]) <= SAFETY * EPS * max(1.0, np.abs(case[0]).max())
    np.testing.assert_allclose(g_q1, exact["q1"], rtol=4 * EPS, atol=0)
    assert np.array_equal(g_q2, exact["q2"])


@pytest.mark.spec("td3.actor-loss")
@given(actor_cases)
def test_actor_loss_oracle_matches_exact_central_differences(case):
    """A second route to the gradient: central differences of -mean(Q1) in exact rationals
    (exact, the loss being linear), one coordinate of each critic at a time."""
    q1, q2 = ([Fraction(float(x)) for x in column] for column in case)
    n, step = len(q1), Fraction(1, 8)

    def value(first):
        return -sum(first, Fraction(0)) / n

    exact = oracle.actor_loss_exact(*case)
    for i in range(n):
        up, down = list(q1), list(q1)
        up[i] += step
        down[i] -= step
        assert float((value(up) - value(down)) / (2 * step)) == exact["q1"][i]
    assert float(value(q1)) == exact["value"]
    assert not exact["q2"].any()  # the value does not read q2: every difference in it is 0


def _actor_critic(weights, critic_centre, critic_curvature):
    """A linear actor mu(s) = s W (three states, two action dimensions) and a first critic
    quadratic in the action, Q1(s, a) = -sum_j h_j (a_j - c_j)^2 + s . (1, 2); the reference
    loss on top."""
    states = torch.tensor([[1.0, -0.5], [0.25, 2.0], [-1.0, 0.75]], dtype=torch.float64)
    actions = states @ weights
    q1 = -(critic_curvature * (actions - critic_centre) ** 2).sum(dim=1) + states @ torch.tensor(
        [1.0, 2.0], dtype=torch.float64)
    q2 = q1 - 10.0  # a smaller second critic: the loss must not use it
    return td3.td3_actor_loss(q1, q2), states, actions


@pytest.mark.spec("td3.actor-loss", "dpg.deterministic-policy-gradient")
def test_actor_loss_gradient_is_the_deterministic_policy_gradient_of_the_first_critic():
    """Autograd of the loss through the actor equals the chain rule of Fujimoto et al.'s
    Algorithm 1, -1/N sum_i s_i^T grad_a Q1(s_i, a)|_{a = mu(s_i)}, with grad_a Q1 =
    -2 h (a - c) by hand; torch.autograd.gradcheck agrees; one actor step with an optimiser
    over the actor's parameters leaves the critic's parameters exactly as they were."""
    weights = torch.tensor([[0.4, -0.2], [-0.3, 0.1]], dtype=torch.float64, requires_grad=True)
    centre = torch.tensor([0.3, -0.1], dtype=torch.float64, requires_grad=True)
    curvature = torch.tensor([2.0, 0.5], dtype=torch.float64, requires_grad=True)
    loss, states, actions = _actor_critic(weights, centre, curvature)
    (gradient,) = torch.autograd.grad(loss, weights)
    action_gradient = -2.0 * curvature.detach() * (actions.detach() - centre.detach())
    chain_rule = -(states.T @ action_gradient) / states.shape[0]
    torch.testing.assert_close(gradient, chain_rule, rtol=1e-13, atol=1e-13)
    assert torch.autograd.gradcheck(lambda w: _actor_critic(w, centre, curvature)[0], (weights,))

    critic_before = [centre.detach().clone(), curvature.detach().clone()]
    optimiser = torch.optim.SGD([weights], lr=0.1)
    optimiser.zero_grad()
    _actor_critic(weights, centre, curvature)[0].backward()
    optimiser.step()
    assert torch.equal(centre.detach(), critic_before[0])
    assert torch.equal(curvature.detach(), critic_before[1])
    assert not torch.equal(weights.detach(), torch.tensor([[0.4, -0.2], [-0.3, 0.1]],
                                                           dtype=torch.float64))


@pytest.mark.spec("td3.actor-loss")
@pytest.mark.parametrize("call, message", [
    (lambda: td3.td3_actor_loss(torch.tensor([[1.0]])), "q1[N] must be 1-D"),
    (lambda: td3.td3_actor_loss(torch.tensor([])), "q1[N] is empty"),
    (lambda: td3.td3_actor_loss(torch.tensor([1.0]), torch.tensor([1.0, 2.0])),
     "q2[N] must have the shape of q1"),
    (lambda: td3.td3_actor_loss(torch.tensor([float("nan")])), "q1[N] contains NaN or infinity"),
])
def test_actor_loss_rejects_bad_input_with_a_clear_error(call, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        call()


# --------------------------------------------------------------- planted bugs

MUTANTS = [
    (test_td3_target_matches_exact_rationals, "clipped_double_q_target", bugs.td3_target_max),
    (test_td3_target_is_at_most_either_single_critic_target, "clipped_double_q_target",
     bugs.td3_target_mean),
    (test_td3_target_with_equal_critics_at_q_mu_returns_q_mu, "clipped_double_q_target",
     bugs.td3_target_no_mask),
    (test_smoothing_matches_both_oracles, "target_policy_smoothing", bugs.smoothing_unclipped_noise),
    (test_smoothed_action_stays_within_bounds_and_within_c_of_the_target_action,
     "target_policy_smoothing", bugs.smoothing_unbounded_action),
    (test_schedule_matches_both_oracles, "delayed_update_schedule", bugs.schedule_zero_based),
    (test_schedule_has_floor_n_over_d_actor_updates_each_after_d_critic_updates,
     "delayed_update_schedule", bugs.schedule_targets_every_step),
    (test_actor_loss_value_and_gradients_match_exact_rationals, "td3_actor_loss", bugs.td3_actor_loss_min),
    (test_actor_loss_gradient_is_the_deterministic_policy_gradient_of_the_first_critic,
     "td3_actor_loss", bugs.td3_actor_loss_no_minus),
]


@pytest.mark.spec(
    "td3.actor-loss",
    "td3.clipped-double-q-target",
    "td3.delayed-policy-updates",
    "td3.target-policy-smoothing",
)
@pytest.mark.parametrize("theorem, attribute, planted", MUTANTS,
                         ids=lambda value: getattr(value, "__name__", value))
def test_td3_theorem_tests_fail_with_planted_bugs(theorem, attribute, planted, monkeypatch):
    monkeypatch.setattr(td3, attribute, planted)
    assert fails(theorem), f"{theorem.__name__} stayed green with {planted.__name__}"


# ------------------------------------------------------------------ user code

@pytest.mark.parametrize("name, candidate", [
    ("td3-target", user.td3_target_torch),
    ("target-policy-smoothing", user.smoothing_with_clamps),
    ("delayed-policy-updates", user.schedule_with_a_counter),
    ("td3-actor-loss", user.td3_actor_loss_authors_style),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementations_pass(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)
