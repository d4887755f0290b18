"""Plausible wrong implementations of the preference-learning chapter (issue 5a).

Each is registered with the check that must reject it (``tests/check_api/test_bug_catalogue.py``).
Where a bug was reported in a public project, the docstring names the repository and the
issue or pull request.  Signatures are the canonical ones (``rlspec list checks``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bug_catalogue import bug

# ------------------------------------------------------------ reward-model loss


@bug("reward-model-loss", "sigmoid of r_l - r_w: chosen and rejected swapped")
def rm_loss_swapped(chosen_rewards, rejected_rewards):
    return -F.logsigmoid(rejected_rewards - chosen_rewards).mean()


@bug("reward-model-loss", "-log(sigmoid(z)) computed naively: inf at margin -1000")
def rm_loss_naive_log_sigmoid(chosen_rewards, rejected_rewards):
    """deepspeedai/DeepSpeedExamples#423 (fixed in #501): the step-2 reward model trained
    with loss inf once a margin passed about -90 in float32."""
    return -torch.log(torch.sigmoid(chosen_rewards - rejected_rewards)).mean()


@bug("reward-model-loss", "averages the rewards over the batch inside the sigmoid")
def rm_loss_mean_inside(chosen_rewards, rejected_rewards):
    """The variant asked about in deepspeedai/DeepSpeedExamples#401: log sigma(mean r_w -
    mean r_l) is not the mean of the per-pair log-likelihoods."""
    return -F.logsigmoid(chosen_rewards.mean() - rejected_rewards.mean())


@bug("reward-model-loss", "maximises sigmoid(r_w - r_l) without the log")
def rm_loss_without_log(chosen_rewards, rejected_rewards):
    """HarderThenHarder/transformers_tasks#15: the RLHF example's reward model minimised
    -sigmoid(margin) instead of -log sigmoid(margin)."""
    return -torch.sigmoid(chosen_rewards - rejected_rewards).mean()


@bug("reward-model-loss", "sums over the batch instead of averaging")
def rm_loss_sum(chosen_rewards, rejected_rewards):
    return -F.logsigmoid(chosen_rewards - rejected_rewards).sum()


# ------------------------------------------------------------ reward-model fit

def _fit(pair_weights):
    from rlspec.reference.reward_model import fit_tabular_reward
    return fit_tabular_reward(pair_weights)


@bug("reward-model-fit", "trained with sigmoid(r_l - r_w): learns the negated reward")
def fit_swapped(pair_weights):
    return _fit(np.transpose(pair_weights, (0, 2, 1)))


@bug("reward-model-fit", "log win rate: r_i = log(wins_i / losses_i)")
def fit_log_win_rate(pair_weights):
    wins, losses = pair_weights.sum(axis=2), pair_weights.sum(axis=1)
    return np.log(wins) - np.log(losses)


@bug("reward-model-fit", "net preference count: r_i = sum_j (w_ij - w_ji)")
def fit_borda(pair_weights):
    return pair_weights.sum(axis=2) - pair_weights.sum(axis=1)


# ------------------------------------------------------------ the KL-regularised optimum

def _normalise(log_weights):
    log_weights = log_weights - log_weights.max(axis=1, keepdims=True)
    weights = np.exp(log_weights)
    return weights / weights.sum(axis=1, keepdims=True)


@bug("kl-regularised-optimum", "exp(-r / beta): the sign of the reward flipped")
def optimum_negated(reference_log_probs, rewards, beta):
    return _normalise(reference_log_probs - rewards / beta)


@bug("kl-regularised-optimum", "exp(beta r): beta multiplies instead of dividing")
def optimum_beta_times(reference_log_probs, rewards, beta):
    return _normalise(reference_log_probs + beta * rewards)


@bug("kl-regularised-optimum", "naive pi_ref * exp(r / beta) / Z: overflows for small beta")
def optimum_naive_exp(reference_log_probs, rewards, beta):
    weights = np.exp(reference_log_probs) * np.exp(rewards / beta)
    return weights / weights.sum(axis=1, keepdims=True)


@bug("kl-regularised-optimum", "forgets pi_ref: softmax(r / beta)")
def optimum_without_reference(reference_log_probs, rewards, beta):
    return _normalise(rewards / beta)


@bug("kl-regularised-optimum", "one partition function Z for all prompts together")
def optimum_global_partition(reference_log_probs, rewards, beta):
    scores = reference_log_probs + rewards / beta
    weights = np.exp(scores - scores.max())
    return weights / weights.sum()


# ------------------------------------------------------------ DPO and its variants

def _h(pc, pr, rc, rr):
    return (pc - rc) - (pr - rr)


@bug("dpo-loss", "chosen and rejected swapped")
def dpo_swapped(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                reference_rejected_logps, beta):
    h = _h(policy_rejected_logps, policy_chosen_logps, reference_rejected_logps,
           reference_chosen_logps)
    return -F.logsigmoid(beta * h).mean()


@bug("dpo-loss", "beta outside the sigmoid: -beta log sigmoid(h)")
def dpo_beta_outside(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                     reference_rejected_logps, beta):
    h = _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
           reference_rejected_logps)
    return (-beta * F.logsigmoid(h)).mean()


@bug("dpo-loss", "-log(sigmoid(beta h)) computed naively: inf at beta h = -1000")
def dpo_naive_log_sigmoid(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                          reference_rejected_logps, beta):
    """thinking-machines-lab/tinker-cookbook#188: NaN gradients from -log(sigmoid(...)) at
    large negative scaled log-ratios, fixed by logsigmoid."""
    h = _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
           reference_rejected_logps)
    return -torch.log(torch.sigmoid(beta * h)).mean()


@bug("dpo-loss", "reference log-ratio added instead of subtracted")
def dpo_reference_sign(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                       reference_rejected_logps, beta):
    h = (policy_chosen_logps - policy_rejected_logps) + (reference_chosen_logps
                                                         - reference_rejected_logps)
    return -F.logsigmoid(beta * h).mean()


@bug("dpo-loss", "sums over the batch instead of averaging")
def dpo_sum(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
            reference_rejected_logps, beta):
    h = _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
           reference_rejected_logps)
    return -F.logsigmoid(beta * h).sum()


@bug("dpo-loss", "returns loss.item(): a float with no gradient")
def dpo_detached(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                 reference_rejected_logps, beta):
    h = _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
           reference_rejected_logps)
    return float(-F.logsigmoid(beta * h).mean())


@bug("dpo-loss", "rejected log-probs detached: only the chosen response is pushed")
def dpo_rejected_detached(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                          reference_rejected_logps, beta):
    h = _h(policy_chosen_logps, policy_rejected_logps.detach(), reference_chosen_logps,
           reference_rejected_logps)
    return -F.logsigmoid(beta * h).mean()


@bug("ipo-loss", "(h + 1/(2 beta))^2: the target margin with the wrong sign")
def ipo_plus(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
             reference_rejected_logps, beta):
    """The sign people doubt in eric-mitchell/direct-preference-optimization#64 (the minus
    is right: IPO pulls h towards +1/(2 tau))."""
    h = _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
           reference_rejected_logps)
    return ((h + 1 / (2 * beta)) ** 2).mean()


@bug("ipo-loss", "target 1/beta instead of 1/(2 beta)")
def ipo_target_one_over_beta(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                             reference_rejected_logps, beta):
    h = _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
           reference_rejected_logps)
    return ((h - 1 / beta) ** 2).mean()


@bug("ipo-loss", "(beta h - 1/2)^2: h scaled by beta as in DPO")
def ipo_scaled(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
               reference_rejected_logps, beta):
    h = _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
           reference_rejected_logps)
    return ((beta * h - 0.5) ** 2).mean()


@bug("hinge-dpo-loss", "max(0, 1 - h): beta forgotten")
def hinge_without_beta(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                       reference_rejected_logps, beta):
    h = _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
           reference_rejected_logps)
    return torch.relu(1 - h).mean()


@bug("hinge-dpo-loss", "max(0, -beta h): no margin")
def hinge_without_margin(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                         reference_rejected_logps, beta):
    h = _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
           reference_rejected_logps)
    return torch.relu(-beta * h).mean()


@bug("conservative-dpo-loss", "label smoothing with the wrong sign: + eps log sigmoid(-beta h)")
def cdpo_wrong_sign(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                    reference_rejected_logps, beta, label_smoothing):
    z = beta * _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                  reference_rejected_logps)
    return (-(1 - label_smoothing) * F.logsigmoid(z) + label_smoothing * F.logsigmoid(-z)).mean()


@bug("conservative-dpo-loss", "weights swapped: -eps log sigmoid(beta h) - (1 - eps) log sigmoid(-beta h)")
def cdpo_weights_swapped(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                         reference_rejected_logps, beta, label_smoothing):
    z = beta * _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                  reference_rejected_logps)
    return (-label_smoothing * F.logsigmoid(z) - (1 - label_smoothing) * F.logsigmoid(-z)).mean()


@bug("conservative-dpo-loss", "label smoothing ignored (plain DPO)")
def cdpo_ignored(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                 reference_rejected_logps, beta, label_smoothing):
    z = beta * _h(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                  reference_rejected_logps)
    return (-F.logsigmoid(z)).mean()


# ------------------------------------------------------------ implicit reward

@bug("dpo-implicit-reward", "log(pi / pi_ref) without beta (the notes' r_w)")
def implicit_reward_without_beta(policy_log_probs, reference_log_probs, beta):
    return policy_log_probs - reference_log_probs


@bug("dpo-implicit-reward", "beta log(pi_ref / pi) (the notes' r_l, with beta)")
def implicit_reward_flipped(policy_log_probs, reference_log_probs, beta):
    return beta * (reference_log_probs - policy_log_probs)


# ------------------------------------------------------------ KL estimators

@bug("kl-k1", "wrong direction: log pi_ref - log pi")
def k1_wrong_direction(log_probs, reference_log_probs):
    return reference_log_probs - log_probs


@bug("kl-k1", "computed from detached log-probs: no gradient reaches the policy")
def k1_detached(log_probs, reference_log_probs):
    return (log_probs.detach() - reference_log_probs) + 0.0 * log_probs


@bug("kl-k2", "drops the 1/2")
def k2_without_half(log_probs, reference_log_probs):
    return (reference_log_probs - log_probs) ** 2


@bug("kl-k2", "(r - 1)^2 / 2 instead of (log r)^2 / 2")
def k2_ratio_squared(log_probs, reference_log_probs):
    return 0.5 * torch.expm1(reference_log_probs - log_probs) ** 2


@bug("kl-k3", "wrong direction: r = pi / pi_ref")
def k3_wrong_direction(log_probs, reference_log_probs):
    log_ratio = log_probs - reference_log_probs
    return torch.expm1(log_ratio) - log_ratio


@bug("kl-k3", "missing the -1: r - log r")
def k3_missing_minus_one(log_probs, reference_log_probs):
    log_ratio = reference_log_probs - log_probs
    return torch.exp(log_ratio) - log_ratio


@bug("kl-k3", "clamped to [-10, 10] after clamping log r to [-20, 20]")
def k3_clamped(log_probs, reference_log_probs):
    """verl's low_var_kl (verl-project/verl#2928 asks why): the clamp changes the value and
    zeroes the gradient wherever k3 > 10, e.g. |log r| = 12."""
    log_ratio = torch.clamp(reference_log_probs - log_probs, min=-20, max=20)
    return torch.clamp(torch.exp(log_ratio) - log_ratio - 1, min=-10, max=10)


@bug("kl-k3", "ratio from detached log-probs: the gradient misses the -r term")
def k3_ratio_detached(log_probs, reference_log_probs):
    ratio = torch.exp(reference_log_probs - log_probs.detach())
    return ratio - 1 - (reference_log_probs - log_probs)


@bug("kl-divergence", "wrong direction: KL(pi_ref || pi)")
def kl_reversed(log_probs, reference_log_probs):
    return float(np.sum(np.exp(reference_log_probs) * (reference_log_probs - log_probs)))


@bug("kl-divergence", "unweighted mean of the log-ratio over the categories")
def kl_unweighted(log_probs, reference_log_probs):
    return float(np.mean(log_probs - reference_log_probs))


@bug("kl-divergence", "E_pi[k2] taken as the KL")
def kl_from_k2(log_probs, reference_log_probs):
    return float(np.sum(np.exp(log_probs) * 0.5 * (reference_log_probs - log_probs) ** 2))


# ------------------------------------------------------------ KL estimators as losses

def _softmax(values):
    values = np.exp(values - values.max())
    return values / values.sum()


def _reverse_kl_gradient(logits, reference_logits):
    pi, ref = _softmax(logits), _softmax(reference_logits)
    log_ratio = np.log(pi) - np.log(ref)
    return pi * (log_ratio - np.sum(pi * log_ratio))


@bug("kl-estimator-loss-gradient", "believes k3 as a loss gives grad KL(pi || pi_ref)")
def loss_gradient_k3_is_reverse_kl(logits, reference_logits, estimator):
    """allenai/open-instruct#534 and verl-project/verl#2953 (and huggingface/trl#4967):
    k3 in the loss gives the gradient of KL(pi_ref || pi), not of KL(pi || pi_ref)."""
    if estimator == "k1":
        return np.zeros_like(logits)
    return _reverse_kl_gradient(logits, reference_logits)


@bug("kl-estimator-loss-gradient", "differentiates the sampling too: grad E_pi[k]")
def loss_gradient_full(logits, reference_logits, estimator):
    pi, ref = _softmax(logits), _softmax(reference_logits)
    log_ratio = np.log(pi) - np.log(ref)
    if estimator == "k2":
        value = 0.5 * log_ratio ** 2
        fixed = pi * log_ratio - pi * np.sum(pi * log_ratio)       # E[grad k2], sample fixed
        score = pi * (value - np.sum(pi * value))                  # E[k2 grad log pi]
        return fixed + score
    return _reverse_kl_gradient(logits, reference_logits)          # grad KL for k1 and k3


# ------------------------------------------------------------ sequence log-probabilities

def _token_log_probs(logits, tokens):
    shifted = logits - logits.max(axis=2, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    return np.take_along_axis(log_probs, tokens[..., None], axis=2)[..., 0]


@bug("sequence-log-probs", "mask built as tokens != EOS: the EOS token's log-prob dropped")
def sequence_mask_from_pad(logits, tokens, mask):
    """With pad = EOS the pad-id mask also hides each response's own EOS: reported in
    huggingface/trl#6357 (GKD/GOLD) and in the review of huggingface/trl#5303 (PPO)."""
    return (_token_log_probs(logits, tokens) * (tokens != 0)).sum(axis=1)


@bug("sequence-log-probs", "ignores the mask: padding counted")
def sequence_unmasked(logits, tokens, mask):
    return _token_log_probs(logits, tokens).sum(axis=1)


@bug("sequence-log-probs", "averages over tokens (TRL's IPO setting) instead of summing")
def sequence_average(logits, tokens, mask):
    """huggingface/trl#1265 made IPO use the per-token average; as log pi(y|x) it is wrong."""
    return (_token_log_probs(logits, tokens) * mask).sum(axis=1) / mask.sum(axis=1)


@bug("sequence-log-probs", "shifts by one as for a causal LM's raw logits")
def sequence_shifted(logits, tokens, mask):
    shifted = _token_log_probs(logits[:, :-1], tokens[:, 1:])
    return (shifted * mask[:, 1:]).sum(axis=1)
