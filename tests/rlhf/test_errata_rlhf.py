"""Counterexamples to the notes' RLHF and GRPO chapters: one or more tests per spec entry of
issue 5b whose status is "erratum".

* ``rlhf.token-rewards``: the notes' ``compute_rewards`` (seed 003, 3.4.1 (3)) puts the score
  one column after the last token its ``action_mask`` counts.
* ``rlhf.masked-gae``: the notes' ``get_advantages_and_returns`` (seed 003, 3.4.1 (4))
  bootstraps the last response token from the padding unless rewards and values were zeroed
  first, a step the notes do not show.
* ``rlhf.actor-loss``: seed 003, 3.4.1 (5)/(6) says clipping stops the update whenever the
  ratio leaves [1 - eps, 1 + eps]; it does so on one side only.
* ``grpo.objective``: seed 000's description of GRPO (a KL to the previous policy, a softer
  trust region than PPO's clip, GAE advantages) is not DeepSeekMath's GRPO.

The notes' code is transcribed here in numpy, line for line, so that the counterexample runs
exactly what the notes print; expected values come from ``rlspec.oracles``.
"""

import numpy as np
import pytest
import torch

from rlspec.oracles import grpo as grpo_oracle
from rlspec.oracles import rlhf_ppo as rlhf_oracle
from rlspec.reference.kl_estimators import kl_estimator_k3


# ------------------------------------------------------------------ the notes' code, transcribed

def notes_compute_rewards(prompt_length, log_probs, ref_log_probs, reward_score, action_mask,
                          kl_ctl=0.1, clip_reward_value=5.0):
    """Seed 003, 3.4.1 (3), ``compute_rewards``."""
    rewards = -kl_ctl * (log_probs - ref_log_probs)
    start = prompt_length - 1
    ends = start + action_mask[:, start:].sum(1) + 1
    reward_clip = np.clip(reward_score, -clip_reward_value, clip_reward_value)
    for j in range(log_probs.shape[0]):
        rewards[j, start:int(ends[j])][-1] += reward_clip[j]
    return rewards


def notes_get_advantages_and_returns(values, rewards, start, gamma=1.0, lam=0.95):
    """Seed 003, 3.4.1 (4), ``get_advantages_and_returns``."""
    lastgaelam = 0.0
    advantages_reversed = []
    length = rewards.shape[-1]
    for t in reversed(range(start, length)):
        nextvalues = values[:, t + 1] if t < length - 1 else 0.0
        delta = rewards[:, t] + gamma * nextvalues - values[:, t]
        lastgaelam = delta + gamma * lam * lastgaelam
        advantages_reversed.append(lastgaelam)
    advantages = np.stack(advantages_reversed[::-1], axis=1)
    return advantages, advantages + values[:, start:]


# ------------------------------------------------------------------ rlhf.token-rewards

@pytest.mark.spec("rlhf.token-rewards")
def test_notes_compute_rewards_puts_the_score_one_column_past_the_response():
    """A 2-token prompt, a 3-token response whose last token is EOS (counted by the mask, as
    when pad != eos), then 2 padding tokens: 7 tokens, 6 log-prob columns.  The response's
    tokens are x[2], x[3], x[4], i.e. columns 1, 2, 3; the notes' ``ends`` = 1 + 3 + 1 = 5
    puts the score in column 4, a padding column that the actor loss (masked by the same
    ``action_mask``) never reads (deepspeedai/DeepSpeedExamples#888)."""
    action_mask = np.array([[0, 1, 1, 1, 0, 0]], dtype=float)
    log_probs = np.array([[-9.0, -1.0, -1.0, -1.0, -5.0, -5.0]])
    ref_log_probs = np.array([[-9.0, -1.5, -1.5, -1.5, -5.0, -5.0]])
    score = np.array([3.0])

    notes = notes_compute_rewards(2, log_probs, ref_log_probs, score, action_mask)
    assert notes[0, 4] == 3.0 and action_mask[0, 4] == 0.0  # the score sits on padding
    assert np.allclose(notes[0, 3], -0.05)                  # the last response token has none

    spec = rlhf_oracle.kl_penalised_rewards_exact(log_probs, ref_log_probs, score, action_mask, 0.1, 5.0)
    assert spec[0, 3] == pytest.approx(-0.05 + 3.0) and spec[0, 4] == 0.0

    # Where the notes' code is right: when the padding token is the EOS, the mask leaves the
    # EOS out, counts 2 tokens, and column 1 + 2 = 3 is the EOS's own column; and when the
    # response runs to the end of the row, the slice stops there.
    without_eos = np.array([[0, 1, 1, 0, 0, 0]], dtype=float)
    assert notes_compute_rewards(2, log_probs, ref_log_probs, score, without_eos)[0, 3] == \
        pytest.approx(-0.05 + 3.0)
    full = np.array([[0, 1, 1, 1, 1, 1]], dtype=float)
    assert notes_compute_rewards(2, log_probs, ref_log_probs, score, full)[0, 5] == \
        pytest.approx(3.0)


