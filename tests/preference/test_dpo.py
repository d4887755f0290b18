"""DPO: the KL-regularised optimum, the loss and its gradient, the variants, the population
minimiser.  All exact on the enumerable language model.

Oracles: ``rlspec.oracles.dpo`` (rationals + 50-digit mpmath, closed-form
derivatives) and ``rlspec.oracles.dpo`` (sums over every response, the token-level
soft Bellman recursion), cross-checked here against sympy, torch autograd and scipy.

Tolerances.  Losses and gradients: the reference computes h in float64 from inputs of size
up to ~2000, so h carries an absolute error of a few ulps of 2000 (~1e-12); beta <= 2 and
every derivative of the losses is at most 1 in beta h (IPO: 2 |h|), so
``1e-9 * max(1, |value|)`` bounds the float error with room and still rejects every formula
error (the catalogued bugs are off by 1e-2 or more).  Probabilities and objectives: sums of
at most 15 float64 terms of size O(1) (rewards <= 2, beta >= 1/512 only in log space), so
1e-12 absolute.  Numerical minimisation (scipy BFGS, gradient tolerance 1e-10): 1e-6.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.optimize
import sympy
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import rlspec
from rlspec.oracles import dpo as lm_oracle
from rlspec.oracles import dpo as oracle
from rlspec.reference import dpo
from rlspec.toy_mdps import language_model as toy
from rlspec.toy_mdps.language_model import LanguageModel
from rlspec.validation import InvalidInputError

import bugs_preference as bugs
import user_implementations_preference as user
from mutation import fails

LOSS_RELATIVE = 1e-9
EXACT = 1e-12
MINIMISED = 1e-6
BETAS = (0.5, 0.1, 1.0, 2.0, 0.01)
ARGUMENTS = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
             "reference_rejected_logps")


def _close(expected, got, relative=LOSS_RELATIVE):
    expected, got = np.asarray(expected, dtype=float), np.asarray(got, dtype=float)
    return np.all(np.abs(expected - got) <= relative * np.maximum(1.0, np.abs(expected)))


@st.composite
def pair_batches(draw):
    n = draw(st.integers(1, 4))
    depth = draw(st.sampled_from([20, 2000]))
    columns = [draw(st.lists(st.integers(-4 * depth, 0).map(lambda k: k / 4), min_size=n,
                             max_size=n)) for _ in ARGUMENTS]
    return columns, draw(st.sampled_from(BETAS))


#: variant name -> (reference loss, oracle variant, label smoothing)
LOSSES = {
    "dpo": (dpo.dpo_loss, "dpo", None),
    "ipo": (dpo.ipo_loss, "ipo", None),
    "hinge": (dpo.hinge_dpo_loss, "hinge", None),
    "conservative": (dpo.conservative_dpo_loss, "dpo", 0.1),
}


def _reference_loss(name):
    """Looked up on the module at call time, so that the can-fail tests can plant a bug."""
    function = getattr(dpo, LOSSES[name][0].__name__)
    smoothing = LOSSES[name][2]
    if smoothing is None:
        return function
    return lambda *arguments: function(*arguments, smoothing)


@pytest.mark.spec("dpo.hinge", "dpo.ipo", "dpo.label-smoothing", "dpo.loss")
@pytest.mark.parametrize("name", sorted(LOSSES))
@given(batch=pair_batches())
@example(batch=([[-1001.0], [-1.0], [-1.0], [-1.0]], 1.0))
@example(batch=([[-1.0, -4.0], [-2.0, -1.0], [-1.5, -2.0], [-2.0, -2.0]], 0.5))
def test_losses_match_the_exact_oracle_in_value_and_gradient(name, batch):
    columns, beta = batch
    chosen, rejected = (torch.tensor(column, dtype=torch.float64, requires_grad=True)
                        for column in columns[:2])
    references = [torch.tensor(column, dtype=torch.float64) for column in columns[2:]]
    loss = _reference_loss(name)(chosen, rejected, *references, beta)
    loss.backward()
    _, variant, smoothing = LOSSES[name]
    value, grad_chosen, grad_rejected, kinks = oracle.preference_loss_and_gradient(
        *columns, beta, variant=variant, label_smoothing=smoothing or 0.0)
    assert _close(value, float(loss.detach()))
    smooth = ~kinks
    assert _close(grad_chosen[smooth], chosen.grad.numpy()[smooth])
    assert _close(grad_rejected[smooth], rejected.grad.numpy()[smooth])


@pytest.mark.spec("dpo.ipo", "dpo.label-smoothing", "dpo.loss")
@pytest.mark.parametrize("name", ["dpo", "ipo", "conservative"])
def test_losses_pass_gradcheck(name):
    """Finite differences in float64 (torch.autograd.gradcheck) against autograd."""
    inputs = [torch.tensor(values, dtype=torch.float64, requires_grad=index < 2)
              for index, values in enumerate([[-1.0, -7.5, -3.0], [-2.0, -1.25, -0.5],
                                              [-1.5, -2.0, -4.0], [-2.0, -3.0, -1.0]])]
    assert torch.autograd.gradcheck(lambda a, b: _reference_loss(name)(a, b, *inputs[2:], 0.5),
                                    tuple(inputs[:2]))


def _sympy_losses():
    a, b, c, d, beta, eps = sympy.symbols("a b c d beta epsilon", real=True)
    h = (a - c) - (b - d)
    log_sigmoid = lambda z: -sympy.log(1 + sympy.exp(-z))  # noqa: E731
    return (a, b, c, d, beta, eps), {
        "dpo": -log_sigmoid(beta * h),
        "conservative": -(1 - eps) * log_sigmoid(beta * h) - eps * log_sigmoid(-beta * h),
        "ipo": (h - 1 / (2 * beta)) ** 2,
        "hinge_active": 1 - beta * h,     # the hinge where beta h < 1
    }


@pytest.mark.spec("dpo.gradient", "dpo.hinge", "dpo.ipo", "dpo.label-smoothing", "dpo.loss")
@pytest.mark.parametrize("name", ["dpo", "conservative", "ipo", "hinge"])
def test_oracle_derivatives_agree_with_sympy(name):
    """Second oracle for the closed-form derivatives: sympy differentiates the per-pair loss
    symbolically; at rational points its values (40 digits) match the oracle's."""
    (a, b, c, d, beta, eps), losses = _sympy_losses()
    expression = losses["hinge_active" if name == "hinge" else name]
    points = [(-1, Fraction(-13, 4), -2, -2, Fraction(1, 2)), (-6, -1, Fraction(-5, 2), -3, 2),
              (-1, -1, -1, -1, Fraction(1, 10))]   # the last is h = 0
    for point in points:
        values = {symbol: sympy.Rational(Fraction(v).numerator, Fraction(v).denominator)
                  for symbol, v in zip((a, b, c, d, beta), point)}
        values[eps] = sympy.Rational(1, 10)
        _, variant, smoothing = LOSSES[name]
        value, grad_chosen, grad_rejected, kinks = oracle.preference_loss_and_gradient(
            *([float(v)] for v in point[:4]), float(point[4]), variant=variant,
            label_smoothing=smoothing or 0.0)
        if name == "hinge" and float(expression.subs(values)) < 0:
            assert value == 0.0 and grad_chosen[0] == 0.0
            continue
        assert math.isclose(value, float(expression.subs(values).evalf(40)), rel_tol=1e-14,
                            abs_tol=1e-300)
        assert math.isclose(grad_chosen[0], float(sympy.diff(expression, a).subs(values).evalf(40)),
                            rel_tol=1e-14, abs_tol=1e-300)
        assert math.isclose(grad_rejected[0], float(sympy.diff(expression, b).subs(values).evalf(40)),
                            rel_tol=1e-14, abs_tol=1e-300)


