"""The batteries of the TRPO and PPO chapter (issue 4b): canonical signatures, cases, judges.

Each judge calls only ``rlspec.oracles`` (never ``rlspec.reference``).

Losses (the ``ppo-*`` checks and ``categorical-entropy``) are judged on their value *and*
their gradient by the rules of :mod:`rlspec.checks.core`: the candidate receives torch
tensors (``actions`` as int64) and returns a torch tensor that carries its graph; where the
loss has a kink (a ratio exactly on 1 +- eps), any value between the two one-sided
derivatives is accepted.

Generated inputs are exact binary fractions (multiples of 1/8 and 1/4), so the rational
oracles see exactly the numbers the candidate sees, and generated ratios keep clear of the
clip's kinks (log-ratios are multiples of 1/8, never within 0.01 of log(1 +- eps)).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from rlspec.checks.batteries import register
from rlspec.checks.core import (
    Case,
    Mismatch,
    compare,
    exact_gradient,
    judge_loss,
    within_interval,
)
from rlspec.oracles import ppo as ppo_oracle
from rlspec.oracles import trpo as trpo_oracle
from rlspec.oracles.dynamic_programming import expected_return
from rlspec.toy_mdps import strategies
from rlspec.toy_mdps.bandit_functions import BanditFunction
from rlspec.toy_mdps.mdp import TabularMDP

#: The clip epsilons of generated PPO cases (0.2 first: hypothesis shrinks to it).
CLIP_EPSILONS = (0.2, 0.1, 0.3)

#: Above this many state-action pairs the TRPO judges use linear solves instead of rationals.
EXACT_LIMIT = 12


def _sign_hint(expected, got) -> str:
    expected, got = float(expected), float(got)
    if expected != 0 and abs(got + expected) <= 1e-9 * abs(expected):
        return " (exactly minus the oracle: the loss to minimise is minus the objective)"
    return ""


def _value_hint(expected, got) -> str:
    expected, got = float(expected), float(got)
    if expected != 0 and abs(got - 2.0 * expected) <= 1e-9 * abs(expected):
        return (" (exactly twice the oracle: rlspec's value loss has the notes' and baselines' "
                "factor 1/2; PPO's eq. 9 and SB3 have none - return half of yours)")
    return _sign_hint(expected, got)


# ============================================================================== PPO cases

def _dyadic(low: int, high: int, denominator: int):
    return st.integers(low * denominator, high * denominator).map(lambda k: k / denominator)


def _vectors(size: int, low: int, high: int, denominator: int):
    return st.lists(_dyadic(low, high, denominator), min_size=size, max_size=size).map(
        lambda values: np.array(values, dtype=np.float64))


@st.composite
def _clip_cases(draw) -> Case:
    size = draw(st.integers(1, 6))
    old = np.log(np.array(draw(st.lists(st.integers(1, 8), min_size=size, max_size=size))) / 8.0)
    log_ratio = draw(_vectors(size, -1, 1, 8))
    return Case("generated", {"log_prob": old + log_ratio, "old_log_prob": old,
                              "advantages": draw(_vectors(size, -4, 4, 4)),
                              "clip_epsilon": draw(st.sampled_from(CLIP_EPSILONS))})


def _clip_case(label, ratios, advantages, epsilon=0.2) -> Case:
    old = np.log(np.full(len(ratios), 0.5))
    return Case(label, {"log_prob": old + np.log(np.array(ratios, dtype=np.float64)),
                        "old_log_prob": old,
                        "advantages": np.array(advantages, dtype=np.float64),
                        "clip_epsilon": epsilon})


def _clip_edge_cases() -> list[Case]:
    return [
        _clip_case("first epoch: r = 1 everywhere", [1.0, 1.0, 1.0], [1.0, -2.0, 0.5]),
        _clip_case("A > 0 and r > 1 + eps: clipped, no gradient", [1.5], [2.0]),
        _clip_case("A > 0 and r < 1 - eps: not clipped", [0.5], [2.0]),
        _clip_case("A < 0 and r > 1 + eps: not clipped, the gradient flows", [1.5], [-2.0]),
        _clip_case("A < 0 and r < 1 - eps: clipped, no gradient", [0.5], [-2.0]),
        _clip_case("mixed batch, one sample per region", [1.5, 0.5, 1.5, 0.5, 1.1],
                   [1.0, 1.0, -1.0, -1.0, 3.0]),
        _clip_case("eps = 0 at r = 1: a kink, any subgradient", [1.0, 1.0], [1.0, -1.0], 0.0),
        _clip_case("large ratio, negative advantage", [20.0], [-1.0]),
    ]


def _judge_clip_loss(case, call, tolerance):
    a = case.arguments
    expected = ppo_oracle.clipped_surrogate_loss(**a)
    got = call.loss(a, differentiate=("log_prob",), frozen=("old_log_prob", "advantages"))
    bounds = {"log_prob": ppo_oracle.clipped_surrogate_gradient_bounds(**a)}
    return judge_loss(got, expected, bounds, tolerance, _sign_hint, {
        "log_prob": " (0 where the clip is active in the advantage's direction, -r A / N "
                    "elsewhere)"})


@st.composite
def _kl_penalty_cases(draw) -> Case:
    size, n_actions = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    logits = draw(_vectors(size * n_actions, -2, 2, 4)).reshape(size, n_actions)
    old_logits = draw(_vectors(size * n_actions, -2, 2, 4)).reshape(size, n_actions)
    actions = np.array(draw(st.lists(st.integers(0, n_actions - 1), min_size=size,
                                     max_size=size)), dtype=np.int64)
    return Case("generated", {"logits": logits, "old_logits": old_logits, "actions": actions,
                              "advantages": draw(_vectors(size, -4, 4, 4)),
                              "beta": draw(st.sampled_from([1.0, 0.5, 3.0, 0.0]))})


def _kl_penalty_edge_cases() -> list[Case]:
    same = np.array([[0.0, 1.0, -1.0]])
    return [
        Case("new = old: r = 1, KL = 0", {"logits": same, "old_logits": same.copy(),
                                          "actions": np.array([2]), "advantages": np.array([1.5]),
                                          "beta": 1.0}),
        Case("one action", {"logits": np.array([[0.5], [2.0]]), "old_logits": np.array([[0.0], [0.0]]),
                            "actions": np.array([0, 0]), "advantages": np.array([1.0, -1.0]),
                            "beta": 2.0}),
        Case("KL direction matters: old (1/2, 1/2), new (1/4, 3/4)",
             {"logits": np.array([[0.0, math.log(3.0)]]), "old_logits": np.array([[0.0, 0.0]]),
              "actions": np.array([0]), "advantages": np.array([0.0]), "beta": 1.0}),
        Case("beta = 0 is the unclipped surrogate L^CPI",
             {"logits": np.array([[1.0, 0.0], [0.0, 0.0]]), "old_logits": np.zeros((2, 2)),
              "actions": np.array([0, 1]), "advantages": np.array([2.0, -1.0]), "beta": 0.0}),
        Case("logits [800, 0, 790] against old [800, 0, 795]: a softmax without the max "
             "shift, or shifted by the min, overflows",
             {"logits": np.array([[800.0, 0.0, 790.0]]),
              "old_logits": np.array([[800.0, 0.0, 795.0]]),
              "actions": np.array([2]), "advantages": np.array([1.0]), "beta": 0.5}),
        Case("logits [-800, 0, -5] against old [-800, 0, 0]: an action of probability e^-800 "
             "under both; log(softmax) gives 0 * (-inf + inf) = NaN in the KL",
             {"logits": np.array([[-800.0, 0.0, -5.0]]),
              "old_logits": np.array([[-800.0, 0.0, 0.0]]),
              "actions": np.array([2]), "advantages": np.array([1.0]), "beta": 0.5}),
    ]


def _judge_kl_penalty(case, call, tolerance):
    a = case.arguments
    expected = ppo_oracle.kl_penalty_loss(**a)
    got = call.loss(a, differentiate=("logits",), frozen=("old_logits", "advantages"))
    bounds = {"logits": exact_gradient(ppo_oracle.kl_penalty_gradient(**a))}
    return judge_loss(got, expected, bounds, tolerance, _sign_hint)


#: kl_target values whose thresholds d_targ / 1.5 and 1.5 d_targ are exact binary fractions
#: (3 * 2^-k), so that "exactly on the threshold" means the same in every evaluation order.
KL_TARGETS = (0.375, 0.1875, 0.75, 0.09375)


@st.composite
def _adaptive_kl_cases(draw) -> Case:
    target = draw(st.sampled_from(KL_TARGETS))
    kl = draw(st.one_of(st.integers(0, 128).map(lambda k: k / 64.0),
                        st.sampled_from([target / 1.5, target * 1.5, target])))
    beta = draw(st.sampled_from([1.0, 0.5, 3.0, 0.125, 8.0]))
    return Case("generated", {"beta": beta, "kl": kl, "kl_target": target})


def _adaptive_kl_edge_cases() -> list[Case]:
    return [
        Case("d far below the target: halve", {"beta": 1.0, "kl": 0.0, "kl_target": 0.375}),
        Case("d far above the target: double", {"beta": 1.0, "kl": 2.0, "kl_target": 0.375}),
        Case("d = d_targ / 1.5 exactly: unchanged (strict <)", {"beta": 1.0, "kl": 0.25, "kl_target": 0.375}),
        Case("d = 1.5 d_targ exactly: unchanged (strict >)", {"beta": 1.0, "kl": 0.5625, "kl_target": 0.375}),
        Case("d just below d_targ / 1.5", {"beta": 2.0, "kl": 0.25 - 2.0 ** -20, "kl_target": 0.375}),
        Case("d just above 1.5 d_targ", {"beta": 2.0, "kl": 0.5625 + 2.0 ** -20, "kl_target": 0.375}),
        Case("the paper's d_targ = 0.01", {"beta": 1.0, "kl": 0.003, "kl_target": 0.01}),
    ]


def _judge_adaptive_kl(case, call, tolerance):
    a = case.arguments
    expected = float(ppo_oracle.adaptive_kl_coefficient_exact(**a))
    found = compare(expected, call(a, ()), tolerance)
    if found:
        d, target, beta = a["kl"], a["kl_target"], a["beta"]
        rule = ("d < d_targ / 1.5, so beta halves" if expected < beta else
                "d > 1.5 d_targ, so beta doubles" if expected > beta else
                "d_targ / 1.5 <= d <= 1.5 d_targ, so beta stays")
        return Mismatch(f"{found.message}: here d = {d!r}, d_targ = {target!r}: {rule}",
                        found.expected, found.got, found.tolerance)
    return None


@st.composite
def _value_clip_cases(draw) -> Case:
    size = draw(st.integers(1, 6))
    return Case("generated", {"values": draw(_vectors(size, -4, 4, 8)),
                              "old_values": draw(_vectors(size, -4, 4, 8)),
                              "returns": draw(_vectors(size, -4, 4, 8)),
                              "clip_epsilon": draw(st.sampled_from((0.2, 0.5, 0.1, 1.0)))})


def _value_case(label, values, old_values, returns, epsilon=0.2) -> Case:
    return Case(label, {"values": np.array(values, dtype=np.float64),
                        "old_values": np.array(old_values, dtype=np.float64),
                        "returns": np.array(returns, dtype=np.float64), "clip_epsilon": epsilon})


def _value_clip_edge_cases() -> list[Case]:
    return [
        _value_case("inside the clip range: plain squared error", [1.1], [1.0], [3.0]),
        _value_case("moved past old + eps, away from the return: clipped loss is larger",
                    [2.0], [1.0], [0.0]),
        _value_case("moved past old + eps, towards the return: the max keeps the clipped loss",
                    [2.0], [1.0], [3.0]),
        _value_case("overshot the return: the unclipped loss is larger", [4.0], [1.0], [2.0]),
        _value_case("a batch mixing all cases", [1.1, 2.0, 2.0, 4.0, -1.0],
                    [1.0, 1.0, 1.0, 1.0, 0.0], [3.0, 0.0, 3.0, 2.0, 1.0]),
        _value_case("on the clip's edge (eps = 1/2): a kink", [1.5], [1.0], [3.0], 0.5),
    ]


def _judge_value_clip(case, call, tolerance):
    a = case.arguments
    expected = float(ppo_oracle.clipped_value_loss_exact(**a))
    got = call.loss(a, differentiate=("values",), frozen=("old_values", "returns"))
    lower, upper = ppo_oracle.clipped_value_gradient_bounds_exact(**a)
    bounds = {"values": ([float(x) for x in lower], [float(x) for x in upper])}
    return judge_loss(got, expected, bounds, tolerance, _value_hint)


@st.composite
def _normalization_cases(draw) -> Case:
    size = draw(st.integers(1, 8))
    values = draw(st.one_of(_vectors(size, -4, 4, 4),
                            _dyadic(-4, 4, 4).map(lambda v: np.full(size, v))))
    offset = draw(st.sampled_from([0.0, 0.0, 1000.0]))
    return Case("generated", {"advantages": values + offset})


def _normalization_edge_cases() -> list[Case]:
    return [
        Case("a single advantage: normalises to 0 (torch's std() is NaN here)", {"advantages": np.array([3.0])}),
        Case("a constant batch: 0 / 0 must not happen", {"advantages": np.array([2.0, 2.0, 2.0])}),
        Case("a constant batch whose float mean rounds", {"advantages": np.array([0.1, 0.1, 0.1])}),
        Case("two values", {"advantages": np.array([1.0, 3.0])}),
        Case("a large common offset", {"advantages": np.array([1e6 + 1.0, 1e6 - 1.0, 1e6])}),
        Case("a spread of 2e-8: std + 1e-8 is off by a third, std + 1e-4 (or a floor on the "
             "std) flattens it", {"advantages": np.array([0.0, 2e-8])}),
    ]


#: The largest epsilon the entry allows in the denominator std + epsilon.
NORMALIZATION_EPSILON = 1e-8


def _judge_normalization(case, call, tolerance):
    advantages = case.arguments["advantages"]
    got = call(case.arguments, advantages.shape)
    found = []
    for ddof in (1, 0):
        bounds = [np.array(ppo_oracle.normalized_advantages_exact(advantages, ddof, epsilon))
                  for epsilon in (0.0, NORMALIZATION_EPSILON)]
        found.append(within_interval(got, np.minimum(*bounds), np.maximum(*bounds), tolerance))
        if found[-1] is None:
            return None
    return found[0].with_hint(" (the oracle accepts the sample std, N - 1, or the population "
                              "std, N, plus an epsilon of at most 1e-8; expected shows N - 1)")


@st.composite
def _entropy_cases(draw) -> Case:
    size, n_actions = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    return Case("generated", {"logits": draw(_vectors(size * n_actions, -3, 3, 4)).reshape(size, n_actions)})


def _entropy_edge_cases() -> list[Case]:
    return [
        Case("uniform over 4 actions: ln 4", {"logits": np.zeros((1, 4))}),
        Case("one action: 0", {"logits": np.array([[2.0]])}),
        Case("a probability that underflows to 0 (logit -1000)", {"logits": np.array([[0.0, -1000.0, 0.0]])}),
        Case("large logits (naive exp overflows)", {"logits": np.array([[1000.0, 999.0], [0.0, 1.0]])}),
    ]


def _entropy_weights(shape) -> np.ndarray:
    """Distinct weights 1, 2, ..., N: the judge differentiates sum_t w_t H_t, so a candidate
    that mixes up the rows' gradients is caught."""
    return np.arange(1.0, shape[0] + 1.0)


