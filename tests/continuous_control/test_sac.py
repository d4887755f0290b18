"""SAC: the soft Bellman target, the squashed Gaussian's log-density, the temperature losses
and the actor loss, each against oracles that do not share its method; each theorem test
fails with a planted bug; bad input gets a clear error; correct user code passes."""

import doctest
import itertools
import math
import re

import numpy as np
import pytest
import scipy.integrate
import sympy
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import rlspec
import bugs_continuous_control as bugs
import user_implementations_continuous_control as user
from rlspec.oracles import sac as oracle, sac as sac_oracle
from rlspec.oracles.methods import accuracy
from rlspec.oracles.methods.accuracy import EPS, SAFETY
from rlspec.reference import sac, td3
from rlspec.toy_mdps import strategies
from rlspec.validation import InvalidInputError
from mutation import fails


def test_reference_doctests_pass():
    assert doctest.testmod(sac).failed == 0


def _grid(low, high, denominator):
    return st.integers(low, high).map(lambda k: k / denominator)


def _vector(n, low, high, denominator):
    return st.lists(_grid(low, high, denominator), min_size=n, max_size=n).map(
        lambda values: np.array(values, dtype=np.float64))


# ------------------------------------------------------------------ soft target

@st.composite
def sac_batches(draw):
    n = draw(st.integers(1, 6))
    flags = st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=float))
    return {"rewards": draw(_vector(n, -32, 32, 4)), "terminated": draw(flags),
            "truncated": draw(flags), "next_q1": draw(_vector(n, -320, 320, 4)),
            "next_q2": draw(_vector(n, -320, 320, 4)),
            "next_log_probs": draw(_vector(n, -40, 20, 4)),
            "alpha": draw(st.sampled_from([0.2, 1.0, 0.0, 0.05])),
            "gamma": draw(st.sampled_from([0.99, 0.5, 0.0, 1.0]))}


@pytest.mark.spec("sac.soft-bellman-target")
@given(sac_batches())
def test_sac_target_matches_exact_rationals(batch):
    # min(q1, q2) - alpha lp: 2 roundings; r + gamma (.): 2 more; each <= eps of its size.
    size = np.abs(batch["rewards"]) + batch["gamma"] * (
        np.maximum(np.abs(batch["next_q1"]), np.abs(batch["next_q2"]))
        + batch["alpha"] * np.abs(batch["next_log_probs"]))
    got = sac.soft_bellman_target(**batch)
    exact = oracle.sac_targets_exact(*(batch[k] for k in (
        "rewards", "terminated", "next_q1", "next_q2", "next_log_probs", "alpha", "gamma")))
    assert np.all(np.abs(got - exact) <= 4 * EPS * size)


@pytest.mark.spec("sac.soft-bellman-target")
@given(strategies.mdps_with_policy(kind="stochastic", episodic=False),
       st.sampled_from([0.5, 0.125, 1.0]))
def test_sac_target_averaged_over_the_policy_is_the_soft_bellman_backup(mdp_and_policy, alpha):
    """With next_q = soft Q^pi (a linear solve, ``soft_action_values``) and next_log_probs =
    log pi(a'|s'), the target averaged over s' ~ p(.|s, a) and a' ~ pi(.|s') is Q^pi(s, a):
    the soft Bellman equation.  Tolerance: the solve's n eps kappa |Q| bound
    (``accuracy.linear_solve_tolerance``, kappa <= (1 + gamma) / (1 - gamma)) plus the
    average's rounding, SAFETY eps times the sum of the averaged magnitudes."""
    mdp, policy = mdp_and_policy
    p, r, gamma = mdp.transitions, mdp.rewards, mdp.gamma
    q_soft = oracle.soft_action_values(p, r, gamma, policy, alpha)
    n_states, n_actions = r.shape
    pairs = [(t, b) for t in range(n_states) for b in range(n_actions) if policy[t, b] > 0]
    next_q = np.array([q_soft[t, b] for t, b in pairs])
    log_pi = np.array([math.log(policy[t, b]) for t, b in pairs])
    zeros = np.zeros(len(pairs))
    scale = max(1.0, float(np.abs(q_soft).max()) + alpha * float(np.abs(log_pi).max()))
    tolerance = accuracy.linear_solve_tolerance(accuracy.discounted_condition_bound(gamma),
                                                n_states, scale) + SAFETY * EPS * scale
    for s in range(n_states):
        for a in range(n_actions):
            weights = np.array([p[s, a, t] * policy[t, b] for t, b in pairs])
            targets = sac.soft_bellman_target(np.full(len(pairs), r[s, a]), zeros, zeros, next_q,
                                              next_q, log_pi, alpha, gamma)
            assert abs(float(weights @ targets) - q_soft[s, a]) <= tolerance


