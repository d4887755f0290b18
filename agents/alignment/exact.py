r"""Exact measurements of a trained policy, and the exact fixed points trainers aim at.

Every response of the enumerable language model can be listed, so these are finite sums,
not estimates: the only error is float64 rounding (about 1e-15 relative).

The report of a trainer, at every evaluation and at the end (prompts uniform):

* ``kl_to_fixed_point`` = E_x KL(pi(.|x) || pi_fix(.|x)), the distance to what the trainer
  should converge to (:func:`categorical_kl` over whole responses);
* ``expected_reward`` = E_x E_{y~pi} r(x, y) with the *true* reward;
* ``kl_to_reference`` = E_x KL(pi(.|x) || pi_ref(.|x)).

The fixed points (seed 003 §4.1; Rafailov et al. 2023 §4; Azar et al. 2023 §5.1):

* the KL-regularised optimum pi* ∝ pi_ref exp(r / beta), the maximiser of
  E[r] - beta KL(pi || pi_ref) (:func:`kl_regularised_optimum`);
* DPO on preference weights w[x, i, j]: pi_ref exp(r_w / beta) with r_w the Bradley-Terry
  maximum-likelihood reward of w; with label smoothing eps the same for the smoothed weights
  (1 - eps) w[x, i, j] + eps w[x, j, i] (:func:`dpo_fixed_point`);
* IPO: pi_ref exp(u) where u minimises sum w (u_i - u_j - 1/(2 beta))^2 (:func:`ipo_fixed_point`),
  which on the population is pi_ref exp(P(y > pi_ref) / beta), *not* pi*
  (:func:`win_rate_against_reference`).
"""

from __future__ import annotations

import numpy as np

from rlspec.oracles.dpo import optimal_policy_by_soft_bellman
from rlspec.reference.reward_model import fit_tabular_reward
from rlspec.toy_mdps.language_model import LanguageModel, sigmoid
from rlspec.validation import InvalidInputError

__all__ = [
    "categorical_kl", "mean_kl", "exact_report", "kl_regularised_optimum",
    "empirical_pair_weights", "smoothed_pair_weights", "dpo_fixed_point", "ipo_fixed_point",
    "win_rate_against_reference", "reward_gap_up_to_prompt_constant",
]


def categorical_kl(log_probs, reference_log_probs) -> float:
    r"""KL(p || q) = sum_k p_k (log p_k - log q_k) of two categoricals given by their logs.

    Terms with p_k = 0 are 0 (the limit of p log p).  Spec entry ``kl.estimator-bias``
    (check ``kl-divergence``).  Example: p = (1/2, 1/2), q = (1/4, 3/4):
    (1/2) log 2 + (1/2) log(2/3) = (1/2) log(4/3).

    >>> bool(abs(categorical_kl(np.log([0.5, 0.5]), np.log([0.25, 0.75])) - 0.5 * np.log(4 / 3)) < 1e-15)
    True
    """
    log_p = np.asarray(log_probs, dtype=np.float64)
    log_q = np.asarray(reference_log_probs, dtype=np.float64)
    p = np.exp(log_p)
    inside = p > 0
    return float(np.sum(p[inside] * (log_p[inside] - log_q[inside])))


def mean_kl(probabilities, target_probabilities) -> float:
    """E_x KL(p(.|x) || q(.|x)) over uniform prompts, for [prompt, response] tables."""
    p, q = np.asarray(probabilities), np.asarray(target_probabilities)
    with np.errstate(divide="ignore"):
        return float(np.mean([categorical_kl(np.log(a), np.log(b)) for a, b in zip(p, q)]))


def exact_report(policy: LanguageModel, reference: LanguageModel, rewards,
                 fixed_point=None) -> dict[str, float]:
    """The three exact figures of the module docstring (``kl_to_fixed_point`` only when a
    fixed point [prompt, response] table is given)."""
    pi = policy.response_probabilities()
    report = {"expected_reward": float(np.mean((pi * np.asarray(rewards)).sum(axis=1))),
              "kl_to_reference": mean_kl(pi, reference.response_probabilities())}
    if fixed_point is not None:
        report["kl_to_fixed_point"] = mean_kl(pi, fixed_point)
    return report


def kl_regularised_optimum(reference: LanguageModel, rewards, beta: float) -> np.ndarray:
    """pi*[x, i] ∝ pi_ref(y_i|x) exp(r(x, y_i) / beta), by the oracle's soft Bellman
    recursion on the prefix tree (``rlspec.oracles.dpo``)."""
    return optimal_policy_by_soft_bellman(reference, rewards, beta)[0]