def _judge_entropy(case, call, tolerance):
    logits = case.arguments["logits"]
    expected = ppo_oracle.categorical_entropy_high_precision(logits)
    weights = _entropy_weights(logits.shape)
    got = call.loss(case.arguments, differentiate=("logits",), shape=expected.shape,
                    weights=weights)
    gradient = weights[:, None] * ppo_oracle.categorical_entropy_gradient(logits)
    return judge_loss(got, expected, {"logits": exact_gradient(gradient)}, tolerance,
                      gradient_hints={"logits": f" (the judge differentiates sum_t w_t H_t with "
                                                f"w = {weights.tolist()})"})


@st.composite
def _total_loss_cases(draw) -> Case:
    clip = draw(_clip_cases())
    size = clip.arguments["log_prob"].size
    return Case("generated", {
        **clip.arguments,
        "values": draw(_vectors(size, -4, 4, 8)), "old_values": draw(_vectors(size, -4, 4, 8)),
        "entropy": draw(_vectors(size, 0, 2, 8)),
        "value_clip_epsilon": draw(st.sampled_from([0.2, None, 0.5])),
        "value_coefficient": draw(st.sampled_from([0.5, 1.0, 0.25])),
        "entropy_coefficient": draw(st.sampled_from([0.01, 0.0, 0.5])),
        "normalize": draw(st.booleans())})


