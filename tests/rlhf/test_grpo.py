"""GRPO and its successors (Dr. GRPO, DAPO, GSPO, DCPO): each reference function agrees with
an exact oracle; each oracle agrees with a second method (scipy, a characterisation, central
differences, Spinning Up's identity, a clamped closed form, the quadratics the bounds
solve, the nested min/max of DCPO's definition, the statistics of a prompt's whole history);
GSPO-token reduces to GSPO; DAPO's filter keeps exactly the groups with a gradient.
Tolerances as in ``tests/rlhf/test_rlhf_ppo.py``."""

import numpy as np
import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st
from scipy.stats import zscore

import bugs_rlhf as bugs
import mpmath

import rlspec
import user_implementations_rlhf as user
from rlspec.oracles import grpo as oracle
from rlspec.oracles.rlhf_ppo import clipped_surrogate_by_identity
from rlspec.reference.kl_estimators import kl_estimator_k3
from rlspec.reference import grpo
from rlspec.validation import InvalidInputError
from mutation import fails
from test_rlhf_ppo import (ADVANTAGES, EPS, LOG_RATIOS, OLD, _tolerance, assert_within,
                           autograd_value_and_gradient, central_difference, fill,
                           response_masks)

REWARDS = (0.0, 1.0, 0.5, -1.0, 2.0, 0.1)


@st.composite
def reward_groups(draw, values=REWARDS):
    groups, size = draw(st.integers(1, 3)), draw(st.integers(2, 6))
    flat = draw(st.lists(st.sampled_from(values), min_size=groups * size, max_size=groups * size))
    return np.array(flat).reshape(groups, size)


@st.composite
def policy_batches(draw, kind="decoupled", per_token=False):
    """Arguments of the GRPO-family losses, in the canonical signatures."""
    mask = draw(response_masks())
    old = fill(draw, mask, OLD, (2.0, -7.0))
    batch = {"log_probs": old + fill(draw, mask, LOG_RATIOS, (-9.0, 4.5)), "old_log_probs": old}
    if kind == "grpo":
        batch["ref_log_probs"] = fill(draw, mask, (-0.5, -1.0, -3.0), (1.5, -6.0))
    rows = mask.shape[0]
    batch["advantages"] = fill(draw, mask, ADVANTAGES) if per_token else np.array(
        draw(st.lists(st.sampled_from(ADVANTAGES), min_size=rows, max_size=rows)))
    batch["response_mask"] = mask
    if kind in ("decoupled", "dcpo"):
        batch["epsilon_low"] = draw(st.sampled_from([0.2, 0.1, 0.3]))
        batch["epsilon_high"] = draw(st.sampled_from([0.28, 0.2, 0.1]))
    else:
        batch["clip_epsilon"] = draw(st.sampled_from([0.2, 0.1, 0.3]))
    if kind == "grpo":
        batch["beta"] = draw(st.sampled_from([0.04, 0.0, 0.5]))
    if kind == "dr":
        batch["max_length"] = draw(st.sampled_from([8, 3]))
    if kind == "dcpo":
        batch["max_ratio"] = draw(st.sampled_from([10.0, 2.0]))
        batch["clip_ratio_c"] = draw(st.sampled_from([3.0, 1.5]))
    return batch


def _loss_tolerance(batch):
    """|terms| <= e^1.5 * 3 + beta * k3 (k3 <= e^2.5 here); a sum of at most B T terms."""
    return _tolerance(batch["response_mask"].size + 4, 20.0 + 13.0 * batch.get("beta", 0.0))


# --------------------------------------------------------------------- advantages

@pytest.mark.spec("grpo.group-advantages")
@given(reward_groups(), st.sampled_from([0.0, 1e-6, 1e-4]))
@example(np.array([[0.1, 0.1, 0.1]]), 0.0)
def test_group_advantages_match_the_exact_statistics(rewards, epsilon):
    got = grpo.group_advantages(rewards, epsilon)
    expected = oracle.group_advantages_exact(rewards, epsilon)
    # mean and variance: G-term sums; |A| <= sqrt(G - 1) <= 3
    np.testing.assert_allclose(got, expected, rtol=0, atol=_tolerance(4 * rewards.shape[1], 3.0))


