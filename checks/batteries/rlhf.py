"""The batteries of the RLHF chapter (issue 5b): RLHF-PPO token-level quantities, GRPO and
its successors (Dr. GRPO, DAPO, GSPO, DCPO), and loss aggregation.

Conventions (``rlspec.reference.rlhf_ppo``): per-token arrays ``[B, T]`` whose column t
belongs to token t + 1 of the row (the log-probability of token t + 1 given tokens 0..t); a
0/1 ``action_mask`` / ``response_mask`` marks the response tokens (EOS included), 0 on the
prompt and on padding.  The generated cases put values far from the response's in every
masked column, so a candidate that reads the prompt or the padding gets a different answer.

Losses are judged on their value *and* their gradient: the judge passes float64 torch
tensors (fresh leaf tensors on every call), differentiates the candidate's output with
respect to the tensor named in the signature, and compares with the oracle's closed-form
gradient.  Where the loss has a kink exactly at the input, any subgradient is accepted.
The other checks pass numpy float64 arrays (``torch.as_tensor`` them if your code is torch).

Every judge calls ``rlspec.oracles`` only.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from rlspec.checks.batteries import register
from rlspec.checks.core import Case, Mismatch, compare, judge_loss
from rlspec.oracles import grpo as grpo_oracle
from rlspec.oracles import loss_aggregation, rlhf_ppo

# --------------------------------------------------------------------------- strategies

#: Values that masked (prompt or padding) columns hold: far from anything on the response,
#: so reading them changes the answer; moderate, so exp() of them stays finite.
OUTSIDE = (-9.0, 7.5, -4.25, 11.0)


def _pick(draw, values, count: int) -> list:
    return draw(st.lists(st.sampled_from(values), min_size=count, max_size=count))


@st.composite
def _response_masks(draw, max_rows: int = 3, max_columns: int = 6) -> np.ndarray:
    """[B, T] masks with one contiguous, non-empty run of response columns per row."""
    rows, columns = draw(st.integers(1, max_rows)), draw(st.integers(1, max_columns))
    mask = np.zeros((rows, columns))
    for b in range(rows):
        start = draw(st.integers(0, columns - 1))
        length = draw(st.integers(1, columns - start))
        mask[b, start:start + length] = 1.0
    return mask


def _fill(draw, mask: np.ndarray, inside, outside=OUTSIDE) -> np.ndarray:
    """An array shaped like ``mask`` with ``inside`` values on the response, ``outside``
    values elsewhere."""
    inner = _pick(draw, inside, mask.size)
    outer = _pick(draw, outside, mask.size)
    return np.where(mask == 1.0, np.reshape(inner, mask.shape), np.reshape(outer, mask.shape))


def _row_values(draw, rows: int, values) -> np.ndarray:
    return np.array(_pick(draw, values, rows), dtype=np.float64)


#: log pi - log pi_old on response tokens: kept away from log(1 +- eps) for every clip range
#: the cases use, so that no clip decision rests on a rounding error.
LOG_RATIOS = (0.0, 0.05, -0.05, 0.1, -0.1, 0.3, -0.3, 0.7, -0.7, 1.5, -1.5)
OLD_LOG_PROBS = (-2.5, -1.0, -0.25, -0.0625)
ADVANTAGES = (1.0, -1.0, 0.5, -2.0, 3.0, 0.0)


# --------------------------------------------------------------------------- loss judging

def _judge_loss(oracle, differentiate: str, frozen: tuple[str, ...] = ()):
    """Judge a loss's value and its gradient with respect to ``differentiate``; the inputs
    in ``frozen`` are data (the rollout's log-probs, advantages, returns) and must get no
    gradient."""
    def judge(case: Case, call, tolerance: float):
        expected = oracle(**case.arguments)
        got = call.loss(case.arguments, differentiate=(differentiate,), frozen=frozen)
        bounds = {differentiate: (expected.gradient_low, expected.gradient_high)}
        return judge_loss(got, expected.value, bounds, tolerance)
    return judge


def _judge_array(oracle, shape_of):
    def judge(case: Case, call, tolerance: float):
        expected = oracle(**case.arguments)
        return compare(expected, call(case.arguments, shape_of(case.arguments, expected)), tolerance)
    return judge


def _same_shape(arguments, expected):
    return expected.shape


# --------------------------------------------------------------------------- RLHF-PPO

@st.composite
def _log_prob_cases(draw):
    rows, length, vocabulary = draw(st.integers(1, 2)), draw(st.integers(2, 5)), draw(st.integers(2, 4))
    logits = np.array(_pick(draw, (-2.0, -0.5, 0.0, 0.75, 1.5, 3.0), rows * length * vocabulary),
                      dtype=np.float64).reshape(rows, length, vocabulary)
    ids = np.array(_pick(draw, list(range(vocabulary)), rows * length), dtype=np.int64)
    return Case("generated", {"logits": logits, "input_ids": ids.reshape(rows, length)})


def _log_prob_edge_cases() -> list[Case]:
    rising = np.array([[[0.0, 1.0, 2.0], [2.0, 0.0, 1.0], [1.0, 2.0, 0.0]]])
    return [
        Case("two tokens: one prediction", {"logits": np.array([[[0.0, np.log(3.0)], [5.0, -5.0]]]),
                                            "input_ids": np.array([[0, 1]])}),
        Case("each position predicts a different token",
             {"logits": rising, "input_ids": np.array([[0, 1, 2]])}),
        Case("logits of 1000 (naive exp overflows)",
             {"logits": np.array([[[1000.0, 999.0], [0.0, 0.0]]]), "input_ids": np.array([[0, 1]])}),
        Case("logits [800, 0], next token 1: a log-softmax without the max shift, or shifted "
             "by the min, overflows",
             {"logits": np.array([[[800.0, 0.0], [0.0, 0.0]]]), "input_ids": np.array([[0, 1]])}),
        Case("logits [-800, 0], next token 1: the same spread in the other direction",
             {"logits": np.array([[[-800.0, 0.0], [0.0, 0.0]]]), "input_ids": np.array([[0, 1]])}),
    ]


@st.composite
def _reward_cases(draw):
    mask = draw(_response_masks())
    log_probs = _fill(draw, mask, (-0.5, -1.25, -2.0, -0.125))
    ref = _fill(draw, mask, (-0.5, -1.0, -3.0, -0.25))
    score = _row_values(draw, mask.shape[0], (2.0, -3.0, 6.0, -8.0, 0.5, 10.0))
    return Case("generated", {"log_probs": log_probs, "ref_log_probs": ref, "reward_score": score,
                              "action_mask": mask, "kl_coef": draw(st.sampled_from([0.1, 0.5, 0.05])),
                              "clip_reward_value": draw(st.sampled_from([5.0, 1.0, 2.5]))})


def _reward_edge_cases() -> list[Case]:
    def case(label, mask, score=(3.0,)):
        mask = np.array(mask, dtype=np.float64)
        return Case(label, {"log_probs": np.where(mask == 1, -1.0, -9.0),
                            "ref_log_probs": np.where(mask == 1, -1.5, 7.5),
                            "reward_score": np.array(score), "action_mask": mask,
                            "kl_coef": 0.1, "clip_reward_value": 5.0})
    return [
        case("response to the end of the row", [[0, 1, 1]]),
        case("response followed by padding", [[0, 1, 1, 0]]),
        case("one-token response, score above the clip", [[1, 0]], score=(9.0,)),
        case("two rows of different lengths", [[0, 1, 1, 1], [0, 1, 0, 0]], score=(2.0, -1.0)),
    ]


@st.composite
def _gae_cases(draw):
    mask = draw(_response_masks())
    return Case("generated", {
        "rewards": _fill(draw, mask, (0.0, 1.0, -0.5, 0.25, 2.0)),
        "values": _fill(draw, mask, (0.5, -1.0, 0.0, 1.5, 0.25)),
        "action_mask": mask, "gamma": draw(st.sampled_from([1.0, 0.5, 0.9, 0.0])),
        "lam": draw(st.sampled_from([0.95, 0.5, 1.0, 0.0]))})


def _gae_edge_cases() -> list[Case]:
    def case(label, mask, gamma=1.0, lam=0.5):
        mask = np.array(mask, dtype=np.float64)
        rewards = np.where(mask == 1, 0.25, 3.0)
        for b, row in enumerate(mask):
            rewards[b, np.flatnonzero(row)[-1]] = 1.0  # the score lands on the last token
        values = np.where(mask == 1, 0.5, 7.5)
        values[:, 0] = np.where(mask[:, 0] == 1, -0.5, 7.5)
        return Case(label, {"rewards": rewards, "values": values, "action_mask": mask,
                            "gamma": gamma, "lam": lam})
    return [
        case("one response token", [[1]]),
        case("padding after the response holds a value", [[0, 1, 1, 0]]),
        case("prompt, response, padding; gamma 0.5, lambda 1", [[0, 1, 1, 0]], 0.5, 1.0),
        case("rows with different starts", [[1, 1, 0], [0, 1, 1]], 0.9, 0.95),
    ]


@st.composite
def _actor_cases(draw):
    mask = draw(_response_masks())
    old = _fill(draw, mask, OLD_LOG_PROBS, (2.0, -7.0))
    return Case("generated", {
        "log_probs": old + _fill(draw, mask, LOG_RATIOS, (-9.0, 4.5)),
        "old_log_probs": old, "advantages": _fill(draw, mask, ADVANTAGES),
        "action_mask": mask, "clip_range": draw(st.sampled_from([0.2, 0.1, 0.3]))})


def _actor_edge_cases() -> list[Case]:
    def case(label, log_ratio, advantage, mask=None, epsilon=0.2, old=None):
        log_ratio = np.array(log_ratio, dtype=np.float64)
        mask = np.ones_like(log_ratio) if mask is None else np.array(mask, dtype=np.float64)
        old = np.where(mask == 1, -1.0, 2.0) if old is None else np.array(old, dtype=np.float64)
        return Case(label, {"log_probs": old + log_ratio, "old_log_probs": old,
                            "advantages": np.array(advantage, dtype=np.float64),
                            "action_mask": mask, "clip_range": epsilon})
    return [
        case("ratio above 1 + eps, A > 0: clipped, no gradient", [[0.5]], [[1.0]]),
        case("ratio below 1 - eps, A > 0: not clipped, gradient flows", [[-0.7]], [[1.0]]),
        case("ratio above 1 + eps, A < 0: not clipped", [[0.5]], [[-1.0]]),
        case("ratio below 1 - eps, A < 0: clipped at 1 - eps, no gradient", [[-0.7]], [[-1.0]]),
        case("prompt and padding columns", [[3.0, 0.1, -0.1, -5.0]], [[4.0, 1.0, -1.0, 2.0]],
             mask=[[0, 1, 1, 0]]),
        case("rows of different lengths", [[0.1, 0.3, 0.0], [0.0, -0.3, 0.7]],
             [[1.0, 2.0, 0.5], [-1.0, 1.0, 1.0]], mask=[[1, 1, 1], [0, 1, 0]]),
        *(case(label, log_ratio, [[1.0, 1.0]], mask=[[1, 0]], old=old)
          for label, log_ratio, old in _MASKED_EXTREMES),
    ]


#: A masked token whose log-ratio is 800: exp overflows there, and a loss that masks only
#: after the exp (no torch.where before it) has the right value but a gradient 0 * inf = NaN.
_MASKED_EXTREMES = (
    ("a masked token with old log-prob -800: the ratio there overflows unless masked "
     "before exp", [[0.0, 800.0]], [[0.0, -800.0]]),
    ("a masked token with log-prob 800: the ratio there overflows unless masked before exp",
     [[0.0, 800.0]], [[0.0, 0.0]]),
)


@st.composite
def _critic_cases(draw):
    mask = draw(_response_masks())
    grid = (0.0, 0.25, -0.5, 1.0, -1.25, 2.0)
    return Case("generated", {
        "values": _fill(draw, mask, grid), "old_values": _fill(draw, mask, grid),
        "returns": _fill(draw, mask, grid), "action_mask": mask,
        "clip_range_value": draw(st.sampled_from([0.2, 0.5, 0.25]))})


def _critic_edge_cases() -> list[Case]:
    def case(label, values, old, returns, mask=None, c=0.2):
        values = np.array(values, dtype=np.float64)
        mask = np.ones_like(values) if mask is None else np.array(mask, dtype=np.float64)
        return Case(label, {"values": values, "old_values": np.array(old, dtype=np.float64),
                            "returns": np.array(returns, dtype=np.float64), "action_mask": mask,
                            "clip_range_value": c})
    return [
        case("new value far from the old one, return beyond it", [[1.0]], [[0.0]], [[2.0]]),
        case("new value far from the old one, return between them", [[1.0]], [[0.0]], [[0.5]]),
        case("within the clip range", [[0.125]], [[0.0]], [[1.0]]),
        case("prompt and padding columns", [[5.0, 1.0, 0.0, -6.0]], [[0.0, 0.0, 0.5, 2.0]],
             [[-3.0, 0.5, 1.0, 9.0]], mask=[[0, 1, 1, 0]]),
    ]


# --------------------------------------------------------------------------- GRPO family

@st.composite
def _group_reward_cases(draw, with_epsilon=True):
    groups, size = draw(st.integers(1, 3)), draw(st.integers(2, 5))
    rewards = np.array(_pick(draw, (0.0, 1.0, 0.5, -1.0, 2.0), groups * size)).reshape(groups, size)
    arguments = {"rewards": rewards}
    if with_epsilon:
        arguments["epsilon"] = draw(st.sampled_from([0.0, 1e-6, 1e-4]))
    return Case("generated", arguments)


def _group_edge_cases(with_epsilon=True) -> list[Case]:
    def case(label, rewards, epsilon=0.0):
        arguments = {"rewards": np.array(rewards, dtype=np.float64)}
        if with_epsilon:
            arguments["epsilon"] = epsilon
        return Case(label, arguments)
    cases = [
        case("one right, three wrong", [[1.0, 0.0, 0.0, 0.0]]),
        case("two groups: the statistics are per group", [[1.0, 0.0], [5.0, 3.0]]),
        case("a group of equal rewards, epsilon 0", [[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0]]),
    ]
    if with_epsilon:
        cases += [case("equal rewards of 0.1 (their float std is ~1e-17, not 0)", [[0.1, 0.1, 0.1]]),
                  case("epsilon 1e-4", [[1.0, 0.0, 0.0]], 1e-4)]
    return cases


@st.composite
def _policy_loss_cases(draw, per_token_advantages=False, reference=False, decoupled=True,
                       constant=False):
    mask = draw(_response_masks())
    old = _fill(draw, mask, OLD_LOG_PROBS, (2.0, -7.0))
    arguments = {"log_probs": old + _fill(draw, mask, LOG_RATIOS, (-9.0, 4.5)),
                 "old_log_probs": old}
    if reference:
        arguments["ref_log_probs"] = _fill(draw, mask, (-0.5, -1.0, -3.0, -0.0625), (1.5, -6.0))
    arguments["advantages"] = (_fill(draw, mask, ADVANTAGES) if per_token_advantages
                               else _row_values(draw, mask.shape[0], ADVANTAGES))
    arguments["response_mask"] = mask
    if decoupled:
        arguments["epsilon_low"] = draw(st.sampled_from([0.2, 0.1, 0.3]))
        arguments["epsilon_high"] = draw(st.sampled_from([0.28, 0.2, 0.5]))
    else:
        arguments["clip_epsilon"] = draw(st.sampled_from([0.2, 0.1, 0.3]))
    if reference:
        arguments["beta"] = draw(st.sampled_from([0.04, 0.0, 0.5]))
    if constant:
        arguments["max_length"] = draw(st.sampled_from([8, 3, 16]))
    return Case("generated", arguments)


def _policy_loss_edge_cases(per_token_advantages=False, reference=False, decoupled=True,
                            constant=False) -> list[Case]:
    def case(label, log_ratio, advantage, mask, low=0.2, high=0.28, old=None, ref=None):
        log_ratio = np.array(log_ratio, dtype=np.float64)
        mask = np.array(mask, dtype=np.float64)
        old = np.where(mask == 1, -1.0, 2.0) if old is None else np.array(old, dtype=np.float64)
        advantage = np.array(advantage, dtype=np.float64)
        if per_token_advantages:
            advantage = np.where(mask == 1, advantage[:, None], 0.0)
        arguments = {"log_probs": old + log_ratio, "old_log_probs": old}
        if reference:
            arguments["ref_log_probs"] = np.where(mask == 1, -1.5, 2.0) if ref is None \
                else np.array(ref, dtype=np.float64)
        arguments |= {"advantages": advantage, "response_mask": mask}
        if decoupled:
            arguments |= {"epsilon_low": low, "epsilon_high": high}
        else:
            arguments["clip_epsilon"] = low
        if reference:
            arguments["beta"] = 0.04
        if constant:
            arguments["max_length"] = 4
        return Case(label, arguments)
    return [
        case("a short and a long response", [[0.1, 0.0, 0.0, 0.0], [-0.1, 0.05, 0.3, -0.3]],
             [1.0, -1.0], [[1, 0, 0, 0], [1, 1, 1, 1]]),
        case("ratio 1.25: inside (0.8, 1.28), outside (0.8, 1.2)", [[np.log(1.25), 0.0]], [1.0],
             [[1, 1]]),
        case("prompt and padding columns", [[4.0, 0.1, -0.3, -6.0]], [2.0], [[0, 1, 1, 0]]),
        case("clipped below, negative advantage", [[-0.7, -0.7]], [-1.0], [[1, 1]]),
        *(case(label, log_ratio, [1.0], [[1, 0]], old=old)
          for label, log_ratio, old in _MASKED_EXTREMES),
        *([case("a masked token with reference log-prob 800: k3's exp(ref - log pi) "
                "overflows there unless masked before exp", [[0.0, 0.0]], [1.0], [[1, 0]],
                old=[[0.0, 0.0]], ref=[[0.0, 800.0]])] if reference else []),
    ]


def _overlong_cases():
    @st.composite
    def cases(draw):
        cache = draw(st.integers(1, 6))
        maximum = cache + draw(st.integers(0, 6))
        lengths = np.array(_pick(draw, list(range(0, maximum + 4)), draw(st.integers(1, 6))),
                           dtype=np.float64)
        return Case("generated", {"lengths": lengths, "max_length": maximum, "cache_length": cache})
    return cases()


def _overlong_edge_cases() -> list[Case]:
    return [Case("DAPO's sizes, 16384 + 4096", {
        "lengths": np.array([0.0, 16384, 16385, 18432, 20479, 20480, 20481, 30000]),
        "max_length": 20480, "cache_length": 4096}),
        Case("cache = whole budget", {"lengths": np.array([0.0, 1, 2, 3, 4, 5]),
                                      "max_length": 4, "cache_length": 4})]


@st.composite
def _accuracy_cases(draw):
    groups, size = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    return Case("generated", {"accuracies": np.array(_pick(draw, (0.0, 1.0), groups * size))
                              .reshape(groups, size)})


def _accuracy_edge_cases() -> list[Case]:
    return [Case("all right, mixed, all wrong",
                 {"accuracies": np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])}),
            Case("one right of four", {"accuracies": np.array([[0.0, 0.0, 0.0, 1.0]])})]


def _judge_filter(case, call, tolerance):
    expected = grpo_oracle.dynamic_sampling_by_counting(**case.arguments).astype(np.float64)
    got = call(case.arguments, expected.shape)
    if np.array_equal(got != 0, expected != 0):
        return None
    where = int(np.argmax((got != 0) != (expected != 0)))
    return Mismatch(f"group {where} is {'kept' if got[where] else 'dropped'}, but should be "
                    f"{'kept' if expected[where] else 'dropped'} (keep exactly the groups with "
                    f"some but not all responses correct)", expected, got, 0.0)


@st.composite
def _dcpo_cases(draw):
    count = draw(st.integers(1, 5))
    old = np.array(_pick(draw, (0.0, -0.05, -0.5, np.log(0.5), -1.5, -3.0, -8.0, -25.0), count))
    return Case("generated", {"old_log_probs": old,
                              "epsilon_low": draw(st.sampled_from([0.16, 0.2, 0.1])),
                              "epsilon_high": draw(st.sampled_from([0.2, 0.28, 0.1])),
                              "max_ratio": draw(st.sampled_from([10.0, 3.0, 100.0]))})


def _dcpo_edge_cases() -> list[Case]:
    return [Case("q = 1, 1/2, 1/100, e^-20", {
        "old_log_probs": np.array([0.0, np.log(0.5), np.log(0.01), -20.0]),
        "epsilon_low": 0.16, "epsilon_high": 0.2, "max_ratio": 10.0}),
        Case("epsilon_low > epsilon_high", {"old_log_probs": np.array([0.0, -0.2]),
                                            "epsilon_low": 0.2, "epsilon_high": 0.05,
                                            "max_ratio": 10.0}),
        Case("q = e^-800 (0 in floating point) and q = 1: the upper bound is max_ratio, and "
             "1 / q or exp(-log q) overflows", {"old_log_probs": np.array([-800.0, 0.0]),
                                               "epsilon_low": 0.16, "epsilon_high": 0.2,
                                               "max_ratio": 10.0})]


@st.composite
def _smooth_advantage_cases(draw):
    groups, size = draw(st.integers(1, 3)), draw(st.integers(2, 5))
    arguments = {
        "rewards": np.array(_pick(draw, (0.0, 1.0, 0.5, -1.0, 2.0), groups * size)).reshape(groups, size),
        "previous_steps": _row_values(draw, groups, (0.0, 1.0, 2.0, 3.0, 7.0)),
        "previous_mean": _row_values(draw, groups, (0.0, 0.25, 0.5, 1.0, -0.5)),
        "previous_std": _row_values(draw, groups, (0.0, 0.25, 0.5, 1.0))}
    # Where A_new = -A_total the two mixtures are opposite and equally large: the choice
    # would rest on the last bit of a float comparison.
    if grpo_oracle.dcpo_smooth_advantage_ties(**arguments):
        arguments["previous_std"] = arguments["previous_std"] + 0.125
    return Case("generated", arguments)


def _smooth_advantage_edge_cases() -> list[Case]:
    def case(label, rewards, steps, mean, std):
        return Case(label, {"rewards": np.array(rewards, dtype=np.float64),
                            "previous_steps": np.array(steps, dtype=np.float64),
                            "previous_mean": np.array(mean, dtype=np.float64),
                            "previous_std": np.array(std, dtype=np.float64)})
    return [
        case("first step (k = 0): GRPO's advantage; the previous statistics are ignored",
             [[1.0, 0.0, 0.0, 0.0]], [0], [5.0], [3.0]),
        case("the worked example: step 4, previous mean 1/2, std 1/2", [[1.0, 0.0, 0.0, 0.0]],
             [3], [0.5], [0.5]),
        case("all rewards equal this step: the cumulative statistics still give an advantage",
             [[1.0, 1.0, 1.0, 1.0]], [3], [0.5], [0.5]),
        case("k = 1: both mixtures are the average of A_new and A_total", [[1.0, 0.0]], [1],
             [0.25], [0.5]),
        case("a prompt whose rewards never varied: every advantage 0", [[0.5, 0.5, 0.5]], [2],
             [0.5], [0.0]),
        case("two prompts with different histories", [[1.0, 0.0, 1.0], [2.0, 0.0, 0.0]], [7, 2],
             [0.25, 1.0], [0.25, 1.0]),
    ]


@st.composite
def _dcpo_loss_cases(draw):
    case = draw(_policy_loss_cases())
    case.arguments["max_ratio"] = draw(st.sampled_from([10.0, 2.0, 100.0]))
    case.arguments["clip_ratio_c"] = draw(st.sampled_from([3.0, 1.5, 10.0]))
    return case


def _dcpo_loss_edge_cases() -> list[Case]:
    def case(label, log_ratio, advantage, mask, old, c=3.0, low=0.16, high=0.28):
        log_ratio, old = np.array(log_ratio, dtype=np.float64), np.array(old, dtype=np.float64)
        return Case(label, {"log_probs": old + log_ratio, "old_log_probs": old,
                            "advantages": np.array(advantage, dtype=np.float64),
                            "response_mask": np.array(mask, dtype=np.float64),
                            "epsilon_low": low, "epsilon_high": high, "max_ratio": 10.0,
                            "clip_ratio_c": c})
    return [
        case("A < 0, ratio e^1.5 = 4.48 above c = 3: the dual clip binds, no gradient",
             [[1.5]], [-1.0], [[1]], [[0.0]]),
        case("A > 0, ratio 4.48: clipped at h(1) = 1.19, no gradient (no dual clip for A > 0)",
             [[1.5]], [1.0], [[1]], [[0.0]]),
        case("A < 0, ratio 2 below c = 3: unclipped, gradient flows", [[0.7]], [-1.0], [[1]],
             [[-0.25]]),
        case("unlikely token q = e^-2.5, A > 0, ratio 2: inside (l, h) = (1/2, 2.41), outside "
             "PPO's (0.84, 1.28)", [[0.7]], [1.0], [[1]], [[-2.5]]),
        case("unlikely token, A < 0, ratio 0.55: above l = 1/2, gradient flows", [[-0.6]], [-1.0],
             [[1]], [[-2.5]]),
        case("a short and a long response", [[0.1, 0.0, 0.0, 0.0], [-0.1, 0.05, 1.5, -0.3]],
             [1.0, -1.0], [[1, 0, 0, 0], [1, 1, 1, 1]], [[-1.0, 2.0, 2.0, 2.0], [-1.0] * 4]),
        case("prompt and padding columns", [[4.0, 0.1, -0.3, -6.0]], [-2.0], [[0, 1, 1, 0]],
             [[3.0, -1.0, -0.25, -7.0]]),
        *(case(label, log_ratio, [1.0], [[1, 0]], old)
          for label, log_ratio, old in _MASKED_EXTREMES),
    ]


# --------------------------------------------------------------------------- aggregation

@st.composite
def _aggregation_cases(draw, normaliser=False, nonempty_rows=False):
    rows, columns = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    mask = np.array(_pick(draw, (1.0, 0.0), rows * columns)).reshape(rows, columns)
    if nonempty_rows or mask.sum() == 0:
        for b in range(rows):
            if mask[b].sum() == 0:
                mask[b, draw(st.integers(0, columns - 1))] = 1.0
    arguments = {"per_token_loss": _fill(draw, mask, (1.0, -2.0, 0.5, 3.0, -0.25)), "mask": mask}
    if normaliser:
        arguments["normaliser"] = draw(st.sampled_from([8.0, 3.0, 1.0]))
    return Case("generated", arguments)


def _aggregation_edge_cases(normaliser=False, allow_empty_rows=True) -> list[Case]:
    def case(label, loss, mask):
        arguments = {"per_token_loss": np.array(loss, dtype=np.float64),
                     "mask": np.array(mask, dtype=np.float64)}
        if normaliser:
            arguments["normaliser"] = 4.0
        return Case(label, arguments)
    cases = [
        case("a short and a long response", [[1.0, 9.0, 9.0, 9.0], [1.0, 1.0, 1.0, 1.0]],
             [[1, 0, 0, 0], [1, 1, 1, 1]]),
        case("one response", [[2.0, -1.0, 5.0]], [[1, 1, 0]]),
        case("holes in the mask (multi-turn)", [[1.0, 7.0, 2.0], [3.0, 3.0, 3.0]],
             [[1, 0, 1], [0, 1, 0]]),
    ]
    if allow_empty_rows:
        cases.append(case("a fully masked row", [[1.0, 2.0], [8.0, 8.0]], [[1, 1], [0, 0]]))
    return cases


def _aggregate(mode):
    def oracle(per_token_loss, mask, normaliser=None):
        return loss_aggregation.aggregate_exact(per_token_loss, mask, mode, normaliser)
    return oracle


# --------------------------------------------------------------------------- registry

_MASK = ("action_mask[B, T] 0/1 (1 on response tokens incl. EOS; 0 on prompt and padding; "
         "column t belongs to token t + 1)")
#: The rollout's data, constants of every policy loss.
_ROLLOUT = ("old_log_probs", "advantages")
_TORCH = "float64 torch tensors in, a 0-d tensor out; judged on its value and its gradient"
_POLICY = ("log_probs[B, T] (differentiated), old_log_probs[B, T], advantages[B] (one per "
           "response), response_mask[B, T]")

register(
    name="token-log-probs", spec_id="rlhf.token-log-probs",
    summary="log pi(x[t+1] | x[..t]) for every position of a token row (the one-step shift)",
    signature="candidate(logits[B, L, V], input_ids[B, L] int) -> log_probs[B, L - 1]",
    judge=_judge_array(rlhf_ppo.token_log_probs_exact, _same_shape),
    make_generated=_log_prob_cases, make_edge_cases=_log_prob_edge_cases,
)
register(
    name="kl-penalised-rewards", spec_id="rlhf.token-rewards",
    summary="-beta (log pi - log pi_ref) on response tokens + clip(score) at the last one",
    signature=f"candidate(log_probs[B, T], ref_log_probs[B, T], reward_score[B], action_mask[B, T], "
              f"kl_coef, clip_reward_value) -> rewards[B, T]; {_MASK}",
    judge=_judge_array(rlhf_ppo.kl_penalised_rewards_exact, _same_shape),
    make_generated=_reward_cases, make_edge_cases=_reward_edge_cases,
)
register(
    name="masked-gae", spec_id="rlhf.masked-gae",
    summary="GAE over each row's response tokens; V = 0 after the last one; 0 off the response",
    signature=f"candidate(rewards[B, T], values[B, T], action_mask[B, T], gamma, lam) -> "
              f"advantages[B, T]; {_MASK}",
    judge=_judge_array(rlhf_ppo.masked_gae_exact, _same_shape),
    make_generated=_gae_cases, make_edge_cases=_gae_edge_cases,
)
register(
    name="actor-clip-loss", spec_id="rlhf.actor-loss",
    summary="PPO clipped actor loss, masked mean over response tokens",
    signature=f"candidate(log_probs[B, T], old_log_probs[B, T], advantages[B, T], action_mask[B, T], "
              f"clip_range) -> loss; {_TORCH} (d/d log_probs)",
    judge=_judge_loss(rlhf_ppo.actor_loss_exact, "log_probs", ("old_log_probs", "advantages")),
    make_generated=_actor_cases, make_edge_cases=_actor_edge_cases,
)
register(
    name="critic-clip-loss", spec_id="rlhf.critic-loss",
    summary="0.5 * masked mean of max((V - G)^2, (clip(V, V_old +- c) - G)^2)",
    signature=f"candidate(values[B, T], old_values[B, T], returns[B, T], action_mask[B, T], "
              f"clip_range_value) -> loss; {_TORCH} (d/d values)",
    judge=_judge_loss(rlhf_ppo.critic_loss_exact, "values", ("old_values", "returns")),
    make_generated=_critic_cases, make_edge_cases=_critic_edge_cases,
)
register(
    name="group-advantages", spec_id="grpo.group-advantages",
    summary="(r - group mean) / (group sample std + epsilon); 0 for a group of equal rewards",
    signature="candidate(rewards[n_groups, G], epsilon) -> advantages[n_groups, G]",
    judge=_judge_array(grpo_oracle.group_advantages_exact, _same_shape),
    make_generated=_group_reward_cases, make_edge_cases=_group_edge_cases,
)
register(
    name="dr-grpo-advantages", spec_id="grpo.dr-grpo-advantages",
    summary="r - group mean (no division by the std)",
    signature="candidate(rewards[n_groups, G]) -> advantages[n_groups, G]",
    judge=_judge_array(grpo_oracle.dr_grpo_advantages_exact, _same_shape),
    make_generated=lambda: _group_reward_cases(with_epsilon=False),
    make_edge_cases=lambda: _group_edge_cases(with_epsilon=False),
)
register(
    name="grpo-loss", spec_id="grpo.objective",
    summary="-(1/B) sum_i (1/|o_i|) sum_t [min(rho A, clip(rho) A) - beta k3]",
    signature=f"candidate(log_probs[B, T], old_log_probs[B, T], ref_log_probs[B, T], advantages[B], "
              f"response_mask[B, T], clip_epsilon, beta) -> loss; {_TORCH} (d/d log_probs)",
    judge=_judge_loss(grpo_oracle.grpo_loss_exact, "log_probs",
                      ("old_log_probs", "ref_log_probs", "advantages")),
    make_generated=lambda: _policy_loss_cases(reference=True, decoupled=False),
    make_edge_cases=lambda: _policy_loss_edge_cases(reference=True, decoupled=False),
)
register(
    name="dr-grpo-loss", spec_id="grpo.dr-grpo-loss",
    summary="-(1/B) sum_i (1/C) sum_t min(rho A, clip(rho) A), C = max_length",
    signature=f"candidate(log_probs[B, T], old_log_probs[B, T], advantages[B], response_mask[B, T], "
              f"clip_epsilon, max_length) -> loss; {_TORCH} (d/d log_probs)",
    judge=_judge_loss(grpo_oracle.dr_grpo_loss_exact, "log_probs", _ROLLOUT),
    make_generated=lambda: _policy_loss_cases(decoupled=False, constant=True),
    make_edge_cases=lambda: _policy_loss_edge_cases(decoupled=False, constant=True),
)
register(
    name="dapo-loss", spec_id="dapo.token-level-loss",
    summary="-(1/sum|o_i|) sum_{i,t} min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A)",
    signature=f"candidate({_POLICY}, epsilon_low, epsilon_high) -> loss; {_TORCH} (d/d log_probs)",
    judge=_judge_loss(grpo_oracle.dapo_loss_exact, "log_probs", _ROLLOUT),
    make_generated=_policy_loss_cases, make_edge_cases=_policy_loss_edge_cases,
)
register(
    name="dapo-overlong-penalty", spec_id="dapo.overlong-reward-shaping",
    summary="0 up to L_max - L_cache, then linear down to -1 at L_max, -1 beyond",
    signature="candidate(lengths[n], max_length, cache_length) -> penalty[n]",
    judge=_judge_array(grpo_oracle.overlong_penalty_exact, _same_shape),
    make_generated=_overlong_cases, make_edge_cases=_overlong_edge_cases,
)
register(
    name="dapo-dynamic-sampling", spec_id="dapo.dynamic-sampling",
    summary="keep a group iff some but not all of its responses are correct",
    signature="candidate(accuracies[n_groups, G] of 0/1) -> keep[n_groups] (bool or 0/1)",
    judge=_judge_filter, make_generated=_accuracy_cases, make_edge_cases=_accuracy_edge_cases,
)
register(
    name="gspo-loss", spec_id="gspo.sequence-ratio",
    summary="-(1/B) sum_i min(s_i A_i, clip(s_i) A_i), s_i = exp(mean_t log-ratio)",
    signature=f"candidate({_POLICY}, epsilon_low, epsilon_high) -> loss; {_TORCH} (d/d log_probs)",
    judge=_judge_loss(grpo_oracle.gspo_loss_exact, "log_probs", _ROLLOUT),
    make_generated=_policy_loss_cases, make_edge_cases=_policy_loss_edge_cases,
)
register(
    name="gspo-token-loss", spec_id="gspo.token",
    summary="GSPO-token: value of s_i, gradient through each token's own log-prob only",
    signature=f"candidate(log_probs[B, T], old_log_probs[B, T], advantages[B, T], response_mask[B, T], "
              f"epsilon_low, epsilon_high) -> loss; {_TORCH} (d/d log_probs)",
    judge=_judge_loss(grpo_oracle.gspo_token_loss_exact, "log_probs", _ROLLOUT),
    make_generated=lambda: _policy_loss_cases(per_token_advantages=True),
    make_edge_cases=lambda: _policy_loss_edge_cases(per_token_advantages=True),
)
register(
    name="dcpo-clip-bounds", spec_id="dcpo.dynamic-clipping",
    summary="DCPO's ratio bounds from the old token probability q (authors' code)",
    signature="candidate(old_log_probs[n], epsilon_low, epsilon_high, max_ratio) -> bounds[2, n] "
              "(row 0 lower, row 1 upper)",
    judge=_judge_array(grpo_oracle.dcpo_bounds_by_roots, _same_shape),
    make_generated=_dcpo_cases, make_edge_cases=_dcpo_edge_cases,
)

register(
    name="dcpo-smooth-advantages", spec_id="dcpo.smooth-advantage-standardization",
    summary="DCPO: the smaller of two mixtures of the current-step and cumulative z-scores",
    signature="candidate(rewards[n_groups, G], previous_steps[n_groups], previous_mean[n_groups], "
              "previous_std[n_groups]) -> advantages[n_groups, G]",
    judge=_judge_array(grpo_oracle.dcpo_smooth_advantages_exact, _same_shape),
    make_generated=_smooth_advantage_cases, make_edge_cases=_smooth_advantage_edge_cases,
)
_DCPO_LOSS = (f"candidate({_POLICY}, epsilon_low, epsilon_high, max_ratio, clip_ratio_c) -> loss; "
              f"{_TORCH} (d/d log_probs)")
register(
    name="dcpo-dual-clip-loss", spec_id="dcpo.dual-clip-loss",
    summary="DCPO's surrogate with the dynamic bounds, max(., c A) where A < 0, token mean",
    signature=_DCPO_LOSS,
    judge=_judge_loss(grpo_oracle.dcpo_dual_clip_loss_exact, "log_probs", _ROLLOUT),
    make_generated=_dcpo_loss_cases, make_edge_cases=_dcpo_loss_edge_cases,
)
register(
    name="dcpo-otm-loss", spec_id="dcpo.otm-loss",
    summary="DCPO's dual-clipped terms, each response's token sum averaged over responses (OTM)",
    signature=_DCPO_LOSS,
    judge=_judge_loss(grpo_oracle.dcpo_otm_loss_exact, "log_probs", _ROLLOUT),
    make_generated=_dcpo_loss_cases, make_edge_cases=_dcpo_loss_edge_cases,
)

_AGG = "candidate(per_token_loss[B, T], mask[B, T]{extra}) -> loss; " + _TORCH + \
    " (d/d per_token_loss = each token's weight)"
for _mode, _spec, _summary in [
    ("token-mean", "agg.token-mean", "sum of m l over all tokens / number of tokens"),
    ("seq-mean-token-mean", "agg.seq-mean-token-mean",
     "mean over responses of each response's token mean"),
    ("seq-mean-token-sum", "agg.seq-mean-token-sum",
     "mean over responses of each response's token sum"),
    ("seq-mean-token-sum-norm", "agg.seq-mean-token-sum-norm",
     "mean over responses of each response's token sum / a constant C (Dr. GRPO)"),
]:
    _norm = _mode == "seq-mean-token-sum-norm"
    _rows = _mode != "token-mean"  # the sequence means need every row to have a token
    register(
        name=_mode, spec_id=_spec, summary=_summary,
        signature=_AGG.format(extra=", normaliser" if _norm else ""),
        judge=_judge_loss(_aggregate(_mode), "per_token_loss"),
        make_generated=(lambda norm=_norm, rows=_rows: _aggregation_cases(norm, rows)),
        make_edge_cases=(lambda norm=_norm, rows=_rows: _aggregation_edge_cases(norm, not rows)),
    )
