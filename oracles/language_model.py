"""Exact answers on the enumerable language model: sums over every response, at 50 digits.

The model (``rlspec.toy_mdps.language_model``) is read only through its logits table and
its list of prefixes and responses; the next-token distributions are recomputed here with
mpmath.  Methods differ from ``rlspec.reference``:

* sequence log-probabilities as the log of a *product* of probabilities (the reference and
  users sum log-softmax values);
* the KL between two models both by enumerating whole responses and by the chain rule
  (token-level KLs weighted by the probability of reaching each prefix);
* the KL-regularised optimum by a backward *token-level* soft Bellman recursion over the
  prefix tree (the reference normalises pi_ref e^{r/beta} over whole responses).

Every value is rounded once to float64 at the end.
"""

from __future__ import annotations

import mpmath
import numpy as np

from rlspec import validation
from rlspec.toy_mdps.language_model import LanguageModel
from rlspec.validation import InvalidInputError

__all__ = ["sequence_log_probs", "response_log_probs_by_tree", "kl_between_models",
           "kl_between_models_by_chain_rule", "optimal_policy_by_soft_bellman"]

DIGITS = 50


def _softmax(row) -> list:
    values = [mpmath.mpf(float(v)) for v in row]
    total = mpmath.fsum(mpmath.exp(v) for v in values)
    return [mpmath.exp(v) / total for v in values]


def sequence_log_probs(logits, tokens, mask) -> np.ndarray:
    r"""``log prod_{t: mask[n, t] = 1} softmax(logits[n, t])[tokens[n, t]]`` for each row n.

    ``logits[n, t]`` is the next-token distribution from which ``tokens[n, t]`` was drawn
    (aligned: no shift), ``mask[n, t]`` is 1 on the response's tokens, 0 on padding.
    """
    table = validation.as_float_array(logits, "logits[N, L, V]", ndim=3)
    tokens = np.asarray(tokens)
    mask = validation.as_float_array(mask, "mask[N, L]", ndim=2)
    validation.check_shape(tokens, table.shape[:2], "tokens")
    validation.check_shape(mask, table.shape[:2], "mask")
    out = np.zeros(table.shape[0])
    with mpmath.workdps(DIGITS):
        for n in range(table.shape[0]):
            product = mpmath.mpf(1)
            for t in range(table.shape[1]):
                if mask[n, t] == 1:
                    product *= _softmax(table[n, t])[int(tokens[n, t])]
                elif mask[n, t] != 0:
                    raise InvalidInputError("mask must hold only 0 and 1")
            out[n] = float(mpmath.log(product))
    return out


def _prefix_probabilities(model: LanguageModel, prompt: int) -> dict:
    """Probability of reaching each prefix, and each prefix's next-token distribution."""
    reach = {(): mpmath.mpf(1)}
    step = {}
    for p, prefix in enumerate(model.prefixes):   # parents come before children
        step[prefix] = _softmax(model.logits[prompt, p])
        for token in range(1, model.vocabulary_size):
            child = prefix + (token,)
            if len(child) < model.max_length:
                reach[child] = reach[prefix] * step[prefix][token]
    return {"reach": reach, "step": step}


def response_log_probs_by_tree(model: LanguageModel) -> np.ndarray:
    """``log pi(y | x)`` for every prompt and response, ``[prompt, response]``, computed by
    propagating prefix probabilities forward through the prefix tree."""
    out = np.zeros((model.n_prompts, model.n_responses))
    with mpmath.workdps(DIGITS):
        for x in range(model.n_prompts):
            tree = _prefix_probabilities(model, x)
            for i, response in enumerate(model.responses):
                prefix, last = response[:-1], response[-1]
                out[x, i] = float(mpmath.log(tree["reach"][prefix] * tree["step"][prefix][last]))
    return out


def _check_same_shape(policy: LanguageModel, reference: LanguageModel) -> None:
    if policy.logits.shape != reference.logits.shape or policy.max_length != reference.max_length:
        raise InvalidInputError(
            f"the two models must have the same shape, got {policy!r} and {reference!r}")


