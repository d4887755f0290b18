"""The PPO chapter: each test states one property of ``rlspec.reference.ppo`` or one
cross-check between two oracles (closed forms, exact rationals, sympy, mpmath,
torch.distributions, the statistics module).

Inputs are exact binary fractions: log-ratios are multiples of 1/8 (never within 0.01 of
log(1 +- eps), so no sample sits on a kink unless a test puts it there), advantages and
values multiples of 1/4 and 1/8.  Float comparisons use tolerances explained where used.
"""

import doctest
import math
import statistics
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import scipy.special
import scipy.stats
import sympy
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch.distributions import Categorical, kl_divergence

import bugs_trust_region as bugs
from mutation import fails
import rlspec
import user_implementations_trust_region as user
from rlspec.spec import registry
from rlspec.oracles.methods import accuracy
from rlspec.oracles import ppo as oracle
from rlspec.reference import ppo

EPS = accuracy.EPS

PPO_CHAPTER = {"ppo.clipped-objective", "ppo.kl-penalty", "ppo.adaptive-kl", "ppo.value-clipping",
               "ppo.advantage-normalization", "ppo.entropy-bonus", "ppo.total-loss"}




def test_the_ppo_chapter_is_in_the_registry():
    entries = {entry.id for entry in registry.entries()}
    assert PPO_CHAPTER <= entries
    assert {entry_id for entry_id in entries if entry_id.startswith("ppo.")} == PPO_CHAPTER


def test_docstring_examples_hold():
    assert doctest.testmod(ppo, raise_on_error=False).failed == 0


# ------------------------------------------------------------------------------ inputs

def _vector(size, low, high, denominator):
    return st.lists(st.integers(low * denominator, high * denominator), min_size=size,
                    max_size=size).map(lambda v: np.array(v, dtype=np.float64) / denominator)


@st.composite
def clip_batches(draw, max_size=6):
    size = draw(st.integers(1, max_size))
    old = np.log(np.array(draw(st.lists(st.integers(1, 8), min_size=size, max_size=size))) / 8.0)
    return (old + draw(_vector(size, -1, 1, 8)), old, draw(_vector(size, -4, 4, 4)),
            draw(st.sampled_from([0.2, 0.1, 0.3])))


def _loss_and_gradient(function, arguments, name):
    tensors = {key: torch.tensor(value, dtype=torch.float64, requires_grad=key == name)
               if isinstance(value, np.ndarray) and value.dtype.kind == "f" else
               (torch.tensor(value) if isinstance(value, np.ndarray) else value)
               for key, value in arguments.items()}
    loss = function(**tensors)
    (gradient,) = torch.autograd.grad(loss.sum(), tensors[name])
    return loss.detach().numpy(), gradient.numpy()


def _clip_arguments(batch):
    log_prob, old_log_prob, advantages, epsilon = batch
    return {"log_prob": log_prob, "old_log_prob": old_log_prob, "advantages": advantages,
            "clip_epsilon": epsilon}


#: A loss of N terms of size <= |A| r <= 4 e: the float mean rounds by <= N eps per term.
def _clip_tolerance(advantages) -> float:
    return accuracy.SAFETY * advantages.size * EPS * max(1.0, 4 * math.e)


# ------------------------------------------------------------------- clipped objective

@pytest.mark.spec("ppo.clipped-objective")
@given(clip_batches())
def test_clipped_objective_is_a_pessimistic_bound_on_cpi(batch):
    """L^CLIP <= L^CPI sample by sample (seed 002: 构建下界), so also for the batch mean."""
    log_prob, old_log_prob, advantages, epsilon = batch
    ratios = np.exp(log_prob - old_log_prob)
    for t in range(len(ratios)):
        clip = -float(ppo.clipped_surrogate_loss(log_prob[t:t + 1], old_log_prob[t:t + 1],
                                                 advantages[t:t + 1], epsilon))
        assert clip <= ratios[t] * advantages[t] + _clip_tolerance(advantages)