@pytest.mark.spec("grpo.group-advantages")
@given(reward_groups(values=(0.0, 1.0, 0.5, -1.0, 2.0)))
def test_group_advantage_oracle_agrees_with_scipy_zscore(rewards):
    expected = np.zeros_like(rewards)
    for g, group in enumerate(rewards):
        if group.max() > group.min():
            expected[g] = zscore(group, ddof=1)
    np.testing.assert_allclose(oracle.group_advantages_exact(rewards, 0.0), expected, rtol=0,
                               atol=_tolerance(4 * rewards.shape[1], 3.0))


@pytest.mark.spec("grpo.group-advantages")
@given(reward_groups())
def test_group_advantages_are_centred_with_unit_sample_variance(rewards):
    """With epsilon = 0: sum_i A_i = 0 and sum_i A_i^2 = G - 1 in every group that varies."""
    advantages = grpo.group_advantages(rewards, 0.0)
    size = rewards.shape[1]
    for group, row in zip(rewards, advantages):
        assert abs(row.sum()) <= _tolerance(4 * size, 3.0)
        if group.max() > group.min():
            assert abs((row ** 2).sum() - (size - 1)) <= _tolerance(4 * size, 9.0)
        else:
            assert np.array_equal(row, np.zeros(size))


@pytest.mark.spec("grpo.dr-grpo-advantages")
@given(reward_groups())
def test_dr_grpo_advantages_are_the_exact_centred_rewards(rewards):
    np.testing.assert_allclose(grpo.dr_grpo_advantages(rewards),
                               oracle.dr_grpo_advantages_exact(rewards), rtol=0,
                               atol=_tolerance(rewards.shape[1], 2.0))


@pytest.mark.spec("grpo.objective")
@given(st.lists(st.integers(1, 9), min_size=2, max_size=5).flatmap(
    lambda weights: st.tuples(st.just(weights), st.lists(st.integers(1, 9), min_size=len(weights),
                                                         max_size=len(weights)))))
def test_k3_is_an_unbiased_nonnegative_estimate_of_the_kl(weights):
    """Enumerating a vocabulary: E_{o ~ pi}[k3(o)] = KL(pi || pi_ref), and every sample is >= 0
    (the reference's per-token values too)."""
    p = np.array(weights[0], dtype=float) / sum(weights[0])
    q = np.array(weights[1], dtype=float) / sum(weights[1])
    expectation, divergence = oracle.k3_expectation_exact(p, q)
    assert abs(expectation - divergence) <= 1e-15
    samples = kl_estimator_k3(torch.log(torch.as_tensor(p)), torch.log(torch.as_tensor(q)))
    assert torch.all(samples >= 0)
    assert abs(float((torch.as_tensor(p) * samples).sum()) - expectation) <= _tolerance(len(p), 10.0)


# --------------------------------------------------------------------- losses

#: GSPO-token is left out of the gradcheck and finite-difference tests on purpose: its
#: stop-gradients make the gradient differ from the derivative of its value (that is the
#: method); its oracle is cross-checked against GSPO's instead.
LOSSES = {
    "grpo": (grpo.grpo_loss, oracle.grpo_loss_exact, "grpo", False),
    "dr": (grpo.dr_grpo_loss, oracle.dr_grpo_loss_exact, "dr", False),
    "dapo": (grpo.dapo_token_loss, oracle.dapo_loss_exact, "decoupled", False),
    "gspo": (grpo.gspo_loss, oracle.gspo_loss_exact, "decoupled", False),
    "gspo-token": (grpo.gspo_token_loss, oracle.gspo_token_loss_exact, "decoupled", True),
    "dcpo": (grpo.dcpo_dual_clip_loss, oracle.dcpo_dual_clip_loss_exact, "dcpo", False),
    "dcpo-otm": (grpo.dcpo_otm_loss, oracle.dcpo_otm_loss_exact, "dcpo", False),
}


