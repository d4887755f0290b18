"""RLHF-PPO at the token level (seed 003, chapter 3): each reference function agrees with an
exact oracle on generated batches; each oracle agrees with a second method; the checks
accept correct user code and reject bad input with a message; and each theorem test goes
red with a catalogued bug planted in the reference (``test_theorem_tests_can_fail``).

Tolerances: a float64 reference that adds up n terms of size at most S is within
n * eps * S of the exact sum (each addition rounds once, relative error eps); exp and log
add a few ulps per term.  ``_tolerance`` takes SAFETY (16, ``rlspec.oracles.methods.accuracy``)
times that bound.
"""

import doctest

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.special import log_softmax

import rlspec
import user_implementations_rlhf as user
from mutation import fails
from rlspec.spec import registry
from rlspec.checks.batteries import BATTERIES
from rlspec.oracles.methods import accuracy
from rlspec.oracles import rlhf_ppo as oracle
from rlspec.reference import rlhf_ppo
from rlspec.validation import InvalidInputError

EPS = accuracy.EPS

#: The spec IDs of issue 5b; every one must be in the registry.
CHAPTER = {
    "rlhf.token-log-probs", "rlhf.token-rewards", "rlhf.masked-gae", "rlhf.actor-loss",
    "rlhf.critic-loss", "grpo.group-advantages", "grpo.objective", "grpo.dr-grpo-advantages",
    "grpo.dr-grpo-loss", "dapo.token-level-loss", "dapo.overlong-reward-shaping",
    "dapo.dynamic-sampling", "gspo.sequence-ratio", "gspo.token", "dcpo.dynamic-clipping",
    "dcpo.smooth-advantage-standardization", "dcpo.dual-clip-loss", "dcpo.otm-loss",
    "agg.token-mean", "agg.seq-mean-token-mean", "agg.seq-mean-token-sum",
    "agg.seq-mean-token-sum-norm",
}


def _tolerance(terms: int, scale: float) -> float:
    return accuracy.SAFETY * max(terms, 1) * EPS * max(1.0, scale)


# --------------------------------------------------------------------- shared strategies

@st.composite
def response_masks(draw, max_rows=3, max_columns=6, contiguous=True):
    """[B, T] 0/1 masks, one non-empty run per row (or any non-empty pattern)."""
    rows, columns = draw(st.integers(1, max_rows)), draw(st.integers(1, max_columns))
    mask = np.zeros((rows, columns))
    for b in range(rows):
        if contiguous:
            start = draw(st.integers(0, columns - 1))
            mask[b, start:start + draw(st.integers(1, columns - start))] = 1.0
        else:
            mask[b] = draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=columns, max_size=columns))
            mask[b, draw(st.integers(0, columns - 1))] = 1.0
    return mask


def fill(draw, mask, inside, outside=(-9.0, 7.5, 11.0)):
    """An array like ``mask``: ``inside`` values on the response, ``outside`` elsewhere."""
    size = mask.size
    inner = np.array(draw(st.lists(st.sampled_from(inside), min_size=size, max_size=size)))
    outer = np.array(draw(st.lists(st.sampled_from(outside), min_size=size, max_size=size)))
    return np.where(mask == 1.0, inner.reshape(mask.shape), outer.reshape(mask.shape))


#: Log-ratios kept away from log(1 +- eps) for eps in {0.1, 0.2, 0.28, 0.3}: no kink within
#: reach of rounding (or of gradcheck's finite-difference step).
LOG_RATIOS = (0.0, 0.05, -0.05, 0.1, -0.1, 0.3, -0.3, 0.7, -0.7, 1.5, -1.5)
OLD = (-2.5, -1.0, -0.25)
ADVANTAGES = (1.0, -1.0, 0.5, -2.0, 3.0, 0.0)