@pytest.mark.spec("ppo.clipped-objective")
@given(clip_batches())
def test_clipped_objective_equals_cpi_inside_the_clip_range(batch):
    """Where every ratio lies in [1 - eps, 1 + eps] the clip changes nothing (seed 002:
    在 r = 1 附近相等)."""
    log_prob, old_log_prob, advantages, epsilon = batch
    ratios = np.exp(log_prob - old_log_prob)
    inside = (ratios >= 1 - epsilon) & (ratios <= 1 + epsilon)
    if not inside.any():
        return
    loss = float(ppo.clipped_surrogate_loss(log_prob[inside], old_log_prob[inside],
                                            advantages[inside], epsilon))
    assert abs(-loss - float(np.mean(ratios[inside] * advantages[inside]))) <= _clip_tolerance(advantages)


@pytest.mark.spec("ppo.clipped-objective")
@given(clip_batches())
@example((np.log([1.5, 0.5, 1.5, 0.5]), np.zeros(4), np.array([1.0, 1.0, -1.0, -1.0]), 0.2))
def test_gradient_vanishes_exactly_where_the_clip_is_active_in_the_advantage_direction(batch):
    """d(-L^CLIP)/d log pi_t = 0 iff (A_t > 0 and r_t > 1 + eps) or (A_t < 0 and r_t < 1 - eps)
    (or A_t = 0); elsewhere it is -r_t A_t / N, by autograd through the reference."""
    log_prob, old_log_prob, advantages, epsilon = batch
    _, gradient = _loss_and_gradient(ppo.clipped_surrogate_loss, _clip_arguments(batch), "log_prob")
    ratios = np.exp(log_prob - old_log_prob)
    clipped = ((advantages > 0) & (ratios > 1 + epsilon)) | ((advantages < 0) & (ratios < 1 - epsilon))
    expected = np.where(clipped, 0.0, -ratios * advantages / len(ratios))
    assert np.all(gradient[clipped] == 0.0)
    np.testing.assert_allclose(gradient, expected, rtol=0, atol=_clip_tolerance(advantages))


@pytest.mark.spec("ppo.clipped-objective")
@given(st.integers(-40, 40), st.integers(-8, 8), st.sampled_from([0.2, 0.1, 0.3, 0.0]))
def test_min_form_equals_the_g_form(ratio_eighths, advantage_quarters, epsilon):
    """Spinning Up's identity min(r A, clip(r, 1 - eps, 1 + eps) A) = min(r A, g(eps, A)),
    g = (1 + eps) A for A >= 0 and (1 - eps) A for A < 0, exactly in rationals (r >= 0)."""
    r, a = Fraction(abs(ratio_eighths), 8), Fraction(advantage_quarters, 4)
    e = Fraction(epsilon)
    clip = min(max(r, 1 - e), 1 + e)
    g = (1 + e) * a if a >= 0 else (1 - e) * a
    assert min(r * a, clip * a) == min(r * a, g)


@pytest.mark.spec("ppo.clipped-objective")
@given(clip_batches())
def test_reference_clip_loss_matches_the_g_form_oracle(batch):
    loss, _ = _loss_and_gradient(ppo.clipped_surrogate_loss, _clip_arguments(batch), "log_prob")
    assert abs(float(loss) - oracle.clipped_surrogate_loss(*batch)) <= _clip_tolerance(batch[2])


def _high_precision_clip_terms(log_prob, old_log_prob, advantages, epsilon):
    """-mean min(r A, clip(r) A) by the min form in 50-digit arithmetic."""
    with mpmath.workdps(50):
        e = mpmath.mpf(epsilon)
        terms = []
        for x, x_old, a in zip(log_prob, old_log_prob, advantages):
            r, a = mpmath.exp(mpmath.mpf(x) - mpmath.mpf(x_old)), mpmath.mpf(a)
            terms.append(min(r * a, min(max(r, 1 - e), 1 + e) * a))
        return -sum(terms) / len(terms)


