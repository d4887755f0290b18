"""Variants: the conventions real libraries deliberately use, each judged by its own exact
oracle (:mod:`rlspec.oracles.library_conventions`), and two noisy-label DPO losses that TRL
selects with ``label_smoothing`` (new entries ``dpo.robust`` and ``dpo.exo``).

A variant is addressed as ``alias@variant`` or ``ID@variant``
(``rlspec check ppo.value-clipping@sb3 mymodule:value_loss``); unless it says otherwise it
keeps its check's signature and cases.  Who uses each one, and why it differs, is in the
"Variants" section of the entry; ``tests/integrations/test_integration_variants.py`` holds
the bugs each must still reject.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from hypothesis import strategies as st
from rlspec.checks.batteries import (  # noqa: F401  (the base checks)
    BATTERIES,
    continuous_control,
    preference,
    register,
    register_variant,
    rlhf,
    trust_region,
)
from rlspec.checks.core import Case, compare, exact_gradient, judge_loss
from rlspec.oracles import dpo as dpo_oracle
from rlspec.oracles import grpo as grpo_oracle
from rlspec.oracles import library_conventions as oracle

PAIRS = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
         "reference_rejected_logps")
POLICY = PAIRS[:2]
REFERENCE = PAIRS[2:]


def _grid(low: int, high: int, denominator: int):
    return st.integers(low * denominator, high * denominator).map(lambda k: k / denominator)


def _array(draw, shape, low, high, denominator) -> np.ndarray:
    count = int(np.prod(shape))
    return np.array(draw(st.lists(_grid(low, high, denominator), min_size=count,
                                  max_size=count)), dtype=np.float64).reshape(shape)


# ------------------------------------------------------------ squashed Gaussian (SB3)

def _judge_values(expected_of):
    """A judge that compares the candidate's array with ``expected_of(**arguments)``."""
    def judge(case, call, tolerance):
        expected = np.asarray(expected_of(**case.arguments), dtype=np.float64)
        return compare(expected, call(case.arguments, expected.shape), tolerance)
    return judge


@st.composite
def _action_cases(draw):
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    pre_tanh = _array(draw, (n, d), -25, 25, 4)  # |u| > 19: tanh rounds to +-1 exactly
    return Case("generated", {"mean": _array(draw, (n, d), -3, 3, 4),
                              "log_std": _array(draw, (n, d), -2, 1, 4),
                              "actions": np.tanh(pre_tanh)})


def _action_edges() -> list[Case]:
    def case(label, actions, mean=0.0, log_std=0.0):
        actions = np.array(actions, dtype=np.float64).reshape(-1, 1)
        return Case(label, {"mean": np.full(actions.shape, mean),
                            "log_std": np.full(actions.shape, log_std), "actions": actions})
    return [case("a = 0", [0.0]),
            case("saturated actions a = +-1: u is recovered as atanh(+-(1 - 2^-52))",
                 [1.0, -1.0]),
            case("a = tanh(1), mean 1/2, sigma e^-1/2", [math.tanh(1.0)], 0.5, -0.5)]


register_variant(
    of="squashed-gaussian-log-prob", variant="sb3",
    users="Stable-Baselines3 SquashedDiagGaussianDistribution.log_prob(a, u)",
    summary="sum_j log N(u_j; mean_j, sigma_j) - log(1 - tanh(u_j)^2 + 1e-6)",
    judge=_judge_values(oracle.squashed_gaussian_log_density_epsilon),
)
register_variant(
    of="squashed-gaussian-log-prob", variant="sb3-from-action",
    users="Stable-Baselines3 SquashedDiagGaussianDistribution.log_prob(a)",
    summary="as @sb3, with u = atanh(clip(a, -1 + 2^-52, 1 - 2^-52)) recovered from the action",
    signature="candidate(mean[N, d], log_std[N, d], actions[N, d]) -> log_prob[N] "
              "(actions in [-1, 1], +-1 included)",
    judge=_judge_values(oracle.squashed_gaussian_log_density_of_action),
    make_generated=_action_cases, make_edge_cases=_action_edges,
)