def leaf(array) -> torch.Tensor:
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def autograd_value_and_gradient(function, arguments: dict, name: str):
    """The loss and its gradient with respect to ``arguments[name]`` (made a leaf tensor)."""
    tensors = {key: (leaf(value) if key == name else torch.as_tensor(value))
               if isinstance(value, np.ndarray) else value for key, value in arguments.items()}
    loss = function(**tensors)
    (gradient,) = torch.autograd.grad(loss, tensors[name], allow_unused=True)
    gradient = np.zeros(arguments[name].shape) if gradient is None else gradient.numpy()
    return float(loss.detach()), gradient


def assert_within(gradient, expected, tolerance):
    """Every derivative inside its oracle interval [low, high], give or take ``tolerance``."""
    assert np.all(gradient >= expected.gradient_low - tolerance), (gradient, expected)
    assert np.all(gradient <= expected.gradient_high + tolerance), (gradient, expected)


@st.composite
def actor_batches(draw, clip_ranges=(0.2, 0.1, 0.3)):
    mask = draw(response_masks())
    old = fill(draw, mask, OLD, (2.0, -7.0))
    return {"log_probs": old + fill(draw, mask, LOG_RATIOS, (-9.0, 4.5)), "old_log_probs": old,
            "advantages": fill(draw, mask, ADVANTAGES), "action_mask": mask,
            "clip_range": draw(st.sampled_from(clip_ranges))}


@st.composite
def critic_batches(draw, clip_values=(0.2, 0.5, 0.25)):
    mask = draw(response_masks())
    grid = (0.0, 0.25, -0.5, 1.0, -1.25, 2.0)
    return {"values": fill(draw, mask, grid), "old_values": fill(draw, mask, grid),
            "returns": fill(draw, mask, grid), "action_mask": mask,
            "clip_range_value": draw(st.sampled_from(clip_values))}


@st.composite
def gae_batches(draw):
    mask = draw(response_masks())
    return {"rewards": fill(draw, mask, (0.0, 1.0, -0.5, 0.25, 2.0)),
            "values": fill(draw, mask, (0.5, -1.0, 0.0, 1.5, 0.25)), "action_mask": mask,
            "gamma": draw(st.sampled_from([1.0, 0.5, 0.9, 0.0])),
            "lam": draw(st.sampled_from([0.95, 0.5, 1.0, 0.0]))}


@st.composite
def reward_batches(draw):
    mask = draw(response_masks())
    return {"log_probs": fill(draw, mask, (-0.5, -1.25, -2.0)),
            "ref_log_probs": fill(draw, mask, (-0.5, -1.0, -3.0)),
            "reward_score": np.array(draw(st.lists(st.sampled_from([2.0, -3.0, 6.0, -8.0]),
                                                   min_size=mask.shape[0], max_size=mask.shape[0]))),
            "action_mask": mask, "kl_coef": draw(st.sampled_from([0.1, 0.5])),
            "clip_reward_value": draw(st.sampled_from([5.0, 1.0]))}


@st.composite
def token_rows(draw):
    rows, length, vocabulary = draw(st.integers(1, 2)), draw(st.integers(2, 5)), draw(st.integers(2, 4))
    logits = np.array(draw(st.lists(st.sampled_from([-2.0, 0.0, 0.75, 3.0, 40.0]),
                                    min_size=rows * length * vocabulary,
                                    max_size=rows * length * vocabulary))).reshape(rows, length, vocabulary)
    ids = np.array(draw(st.lists(st.integers(0, vocabulary - 1), min_size=rows * length,
                                 max_size=rows * length))).reshape(rows, length)
    return logits, ids


# --------------------------------------------------------------------- the chapter is complete

def test_the_rlhf_chapter_is_in_the_registry():
    ids = {entry.id for entry in registry.entries()}
    assert CHAPTER <= ids, sorted(CHAPTER - ids)
    for entry in registry.entries():
        if entry.id in CHAPTER:
            assert BATTERIES[entry.check].spec_id == entry.id


def test_docstring_examples_of_the_rlhf_modules_hold():
    from rlspec.reference import grpo, loss_aggregation
    for module in (rlhf_ppo, grpo, loss_aggregation):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, module.__name__


# --------------------------------------------------------------------- token log-probabilities