@pytest.mark.spec("ppo.clipped-objective")
@given(clip_batches(max_size=4))
def test_clip_oracles_agree_with_high_precision_differences(batch):
    """The closed-form value and gradient against the min form and its central differences
    in 50 digits (step 1e-20: truncation 1e-40, far from any kink at >= 0.01 in log-ratio)."""
    log_prob, old_log_prob, advantages, epsilon = batch
    precise = _high_precision_clip_terms(*batch)
    assert abs(oracle.clipped_surrogate_loss(*batch) - float(precise)) <= _clip_tolerance(advantages)
    lower, upper = oracle.clipped_surrogate_gradient_bounds(*batch)
    assert np.array_equal(lower, upper)
    with mpmath.workdps(50):
        h = mpmath.mpf("1e-20")
        for t in range(len(log_prob)):
            def loss_at(shift):
                moved = [mpmath.mpf(x) for x in log_prob]
                moved[t] += shift
                return _high_precision_clip_terms(moved, old_log_prob, advantages, epsilon)
            derivative = (loss_at(h) - loss_at(-h)) / (2 * h)
            assert abs(lower[t] - float(derivative)) <= _clip_tolerance(advantages)


@pytest.mark.spec("ppo.clipped-objective")
def test_reference_clip_loss_passes_gradcheck():
    log_prob = torch.tensor([np.log(1.5), np.log(0.5), np.log(1.1), np.log(0.7)] , dtype=torch.float64,
                            requires_grad=True)
    advantages = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda x: ppo.clipped_surrogate_loss(x, torch.zeros(4, dtype=torch.float64), advantages, 0.2),
        (log_prob,))


@pytest.mark.spec("ppo.clipped-objective")
def test_clip_loss_rejects_bad_input_with_a_clear_message():
    with pytest.raises(rlspec.validation.InvalidInputError, match="clip_epsilon"):
        ppo.clipped_surrogate_loss([0.0], [0.0], [1.0], -0.1)
    with pytest.raises(rlspec.validation.InvalidInputError, match="batch sizes differ"):
        ppo.clipped_surrogate_loss([0.0, 0.0], [0.0], [1.0], 0.2)
    with pytest.raises(rlspec.validation.InvalidInputError, match="NaN"):
        ppo.clipped_surrogate_loss([float("nan")], [0.0], [1.0], 0.2)


# -------------------------------------------------------------------------- KL penalty

@st.composite
def kl_batches(draw):
    size, n_actions = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    logits = draw(_vector(size * n_actions, -2, 2, 4)).reshape(size, n_actions)
    old_logits = draw(_vector(size * n_actions, -2, 2, 4)).reshape(size, n_actions)
    actions = np.array(draw(st.lists(st.integers(0, n_actions - 1), min_size=size, max_size=size)))
    return {"logits": logits, "old_logits": old_logits, "actions": actions,
            "advantages": draw(_vector(size, -4, 4, 4)), "beta": draw(st.sampled_from([1.0, 0.5, 3.0]))}


#: Values of size <= 4 e^4 (ratio of softmaxes of logits within +-2) plus beta KL <= 3 * 4:
#: a few hundred eps per operation is far below 1e-10.
KL_TOLERANCE = 1e-10


@pytest.mark.spec("ppo.kl-penalty")
@given(kl_batches())
def test_kl_penalty_oracle_agrees_with_torch_distributions(batch):
    """The closed-form value and gradient against autograd through torch.distributions'
    Categorical.log_prob and kl_divergence (a separate implementation of both)."""
    logits = torch.tensor(batch["logits"], requires_grad=True)
    new, old = Categorical(logits=logits), Categorical(logits=torch.tensor(batch["old_logits"]))
    actions = torch.tensor(batch["actions"])
    ratio = torch.exp(new.log_prob(actions) - old.log_prob(actions))
    loss = -(ratio * torch.tensor(batch["advantages"]) - batch["beta"] * kl_divergence(old, new)).mean()
    (gradient,) = torch.autograd.grad(loss, logits)
    assert abs(float(loss.detach()) - oracle.kl_penalty_loss(**batch)) <= KL_TOLERANCE
    np.testing.assert_allclose(gradient.numpy(), oracle.kl_penalty_gradient(**batch), atol=KL_TOLERANCE)


@pytest.mark.spec("ppo.kl-penalty")
@given(kl_batches())
def test_reference_kl_penalty_matches_the_oracle(batch):
    loss, gradient = _loss_and_gradient(ppo.kl_penalty_loss, batch, "logits")
    assert abs(float(loss) - oracle.kl_penalty_loss(**batch)) <= KL_TOLERANCE
    np.testing.assert_allclose(gradient, oracle.kl_penalty_gradient(**batch), atol=KL_TOLERANCE)


