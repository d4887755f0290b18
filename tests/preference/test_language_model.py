"""The enumerable language model: its bookkeeping, its batches and its exact oracles.

Every statement is checked against a second computation: the reference's per-response sums
against the oracle's forward pass over the prefix tree and its product of probabilities, the
KL by enumeration against the KL by the chain rule.  Tolerances: all quantities are O(1)
sums of at most 15 terms of O(1) log-probabilities; float64 rounding contributes a few
ulps per term, so 1e-12 absolute leaves three orders of magnitude of room and still catches
any real error (the catalogued bugs are off by 1e-2 or more).
"""

import doctest

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rlspec.spec import registry
from rlspec.oracles import dpo as oracle
from rlspec.reference import dpo
from rlspec.toy_mdps import language_model as toy
from rlspec.toy_mdps.language_model import EOS, InvalidLanguageModelError, LanguageModel

import bugs_preference as bugs
import user_implementations_preference as user

TOLERANCE = 1e-12

#: The spec IDs of issue 5a; test_spec.py checks each entry's links, this that none is missing.
CHAPTER = {
    "rm.bradley-terry-loss", "rm.population-minimiser", "dpo.kl-regularised-optimum",
    "dpo.population-minimiser", "dpo.loss", "dpo.gradient", "dpo.implicit-reward", "dpo.ipo",
    "dpo.hinge", "dpo.label-smoothing", "kl.k1", "kl.k2", "kl.k3", "kl.estimator-bias",
    "kl.estimator-loss-gradient", "lm.sequence-log-prob",
}


def test_the_preference_chapter_is_in_the_registry():
    assert CHAPTER <= {entry.id for entry in registry.entries()}


def test_docstring_examples_hold():
    from rlspec.reference import kl_estimators, reward_model
    for module in (toy, dpo, reward_model, kl_estimators):
        assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("vocabulary, length", [(2, 1), (2, 3), (3, 2), (3, 3), (4, 2)])
def test_prefix_and_response_counts(vocabulary, length):
    m = vocabulary - 1
    prefixes = toy.enumerate_prefixes(vocabulary, length)
    responses = toy.enumerate_responses(vocabulary, length)
    assert len(prefixes) == sum(m ** k for k in range(length))
    assert len(responses) == len(prefixes) + m ** length
    assert len(set(responses)) == len(responses)
    for response in responses:
        assert response[-1] == EOS or len(response) == length
        assert EOS not in response[:-1]


@pytest.mark.spec("lm.sequence-log-prob")
@given(toy.language_models())
def test_response_probabilities_sum_to_one(model):
    by_reference = model.response_probabilities()
    assert np.allclose(by_reference.sum(axis=1), 1.0, rtol=0, atol=TOLERANCE)
    by_tree = oracle.response_log_probs_by_tree(model)
    assert np.max(np.abs(by_tree - model.response_log_probs())) <= TOLERANCE


@pytest.mark.spec("lm.sequence-log-prob")
@given(toy.language_models(), st.data())
def test_sequence_log_probs_agree_three_ways(model, data):
    """The model's own batch log-probs, the reference (masked sum of log-softmax) and the
    oracle (log of a product at 50 digits) agree, on batches padded with PAD = EOS."""
    n = data.draw(st.integers(1, 4))
    prompts = np.array(data.draw(st.lists(st.integers(0, model.n_prompts - 1), min_size=n,
                                          max_size=n)))
    chosen = data.draw(st.lists(st.integers(0, model.n_responses - 1), min_size=n, max_size=n))
    tokens, mask = toy.pad_responses([model.responses[i] for i in chosen], model.max_length)
    indices = model.prefix_indices(tokens, mask)
    logits = model.logits[prompts[:, None], indices]
    expected = model.response_log_probs()[prompts, chosen]
    assert np.max(np.abs(model.sequence_log_probs(prompts, tokens, mask) - expected)) <= TOLERANCE
    assert np.max(np.abs(dpo.sequence_log_probs(logits, tokens, mask) - expected)) <= TOLERANCE
    assert np.max(np.abs(oracle.sequence_log_probs(logits, tokens, mask) - expected)) <= TOLERANCE


@pytest.mark.spec("lm.sequence-log-prob")
def test_torch_token_log_probs_match_and_pass_gradcheck():
    model = LanguageModel(np.random.default_rng(3).normal(size=(2, 7, 3)), max_length=3)
    responses = [model.responses[i] for i in (0, 4, 14, 9)]
    prompts = np.array([0, 1, 1, 0])
    tokens, mask = toy.pad_responses(responses, model.max_length)
    logits = torch.tensor(model.logits, requires_grad=True)
    got = toy.torch_token_log_probs(model, logits, prompts, tokens, mask)
    assert np.max(np.abs(got.detach().numpy() - model.token_log_probs(prompts, tokens, mask))) \
        <= TOLERANCE
    assert torch.autograd.gradcheck(
        lambda table: toy.torch_token_log_probs(model, table, prompts, tokens, mask).sum(1),
        (logits,))