@pytest.mark.spec("rlhf.token-log-probs")
@given(token_rows())
@example((np.array([[[0.0, np.log(3.0)], [1000.0, 0.0]]]), np.array([[1, 0]])))
def test_token_log_probs_are_the_exact_shifted_log_softmax(rows):
    logits, ids = rows
    got = rlhf_ppo.token_log_probs(logits, ids)
    expected = oracle.token_log_probs_exact(logits, ids)
    # log-sum-exp over V terms of size <= 1 after the shift, plus one subtraction.
    np.testing.assert_allclose(got, expected, rtol=0,
                               atol=_tolerance(logits.shape[2] + 2, np.abs(logits).max()))


@pytest.mark.spec("rlhf.token-log-probs")
@given(token_rows())
def test_token_log_probs_oracle_agrees_with_scipy(rows):
    logits, ids = rows
    expected = np.take_along_axis(log_softmax(logits[:, :-1], axis=-1), ids[:, 1:, None], -1)[..., 0]
    np.testing.assert_allclose(oracle.token_log_probs_exact(logits, ids), expected, rtol=0,
                               atol=_tolerance(logits.shape[2] + 2, np.abs(logits).max()))


@pytest.mark.spec("rlhf.token-log-probs")
def test_token_log_probs_follow_the_language_model_token_by_token():
    """A row 'prompt + response' scored with the logits the enumerable language model uses
    at each prefix: column t is log pi(y_{t+1} | prompt, y_1..y_t), the model's own
    per-token log-probability of the response (rlspec.toy_mdps.language_model)."""
    lm = pytest.importorskip("rlspec.toy_mdps.language_model")
    rng = np.random.default_rng(5)
    model = lm.LanguageModel(rng.normal(size=(1, 3, 3)), max_length=2)  # 3 prefixes, V = 3
    for response in model.responses:
        prefixes = [response[:k] for k in range(len(response))]
        logits = np.zeros((1, len(response) + 1, 3))
        for k, prefix in enumerate(prefixes):  # position k (prompt is position 0) predicts y_{k+1}
            logits[0, k] = model.logits[0, model.prefix_index(prefix)]
        row = np.array([[0, *response]])  # a one-token prompt, then the response
        got = rlhf_ppo.token_log_probs(logits, row)[0]
        np.testing.assert_allclose(got, model.response_token_log_probs(0, response), atol=1e-12)


# --------------------------------------------------------------------- rewards

@pytest.mark.spec("rlhf.token-rewards")
@given(reward_batches())
def test_rewards_match_the_exact_kl_penalty_plus_clipped_score(batch):
    got = rlhf_ppo.kl_penalised_rewards(**batch)
    expected = oracle.kl_penalised_rewards_exact(**batch)
    np.testing.assert_allclose(got, expected, rtol=0, atol=_tolerance(3, np.abs(expected).max()))


@pytest.mark.spec("rlhf.token-rewards")
@given(reward_batches())
def test_the_score_is_paid_once_at_the_last_response_token(batch):
    """Removing the KL part leaves exactly clip(score) at each row's last response column."""
    without_kl = rlhf_ppo.kl_penalised_rewards(**{**batch, "kl_coef": 0.0})
    mask, clip = batch["action_mask"], batch["clip_reward_value"]
    for b, row in enumerate(mask):
        last = np.flatnonzero(row)[-1]
        expected = np.zeros(row.size)
        expected[last] = np.clip(batch["reward_score"][b], -clip, clip)
        assert np.array_equal(without_kl[b], expected)


# --------------------------------------------------------------------- GAE over the response

@pytest.mark.spec("rlhf.masked-gae")
@given(gae_batches())
@example({"rewards": np.array([[3.0, 0.0, 1.0, 4.0]]), "values": np.array([[9.0, 0.5, 0.25, 7.5]]),
          "action_mask": np.array([[0.0, 1.0, 1.0, 0.0]]), "gamma": 1.0, "lam": 0.5})