# --------------------------------------------------------------------- adaptive KL rule

@pytest.mark.spec("ppo.adaptive-kl")
@pytest.mark.parametrize("beta, kl, target, expected", [
    (1.0, 0.001, 0.01, 0.5),       # d < d_targ / 1.5 = 0.00667: halve
    (1.0, 0.02, 0.01, 2.0),        # d > 1.5 d_targ = 0.015: double
    (1.0, 0.01, 0.01, 1.0),        # on target
    (4.0, 0.25, 0.375, 4.0),       # d = d_targ / 1.5 exactly: strict <, unchanged
    (4.0, 0.5625, 0.375, 4.0),     # d = 1.5 d_targ exactly: strict >, unchanged
    (4.0, 0.2499, 0.375, 2.0),
    (4.0, 0.5626, 0.375, 8.0),
    (0.125, 0.0, 0.375, 0.0625),   # no KL at all: keep halving
])
def test_adaptive_rule_table(beta, kl, target, expected):
    """The rule of PPO section 4 (and seeds 000, 002), worked out by hand."""
    assert ppo.adaptive_kl_coefficient(beta, kl, target) == expected
    assert oracle.adaptive_kl_coefficient_exact(beta, kl, target) == Fraction(expected)


@pytest.mark.spec("ppo.adaptive-kl")
@given(st.sampled_from([0.375, 0.1875, 0.75]), st.integers(0, 128), st.sampled_from([1.0, 0.5, 8.0]))
def test_reference_adaptive_rule_matches_the_exact_oracle(target, kl_64ths, beta):
    kl = kl_64ths / 64
    assert ppo.adaptive_kl_coefficient(beta, kl, target) == float(
        oracle.adaptive_kl_coefficient_exact(beta, kl, target))


@pytest.mark.spec("ppo.adaptive-kl")
def test_adaptive_rule_rejects_a_non_positive_target():
    with pytest.raises(rlspec.validation.InvalidInputError, match="kl_target > 0"):
        ppo.adaptive_kl_coefficient(1.0, 0.1, 0.0)


# ------------------------------------------------------------------------- value clipping

@st.composite
def value_batches(draw, max_size=5):
    size = draw(st.integers(1, max_size))
    return {"values": draw(_vector(size, -4, 4, 8)), "old_values": draw(_vector(size, -4, 4, 8)),
            "returns": draw(_vector(size, -4, 4, 8)),
            "clip_epsilon": draw(st.sampled_from([0.2, 0.5, 0.1, 1.0]))}


@pytest.mark.spec("ppo.value-clipping")
@given(value_batches())
def test_value_loss_oracle_agrees_with_sympy(batch):
    """The rational oracle against sympy's Max / Min on the same rationals; its one-sided
    derivatives against sympy's exact one-sided difference quotients with h = 10^-30 (the
    loss is piecewise quadratic, so a quotient is off by at most h times the curvature)."""
    e = sympy.Rational(Fraction(batch["clip_epsilon"]))
    size = len(batch["values"])

    def term(v, old, target):
        return sympy.Max((v - target) ** 2, (old + sympy.Min(sympy.Max(v - old, -e), e) - target) ** 2)

    h = sympy.Rational(1, 10 ** 30)
    total = 0
    lower, upper = oracle.clipped_value_gradient_bounds_exact(**batch)
    for t, (value, old, target) in enumerate(zip(batch["values"], batch["old_values"], batch["returns"])):
        value, old, target = (sympy.Rational(Fraction(float(x))) for x in (value, old, target))
        at = term(value, old, target)
        total += at
        right = (term(value + h, old, target) - at) / h / (2 * size)
        left = (at - term(value - h, old, target)) / h / (2 * size)
        for quotient in (left, right):
            assert sympy.Rational(lower[t]) - 10 * h <= quotient <= sympy.Rational(upper[t]) + 10 * h
    assert oracle.clipped_value_loss_exact(**batch) == Fraction(str(total / (2 * size)))


