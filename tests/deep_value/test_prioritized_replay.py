"""Prioritized experience replay: probabilities, weights, the beta schedule and the sum tree,
checked against mpmath (50 digits), exact rationals and exact integration over the uniform
draw; one chi-square test with real random draws; each main test shown able to fail.

Tolerances: P(i) = p^alpha / sum p^alpha in float64 rounds p^alpha (pow is within 1 ulp),
the sum (N additions) and one division, so its relative error is below (N + 2) eps;
SAFETY (16) times that covers it.  The weights add one more pow and one division.
"""

from fractions import Fraction

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

import rlspec
from rlspec.oracles.methods import accuracy
from rlspec.oracles import prioritized_replay as oracle
from rlspec.reference import prioritized_replay as per
from rlspec.toy_mdps import strategies
from rlspec.validation import InvalidInputError

import bugs_deep_value as bugs
import user_implementations_deep_value as user
from mutation import fails

EPS, SAFETY = accuracy.EPS, accuracy.SAFETY
alphas = st.sampled_from([0.6, 0.0, 1.0, 0.5, 0.7, 2.0])
betas = st.sampled_from([0.4, 0.0, 1.0, 0.5, 0.7])


def td_errors(bound=4, denominator=2):
    return st.integers(1, 6).flatmap(lambda n: strategies.reward_tables((n,), bound, denominator))


def _relative(size) -> float:
    return SAFETY * (size + 4) * EPS


# ------------------------------------------------------------------------ probabilities

@pytest.mark.spec("per.proportional-priority")
@given(td_errors(), alphas, st.sampled_from([0.5, 0.01, 1.0, 1e-6]))
def test_proportional_probabilities_match_the_precise_oracle(errors, alpha, epsilon):
    got = per.proportional_probabilities(errors, alpha, epsilon)
    precise = oracle.proportional_probabilities_precise(errors, alpha, epsilon)
    np.testing.assert_allclose(got, precise, rtol=_relative(errors.size), atol=0)


@pytest.mark.spec("per.proportional-priority", "per.rank-priority")
@given(td_errors(), st.sampled_from([0, 1, 2]), st.sampled_from([0.5, 1.0, 0.25]))
def test_probability_oracle_agrees_with_exact_rationals(errors, alpha, epsilon):
    """For integer alpha, P(i) is rational: exact Fractions are a second oracle for both the
    proportional and the rank-based mpmath oracles (which must agree to float rounding)."""
    priorities = [abs(Fraction(float(d))) + Fraction(epsilon) for d in errors]
    powered = [p ** alpha for p in priorities]
    exact = [float(p / sum(powered)) for p in powered]
    np.testing.assert_allclose(oracle.proportional_probabilities_precise(errors, alpha, epsilon),
                               exact, rtol=2 * EPS, atol=0)
    by_rank = [Fraction(1, rank) ** alpha for rank in range(1, errors.size + 1)]
    exact_by_rank = [float(p / sum(by_rank)) for p in by_rank]
    for members, probabilities in oracle.rank_based_probabilities_by_group(errors, alpha):
        first = 1 + int(np.sum(np.abs(errors) > abs(errors[members[0]])))
        np.testing.assert_allclose(probabilities, exact_by_rank[first - 1:first - 1 + len(members)],
                                   rtol=2 * EPS, atol=0)


@pytest.mark.spec("per.rank-priority")
@given(td_errors(bound=3, denominator=1), alphas)
def test_rank_based_probabilities_match_the_precise_oracle(errors, alpha):
    got = per.rank_based_probabilities(errors, alpha)
    for members, probabilities in oracle.rank_based_probabilities_by_group(errors, alpha):
        np.testing.assert_allclose(np.sort(got[members]), np.sort(probabilities),
                                   rtol=_relative(errors.size), atol=0)
    # Rank 1 (the largest |delta|) is the most likely, whenever alpha > 0.
    if alpha > 0:
        assert np.argmax(got) in np.flatnonzero(np.abs(errors) == np.abs(errors).max())


# ------------------------------------------------------------------------ weights