# ------------------------------------------------------- group advantages, fixed epsilon

for _variant, _epsilon, _users in (("trl", 1e-4, "TRL GRPOTrainer (scale_rewards)"),
                                   ("verl", 1e-6, "verl compute_grpo_outcome_advantage")):
    register_variant(
        of="group-advantages", variant=_variant, users=_users,
        summary=f"(r - group mean) / (group sample std + {_epsilon:g}); a group of equal "
                f"rewards gives 0 (0 / {_epsilon:g})",
        signature="candidate(rewards[n_groups, G]) -> advantages[n_groups, G] (G >= 2)",
        judge=_judge_values(functools.partial(grpo_oracle.group_advantages_exact,
                                              epsilon=_epsilon)),
        make_generated=BATTERIES["dr-grpo-advantages"].make_generated,
        make_edge_cases=BATTERIES["dr-grpo-advantages"].make_edge_cases,
    )


# ------------------------------------------------------------------ PPO dual clip

@st.composite
def _dual_clip_cases(draw):
    size = draw(st.integers(1, 6))
    old = np.log(np.array(draw(st.lists(st.integers(1, 8), min_size=size, max_size=size))) / 8.0)
    # log-ratios in eighths up to +-2 (r up to 7.4): past c = 3 (log 3 = 1.0986, 0.026 from
    # 9/8) and c = 2 (log 2 = 0.693, 0.057 from 3/4), so no case sits on the new kink
    return Case("generated", {"log_prob": old + _array(draw, (size,), -2, 2, 8),
                              "old_log_prob": old, "advantages": _array(draw, (size,), -4, 4, 4),
                              "clip_epsilon": draw(st.sampled_from((0.2, 0.1, 0.3))),
                              "clip_ratio_c": draw(st.sampled_from((3.0, 2.0)))})


def _dual_clip_edges() -> list[Case]:
    def case(label, ratios, advantages, c=3.0):
        old = np.log(np.full(len(ratios), 0.5))
        return Case(label, {"log_prob": old + np.log(np.array(ratios, dtype=np.float64)),
                            "old_log_prob": old, "advantages": np.array(advantages, dtype=float),
                            "clip_epsilon": 0.2, "clip_ratio_c": c})
    return [case("r = 5 > c, A < 0: the loss is capped at c |A|, no gradient", [5.0], [-1.0]),
            case("r = 5, A > 0: the dual clip leaves positive advantages alone", [5.0], [1.0]),
            case("r = 2 < c, A < 0: ordinary PPO", [2.0], [-1.0]),
            case("one sample per region", [5.0, 2.0, 0.5, 1.0], [-1.0, -1.0, 1.0, 2.0])]


def _judge_dual_clip(case, call, tolerance):
    a = case.arguments
    got = call.loss(a, differentiate=("log_prob",), frozen=("old_log_prob", "advantages"))
    return judge_loss(got, oracle.dual_clip_surrogate_loss(**a),
                      {"log_prob": oracle.dual_clip_gradient_bounds(**a)}, tolerance)


register_variant(
    of="ppo-clip-loss", variant="dual-clip",
    users="verl compute_policy_loss_vanilla (clip_ratio_c = 3); Ye et al. 2020",
    summary="-mean_t f_t, f_t = max(min(r A, clip(r) A), c A) for A < 0, the PPO term otherwise",
    signature="candidate(log_prob[N], old_log_prob[N], advantages[N], clip_epsilon, "
              "clip_ratio_c) -> loss; float64 torch tensors in, a 0-d tensor out",
    judge=_judge_dual_clip, make_generated=_dual_clip_cases, make_edge_cases=_dual_clip_edges,
)


# -------------------------------------------------------------- clamped k3 (verl)