def _check_loss(name, batch):
    reference, exact, _, _ = LOSSES[name]
    value, gradient = autograd_value_and_gradient(getattr(grpo, reference.__name__), batch, "log_probs")
    expected = exact(**batch)
    tolerance = _loss_tolerance(batch)
    assert abs(value - expected.value) <= tolerance, (value, expected.value)
    assert_within(gradient, expected, tolerance)


@pytest.mark.spec("grpo.objective")
@given(policy_batches("grpo"))
def test_grpo_loss_and_gradient_match_the_closed_form(batch):
    _check_loss("grpo", batch)


@pytest.mark.spec("grpo.dr-grpo-loss")
@given(policy_batches("dr"))
def test_dr_grpo_loss_and_gradient_match_the_closed_form(batch):
    _check_loss("dr", batch)


@pytest.mark.spec("dapo.token-level-loss")
@given(policy_batches())
def test_dapo_loss_and_gradient_match_the_closed_form(batch):
    _check_loss("dapo", batch)


@pytest.mark.spec("gspo.sequence-ratio")
@given(policy_batches())
def test_gspo_loss_and_gradient_match_the_closed_form(batch):
    _check_loss("gspo", batch)


@pytest.mark.spec("gspo.token")
@given(policy_batches(per_token=True))
def test_gspo_token_loss_and_gradient_match_the_closed_form(batch):
    _check_loss("gspo-token", batch)


@pytest.mark.spec("dcpo.dual-clip-loss")
@given(policy_batches("dcpo"))
def test_dcpo_dual_clip_loss_and_gradient_match_the_closed_form(batch):
    _check_loss("dcpo", batch)


@pytest.mark.spec("dcpo.otm-loss")
@given(policy_batches("dcpo"))
def test_dcpo_otm_loss_and_gradient_match_the_closed_form(batch):
    _check_loss("dcpo-otm", batch)


SMOOTH = sorted(set(LOSSES) - {"gspo-token"})


@pytest.mark.spec(
    "dapo.token-level-loss",
    "grpo.dr-grpo-loss",
    "grpo.objective",
    "gspo.sequence-ratio",
    "dcpo.dual-clip-loss",
    "dcpo.otm-loss",
)
@pytest.mark.parametrize("name", SMOOTH)
@given(data=st.data())
def test_loss_passes_gradcheck(name, data):
    reference, _, kind, per_token = LOSSES[name]
    batch = data.draw(policy_batches(kind, per_token))
    arguments = {key: torch.as_tensor(value) if isinstance(value, np.ndarray) else value
                 for key, value in batch.items()}
    log_probs = arguments.pop("log_probs").clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda lp: reference(lp, **arguments), (log_probs,),
                                    eps=1e-6, atol=1e-7)


@pytest.mark.spec(
    "dapo.token-level-loss",
    "grpo.dr-grpo-loss",
    "grpo.objective",
    "gspo.sequence-ratio",
    "dcpo.dual-clip-loss",
    "dcpo.otm-loss",
)
@pytest.mark.parametrize("name", SMOOTH)
@given(data=st.data())
def test_loss_oracle_gradient_matches_central_differences(name, data):
    _, exact, kind, per_token = LOSSES[name]
    batch = data.draw(policy_batches(kind, per_token))
    expected, h = exact(**batch), 1e-6
    for index in zip(*np.nonzero(batch["response_mask"])):
        slope, rounding = central_difference(exact, batch, "log_probs", index, h)
        # |third derivative| <= e^1.5 * 3 + beta e^2.5 < 30 per unit weight
        assert abs(slope - expected.gradient[index]) <= rounding + h * h * 30.0 / 6 + 1e-15


