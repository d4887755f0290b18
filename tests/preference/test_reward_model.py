"""The Bradley-Terry reward-model loss, and what its population minimiser recovers.

Oracles: ``rlspec.oracles.dpo`` (exact rationals, 50-digit mpmath, closed-form
derivatives), cross-checked here against sympy's differentiation and against a direct
numerical minimisation (scipy).  Tolerances: the reference computes in float64 from exact
inputs; its loss and gradients are within a few ulps of the O(1)..O(1000) values, so
``1e-12 * max(1, |value|)`` is a safe bound that still rejects any formula error.  The fitted
rewards come from Newton's method stopped at a gradient of 1e-13 times the total weight; with
curvature at least sigma(4) sigma(-4) * min weight (~1e-3 here) the error is below 1e-9.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import rlspec
from rlspec.oracles import reward_model as oracle
from rlspec.reference import reward_model
from rlspec.toy_mdps import language_model as toy
from rlspec.validation import InvalidInputError

import bugs_preference as bugs
import user_implementations_preference as user

RELATIVE = 1e-12
FIT_TOLERANCE = 1e-9


def _close(expected, got, relative=RELATIVE):
    expected, got = np.asarray(expected, dtype=float), np.asarray(got, dtype=float)
    return np.all(np.abs(expected - got) <= relative * np.maximum(1.0, np.abs(expected)))


def _margins(scale=8):
    return st.integers(1, 4).flatmap(lambda n: st.tuples(
        st.lists(st.integers(-4 * scale, 4 * scale).map(lambda k: k / 4), min_size=n, max_size=n),
        st.lists(st.integers(-4 * scale, 4 * scale).map(lambda k: k / 4), min_size=n, max_size=n)))


@pytest.mark.spec("rm.bradley-terry-loss")
@given(_margins())
@example(([-1000.0], [0.0]))
@example(([1000.0, 0.0], [0.0, 1.0]))
def test_loss_and_gradient_match_the_exact_oracle(pair):
    chosen = torch.tensor(pair[0], dtype=torch.float64, requires_grad=True)
    rejected = torch.tensor(pair[1], dtype=torch.float64, requires_grad=True)
    loss = reward_model.bradley_terry_loss(chosen, rejected)
    loss.backward()
    value, grad_chosen, grad_rejected = oracle.bradley_terry_loss_and_gradient(*pair)
    assert _close(value, float(loss.detach()))
    assert _close(grad_chosen, chosen.grad.numpy())
    assert _close(grad_rejected, rejected.grad.numpy())


@pytest.mark.spec("rm.bradley-terry-loss")
@given(_margins())
def test_written_out_gradient_is_autograd_of_the_loss(pair):
    chosen = torch.tensor(pair[0], dtype=torch.float64, requires_grad=True)
    rejected = torch.tensor(pair[1], dtype=torch.float64, requires_grad=True)
    reward_model.bradley_terry_loss(chosen, rejected).backward()
    grad_chosen, grad_rejected = reward_model.bradley_terry_loss_gradient(*pair)
    assert _close(chosen.grad.numpy(), grad_chosen)
    assert _close(rejected.grad.numpy(), grad_rejected)


@pytest.mark.spec("rm.bradley-terry-loss")
def test_oracle_derivative_agrees_with_sympy():
    """Second oracle: sympy differentiates -log(1 / (1 + exp(-(a - b)))) symbolically; its
    value at rational points, to 40 digits, matches the oracle's closed form."""
    a, b = sympy.symbols("a b", real=True)
    loss = -sympy.log(1 / (1 + sympy.exp(-(a - b))))
    for chosen, rejected in [(Fraction(3, 4), Fraction(-1, 2)), (Fraction(-7), Fraction(2)),
                             (Fraction(0), Fraction(0))]:
        point = {a: sympy.Rational(chosen.numerator, chosen.denominator),
                 b: sympy.Rational(rejected.numerator, rejected.denominator)}
        value, g_chosen, g_rejected = oracle.bradley_terry_loss_and_gradient(
            [float(chosen)], [float(rejected)])
        assert math.isclose(value, float(loss.subs(point).evalf(40)), rel_tol=1e-15)
        assert math.isclose(g_chosen[0], float(sympy.diff(loss, a).subs(point).evalf(40)),
                            rel_tol=1e-15)
        assert math.isclose(g_rejected[0], float(sympy.diff(loss, b).subs(point).evalf(40)),
                            rel_tol=1e-15)


