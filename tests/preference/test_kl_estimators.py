"""KL estimators k1, k2, k3: values, bias, variance, and the gradient each gives as a loss.

Everything is exact on small categoricals: expectations are sums over every outcome.
Oracles: ``rlspec.oracles.dpo`` (50-digit mpmath, closed forms), cross-checked here
against sympy (symbolic expectations and derivatives) and torch autograd of the exact KLs.
Tolerances: values are O(1) (log-probs >= -8, so |log r| <= 8 and k3 <= e^8 ~ 3000); the
reference's float64 error is a few ulps of that, so ``1e-12 * max(1, |value|)``; exact sums
of at most 4 terms, 1e-13 absolute.
"""

import math

import numpy as np
import pytest
import sympy
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import rlspec
from rlspec.oracles import kl_estimators as oracle
from rlspec.reference import kl_estimators
from rlspec.validation import InvalidInputError

import bugs_preference as bugs
import user_implementations_preference as user
from mutation import fails

RELATIVE = 1e-12
EXACT = 1e-13
ESTIMATORS = ("k1", "k2", "k3")


def _close(expected, got, relative=RELATIVE):
    expected, got = np.asarray(expected, dtype=float), np.asarray(got, dtype=float)
    return np.all(np.abs(expected - got) <= relative * np.maximum(1.0, np.abs(expected)))


def _log_probs(n):
    return st.lists(st.integers(-32, 0).map(lambda k: k / 4), min_size=n, max_size=n)


samples = st.integers(1, 4).flatmap(lambda n: st.tuples(_log_probs(n), _log_probs(n)))


@st.composite
def categorical_pairs(draw, size=None):
    k = size or draw(st.integers(2, 4))
    logits = np.array(draw(st.lists(st.integers(-8, 8), min_size=k, max_size=k))) / 4.0
    reference = np.array(draw(st.lists(st.integers(-8, 8), min_size=k, max_size=k))) / 4.0
    return logits, reference


def _log_softmax(logits):
    shifted = logits - logits.max()
    return shifted - math.log(float(np.exp(shifted).sum()))


def _estimator(name):
    return getattr(kl_estimators, f"kl_estimator_{name}")   # looked up late: can-fail tests


@pytest.mark.spec("kl.k1", "kl.k2", "kl.k3")
@pytest.mark.parametrize("name", ESTIMATORS)
@given(sample=samples)
@example(sample=([-12.0, 0.0], [0.0, -12.0]))
def test_estimators_match_the_exact_oracle_with_their_slopes(name, sample):
    log_probs = torch.tensor(sample[0], dtype=torch.float64, requires_grad=True)
    estimates = _estimator(name)(log_probs, torch.tensor(sample[1], dtype=torch.float64))
    estimates.sum().backward()
    values, slopes = oracle.kl_estimates_and_slopes(*sample, name)
    assert _close(values, estimates.detach().numpy())
    assert _close(slopes, log_probs.grad.numpy())


@pytest.mark.spec("kl.estimator-bias", "kl.k1", "kl.k2", "kl.k3")
@given(categorical_pairs())
def test_k1_and_k3_are_unbiased_and_k2_is_not(pair):
    log_pi, log_ref = (_log_softmax(v) for v in pair)
    kl = oracle.categorical_kl(log_pi, log_ref)
    assert abs(kl_estimators.kl_divergence(log_pi, log_ref) - kl) <= EXACT
    assert abs(kl_estimators.expected_estimate(log_pi, log_ref, "k1") - kl) <= EXACT
    assert abs(kl_estimators.expected_estimate(log_pi, log_ref, "k3") - kl) <= EXACT
    # k2 is biased: pi = (1/2, 1/2), pi_ref = (1/4, 3/4) gives 0.161214 against KL 0.143841.
    half, skewed = np.log([0.5, 0.5]), np.log([0.25, 0.75])
    assert kl_estimators.expected_estimate(half, skewed, "k2") \
        - oracle.categorical_kl(half, skewed) > 0.017


@pytest.mark.spec("kl.estimator-bias")
def test_expectations_agree_with_sympy():
    """Symbolically, for pi = (p, 1 - p) and pi_ref = (q, 1 - q): E[k1] - KL and E[k3] - KL
    simplify to 0, and E[k2] - KL does not vanish identically."""
    p, q = sympy.symbols("p q", positive=True)
    pi, ref = (p, 1 - p), (q, 1 - q)
    kl = sum(a * sympy.log(a / b) for a, b in zip(pi, ref))
    expected = {
        "k1": sum(a * -sympy.log(b / a) for a, b in zip(pi, ref)),
        "k2": sum(a * sympy.log(b / a) ** 2 / 2 for a, b in zip(pi, ref)),
        "k3": sum(a * (b / a - 1 - sympy.log(b / a)) for a, b in zip(pi, ref)),
    }
    assert sympy.simplify(sympy.expand_log(expected["k1"] - kl, force=True)) == 0
    assert sympy.simplify(sympy.expand_log(expected["k3"] - kl, force=True)) == 0
    gap = (expected["k2"] - kl).subs({p: sympy.Rational(1, 2), q: sympy.Rational(1, 4)})
    assert abs(float(gap.evalf(30))) > 0.017
    # The reference's enumeration agrees with the symbolic expectations at that point.
    for name in ESTIMATORS:
        value = expected[name].subs({p: sympy.Rational(1, 2), q: sympy.Rational(1, 4)})
        assert math.isclose(kl_estimators.expected_estimate(np.log([0.5, 0.5]),
                                                            np.log([0.25, 0.75]), name),
                            float(value.evalf(30)), rel_tol=1e-14)