@pytest.mark.spec("dapo.token-level-loss", "grpo.dr-grpo-loss", "gspo.sequence-ratio")
@pytest.mark.parametrize("name", ["dr", "dapo", "gspo"])
@given(data=st.data())
def test_loss_oracle_value_agrees_with_spinning_up_identity(name, data):
    """The loss recomputed here from min(rho A, g(A)), with no clip function."""
    _, exact, kind, _ = LOSSES[name]
    batch = data.draw(policy_batches(kind))
    mask, adv = batch["response_mask"], batch["advantages"]
    x = np.where(mask == 1, batch["log_probs"] - batch["old_log_probs"], 0.0)
    low = batch.get("epsilon_low", batch.get("clip_epsilon"))
    high = batch.get("epsilon_high", batch.get("clip_epsilon"))
    rows, lengths = mask.shape[0], mask.sum(axis=1)

    def f(log_ratio, advantage):
        return float(clipped_surrogate_by_identity(log_ratio, advantage, 1 - low, 1 + high)[0])

    if name == "gspo":
        value = -sum(f(x[i].sum() / lengths[i], adv[i]) for i in range(rows)) / rows
    else:
        weight = (lambda i: 1 / mask.sum()) if name == "dapo" else \
            (lambda i: 1 / (rows * batch["max_length"]))
        value = -sum(weight(i) * f(x[i, t], adv[i]) for i, t in zip(*np.nonzero(mask)))
    assert abs(exact(**batch).value - value) <= _loss_tolerance(batch)


@pytest.mark.spec("gspo.token")
@given(policy_batches())
def test_gspo_token_equals_gspo_when_each_response_has_one_advantage(batch):
    """GSPO (the GSPO-token variant): with A_{i,t} = A_i for every t, GSPO-token's value and gradient are GSPO's."""
    per_token = {**batch, "advantages": batch["advantages"][:, None] * batch["response_mask"]}
    value, gradient = autograd_value_and_gradient(grpo.gspo_loss, batch, "log_probs")
    value_token, gradient_token = autograd_value_and_gradient(grpo.gspo_token_loss, per_token, "log_probs")
    tolerance = _loss_tolerance(batch)
    assert abs(value - value_token) <= tolerance
    np.testing.assert_allclose(gradient, gradient_token, rtol=0, atol=tolerance)


@pytest.mark.spec("gspo.token")
@given(policy_batches())
def test_gspo_token_oracle_reduces_to_the_gspo_oracle(batch):
    """The two oracles, value and gradient intervals, on A_{i,t} = A_i."""
    per_token = {**batch, "advantages": batch["advantages"][:, None] * batch["response_mask"]}
    sequence, token = oracle.gspo_loss_exact(**batch), oracle.gspo_token_loss_exact(**per_token)
    assert abs(sequence.value - token.value) <= _loss_tolerance(batch)
    for a, b in [(sequence.gradient_low, token.gradient_low), (sequence.gradient_high, token.gradient_high)]:
        np.testing.assert_allclose(a, b, rtol=0, atol=_loss_tolerance(batch))


# --------------------------------------------------------------------- DAPO's shaping and filter

@pytest.mark.spec("dapo.overlong-reward-shaping")
@given(st.integers(1, 8).flatmap(lambda cache: st.tuples(
    st.just(cache), st.integers(cache, cache + 8),
    st.lists(st.integers(0, 2 * cache + 10), min_size=1, max_size=8))))
@example((4096, 20480, [16384, 16385, 20480, 20481]))
def test_overlong_penalty_matches_dapo_equation_13(sizes):
    cache, maximum, lengths = sizes
    lengths = np.array(lengths, dtype=np.float64)
    got = grpo.overlong_penalty(lengths, maximum, cache)
    np.testing.assert_allclose(got, oracle.overlong_penalty_exact(lengths, maximum, cache),
                               rtol=0, atol=2 * EPS)
    assert np.all((got <= 0) & (got >= -1))


