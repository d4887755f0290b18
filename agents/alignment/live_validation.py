r"""Live validation: a trainer's real batch, checked against the exact oracles while it trains.

Every ``validate_every`` updates a trainer hands the quantities it has just computed on its
real batch (token rewards, masks, advantages, ratios through the log-probs, the aggregated
loss and the gradient autograd gave for the loss with respect to the log-probs or rewards)
to one of the functions here.  Each recomputes them with the independent oracles of
``rlspec.oracles`` (exact rationals or 40-digit arithmetic) and raises
:class:`LiveValidationError` at the first mismatch, naming the quantity, the spec entry, the
worst entry and the tolerance.

Tolerance (derived, not tuned): the trainer evaluates each quantity in float64 from float64
inputs; a sum or mean of n terms of size at most s carries a rounding error of at most about
n * eps * s (Higham 2002, §4.2), and exp/log/sigmoid add a few ulps per term.  We allow
``SAFETY * n * eps * max(1, s)`` with ``SAFETY = 16`` (``rlspec.oracles.methods.accuracy``), n the
number of entries of the batch and s the largest magnitude among inputs and outputs.
A kink of a clipped loss has an interval of valid derivatives; the oracle returns its ends
and the trainer's gradient must lie inside, within the same tolerance.
"""

from __future__ import annotations

import numpy as np
import torch

from rlspec.oracles import grpo as grpo_oracle
from rlspec.oracles import dpo, reward_model, rlhf_ppo
from rlspec.oracles.methods.accuracy import EPS, SAFETY

__all__ = ["LiveValidationError", "rounding_tolerance", "validate_reward_model_batch",
           "validate_dpo_batch", "validate_rlhf_ppo_batch", "validate_grpo_batch"]


class LiveValidationError(AssertionError):
    """A trainer's batch quantity disagrees with its exact oracle."""


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def rounding_tolerance(n_terms: int, *arrays) -> float:
    """SAFETY * n * eps * max(1, largest |entry|): the float64 rounding bound of the docstring."""
    scale = max([1.0] + [float(np.max(np.abs(_numpy(a)))) for a in arrays if np.size(a)])
    return SAFETY * max(int(n_terms), 1) * EPS * scale


def _compare(quantity: str, spec_id: str, actual, low, high=None, n_terms: int = 1,
             inputs=()) -> None:
    actual, low = _numpy(actual), _numpy(low)
    high = low if high is None else _numpy(high)
    tolerance = rounding_tolerance(n_terms, actual, low, high, *inputs)
    below, above = low - actual, actual - high
    excess = np.maximum(below, above)
    if not np.all(excess <= tolerance):
        where = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.ndim else ()
        raise LiveValidationError(
            f"live validation: {quantity} ({spec_id}) at {tuple(int(i) for i in where)} is "
            f"{float(actual[where])!r}, but the oracle says "
            f"{float(low[where])!r}" + ("" if high is low else f" .. {float(high[where])!r}")
            + f" (tolerance {tolerance:.3g})")


def validate_reward_model_batch(chosen_rewards, rejected_rewards, loss, grad_chosen,
                                grad_rejected) -> None:
    """The Bradley-Terry loss and its gradient in the two reward vectors (``rm.bradley-terry-loss``)."""
    value, g_chosen, g_rejected = reward_model.bradley_terry_loss_and_gradient(
        _numpy(chosen_rewards), _numpy(rejected_rewards))
    n, inputs = len(g_chosen), (chosen_rewards, rejected_rewards)
    _compare("reward-model loss", "rm.bradley-terry-loss", loss, value, n_terms=n, inputs=inputs)
    _compare("d loss / d chosen reward", "rm.bradley-terry-loss", grad_chosen, g_chosen, n_terms=n)
    _compare("d loss / d rejected reward", "rm.bradley-terry-loss", grad_rejected, g_rejected, n_terms=n)


def validate_dpo_batch(policy_chosen, policy_rejected, reference_chosen, reference_rejected,
                       beta, loss_type, label_smoothing, loss, grad_chosen, grad_rejected) -> None:
    """A DPO-family loss and its gradient in the policy's sequence log-probs (``dpo.loss``,
    ``dpo.ipo``, ``dpo.hinge``, ``dpo.label-smoothing``)."""
    variant = {"dpo": "dpo", "conservative": "dpo", "ipo": "ipo", "hinge": "hinge"}[loss_type]
    spec_id = {"dpo": "dpo.loss", "conservative": "dpo.label-smoothing", "ipo": "dpo.ipo",
               "hinge": "dpo.hinge"}[loss_type]
    inputs = [_numpy(v) for v in (policy_chosen, policy_rejected, reference_chosen, reference_rejected)]
    value, g_chosen, g_rejected, kinks = dpo.preference_loss_and_gradient(
        *inputs, beta, variant=variant,
        label_smoothing=label_smoothing if loss_type == "conservative" else 0.0)
    n = len(g_chosen)
    _compare(f"{loss_type} loss", spec_id, loss, value, n_terms=n, inputs=inputs)
    smooth = ~kinks  # at a hinge kink any subgradient is right: nothing to compare
    _compare(f"d {loss_type} loss / d log pi(y_w)", spec_id, _numpy(grad_chosen)[smooth],
             g_chosen[smooth], n_terms=n, inputs=inputs)
    _compare(f"d {loss_type} loss / d log pi(y_l)", spec_id, _numpy(grad_rejected)[smooth],
             g_rejected[smooth], n_terms=n, inputs=inputs)