@pytest.mark.spec("kl.k2", "kl.k3")
@given(samples)
def test_k2_and_k3_are_never_negative(sample):
    assert (kl_estimators.kl_estimator_k2(*sample).numpy() >= 0).all()
    assert (kl_estimators.kl_estimator_k3(*sample).numpy() >= 0).all()


def test_k1_is_negative_where_the_reference_is_likelier():
    assert float(kl_estimators.kl_estimator_k1([math.log(0.25)], [math.log(0.5)])[0]) < 0


def _variance(log_pi, log_ref, name):
    values, _ = oracle.kl_estimates_and_slopes(log_pi, log_ref, name)
    pi = np.exp(log_pi)
    mean = float(np.sum(pi * values))
    return float(np.sum(pi * (values - mean) ** 2))


@pytest.mark.spec("kl.estimator-bias", "kl.k3")
def test_k3_has_smaller_variance_than_k1_near_the_reference():
    """pi_t = (1 - t) pi_ref + t u: Var[k1] = O(t^2) but Var[k3] = O(t^4), so their ratio
    falls like t^2 (exact variances by enumeration)."""
    reference = np.array([0.5, 0.3, 0.2])
    uniform = np.full(3, 1 / 3)
    ratios = []
    for t in (1e-1, 1e-2, 1e-3):
        log_pi = np.log((1 - t) * reference + t * uniform)
        ratios.append(_variance(log_pi, np.log(reference), "k3")
                      / _variance(log_pi, np.log(reference), "k1"))
    assert ratios[0] < 0.01 and ratios[1] < ratios[0] / 50 and ratios[2] < ratios[1] / 50


# ------------------------------------------------------------ estimators as losses

@pytest.mark.spec("kl.estimator-loss-gradient")
@given(categorical_pairs(), st.sampled_from(ESTIMATORS))
def test_loss_gradients_match_the_closed_forms(pair, name):
    got = kl_estimators.estimator_loss_gradient(*pair, name)
    assert np.max(np.abs(got - oracle.estimator_loss_gradient_closed_form(*pair, name))) <= EXACT


def _exact_kl_gradients(logits, reference_logits):
    """Autograd of the exact KLs (second oracle): (grad KL(pi || ref), grad KL(ref || pi))."""
    out = []
    for reverse in (True, False):
        theta = torch.tensor(logits, requires_grad=True)
        log_pi = torch.log_softmax(theta, 0)
        log_ref = torch.log_softmax(torch.tensor(reference_logits), 0)
        kl = (log_pi.exp() * (log_pi - log_ref)).sum() if reverse else \
            (log_ref.exp() * (log_ref - log_pi)).sum()
        kl.backward()
        out.append(theta.grad.numpy())
    return out


@pytest.mark.spec("kl.estimator-loss-gradient")
@given(categorical_pairs())
def test_closed_forms_agree_with_autograd_of_the_exact_kls(pair):
    reverse, forward = _exact_kl_gradients(*pair)
    closed = {name: oracle.estimator_loss_gradient_closed_form(*pair, name) for name in ESTIMATORS}
    assert np.max(np.abs(closed["k1"])) == 0.0
    assert np.max(np.abs(closed["k2"] - reverse)) <= EXACT
    assert np.max(np.abs(closed["k3"] - forward)) <= EXACT