@pytest.mark.spec("dapo.overlong-reward-shaping")
@given(st.integers(1, 8).flatmap(lambda cache: st.tuples(
    st.just(cache), st.integers(cache, cache + 8),
    st.lists(st.integers(0, 2 * cache + 10), min_size=1, max_size=8))))
def test_overlong_oracles_agree_by_cases_and_by_clamping(sizes):
    cache, maximum, lengths = sizes
    assert np.array_equal(oracle.overlong_penalty_exact(lengths, maximum, cache),
                          oracle.overlong_penalty_by_clamping(lengths, maximum, cache))


@pytest.mark.spec("dapo.dynamic-sampling")
@given(reward_groups(values=(0.0, 1.0)))
def test_dynamic_sampling_keeps_the_groups_that_have_a_gradient(accuracies):
    """keep == (0 < #correct < G) == (some advantage is nonzero)."""
    keep = grpo.dynamic_sampling_filter(accuracies)
    assert np.array_equal(keep, oracle.dynamic_sampling_by_counting(accuracies))
    assert np.array_equal(keep, np.any(grpo.group_advantages(accuracies, 0.0) != 0, axis=1))


# --------------------------------------------------------------------- DCPO

DCPO_LOG_PROBS = st.lists(st.sampled_from([0.0, -0.05, -0.5, np.log(0.5), -1.5, -3.0, -8.0, -25.0]),
                          min_size=1, max_size=6).map(np.array)


@pytest.mark.spec("dcpo.dynamic-clipping")
@given(DCPO_LOG_PROBS, st.sampled_from([0.16, 0.2, 0.1]), st.sampled_from([0.2, 0.28, 0.1]),
       st.sampled_from([10.0, 3.0]))
def test_dcpo_bounds_match_the_roots_of_their_quadratics(old, low, high, cap):
    got = grpo.dcpo_clip_bounds(old, low, high, cap)
    expected = oracle.dcpo_bounds_by_roots(old, low, high, cap)
    # sqrt of 1 + 4 eps / q loses ~ eps * (4 eps / q) relatively: q >= e^-25
    np.testing.assert_allclose(got, expected, rtol=_tolerance(8, 1.0), atol=0)


@pytest.mark.spec("dcpo.dynamic-clipping")
@given(DCPO_LOG_PROBS, st.sampled_from([0.16, 0.2, 0.1]), st.sampled_from([0.2, 0.28, 0.1]))
def test_dcpo_oracle_bounds_solve_q_r_abs_r_minus_1_equal_epsilon(old, low, high):
    bounds = oracle.dcpo_bounds_by_roots(old, low, high, 1e300)
    q = np.exp(old)
    lower, upper = bounds
    solvable = 4 * low <= q
    np.testing.assert_allclose((q * lower * (1 - lower))[solvable], low, rtol=1e-12)
    assert np.all(lower[~solvable] == 0.5)
    np.testing.assert_allclose(q * upper * (upper - 1), high, rtol=1e-12)
    assert np.all((lower >= 0.5) & (lower <= 1) & (upper >= 1))



def _dcpo_term_by_definition(log_ratio, advantage, low, high, dual):
    """The definition, nested as the authors' code nests it: min(rho A, clip(rho, l, h) A),
    then max(., c A) where A < 0 (the negated max/min of their losses)."""
    ratio, a = mpmath.exp(mpmath.mpf(log_ratio)), mpmath.mpf(advantage)
    term = min(ratio * a, min(max(ratio, mpmath.mpf(low)), mpmath.mpf(high)) * a)
    return max(term, mpmath.mpf(dual) * a) if a < 0 else term