@pytest.mark.spec("sac.soft-bellman-target")
@given(sac_batches())
def test_sac_target_with_alpha_zero_is_the_td3_target(batch):
    batch = {**batch, "alpha": 0.0}
    expected = td3.clipped_double_q_target(*(batch[k] for k in (
        "rewards", "terminated", "truncated", "next_q1", "next_q2", "gamma")))
    assert np.array_equal(sac.soft_bellman_target(**batch), expected)


# ---------------------------------------------------------- squashed log-density

@st.composite
def squashed_cases(draw):
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    saturated = draw(st.booleans())
    mean = draw(_vector(n * d, -160, 160, 4) if saturated else _vector(n * d, -12, 12, 4)).reshape(n, d)
    log_std = draw(_vector(n * d, -12, 4, 4)).reshape(n, d)
    z = draw(_vector(n * d, -8, 8, 2)).reshape(n, d)
    return {"mean": mean, "log_std": log_std, "pre_tanh": mean + np.exp(log_std) * z}


def _log_prob_tolerance(case) -> np.ndarray:
    """Per row: z = (u - mu) / exp(log_std) carries ~3 eps relative error, so z^2 / 2 ~6 eps;
    log_std, the constant and the correction 2 (log 2 - u - softplus(-2u)) each a few eps of
    their size; the d-term sum adds d eps of the total.  So SAFETY * eps * sum_j (z_j^2 +
    |log_std_j| + 2 |u_j| + 4)."""
    z = (case["pre_tanh"] - case["mean"]) / np.exp(case["log_std"])
    size = z ** 2 + np.abs(case["log_std"]) + 2 * np.abs(case["pre_tanh"]) + 4
    return SAFETY * EPS * size.sum(axis=1)


@pytest.mark.spec("sac.squashed-gaussian-log-prob")
@given(squashed_cases())
@example({"mean": np.array([[50.0]]), "log_std": np.array([[0.0]]), "pre_tanh": np.array([[50.0]])})
def test_log_prob_matches_the_high_precision_change_of_variables(case):
    got = sac.squashed_gaussian_log_prob(**case)
    expected = sac_oracle.squashed_gaussian_log_density_mp(**case)
    assert np.all(np.abs(got - expected) <= _log_prob_tolerance(case))


CDF_CASES = [
    ([[0.0]], [[0.0]], [[0.3]]),
    ([[1.0, -2.0]], [[-1.0, 0.5]], [[2.0, -1.0]]),
    ([[20.0], [-9.0]], [[-3.0], [0.25]], [[20.5], [-8.0]]),
    ([[40.0, 0.0, 3.0]], [[-2.0, 1.0, -0.5]], [[40.1, -2.0, 2.5]]),
]


@pytest.mark.spec("sac.squashed-gaussian-log-prob")
@pytest.mark.parametrize("mean, log_std, pre_tanh", CDF_CASES)
def test_change_of_variables_oracle_matches_the_derivative_of_the_cdf(mean, log_std, pre_tanh):
    """Both oracles carry more than 25 correct digits before rounding to float64, so after
    rounding they differ by at most an ulp or two of the result."""
    by_jacobian = sac_oracle.squashed_gaussian_log_density_mp(mean, log_std, pre_tanh)
    by_cdf = sac_oracle.squashed_gaussian_log_density_from_cdf(mean, log_std, pre_tanh)
    assert np.all(np.abs(by_jacobian - by_cdf) <= 4 * EPS * np.maximum(1.0, np.abs(by_jacobian)))