def test_masked_gae_matches_the_direct_sum(batch):
    got = rlhf_ppo.masked_gae(**batch)
    expected = oracle.masked_gae_exact(**batch)
    scale = np.abs(batch["rewards"]).max() + np.abs(batch["values"]).max()
    # T backward steps, each adding a rounding of relative size eps to sums of size <= 2 T scale.
    np.testing.assert_allclose(got, expected, rtol=0, atol=_tolerance(batch["rewards"].shape[1] ** 2, scale))


@pytest.mark.spec("rlhf.masked-gae")
@given(gae_batches())
def test_gae_oracles_agree_direct_sum_and_lambda_return(batch):
    assert np.array_equal(oracle.masked_gae_exact(**batch),
                          oracle.masked_gae_from_lambda_returns(**batch))  # both exact, rounded once


@pytest.mark.spec("rlhf.masked-gae")
@given(gae_batches(), st.data())
def test_masked_gae_ignores_every_value_off_the_response(batch, data):
    """Prompt and padding columns may hold anything: the advantages do not move."""
    noise = fill(data.draw, batch["action_mask"], (0.0,), (123.0, -50.0, 0.5))
    changed = {**batch, "rewards": batch["rewards"] + noise, "values": batch["values"] - noise}
    assert np.array_equal(rlhf_ppo.masked_gae(**batch), rlhf_ppo.masked_gae(**changed))


# --------------------------------------------------------------------- actor and critic losses

@pytest.mark.spec("rlhf.actor-loss")
@given(actor_batches())
def test_actor_loss_and_gradient_match_the_closed_form(batch):
    value, gradient = autograd_value_and_gradient(rlhf_ppo.actor_clip_loss, batch, "log_probs")
    expected = oracle.actor_loss_exact(**batch)
    tolerance = _tolerance(int(batch["action_mask"].sum()) + 4, 5.0 * 3.0)  # |rho A| <= e^1.5 * 3
    assert abs(value - expected.value) <= tolerance
    assert_within(gradient, expected, tolerance)


@pytest.mark.spec("rlhf.actor-loss")
@given(actor_batches())
def test_actor_loss_passes_gradcheck(batch):
    arguments = {key: torch.as_tensor(value) if isinstance(value, np.ndarray) else value
                 for key, value in batch.items()}
    log_probs = arguments.pop("log_probs").clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda lp: rlhf_ppo.actor_clip_loss(lp, **arguments),
                                    (log_probs,), eps=1e-6, atol=1e-7)


@pytest.mark.spec("rlhf.actor-loss")
@given(st.sampled_from(LOG_RATIOS), st.sampled_from(ADVANTAGES), st.sampled_from([0.1, 0.2, 0.3]),
       st.sampled_from([0.2, 0.28, 0.5]))
def test_clipped_surrogate_by_cases_equals_spinning_up_identity(log_ratio, advantage, low, high):
    first = oracle.clipped_surrogate_exact(log_ratio, advantage, 1 - low, 1 + high)
    second = oracle.clipped_surrogate_by_identity(log_ratio, advantage, 1 - low, 1 + high)
    assert all(abs(a - b) <= 1e-30 for a, b in zip(first, second))


def central_difference(loss, batch, name, index, h):
    """(f(x + h e) - f(x - h e)) / (the step actually taken) and a bound on its rounding:
    each value is correctly rounded (an exact or 40-digit oracle), so off by eps |f|."""
    up, down = batch[name].copy(), batch[name].copy()
    up[index] += h
    down[index] -= h
    high, low = loss(**{**batch, name: up}).value, loss(**{**batch, name: down}).value
    step = up[index] - down[index]
    return (high - low) / step, 2 * EPS * max(abs(high), abs(low), 1.0) / step