@pytest.mark.spec("kl.estimator-loss-gradient")
def test_closed_forms_agree_with_sympy():
    """Symbolic softmax over 3 outcomes: sum_x pi(x) (dk/dlog pi)(x) d log pi(x)/d theta equals
    0, d KL(pi||ref)/d theta and d KL(ref||pi)/d theta for k1, k2, k3, at rational logits."""
    theta = sympy.symbols("t0:3", real=True)
    ref = (sympy.Rational(1, 2), sympy.Rational(1, 3), sympy.Rational(1, 6))
    total = sum(sympy.exp(t) for t in theta)
    pi = [sympy.exp(t) / total for t in theta]
    slopes = {"k1": [1, 1, 1], "k2": [sympy.log(pi[x] / ref[x]) for x in range(3)],
              "k3": [1 - ref[x] / pi[x] for x in range(3)]}
    reverse = sum(pi[x] * sympy.log(pi[x] / ref[x]) for x in range(3))
    forward = sum(ref[x] * sympy.log(ref[x] / pi[x]) for x in range(3))
    target = {"k1": [0, 0, 0], "k2": [sympy.diff(reverse, t) for t in theta],
              "k3": [sympy.diff(forward, t) for t in theta]}
    point = dict(zip(theta, (sympy.Rational(1, 4), sympy.Rational(-1, 2), 0)))
    for name in ESTIMATORS:
        for j, t in enumerate(theta):
            symbolic = sum(pi[x] * slopes[name][x] * sympy.diff(sympy.log(pi[x]), t)
                           for x in range(3))
            assert abs(float((symbolic - target[name][j]).subs(point).evalf(30))) < 1e-25
            oracle_value = oracle.estimator_loss_gradient_closed_form(
                [0.25, -0.5, 0.0], np.log([float(r) for r in ref]), name)[j]
            assert math.isclose(oracle_value, float(target[name][j].subs(point).evalf(30))
                                if name != "k1" else 0.0, abs_tol=1e-15)


@pytest.mark.spec("kl.estimator-loss-gradient")
@given(categorical_pairs())
def test_only_the_full_derivative_of_k1_and_k3_gives_the_kl_gradient(pair):
    """Differentiating sum_x pi(x) k(x) *through* pi (the full derivative of the expectation)
    gives grad KL(pi || ref) for k1 and k3; holding pi(x) fixed (what a loss does) gives 0 and
    grad KL(ref || pi).  For k2 it is the other way round: the fixed-sample gradient is right."""
    reverse, _ = _exact_kl_gradients(*pair)
    for name in ESTIMATORS:
        theta = torch.tensor(pair[0], requires_grad=True)
        log_pi = torch.log_softmax(theta, 0)
        log_ratio = torch.log_softmax(torch.tensor(pair[1]), 0) - log_pi
        k = {"k1": -log_ratio, "k2": 0.5 * log_ratio ** 2,
             "k3": torch.expm1(log_ratio) - log_ratio}[name]
        (log_pi.exp() * k).sum().backward()
        full = theta.grad.numpy()
        fixed = kl_estimators.estimator_loss_gradient(*pair, name)
        if name in ("k1", "k3"):
            assert np.max(np.abs(full - reverse)) <= EXACT
        else:
            assert np.max(np.abs(fixed - reverse)) <= EXACT


@pytest.mark.parametrize("call, message", [
    (lambda: kl_estimators.kl_divergence(np.log([0.5, 0.6]), np.log([0.5, 0.5])), "sum to 1"),
    (lambda: kl_estimators.expected_estimate(np.log([0.5, 0.5]), np.log([0.5, 0.5]), "k4"),
     "estimator must be"),
    (lambda: kl_estimators.kl_estimator_k3([0.0, -1.0], [0.0]), "same length"),
    (lambda: kl_estimators.estimator_loss_gradient([0.0, 0.0], [0.0], "k1"), "shape"),
])
def test_bad_inputs_are_refused_with_a_clear_error(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


@pytest.mark.spec("kl.k1", "kl.k3")
@pytest.mark.parametrize("name, candidate", [
    ("kl-k1", user.approx_kl_k1), ("kl-k2", user.approx_kl_k2), ("kl-k3", user.approx_kl_k3),
    ("kl-divergence", user.kl_with_torch_kl_div),
    ("kl-estimator-loss-gradient", user.expected_loss_gradient_by_autograd),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_user_style_implementations_pass(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


# ------------------------------------------------------------ the tests can fail

@pytest.mark.parametrize("name, planted", [
    ("k1", bugs.k1_wrong_direction), ("k2", bugs.k2_without_half),
    ("k3", bugs.k3_missing_minus_one), ("k3", bugs.k3_clamped), ("k3", bugs.k3_ratio_detached),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_estimator_test_fails_on_a_planted_bug(name, planted, monkeypatch):
    monkeypatch.setattr(kl_estimators, f"kl_estimator_{name}", planted)
    assert fails(test_estimators_match_the_exact_oracle_with_their_slopes, name), "stayed green with a planted bug"


def test_loss_gradient_test_fails_on_a_planted_bug(monkeypatch):
    monkeypatch.setattr(kl_estimators, "estimator_loss_gradient",
                        bugs.loss_gradient_k3_is_reverse_kl)
    assert fails(test_loss_gradients_match_the_closed_forms), "stayed green with a planted bug"


def test_unbiasedness_test_fails_on_a_planted_bug(monkeypatch):
    monkeypatch.setattr(kl_estimators, "kl_divergence", bugs.kl_reversed)
    assert fails(test_k1_and_k3_are_unbiased_and_k2_is_not), "stayed green with a planted bug"