@st.composite
def weight_inputs(draw):
    size = draw(st.integers(1, 6))
    priorities = np.array(draw(st.lists(st.integers(1, 16), min_size=size, max_size=size))) / 4.0
    indices = np.array(draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=5)), dtype=np.int64)
    return priorities, indices, draw(alphas), draw(betas)


@pytest.mark.spec("per.importance-weights")
@given(weight_inputs())
def test_importance_weights_match_the_precise_oracle(inputs):
    got = per.importance_weights(*inputs)
    np.testing.assert_allclose(got, oracle.importance_weights_precise(*inputs),
                               rtol=2 * _relative(inputs[0].size), atol=0)


@pytest.mark.spec("per.importance-weights")
@given(weight_inputs())
def test_normalised_weights_are_at_most_one_and_depend_on_alpha_beta_only(inputs):
    """0 < w <= 1, the least likely transition has weight 1, and w = (p_j / min p)^(-alpha beta)."""
    priorities, indices, alpha, beta = inputs
    weights = per.importance_weights(priorities, indices, alpha, beta)
    tolerance = 2 * _relative(priorities.size)
    assert np.all(weights > 0) and np.all(weights <= 1 + tolerance)
    least = int(np.argmin(priorities))
    assert per.importance_weights(priorities, [least], alpha, beta)[0] == pytest.approx(1.0, rel=tolerance)
    closed_form = (priorities[indices] / priorities.min()) ** (-alpha * beta)
    np.testing.assert_allclose(weights, closed_form, rtol=tolerance, atol=0)


# ------------------------------------------------------------------------ beta schedule

@pytest.mark.spec("per.beta-schedule")
@given(st.integers(1, 60).flatmap(lambda total: st.tuples(st.integers(0, total + 5), st.just(total))),
       st.sampled_from([0.4, 0.0, 0.5, 0.6, 1.0]))
def test_beta_schedule_matches_the_exact_schedule(step_and_total, beta_start):
    step, total = step_and_total
    got = per.linear_beta_schedule(step, total, beta_start)
    exact = oracle.beta_schedule_exact(step, total, beta_start)
    assert abs(Fraction(got) - exact) <= 4 * EPS
    assert got <= 1.0
    if step >= total - 1:
        assert got == 1.0  # exactly 1 from the last step on


@pytest.mark.spec("per.beta-schedule")
@pytest.mark.parametrize("total", [1, 2, 3, 7, 100])
@pytest.mark.parametrize("beta_start", [0.4, 0.6, 0.0, 1.0])
def test_beta_schedule_oracles_agree(total, beta_start):
    for step in range(total + 3):
        assert oracle.beta_schedule_exact(step, total, beta_start) == \
            oracle.beta_schedule_by_increments(step, total, beta_start)
    assert oracle.beta_schedule_exact(0, total, beta_start) == (Fraction(beta_start) if total > 1 else 1)
    assert oracle.beta_schedule_exact(total - 1, total, beta_start) == 1


# ------------------------------------------------------------------------ sum tree

@st.composite
def trees(draw, positive_total=True):
    size = draw(st.integers(1, 9))
    denominator = draw(st.sampled_from([1, 2, 4]))
    priorities = np.array(draw(st.lists(st.integers(0, 6), min_size=size, max_size=size))) / denominator
    count = draw(st.integers(0, 4))
    indices = np.array(draw(st.lists(st.integers(0, size - 1), min_size=count, max_size=count)),
                       dtype=np.int64)
    values = np.array(draw(st.lists(st.integers(0, 6), min_size=count, max_size=count))) / denominator
    final = priorities.copy()
    for index, value in zip(indices, values):  # in order: a later update of a leaf wins
        final[index] = value
    if positive_total and final.sum() == 0:
        priorities[-1] += 1.0
        values = np.where(indices == size - 1, values + 1.0, values)
        final[-1] += 1.0
    return priorities, indices, values, final


@pytest.mark.spec("per.sum-tree")
@given(trees(), st.lists(st.integers(0, 1023), max_size=6))
def test_sum_tree_returns_the_prefix_sum_leaf(tree, fractions_of_total):
    priorities, indices, values, final = tree
    _, middles, boundaries = oracle.sampling_grid(final)
    draws = np.concatenate([middles, boundaries, np.array(fractions_of_total) / 1024 * final.sum()])
    got = per.sum_tree_sample(priorities, indices, values, draws)
    expected = [oracle.prefix_sum_leaf_exact(final, u) for u in draws]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.spec("per.sum-tree")