def _total_case(label, normalize, value_clip_epsilon=0.2, size=4) -> Case:
    ratios = np.array([1.5, 0.5, 1.1, 0.9][:size])
    return Case(label, {
        "log_prob": np.log(ratios) - 1.0, "old_log_prob": np.full(size, -1.0),
        "advantages": np.array([2.0, -1.0, 0.5, 3.0][:size]),
        "values": np.array([1.0, 0.0, -1.0, 2.5][:size]),
        "old_values": np.array([0.5, 0.5, -1.0, 2.0][:size]),
        "entropy": np.array([0.5, 1.0, 0.25, 0.75][:size]), "clip_epsilon": 0.2,
        "value_clip_epsilon": value_clip_epsilon, "value_coefficient": 0.5,
        "entropy_coefficient": 0.01, "normalize": normalize})


def _total_loss_edge_cases() -> list[Case]:
    return [
        _total_case("raw advantages", False),
        _total_case("normalised advantages (returns from the raw ones)", True),
        _total_case("no value clipping", True, None),
        _total_case("a single sample with normalisation", True, 0.2, size=1),
        _total_case("two samples with normalisation: the sample std (N - 1) and the population "
                    "std (N) differ by sqrt 2", True, 0.2, size=2),
    ]


def _judge_total_loss(case, call, tolerance):
    a = case.arguments
    got = call.loss(a, differentiate=("log_prob", "values", "entropy"),
                    frozen=("old_log_prob", "advantages", "old_values"))
    first = None
    for ddof in ((1, 0) if a["normalize"] else (1,)):
        expected, bounds = ppo_oracle.total_loss_exact(**a, ddof=ddof)
        found = judge_loss(got, expected, bounds, tolerance)
        if found is None:
            return None
        first = first or found
    return Mismatch(first.message + " (value targets are advantages + old_values with the raw "
                    "advantages; only the policy term uses normalised ones)",
                    first.expected, first.got, first.tolerance)


