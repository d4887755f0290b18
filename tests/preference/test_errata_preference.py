"""Counterexamples to the notes' preference-learning chapter (seed 003, sections 3.3 and 4).

One test per erratum of the spec entries ``dpo.loss``, ``dpo.gradient``,
``dpo.implicit-reward``, ``kl.k1`` and ``rm.population-minimiser``.  Each builds a small case
by hand, computes the exact answer with the oracles (``rlspec.oracles.dpo``,
``rlspec.oracles.dpo``), and asserts that the notes' claim, read literally, is
false.  Inputs are quarters and halves, so every difference the oracles form is exact.
"""

import math

import numpy as np
import pytest
import torch

from rlspec.oracles import dpo as lm_oracle
from rlspec.oracles import dpo, kl_estimators
from rlspec.toy_mdps import language_model as toy
from rlspec.toy_mdps.language_model import LanguageModel


def _sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


# ------------------------------------------------------------------------ dpo.loss

@pytest.mark.spec("dpo.loss")
def test_dpo_loss_is_not_a_kl_divergence():
    """Seed 003, "4.3.1 PPO算法总览", steps 5-6: "计算KL散度 … 以KL散度计算Loss".

    At pi_theta = pi_ref every divergence between the two is 0 with zero gradient.  The DPO
    loss there is log 2 for every pair, with gradient -beta/2 on the chosen log-prob."""
    reference = LanguageModel(np.array([[[0.5, -0.5, 0.0], [0.0, 1.0, -1.0], [0.25, 0.0, 0.0]]]),
                              max_length=2)
    policy = reference.with_logits(reference.logits)
    log_probs = reference.response_log_probs()[0]
    beta = 0.5
    for chosen, rejected in [(0, 1), (3, 2), (4, 0)]:
        value, grad_chosen, grad_rejected, _ = dpo.preference_loss_and_gradient(
            [log_probs[chosen]], [log_probs[rejected]], [log_probs[chosen]],
            [log_probs[rejected]], beta)
        assert value == math.log(2.0)
        assert grad_chosen[0] == -beta / 2 and grad_rejected[0] == beta / 2
    assert lm_oracle.kl_between_models(policy, reference)[0] == 0.0
    # The KL's gradient at pi_theta = pi_ref (response-level logits, autograd of the exact
    # KL): zero.
    theta = torch.tensor(log_probs, requires_grad=True)
    log_pi = torch.log_softmax(theta, 0)
    (log_pi.exp() * (log_pi - torch.tensor(log_probs))).sum().backward()
    assert np.max(np.abs(theta.grad.numpy())) <= 1e-15


# ------------------------------------------------------------------------ dpo.gradient

@pytest.mark.spec("dpo.gradient")
def test_gradient_weight_falls_when_the_reference_rates_the_chosen_response_lower():
    """Seed 003, "4.3.1 DPO 目标函数": "如果 pi_ref(y_w|x) 比较小 … 此时 r_w 的奖励系数很大".

    Hold the policy fixed (log pi(y_w) = -3, log pi(y_l) = -2, log pi_ref(y_l) = -2, beta = 1/2)
    and lower log pi_ref(y_w) from -1 to -2 to -4: the weight sigma(r_hat_l - r_hat_w) falls
    from sigma(1) to sigma(1/2) to sigma(-1/2), the opposite of the notes' claim."""
    beta, weights = 0.5, []
    for reference_chosen in (-1.0, -2.0, -4.0):
        _, grad_chosen, _, _ = dpo.preference_loss_and_gradient(
            [-3.0], [-2.0], [reference_chosen], [-2.0], beta)
        weights.append(-grad_chosen[0] / beta)          # d L / d log pi(y_w) = -beta * weight
    assert weights == sorted(weights, reverse=True) and weights[0] > weights[-1]
    assert np.allclose(weights, [_sigmoid(1.0), _sigmoid(0.5), _sigmoid(-0.5)], rtol=1e-15)
    # At pi_theta = pi_ref every pair weighs 1/2, however unlikely the reference finds y_w.
    for reference_chosen in (-1.0, -5.0, -20.0):
        _, grad_chosen, _, _ = dpo.preference_loss_and_gradient(
            [reference_chosen], [-2.0], [reference_chosen], [-2.0], beta)
        assert -grad_chosen[0] / beta == 0.5


# ------------------------------------------------------------------------ dpo.implicit-reward