def _response_tilt(reference: LanguageModel, log_tilt: np.ndarray) -> np.ndarray:
    """pi ∝ pi_ref exp(log_tilt), row by row."""
    logits = reference.response_log_probs() + log_tilt
    logits -= logits.max(axis=1, keepdims=True)
    tilted = np.exp(logits)
    return tilted / tilted.sum(axis=1, keepdims=True)


def empirical_pair_weights(prompts, chosen, rejected, shape: tuple[int, int]) -> np.ndarray:
    """w[x, i, j] = the fraction of the data set that is (x, y_w = i, y_l = j)."""
    weights = np.zeros((shape[0], shape[1], shape[1]))
    np.add.at(weights, (np.asarray(prompts), np.asarray(chosen), np.asarray(rejected)), 1.0)
    return weights / len(prompts)


def smoothed_pair_weights(pair_weights, label_smoothing: float) -> np.ndarray:
    """(1 - eps) w[x, i, j] + eps w[x, j, i]: each label flipped with probability eps, the
    data that conservative DPO's loss is the plain cross-entropy of."""
    w = np.asarray(pair_weights, dtype=np.float64)
    return (1.0 - label_smoothing) * w + label_smoothing * w.transpose(0, 2, 1)


def dpo_fixed_point(reference: LanguageModel, pair_weights, beta: float,
                    label_smoothing: float = 0.0) -> np.ndarray:
    r"""The minimiser of the (conservative) DPO loss on preference weights w.

    DPO's loss is the Bradley-Terry loss of the implicit reward beta log(pi / pi_ref), and a
    tabular policy can realise any implicit reward up to a constant per prompt, so the
    minimiser is pi_ref exp(r_w / beta) with r_w the Bradley-Terry MLE of w
    (``rlspec.reference.reward_model.fit_tabular_reward``, spec ``rm.population-minimiser``).
    On the population w of a Bradley-Terry reward r this is pi* (spec
    ``dpo.population-minimiser``); on a finite data set it is pi* of the fitted reward.
    """
    fitted = fit_tabular_reward(smoothed_pair_weights(pair_weights, label_smoothing))
    return _response_tilt(reference, fitted / beta)


def ipo_fixed_point(reference: LanguageModel, pair_weights, beta: float) -> np.ndarray:
    r"""The minimiser of the IPO loss sum_{x,i,j} w_xij (h_ij - 1/(2 beta))^2, h_ij = u_i - u_j,
    u = log(pi / pi_ref): a weighted least-squares problem in u per prompt, solved exactly
    (its normal equations are a graph Laplacian; the per-prompt constant is free and drops
    out when pi is normalised)."""
    w = np.asarray(pair_weights, dtype=np.float64)
    n_prompts, n_responses, _ = w.shape
    target = 1.0 / (2.0 * beta)
    u = np.zeros((n_prompts, n_responses))
    for x in range(n_prompts):
        rows, right = [], []
        for i, j in zip(*np.nonzero(w[x])):
            if i == j:
                continue  # h = 0 whatever u is: a constant term
            row = np.zeros(n_responses)
            row[i], row[j] = 1.0, -1.0
            rows.append(np.sqrt(w[x, i, j]) * row)
            right.append(np.sqrt(w[x, i, j]) * target)
        u[x] = np.linalg.lstsq(np.array(rows), np.array(right), rcond=None)[0]
    return _response_tilt(reference, u)


def win_rate_against_reference(reference: LanguageModel, rewards) -> np.ndarray:
    r"""p[x, i] = P(y_i > y' | x) with y' ~ pi_ref(.|x) under Bradley-Terry:
    sum_j pi_ref(y_j|x) sigmoid(r_i - r_j).

    Azar et al. (2023), Prop. 4 / §5.1: on the population of pairs drawn from pi_ref, the
    IPO minimiser is pi_ref exp(p / tau) (tau = beta), so IPO optimises the win rate, not r.
    (Stationarity of the loss in u_i gives sum_j pi_ref(j) (u_i - u_j) = (2 p_i - 1) / (2 beta).)
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    pairwise = sigmoid(rewards[:, :, None] - rewards[:, None, :])
    return np.einsum("xij,xj->xi", pairwise, reference.response_probabilities())


def reward_gap_up_to_prompt_constant(learned, true) -> float:
    """max_x max_i |(learned - true)[x, i] - mean_i (learned - true)[x, i]|: the error of a
    reward once the per-prompt constant preferences cannot identify is removed."""
    difference = np.asarray(learned, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    if difference.ndim != 2:
        raise InvalidInputError(f"rewards must be [prompt, response] tables, got {difference.shape}")
    return float(np.abs(difference - difference.mean(axis=1, keepdims=True)).max())
