"""The four valid inputs that the references failed (issue 14, "What to build" 3), each
judged by the oracle its check uses, at the check's default tolerance.

Each input lies inside its entry's assumptions; before the fixes the references gave a
policy worth 0 instead of 5e-5, a reward gap of 29.08 instead of 30.75, an OverflowError,
and normalised advantages of 0.414 where the judge demanded 0.707.
"""

import numpy as np
import pytest
from rlspec.oracles import dynamic_programming as policy_evaluation
from rlspec.oracles import kl_estimators as kl_oracle
from rlspec.oracles import ppo as ppo_oracle
from rlspec.oracles import reward_model as preference_oracle
from rlspec.oracles.methods import exact_rational
from rlspec.reference import dynamic_programming, kl_estimators, ppo, reward_model
from rlspec.toy_mdps import language_model as toy
from rlspec.validation import InvalidInputError

#: The checks' default agreement, |got - expected| <= 1e-6 max(1, max |expected|)
#: (``rlspec.checks.runner.RELATIVE_TOLERANCE``).
CHECK_TOLERANCE = 1e-6


def within_check_tolerance(expected, got) -> bool:
    expected, got = np.asarray(expected, dtype=float), np.asarray(got, dtype=float)
    scale = max(1.0, float(np.max(np.abs(expected))))
    return bool(np.all(np.abs(got - expected) <= CHECK_TOLERANCE * scale))


# ---------------------------------------------------------------- optimal-policy

def _optimal_and_achieved(transitions, rewards, gamma):
    transitions, rewards = np.array(transitions, dtype=float), np.array(rewards, dtype=float)
    policy = dynamic_programming.policy_iteration(transitions, rewards, gamma)
    achieved = policy_evaluation.evaluate_policy(transitions, rewards, gamma, policy)
    exact, _ = exact_rational.optimal_values_exact(transitions, rewards, gamma)
    return np.array([float(v) for v in exact]), achieved


def test_power_policy_iteration_takes_a_gain_below_the_old_tie_tolerance():
    """r = (0, 5e-8) on a self-loop, gamma = 0.999: V* = 5e-8 / 0.001 = 5e-5, more than the
    check's tolerance 1e-6 above the value 0 of the action taken for a tie."""
    optimal, achieved = _optimal_and_achieved([[[1.0], [1.0]]], [[0.0, 5e-8]], 0.999)
    assert optimal[0] == pytest.approx(5e-5)
    assert within_check_tolerance(optimal, achieved)


def test_power_policy_iteration_stops_on_exact_ties_between_identical_states():
    """States 1 and 2 are copies, so from state 0 the two actions tie exactly; at
    gamma = 0.999 the tie tolerance is 1e-10 and must still exceed the evaluation's error."""
    transitions = [[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                   [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]],
                   [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]]]
    rewards = [[0.0, 0.0], [1.0, 0.5], [1.0, 0.5]]
    optimal, achieved = _optimal_and_achieved(transitions, rewards, 0.999)
    assert within_check_tolerance(optimal, achieved)


# ---------------------------------------------------------------- reward-model-fit

def test_power_reward_fit_recovers_a_gap_of_30_75():
    """pi_ref uniform over two responses, r = (30.75, 0): the loser's weight is
    sigma(-30.75) / 2 ~ 2e-14, which made the old gradient test stop at a gap of 29.08."""
    flat = toy.LanguageModel(np.zeros((1, 1, 2)), max_length=1)
    weights = toy.preference_pair_distribution(flat, np.array([[30.75, 0.0]]))
    expected = preference_oracle.reward_from_pair_weights(weights)
    assert expected[0, 1] == pytest.approx(-30.75)
    assert within_check_tolerance(expected, reward_model.fit_tabular_reward(weights))


def test_power_reward_fit_stops_when_a_heavy_pair_hides_a_light_one():
    """r = (0, 30, 30) over distinct pairs: 1 and 2 are compared often, each with 0 only at
    weights near 1e-13.  Summed term by term, the heavy pair's rounding moved every Newton
    step by 4e-5 and the fit never stopped; summed pair by pair (fsum) it converges."""
    rewards = np.array([0.0, 30.0, 30.0])
    counts = np.array([[0.0, 10.0, 1.01], [10.0, 0.0, 1.1], [1.01, 1.1, 0.0]])
    weights = counts / (1.0 + np.exp(rewards[None, :] - rewards[:, None]))
    weights = (weights / weights.sum())[None]
    expected = preference_oracle.reward_from_pair_weights(weights)
    assert within_check_tolerance(expected, reward_model.fit_tabular_reward(weights))


def test_power_reward_fit_refuses_preferences_without_a_minimiser():
    """Response 0 wins every comparison: the loss falls for ever as r_0 - r_1 grows."""
    with pytest.raises(InvalidInputError, match="no minimiser"):
        reward_model.fit_tabular_reward([[[0.0, 1.0], [0.0, 0.0]]])


# ---------------------------------------------------------------- kl-estimator-loss-gradient

@pytest.mark.parametrize("logits, reference_logits", [
    ([800.0, 0.0], [0.0, 0.0]),        # pi(1) = e^-800: the ratio pi_ref / pi overflows
    ([0.0, 0.0], [800.0, 0.0]),
    ([800.0, 0.0, -800.0], [-800.0, 0.0, 800.0]),
])
@pytest.mark.parametrize("estimator", ["k1", "k2", "k3"])
def test_power_kl_loss_gradient_is_finite_at_a_logit_spread_of_800(logits, reference_logits,
                                                                   estimator):
    expected = kl_oracle.estimator_loss_gradient_closed_form(
        np.array(logits), np.array(reference_logits), estimator)
    got = kl_estimators.estimator_loss_gradient(logits, reference_logits, estimator)
    assert np.all(np.isfinite(got)) and within_check_tolerance(expected, got)


# ---------------------------------------------------------------- advantage-normalization

def test_power_normalisation_of_a_spread_of_order_epsilon_is_the_epsilon_formula():
    """(0, 2e-8): sample std sqrt(2) 1e-8, so (A - mean) / (std + 1e-8) = +-1 / (sqrt 2 + 1)
    = +-0.414214, not the +-0.707107 of exact standardisation.  The reference is right to its
    statement; the judge must accept every epsilon in [0, 1e-8] (see the report)."""
    advantages = np.array([0.0, 2e-8])
    got = ppo.normalize_advantages(advantages)
    with_epsilon = ppo_oracle.normalized_advantages_exact(advantages, ddof=1, epsilon=1e-8)
    exact = ppo_oracle.normalized_advantages_exact(advantages, ddof=1)
    assert with_epsilon[1] == pytest.approx(1 / (2 ** 0.5 + 1), rel=1e-12)
    assert within_check_tolerance(with_epsilon, got)
    assert not within_check_tolerance(exact, got)