@pytest.mark.spec("rlhf.actor-loss")
@given(actor_batches())
def test_actor_loss_oracle_gradient_matches_central_differences(batch):
    expected = oracle.actor_loss_exact(**batch)
    h = 1e-6  # the log-ratios lie >= 4e-3 from any kink, so both steps stay on one branch
    for index in zip(*np.nonzero(batch["action_mask"])):
        slope, rounding = central_difference(oracle.actor_loss_exact, batch, "log_probs", index, h)
        # truncation h^2 |f'''| / 6, with |f'''| = |rho A| / N <= e^1.5 * 3
        assert abs(slope - expected.gradient[index]) <= rounding + h * h * 14.0 / 6 + 1e-15


@pytest.mark.spec("rlhf.critic-loss")
@given(critic_batches())
def test_critic_loss_and_gradient_match_the_exact_rational_answer(batch):
    value, gradient = autograd_value_and_gradient(rlhf_ppo.critic_clip_loss, batch, "values")
    expected = oracle.critic_loss_exact(**batch)
    tolerance = _tolerance(int(batch["action_mask"].sum()) + 4, 16.0)  # squares of |x| <= 4
    assert abs(value - expected.value) <= tolerance
    assert_within(gradient, expected, tolerance)


@pytest.mark.spec("rlhf.critic-loss")
@given(critic_batches(clip_values=(0.2,)))
def test_critic_loss_oracle_gradient_matches_central_differences(batch):
    """With c = 0.2 no clip boundary and no tie of the max lies on the 1/4 grid of values."""
    expected = oracle.critic_loss_exact(**batch)
    h = 2.0 ** -20
    for index in zip(*np.nonzero(batch["action_mask"])):
        slope, rounding = central_difference(oracle.critic_loss_exact, batch, "values", index, h)
        assert expected.gradient_low[index] == expected.gradient_high[index]
        # the loss is piecewise quadratic: central differences are exact but for rounding
        assert abs(slope - expected.gradient[index]) <= rounding


# --------------------------------------------------------------------- the checks

PASSING = [
    ("token-log-probs", user.gather_log_probs), ("kl-penalised-rewards", user.compute_rewards),
    ("masked-gae", user.gae_over_response), ("actor-clip-loss", user.actor_loss),
    ("critic-clip-loss", user.critic_loss),
]


@pytest.mark.parametrize("name, candidate", PASSING, ids=[name for name, _ in PASSING])
def test_correct_user_implementation_passes(name, candidate):
    report = rlspec.check(name, candidate, max_examples=15)
    assert report.passed, str(report)


def test_a_numpy_loss_is_told_that_it_cannot_be_differentiated():
    def numpy_actor_loss(log_probs, old_log_probs, advantages, action_mask, clip_range):
        return user.actor_loss(log_probs.detach(), old_log_probs, advantages, action_mask,
                               clip_range).item()
    report = rlspec.check("actor-clip-loss", numpy_actor_loss, max_examples=10)
    assert not report.passed
    assert "autograd graph" in report.counterexample["problem"]