@pytest.mark.spec("dpo.implicit-reward")
def test_notes_rejected_reward_is_ordered_against_the_true_reward():
    """Seed 003, "4.3.1 DPO 目标函数": r_l = log(pi_ref(y_l) / pi_theta(y_l)), a "reward" of y_l.

    At the optimum pi*, the paper's implicit reward beta log(pi*/pi_ref) is the true reward
    minus the constant beta log Z; the notes' r_l is minus that, divided by beta: it ranks
    every pair of responses the wrong way round."""
    reference = LanguageModel(np.array([[[0.5, -0.5, 0.0], [0.0, 1.0, -1.0], [0.25, 0.0, 0.0]]]),
                              max_length=2)
    rewards = np.array([[1.0, -0.5, 0.25, 2.0, -1.0, 0.0, 1.5]])
    beta = 0.5
    optimum, log_partition = lm_oracle.optimal_policy_by_soft_bellman(reference, rewards, beta)
    log_ratio = np.log(optimum[0]) - reference.response_log_probs()[0]
    paper = dpo.implicit_reward_exact(np.log(optimum[0]), reference.response_log_probs()[0], beta)
    assert np.max(np.abs(paper - (rewards[0] - beta * log_partition[0]))) <= 1e-12
    notes_r_l = -log_ratio
    order = np.argsort(rewards[0])
    assert np.all(np.diff(notes_r_l[order]) < 0)      # higher true reward, lower notes' r_l
    assert np.all(np.diff(paper[order]) > 0)


# ------------------------------------------------------------------------ kl.k1

@pytest.mark.spec("kl.k1")
def test_a_single_k1_value_does_not_measure_similarity():
    """Seed 003, "3.3.2 Reference Model（参考模型）": log_probs - ref_log_probs approximates the
    KL and "这个值越小意味着两个分布的相似性越高".

    pi = (1/2, 1/2) against pi_ref = (0.99, 0.01): the sample x = 0 has k1 = log(0.5/0.99) < 0
    although KL ~ 1.27; for the identical pair pi = pi_ref, k1 is 0 on every sample, larger."""
    far_values, _ = kl_estimators.kl_estimates_and_slopes([math.log(0.5)], [math.log(0.99)], "k1")
    far_kl = kl_estimators.categorical_kl(np.log([0.5, 0.5]), np.log([0.99, 0.01]))
    same_values, _ = kl_estimators.kl_estimates_and_slopes([math.log(0.99)], [math.log(0.99)], "k1")
    assert far_values[0] < 0 < far_kl and far_kl > 1.2
    assert same_values[0] == 0.0 > far_values[0]
    # The never-negative k3 does not have this defect.
    k3, _ = kl_estimators.kl_estimates_and_slopes([math.log(0.5)], [math.log(0.99)], "k3")
    assert k3[0] > 0


# ------------------------------------------------------------------------ rm.population-minimiser

def _population_loss(rewards, weights):
    """sum w_xij softplus(r_xj - r_xi), in float64; identical response rewards give
    bit-identical losses."""
    margins = rewards[:, :, None] - rewards[:, None, :]
    return float(np.sum(weights * np.logaddexp(0.0, -margins)))


def _response_rewards(model, token_rewards):
    """r(x, y) = sum_t R[x, prefix_t, y_t]: a per-token reward table summed along y."""
    return np.array([[sum(token_rewards[x, model.prefix_index(y[:t]), token]
                          for t, token in enumerate(y)) for y in model.responses]
                     for x in range(model.n_prompts)])


@pytest.mark.spec("rm.population-minimiser")
def test_preferences_do_not_identify_per_token_rewards():
    """Seed 003, "3.3.4 Reward Model（奖励模型）": the reward model computes the immediate
    reward of each generated token A_t.

    Preferences are between whole responses, so only the per-response total is identified.
    Reshape a per-token table by a potential (R'(p, v) = R(p, v) + Phi(p + v) - Phi(p), with
    Phi = 0 at the root and on complete responses): the totals, hence the Bradley-Terry
    likelihood of any preference data, are unchanged, although the per-token rewards differ."""
    model = LanguageModel(np.array([[[0.5, -0.5, 0.0], [0.0, 1.0, -1.0], [0.25, 0.0, 0.0]]]),
                          max_length=2)
    first = np.array([[[0.25, 1.0, -0.5], [0.5, -1.0, 0.75], [0.0, 0.25, 1.5]]])
    potential = {(): 0.0, (1,): 1.5, (2,): -2.0}          # on the non-root prefixes
    second = first.copy()
    for p, prefix in enumerate(model.prefixes):
        for token in range(model.vocabulary_size):
            child = prefix + (token,)
            after = potential.get(child, 0.0) if token != 0 and len(child) < model.max_length \
                else 0.0
            second[0, p, token] += after - potential[prefix]
    assert not np.array_equal(first, second)
    totals_first, totals_second = _response_rewards(model, first), _response_rewards(model, second)
    assert np.array_equal(totals_first, totals_second)
    weights = toy.preference_pair_distribution(model, totals_first)
    assert _population_loss(totals_first, weights) == _population_loss(totals_second, weights)
    # A table whose totals differ is distinguished: its loss is strictly larger.
    third = first.copy()
    third[0, 0, 0] += 1.0                                   # changes the reward of (EOS,)
    assert _population_loss(_response_rewards(model, third), weights) \
        > _population_loss(totals_first, weights)