NORMALISATION_CASES = [(0.0, 0.0), (0.5, -1.0), (-1.0, 0.5), (2.0, -2.0), (0.0, 0.5), (3.0, -0.5)]


@pytest.mark.spec("sac.squashed-gaussian-log-prob")
def test_squashed_density_integrates_to_one_over_the_action_interval():
    """int_{-1}^{1} pi(a) da = 1 for the reference's density, by scipy's adaptive quadrature
    in a (no change of variables): tolerance 10 times quad's own error estimate, at least
    1e-8 (the requested accuracy)."""
    for mean, log_std in NORMALISATION_CASES:
        def density(a, mean=mean, log_std=log_std):
            return math.exp(sac.squashed_gaussian_log_prob(
                np.array([[mean]]), np.array([[log_std]]), np.array([[math.atanh(a)]]))[0])

        total, error = scipy.integrate.quad(density, -1.0, 1.0, points=[math.tanh(mean)],
                                            limit=200, epsabs=1e-10, epsrel=1e-10)
        assert abs(total - 1.0) <= max(1e-8, 10 * error), (mean, log_std, total)


@pytest.mark.spec("sac.squashed-gaussian-log-prob")
def test_sympy_derives_the_density_and_the_stable_form():
    a, u = sympy.Symbol("a", real=True), sympy.Symbol("u", real=True)
    mu, sigma = sympy.Symbol("mu", real=True), sympy.Symbol("sigma", positive=True)
    cdf = (1 + sympy.erf((sympy.atanh(a) - mu) / (sigma * sympy.sqrt(2)))) / 2
    density = sympy.exp(-(sympy.atanh(a) - mu) ** 2 / (2 * sigma ** 2)) \
        / (sigma * sympy.sqrt(2 * sympy.pi)) / (1 - a ** 2)
    assert sympy.simplify(sympy.diff(cdf, a) - density) == 0
    stable = 2 * (sympy.log(2) - u - sympy.log(1 + sympy.exp(-2 * u)))
    assert sympy.simplify((sympy.exp(stable) - (1 - sympy.tanh(u) ** 2)).rewrite(sympy.exp)) == 0


@pytest.mark.spec("sac.squashed-gaussian-log-prob")
def test_log_prob_is_finite_for_extreme_pre_tanh_values():
    u = np.array([[20.0], [-20.0], [50.0], [-50.0], [710.0], [-710.0], [1e6], [-1e6]])
    got = sac.squashed_gaussian_log_prob(u, np.zeros_like(u), u)
    assert np.all(np.isfinite(got))
    # With u = mean the Gaussian term is -log(2 pi)/2 and the correction is 2|u| - 2 log 2 + tiny.
    expected = -0.5 * math.log(2 * math.pi) + 2 * np.abs(u[:, 0]) - 2 * math.log(2.0)
    np.testing.assert_allclose(got, expected, rtol=SAFETY * EPS, atol=SAFETY * EPS)


# ------------------------------------------------- rescaling to the action bounds

@st.composite
def boxes(draw, d):
    low = np.array(draw(st.lists(st.sampled_from([-1.0, -2.0, 0.0, -0.5, -10.0]), min_size=d, max_size=d)))
    width = np.array(draw(st.lists(st.sampled_from([4.0, 1.0, 3.0, 0.5, 20.0, 2.0]), min_size=d, max_size=d)))
    return low, low + width


@st.composite
def rescaled_cases(draw):
    case = draw(squashed_cases())
    case["action_low"], case["action_high"] = draw(boxes(case["mean"].shape[1]))
    return case