def _judge_clamped_k3(case, call, tolerance):
    values, slopes = oracle.clamped_k3_and_slopes(**case.arguments)
    got = call.loss(case.arguments, differentiate=("log_probs",),
                    frozen=("reference_log_probs",), shape=values.shape)
    return judge_loss(got, values, {"log_probs": exact_gradient(slopes)}, tolerance)


register_variant(
    of="kl-k3", variant="verl-low-var",
    users="verl kl_penalty(..., 'low_var_kl')",
    summary="clamp(k3(clamp(log r, -20, 20)), -10, 10), r = pi_ref / pi; slope 0 where clamped",
    judge=_judge_clamped_k3,
    make_edge_cases=lambda: [*BATTERIES["kl-k3"].make_edge_cases(), Case(
        "log r = +-25: past the log-ratio clamp",
        {"log_probs": np.array([-25.0, 0.0]), "reference_log_probs": np.array([0.0, -25.0])})],
)


# ------------------------------------------------------------ whitened GAE (verl)

def _judge_whitened_gae(case, call, tolerance):
    expected = oracle.whitened_masked_gae(**case.arguments)
    got = call(case.arguments, expected.shape)
    response = case.arguments["action_mask"] == 1.0  # off the response nothing is judged
    found = compare(expected[response], got[response], tolerance)
    return found and found.with_hint(" (compared on the response tokens only, in row-major "
                                     "order)")


def _two_response_tokens(case: Case) -> bool:
    return case.arguments["action_mask"].sum() >= 2


register_variant(
    of="masked-gae", variant="verl-whitened",
    users="verl compute_gae_advantage_return",
    summary="masked GAE, then (A - mean) / sqrt(var + 1e-8) over all response tokens of the "
            "batch (sample variance); off the response not judged",
    signature="candidate(rewards[B, T], values[B, T], action_mask[B, T], gamma, lam) -> "
              "advantages[B, T]; at least two response tokens in the batch",
    judge=_judge_whitened_gae,
    make_generated=lambda: BATTERIES["masked-gae"].make_generated().filter(_two_response_tokens),
    make_edge_cases=lambda: [c for c in BATTERIES["masked-gae"].make_edge_cases()
                             if _two_response_tokens(c)],
)


# ------------------------------------------------------------------- SB3 PPO parts

def _judge_sb3_value_loss(case, call, tolerance):
    a = case.arguments
    got = call.loss(a, differentiate=("values",), frozen=("old_values", "returns"))
    return judge_loss(got, float(oracle.unclipped_target_value_loss_exact(**a)),
                      {"values": oracle.unclipped_target_value_gradient_bounds(**a)}, tolerance)


register_variant(
    of="ppo-value-loss", variant="sb3",
    users="Stable-Baselines3 PPO.train with clip_range_vf",
    summary="mean_t (R - V_old - clip(V - V_old, -eps, eps))^2 (no max, no 1/2)",
    judge=_judge_sb3_value_loss,
)


register_variant(
    of="advantage-normalization", variant="sb3",
    users="Stable-Baselines3 PPO.train (normalize_advantage)",
    summary="(A - mean) / (sample std + 1e-8); a one-element batch is left as it is",
    judge=_judge_values(oracle.advantages_normalized_unless_single),
)


# -------------------------------------------------------- length-normalised IPO (TRL)

@st.composite
def _ipo_length_cases(draw):
    base = draw(BATTERIES["ipo-loss"].make_generated())
    n = base.arguments["policy_chosen_logps"].size
    lengths = [np.array(draw(st.lists(st.integers(1, 8), min_size=n, max_size=n)), dtype=np.int64)
               for _ in range(2)]
    return Case("generated", {**base.arguments, "chosen_lengths": lengths[0],
                              "rejected_lengths": lengths[1]})


def _ipo_length_edges() -> list[Case]:
    cases = []
    for case in BATTERIES["ipo-loss"].make_edge_cases():
        n = case.arguments["policy_chosen_logps"].size
        cases.append(Case(case.label + "; lengths 3 and 5", {
            **case.arguments, "chosen_lengths": np.full(n, 3, dtype=np.int64),
            "rejected_lengths": np.full(n, 5, dtype=np.int64)}))
    return cases