@pytest.mark.spec("dcpo.dual-clip-loss", "dcpo.otm-loss")
@given(policy_batches("dcpo"))
def test_dcpo_loss_oracles_agree_with_the_nested_definition(batch):
    """Both oracles' values recomputed from the nested min/max, with the closed-form bounds
    (the oracles use the identity form and the bounds found by polyroots)."""
    mask, adv = batch["response_mask"], batch["advantages"]
    terms = []
    with mpmath.workdps(40):
        for i, t in zip(*np.nonzero(mask)):
            (low,), (high,) = grpo.dcpo_clip_bounds([batch["old_log_probs"][i, t]], batch["epsilon_low"],
                                                    batch["epsilon_high"], batch["max_ratio"])
            terms.append(_dcpo_term_by_definition(
                batch["log_probs"][i, t] - batch["old_log_probs"][i, t], adv[i], low, high,
                batch["clip_ratio_c"]))
        total = float(mpmath.fsum(terms))
    tolerance = _loss_tolerance(batch)
    assert abs(oracle.dcpo_dual_clip_loss_exact(**batch).value + total / mask.sum()) <= tolerance
    assert abs(oracle.dcpo_otm_loss_exact(**batch).value + total / mask.shape[0]) <= tolerance


@pytest.mark.spec("dcpo.otm-loss")
@given(policy_batches("dcpo"))
def test_dcpo_otm_loss_is_the_token_mean_rescaled_by_tokens_per_response(batch):
    """L_OTM = (sum_i |o_i| / B) L_dual-clip, value and gradient."""
    scale = batch["response_mask"].sum() / batch["response_mask"].shape[0]
    otm, otm_gradient = autograd_value_and_gradient(grpo.dcpo_otm_loss, batch, "log_probs")
    mean, mean_gradient = autograd_value_and_gradient(grpo.dcpo_dual_clip_loss, batch, "log_probs")
    tolerance = scale * _loss_tolerance(batch)
    assert abs(otm - scale * mean) <= tolerance
    np.testing.assert_allclose(otm_gradient, scale * mean_gradient, rtol=0, atol=tolerance)


SMOOTH_STATES = st.integers(1, 3).flatmap(lambda groups: st.tuples(
    reward_groups(values=(0.0, 1.0, 0.5, -1.0, 2.0)).filter(lambda r: r.shape[0] >= groups)
    .map(lambda r: r[:groups]),
    st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0, 7.0]), min_size=groups, max_size=groups),
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, -0.5]), min_size=groups, max_size=groups),
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=groups, max_size=groups)))


@pytest.mark.spec("dcpo.smooth-advantage-standardization")
@given(SMOOTH_STATES)
@example((np.array([[1.0, 0.0, 0.0, 0.0]]), [3.0], [0.5], [0.5]))
@example((np.array([[1.0, 1.0, 1.0]]), [2.0], [0.5], [0.5]))
def test_dcpo_smooth_advantages_match_the_exact_oracle(state):
    rewards, steps, mean, std = (np.asarray(x, dtype=np.float64) for x in state)
    assume(rewards.shape[0] == steps.size)
    assume(not oracle.dcpo_smooth_advantage_ties(rewards, steps, mean, std))
    got = grpo.dcpo_smooth_advantages(rewards, steps, mean, std)
    expected = oracle.dcpo_smooth_advantages_exact(rewards, steps, mean, std)
    # G-term sums and a pooled variance of a few terms; |A| <= 2 (sqrt(G - 1)) / sigma_min
    np.testing.assert_allclose(got, expected, rtol=0, atol=_tolerance(8 * rewards.shape[1], 20.0))


@pytest.mark.spec("dcpo.smooth-advantage-standardization")
@given(reward_groups())
def test_dcpo_smooth_advantages_at_the_first_step_are_grpos(rewards):
    zeros = np.zeros(rewards.shape[0])
    np.testing.assert_allclose(grpo.dcpo_smooth_advantages(rewards, zeros, zeros + 4.0, zeros + 9.0),
                               grpo.group_advantages(rewards, 0.0), rtol=0,
                               atol=_tolerance(4 * rewards.shape[1], 3.0))