@pytest.mark.spec("sac.action-bound-rescaling")
@given(rescaled_cases())
def test_rescaled_action_matches_the_oracle_and_linear_interpolation(case):
    """The 40-digit oracle, and a second route: numpy's linear interpolation of tanh(u) between
    (-1, low) and (1, high).  Both the reference and np.interp are a few roundings of values
    of size max(|low|, |high|)."""
    u, low, high = case["pre_tanh"], case["action_low"], case["action_high"]
    got = sac.rescale_squashed_action(u, low, high)
    expected = sac_oracle.rescaled_action_mp(u, low, high)
    scale = SAFETY * EPS * np.maximum(np.abs(low), np.abs(high))
    assert np.all(np.abs(got - expected) <= scale)
    interpolated = np.stack([np.interp(np.tanh(u[:, j]), [-1.0, 1.0], [low[j], high[j]])
                             for j in range(u.shape[1])], axis=1)
    assert np.all(np.abs(interpolated - expected) <= scale)
    assert np.all((low <= got) & (got <= high))


@pytest.mark.spec("sac.rescaled-squashed-gaussian-log-prob")
@given(rescaled_cases())
def test_rescaled_log_prob_matches_the_change_of_variables_in_the_action(case):
    """The change of variables in a = c + s tanh(u) (mpmath) against the reference; the
    tolerance of the unscaled density plus the d roundings of log s."""
    got = sac.rescaled_squashed_gaussian_log_prob(**case)
    expected = sac_oracle.squashed_gaussian_log_density_mp(**case)
    extra = SAFETY * EPS * np.abs(np.log((case["action_high"] - case["action_low"]) / 2)).sum()
    assert np.all(np.abs(got - expected) <= _log_prob_tolerance(case) + extra)


@pytest.mark.spec("sac.rescaled-squashed-gaussian-log-prob")
@pytest.mark.parametrize("mean, log_std, pre_tanh", CDF_CASES)
def test_rescaled_oracle_matches_the_derivative_of_the_cdf(mean, log_std, pre_tanh):
    d = np.shape(mean)[1]
    low, high = np.linspace(-2.0, 0.0, d), np.linspace(1.0, 30.0, d)
    by_jacobian = sac_oracle.squashed_gaussian_log_density_mp(mean, log_std, pre_tanh, low, high)
    by_cdf = sac_oracle.squashed_gaussian_log_density_from_cdf(mean, log_std, pre_tanh, low, high)
    assert np.all(np.abs(by_jacobian - by_cdf) <= 4 * EPS * np.maximum(1.0, np.abs(by_jacobian)))


@pytest.mark.spec("sac.rescaled-squashed-gaussian-log-prob")
def test_rescaled_density_integrates_to_one_over_the_box():
    """int_low^high pi(a) da = 1, by quadrature in a (u = atanh((a - c) / s)), on boxes
    [-2, 1], [0, 0.5] and [10, 30]; tolerance as for the unscaled density."""
    for (low, high), (mean, log_std) in itertools.product([(-2.0, 1.0), (0.0, 0.5), (10.0, 30.0)],
                                                          NORMALISATION_CASES):
        centre, half = (high + low) / 2, (high - low) / 2

        def density(a, mean=mean, log_std=log_std, box=(low, high, centre, half)):
            u = math.atanh(min(max((a - box[2]) / box[3], -1.0 + 1e-16), 1.0 - 1e-16))
            return math.exp(sac.rescaled_squashed_gaussian_log_prob(
                np.array([[mean]]), np.array([[log_std]]), np.array([[u]]),
                np.array([box[0]]), np.array([box[1]]))[0])

        total, error = scipy.integrate.quad(density, low, high, points=[centre + half * math.tanh(mean)],
                                            limit=200, epsabs=1e-10, epsrel=1e-10)
        assert abs(total - 1.0) <= max(1e-8, 10 * error), (mean, log_std, low, high, total)


@pytest.mark.spec("sac.rescaled-squashed-gaussian-log-prob", "sac.squashed-gaussian-log-prob")
def test_the_unit_box_gives_the_unscaled_density():
    case = {"mean": np.array([[0.5, -1.0]]), "log_std": np.array([[0.0, -1.0]]),
            "pre_tanh": np.array([[1.0, -0.5]])}
    assert np.array_equal(sac.rescaled_squashed_gaussian_log_prob(**case, action_low=-1.0, action_high=1.0),
                          sac.squashed_gaussian_log_prob(**case))