@pytest.mark.spec("rm.bradley-terry-loss")
def test_loss_passes_gradcheck():
    chosen = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    rejected = torch.tensor([0.0, 1.0, -4.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(reward_model.bradley_terry_loss, (chosen, rejected))


@pytest.mark.spec("rm.bradley-terry-loss")
def test_loss_is_finite_at_extreme_margins():
    """At margin -1000 the loss is 1000 (up to e^-1000) and the gradient is -1 / N; the naive
    -log(sigmoid(z)) gives inf there."""
    chosen = torch.tensor([-1000.0], dtype=torch.float64, requires_grad=True)
    loss = reward_model.bradley_terry_loss(chosen, torch.tensor([0.0], dtype=torch.float64))
    loss.backward()
    assert float(loss) == 1000.0 and float(chosen.grad) == -1.0
    assert math.isinf(float(bugs.rm_loss_naive_log_sigmoid(torch.tensor([-1000.0]),
                                                          torch.tensor([0.0]))))


# ------------------------------------------------------------ the population minimiser

@pytest.mark.spec("rm.population-minimiser")
@given(toy.language_models(max_length=2), st.data())
def test_population_minimiser_is_the_true_reward_up_to_a_constant(model, data):
    rewards = data.draw(toy.reward_tables(model))
    weights = toy.preference_pair_distribution(model, rewards)
    truth = rewards - rewards[:, :1]
    fitted = reward_model.fit_tabular_reward(weights)
    assert np.max(np.abs(fitted - truth)) <= FIT_TOLERANCE
    assert np.max(np.abs(oracle.reward_from_pair_weights(weights) - truth)) <= 1e-12
    # Optimality, judged by a third route: the exact gradient of the population loss is 0.
    assert np.max(np.abs(oracle.population_loss_gradient(truth, weights))) <= 1e-12


@pytest.mark.spec("rm.population-minimiser")
@given(toy.language_models(max_length=2), st.data())
def test_log_odds_oracle_agrees_with_direct_minimisation(model, data):
    """Cross-check of the oracle by a different method: scipy's BFGS on the population loss."""
    rewards = data.draw(toy.reward_tables(model))
    weights = toy.preference_pair_distribution(model, rewards)
    by_minimisation = user.fit_rewards_by_bfgs(weights)
    assert np.max(np.abs(by_minimisation - oracle.reward_from_pair_weights(weights))) <= 1e-6


@pytest.mark.spec("rm.population-minimiser")
def test_unidentified_rewards_are_refused():
    weights = np.zeros((1, 3, 3))
    weights[0, 0, 1] = 1.0          # response 2 is never compared
    with pytest.raises(InvalidInputError, match=r"responses \[2\] are never compared"):
        reward_model.fit_tabular_reward(weights)
    with pytest.raises(InvalidInputError, match="never compared"):
        oracle.reward_from_pair_weights(weights)
    with pytest.raises(InvalidInputError, match="non-negative"):
        reward_model.fit_tabular_reward(-np.ones((1, 2, 2)))


@pytest.mark.parametrize("call, message", [
    (lambda: reward_model.bradley_terry_loss([1.0, 2.0], [1.0]), "same length"),
    (lambda: reward_model.bradley_terry_loss([], []), "empty"),
    (lambda: reward_model.bradley_terry_loss([[1.0]], [[1.0]]), "1-D"),
    (lambda: reward_model.bradley_terry_loss([float("nan")], [0.0]), "NaN"),
])
def test_bad_inputs_are_refused_with_a_clear_error(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


@pytest.mark.parametrize("name, candidate", [
    ("reward-model-loss", user.reward_loss_softplus),
    ("reward-model-loss", user.reward_loss_bce),
    ("reward-model-fit", user.fit_rewards_by_bfgs),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_user_style_implementations_pass(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


# ------------------------------------------------------------ the tests can fail

@pytest.mark.parametrize("test, attribute, planted", [
    (test_loss_and_gradient_match_the_exact_oracle, "bradley_terry_loss", bugs.rm_loss_swapped),
    (test_loss_and_gradient_match_the_exact_oracle, "bradley_terry_loss",
     bugs.rm_loss_naive_log_sigmoid),
    (test_population_minimiser_is_the_true_reward_up_to_a_constant, "fit_tabular_reward",
     bugs.fit_log_win_rate),
], ids=["swapped", "naive-log-sigmoid", "win-rate-fit"])
def test_theorem_tests_fail_on_a_planted_bug(test, attribute, planted, monkeypatch):
    monkeypatch.setattr(reward_model, attribute, planted)
    assert_fails(test)


def assert_fails(test):
    """Run a theorem test that must go red: an AssertionError (or hypothesis's group of them)."""
    try:
        test()
    except AssertionError:
        return
    except ExceptionGroup as group:
        assert group.subgroup(AssertionError) is not None, group
        return
    pytest.fail(f"{test.__name__} stayed green with a planted bug")
