r"""The exact fixed point of GRPO-style training on the enumerable language model.

A stochastic trainer settles where its *expected* update vanishes.  For GRPO the expected
update is not the gradient of E[r] - beta KL(pi || pi_ref), for three reasons this module
makes exact:

1. **k3 in the loss.**  With the sampled tokens held fixed, E_{o~pi}[grad k3(o)] =
   grad KL(pi_ref || pi) token by token (spec ``kl.estimator-loss-gradient``): the *reverse*
   KL of each visited state's next-token distribution, not the sequence-level KL(pi || pi_ref).
2. **Group normalisation.**  A_i = (r_i - mean) / (std + eps) with the mean including r_i:
   E[A_i | y_i] is a nonlinear function of r(y_i) and of pi, not r(y_i) minus a baseline.
3. **1/|o_i| aggregation.**  Each response's token terms are divided by its own length, so
   E[(c/|y|) grad log pi(y)] = c grad E[1/|y|] is not 0: the baseline leaks into a length term,
   and short responses weigh more.

Method: for each prompt, every group of G responses is enumerated (n^G groups; 7^4 = 2401
for the default toy problem) with its exact probability under pi_old and its advantages.
The expected loss of one update is then the finite sum

.. math:: \bar L(\theta) = \frac{1}{|X|}\sum_x \Big[ -\frac1G \sum_y a(x, y)\, w(y) \sum_t
          \rho_t(\theta) + \beta \sum_y \pi_{\rm old}(y|x)\, w(y) \sum_t k_3\big(\log\pi_\theta(y_t),
          \log\pi_{\rm ref}(y_t)\big) \Big]

with a(x, y) = E[sum_i 1{y_i = y} A_i] over groups drawn from pi_old, w(y) = 1/|y|
(``seq-mean-token-mean``, GRPO) or 1 (``seq-mean-token-sum``), and rho_t the token ratio to
pi_old.  Its gradient at theta = theta_old is the expected gradient of the trainer's loss
(at ratio 1 the clip is inactive).  The fixed point is found by following that exact field
until it vanishes: a deterministic iteration, no sampling.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from rlspec.agents.alignment.policy import TabularPolicy
from rlspec.reference.grpo import dr_grpo_advantages, group_advantages
from rlspec.reference.kl_estimators import kl_estimator_k3
from rlspec.toy_mdps.language_model import LanguageModel, pad_responses
from rlspec.validation import InvalidInputError

__all__ = ["ADVANTAGES", "AGGREGATIONS", "expected_update", "grpo_fixed_point"]

ADVANTAGES = ("group-std", "group-mean")
AGGREGATIONS = ("seq-mean-token-mean", "seq-mean-token-sum")


class _Enumeration:
    """Every group of G responses per prompt, with its advantages (fixed: they depend on
    the rewards only), and every response as a padded batch."""

    def __init__(self, reference: LanguageModel, rewards, group_size: int, advantage: str,
                 std_epsilon: float):
        if advantage not in ADVANTAGES:
            raise InvalidInputError(f"advantage must be one of {ADVANTAGES}, got {advantage!r}")
        n = reference.n_responses
        self.groups = np.array(list(itertools.product(range(n), repeat=group_size)))
        grouped_rewards = np.asarray(rewards)[:, self.groups]          # [X, n^G, G]
        compute = (dr_grpo_advantages if advantage == "group-mean"
                   else lambda r: group_advantages(r, std_epsilon))
        self.advantages = np.stack([compute(table) for table in grouped_rewards])
        self.tokens, self.mask = pad_responses(reference.responses, reference.max_length)
        self.lengths = self.mask.sum(axis=1)


def _advantage_mass(enumeration: _Enumeration, probabilities: np.ndarray) -> np.ndarray:
    """a[x, y] = E_{group ~ pi^G}[sum_i 1{y_i = y} A_i], by summing over every group."""
    n = probabilities.shape[1]
    out = np.zeros(probabilities.shape)
    for x in range(probabilities.shape[0]):
        group_probability = probabilities[x][enumeration.groups].prod(axis=1)
        weighted = group_probability[:, None] * enumeration.advantages[x]
        out[x] = np.bincount(enumeration.groups.ravel(), weights=weighted.ravel(), minlength=n)
    return out


def expected_update(policy: TabularPolicy, reference: TabularPolicy, enumeration: _Enumeration,
                    beta: float, aggregation: str) -> torch.Tensor:
    """The expected gradient of the GRPO loss in the policy's logits (same shape), exactly."""
    if aggregation not in AGGREGATIONS:
        raise InvalidInputError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
    model = policy.language_model()
    probabilities = model.response_probabilities()
    mass = _advantage_mass(enumeration, probabilities)
    size = enumeration.groups.shape[1]
    weight = 1.0 / enumeration.lengths if aggregation == "seq-mean-token-mean" else np.ones_like(enumeration.lengths)
    n_prompts = probabilities.shape[0]
    total = torch.zeros((), dtype=torch.float64)
    for x in range(n_prompts):
        prompts = np.full(len(enumeration.tokens), x)
        log_probs = policy.token_log_probs(prompts, enumeration.tokens, enumeration.mask)
        with torch.no_grad():
            ref = reference.token_log_probs(prompts, enumeration.tokens, enumeration.mask)
        inside = torch.as_tensor(enumeration.mask)
        ratio_sum = (torch.exp(log_probs - log_probs.detach()) * inside).sum(1)
        k3 = kl_estimator_k3(log_probs.reshape(-1), ref.reshape(-1)).reshape(ref.shape)
        k3_sum = (k3 * inside).sum(1)
        surrogate = -(torch.as_tensor(mass[x] * weight) * ratio_sum).sum() / size
        penalty = beta * (torch.as_tensor(probabilities[x] * weight) * k3_sum).sum()
        total = total + (surrogate + penalty) / n_prompts
    return torch.autograd.grad(total, policy.logits)[0]


def grpo_fixed_point(reference: LanguageModel, rewards, beta: float, group_size: int = 4,
                     advantage: str = "group-std", aggregation: str = "seq-mean-token-mean",
                     std_epsilon: float = 1e-4, step_size: float = 2.0, tolerance: float = 1e-11,
                     max_steps: int = 20000) -> tuple[np.ndarray, float]:
    """(pi_fix[prompt, response], max |expected update| reached): the zero of the exact
    expected GRPO update, by following the field from pi_ref with steps of ``step_size``."""
    policy, frozen = TabularPolicy(reference), TabularPolicy(reference)
    frozen.requires_grad_(False)
    enumeration = _Enumeration(reference, rewards, group_size, advantage, std_epsilon)
    residual = np.inf
    for _ in range(max_steps):
        field = expected_update(policy, frozen, enumeration, beta, aggregation)
        residual = float(field.abs().max())
        if residual < tolerance:
            break
        with torch.no_grad():
            policy.logits -= step_size * field
    return policy.language_model().response_probabilities(), residual