def _value_tolerance(batch) -> float:
    """Squares of numbers <= 8.5, averaged: a few eps times 72."""
    return accuracy.SAFETY * 72 * EPS


@pytest.mark.spec("ppo.value-clipping")
@given(value_batches())
def test_reference_value_loss_matches_the_exact_oracle(batch):
    loss, gradient = _loss_and_gradient(ppo.clipped_value_loss, batch, "values")
    assert abs(float(loss) - float(oracle.clipped_value_loss_exact(**batch))) <= _value_tolerance(batch)
    lower, upper = oracle.clipped_value_gradient_bounds_exact(**batch)
    assert np.all(gradient >= np.array([float(x) for x in lower]) - _value_tolerance(batch))
    assert np.all(gradient <= np.array([float(x) for x in upper]) + _value_tolerance(batch))


@pytest.mark.spec("ppo.value-clipping")
@given(value_batches())
def test_value_clipping_never_lowers_the_loss(batch):
    """The max makes the clip pessimistic: the clipped loss is at least the plain 1/2 mean
    squared error, and equals it when every prediction stayed within eps of the old one."""
    loss = float(ppo.clipped_value_loss(**batch))
    plain = 0.5 * float(np.mean((batch["values"] - batch["returns"]) ** 2))
    assert loss >= plain - _value_tolerance(batch)
    if np.all(np.abs(batch["values"] - batch["old_values"]) <= batch["clip_epsilon"]):
        assert abs(loss - plain) <= _value_tolerance(batch)


# --------------------------------------------------------------- advantage normalisation

advantage_batches = st.integers(1, 8).flatmap(lambda n: _vector(n, -4, 4, 4))


@pytest.mark.spec("ppo.advantage-normalization")
@given(advantage_batches)
@example(np.array([2.0, 2.0]))
@example(np.array([5.0]))
def test_normalization_oracle_agrees_with_the_statistics_module(advantages):
    """statistics.stdev / pstdev on Fractions (exact mean and variance, one sqrt)."""
    values = [Fraction(float(a)) for a in advantages]
    mean = statistics.mean(values)
    for ddof, spread in ((1, statistics.stdev), (0, statistics.pstdev)):
        got = oracle.normalized_advantages_exact(advantages, ddof)
        if len(values) - ddof <= 0 or len(set(values)) == 1:
            assert got == [0.0] * len(values)
            continue
        std = float(spread(values))
        np.testing.assert_allclose(got, [float(v - mean) / std for v in values], rtol=4 * EPS, atol=0)


@pytest.mark.spec("ppo.advantage-normalization")
@given(advantage_batches)
def test_normalized_advantages_have_mean_zero_and_unit_sample_std(advantages):
    normalized = ppo.normalize_advantages(advantages)
    assert abs(normalized.sum()) <= accuracy.SAFETY * advantages.size * EPS * 3
    if advantages.size > 1 and np.ptp(advantages) > 0:
        # The epsilon 1e-8 shrinks the std by a factor 1 - 1e-8 / std, std >= 0.25 / sqrt(8).
        assert abs(np.std(normalized, ddof=1) - 1.0) <= 1e-8 / (0.25 / np.sqrt(8)) + 1e-12