@pytest.mark.spec("dpo.gradient")
@given(pair_batches())
def test_written_out_gradient_is_autograd_of_the_loss(batch):
    columns, beta = batch
    chosen, rejected = (torch.tensor(column, dtype=torch.float64, requires_grad=True)
                        for column in columns[:2])
    dpo.dpo_loss(chosen, rejected, *columns[2:], beta).backward()
    grad_chosen, grad_rejected = dpo.dpo_loss_gradient(*columns, beta)
    assert _close(chosen.grad.numpy(), grad_chosen)
    assert _close(rejected.grad.numpy(), grad_rejected)


@pytest.mark.spec("dpo.loss")
def test_dpo_loss_is_finite_at_extreme_log_ratios():
    """beta h = -1000: the loss is 1000 and the gradient -beta on the chosen log-prob; the
    naive -log(sigmoid(x)) gives inf and a NaN gradient."""
    chosen = torch.tensor([-1001.0], dtype=torch.float64, requires_grad=True)
    loss = dpo.dpo_loss(chosen, [-1.0], [-1.0], [-1.0], beta=1.0)
    loss.backward()
    assert float(loss.detach()) == 1000.0 and float(chosen.grad) == -1.0
    naive = torch.tensor([-1001.0], dtype=torch.float64, requires_grad=True)
    bad = bugs.dpo_naive_log_sigmoid(naive, torch.tensor([-1.0]), torch.tensor([-1.0]),
                                     torch.tensor([-1.0]), 1.0)
    bad.backward()
    assert math.isinf(float(bad.detach())) and math.isnan(float(naive.grad))