@pytest.mark.spec("sac.action-bound-rescaling", "sac.rescaled-squashed-gaussian-log-prob")
@pytest.mark.parametrize("call, message", [
    (lambda: sac.rescale_squashed_action([[0.0]], [1.0], [1.0]), "action_low[0] = 1.0 must be below"),
    (lambda: sac.rescale_squashed_action([[0.0, 0.0]], [-1.0, 2.0], [1.0, 0.0]), "action_low[1] = 2.0"),
    (lambda: sac.rescale_squashed_action([0.0], [-1.0], [1.0]), "pre_tanh[N, d] must be a 2-D array"),
    (lambda: sac.rescaled_squashed_gaussian_log_prob([[0.0]], [[0.0]], [[0.0]], [0.0], [-1.0]),
     "must be below action_high"),
])
def test_rescaling_rejects_bad_input_with_a_clear_error(call, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        call()


@pytest.mark.spec("sac.squashed-gaussian-log-prob")
@pytest.mark.parametrize("change, message", [
    ({"log_std": [[0.0, 0.0]]}, "log_std[N, d] (the shape of mean) must have shape (1, 1)"),
    ({"pre_tanh": [[np.inf]]}, "pre_tanh[N, d] contains an infinite value"),
    ({"mean": [0.0]}, "mean[N, d] must be a 2-D array"),
    ({"log_std": [[800.0]]}, "log_std[N, d] = 800.0 at index (0, 0) is outside [-300, 300]"),
])
def test_log_prob_rejects_bad_input_with_a_clear_error(change, message):
    case = {"mean": [[0.0]], "log_std": [[0.0]], "pre_tanh": [[0.0]]}
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        sac.squashed_gaussian_log_prob(**{**case, **change})


# ------------------------------------------------------------------- temperature

FORMS = {"alpha": (lambda *a: sac.temperature_loss(*a), oracle.temperature_loss_exact),
         "log_alpha": (lambda *a: sac.temperature_loss_log_alpha(*a),
                       oracle.temperature_loss_log_alpha_exact)}

temperature_cases = st.integers(1, 6).flatmap(lambda n: st.tuples(
    _grid(-12, 4, 4), _vector(n, -40, 20, 4), st.sampled_from([-1.0, -2.0, -6.0, 0.5, 0.0])))


def _reference_value_and_gradient(form, log_alpha, log_probs, target_entropy):
    parameter = torch.tensor(log_alpha, dtype=torch.float64, requires_grad=True)
    loss = FORMS[form][0](parameter, torch.tensor(log_probs), target_entropy)
    loss.backward()
    return float(loss.detach()), float(parameter.grad)


@pytest.mark.spec("sac.temperature-loss-log-alpha", "sac.temperature-loss")
@given(temperature_cases)
def test_temperature_loss_value_and_gradient_match_the_closed_form(case):
    """Float64 torch: exp(log_alpha) within 1 ulp, the mean of N terms within N eps of the sum
    of magnitudes; so SAFETY (N + 2) eps times the scale of the terms."""
    log_alpha, log_probs, target_entropy = case
    magnitude = float(np.mean(np.abs(log_probs) + abs(target_entropy)))
    for form, (_, exact) in FORMS.items():
        value, gradient = _reference_value_and_gradient(form, *case)
        expected_value, expected_gradient = exact(*case)
        weight = math.exp(log_alpha) if form == "alpha" else max(1.0, abs(log_alpha))
        tolerance = SAFETY * (len(log_probs) + 2) * EPS * weight * magnitude
        assert abs(value - expected_value) <= tolerance, form
        assert abs(gradient - expected_gradient) <= tolerance, form


@pytest.mark.spec("sac.temperature-loss-log-alpha", "sac.temperature-loss")
@given(temperature_cases)
def test_temperature_gradient_oracle_matches_numerical_differentiation(case):
    """mpmath's numerical derivative at 40 digits vs the closed-form derivative: both are
    exact to ~1e-30 relative before rounding, so they agree to an ulp."""
    for form, (_, exact) in FORMS.items():
        _, closed_form = exact(*case)
        numerical = oracle.temperature_gradient_finite_difference(*case, form=form)
        assert abs(closed_form - numerical) <= 2 * EPS * abs(closed_form), form


@pytest.mark.spec("sac.temperature-loss-log-alpha", "sac.temperature-loss")
@given(temperature_cases)
@example((0.0, np.array([1.0, 2.0]), -1.0))
def test_alpha_rises_when_entropy_is_below_target_and_falls_above(case):
    """One step of gradient descent on log_alpha moves alpha towards making the entropy
    estimate -mean(log pi) reach the target; at the target it does not move."""
    log_alpha, log_probs, target_entropy = case
    shortfall = target_entropy - (-float(np.mean(log_probs)))  # > 0: entropy below target
    for form in FORMS:
        _, gradient = _reference_value_and_gradient(form, *case)
        assert np.sign(-gradient) == np.sign(shortfall), (form, gradient, shortfall)


@pytest.mark.spec("sac.temperature-loss-log-alpha")
@given(temperature_cases)
def test_both_temperature_forms_step_the_same_way(case):
    """d/dlog_alpha of eq. (18) is alpha times that of the log form (tolerance as above)."""
    log_alpha, log_probs, target_entropy = case
    _, alpha_form = _reference_value_and_gradient("alpha", *case)
    _, log_form = _reference_value_and_gradient("log_alpha", *case)
    magnitude = float(np.mean(np.abs(log_probs) + abs(target_entropy)))
    tolerance = SAFETY * (len(log_probs) + 2) * EPS * math.exp(log_alpha) * magnitude
    assert abs(alpha_form - math.exp(log_alpha) * log_form) <= tolerance


@pytest.mark.spec("sac.temperature-loss")
def test_temperature_loss_passes_torch_gradcheck():
    log_probs = torch.tensor([-1.5, 0.25, 2.0], dtype=torch.float64)
    for loss in (sac.temperature_loss, sac.temperature_loss_log_alpha):
        for start in (-2.0, 0.0, 0.75):
            log_alpha = torch.tensor(start, dtype=torch.float64, requires_grad=True)
            assert torch.autograd.gradcheck(lambda x: loss(x, log_probs, -1.0), (log_alpha,),
                                            raise_exception=False)


# ------------------------------------------------------------------ actor loss

actor_cases = st.integers(1, 6).flatmap(lambda n: st.tuples(
    _vector(n, -40, 20, 4), _vector(n, -40, 40, 4), _vector(n, -40, 40, 4),
    st.sampled_from([0.2, 1.0, 0.0, 0.05])))


def _reference_actor_gradients(log_probs, q1, q2, alpha):
    leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (log_probs, q1, q2)]
    loss = sac.sac_actor_loss(*leaves, alpha)
    loss.backward()
    return float(loss.detach()), [np.zeros(len(log_probs)) if leaf.grad is None else leaf.grad.numpy()
                                  for leaf in leaves]