@given(toy.language_models())
def test_from_response_probabilities_reproduces_the_distribution(model):
    probabilities = model.response_probabilities()
    rebuilt = LanguageModel.from_response_probabilities(probabilities, model.vocabulary_size,
                                                        model.max_length)
    assert np.max(np.abs(rebuilt.response_probabilities() - probabilities)) <= TOLERANCE


@pytest.mark.spec("dpo.kl-regularised-optimum")
@given(toy.language_model_pairs())
def test_kl_by_enumeration_equals_kl_by_chain_rule(pair):
    policy, reference = pair
    whole = oracle.kl_between_models(policy, reference)
    chained = oracle.kl_between_models_by_chain_rule(policy, reference)
    assert np.max(np.abs(whole - chained)) <= TOLERANCE
    assert (whole >= -TOLERANCE).all()
    assert np.allclose(oracle.kl_between_models(policy, policy), 0.0, atol=TOLERANCE)


@given(toy.language_models(), st.data())
def test_preference_pair_distribution_is_bradley_terry(model, data):
    rewards = data.draw(toy.reward_tables(model))
    weights = toy.preference_pair_distribution(model, rewards)
    assert abs(weights.sum() - 1.0) <= TOLERANCE
    # The label splits each unordered pair by sigmoid: w_ij / (w_ij + w_ji) = sigma(r_i - r_j).
    total = weights + weights.transpose(0, 2, 1)
    assert np.allclose(weights / total, toy.preference_probabilities(rewards), atol=TOLERANCE)


def test_sampled_preferences_follow_the_pair_distribution():
    """20000 draws, one fixed seed: each cell's frequency within 5 standard errors
    (sqrt(p (1 - p) / n) <= 0.0036) of its probability."""
    model = LanguageModel(np.array([[[0.5, 0.0]], [[0.0, 1.0]]]), max_length=1)
    rewards = np.array([[1.0, 0.0], [0.0, 2.0]])
    prompts, chosen, rejected = toy.sample_preferences(model, rewards, 20000,
                                                       np.random.default_rng(0))
    counts = np.zeros((2, 2, 2))
    np.add.at(counts, (prompts, chosen, rejected), 1)
    assert np.max(np.abs(counts / 20000 - toy.preference_pair_distribution(model, rewards))) \
        <= 5 * 0.0036


def test_sampling_covers_the_responses_with_their_probabilities():
    model = LanguageModel(np.zeros((1, 3, 2)), max_length=3)    # 1/2, 1/4, 1/8, 1/8
    rng = np.random.default_rng(1)
    draws = [model.response_index(model.sample(0, rng)) for _ in range(4000)]
    frequencies = np.bincount(draws, minlength=model.n_responses) / 4000
    assert np.max(np.abs(frequencies - model.response_probabilities()[0])) <= 5 * 0.008


@pytest.mark.parametrize("call, message", [
    (lambda: LanguageModel(np.zeros((1, 3, 2)), max_length=2), "must have shape"),
    (lambda: LanguageModel(np.zeros((1, 1, 1)), max_length=1), "vocabulary_size"),
    (lambda: LanguageModel(np.zeros((1, 1, 2)), max_length=0), "max_length"),
    (lambda: LanguageModel(np.full((1, 1, 2), np.nan), max_length=1), "NaN"),
    (lambda: LanguageModel(np.zeros((1, 2, 2)), 2).log_prob(0, (1,)), "not a complete response"),
    (lambda: LanguageModel(np.zeros((1, 2, 2)), 2).log_prob(3, (0,)), "prompt must be"),
    (lambda: LanguageModel(np.zeros((1, 2, 2)), 2).sequence_log_probs(
        [0], [[1, 0]], [[1.0, 0.0]]), "not a complete response"),
    (lambda: LanguageModel(np.zeros((1, 2, 2)), 2).sequence_log_probs(
        [0], [[1, 0]], [[0.0, 1.0]]), "mask row 0"),
    (lambda: toy.pad_responses([(1, 1, 0)], max_length=2), "expected 1 to 2"),
    (lambda: LanguageModel.from_response_probabilities([[1.0, 0.0]], 2, 1), "positive"),
])
def test_bad_input_is_refused_with_a_clear_error(call, message):
    with pytest.raises(InvalidLanguageModelError, match=message):
        call()


@pytest.mark.spec("lm.sequence-log-prob")
@pytest.mark.parametrize("candidate", [user.batch_log_probs_hf_style, user.batch_log_probs_torch])
def test_user_style_batch_log_probs_pass(candidate):
    import rlspec
    report = rlspec.check("sequence-log-probs", candidate, max_examples=30)
    assert report.passed, str(report)


# ------------------------------------------------------------ the tests can fail

def test_sequence_log_prob_test_fails_with_the_eos_dropped(monkeypatch):
    """With the catalogued pad-mask bug planted as the reference, the three-way test goes red."""
    monkeypatch.setattr(dpo, "sequence_log_probs", bugs.sequence_mask_from_pad)
    with pytest.raises(AssertionError):
        test_sequence_log_probs_agree_three_ways()