@pytest.mark.spec("dpo.ipo")
def test_ipo_per_pair_minimiser_is_the_target_margin():
    """IPO's loss and gradient vanish at h = 1 / (2 tau): a finite margin.  (beta is a power
    of two so that 1 / (2 beta) is exact; the oracle reads 0.1 as the binary fraction it is.)"""
    for beta in (0.5, 0.125, 2.0):
        target = 1.0 / (2.0 * beta)
        value, grad, _, _ = oracle.preference_loss_and_gradient([target - 5.0], [-5.0], [0.0],
                                                                [0.0], beta, variant="ipo")
        assert value == 0.0 and grad[0] == 0.0
        assert float(dpo.ipo_loss([target - 5.0], [-5.0], [0.0], [0.0], beta)) == 0.0


@pytest.mark.spec("dpo.label-smoothing")
def test_label_smoothing_per_pair_minimiser_is_the_log_odds_of_the_label():
    """The smoothed loss has zero gradient exactly where sigma(beta h) = 1 - eps."""
    for epsilon in (0.1, 0.25):
        beta = 0.5
        h = math.log((1 - epsilon) / epsilon) / beta
        _, grad, _, _ = oracle.preference_loss_and_gradient([h - 5.0], [-5.0], [0.0], [0.0],
                                                            beta, label_smoothing=epsilon)
        assert abs(grad[0]) <= 1e-15
    # eps = 1/2: no preference; the minimiser is h = 0 and any h > 0 is pulled back.
    _, grad, _, _ = oracle.preference_loss_and_gradient([-2.0], [-2.0], [-2.0], [-2.0], 0.5,
                                                        label_smoothing=0.5)
    assert grad[0] == 0.0
    _, grad, _, _ = oracle.preference_loss_and_gradient([-1.0], [-3.0], [-2.0], [-2.0], 0.5,
                                                        label_smoothing=0.5)
    assert grad[0] > 0.0


@pytest.mark.spec("dpo.hinge")
def test_hinge_accepts_any_subgradient_at_the_kink():
    """The hinge battery's edge case beta h = 1 is a kink; torch.relu (subgradient 0) and
    torch.clamp (subgradient -beta / N) must both pass."""
    def hinge_by_clamp(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                       reference_rejected_logps, beta):
        h = (policy_chosen_logps - reference_chosen_logps.detach()) - (
            policy_rejected_logps - reference_rejected_logps.detach())
        return torch.clamp(1 - beta * h, min=0).mean()

    for candidate in (user.hinge_loss_trl_style, hinge_by_clamp):
        report = rlspec.check("hinge-dpo-loss", candidate, max_examples=20)
        assert report.passed, str(report)
    kink = torch.tensor([-1.0], dtype=torch.float64, requires_grad=True)
    hinge_by_clamp(kink, torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0]),
                   0.5).backward()
    assert float(kink.grad) == -0.5     # clamp does take the other subgradient