@pytest.mark.spec("sac.actor-loss")
@given(actor_cases)
@example((np.array([-2.0, 0.0]), np.array([1.0, 3.0]), np.array([2.0, -1.0]), 0.5))
def test_actor_loss_value_and_gradients_match_the_closed_form(case):
    """Value: N terms of a few roundings each, SAFETY (N + 2) eps times their size.  The
    gradients alpha / N and -1/N are single roundings: exact to an ulp.  At ties torch
    splits -1/N between the critics; any split is a subgradient."""
    log_probs, q1, q2, alpha = case
    value, (g_log_probs, g_q1, g_q2) = _reference_actor_gradients(*case)
    exact = oracle.actor_loss_exact(*case)
    n = len(log_probs)
    size = np.mean(alpha * np.abs(log_probs) + np.maximum(np.abs(q1), np.abs(q2)))
    assert abs(value - exact["value"]) <= SAFETY * (n + 2) * EPS * max(size, 1.0)
    np.testing.assert_allclose(g_log_probs, exact["log_probs"], rtol=2 * EPS, atol=0)
    free = ~exact["tied"]
    np.testing.assert_allclose(g_q1[free], exact["q1"][free], rtol=2 * EPS, atol=0)
    np.testing.assert_allclose(g_q2[free], exact["q2"][free], rtol=2 * EPS, atol=0)
    np.testing.assert_allclose((g_q1 + g_q2)[~free], -1.0 / n, rtol=2 * EPS)