# ============================================================================= TRPO cases

def _strictly_positive_policies(n_states: int, n_actions: int):
    """Rows of multiples of 1/8 that are all >= 1/8 (so a KL towards them is finite)."""
    row = st.lists(st.integers(0, 8 - n_actions), min_size=n_actions - 1, max_size=n_actions - 1).map(
        lambda cuts: (np.diff(np.array([0, *sorted(cuts), 8 - n_actions])) + 1) / 8.0)
    return st.lists(row, min_size=n_states, max_size=n_states).map(np.stack)


@st.composite
def _trpo_policy_cases(draw) -> Case:
    mdp = draw(strategies.mdps(episodic=False, max_states=4, max_actions=3))
    old = draw(strategies.policies(mdp.n_states, mdp.n_actions))
    new = draw(st.one_of(_strictly_positive_policies(mdp.n_states, mdp.n_actions),
                         strategies.policies(mdp.n_states, mdp.n_actions)))
    return Case("generated", {"transitions": np.array(mdp.transitions),
                              "rewards": np.array(mdp.rewards), "gamma": mdp.gamma,
                              "initial_distribution": np.array(mdp.initial_distribution),
                              "old_policy": old, "new_policy": new}, {"mdp": mdp})


@st.composite
def _trpo_bound_cases(draw) -> Case:
    mdp = draw(strategies.mdps(episodic=False, max_states=4, max_actions=3))
    old = draw(strategies.policies(mdp.n_states, mdp.n_actions))
    new = draw(_strictly_positive_policies(mdp.n_states, mdp.n_actions))
    return Case("generated", {"transitions": np.array(mdp.transitions),
                              "rewards": np.array(mdp.rewards), "gamma": mdp.gamma,
                              "initial_distribution": np.array(mdp.initial_distribution),
                              "old_policy": old, "new_policy": new}, {"mdp": mdp})


def _trpo_mdps(tiny: bool) -> list[TabularMDP]:
    """Small hand-made MDPs (edge cases) or named toy MDPs at gamma = 0.9 (toy cases)."""
    if tiny:
        stay = np.ones((1, 2, 1))
        swap = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
        return [TabularMDP(stay, [[1.0, 0.0]], 0.5, name="one state, two arms, gamma = 1/2"),
                TabularMDP(swap, [[0.0, 1.0], [2.0, 0.0]], 0.9, name="two states, gamma = 0.9"),
                TabularMDP(swap, [[0.0, 1.0], [2.0, 0.0]], 0.0, name="gamma = 0")]
    from rlspec.toy_mdps.catalogue import make

    return [make(name, gamma=0.9) for name in
            ("two-state", "bandit-10", "chain-5", "random-walk-5", "sb-gridworld-4x4",
             "frozenlake-4x4")]


def _trpo_edge_cases() -> list[Case]:
    """The hand-made MDPs, then the branch points of the bound and of the KL's 0 log 0."""
    stay, swap = np.ones((1, 2, 1)), np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])

    def case(label, transitions, rewards, gamma, old, new):
        initial = np.full(len(rewards), 1.0 / len(rewards))
        return Case(label, {"transitions": transitions, "rewards": np.array(rewards),
                            "gamma": gamma, "initial_distribution": initial,
                            "old_policy": np.array(old), "new_policy": np.array(new)})
    return [
        *(_trpo_policy_case(m) for m in _trpo_mdps(tiny=True)),
        # r = (1/4, 0), gamma = 1/2, old uniform: A = (1/8, -1/8), so C = 4 (1/8)(1/2) / (1/2)^2
        # is exactly 1 in floating point, the value a wrong branch "C == 1" would skip.
        case("C = 4 eps gamma / (1 - gamma)^2 = 1 exactly: the KL term still counts",
             stay, [[0.25, 0.0]], 0.5, [[0.5, 0.5]], [[0.75, 0.25]]),
        case("an old policy with a zero: 0 log 0 = 0", swap, [[0.0, 1.0], [2.0, 0.0]], 0.9,
             [[1.0, 0.0], [0.5, 0.5]], [[0.5, 0.5], [0.25, 0.75]]),
        case("an action both policies give probability 0, and a deterministic row",
             swap, [[0.0, 1.0], [2.0, 0.0]], 0.9,
             [[1.0, 0.0], [0.5, 0.5]], [[1.0, 0.0], [0.25, 0.75]]),
    ]


def _trpo_policy_case(mdp: TabularMDP) -> Case:
    n_states, n_actions = mdp.n_states, mdp.n_actions
    old = np.full((n_states, n_actions), 1.0 / n_actions)
    new = np.empty((n_states, n_actions))
    for s in range(n_states):  # 3/4 (even states) or 5/8 (odd) on action s mod A: the
        main = 0.75 if s % 2 == 0 else 0.625  # per-state KLs differ, so max != mean
        new[s] = (1.0 - main) / max(n_actions - 1, 1)
        new[s, s % n_actions] = main if n_actions > 1 else 1.0
    initial = np.array(mdp.initial_distribution)
    return Case(mdp.name, {"transitions": np.array(mdp.transitions), "rewards": np.array(mdp.rewards),
                           "gamma": mdp.gamma, "initial_distribution": initial,
                           "old_policy": old, "new_policy": new}, {"mdp": mdp})