# ------------------------------------------------------------------ rlhf.masked-gae

@pytest.mark.spec("rlhf.masked-gae")
def test_notes_gae_bootstraps_the_last_response_token_from_the_padding():
    """The notes' loop runs to the end of the row, so the last response token's delta uses
    V at the first padding column.  DeepSpeed-Chat zeroes rewards and values after the end
    before calling it ("otherwise the advantage/return will be wrong", its train_rlhf); the
    notes do not show that step.  With it, the loop agrees with the masked GAE."""
    mask = np.array([[0, 1, 1, 0, 0]], dtype=float)
    rewards = np.array([[0.0, -0.05, 2.95, 0.3, 0.3]])   # the KL term is nonzero on padding too
    values = np.array([[4.0, 0.5, 1.0, 7.5, 7.5]])          # the critic outputs something there
    start = 1

    notes, _ = notes_get_advantages_and_returns(values, rewards, start)
    exact = rlhf_oracle.masked_gae_exact(rewards, values, mask, 1.0, 0.95)
    assert notes[0, 1] != pytest.approx(exact[0, 2])        # column 2, the last response token
    assert exact[0, 2] == pytest.approx(2.95 - 1.0)         # r_T - V_T: nothing after the end

    zeroed_rewards, zeroed_values = rewards * (np.arange(5) <= 2), values * (np.arange(5) <= 2)
    fixed, _ = notes_get_advantages_and_returns(zeroed_values, zeroed_rewards, start)
    np.testing.assert_allclose(fixed[0, :2], exact[0, 1:3], atol=1e-12)


# ------------------------------------------------------------------ rlhf.actor-loss

@pytest.mark.spec("rlhf.actor-loss")
@pytest.mark.parametrize("log_ratio, advantage, gradient_flows", [
    (0.5, 1.0, False),    # rho = 1.65 > 1.2, A > 0: the clipped term is the smaller objective
    (-0.7, -1.0, False),  # rho = 0.50 < 0.8, A < 0: likewise
    (-0.7, 1.0, True),    # rho < 0.8 but A > 0: min picks the unclipped rho A
    (0.5, -1.0, True),    # rho > 1.2 but A < 0: min picks the unclipped rho A
])
def test_clipping_stops_the_update_only_on_the_side_the_advantage_pushes(log_ratio, advantage,
                                                                        gradient_flows):
    """Seed 003, 3.4.1 (5): "在超过约束范围时，我们停止对Actor模型进行更新" and (6): "一旦Actor的
    更新幅度超过我们的控制范围，则不对它进行参数更新".  All four ratios are outside (0.8, 1.2);
    in two of them the gradient is e^x A / N, not 0 (Schulman et al. 2017, §3: the clipped
    term only removes the incentive to move rho further in the direction that improves the
    objective)."""
    case = {"log_probs": np.array([[log_ratio - 1.0]]), "old_log_probs": np.array([[-1.0]]),
            "advantages": np.array([[advantage]]), "action_mask": np.array([[1.0]]), "clip_range": 0.2}
    expected = rlhf_oracle.actor_loss_exact(**case)
    assert expected.gradient_low[0, 0] == expected.gradient_high[0, 0]  # no kink here
    if gradient_flows:
        assert expected.gradient[0, 0] == pytest.approx(-np.exp(log_ratio) * advantage)
    else:
        assert expected.gradient[0, 0] == 0.0


# ------------------------------------------------------------------ grpo.objective

@pytest.mark.spec("grpo.objective")
def test_grpo_kl_is_to_the_frozen_reference_model_not_to_the_previous_policy():
    """Seed 000 writes GRPO's penalty as beta KL(pi_theta || pi_theta') between the policy
    before and after the update, with an adaptive beta.  DeepSeekMath eq. (3)-(4): beta
    (constant, 0.04) times the k3 estimate of KL(pi_theta || pi_ref) to the frozen reference
    model.  At the first step of every iteration pi_theta = pi_old, so the notes' penalty is
    exactly 0 whatever pi_ref is, while GRPO's is positive and pulls pi_theta back."""
    policy, reference = np.array([0.5, 0.25, 0.25]), np.array([0.25, 0.25, 0.5])
    assert grpo_oracle.k3_expectation_exact(policy, policy) == (0.0, 0.0)  # notes: pi_theta' = pi_old
    expectation, divergence = grpo_oracle.k3_expectation_exact(policy, reference)
    assert expectation == pytest.approx(divergence) and divergence > 0.1

    log_probs = np.log(policy)[None, :]
    case = {"log_probs": log_probs, "old_log_probs": log_probs, "ref_log_probs": np.log(reference)[None, :],
            "advantages": np.array([0.0]), "response_mask": np.ones((1, 3)), "clip_epsilon": 0.2}
    with_penalty = grpo_oracle.grpo_loss_exact(**case, beta=0.04)
    assert with_penalty.value > 0                              # the KL term alone
    assert np.any(with_penalty.gradient != 0)                  # and it has a gradient
    assert grpo_oracle.grpo_loss_exact(**case, beta=0.0).value == 0.0