def _judge_ipo_per_token(case, call, tolerance):
    a = case.arguments
    per_token = {name: a[name] / a["chosen_lengths" if "chosen" in name else "rejected_lengths"]
                 for name in PAIRS}
    value, chosen, rejected, _ = dpo_oracle.preference_loss_and_gradient(
        *(per_token[name] for name in PAIRS), a["beta"], variant="ipo")
    got = call.loss(a, differentiate=POLICY, frozen=REFERENCE)
    return judge_loss(got, value, {
        "policy_chosen_logps": exact_gradient(np.asarray(chosen) / a["chosen_lengths"]),
        "policy_rejected_logps": exact_gradient(np.asarray(rejected) / a["rejected_lengths"])},
        tolerance)


register_variant(
    of="ipo-loss", variant="length-normalised", users="TRL DPOTrainer loss_type='ipo'",
    summary="the IPO loss on per-token average log-probs: h = (log pi_w - log ref_w) / |y_w| - "
            "(log pi_l - log ref_l) / |y_l|",
    signature="candidate(policy_chosen_logps[N], policy_rejected_logps[N], "
              "reference_chosen_logps[N], reference_rejected_logps[N], chosen_lengths[N] int, "
              "rejected_lengths[N] int, beta) -> loss; torch float64 in (lengths int64)",
    judge=_judge_ipo_per_token, make_generated=_ipo_length_cases,
    make_edge_cases=_ipo_length_edges,
)


# ------------------------------------------------ noisy-label DPO losses (new entries)

def _noisy_label_judge(loss_and_gradient):
    def judge(case, call, tolerance):
        a = case.arguments
        value, chosen, rejected = loss_and_gradient(**a)
        got = call.loss(a, differentiate=POLICY, frozen=REFERENCE)
        return judge_loss(got, value, {"policy_chosen_logps": exact_gradient(chosen),
                                       "policy_rejected_logps": exact_gradient(rejected)},
                          tolerance)
    return judge


def _noisy_label_cases(smoothings):
    @st.composite
    def cases(draw):
        base = draw(BATTERIES["dpo-loss"].make_generated())
        return Case("generated", {**base.arguments,
                                  "label_smoothing": draw(st.sampled_from(smoothings))})
    return cases


def _noisy_label_edges(smoothing):
    return lambda: [Case(c.label, {**c.arguments, "label_smoothing": smoothing})
                    for c in BATTERIES["dpo-loss"].make_edge_cases()]


_NOISY_SIGNATURE = ("candidate(policy_chosen_logps[N], policy_rejected_logps[N], "
                    "reference_chosen_logps[N], reference_rejected_logps[N], beta, "
                    "label_smoothing) -> loss; torch float64 in, a differentiable scalar out")

register(
    name="robust-dpo-loss", spec_id="dpo.robust",
    summary="robust DPO: mean [(1 - eps)(-log sigmoid(beta h)) + eps log sigmoid(-beta h)] "
            "/ (1 - 2 eps)",
    signature=_NOISY_SIGNATURE + " (0 <= label_smoothing < 1/2)",
    judge=_noisy_label_judge(oracle.robust_dpo_loss_and_gradient),
    make_generated=_noisy_label_cases((0.1, 0.0, 0.25, 0.4)), make_edge_cases=_noisy_label_edges(0.1),
)
register(
    name="exo-loss", spec_id="dpo.exo",
    summary="EXO (pairwise): mean KL(Bernoulli(sigmoid(beta h)) || Bernoulli(1 - eps))",
    signature=_NOISY_SIGNATURE + " (0 < label_smoothing < 1)",
    judge=_noisy_label_judge(oracle.exo_loss_and_gradient),
    make_generated=_noisy_label_cases((1e-3, 0.1, 0.25, 0.5)),
    make_edge_cases=_noisy_label_edges(1e-3),
)
