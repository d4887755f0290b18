"""Correct implementations of the preference chapter written the way users write them:
TRL- and OpenRLHF-style torch losses, softplus instead of logsigmoid, binary cross-entropy
with logits, ``torch.nn.functional.kl_div``, scipy minimisation, autograd.  None imports
rlspec.  The tests assert that ``rlspec.check`` accepts each: a check that rejected correct
code would be as useless as one that accepted bugs.
"""

import numpy as np
import scipy.optimize
import scipy.special
import torch
import torch.nn.functional as F

# ------------------------------------------------------------ reward model


def reward_loss_softplus(chosen_rewards, rejected_rewards):
    """The DeepSpeed-Chat fix (softplus of the negative margin)."""
    return F.softplus(rejected_rewards - chosen_rewards).mean()


def reward_loss_bce(chosen_rewards, rejected_rewards):
    margin = chosen_rewards - rejected_rewards
    return F.binary_cross_entropy_with_logits(margin, torch.ones_like(margin))


def fit_rewards_by_bfgs(pair_weights):
    """Maximum likelihood with scipy, each prompt's first reward pinned to 0."""
    n_prompts, n_responses, _ = pair_weights.shape
    out = np.zeros((n_prompts, n_responses))
    for x in range(n_prompts):
        weights = pair_weights[x]

        def loss_and_gradient(free):
            r = np.concatenate([[0.0], free])
            margin = r[:, None] - r[None, :]
            loss = np.sum(weights * np.logaddexp(0.0, -margin))
            pull = weights * scipy.special.expit(-margin)
            gradient = -pull.sum(axis=1) + pull.sum(axis=0)
            return loss, gradient[1:]

        result = scipy.optimize.minimize(loss_and_gradient, np.zeros(n_responses - 1), jac=True,
                                         method="BFGS", options={"gtol": 1e-12})
        out[x, 1:] = result.x
    return out


# ------------------------------------------------------------ the optimum

def optimal_policy_softmax(reference_log_probs, rewards, beta):
    return scipy.special.softmax(reference_log_probs + rewards / beta, axis=1)


# ------------------------------------------------------------ DPO family (TRL style)

def dpo_loss_trl_style(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                       reference_rejected_logps, beta, label_smoothing=0.0):
    pi_logratios = policy_chosen_logps - policy_rejected_logps
    ref_logratios = (reference_chosen_logps - reference_rejected_logps).detach()  # TRL: no_grad
    logits = pi_logratios - ref_logratios
    losses = (-F.logsigmoid(beta * logits) * (1 - label_smoothing)
              - F.logsigmoid(-beta * logits) * label_smoothing)
    return losses.mean()


def dpo_loss_softplus(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                      reference_rejected_logps, beta):
    chosen = beta * (policy_chosen_logps - reference_chosen_logps.detach())
    rejected = beta * (policy_rejected_logps - reference_rejected_logps.detach())
    return F.softplus(rejected - chosen).mean()


def ipo_loss_trl_style(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                       reference_rejected_logps, beta):
    logits = (policy_chosen_logps - policy_rejected_logps) - (reference_chosen_logps
                                                              - reference_rejected_logps).detach()
    return ((logits - 1 / (2 * beta)) ** 2).mean()


def hinge_loss_trl_style(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
                         reference_rejected_logps, beta):
    logits = (policy_chosen_logps - policy_rejected_logps) - (reference_chosen_logps
                                                              - reference_rejected_logps).detach()
    return torch.relu(1 - beta * logits).mean()


def implicit_reward_detached(policy_log_probs, reference_log_probs, beta):
    return beta * (policy_log_probs - reference_log_probs)


# ------------------------------------------------------------ KL estimators (OpenRLHF style)

def approx_kl_k1(log_probs, reference_log_probs):
    return log_probs - reference_log_probs.detach()


def approx_kl_k2(log_probs, reference_log_probs):
    log_ratio = log_probs - reference_log_probs.detach()
    return log_ratio ** 2 / 2.0


def approx_kl_k3(log_probs, reference_log_probs):
    """GRPO's per-token KL as TRL writes it."""
    log_ratio = reference_log_probs.detach() - log_probs
    return torch.exp(log_ratio) - log_ratio - 1


def kl_with_torch_kl_div(log_probs, reference_log_probs):
    """F.kl_div(input, target) is KL(target || input): the target is pi, the input pi_ref."""
    return F.kl_div(torch.as_tensor(reference_log_probs), torch.as_tensor(log_probs),
                    reduction="sum", log_target=True).item()


def expected_loss_gradient_by_autograd(logits, reference_logits, estimator):
    """sum_x pi(x) grad k(x) with pi(x) detached: the sample-fixed gradient, by autograd.

    k3's term pi(x) r(x) is formed in log space, exp(log pi(x) + log r(x)) with log pi
    detached: at logits (800, 0) the ratio r = e^800 alone overflows where pi = e^-800."""
    theta = torch.tensor(logits, requires_grad=True)
    log_pi = torch.log_softmax(theta, dim=0)
    log_ref = torch.log_softmax(torch.tensor(reference_logits), dim=0)
    log_ratio = log_ref - log_pi
    pi = log_pi.exp().detach()
    weighted = {"k1": -pi * log_ratio, "k2": pi * 0.5 * log_ratio ** 2,
                "k3": torch.exp(log_pi.detach() + log_ratio) - pi - pi * log_ratio}[estimator]
    weighted.sum().backward()
    return theta.grad.numpy()


# ------------------------------------------------------------ sequence log-probs

def batch_log_probs_hf_style(logits, tokens, mask):
    """The get_batch_logps pattern: log_softmax, gather, mask, sum (logits already aligned)."""
    log_probs = torch.log_softmax(torch.as_tensor(logits), dim=-1)
    per_token = torch.gather(log_probs, 2, torch.as_tensor(tokens)[..., None])[..., 0]
    return (per_token * torch.as_tensor(mask)).sum(-1).numpy()


def batch_log_probs_torch(logits, tokens, mask):
    per_token = -F.cross_entropy(torch.as_tensor(logits).transpose(1, 2),
                                 torch.as_tensor(tokens), reduction="none")
    return (per_token * torch.as_tensor(mask)).sum(-1).numpy()