@pytest.mark.spec("grpo.objective")
def test_grpo_clips_exactly_as_ppo_does():
    """Seed 000: "与PPO-Clip的硬性剪切不同，GRPO更注重策略在概率分布上的平滑过渡".  DeepSeekMath
    eq. (3) uses PPO's min(rho A, clip(rho, 1 - eps, 1 + eps) A) itself: with one token per
    response and beta = 0, the GRPO loss and PPO's clipped actor loss are the same function,
    value and gradient."""
    log_ratio = np.array([[0.5], [-0.7], [0.1], [-0.05]])
    old = np.full((4, 1), -1.0)
    advantages = np.array([1.0, -1.0, 2.0, -0.5])
    grpo = grpo_oracle.grpo_loss_exact(old + log_ratio, old, old, advantages, np.ones((4, 1)), 0.2, 0.0)
    ppo = rlhf_oracle.actor_loss_exact(old + log_ratio, old, advantages[:, None], np.ones((4, 1)), 0.2)
    assert grpo.value == pytest.approx(ppo.value, abs=1e-15)
    np.testing.assert_allclose(grpo.gradient, ppo.gradient, atol=1e-15)
    assert ppo.gradient[0, 0] == 0.0  # the hard clip: rho = 1.65, A > 0


@pytest.mark.spec("grpo.dr-grpo-advantages", "grpo.objective")
def test_grpo_advantage_is_a_normalised_group_reward_not_gae():
    """Seed 000 says GRPO estimates advantages by GAE, A_t = sum (gamma lambda)^l delta_{t+l},
    with a value function V.  DeepSeekMath §4.1.2 drops the critic: each response's reward is
    normalised within its group, and every token of the response gets that number.  GAE
    reproduces it only in a degenerate case: gamma = lambda = 1 and V the constant group mean
    (then A_t = r_i - mean for every t: Dr. GRPO's advantage), divided by the group std.  With
    any V that varies along the response, as a learned critic does, GAE's advantages vary
    along it too."""
    rewards = np.array([[1.0, 0.0, 0.0, 1.0]])  # one group of G = 4, each response 3 tokens
    mask = np.ones((4, 3))
    outcome = np.zeros((4, 3))
    outcome[:, -1] = rewards[0]                 # the outcome reward at each last token
    mean = rewards.mean()

    constant_baseline = rlhf_oracle.masked_gae_exact(outcome, np.full((4, 3), mean), mask, 1.0, 1.0)
    dr_grpo = grpo_oracle.dr_grpo_advantages_exact(rewards)[0]
    np.testing.assert_allclose(constant_baseline, np.repeat(dr_grpo[:, None], 3, axis=1), atol=1e-15)
    grpo = grpo_oracle.group_advantages_exact(rewards, 0.0)[0]
    np.testing.assert_allclose(grpo, dr_grpo / rewards.std(ddof=1), atol=1e-15)

    critic = np.array([[0.5, 0.75, 0.9]] * 4)     # a critic that learns as the answer unfolds
    gae = rlhf_oracle.masked_gae_exact(outcome, critic, mask, 1.0, 0.95)
    assert not np.allclose(gae, gae[:, :1])       # not one number per response


@pytest.mark.spec("grpo.objective")
def test_the_sum_of_k3_over_a_response_is_unbiased_for_the_sequence_kl():
    """With the enumerable language model (rlspec.toy_mdps.language_model): summing GRPO's
    per-token k3 over a response and averaging over every response, weighted by pi_theta,
    gives KL(pi_theta(.|x) || pi_ref(.|x)) over whole responses exactly (the chain rule):
    the penalty in eq. (3) targets the reference model's sequence distribution."""
    lm = pytest.importorskip("rlspec.toy_mdps.language_model")
    rng = np.random.default_rng(3)
    policy = lm.LanguageModel(rng.normal(size=(1, 3, 3)), max_length=2)
    reference = policy.with_logits(rng.normal(size=(1, 3, 3)))
    p = policy.response_probabilities()[0]
    kl = float(np.sum(p * (policy.response_log_probs()[0] - reference.response_log_probs()[0])))
    expected_k3 = 0.0
    for i, response in enumerate(policy.responses):
        per_token = kl_estimator_k3(
            torch.as_tensor(policy.response_token_log_probs(0, response)),
            torch.as_tensor(reference.response_token_log_probs(0, response)))
        expected_k3 += p[i] * float(per_token.sum())
    assert expected_k3 == pytest.approx(kl, rel=1e-12, abs=1e-14) and kl > 0