@pytest.mark.spec("dcpo.smooth-advantage-standardization")
@given(st.lists(st.lists(st.sampled_from([0.0, 1.0, 0.5, -1.0]), min_size=2, max_size=4),
                min_size=2, max_size=5))
def test_dcpo_smooth_oracle_agrees_with_the_statistics_of_the_whole_history(history):
    """The oracle's recursion, fed the earlier steps' statistics, against the last step's
    advantages computed here from the statistics of every step at once."""
    *earlier, current = history
    old_mean, old_variance = oracle.dcpo_total_statistics_from_history(earlier)
    state = ([len(earlier)], [float(old_mean)], [float(mpmath.sqrt(mpmath.mpf(old_variance.numerator)
                                                                   / old_variance.denominator))])
    total_mean, total_variance = oracle.dcpo_total_statistics_from_history(history)
    new_mean, new_variance = oracle.dcpo_total_statistics_from_history([current])[0], \
        np.var(current, ddof=1)
    assume(not oracle.dcpo_smooth_advantage_ties([current], *state))
    w = 1.0 / len(history)
    expected = []
    with mpmath.workdps(40):
        for r in current:
            a_new = (r - float(new_mean)) / mpmath.sqrt(new_variance) if new_variance else 0
            a_total = (mpmath.mpf(r) - mpmath.mpf(total_mean.numerator) / total_mean.denominator) \
                / mpmath.sqrt(mpmath.mpf(total_variance.numerator) / total_variance.denominator) \
                if total_variance else 0
            smooth_new, smooth_total = w * a_total + (1 - w) * a_new, w * a_new + (1 - w) * a_total
            expected.append(float(smooth_new if abs(smooth_new) < abs(smooth_total) else smooth_total))
    got = oracle.dcpo_smooth_advantages_exact([current], *state)[0]
    # the earlier std is rounded to float64 once: a relative error of eps in sigma_old
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


# --------------------------------------------------------------------- the checks

PASSING = [
    ("group-advantages", user.grpo_advantages), ("dr-grpo-advantages", user.dr_grpo_advantages),
    ("grpo-loss", user.grpo_loss), ("dr-grpo-loss", user.dr_grpo_loss),
    ("dapo-loss", user.dapo_loss), ("dapo-overlong-penalty", user.overlong_penalty),
    ("dapo-dynamic-sampling", user.keep_groups), ("gspo-loss", user.gspo_loss),
    ("gspo-token-loss", user.gspo_token_loss), ("dcpo-clip-bounds", user.dcpo_bounds),
    ("dcpo-smooth-advantages", user.dcpo_smooth_advantages),
    ("dcpo-dual-clip-loss", user.dcpo_dual_clip_loss), ("dcpo-otm-loss", user.dcpo_otm_loss),
]


@pytest.mark.parametrize("name, candidate", PASSING, ids=[name for name, _ in PASSING])
def test_correct_user_implementation_passes(name, candidate):
    report = rlspec.check(name, candidate, max_examples=15)
    assert report.passed, str(report)