@pytest.mark.spec("sac.actor-loss")
@given(actor_cases)
def test_actor_loss_gradient_oracle_matches_exact_differences(case):
    exact = oracle.actor_loss_exact(*case)
    differences = oracle.actor_loss_gradient_finite_difference(*case)
    free = ~exact["tied"]
    for name in ("log_probs", "q1", "q2"):
        assert np.array_equal(differences[name][free], exact[name][free]), name


def _squashed_pipeline(weights, log_std_bias, alpha=0.5):
    """A tiny actor (mean = W s, log_std = b), a reparameterised sample with fixed noise,
    the stable log-density written in torch here, two quadratic critics, and the reference
    actor loss on top."""
    states = torch.tensor([[1.0, -0.5], [0.25, 2.0], [-1.0, 0.75]], dtype=torch.float64)
    noise = torch.tensor([[0.3], [-1.2], [0.8]], dtype=torch.float64)
    mean = states @ weights
    log_std = log_std_bias.expand_as(mean)
    u = mean + log_std.exp() * noise
    action = torch.tanh(u)
    gaussian = -0.5 * noise ** 2 - log_std - 0.5 * math.log(2 * math.pi)
    correction = 2 * (math.log(2.0) - u - torch.nn.functional.softplus(-2 * u))
    log_probs = (gaussian - correction).sum(dim=1)
    q1 = -((action - 0.3) ** 2).sum(dim=1) * 2.0
    q2 = -((action + 0.1) ** 2).sum(dim=1) * 3.0 + 0.05
    return sac.sac_actor_loss(log_probs, q1, q2, alpha)