def _judge_surrogate(case, call, tolerance):
    a = case.arguments
    if a["rewards"].size <= EXACT_LIMIT:
        expected = float(trpo_oracle.surrogate_objective_exact(**a))
    else:
        expected = trpo_oracle.surrogate_objective(**a)
    found = compare(expected, call(a, ()), tolerance)
    if found:
        j_new = expected_return(a["transitions"], a["rewards"], a["gamma"], a["new_policy"],
                                a["initial_distribution"])
        hint = ""
        if abs(float(found.got) - j_new) <= tolerance * max(1.0, abs(j_new)):
            hint = (" (you returned J(pi') itself: L weights the advantages by the *old* "
                    "policy's visitation nu^pi, not the new one's)")
        return Mismatch(found.message + hint, found.expected, found.got, found.tolerance)
    return None


def _judge_lower_bound(case, call, tolerance):
    a = case.arguments
    if a["rewards"].size <= EXACT_LIMIT:
        expected = trpo_oracle.improvement_lower_bound_high_precision(**a)
    else:
        expected = trpo_oracle.improvement_lower_bound(**a)
    return compare(expected, call(a, ()), tolerance)


@st.composite
def _mean_kl_cases(draw) -> Case:
    n_states, n_actions = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return Case("generated", {"old_policy": draw(strategies.policies(n_states, n_actions)),
                              "new_policy": draw(_strictly_positive_policies(n_states, n_actions)),
                              "state_weights": draw(strategies.probability_vectors(n_states))})


def _mean_kl_edge_cases() -> list[Case]:
    return [
        Case("identical policies: 0", {"old_policy": np.array([[0.5, 0.5], [0.25, 0.75]]),
                                        "new_policy": np.array([[0.5, 0.5], [0.25, 0.75]]),
                                        "state_weights": np.array([0.5, 0.5])}),
        Case("old first: KL((1/2, 1/2) || (1/4, 3/4)) = ln(4/3) / 2, not KL((1/4, 3/4) || (1/2, 1/2))",
             {"old_policy": np.array([[0.5, 0.5]]), "new_policy": np.array([[0.25, 0.75]]),
              "state_weights": np.array([1.0])}),
        Case("old policy with a zero: 0 log 0 = 0",
             {"old_policy": np.array([[1.0, 0.0, 0.0]]), "new_policy": np.array([[0.5, 0.25, 0.25]]),
              "state_weights": np.array([1.0])}),
        Case("state weights matter", {"old_policy": np.array([[0.5, 0.5], [1.0, 0.0]]),
                                      "new_policy": np.array([[0.125, 0.875], [0.5, 0.5]]),
                                      "state_weights": np.array([0.75, 0.25])}),
        Case("an action both policies give probability 0: 0 log(0 / 0) = 0",
             {"old_policy": np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]]),
              "new_policy": np.array([[0.25, 0.75, 0.0], [0.0, 1.0, 0.0]]),
              "state_weights": np.array([0.5, 0.5])}),
        Case("a state of weight 0 where the new policy drops an old action: its infinite KL "
             "is not counted (0 * inf must not become NaN)",
             {"old_policy": np.array([[0.5, 0.5], [1.0, 0.0]]),
              "new_policy": np.array([[0.25, 0.75], [0.0, 1.0]]),
              "state_weights": np.array([1.0, 0.0])}),
    ]


def _judge_mean_kl(case, call, tolerance):
    expected = trpo_oracle.mean_kl_high_precision(**case.arguments)
    found = compare(expected, call(case.arguments, ()), tolerance)
    if found:
        a = case.arguments
        reverse = trpo_oracle.mean_kl_high_precision(a["new_policy"], a["old_policy"], a["state_weights"]) \
            if np.all(a["old_policy"] > 0) else None
        if reverse is not None and abs(float(found.got) - reverse) <= tolerance * max(1.0, abs(reverse)):
            return Mismatch(found.message + " (that is KL(new || old): TRPO's constraint has the "
                            "old policy first)", found.expected, found.got, found.tolerance)
    return found


@st.composite
def _fisher_cases(draw) -> Case:
    n_states, n_actions, n_features = (draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                                       draw(st.integers(1, 4)))
    features = np.array(draw(st.lists(st.integers(-2, 2), min_size=n_states * n_actions * n_features,
                                      max_size=n_states * n_actions * n_features)),
                        dtype=np.float64).reshape(n_states, n_actions, n_features)
    return Case("generated", {"features": features, "theta": draw(_vectors(n_features, -2, 2, 4)),
                              "state_weights": draw(strategies.probability_vectors(n_states)),
                              "vector": draw(_vectors(n_features, -3, 3, 1))})


def _fisher_edge_cases() -> list[Case]:
    tabular = np.eye(4).reshape(2, 2, 4)
    return [
        Case("tabular softmax (one-hot features), uniform policy",
             {"features": tabular, "theta": np.zeros(4), "state_weights": np.array([0.5, 0.5]),
              "vector": np.array([1.0, 0.0, 0.0, 2.0])}),
        Case("one action: F = 0", {"features": np.array([[[1.0, 2.0]]]), "theta": np.array([0.5, -0.5]),
                                   "state_weights": np.array([1.0]), "vector": np.array([1.0, 1.0])}),
        Case("logistic policy (the reference's example)",
             {"features": np.array([[[1.0], [0.0]]]), "theta": np.array([0.0]),
              "state_weights": np.array([1.0]), "vector": np.array([2.0])}),
        Case("a state with weight 0 contributes nothing",
             {"features": np.array([[[1.0, 0.0], [0.0, 1.0]], [[3.0, 1.0], [-2.0, 0.0]]]),
              "theta": np.array([0.25, -0.5]), "state_weights": np.array([1.0, 0.0]),
              "vector": np.array([1.0, -1.0])}),
        Case("scores [800, 0] and [0, 0]: a softmax without the max shift, or shifted by the "
             "min or by another state's max, overflows",
             {"features": np.array([[[1.0], [0.0]], [[0.0], [0.0]]]), "theta": np.array([800.0]),
              "state_weights": np.array([0.5, 0.5]), "vector": np.array([1.0])}),
        Case("scores [-800, 0]: the same spread in the other direction",
             {"features": np.array([[[1.0], [0.0]]]), "theta": np.array([-800.0]),
              "state_weights": np.array([1.0]), "vector": np.array([2.0])}),
    ]