@given(trees())
def test_sum_tree_sampling_measure_is_exactly_the_priorities(tree):
    """Exact integration over u: the set of draws mapped to leaf i has length p_i."""
    priorities, indices, values, final = tree
    cell, middles, boundaries = oracle.sampling_grid(final)
    got = per.sum_tree_sample(priorities, indices, values, middles)
    assert np.all((got >= 0) & (got < final.size)), got
    assert oracle.leaf_measures(final.size, cell, got) == [Fraction(p) for p in final]
    # A zero-priority leaf is never returned, not even at a boundary (u = 0 included).
    at_boundaries = per.sum_tree_sample(priorities, indices, values, boundaries)
    assert np.all(final[at_boundaries] > 0)


def test_a_flat_array_sum_tree_samples_exactly_in_another_order():
    """The popular 2N - 1 layout (tests/support/user_implementations_deep_value.py) visits the leaves
    of a 3-leaf tree in the order 1, 2, 0: not the prefix-sum order, yet the same measure;
    which is why the check judges the distribution, not the layout."""
    priorities = np.array([1.0, 2.0, 3.0])
    cell, middles, _ = oracle.sampling_grid(priorities)
    flat = user.sum_tree_flat_layout(priorities, [], [], middles)
    ours = per.sum_tree_sample(priorities, [], [], middles)
    assert not np.array_equal(flat, ours)
    assert oracle.leaf_measures(3, cell, flat) == oracle.leaf_measures(3, cell, ours) == [1, 2, 3]


@pytest.mark.spec("per.sum-tree")
@given(trees(positive_total=False), st.lists(st.tuples(st.integers(0, 8), st.integers(0, 24)), max_size=12))
def test_sum_tree_inner_nodes_are_the_sums_of_their_children(tree, updates):
    priorities = tree[0]
    sum_tree = per.SumTree(priorities.size)
    for index, priority in enumerate(priorities):
        sum_tree.update(index, float(priority))
    for index, quarters in updates:
        sum_tree.update(index % priorities.size, quarters / 4)
        inner = np.arange(1, sum_tree.leaves)
        np.testing.assert_array_equal(sum_tree.nodes[inner],
                                      sum_tree.nodes[2 * inner] + sum_tree.nodes[2 * inner + 1])
    leaves = sum_tree.nodes[sum_tree.leaves:sum_tree.leaves + priorities.size]
    assert sum_tree.total == sum(Fraction(p) for p in leaves)  # dyadic: the sums are exact


@pytest.mark.spec("per.sum-tree")
@given(trees(), st.lists(st.integers(0, 1023), min_size=1, max_size=8))
def test_prefix_sum_oracles_agree(tree, fractions_of_total):
    """The linear scan against a binary search (numpy.searchsorted) of the cumulative sums,
    and against the admissible sets."""
    final = tree[3]
    cumulative = np.cumsum(final)  # dyadic multiples: exact
    for u in np.array(fractions_of_total) / 1024 * final.sum():
        leaf = oracle.prefix_sum_leaf_exact(final, u)
        assert leaf == int(np.searchsorted(cumulative, u, side="right"))
        assert leaf in oracle.admissible_leaves(final, u)


#: Chi-square goodness of fit: reject at p-value < FALSE_ALARM_RATE.  With a correct sampler
#: this test fails with probability 1e-3 over seeds; the seed is fixed, so the outcome is
#: fixed too (and was checked to pass).  20 000 draws over 10 leaves give every expected count
#: above 100, well inside the chi-square approximation.
FALSE_ALARM_RATE = 1e-3
SEED, DRAWS = 20240611, 20_000