@pytest.mark.spec("dpo.label-smoothing")
@pytest.mark.parametrize("call, message", [
    (lambda: dpo.dpo_loss([-1.0], [-1.0], [-1.0], [-1.0], beta=0.0), "positive"),
    (lambda: dpo.dpo_loss([-1.0], [-1.0], [-1.0], [-1.0], beta=float("inf")), "positive"),
    (lambda: dpo.dpo_loss([2.5], [-1.0], [-1.0], [-1.0], beta=0.1), "not a log-probability"),
    (lambda: dpo.dpo_loss([-1.0, -2.0], [-1.0], [-1.0], [-1.0], beta=0.1), "same length"),
    (lambda: dpo.conservative_dpo_loss([-1.0], [-1.0], [-1.0], [-1.0], 0.1, 0.7), r"\[0, 0.5\]"),
    (lambda: dpo.conservative_dpo_loss([-1.0], [-1.0], [-1.0], [-1.0], 0.1, -0.1), r"\[0, 0.5\]"),
    (lambda: dpo.kl_regularised_optimal_policy([[0.0]], [[1.0, 2.0]], 1.0), "shape"),
    (lambda: dpo.sequence_log_probs(np.zeros((1, 2, 2)), [[0, 5]], [[1, 1]]), "token"),
    (lambda: dpo.sequence_log_probs(np.zeros((1, 2, 2)), [[0, 0]], [[1, 0.5]]), "mask"),
])
def test_bad_inputs_are_refused_with_a_clear_error(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


@pytest.mark.spec("dpo.loss")
@pytest.mark.parametrize("name, candidate", [
    ("dpo-loss", user.dpo_loss_trl_style),
    ("dpo-loss", user.dpo_loss_softplus),
    ("conservative-dpo-loss", user.dpo_loss_trl_style),
    ("ipo-loss", user.ipo_loss_trl_style),
    ("hinge-dpo-loss", user.hinge_loss_trl_style),
    ("dpo-implicit-reward", user.implicit_reward_detached),
    ("kl-regularised-optimum", user.optimal_policy_softmax),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_user_style_implementations_pass(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


# ------------------------------------------------------------ the implicit reward

@pytest.mark.spec("dpo.implicit-reward")
@given(st.lists(st.tuples(st.integers(-80, 0), st.integers(-80, 0)), min_size=1, max_size=4),
       st.sampled_from(BETAS))
def test_implicit_reward_matches_the_exact_oracle(pairs, beta):
    policy = [p / 4 for p, _ in pairs]
    reference = [q / 4 for _, q in pairs]
    assert _close(oracle.implicit_reward_exact(policy, reference, beta),
                  dpo.implicit_reward(policy, reference, beta), EXACT)


@pytest.mark.spec("dpo.implicit-reward")
@given(toy.language_models(), st.data())
def test_implicit_reward_of_the_optimum_is_the_reward_up_to_a_constant(model, data):
    rewards = data.draw(toy.reward_tables(model))
    beta = data.draw(st.sampled_from([1.0, 0.5, 2.0]))
    optimum, log_partition = lm_oracle.optimal_policy_by_soft_bellman(model, rewards, beta)
    implicit = np.stack([dpo.implicit_reward(np.log(optimum[x]), model.response_log_probs()[x],
                                             beta) for x in range(model.n_prompts)])
    assert np.max(np.abs(implicit - (rewards - beta * log_partition[:, None]))) <= 1e-10


# ------------------------------------------------------------ the KL-regularised optimum

@st.composite
def optimum_problems(draw, max_length=3):
    model = draw(toy.language_models(max_length=max_length))
    rewards = draw(toy.reward_tables(model))
    beta = draw(st.sampled_from([1.0, 0.5, 0.1, 2.0]))
    return model, rewards, beta


@pytest.mark.spec("dpo.kl-regularised-optimum")
@given(optimum_problems())
def test_optimal_policy_matches_the_soft_bellman_recursion(problem):
    model, rewards, beta = problem
    expected, _ = lm_oracle.optimal_policy_by_soft_bellman(model, rewards, beta)
    got = dpo.kl_regularised_optimal_policy(model.response_log_probs(), rewards, beta)
    assert np.max(np.abs(got - expected)) <= EXACT


@pytest.mark.spec("dpo.kl-regularised-optimum")
@given(optimum_problems())
def test_objective_at_the_optimum_is_beta_log_partition(problem):
    model, rewards, beta = problem
    optimum, log_partition = lm_oracle.optimal_policy_by_soft_bellman(model, rewards, beta)
    value = dpo.kl_regularised_objective(np.log(optimum), model.response_log_probs(), rewards, beta)
    assert np.max(np.abs(value - beta * log_partition)) <= 1e-10


@pytest.mark.spec("dpo.kl-regularised-optimum")
@given(optimum_problems(), st.data())
def test_objective_gap_is_beta_times_kl_to_the_optimum(problem, data):
    """J(pi) = beta log Z - beta KL(pi || pi*) for every pi: the optimum is the unique
    maximiser, and the loss of any other policy is exactly beta times its KL from pi*.
    The KL comes from the enumeration oracle, pi* from the soft Bellman oracle."""
    model, rewards, beta = problem
    other = model.with_logits(data.draw(_logits_like(model)))
    optimum, log_partition = lm_oracle.optimal_policy_by_soft_bellman(model, rewards, beta)
    optimum_model = LanguageModel.from_response_probabilities(optimum, model.vocabulary_size,
                                                              model.max_length)
    gap = beta * lm_oracle.kl_between_models(other, optimum_model)
    value = dpo.kl_regularised_objective(other.response_log_probs(), model.response_log_probs(),
                                         rewards, beta)
    assert np.max(np.abs(value - (beta * log_partition - gap))) <= 1e-10


def _logits_like(model):
    return st.lists(st.integers(-8, 8).map(lambda k: k / 4), min_size=model.logits.size,
                    max_size=model.logits.size).map(lambda v: np.reshape(v, model.logits.shape))


@pytest.mark.spec("dpo.kl-regularised-optimum")
@given(optimum_problems(max_length=2), st.data())
def test_every_perturbation_of_the_optimum_lowers_the_objective(problem, data):
    """Moving probability delta = 1e-3 pi*(y_i) from the likeliest response y_i to any other
    y_j lowers J strictly.  By the gap identity the loss is beta KL(moved || pi*) ~
    beta delta^2 (1/pi_i + 1/pi_j) / 2 >= 0.1 * (1e-3 / 7)^2 / 2 ~ 1e-9, far above the
    rounding of J (~1e-15)."""
    model, rewards, beta = problem
    optimum = dpo.kl_regularised_optimal_policy(model.response_log_probs(), rewards, beta)
    best = dpo.kl_regularised_objective(np.log(optimum), model.response_log_probs(), rewards, beta)
    moved = optimum.copy()
    for x in range(model.n_prompts):
        i = int(np.argmax(optimum[x]))
        j = data.draw(st.integers(0, model.n_responses - 2))
        j += j >= i
        shift = 1e-3 * optimum[x, i]
        moved[x, i] -= shift
        moved[x, j] += shift
    value = dpo.kl_regularised_objective(np.log(moved), model.response_log_probs(), rewards, beta)
    assert np.all(value < best)


@pytest.mark.spec("dpo.kl-regularised-optimum")
def test_optimal_policy_is_stable_for_tiny_beta():
    """beta = 1/512, r = 2: r / beta = 1024 overflows exp; log space keeps pi* exact."""
    model = LanguageModel(np.zeros((1, 1, 3)), max_length=1)
    rewards = np.array([[2.0, 0.0, 1.0]])
    got = dpo.kl_regularised_optimal_policy(model.response_log_probs(), rewards, 1 / 512)
    expected, _ = lm_oracle.optimal_policy_by_soft_bellman(model, rewards, 1 / 512)
    assert np.allclose(got, expected, rtol=1e-12, atol=0.0) and got[0, 0] == 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(bugs.optimum_naive_exp(model.response_log_probs(), rewards, 1 / 512)).any()


# ------------------------------------------------------------ the population minimiser

@st.composite
def preference_problems(draw):
    model = draw(toy.language_models(max_length=2))
    rewards = draw(toy.reward_tables(model))
    beta = draw(st.sampled_from([1.0, 0.5, 2.0]))
    return model, rewards, toy.preference_pair_distribution(model, rewards), beta


@pytest.mark.spec("dpo.population-minimiser")
@given(preference_problems())
def test_population_gradient_vanishes_at_the_kl_regularised_optimum(problem):
    model, rewards, weights, beta = problem
    reference = model.response_log_probs()
    optimum = dpo.kl_regularised_optimal_policy(reference, rewards, beta)
    at_optimum = oracle.dpo_population_gradient(np.log(optimum), reference, weights, beta)
    assert np.max(np.abs(at_optimum)) <= 1e-12
    # ... and not at pi_ref, unless every reward of a prompt is the same.
    at_reference = oracle.dpo_population_gradient(reference, reference, weights, beta)
    moved = np.ptp(rewards, axis=1) > 0
    assert np.all(np.max(np.abs(at_reference), axis=1)[moved] > 1e-6)


def _torch_population_loss(theta, reference, weights, beta):
    """The population DPO loss written independently in torch, for autograd."""
    implicit = beta * (torch.log_softmax(theta, dim=1) - reference)
    margins = implicit[:, :, None] - implicit[:, None, :]
    return (weights * torch.nn.functional.softplus(-margins)).sum()


@pytest.mark.spec("dpo.population-minimiser")
@given(preference_problems())
def test_population_gradient_oracle_is_autograd_of_the_population_loss(problem):
    model, rewards, weights, beta = problem
    theta = torch.tensor(model.with_logits(model.logits).response_log_probs() * 0.5,
                         requires_grad=True)
    reference = torch.tensor(model.response_log_probs())
    loss = _torch_population_loss(theta, reference, torch.tensor(weights), beta)
    loss.backward()
    assert abs(float(loss.detach()) - dpo.dpo_population_loss(
        torch.log_softmax(theta.detach(), 1).numpy(), model.response_log_probs(), weights, beta)) \
        <= 1e-12
    expected = oracle.dpo_population_gradient(theta.detach().numpy(), model.response_log_probs(),
                                              weights, beta)
    assert np.max(np.abs(theta.grad.numpy() - expected)) <= 1e-12


@pytest.mark.spec("dpo.population-minimiser")
@given(preference_problems())
def test_minimising_the_population_loss_finds_the_optimum(problem):
    """scipy BFGS on the response-level logits, from pi_ref, with autograd gradients."""
    model, rewards, weights, beta = problem
    reference = torch.tensor(model.response_log_probs())
    weights_t = torch.tensor(weights)

    def loss_and_gradient(flat):
        theta = torch.tensor(flat.reshape(reference.shape), requires_grad=True)
        loss = _torch_population_loss(theta, reference, weights_t, beta)
        loss.backward()
        return float(loss.detach()), theta.grad.numpy().ravel()

    result = scipy.optimize.minimize(loss_and_gradient, reference.numpy().ravel(), jac=True,
                                     method="BFGS", options={"gtol": 1e-10})
    found = np.exp(torch.log_softmax(torch.tensor(result.x.reshape(reference.shape)), 1).numpy())
    expected, _ = lm_oracle.optimal_policy_by_soft_bellman(model, rewards, beta)
    assert np.max(np.abs(found - expected)) <= MINIMISED


# ------------------------------------------------------------ the tests can fail

@pytest.mark.parametrize("attribute, planted", [
    ("dpo_loss", bugs.dpo_swapped), ("dpo_loss", bugs.dpo_beta_outside),
    ("dpo_loss", bugs.dpo_reference_sign), ("dpo_loss", bugs.dpo_naive_log_sigmoid),
    ("ipo_loss", bugs.ipo_plus), ("conservative_dpo_loss", bugs.cdpo_wrong_sign),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_loss_test_fails_on_a_planted_bug(attribute, planted, monkeypatch):
    monkeypatch.setattr(dpo, attribute, planted)
    name = {"dpo_loss": "dpo", "ipo_loss": "ipo", "conservative_dpo_loss": "conservative"}[attribute]
    assert fails(test_losses_match_the_exact_oracle_in_value_and_gradient, name), "stayed green with a planted bug"


@pytest.mark.parametrize("test, planted", [
    (test_optimal_policy_matches_the_soft_bellman_recursion, bugs.optimum_beta_times),
    (test_objective_at_the_optimum_is_beta_log_partition, None),
    (test_population_gradient_vanishes_at_the_kl_regularised_optimum, bugs.optimum_without_reference),
], ids=["soft-bellman", "log-partition", "population-gradient"])
def test_optimum_tests_fail_on_a_planted_bug(test, planted, monkeypatch):
    if planted is None:   # the objective test exercises kl_regularised_objective
        monkeypatch.setattr(dpo, "kl_regularised_objective",
                            lambda policy, reference, rewards, beta: np.sum(
                                np.exp(policy) * rewards, axis=1))
    else:
        monkeypatch.setattr(dpo, "kl_regularised_optimal_policy", planted)
    assert fails(test), "stayed green with a planted bug"