def _judge_fisher(case, call, tolerance):
    a = case.arguments
    expected = trpo_oracle.fisher_matrix(a["features"], a["theta"], a["state_weights"]) @ a["vector"]
    return compare(expected, call(a, expected.shape), tolerance)


#: Householder reflections I - 2 v v^T / (v^T v) with v^T v a power of two have entries that
#: are exact binary fractions; H diag(lambda) H then has exactly the eigenvalues lambda, with
#: repeats, which lets the cases control how many CG steps solve the system exactly.
def _householder(size: int, support: int) -> np.ndarray:
    v = np.zeros(size)
    v[:support] = 1.0
    return np.eye(size) - 2.0 * np.outer(v, v) / (v @ v)


@st.composite
def _cg_cases(draw) -> Case:
    size = draw(st.integers(1, 5))
    if draw(st.booleans()):
        m = np.array(draw(st.lists(st.integers(-2, 2), min_size=size * size, max_size=size * size)),
                     dtype=np.float64).reshape(size, size)
        matrix = m.T @ m + np.eye(size)  # eigenvalues >= 1, so ||A^-1|| <= 1
    else:
        eigenvalues = np.array(draw(st.lists(st.sampled_from([1.0, 2.0, 4.0, 3.0]), min_size=size,
                                             max_size=size)))
        h = _householder(size, draw(st.sampled_from([s for s in (1, 2, 4) if s <= size])))
        matrix = h @ np.diag(eigenvalues) @ h
    vector = np.array(draw(st.lists(st.integers(-3, 3), min_size=size, max_size=size)), dtype=np.float64)
    return Case("generated", {"matrix": matrix, "vector": vector,
                              "iterations": draw(st.integers(0, size))})


def _cg_edge_cases() -> list[Case]:
    diagonal = np.diag([1.0, 2.0])
    repeated = _householder(4, 4) @ np.diag([2.0, 2.0, 2.0, 1.0]) @ _householder(4, 4)
    return [
        Case("two steps solve a 2 x 2 system", {"matrix": diagonal, "vector": np.array([1.0, 2.0]),
                                               "iterations": 2}),
        Case("one step: the minimiser along b, not the solution",
             {"matrix": diagonal, "vector": np.array([1.0, 2.0]), "iterations": 1}),
        Case("b = 0: x = 0, not 0 / 0", {"matrix": diagonal, "vector": np.zeros(2), "iterations": 2}),
        Case("two distinct eigenvalues: 2 steps solve a 4 x 4 system",
             {"matrix": repeated, "vector": np.array([1.0, -2.0, 3.0, 0.0]), "iterations": 2}),
        Case("zero iterations: x = 0", {"matrix": diagonal, "vector": np.array([1.0, 2.0]),
                                        "iterations": 0}),
        Case("more iterations than needed", {"matrix": np.array([[4.0, 1.0], [1.0, 3.0]]),
                                             "vector": np.array([1.0, 2.0]), "iterations": 5}),
    ]


#: CG codes stop once r^T r < 1e-10 (baselines, SB3-contrib, Hands-on-RL).  The A-norm error
#: of CG never grows, so stopping at step j instead of k moves x by at most
#: ||x_j - x_k||_2 <= 2 ||A^-1||_2 ||r_j||_2 < 2e-5 ||A^-1||_2; the judge allows that much on top
#: of the relative tolerance (catalogued bugs are off by 0.1 or more; cases have ||A^-1|| <= 1).
CG_STOPPING_SLACK = 2e-5


def _judge_cg(case, call, tolerance):
    a = case.arguments
    expected = np.array([float(x) for x in trpo_oracle.krylov_iterate_exact(**a)])
    got = call(a, expected.shape)
    inverse_norm = 1.0 / float(np.linalg.eigvalsh(a["matrix"]).min())
    slack = tolerance * max(1.0, float(np.max(np.abs(expected), initial=0.0))) \
        + CG_STOPPING_SLACK * inverse_norm
    found = compare(expected, got, slack / max(1.0, float(np.max(np.abs(expected), initial=0.0))))
    if found:
        solution = np.linalg.solve(a["matrix"], a["vector"]) if a["vector"].any() else expected
        extra = ""
        if not np.allclose(expected, solution) and np.allclose(got, solution):
            extra = (f" (you returned the exact solution of A x = b, but {a['iterations']} CG "
                     f"step(s) from x = 0 reach only the Krylov-space minimiser)")
        elif np.allclose(got, a["vector"]) and not np.allclose(expected, a["vector"]):
            extra = " (you returned b itself: no solve)"
        return Mismatch(found.message + extra, found.expected, found.got, found.tolerance)
    return None


@st.composite
def _step_scaling_cases(draw) -> Case:
    size = draw(st.integers(1, 4))
    if draw(st.booleans()):
        m = np.array(draw(st.lists(st.integers(-2, 2), min_size=size * size, max_size=size * size)),
                     dtype=np.float64).reshape(size, size)
        fisher = m.T @ m + np.eye(size) / 4
    else:
        eigenvalues = np.array(draw(st.lists(st.sampled_from([0.25, 1.0, 4.0, 16.0]), min_size=size,
                                             max_size=size)))
        h = _householder(size, draw(st.sampled_from([s for s in (1, 2, 4) if s <= size])))
        fisher = h @ np.diag(eigenvalues) @ h
    direction = draw(_vectors(size, -3, 3, 4))
    assume(direction.any())
    return Case("generated", {"direction": direction, "fisher": fisher,
                              "max_kl": draw(st.sampled_from([0.01, 0.05, 0.001, 0.1, 1.0]))})


