"""TD3: the clipped double-Q target, target policy smoothing and the delayed schedule, each
against independent oracles; each theorem test fails with a planted bug; bad input gets a
clear error; correct user code passes ``rlspec.check``."""

import doctest
import re

import numpy as np
import pytest
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
]


@pytest.mark.spec(
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
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementations_pass(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)