@pytest.mark.parametrize("call, message", [
    (lambda: rlhf_ppo.masked_gae([[1.0, 1.0]], [[0.0, 0.0]], [[1, 0, 1]], 1.0, 1.0), "must have shape"),
    (lambda: rlhf_ppo.masked_gae([[1.0, 1.0, 1.0]], [[0.0] * 3], [[1, 0, 1]], 1.0, 1.0), "contiguous"),
    (lambda: rlhf_ppo.masked_gae([[1.0]], [[0.0]], [[0.5]], 1.0, 1.0), "only 0 and 1"),
    (lambda: rlhf_ppo.masked_gae([[1.0]], [[0.0]], [[1]], 1.5, 1.0), "gamma"),
    (lambda: rlhf_ppo.masked_gae([[1.0]], [[0.0]], [[1]], 1.0, 2.0), "lam"),
    (lambda: rlhf_ppo.kl_penalised_rewards([[0.0]], [[0.0]], [1.0], [[0]], 0.1, 5.0), "no response token"),
    (lambda: rlhf_ppo.kl_penalised_rewards([[0.0]], [[0.0]], [1.0, 2.0], [[1]], 0.1, 5.0), "reward_score"),
    (lambda: rlhf_ppo.kl_penalised_rewards([[0.0]], [[np.nan]], [1.0], [[1]], 0.1, 5.0), "NaN"),
    (lambda: rlhf_ppo.token_log_probs(np.zeros((1, 2, 3)), [[0, 3]]), "vocabulary"),
    (lambda: rlhf_ppo.token_log_probs(np.zeros((1, 1, 3)), [[0]]), "at least 2 tokens"),
    (lambda: rlhf_ppo.actor_clip_loss(torch.zeros(1, 2, dtype=torch.float32), [[0.0, 0.0]],
                                      [[1.0, 1.0]], [[1, 1]], 0.2), "float64"),
    (lambda: rlhf_ppo.actor_clip_loss([[0.0]], [[0.0]], [[1.0]], [[0]], 0.2), "no response token"),
    (lambda: rlhf_ppo.critic_clip_loss([[0.0]], [[0.0]], [[1.0]], [[1]], -0.2), "clip_range_value"),
])
def test_bad_input_gets_an_error_that_names_the_problem(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()


# --------------------------------------------------------------------- each theorem test can fail

import bugs_rlhf as bugs  # noqa: E402  (the catalogue, planted below)


def _numpy(function):
    """A catalogued bug returning torch, wrapped to return numpy as the reference does."""
    def wrapped(*args, **kwargs):
        out = function(*args, **kwargs)
        return out.detach().numpy() if isinstance(out, torch.Tensor) else out
    return wrapped


MUTANTS = {
    "test_token_log_probs_are_the_exact_shifted_log_softmax":
        ("token_log_probs", _numpy(bugs.log_probs_unshifted)),
    "test_rewards_match_the_exact_kl_penalty_plus_clipped_score":
        ("kl_penalised_rewards", _numpy(bugs.rewards_score_one_past_the_end)),
    "test_the_score_is_paid_once_at_the_last_response_token":
        ("kl_penalised_rewards", _numpy(bugs.rewards_score_at_row_end)),
    "test_masked_gae_matches_the_direct_sum": ("masked_gae", _numpy(bugs.gae_bootstraps_from_padding)),
    "test_masked_gae_ignores_every_value_off_the_response":
        ("masked_gae", _numpy(bugs.gae_bootstraps_from_padding)),
    "test_actor_loss_and_gradient_match_the_closed_form":
        ("actor_clip_loss", bugs.actor_min_instead_of_max),
    "test_critic_loss_and_gradient_match_the_exact_rational_answer":
        ("critic_clip_loss", bugs.critic_clips_around_new_values),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_tests_can_fail(test_name, monkeypatch):
    attribute, mutant = MUTANTS[test_name]
    monkeypatch.setattr(rlhf_ppo, attribute, mutant)
    assert fails(globals()[test_name], accept=(AssertionError, InvalidInputError)), \
        f"{test_name} stayed green with {getattr(mutant, '__name__', mutant)} planted"


@pytest.mark.spec("rlhf.masked-gae")
@given(gae_batches())
def test_masked_gae_is_segment_gae_on_each_response(batch):
    """Cross-check with the GAE chapter (rlspec.reference.gae): each row's response is one
    episode piece that terminates at its last token, with next_values the following token's
    value; the other columns are 0."""
    gae = pytest.importorskip("rlspec.reference.gae")
    ours = rlhf_ppo.masked_gae(**batch)
    for b, row in enumerate(batch["action_mask"]):
        columns = np.flatnonzero(row)
        values = batch["values"][b, columns]
        next_values = np.append(values[1:], 0.0)
        terminated = np.zeros(columns.size, dtype=bool)
        terminated[-1] = True
        theirs = gae.generalized_advantage_estimation(
            batch["rewards"][b, columns], values, next_values, terminated,
            np.zeros(columns.size, dtype=bool), batch["gamma"], batch["lam"])
        np.testing.assert_allclose(ours[b, columns], theirs, rtol=0, atol=_tolerance(
            columns.size ** 2, np.abs(batch["rewards"]).max() + np.abs(batch["values"]).max()))
        assert np.all(ours[b, row == 0] == 0.0)