def _step_scaling_edge_cases() -> list[Case]:
    return [
        Case("F = diag(1, 2), x = (1, 1), delta = 1/4: beta = sqrt(1/6)",
             {"direction": np.array([1.0, 1.0]), "fisher": np.diag([1.0, 2.0]), "max_kl": 0.25}),
        Case("F far from the identity: x^T F x = 16.25 while x^T x = 2",
             {"direction": np.array([2.0, 1.0]), "fisher": np.diag([4.0, 0.25]), "max_kl": 0.01}),
        Case("a singular F (rank 1), x outside its null space",
             {"direction": np.array([1.0, -3.0]), "fisher": np.array([[1.0, 1.0], [1.0, 1.0]]),
              "max_kl": 0.05}),
        Case("a correlated F and a small radius",
             {"direction": np.array([3.0, -0.25, 0.5]),
              "fisher": np.array([[5.0, 1.0, 0.0], [1.0, 2.0, -0.5], [0.0, -0.5, 1.0]]),
              "max_kl": 0.001}),
    ]


def _judge_step_scaling(case, call, tolerance):
    a = case.arguments
    expected = trpo_oracle.full_step_high_precision(**a)
    got = call(a, expected.shape)
    found = compare(expected, got, tolerance)
    if not found:
        return None
    model = float(trpo_oracle.quadratic_kl_model(got, a["fisher"]))
    return found.with_hint(f": the full step must put the KL's quadratic model on the radius, "
                           f"(1/2) step^T F step = max_kl = {a['max_kl']!r}, and yours gives "
                           f"{model:.6g}")


def _line_search_case(label, old_logits, advantages, full_step, max_kl, backtrack_ratio=0.5,
                      max_backtracks=10) -> Case:
    old_logits = np.array(old_logits, dtype=np.float64)
    advantages = np.array(advantages, dtype=np.float64)
    return Case(label, {"parameters": old_logits, "full_step": np.array(full_step, dtype=np.float64),
                        "surrogate": BanditFunction("surrogate", old_logits, advantages),
                        "kl": BanditFunction("kl", old_logits, advantages),
                        "max_kl": max_kl, "backtrack_ratio": backtrack_ratio,
                        "max_backtracks": max_backtracks},
                {"old_logits": old_logits, "advantages": advantages})


#: The line-search judge skips generated cases where some tested KL or improvement lies
#: within this distance of its threshold: a float evaluation could decide them either way.
LINE_SEARCH_MARGIN = 1e-9


@st.composite
def _line_search_cases(draw) -> Case:
    n_actions = draw(st.integers(2, 4))
    case = _line_search_case(
        "generated", draw(_vectors(n_actions, -2, 2, 2)), draw(_vectors(n_actions, -2, 2, 2)),
        draw(_vectors(n_actions, -4, 4, 1)), draw(st.sampled_from([0.05, 0.01, 0.2])),
        draw(st.sampled_from([0.5, 0.8])), draw(st.integers(1, 10)))
    a = case.arguments
    _, margin = trpo_oracle.line_search_by_enumeration(
        a["parameters"], case.context["advantages"], a["full_step"], a["max_kl"],
        a["backtrack_ratio"], a["max_backtracks"])
    assume(margin > LINE_SEARCH_MARGIN)
    return case


def _line_search_edge_cases() -> list[Case]:
    # Each was designed by enumerating the fractions with the oracle; the label says which.
    return [
        _line_search_case("the full step is accepted", [0.0, 0.0], [1.0, -1.0], [0.2, -0.2], 0.05),
        _line_search_case("the full step breaks the KL; the 4th fraction (1/8) is accepted",
                          [0.0, 0.0], [1.0, -1.0], [2.0, -2.0], 0.05),
        _line_search_case("every fraction keeps the KL but lowers L: rejected, theta unchanged",
                          [0.0, 0.0], [1.0, -1.0], [-0.2, 0.2], 0.05),
        _line_search_case("the full step overshoots and lowers L; the half step improves",
                          [0.0, 0.0, 0.0], [2.0, -1.0, 0.0], [0.0, -4.0, 2.0], 10.0),
        _line_search_case("no fraction within max_backtracks keeps the KL: rejected",
                          [0.0, 0.0], [1.0, -1.0], [4.0, -4.0], 0.01, 0.5, 2),
    ]


def _judge_line_search(case, call, tolerance):
    a, context = case.arguments, case.context
    accepted, _ = trpo_oracle.line_search_by_enumeration(
        a["parameters"], context["advantages"], a["full_step"], a["max_kl"], a["backtrack_ratio"],
        a["max_backtracks"])
    expected = a["parameters"] if accepted is None else \
        a["parameters"] + a["backtrack_ratio"] ** accepted * a["full_step"]
    got = call(a, expected.shape)
    found = compare(expected, got, tolerance)
    if not found:
        return None
    what = "rejected the update (theta unchanged)" if accepted is None else \
        f"accepted the fraction beta^{accepted} = {a['backtrack_ratio'] ** accepted:g}"
    step = a["full_step"]
    taken = float((got - a["parameters"]) @ step / (step @ step)) if step.any() else 0.0
    return Mismatch(f"{found.message}: the first fraction with KL <= max_kl and an improved "
                    f"surrogate is the rule, which {what}; you moved by {taken:.6g} of the full step",
                    found.expected, found.got, found.tolerance)


# ============================================================================== registry

TRPO_ARGUMENTS = ("transitions[s, a, s'], rewards[s, a], gamma < 1, initial_distribution[s], "
                  "old_policy[s, a], new_policy[s, a]")

