"""Every variant passes an implementation written in its library's convention (here from the
formula in the entry's "Variants" section, not from the library) and rejects its planted
bugs; the entry's own check rejects the convention (so the variant is needed), and the report
names the variant."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rlspec
from rlspec.checks.batteries import VARIANTS

EXAMPLES = 15


# ------------------------------------------------------------- conventions, as users write them

def log_prob_epsilon_inside(mean, log_std, pre_tanh, outside=False):
    mean, log_std, pre_tanh = map(torch.as_tensor, (mean, log_std, pre_tanh))
    gaussian = torch.distributions.Normal(mean, log_std.exp()).log_prob(pre_tanh).sum(-1)
    if outside:  # bug: the epsilon added to the log instead of inside it
        return gaussian - (torch.log(1 - torch.tanh(pre_tanh) ** 2) + 1e-6).sum(-1)
    return gaussian - torch.log(1 - torch.tanh(pre_tanh) ** 2 + 1e-6).sum(-1)


def log_prob_of_action(mean, log_std, actions, clip=True):
    mean, log_std, actions = map(torch.as_tensor, (mean, log_std, actions))
    bound = 1 - torch.finfo(actions.dtype).eps if clip else 1.0
    pre_tanh = torch.atanh(actions.clamp(-bound, bound))
    gaussian = torch.distributions.Normal(mean, log_std.exp()).log_prob(pre_tanh).sum(-1)
    return gaussian - torch.log(1 - actions ** 2 + 1e-6).sum(-1)


def group_advantages(rewards, epsilon=1e-4, unbiased=True):
    rewards = torch.as_tensor(rewards)
    centred = rewards - rewards.mean(1, keepdim=True)
    return centred / (rewards.std(1, keepdim=True, unbiased=unbiased) + epsilon)


def dual_clip_loss(log_prob, old_log_prob, advantages, clip_epsilon, clip_ratio_c, both=False):
    old_log_prob, advantages = old_log_prob.detach(), advantages.detach()  # rollout data
    ratio = torch.exp(log_prob - old_log_prob)
    ppo = torch.min(ratio * advantages,
                    ratio.clamp(1 - clip_epsilon, 1 + clip_epsilon) * advantages)
    dual = torch.max(ppo, clip_ratio_c * advantages)
    if both:  # bug: the dual clip applied to positive advantages too
        return -dual.mean()
    return -torch.where(advantages < 0, dual, ppo).mean()


def low_var_kl(log_probs, reference_log_probs, clamp_value=True):
    log_ratio = (reference_log_probs.detach() - log_probs).clamp(-20, 20)
    k3 = log_ratio.exp() - 1 - log_ratio
    return k3.clamp(-10, 10) if clamp_value else k3


def whitened_gae(rewards, values, action_mask, gamma, lam, unbiased=True):
    advantages = np.zeros_like(rewards)
    for b in range(rewards.shape[0]):
        running, next_value = 0.0, 0.0
        for t in reversed(np.flatnonzero(action_mask[b])):
            delta = rewards[b, t] + gamma * next_value - values[b, t]
            running = delta + gamma * lam * running
            advantages[b, t], next_value = running, values[b, t]
    chosen = advantages[action_mask == 1]
    count = len(chosen) + 1e-8  # verl's masked mean divides by the count + 1e-8
    mean = chosen.sum() / count
    variance = ((chosen - mean) ** 2).sum() / count * (len(chosen) / (len(chosen) - 1) if unbiased else 1)
    return (advantages - mean) / math.sqrt(variance + 1e-8)


def sb3_value_loss(values, old_values, returns, clip_epsilon, halved=False):
    old_values, returns = old_values.detach(), returns.detach()  # rollout data
    clipped = old_values + (values - old_values).clamp(-clip_epsilon, clip_epsilon)
    return F.mse_loss(returns, clipped) / (2 if halved else 1)


def sb3_normalization(advantages, single_to_zero=False):
    if len(advantages) == 1 and not single_to_zero:
        return advantages
    if len(advantages) == 1:
        return np.zeros(1)
    return (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8)


def ipo_per_token(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                  reference_rejected_logps, chosen_lengths, rejected_lengths, beta, swap=False):
    chosen_lengths, rejected_lengths = (rejected_lengths, chosen_lengths) if swap else \
        (chosen_lengths, rejected_lengths)
    margin = (policy_chosen_logps - reference_chosen_logps.detach()) / chosen_lengths \
        - (policy_rejected_logps - reference_rejected_logps.detach()) / rejected_lengths
    return ((margin - 1 / (2 * beta)) ** 2).mean()


def _margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
            reference_rejected_logps, beta):
    return beta * ((policy_chosen_logps - reference_chosen_logps.detach())
                   - (policy_rejected_logps - reference_rejected_logps.detach()))


def robust_dpo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
               reference_rejected_logps, beta, label_smoothing, conservative=False):
    z = _margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                reference_rejected_logps, beta)
    eps = label_smoothing
    if conservative:  # bug: conservative DPO, what label_smoothing meant before
        return (-(1 - eps) * F.logsigmoid(z) - eps * F.logsigmoid(-z)).mean()
    return ((-(1 - eps) * F.logsigmoid(z) + eps * F.logsigmoid(-z)) / (1 - 2 * eps)).mean()


def exo(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
        reference_rejected_logps, beta, label_smoothing, forward_kl=False):
    z = _margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                reference_rejected_logps, beta)
    eps = label_smoothing
    p, log_p, log_q = torch.sigmoid(z), F.logsigmoid(z), F.logsigmoid(-z)
    if forward_kl:  # bug: KL(label || model), which is conservative DPO plus a constant
        return ((1 - eps) * (math.log(1 - eps) - log_p) + eps * (math.log(eps) - log_q)).mean()
    return (p * (log_p - math.log(1 - eps)) + (1 - p) * (log_q - math.log(eps))).mean()


def _with(function, **fixed):
    def candidate(**arguments):
        return function(**arguments, **fixed)
    return candidate


# (variant or check, the convention, the entry's own check it fails, planted bugs)
CASES = [
    ("squashed-gaussian-log-prob@sb3", log_prob_epsilon_inside, "squashed-gaussian-log-prob",
     [_with(log_prob_epsilon_inside, outside=True)]),
    ("squashed-gaussian-log-prob@sb3-from-action", log_prob_of_action, None,
     [_with(log_prob_of_action, clip=False)]),
    ("group-advantages@trl", group_advantages, None,
     [_with(group_advantages, epsilon=1e-6), _with(group_advantages, unbiased=False)]),
    ("group-advantages@verl", _with(group_advantages, epsilon=1e-6), None,
     [group_advantages]),
    ("ppo-clip-loss@dual-clip", dual_clip_loss, None, [_with(dual_clip_loss, both=True)]),
    ("kl-k3@verl-low-var", low_var_kl, "kl-k3", [_with(low_var_kl, clamp_value=False)]),
    ("masked-gae@verl-whitened", whitened_gae, "masked-gae", [_with(whitened_gae, unbiased=False)]),
    ("ppo-value-loss@sb3", sb3_value_loss, "ppo-value-loss", [_with(sb3_value_loss, halved=True)]),
    ("advantage-normalization@sb3", sb3_normalization, "advantage-normalization",
     [_with(sb3_normalization, single_to_zero=True)]),
    ("ipo-loss@length-normalised", ipo_per_token, None, [_with(ipo_per_token, swap=True)]),
    ("dpo.robust", robust_dpo, None, [_with(robust_dpo, conservative=True)]),
    ("dpo.exo", exo, None, [_with(exo, forward_kl=True)]),
]


@pytest.mark.spec("dpo.robust", "dpo.exo")
@pytest.mark.parametrize("name, convention, base, bugs", CASES, ids=[c[0] for c in CASES])
def test_variant_accepts_its_convention_and_rejects_its_bugs(name, convention, base, bugs):
    report = rlspec.check(name, convention, max_examples=EXAMPLES)
    assert report.passed, str(report)
    for bug in bugs:
        assert not rlspec.check(name, bug, max_examples=EXAMPLES).passed
    if base is not None:  # the convention is a real difference, not a rounding one
        assert not rlspec.check(base, convention, max_examples=EXAMPLES).passed


def test_report_and_json_name_the_variant():
    report = rlspec.check("ppo.value-clipping@sb3", sb3_value_loss, max_examples=3)
    assert report.variant == "sb3" and report.spec_id == "ppo.value-clipping"
    assert json.loads(report.to_json())["variant"] == "sb3"
    assert str(report).startswith("rlspec check ppo.value-clipping@sb3: PASS")
    assert rlspec.check("ppo-value-loss", sb3_value_loss, max_examples=3).variant is None


def test_unknown_variant_is_a_usage_error_listing_the_known_ones():
    with pytest.raises(rlspec.UsageError, match="its variants: sb3"):
        rlspec.check("ppo-value-loss@cleanrl", sb3_value_loss)


def test_every_variant_is_described_in_its_entry():
    for (alias, variant), battery in VARIANTS.items():
        body = rlspec.entry(battery.spec_id).body
        assert "## Variants" in body and f"`{variant}`" in body, (alias, variant)