def kl_between_models(policy: LanguageModel, reference: LanguageModel) -> np.ndarray:
    r"""``KL(pi(.|x) || pi_ref(.|x)) = sum_y pi(y|x) log(pi(y|x) / pi_ref(y|x))`` over whole
    responses, one value per prompt, by enumerating every response."""
    _check_same_shape(policy, reference)
    out = np.zeros(policy.n_prompts)
    with mpmath.workdps(DIGITS):
        for x in range(policy.n_prompts):
            p_tree, q_tree = _prefix_probabilities(policy, x), _prefix_probabilities(reference, x)
            terms = []
            for response in policy.responses:
                prefix, last = response[:-1], response[-1]
                p = p_tree["reach"][prefix] * p_tree["step"][prefix][last]
                q = q_tree["reach"][prefix] * q_tree["step"][prefix][last]
                terms.append(p * mpmath.log(p / q))
            out[x] = float(mpmath.fsum(terms))
    return out


def kl_between_models_by_chain_rule(policy: LanguageModel, reference: LanguageModel) -> np.ndarray:
    r"""The same KL by the chain rule: ``sum_prefix P_pi(reach prefix | x) *
    KL(pi(.|x, prefix) || pi_ref(.|x, prefix))``, the token-level KLs weighted by how often
    the policy reaches each prefix."""
    _check_same_shape(policy, reference)
    out = np.zeros(policy.n_prompts)
    with mpmath.workdps(DIGITS):
        for x in range(policy.n_prompts):
            p_tree, q_tree = _prefix_probabilities(policy, x), _prefix_probabilities(reference, x)
            terms = []
            for prefix in policy.prefixes:
                p, q = p_tree["step"][prefix], q_tree["step"][prefix]
                token_kl = mpmath.fsum(a * mpmath.log(a / b) for a, b in zip(p, q))
                terms.append(p_tree["reach"][prefix] * token_kl)
            out[x] = float(mpmath.fsum(terms))
    return out


def optimal_policy_by_soft_bellman(reference: LanguageModel, rewards, beta
                                   ) -> tuple[np.ndarray, np.ndarray]:
    r"""``(pi*[prompt, response], log Z[prompt])``: the maximiser of
    E_pi[r] - beta KL(pi || pi_ref) over response distributions, by a backward recursion on
    the prefix tree (soft value iteration of the token-level MDP with reward r at the end):

    .. math:: V(y) = r(x, y) \text{ for a complete response } y, \qquad
              V(p) = \beta \log \sum_v \pi_{\rm ref}(v|x,p)\, e^{V(p+v)/\beta},

    .. math:: \pi^*(v|x,p) = \pi_{\rm ref}(v|x,p)\, e^{(V(p+v) - V(p))/\beta}

    and ``beta log Z(x) = V(())``.  Multiplying the token-level probabilities along a
    response telescopes to pi_ref(y|x) e^{(r(x,y) - V(()))/beta}, the response-level closed
    form, which the reference computes directly.
    """
    rewards = validation.as_float_array(rewards, "rewards[prompt, response]", ndim=2)
    validation.check_shape(rewards, (reference.n_prompts, reference.n_responses), "rewards")
    beta = float(beta)
    if not beta > 0:
        raise InvalidInputError(f"beta must be positive, got {beta!r}")
    probabilities = np.zeros((reference.n_prompts, reference.n_responses))
    log_partition = np.zeros(reference.n_prompts)
    with mpmath.workdps(DIGITS):
        b = mpmath.mpf(beta)
        for x in range(reference.n_prompts):
            step = {prefix: _softmax(reference.logits[x, p])
                    for p, prefix in enumerate(reference.prefixes)}
            value = {response: mpmath.mpf(float(rewards[x, i]))
                     for i, response in enumerate(reference.responses)}
            for prefix in reversed(reference.prefixes):   # children before parents
                children = [prefix + (v,) for v in range(reference.vocabulary_size)]
                value[prefix] = b * mpmath.log(mpmath.fsum(
                    step[prefix][v] * mpmath.exp(value[child] / b)
                    for v, child in enumerate(children)))
            for i, response in enumerate(reference.responses):
                probability = mpmath.mpf(1)
                for t, token in enumerate(response):
                    prefix = response[:t]
                    probability *= step[prefix][token] * mpmath.exp(
                        (value[prefix + (token,)] - value[prefix]) / b)
                probabilities[x, i] = float(probability)
            log_partition[x] = float(value[()] / b)
    return probabilities, log_partition