register(
    name="trpo-surrogate", spec_id="trpo.surrogate",
    summary="L_pi(pi') = J(pi) + sum_s nu^pi(s) sum_a pi'(a|s) A^pi(s, a) / (1 - gamma)",
    signature=f"candidate({TRPO_ARGUMENTS}) -> float",
    judge=_judge_surrogate, make_generated=_trpo_policy_cases,
    make_edge_cases=_trpo_edge_cases,
    make_toy_cases=lambda: [_trpo_policy_case(m) for m in _trpo_mdps(tiny=False)],
)
register(
    name="trpo-lower-bound", spec_id="trpo.monotonic-improvement",
    summary="TRPO Theorem 1's bound L_pi(pi') - 4 eps gamma / (1 - gamma)^2 * max_s KL(pi || pi')",
    signature=f"candidate({TRPO_ARGUMENTS}) -> float (new_policy > 0 wherever old_policy > 0)",
    judge=_judge_lower_bound, make_generated=_trpo_bound_cases,
    make_edge_cases=_trpo_edge_cases,
    make_toy_cases=lambda: [_trpo_policy_case(m) for m in _trpo_mdps(tiny=False)],
)
register(
    name="mean-kl", spec_id="trpo.kl-constraint",
    summary="sum_s w(s) KL(pi_old(.|s) || pi_new(.|s)), old policy first",
    signature="candidate(old_policy[s, a], new_policy[s, a], state_weights[s]) -> float",
    judge=_judge_mean_kl, make_generated=_mean_kl_cases, make_edge_cases=_mean_kl_edge_cases,
)
register(
    name="fisher-vector-product", spec_id="trpo.fisher-vector-product",
    summary="F v for the linear-softmax policy pi(a|s) = softmax_a(phi(s, a) . theta)",
    signature="candidate(features[s, a, k], theta[k], state_weights[s], vector[k]) -> product[k]",
    judge=_judge_fisher, make_generated=_fisher_cases, make_edge_cases=_fisher_edge_cases,
)
register(
    name="conjugate-gradient", spec_id="trpo.conjugate-gradient",
    summary="the iterate after `iterations` CG steps from x = 0 on A x = b (A symmetric positive definite)",
    signature="candidate(matrix[n, n], vector[n], iterations) -> x[n]; for a CG written for a "
              "matrix-vector product f, check lambda matrix, vector, iterations: cg(lambda v: matrix @ v, vector, iterations)",
    judge=_judge_cg, make_generated=_cg_cases, make_edge_cases=_cg_edge_cases,
)
register(
    name="trpo-step-scaling", spec_id="trpo.step-scaling",
    summary="the full step sqrt(2 delta / x^T F x) x, so that (1/2) step^T F step = delta",
    signature="candidate(direction[n], fisher[n, n], max_kl) -> full_step[n]; for code written for a "
              "Fisher-vector product f, check lambda direction, fisher, max_kl: "
              "scale(direction, lambda v: fisher @ v, max_kl)",
    judge=_judge_step_scaling, make_generated=_step_scaling_cases,
    make_edge_cases=_step_scaling_edge_cases,
)
register(
    name="trpo-line-search", spec_id="trpo.line-search",
    summary="the first backtracking fraction that keeps the KL and improves the surrogate",
    signature="candidate(parameters[k], full_step[k], surrogate: theta -> float, kl: theta -> float, "
              "max_kl, backtrack_ratio, max_backtracks) -> parameters[k]",
    judge=_judge_line_search, make_generated=_line_search_cases,
    make_edge_cases=_line_search_edge_cases,
)
register(
    name="ppo-clip-loss", spec_id="ppo.clipped-objective",
    summary="-mean_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t), value and gradient",
    signature="candidate(log_prob[N], old_log_prob[N], advantages[N], clip_epsilon) -> loss; "
              "float64 torch tensors in, a 0-d tensor with its graph out",
    judge=_judge_clip_loss, make_generated=_clip_cases, make_edge_cases=_clip_edge_cases,
)
register(
    name="ppo-kl-penalty-loss", spec_id="ppo.kl-penalty",
    summary="-mean_t [r_t A_t - beta KL(pi_old(.|s_t) || pi(.|s_t))] for categorical policies",
    signature="candidate(logits[N, A], old_logits[N, A], actions[N] int64, advantages[N], beta) -> loss; "
              "torch tensors in, a 0-d tensor with its graph out",
    judge=_judge_kl_penalty, make_generated=_kl_penalty_cases,
    make_edge_cases=_kl_penalty_edge_cases,
)
register(
    name="adaptive-kl-coefficient", spec_id="ppo.adaptive-kl",
    summary="beta / 2 if d < d_targ / 1.5, 2 beta if d > 1.5 d_targ, else beta",
    signature="candidate(beta, kl, kl_target) -> beta",
    judge=_judge_adaptive_kl, make_generated=_adaptive_kl_cases,
    make_edge_cases=_adaptive_kl_edge_cases,
)
register(
    name="ppo-value-loss", spec_id="ppo.value-clipping",
    summary="1/2 mean_t max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)",
    signature="candidate(values[N], old_values[N], returns[N], clip_epsilon) -> loss; "
              "torch tensors in, a 0-d tensor with its graph out",
    judge=_judge_value_clip, make_generated=_value_clip_cases,
    make_edge_cases=_value_clip_edge_cases,
)
register(
    name="advantage-normalization", spec_id="ppo.advantage-normalization",
    summary="(A - mean) / (std + 1e-8), 0 for a single or constant batch",
    signature="candidate(advantages[N]) -> normalized[N] (numpy in, numpy out)",
    judge=_judge_normalization, make_generated=_normalization_cases,
    make_edge_cases=_normalization_edge_cases,
)
register(
    name="categorical-entropy", spec_id="ppo.entropy-bonus",
    summary="H_t = -sum_a p_ta log p_ta with p_t = softmax(logits[t]), value and gradient",
    signature="candidate(logits[N, A]) -> entropy[N]; a torch tensor in, a tensor (with its graph) out",
    judge=_judge_entropy, make_generated=_entropy_cases, make_edge_cases=_entropy_edge_cases,
)
register(
    name="ppo-total-loss", spec_id="ppo.total-loss",
    summary="policy loss + c1 value loss - c2 mean entropy, value targets from the raw advantages",
    signature="candidate(log_prob[N], old_log_prob[N], advantages[N], values[N], old_values[N], "
              "entropy[N], clip_epsilon, value_clip_epsilon (None: no clipping), value_coefficient, "
              "entropy_coefficient, normalize) -> loss; torch tensors in, a 0-d tensor with its graph out",
    judge=_judge_total_loss, make_generated=_total_loss_cases,
    make_edge_cases=_total_loss_edge_cases,
)