@pytest.mark.spec("sac.actor-loss")
def test_actor_loss_trains_the_actor_through_a_reparameterised_sample():
    """Autograd through tanh(mean + sigma eps), the log-density and the min of the critics
    agrees with finite differences of the same composite (torch.autograd.gradcheck, float64);
    a loss that detaches log pi has the same value but a different gradient, and fails."""
    weights = torch.tensor([[0.4], [-0.3]], dtype=torch.float64, requires_grad=True)
    bias = torch.tensor([-0.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_squashed_pipeline, (weights, bias), raise_exception=False)
    # The entropy term reaches the policy: its weight changes the log_std gradient.
    gradients = [torch.autograd.grad(_squashed_pipeline(weights, bias, alpha), bias)[0]
                 for alpha in (0.0, 1.0)]
    assert not torch.allclose(gradients[0], gradients[1])


@pytest.mark.spec("sac.actor-loss", "sac.temperature-loss")
@pytest.mark.parametrize("call, message", [
    (lambda: sac.temperature_loss(torch.tensor(0.0), torch.tensor([[1.0]]), -1.0),
     "log_probs[N] must be 1-D"),
    (lambda: sac.temperature_loss(torch.tensor(0.0), torch.tensor([]), -1.0), "log_probs[N] is empty"),
    (lambda: sac.temperature_loss_log_alpha(torch.tensor(0.0), torch.tensor([1.0]), "auto"),
     "target_entropy must be a number"),
    (lambda: sac.sac_actor_loss(torch.tensor([1.0]), torch.tensor([1.0, 2.0]), torch.tensor([1.0]), 0.2),
     "q1[N] must have the shape of log_probs"),
    (lambda: sac.sac_actor_loss(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([1.0]), -0.2),
     "alpha (the temperature) must be finite and >= 0"),
    (lambda: sac.soft_bellman_target([1.0], [0.0], [0.0], [1.0], [1.0], [0.0], -1.0, 0.9),
     "alpha (the temperature) must be finite and >= 0"),
    (lambda: sac.temperature_loss(torch.tensor(float("nan")), torch.tensor([1.0]), -1.0),
     "log_alpha contains NaN or infinity"),
])
def test_losses_reject_bad_input_with_a_clear_error(call, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        call()


def test_a_loss_without_a_graph_gets_a_report_not_a_crash():
    def as_float(log_alpha, log_probs, target_entropy):
        return float((-log_alpha.exp() * (log_probs + target_entropy)).mean().detach())

    report = rlspec.check("temperature-loss", as_float, max_examples=5)
    assert not report.passed
    assert "not a torch tensor" in report.counterexample["problem"]


# --------------------------------------------------------------- planted bugs

MUTANTS = [
    (test_sac_target_matches_exact_rationals, "soft_bellman_target", bugs.sac_target_entropy_outside),
    (test_sac_target_averaged_over_the_policy_is_the_soft_bellman_backup, "soft_bellman_target",
     bugs.sac_target_no_entropy),
    (test_log_prob_matches_the_high_precision_change_of_variables, "squashed_gaussian_log_prob",
     bugs.log_prob_correction_added),
    (test_squashed_density_integrates_to_one_over_the_action_interval, "squashed_gaussian_log_prob",
     bugs.log_prob_no_correction),
    (test_log_prob_is_finite_for_extreme_pre_tanh_values, "squashed_gaussian_log_prob",
     bugs.log_prob_naive),
    (test_temperature_loss_value_and_gradient_match_the_closed_form, "temperature_loss",
     bugs.temperature_summed),
    (test_alpha_rises_when_entropy_is_below_target_and_falls_above, "temperature_loss_log_alpha",
     bugs.temperature_log_alpha_sign_flipped),
    (test_actor_loss_value_and_gradients_match_the_closed_form, "sac_actor_loss",
     bugs.actor_loss_first_critic),
    (test_actor_loss_trains_the_actor_through_a_reparameterised_sample, "sac_actor_loss",
     bugs.actor_loss_log_probs_detached),
    (test_rescaled_action_matches_the_oracle_and_linear_interpolation, "rescale_squashed_action",
     bugs.rescaling_full_width),
    (test_rescaled_log_prob_matches_the_change_of_variables_in_the_action,
     "rescaled_squashed_gaussian_log_prob", bugs.rescaled_log_prob_no_scale),
    (test_rescaled_density_integrates_to_one_over_the_box, "rescaled_squashed_gaussian_log_prob",
     bugs.rescaled_log_prob_full_width),
]


@pytest.mark.spec(
    "sac.action-bound-rescaling",
    "sac.actor-loss",
    "sac.rescaled-squashed-gaussian-log-prob",
    "sac.soft-bellman-target",
    "sac.squashed-gaussian-log-prob",
    "sac.temperature-loss-log-alpha",
    "sac.temperature-loss",
)
@pytest.mark.parametrize("theorem, attribute, planted", MUTANTS,
                         ids=lambda value: getattr(value, "__name__", value))
def test_sac_theorem_tests_fail_with_planted_bugs(theorem, attribute, planted, monkeypatch):
    monkeypatch.setattr(sac, attribute, planted)
    assert fails(theorem), f"{theorem.__name__} stayed green with {attribute} replaced"


# ------------------------------------------------------------------ user code

@pytest.mark.parametrize("name, candidate", [
    ("sac-target", user.sac_target_torch),
    ("squashed-gaussian-log-prob", user.log_prob_spinning_up_style),
    ("temperature-loss", user.temperature_loss_cleanrl_style),
    ("temperature-loss-log-alpha", user.temperature_loss_sb3_style),
    ("sac-actor-loss", user.actor_loss_cleanrl_style),
    ("action-bound-rescaling", user.rescaling_cleanrl_style),
    ("rescaled-squashed-gaussian-log-prob", user.rescaled_log_prob_torch),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementations_pass(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)