@pytest.mark.spec("ppo.advantage-normalization")
@given(advantage_batches)
def test_reference_normalization_matches_the_exact_oracle(advantages):
    expected = oracle.normalized_advantages_exact(advantages, ddof=1)
    np.testing.assert_allclose(ppo.normalize_advantages(advantages), expected, rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------ entropy

@st.composite
def logit_tables(draw):
    size, n_actions = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    return draw(_vector(size * n_actions, -3, 3, 4)).reshape(size, n_actions)


@pytest.mark.spec("ppo.entropy-bonus")
@given(logit_tables())
def test_entropy_oracles_agree_with_scipy_torch_and_differences(logits):
    """H by mpmath against scipy.stats.entropy and torch's Categorical.entropy; dH/dz against
    central differences of H in 50 digits (step 1e-20)."""
    precise = oracle.categorical_entropy_high_precision(logits)
    np.testing.assert_allclose(precise, scipy.stats.entropy(scipy.special.softmax(logits, axis=1), axis=1),
                               atol=64 * EPS)
    np.testing.assert_allclose(precise, Categorical(logits=torch.tensor(logits)).entropy().numpy(),
                               atol=64 * EPS)
    gradient = oracle.categorical_entropy_gradient(logits)
    with mpmath.workdps(50):
        h = mpmath.mpf("1e-20")
        for t, b in np.ndindex(logits.shape):
            def entropy_at(shift):
                row = [mpmath.mpf(float(z)) for z in logits[t]]
                row[b] += shift
                top = max(row)
                weights = [mpmath.exp(z - top) for z in row]
                total = sum(weights)
                return -sum(w / total * mpmath.log(w / total) for w in weights)
            assert abs(gradient[t, b] - float((entropy_at(h) - entropy_at(-h)) / (2 * h))) <= 64 * EPS


@pytest.mark.spec("ppo.entropy-bonus")
@given(logit_tables())
@example(np.array([[0.0, -1000.0, 0.0]]))
@example(np.array([[1000.0, 999.0]]))
def test_reference_entropy_matches_the_oracle_and_lies_in_zero_to_log_a(logits):
    entropy, gradient = _loss_and_gradient(ppo.categorical_entropy, {"logits": logits}, "logits")
    np.testing.assert_allclose(entropy, oracle.categorical_entropy_high_precision(logits), atol=64 * EPS)
    np.testing.assert_allclose(gradient, oracle.categorical_entropy_gradient(logits), atol=64 * EPS)
    assert np.all(entropy >= 0.0) and np.all(entropy <= np.log(logits.shape[1]) + 64 * EPS)


# --------------------------------------------------------------------------- total loss

@st.composite
def total_batches(draw):
    log_prob, old_log_prob, advantages, epsilon = draw(clip_batches())
    size = len(log_prob)
    return {"log_prob": log_prob, "old_log_prob": old_log_prob, "advantages": advantages,
            "values": draw(_vector(size, -4, 4, 8)), "old_values": draw(_vector(size, -4, 4, 8)),
            "entropy": draw(_vector(size, 0, 2, 8)), "clip_epsilon": epsilon,
            "value_clip_epsilon": draw(st.sampled_from([0.2, None])),
            "value_coefficient": 0.5, "entropy_coefficient": draw(st.sampled_from([0.01, 0.5])),
            "normalize": draw(st.booleans())}


@pytest.mark.spec("ppo.total-loss")
@given(total_batches())
def test_total_loss_is_the_sum_of_its_parts(batch):
    """-L^CLIP(A-hat) + c1 L^V(A + V_old) - c2 mean H, each part from its oracle, with the
    value targets from the raw advantages."""
    advantages = batch["advantages"]
    policy_advantages = np.array(oracle.normalized_advantages_exact(advantages)) if batch["normalize"] \
        else advantages
    returns = advantages + batch["old_values"]
    policy = oracle.clipped_surrogate_loss(batch["log_prob"], batch["old_log_prob"], policy_advantages,
                                           batch["clip_epsilon"])
    if batch["value_clip_epsilon"] is None:
        value = 0.5 * float(np.mean((batch["values"] - returns) ** 2))
    else:
        value = float(oracle.clipped_value_loss_exact(batch["values"], batch["old_values"], returns,
                                                      batch["value_clip_epsilon"]))
    expected = policy + 0.5 * value - batch["entropy_coefficient"] * float(np.mean(batch["entropy"]))
    got = float(ppo.ppo_total_loss(**batch))
    # Normalised advantages (|A-hat| <= sqrt(8)) may differ from the oracle's by 1e-7 relative
    # (the 1e-8 epsilon over a std >= 0.09), times ratios <= e: 1e-6 covers it.
    assert abs(got - expected) <= 1e-6


# ------------------------------------------------------------------ user implementations

@pytest.mark.spec("ppo.total-loss")
@pytest.mark.parametrize("name, candidate", [
    ("ppo-clip-loss", user.cleanrl_clip_loss),
    ("ppo-clip-loss", user.baselines_neglogp_clip_loss),
    ("ppo-kl-penalty-loss", user.distributions_kl_penalty_loss),
    ("adaptive-kl-coefficient", user.adaptive_beta),
    ("ppo-value-loss", user.cleanrl_value_loss),
    ("advantage-normalization", user.numpy_population_normalize),
    ("advantage-normalization", user.torch_guarded_normalize),
    ("categorical-entropy", user.distributions_entropy),
    ("ppo-total-loss", user.cleanrl_total_loss),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementation_passes(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


def test_a_loss_without_a_graph_gets_a_report_that_says_so():
    report = rlspec.check("ppo-clip-loss", bugs.clip_detached, max_examples=5)
    assert not report.passed and "no autograd graph" in report.counterexample["problem"]


@pytest.mark.spec("ppo.clipped-objective")
def test_a_plain_number_loss_is_rejected_although_its_value_is_right():
    report = rlspec.check("ppo-clip-loss", user.numpy_clip_loss, max_examples=5)
    assert not report.passed and "not a torch tensor" in report.counterexample["problem"]


@pytest.mark.spec("ppo.value-clipping")
def test_the_value_loss_report_names_a_missing_half():
    def without_half(values, old_values, returns, clip_epsilon):
        return 2 * user.cleanrl_value_loss(values, old_values, returns, clip_epsilon)
    report = rlspec.check("ppo-value-loss", without_half, max_examples=5)
    assert not report.passed and "factor 1/2" in report.counterexample["problem"]


# ------------------------------------------------------------------ theorems can fail

def _clip_no_min(log_prob, old_log_prob, advantages, clip_epsilon):
    return bugs.clip_only_clipped(*(torch.as_tensor(x) for x in (log_prob, old_log_prob, advantages)),
                                  clip_epsilon)


MUTANTS = {
    "test_clipped_objective_is_a_pessimistic_bound_on_cpi": ("clipped_surrogate_loss", bugs.clip_max),
    "test_clipped_objective_equals_cpi_inside_the_clip_range": ("clipped_surrogate_loss", bugs.clip_product),
    "test_gradient_vanishes_exactly_where_the_clip_is_active_in_the_advantage_direction":
        ("clipped_surrogate_loss", bugs.clip_ray_proposal),
    "test_reference_clip_loss_matches_the_g_form_oracle": ("clipped_surrogate_loss", bugs.clip_min_before_advantage),
    "test_reference_kl_penalty_matches_the_oracle": ("kl_penalty_loss", bugs.kl_penalty_reversed),
    "test_reference_adaptive_rule_matches_the_exact_oracle": ("adaptive_kl_coefficient", bugs.adaptive_swapped),
    "test_reference_value_loss_matches_the_exact_oracle": ("clipped_value_loss", bugs.value_clip_return_centre),
    "test_value_clipping_never_lowers_the_loss": ("clipped_value_loss", bugs.value_clip_min),
    "test_normalized_advantages_have_mean_zero_and_unit_sample_std": ("normalize_advantages", bugs.normalize_scale_only),
    "test_reference_normalization_matches_the_exact_oracle": ("normalize_advantages", bugs.normalize_by_variance),
    "test_reference_entropy_matches_the_oracle_and_lies_in_zero_to_log_a": ("categorical_entropy", bugs.entropy_raw_logits),
    "test_total_loss_is_the_sum_of_its_parts": ("ppo_total_loss", bugs.total_returns_from_normalized),
}


def _as_tensors(function):
    """Wrap a catalogued bug (written for the checks' torch tensors) so that it also takes
    the numpy arrays some tests pass to the reference."""
    def wrapped(*args, **kwargs):
        convert = lambda x: torch.as_tensor(x, dtype=torch.float64) \
            if isinstance(x, (np.ndarray, list)) and np.asarray(x).dtype.kind == "f" else x
        return function(*map(convert, args), **{k: convert(v) for k, v in kwargs.items()})
    wrapped.__name__ = function.__name__
    return wrapped


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, mutant = MUTANTS[test_name]
    if attribute not in ("adaptive_kl_coefficient", "normalize_advantages"):
        mutant = _as_tensors(mutant)
    monkeypatch.setattr(ppo, attribute, mutant)
    assert fails(globals()[test_name]), \
        f"{test_name} stayed green with {getattr(mutant, '__name__', mutant)} planted"