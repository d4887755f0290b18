"""Loss aggregation: each mode's value and autograd gradient equal the exact weighted sum
and its weights; the weights are those of the table in ``rlspec.reference.loss_aggregation``;
and the length effects the papers describe hold exactly (which responses weigh what)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import bugs_rlhf as bugs
import rlspec
import user_implementations_rlhf as user
from rlspec.oracles.loss_aggregation import aggregate_exact
from rlspec.reference import loss_aggregation as aggregation
from rlspec.validation import InvalidInputError
from mutation import fails
from test_rlhf_ppo import _tolerance, autograd_value_and_gradient, fill, response_masks

FUNCTIONS = {
    "token-mean": "token_mean", "seq-mean-token-mean": "seq_mean_token_mean",
    "seq-mean-token-sum": "seq_mean_token_sum", "seq-mean-token-sum-norm": "seq_mean_token_sum_norm",
}


@st.composite
def loss_matrices(draw, contiguous=False):
    mask = draw(response_masks(max_rows=4, contiguous=contiguous))
    return fill(draw, mask, (1.0, -2.0, 0.5, 3.0, -0.25), (1e300, -1e300, 1e18)), mask


def _arguments(mode, loss, mask, normaliser=4.0):
    arguments = {"per_token_loss": loss, "mask": mask}
    if mode == "seq-mean-token-sum-norm":
        arguments["normaliser"] = normaliser
    return arguments


@pytest.mark.spec(
    "agg.seq-mean-token-mean",
    "agg.seq-mean-token-sum-norm",
    "agg.seq-mean-token-sum",
    "agg.token-mean",
)
@pytest.mark.parametrize("mode", sorted(FUNCTIONS))
@given(matrix=loss_matrices())
@example(matrix=(np.array([[1.0, 1e300, 1e300], [1.0, 1.0, 1.0]]), np.array([[1.0, 0, 0], [1, 1, 1]])))
def test_aggregate_and_its_gradient_are_the_exact_weighted_sum(mode, matrix):
    """Masked entries hold +-1e300 here: they must not leak in (1e300 would swamp any sum)."""
    loss, mask = matrix
    function = getattr(aggregation, FUNCTIONS[mode])
    value, gradient = autograd_value_and_gradient(function, _arguments(mode, loss, mask), "per_token_loss")
    expected = aggregate_exact(np.where(mask == 1, loss, 0.0), mask, mode, 4.0)
    assert abs(value - expected.value) <= _tolerance(mask.size, 3.0)
    np.testing.assert_allclose(gradient, expected.gradient, rtol=0, atol=_tolerance(mask.size, 1.0))


@pytest.mark.spec(
    "agg.seq-mean-token-mean",
    "agg.seq-mean-token-sum-norm",
    "agg.seq-mean-token-sum",
    "agg.token-mean",
)
@pytest.mark.parametrize("mode", sorted(FUNCTIONS))
@given(matrix=loss_matrices())
def test_effective_weights_are_the_gradient(mode, matrix):
    """effective_token_weights agrees with the oracle's rational weights (and hence with the
    autograd gradient of the previous test)."""
    _, mask = matrix
    expected = aggregate_exact(np.zeros_like(mask), mask, mode, 4.0).gradient
    np.testing.assert_allclose(aggregation.effective_token_weights(mask, mode, 4.0), expected,
                               rtol=0, atol=_tolerance(mask.size, 1.0))


@pytest.mark.spec(
    "agg.seq-mean-token-mean",
    "agg.seq-mean-token-sum-norm",
    "agg.seq-mean-token-sum",
    "agg.token-mean",
)
@given(loss_matrices())
def test_what_each_response_weighs_under_each_mode(matrix):
    """The total weight of response b (n_b tokens, N in all, B rows, constant C):
    token-mean n_b / N; seq-mean-token-mean 1 / B; seq-mean-token-sum n_b / B;
    seq-mean-token-sum-norm n_b / (B C).  Exactly, in rationals."""
    _, mask = matrix
    rows, lengths, total = mask.shape[0], mask.sum(axis=1).astype(int), int(mask.sum())
    expected = {
        "token-mean": [Fraction(n, total) for n in lengths],
        "seq-mean-token-mean": [Fraction(1, rows)] * rows,
        "seq-mean-token-sum": [Fraction(n, rows) for n in lengths],
        "seq-mean-token-sum-norm": [Fraction(n, rows * 4) for n in lengths],
    }
    for mode, per_response in expected.items():
        weights = aggregation.effective_token_weights(mask, mode, 4.0)
        assert [Fraction(w).limit_denominator(10 ** 6) for w in weights.sum(axis=1)] == per_response


@pytest.mark.spec("agg.seq-mean-token-mean", "agg.seq-mean-token-sum-norm", "agg.token-mean")
def test_length_bias_of_the_per_response_mean():
    """Dr. GRPO's point, exactly: two responses with the same negative advantage, of 2 and 8
    tokens.  Under seq-mean-token-mean each token of the long one weighs 1/16, of the short
    one 1/4, so lengthening a wrong answer dilutes its penalty; under token-mean every token
    weighs 1/10; under seq-mean-token-sum-norm (C = 8) every token weighs 1/16."""
    mask = np.array([[1, 1, 0, 0, 0, 0, 0, 0], [1] * 8], dtype=float)
    per_mode = {mode: aggregation.effective_token_weights(mask, mode, 8.0) for mode in FUNCTIONS}
    assert per_mode["seq-mean-token-mean"][0, 0] == 1 / 4 and per_mode["seq-mean-token-mean"][1, 0] == 1 / 16
    assert np.all(per_mode["token-mean"][mask == 1] == 1 / 10)
    assert np.all(per_mode["seq-mean-token-sum-norm"][mask == 1] == 1 / 16)


PASSING = [("token-mean", user.token_mean), ("seq-mean-token-mean", user.seq_mean_token_mean),
           ("seq-mean-token-sum", user.seq_mean_token_sum),
           ("seq-mean-token-sum-norm", user.seq_mean_token_sum_norm)]


@pytest.mark.parametrize("name, candidate", PASSING, ids=[name for name, _ in PASSING])
def test_correct_user_implementation_passes(name, candidate):
    report = rlspec.check(name, candidate, max_examples=15)
    assert report.passed, str(report)


@pytest.mark.parametrize("call, message", [
    (lambda: aggregation.token_mean([[1.0]], [[0]]), "no token"),
    (lambda: aggregation.seq_mean_token_mean([[1.0], [2.0]], [[1], [0]]), "row 1 has no"),
    (lambda: aggregation.seq_mean_token_sum_norm([[1.0]], [[1]], 0), "normaliser"),
    (lambda: aggregation.effective_token_weights([[1]], "sum"), "mode must be one of"),
    (lambda: aggregation.token_mean([[1.0, 2.0]], [[1]]), "shape"),
])
def test_bad_input_gets_an_error_that_names_the_problem(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


MUTANTS = {
    "token-mean": bugs.token_mean_batch_mean,
    "seq-mean-token-mean": bugs.seq_mean_as_token_mean,
    "seq-mean-token-sum": bugs.seq_sum_divided_by_count,
    "seq-mean-token-sum-norm": bugs.seq_sum_norm_summed,
}


@pytest.mark.parametrize("mode", sorted(MUTANTS))
def test_theorem_test_can_fail(mode, monkeypatch):
    mutant = MUTANTS[mode]

    monkeypatch.setattr(aggregation, FUNCTIONS[mode], mutant)
    assert fails(test_aggregate_and_its_gradient_are_the_exact_weighted_sum, mode,
                 accept=(AssertionError, InvalidInputError)), \
        f"the aggregate test for {mode} stayed green with {mutant.__name__} planted"