def validate_rlhf_ppo_batch(old_log_probs, ref_log_probs, scores, mask, kl_coef,
                            clip_reward_value, token_rewards, values, gamma, lam, advantages,
                            log_probs, clip_range, actor_loss, actor_grad, new_values,
                            clip_range_value, critic_loss, critic_grad) -> None:
    """Token rewards (``rlhf.token-rewards``), masked GAE (``rlhf.masked-gae``), the actor
    loss and its gradient in log pi (``rlhf.actor-loss``), the critic loss and its gradient in
    V (``rlhf.critic-loss``)."""
    log_probs, new_values = _numpy(log_probs), _numpy(new_values)
    n = int(_numpy(mask).sum())
    expected = rlhf_ppo.kl_penalised_rewards_exact(old_log_probs, ref_log_probs, scores, mask,
                                               kl_coef, clip_reward_value)
    _compare("token rewards", "rlhf.token-rewards", token_rewards, expected, n_terms=1,
             inputs=(old_log_probs, ref_log_probs, scores))
    expected = rlhf_ppo.masked_gae_exact(token_rewards, values, mask, gamma, lam)
    length = _numpy(mask).shape[1]
    _compare("advantages", "rlhf.masked-gae", advantages, expected, n_terms=3 * length,
             inputs=(token_rewards, values))
    returns = _numpy(advantages) + _numpy(values)
    actor = rlhf_ppo.actor_loss_exact(log_probs, old_log_probs, advantages, mask, clip_range)
    _compare("actor loss", "rlhf.actor-loss", actor_loss, actor.value, n_terms=n, inputs=(advantages,))
    _compare("d actor loss / d log pi", "rlhf.actor-loss", actor_grad, actor.gradient_low,
             actor.gradient_high, n_terms=n, inputs=(advantages,))
    critic = rlhf_ppo.critic_loss_exact(new_values, values, returns, mask, clip_range_value)
    _compare("critic loss", "rlhf.critic-loss", critic_loss, critic.value, n_terms=n,
             inputs=(returns, new_values))
    _compare("d critic loss / d V", "rlhf.critic-loss", critic_grad, critic.gradient_low,
             critic.gradient_high, n_terms=n, inputs=(returns, new_values))


def validate_grpo_batch(variant: str, rewards, advantages, log_probs, old_log_probs,
                        ref_log_probs, mask, loss, grad, settings: dict,
                        accuracies=None, keep=None, lengths=None, shaped_rewards=None,
                        kept_accuracies=None) -> None:
    """Group advantages, DAPO's filter and overlong shaping, the loss of ``variant`` and its
    gradient in the per-token log-probs, against ``rlspec.oracles.grpo``.

    ``rewards[n_groups, G]`` are the rewards the advantages were computed from (shaped, for
    DAPO); ``accuracies`` every group DAPO drew and ``keep`` its filter; ``kept_accuracies``
    the groups kept, whose shaped rewards are ``shaped_rewards``; ``settings`` holds the loss's hyperparameters by the oracle's argument names."""
    rewards, log_probs, advantages = _numpy(rewards), _numpy(log_probs), _numpy(advantages)
    size = rewards.shape[1]
    if variant == "dr-grpo":
        expected = grpo_oracle.dr_grpo_advantages_exact(rewards)
        spec_id = "grpo.dr-grpo-advantages"
    else:
        expected = grpo_oracle.group_advantages_exact(rewards, settings["std_epsilon"])
        spec_id = "grpo.group-advantages"
    _compare("advantages", spec_id, advantages, expected.reshape(-1), n_terms=3 * size,
             inputs=(rewards,))
    if keep is not None:
        expected_keep = grpo_oracle.dynamic_sampling_by_counting(accuracies)
        if not np.array_equal(np.asarray(keep, dtype=bool), expected_keep):
            raise LiveValidationError(
                f"live validation: dynamic sampling (dapo.dynamic-sampling) kept groups "
                f"{np.flatnonzero(keep).tolist()}, but the oracle keeps "
                f"{np.flatnonzero(expected_keep).tolist()}")
    if lengths is not None:
        penalty = grpo_oracle.overlong_penalty_exact(lengths, settings["overlong_max_length"],
                                                     settings["overlong_cache_length"])
        _compare("shaped rewards", "dapo.overlong-reward-shaping", shaped_rewards,
                 _numpy(kept_accuracies).reshape(-1) + penalty, n_terms=2)
    arguments = (log_probs, old_log_probs)
    if variant == "grpo":
        oracle = grpo_oracle.grpo_loss_exact(*arguments, ref_log_probs, advantages, mask,
                                             settings["clip_epsilon"], settings["beta"])
        spec_id = "grpo.objective"
    elif variant == "dr-grpo":
        oracle = grpo_oracle.dr_grpo_loss_exact(*arguments, advantages, mask,
                                                settings["clip_epsilon"], settings["max_length"])
        spec_id = "grpo.dr-grpo-loss"
    elif variant == "dapo":
        oracle = grpo_oracle.dapo_loss_exact(*arguments, advantages, mask,
                                             settings["epsilon_low"], settings["epsilon_high"])
        spec_id = "dapo.token-level-loss"
    else:
        oracle = grpo_oracle.gspo_loss_exact(*arguments, advantages, mask,
                                             settings["epsilon_low"], settings["epsilon_high"])
        spec_id = "gspo.sequence-ratio"
    n = int(_numpy(mask).sum())
    _compare(f"{variant} loss", spec_id, loss, oracle.value, n_terms=n, inputs=(advantages,))
    _compare(f"d {variant} loss / d log pi", spec_id, grad, oracle.gradient_low,
             oracle.gradient_high, n_terms=n, inputs=(advantages,))