@pytest.mark.parametrize("call, message", [
    (lambda: grpo.group_advantages([[1.0]], 0.0), "at least 2 responses"),
    (lambda: grpo.group_advantages([[1.0, 0.0]], -1.0), "epsilon"),
    (lambda: grpo.dynamic_sampling_filter([[0.5, 1.0]]), "0 \\(wrong\\) or 1"),
    (lambda: grpo.overlong_penalty([3.5], 8, 2), "whole numbers"),
    (lambda: grpo.overlong_penalty([3], 2, 8), "cache_length <= max_length"),
    (lambda: grpo.dcpo_clip_bounds([0.5], 0.1, 0.2, 10.0), "<= 0"),
    (lambda: grpo.dcpo_clip_bounds([-1.0], 0.1, 0.2, 0.5), "max_ratio"),
    (lambda: grpo.grpo_loss([[0.0]], [[0.0]], [[0.0]], [1.0, 2.0], [[1]], 0.2, 0.04), "advantages"),
    (lambda: grpo.dapo_token_loss([[0.0]], [[0.0]], [1.0], [[0]], 0.2, 0.28), "no response token"),
    (lambda: grpo.dapo_token_loss([[0.0]], [[0.0]], [1.0], [[1]], 1.2, 0.28), "epsilon_low"),
    (lambda: grpo.gspo_token_loss([[0.0]], [[0.0]], [1.0], [[1]], 0.2, 0.2), "2-D"),
    (lambda: grpo.dcpo_smooth_advantages([[1.0, 0.0]], [1.5], [0.0], [0.0]), "whole numbers"),
    (lambda: grpo.dcpo_smooth_advantages([[1.0, 0.0]], [1], [0.0], [-0.5]), "previous_std"),
    (lambda: grpo.dcpo_smooth_advantages([[1.0, 0.0]], [1, 2], [0.0], [0.5]), "one per group"),
    (lambda: grpo.dcpo_dual_clip_loss([[0.0]], [[0.0]], [1.0], [[1]], 0.2, 0.2, 10.0, 1.0),
     "clip_ratio_c"),
])
def test_bad_input_gets_an_error_that_names_the_problem(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


# --------------------------------------------------------------------- each theorem test can fail

MUTANTS = {
    "test_group_advantages_match_the_exact_statistics":
        ("group_advantages", bugs.advantages_guard_on_computed_std),
    "test_group_advantages_are_centred_with_unit_sample_variance":
        ("group_advantages", bugs.advantages_population_std),
    "test_grpo_loss_and_gradient_match_the_closed_form": ("grpo_loss", bugs.grpo_kl_swapped),
    "test_dr_grpo_loss_and_gradient_match_the_closed_form":
        ("dr_grpo_loss", bugs.dr_grpo_summed_over_responses),
    "test_dapo_loss_and_gradient_match_the_closed_form": ("dapo_token_loss", bugs.dapo_epsilons_swapped),
    "test_gspo_loss_and_gradient_match_the_closed_form": ("gspo_loss", bugs.gspo_no_length_power),
    "test_gspo_token_loss_and_gradient_match_the_closed_form":
        ("gspo_token_loss", bugs.gspo_token_without_stop_gradient),
    "test_gspo_token_equals_gspo_when_each_response_has_one_advantage":
        ("gspo_token_loss", bugs.gspo_token_own_ratio),
    "test_overlong_penalty_matches_dapo_equation_13": ("overlong_penalty", bugs.overlong_no_floor),
    "test_dynamic_sampling_keeps_the_groups_that_have_a_gradient":
        ("dynamic_sampling_filter", bugs.filter_only_all_correct),
    "test_dcpo_bounds_match_the_roots_of_their_quadratics": ("dcpo_clip_bounds", bugs.dcpo_uncapped),
    "test_dcpo_smooth_advantages_match_the_exact_oracle":
        ("dcpo_smooth_advantages", bugs.dcpo_smooth_no_between_term),
    "test_dcpo_dual_clip_loss_and_gradient_match_the_closed_form":
        ("dcpo_dual_clip_loss", bugs.dcpo_no_dual_clip),
    "test_dcpo_otm_loss_and_gradient_match_the_closed_form":
        ("dcpo_otm_loss", bugs.dcpo_otm_per_response_mean),
}


def _numpy_output(function):
    def wrapped(*args, **kwargs):
        out = function(*args, **kwargs)
        return out.detach().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    return wrapped


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_tests_can_fail(test_name, monkeypatch):
    attribute, mutant = MUTANTS[test_name]
    loss = attribute.endswith("loss")
    monkeypatch.setattr(grpo, attribute, mutant if loss else _numpy_output(mutant))
    assert fails(globals()[test_name], accept=(AssertionError, InvalidInputError)), \
        f"{test_name} stayed green with {getattr(mutant, '__name__', mutant)} planted"