@pytest.mark.spec("per.sum-tree")
def test_sum_tree_sample_frequencies_pass_a_chi_square_test():
    """Real use: non-dyadic priorities (|delta| + eps)^alpha and float uniform draws."""
    errors = np.array([0.3, -1.7, 0.0, 2.2, 0.9, -0.4, 1.1, 0.05, -2.9, 0.6])
    initial = per.proportional_probabilities(np.ones(10), 0.6, 0.01)  # all equal at first
    probabilities = per.proportional_probabilities(errors, 0.6, 0.01)
    # Priorities are updated after being sampled: start equal, then set the new ones.
    draws = np.random.default_rng(SEED).random(DRAWS)
    leaves = per.sum_tree_sample(initial, np.arange(10), probabilities, draws * probabilities.sum())
    counts = np.bincount(leaves, minlength=10)
    _, p_value = scipy.stats.chisquare(counts, DRAWS * probabilities / probabilities.sum())
    assert p_value > FALSE_ALARM_RATE, (counts.tolist(), p_value)


# ------------------------------------------------------------------------ theorem tests can fail

MUTANTS = {
    "test_proportional_probabilities_match_the_precise_oracle":
        ("proportional_probabilities", bugs.proportional_epsilon_outside),
    "test_rank_based_probabilities_match_the_precise_oracle": ("rank_based_probabilities", bugs.rank_ascending),
    "test_importance_weights_match_the_precise_oracle": ("importance_weights", bugs.weights_batch_max),
    "test_normalised_weights_are_at_most_one_and_depend_on_alpha_beta_only":
        ("importance_weights", bugs.weights_unnormalised),
    "test_beta_schedule_matches_the_exact_schedule": ("linear_beta_schedule", bugs.beta_never_reaches_one),
    "test_sum_tree_returns_the_prefix_sum_leaf": ("sum_tree_sample", bugs.tree_off_by_one),
    "test_sum_tree_sampling_measure_is_exactly_the_priorities": ("sum_tree_sample", bugs.tree_stale_sums),
    "test_sum_tree_sample_frequencies_pass_a_chi_square_test": ("sum_tree_sample", bugs.tree_stale_sums),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, planted = MUTANTS[test_name]
    monkeypatch.setattr(per, attribute, planted)
    assert fails(globals()[test_name]), \
        f"{test_name} stayed green with {planted.__name__} planted as {attribute}"


# ------------------------------------------------------------------------ user code, bad input

@pytest.mark.parametrize("name, candidate", [
    ("per-proportional-probabilities", user.proportional_vectorised),
    ("per-rank-probabilities", user.rank_based_with_scipy),
    ("per-importance-weights", user.weights_baselines_style),
    ("per-beta-schedule", user.beta_by_fraction),
    ("sum-tree-sample", user.sum_tree_flat_layout),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementations_pass(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


@pytest.mark.parametrize("call, message", [
    (lambda: per.proportional_probabilities([0.0, 0.0], 0.5, 0.0), "every priority is 0"),
    (lambda: per.proportional_probabilities([1.0], -1.0, 0.1), "alpha must be a finite number >= 0"),
    (lambda: per.rank_based_probabilities([], 0.5), "td_errors is empty"),
    (lambda: per.importance_weights([1.0, 0.0], [0], 1.0, 1.0), "priorities must be a non-empty array of positive"),
    (lambda: per.importance_weights([1.0, 2.0], [2], 1.0, 1.0), r"indices must lie in range\(2\)"),
    (lambda: per.importance_weights([1.0, 2.0], [0], 1.0, 1.5), r"beta must lie in \[0, 1\]"),
    (lambda: per.linear_beta_schedule(-1, 10, 0.4), "step must be an integer >= 0"),
    (lambda: per.linear_beta_schedule(0, 0, 0.4), "total_steps must be an integer >= 1"),
    (lambda: per.sum_tree_sample([1.0, 2.0], [], [], [3.0]), r"a draw must lie in \[0, total\)"),
    (lambda: per.sum_tree_sample([1.0, 2.0], [5], [1.0], [0.5]), r"leaf index must lie in range\(2\)"),
    (lambda: per.sum_tree_sample([1.0, -2.0], [], [], [0.5]), "a priority must be a finite number >= 0"),
], ids=["zero", "alpha", "empty", "zero-priority", "index", "beta", "step", "total", "draw",
        "update-index", "negative"])
def test_bad_input_is_named(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()
