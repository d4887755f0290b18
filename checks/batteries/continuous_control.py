"""The batteries of the continuous-control chapter (issue 4c): DPG/DDPG, TD3 and SAC.

Each battery judges a candidate against ``rlspec.oracles.sac``,
``cc_lqr`` or ``cc_squashed_gaussian`` (never against ``rlspec.reference``).

Conventions shared by the target checks: a batch of N transitions as 1-D float64 arrays;
``terminated`` and ``truncated`` are float64 arrays of 0.0 / 1.0 (as replay buffers store
them; a function that wants bools can convert); only ``terminated`` stops the bootstrap.
The randomness of the algorithms (the smoothing noise, the reparameterised sample) is an
input, so every case is deterministic.

The loss checks (``temperature-loss``, ``temperature-loss-log-alpha``, ``sac-actor-loss``,
``td3-actor-loss``)
are judged on value and gradient by the rules of :mod:`rlspec.checks.core`: the candidate
gets float64 torch tensors and returns a tensor that carries the graph.

All judges hold the candidate to the runner's float64 tolerance (1e-6 relative).  A correct
float32 implementation needs ``tolerance=1e-4`` or so: float32 rounds by 6e-8 relative and
the terms here (Q-values, z^2 / 2, 2 |u|) reach the hundreds.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from hypothesis import strategies as st

from rlspec.checks.batteries import register
from rlspec.checks.core import Case, Mismatch, compare
from rlspec.oracles import ddpg as ddpg_oracle, sac as sac_oracle, td3 as td3_oracle

# ------------------------------------------------------------------- strategies

def _grid(low: int, high: int, denominator: int):
    """Numbers k / denominator for integers k in [low, high]: exact in binary, readable."""
    return st.integers(low, high).map(lambda k: k / denominator)


@functools.lru_cache(maxsize=None)
def _vectors(size: int, low: int, high: int, denominator: int):
    """Vectors of k / denominator, k integers in [low, high] (built once per signature:
    making strategies is a large part of a battery's run time)."""
    return st.lists(st.integers(low, high), min_size=size, max_size=size).map(
        lambda values: np.array(values, dtype=np.float64) / denominator)


def _flag_vectors(size: int):
    return st.lists(st.booleans(), min_size=size, max_size=size).map(
        lambda values: np.array(values, dtype=np.float64))


GAMMAS = [0.99, 0.5, 0.0, 1.0, 0.9]


@st.composite
def _transition_batches(draw, critics: int = 1, log_probs: bool = False):
    n = draw(st.integers(1, 6))
    arguments = {"rewards": draw(_vectors(n, -8, 8, 4)),
                 "terminated": draw(_flag_vectors(n)), "truncated": draw(_flag_vectors(n))}
    if critics == 1:
        arguments["next_q"] = draw(_vectors(n, -80, 80, 4))
    else:
        arguments["next_q1"] = draw(_vectors(n, -80, 80, 4))
        arguments["next_q2"] = draw(_vectors(n, -80, 80, 4))
    if log_probs:
        arguments["next_log_probs"] = draw(_vectors(n, -40, 20, 4))
        arguments["alpha"] = draw(st.sampled_from([0.2, 1.0, 0.0, 0.05, 2.0]))
    arguments["gamma"] = draw(st.sampled_from(GAMMAS))
    return Case("generated", arguments)


def _flags(*values) -> np.ndarray:
    return np.array(values, dtype=np.float64)


#: Four transitions that tell the flags apart: plain, terminated, truncated (a time limit:
#: still bootstraps), and both at once (gymnasium allows it; termination wins).
TERMINATION_FLAGS = {"terminated": _flags(0, 1, 0, 1), "truncated": _flags(0, 0, 1, 1)}


# ----------------------------------------------------------------------- targets

def _judge_ddpg_target(case, call, tolerance):
    a = case.arguments
    expected = ddpg_oracle.ddpg_targets_exact(a["rewards"], a["terminated"], a["next_q"], a["gamma"])
    return compare(expected, call(a, expected.shape), tolerance)


def _judge_td3_target(case, call, tolerance):
    a = case.arguments
    expected = td3_oracle.td3_targets_exact(a["rewards"], a["terminated"], a["next_q1"], a["next_q2"],
                                        a["gamma"])
    return compare(expected, call(a, expected.shape), tolerance)


def _judge_sac_target(case, call, tolerance):
    a = case.arguments
    expected = sac_oracle.sac_targets_exact(a["rewards"], a["terminated"], a["next_q1"], a["next_q2"],
                                        a["next_log_probs"], a["alpha"], a["gamma"])
    return compare(expected, call(a, expected.shape), tolerance)


def _ddpg_target_edges() -> list[Case]:
    return [
        Case("terminated vs truncated", {"rewards": _flags(1, 1, 1, 1), **TERMINATION_FLAGS,
                                         "next_q": _flags(10, 10, 10, 10), "gamma": 0.5}),
        Case("gamma = 0", {"rewards": _flags(1, -2), "terminated": _flags(0, 0),
                           "truncated": _flags(0, 0), "next_q": _flags(5, 7), "gamma": 0.0}),
        Case("gamma = 1", {"rewards": _flags(-1, 0), "terminated": _flags(0, 0),
                           "truncated": _flags(0, 1), "next_q": _flags(3, -4), "gamma": 1.0}),
    ]


def _td3_target_edges() -> list[Case]:
    return [
        Case("terminated vs truncated", {"rewards": _flags(1, 1, 1, 1), **TERMINATION_FLAGS,
                                         "next_q1": _flags(4, 4, 4, 4),
                                         "next_q2": _flags(6, 6, 6, 6), "gamma": 0.5}),
        Case("either critic smaller, negative values", {
            "rewards": _flags(0, 0, 0), "terminated": _flags(0, 0, 0), "truncated": _flags(0, 0, 0),
            "next_q1": _flags(-3, 2, 5), "next_q2": _flags(1, -6, 5), "gamma": 0.5}),
    ]


def _sac_target_edges() -> list[Case]:
    return [
        Case("terminated vs truncated", {"rewards": _flags(1, 1, 1, 1), **TERMINATION_FLAGS,
                                         "next_q1": _flags(4, 4, 4, 4), "next_q2": _flags(6, 6, 6, 6),
                                         "next_log_probs": _flags(-2, -2, -2, -2), "alpha": 0.5,
                                         "gamma": 0.5}),
        Case("entropy bonus of either sign", {
            "rewards": _flags(0, 0, 0), "terminated": _flags(0, 0, 0), "truncated": _flags(0, 0, 0),
            "next_q1": _flags(-3, 2, 5), "next_q2": _flags(1, -6, 5),
            "next_log_probs": _flags(-1.5, 2, 0), "alpha": 0.25, "gamma": 0.5}),
        Case("alpha = 0 is TD3", {"rewards": _flags(2,), "terminated": _flags(0,), "truncated": _flags(0,),
                                  "next_q1": _flags(3,), "next_q2": _flags(1,),
                                  "next_log_probs": _flags(-7,), "alpha": 0.0, "gamma": 0.5}),
    ]


# ------------------------------------------------------------------- soft update

TAUS = [0.25, 0.005, 0.1, 1.0, 0.0, 0.5, 0.75]
#: Repeated updates towards fixed online parameters, checked against (1 - tau)^k.
REPEATS = 8


@st.composite
def _soft_update_cases(draw):
    shape = draw(st.sampled_from([(1,), (3,), (6,), (2, 3)]))
    size = int(np.prod(shape))
    return Case("generated", {"target_params": draw(_vectors(size, -16, 16, 8)).reshape(shape),
                              "online_params": draw(_vectors(size, -16, 16, 8)).reshape(shape),
                              "tau": draw(st.sampled_from(TAUS))})


def _judge_soft_update(case, call, tolerance):
    a = case.arguments
    expected = ddpg_oracle.soft_target_update_exact(a["target_params"], a["online_params"], a["tau"])
    got = call(a, expected.shape)
    found = compare(expected, got, tolerance)
    if found:
        return found
    # Repeated updates towards fixed online parameters: theta + (1 - tau)^k (theta'_0 - theta).
    current = got
    for _ in range(REPEATS - 1):
        current = call({**a, "target_params": current}, expected.shape)
    closed_form = ddpg_oracle.soft_target_after_updates(a["target_params"], a["online_params"], a["tau"],
                                                   REPEATS)
    found = compare(closed_form, current, tolerance)
    return found and Mismatch(f"after {REPEATS} updates towards fixed online parameters the "
                              f"target should be theta + (1 - tau)^{REPEATS} (theta'_0 - theta): "
                              + found.message, found.expected, found.got, found.tolerance)


# --------------------------------------------------------- target policy smoothing

@st.composite
def _smoothing_cases(draw):
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    low = np.array(draw(st.lists(st.sampled_from([-1.0, -2.0, 0.0, -0.5]), min_size=d, max_size=d)))
    width = np.array(draw(st.lists(st.sampled_from([2.0, 1.0, 3.0, 0.5]), min_size=d, max_size=d)))
    fractions = draw(_vectors(n * d, 0, 8, 8)).reshape(n, d)
    return Case("generated", {"next_actions": low + fractions * width,
                              "noise": draw(_vectors(n * d, -12, 12, 8)).reshape(n, d),
                              "noise_clip": draw(st.sampled_from([0.5, 0.25, 0.0, 1.0])),
                              "action_low": low, "action_high": low + width})


def _judge_smoothing(case, call, tolerance):
    a = case.arguments
    expected = td3_oracle.smoothed_actions_exact(**a)
    return compare(expected, call(a, expected.shape), tolerance)


def _smoothing_edges() -> list[Case]:
    return [
        Case("noise beyond the clip, near the bounds", {
            "next_actions": np.array([[0.9], [-0.9], [0.0], [0.2]]),
            "noise": np.array([[0.7], [-0.7], [-0.75], [0.125]]), "noise_clip": 0.5,
            "action_low": np.array([-1.0]), "action_high": np.array([1.0])}),
        Case("asymmetric bounds [-2, 1] and [0, 0.5]", {
            "next_actions": np.array([[-1.75, 0.5], [0.75, 0.0]]),
            "noise": np.array([[-0.5, 0.25], [0.5, -0.25]]), "noise_clip": 0.375,
            "action_low": np.array([-2.0, 0.0]), "action_high": np.array([1.0, 0.5])}),
        Case("noise_clip = 0: no smoothing", {
            "next_actions": np.array([[0.25, -0.5]]), "noise": np.array([[0.5, -0.5]]),
            "noise_clip": 0.0, "action_low": np.array([-1.0, -1.0]),
            "action_high": np.array([1.0, 1.0])}),
    ]


# ------------------------------------------------------------- delayed updates

def _judge_schedule(case, call, tolerance):
    a = case.arguments
    expected = td3_oracle.delayed_schedule_closed_form(a["n_updates"], a["policy_delay"])
    got = call(a, expected.shape)
    if np.array_equal(got, expected):
        return None
    step = int(np.flatnonzero(np.any(got != expected, axis=1))[0]) + 1
    what = "actor" if got[step - 1, 0] != expected[step - 1, 0] else "target networks"
    should = "update" if expected[step - 1].any() else "not update"
    return Mismatch(f"after critic update {step} (counting from 1) the {what} should {should} "
                    f"(TD3: actor and targets after updates d, 2d, ... with d = "
                    f"{a['policy_delay']})", expected, got)


@st.composite
def _schedule_cases(draw):
    return Case("generated", {"n_updates": draw(st.integers(0, 20)),
                              "policy_delay": draw(st.integers(1, 5))})


# ------------------------------------------------------ squashed Gaussian log-prob

@st.composite
def _log_prob_cases(draw):
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    saturated = draw(st.booleans())
    if saturated:  # the policy mean itself deep in tanh's flat tails (RLlib #65036)
        mean = draw(_vectors(n * d, -160, 160, 4)).reshape(n, d)
    else:
        mean = draw(_vectors(n * d, -12, 12, 4)).reshape(n, d)
    log_std = draw(_vectors(n * d, -12, 4, 4)).reshape(n, d)
    z = draw(_vectors(n * d, -8, 8, 2)).reshape(n, d)
    return Case("generated", {"mean": mean, "log_std": log_std,
                              "pre_tanh": mean + np.exp(log_std) * z})


def _judge_log_prob(case, call, tolerance):
    a = case.arguments
    expected = sac_oracle.squashed_gaussian_log_density_mp(**a)
    return compare(expected, call(a, expected.shape), tolerance)


def _log_prob_edges() -> list[Case]:
    one = np.zeros((1, 1))
    return [
        Case("u = 0: no correction", {"mean": one, "log_std": one, "pre_tanh": one}),
        Case("saturated: u = +-20 and +-50 (1 - tanh(u)^2 rounds to 0)", {
            "mean": np.array([[20.0], [-20.0], [50.0], [-50.0]]), "log_std": np.zeros((4, 1)),
            "pre_tanh": np.array([[20.0], [-20.0], [50.0], [-50.0]])}),
        Case("one dimension, u = 1, sigma = 1/2", {"mean": np.array([[0.5]]),
                                                  "log_std": np.array([[-math.log(2.0)]]),
                                                  "pre_tanh": np.array([[1.0]])}),
        Case("three dimensions", {"mean": np.array([[0.0, 1.0, -2.0]]),
                                  "log_std": np.array([[0.0, -1.0, 0.5]]),
                                  "pre_tanh": np.array([[0.5, 1.5, -1.0]])}),
        Case("saturated, two dimensions", {"mean": np.array([[8.0, -9.0]]),
                                           "log_std": np.array([[-2.0, -1.0]]),
                                           "pre_tanh": np.array([[8.25, -9.5]])}),
    ]


# ------------------------------------------------- rescaling to the action bounds

@st.composite
def _box_cases(draw, log_prob: bool):
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    low = np.array(draw(st.lists(st.sampled_from([-1.0, -2.0, 0.0, -0.5, -10.0]), min_size=d, max_size=d)))
    width = np.array(draw(st.lists(st.sampled_from([4.0, 1.0, 3.0, 0.5, 20.0, 2.0]), min_size=d,
                                   max_size=d)))
    arguments = {"action_low": low, "action_high": low + width}
    if log_prob:
        mean = draw(_vectors(n * d, -12, 12, 4)).reshape(n, d)
        log_std = draw(_vectors(n * d, -8, 4, 4)).reshape(n, d)
        z = draw(_vectors(n * d, -8, 8, 2)).reshape(n, d)
        arguments = {"mean": mean, "log_std": log_std, "pre_tanh": mean + np.exp(log_std) * z,
                     **arguments}
    else:
        arguments = {"pre_tanh": draw(_vectors(n * d, -40, 40, 8)).reshape(n, d), **arguments}
    return Case("generated", arguments)


def _judge_rescaled_action(case, call, tolerance):
    a = case.arguments
    expected = sac_oracle.rescaled_action_mp(**a)
    found = compare(expected, call(a, expected.shape), tolerance)
    return found and found.with_hint(" (a = low + (tanh(u) + 1)(high - low) / 2: tanh(u) = -1 must "
                                     "map to low and +1 to high, with nothing clipped)")


def _judge_rescaled_log_prob(case, call, tolerance):
    a = case.arguments
    expected = sac_oracle.squashed_gaussian_log_density_mp(**a)
    got = call(a, expected.shape)
    found = compare(expected, got, tolerance)
    if not found:
        return None
    unscaled = sac_oracle.squashed_gaussian_log_density_mp(a["mean"], a["log_std"], a["pre_tanh"])
    if not compare(unscaled, got, tolerance):
        return found.with_hint(" (you returned the density on (-1, 1)^d: the Jacobian of the "
                               "rescaling, sum_j log((high_j - low_j) / 2), is missing)")
    return found


def _rescaling_edges(log_prob: bool) -> list[Case]:
    boxes = [("asymmetric bounds [-2, 1] and [0, 0.5]", np.array([-2.0, 0.0]), np.array([1.0, 0.5])),
             ("a symmetric box [-2, 2] x [-2, 2] (scale 2, no bias)", np.array([-2.0, -2.0]),
              np.array([2.0, 2.0])),
             ("a box [0, 4] x [10, 30] away from 0", np.array([0.0, 10.0]), np.array([4.0, 30.0]))]
    pre_tanh = np.array([[0.0, 0.5], [-1.0, 2.0], [20.0, -20.0]])
    cases = []
    for label, low, high in boxes:
        arguments = {"pre_tanh": pre_tanh, "action_low": low, "action_high": high}
        if log_prob:
            arguments = {"mean": pre_tanh - 0.25, "log_std": np.full(pre_tanh.shape, -0.5), **arguments}
        cases.append(Case(label, arguments))
    return cases


# --------------------------------------------------------------- temperature

def _judge_temperature(case, call, tolerance, exact):
    a = case.arguments
    expected_value, expected_gradient = exact(a["log_alpha"], a["log_probs"], a["target_entropy"])
    got = call.loss(a, differentiate=("log_alpha",), frozen={
        "log_probs": "they must be detached, or the temperature update also trains the policy"})
    value, gradient = float(got.value), float(got.gradients["log_alpha"])
    entropy = -float(np.mean(a["log_probs"]))
    if expected_gradient != 0.0 and gradient * expected_gradient < 0:
        direction = "below" if expected_gradient < 0 else "above"
        wanted = "raise" if expected_gradient < 0 else "lower"
        return Mismatch(f"the gradient with respect to log_alpha has the wrong sign: the policy's "
                        f"entropy estimate -mean(log_probs) = {entropy:.6g} is {direction} the "
                        f"target {a['target_entropy']!r}, so a gradient-descent step must {wanted} "
                        f"alpha, and this gradient does the opposite", expected_gradient, gradient)
    found = compare(np.asarray(expected_value), np.asarray(value), tolerance)
    if found:
        return Mismatch("the loss value " + found.message, expected_value, value, found.tolerance)
    found = compare(np.asarray(expected_gradient), np.asarray(gradient), tolerance)
    return found and found.prefixed("d loss / d log_alpha ")


def _judge_temperature_alpha(case, call, tolerance):
    return _judge_temperature(case, call, tolerance, sac_oracle.temperature_loss_exact)


def _judge_temperature_log_alpha(case, call, tolerance):
    return _judge_temperature(case, call, tolerance, sac_oracle.temperature_loss_log_alpha_exact)


@st.composite
def _temperature_cases(draw):
    n = draw(st.integers(1, 6))
    return Case("generated", {"log_alpha": draw(_grid(-12, 4, 4)),
                              "log_probs": draw(_vectors(n, -40, 20, 4)),
                              "target_entropy": draw(st.sampled_from([-1.0, -2.0, -6.0, 0.5, 0.0]))})


def _temperature_edges() -> list[Case]:
    return [
        Case("entropy below the target: alpha must rise", {
            "log_alpha": 0.0, "log_probs": np.array([1.0, 2.0]), "target_entropy": -1.0}),
        Case("entropy above the target: alpha must fall", {
            "log_alpha": math.log(0.2), "log_probs": np.array([-3.0, -2.0, -4.0]),
            "target_entropy": -1.0}),
        Case("entropy at the target: no change", {
            "log_alpha": -1.0, "log_probs": np.array([0.5, 1.5]), "target_entropy": -1.0}),
    ]


# ------------------------------------------------------------------ actor loss

def _judge_actor_loss(case, call, tolerance):
    a = case.arguments
    exact = sac_oracle.actor_loss_exact(**a)
    loss = call.loss(a, differentiate=("log_probs", "q1", "q2"), frozen={
        "alpha": "the temperature is trained by its own loss: use alpha.detach() (or a float)"})
    found = compare(exact["value"], loss.value, tolerance)
    if found:
        return found.prefixed("the loss value ")
    n, got = len(a["log_probs"]), loss.gradients
    for name, meaning in (("log_probs", "alpha / N: the entropy term must train the policy"),
                          ("q1", "-1/N where Q1 < Q2 and 0 where Q1 > Q2"),
                          ("q2", "-1/N where Q2 < Q1 and 0 where Q2 > Q1")):
        checked = np.ones(n, dtype=bool) if name == "log_probs" else ~exact["tied"]
        found = compare(exact[name][checked], got[name][checked], tolerance)
        if found:
            return Mismatch(f"d loss / d {name} should be {meaning}; it " + found.message,
                            exact[name], got[name], found.tolerance)
    tied = exact["tied"]
    if tied.any():  # at Q1 = Q2 any split of -1/N between the critics is a subgradient
        first, second, slack = got["q1"][tied], got["q2"][tied], tolerance / n
        if np.any(np.abs(first + second + 1.0 / n) > slack) or np.any(first > slack) \
                or np.any(second > slack):
            return Mismatch("where Q1 = Q2 the two critics' gradients must be <= 0 and sum to "
                            "-1/N", np.full(int(tied.sum()), -1.0 / n), first + second)
    return None


@st.composite
def _actor_loss_cases(draw):
    n = draw(st.integers(1, 6))
    q1 = draw(_vectors(n, -40, 40, 4))
    q2 = draw(_vectors(n, -40, 40, 4))
    return Case("generated", {"log_probs": draw(_vectors(n, -40, 20, 4)), "q1": q1, "q2": q2,
                              "alpha": draw(st.sampled_from([0.2, 1.0, 0.0, 0.05]))})


def _actor_loss_edges() -> list[Case]:
    return [
        Case("either critic smaller", {"log_probs": np.array([-2.0, 0.0]), "q1": np.array([1.0, 3.0]),
                                       "q2": np.array([2.0, -1.0]), "alpha": 0.5}),
        Case("tied critics", {"log_probs": np.array([1.0, -1.0, 0.5]), "q1": np.array([2.0, 0.0, -1.0]),
                              "q2": np.array([2.0, 1.0, -3.0]), "alpha": 0.25}),
    ]


# -------------------------------------------------------------- TD3 actor loss

def _judge_td3_actor_loss(case, call, tolerance):
    a = case.arguments
    exact = td3_oracle.actor_loss_exact(**a)
    loss = call.loss(a, differentiate=("q1",), frozen={
        "q2": "TD3's actor ascends the first critic only; min(Q1, Q2) is the clipped "
              "double-Q *target* (td3-target), not the actor's loss"})
    found = compare(exact["value"], loss.value, tolerance)
    if found:
        return found.prefixed("the loss value ").with_hint(_td3_actor_value_hint(a, loss.value))
    found = compare(exact["q1"], loss.gradients["q1"], tolerance)
    return found and Mismatch("d loss / d q1 should be -1/N on every entry (minus the batch "
                              "mean of Q1); it " + found.message, exact["q1"],
                              loss.gradients["q1"], found.tolerance)


def _td3_actor_value_hint(arguments, got) -> str:
    """Name the common mistake whose value the candidate returned, computed by the oracle."""
    exact = td3_oracle.actor_loss_exact(**arguments)["value"]
    n = len(arguments["q1"])
    named = {" (minus the oracle: the loss is -mean(Q1), to be minimised)": -exact,
             " (N times the oracle: a sum over the batch instead of the mean)": n * exact,
             " (the second critic's mean: TD3's actor uses Q1)":
                 td3_oracle.actor_loss_exact(arguments["q2"])["value"]}
    for hint, value in named.items():
        if value != exact and abs(float(got) - value) <= 1e-9 * max(1.0, abs(value)):
            return hint
    return ""


@st.composite
def _td3_actor_loss_cases(draw):
    n = draw(st.integers(1, 6))
    return Case("generated", {"q1": draw(_vectors(n, -80, 80, 4)), "q2": draw(_vectors(n, -80, 80, 4))})


def _td3_actor_loss_edges() -> list[Case]:
    return [
        Case("the second critic smaller everywhere: min(Q1, Q2) is not the actor's loss",
             {"q1": np.array([1.0, 3.0]), "q2": np.array([-5.0, 0.0])}),
        Case("one state", {"q1": np.array([-2.5]), "q2": np.array([4.0])}),
        Case("mixed signs, Q1 larger in some states", {"q1": np.array([2.0, -1.0, 0.5, 7.0]),
                                                       "q2": np.array([3.0, -4.0, 0.5, 1.0])}),
    ]


# ------------------------------------------------------------------------ DPG

@st.composite
def _lqr_cases(draw):
    """A closed loop M with entries in [-1/4, 1/4] (so ||M||_2^2 <= 9/16 for n <= 3 and
    gamma ||M||^2 <= 0.57), then A = M - B K: the gain and control are unconstrained."""
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 2))

    def matrix(rows, cols, low, high, denominator):
        return draw(_vectors(rows * cols, low, high, denominator)).reshape(rows, cols)

    closed_loop = matrix(n, n, -2, 2, 8)
    control, gain = matrix(n, m, -2, 2, 2), matrix(m, n, -2, 2, 2)
    state_root, action_root = matrix(n, n, -2, 2, 2), matrix(m, m, -2, 2, 2)
    covariance_root = matrix(n, n, -2, 2, 2)
    return Case("generated", {
        "dynamics": closed_loop - control @ gain, "control": control,
        "state_cost": state_root @ state_root.T + np.eye(n) / 4,
        "action_cost": action_root @ action_root.T + np.eye(m) / 4,
        "gain": gain, "initial_covariance": covariance_root @ covariance_root.T + np.eye(n) / 4,
        "gamma": draw(st.sampled_from([0.9, 0.5, 0.0, 0.99]))})


def _judge_dpg(case, call, tolerance):
    expected = ddpg_oracle.lqr_policy_gradient_autograd(**case.arguments)
    return compare(expected, call(case.arguments, expected.shape), tolerance)


def _dpg_edges() -> list[Case]:
    scalar = {"dynamics": np.array([[0.5]]), "control": np.array([[1.0]]),
              "state_cost": np.array([[1.0]]), "action_cost": np.array([[1.0]]),
              "gain": np.array([[0.0]]), "initial_covariance": np.array([[1.0]])}
    return [
        Case("one state: dJ/dK = -32/49", {**scalar, "gamma": 0.5}),
        Case("gamma = 0: only the first action counts", {**scalar, "gain": np.array([[0.5]]),
                                                         "gamma": 0.0}),
        Case("two states, one action, correlated start", {
            "dynamics": np.array([[0.5, 0.25], [0.0, 0.5]]), "control": np.array([[0.0], [1.0]]),
            "state_cost": np.eye(2), "action_cost": np.array([[0.5]]),
            "gain": np.array([[-0.25, -0.5]]),
            "initial_covariance": np.array([[1.0, 0.5], [0.5, 1.0]]), "gamma": 0.9}),
    ]


# --------------------------------------------------------------------- registry

TARGET_BATCH = ("rewards[N], terminated[N], truncated[N] (float64 0/1; only terminated stops "
                "the bootstrap)")

register(
    name="deterministic-policy-gradient-lqr", spec_id="dpg.deterministic-policy-gradient",
    summary="dJ/dK for the linear policy a = K s on a discounted linear-quadratic problem",
    signature="candidate(dynamics[n, n], control[n, m], state_cost[n, n], action_cost[m, m], "
              "gain[m, n], initial_covariance[n, n], gamma) -> gradient[m, n]; "
              "s' = A s + B a, r = -(s'Qs + a'Ra), a = K s, E[s0 s0'] = Sigma_0",
    judge=_judge_dpg, make_generated=_lqr_cases, make_edge_cases=_dpg_edges,
)
register(
    name="td3-actor-loss", spec_id="td3.actor-loss",
    summary="-mean(Q1(s, mu(s))): the first critic only; value and gradient w.r.t. Q1, none into Q2",
    signature="candidate(q1[N]: tensor, q2[N]: tensor) -> loss: 0-d tensor (q1, q2: the online "
              "critics at the online actor's action; q2 must take no part)",
    judge=_judge_td3_actor_loss, make_generated=_td3_actor_loss_cases,
    make_edge_cases=_td3_actor_loss_edges,
)
register(
    name="soft-target-update", spec_id="ddpg.soft-target-update",
    summary="theta' <- tau theta + (1 - tau) theta'; also 8 repeated updates against (1 - tau)^8",
    signature="candidate(target_params[...], online_params[...], tau in [0, 1]) -> new_target_params[...]",
    judge=_judge_soft_update, make_generated=_soft_update_cases,
    make_edge_cases=lambda: [
        Case("tau = 1/4", {"target_params": np.array([0.0, 2.0, -1.0]),
                           "online_params": np.array([1.0, 2.0, 3.0]), "tau": 0.25}),
        Case("tau = 1: hard copy", {"target_params": np.array([5.0, -5.0]),
                                    "online_params": np.array([1.0, 2.0]), "tau": 1.0}),
        Case("tau = 0: frozen", {"target_params": np.array([[5.0, -5.0]]),
                                 "online_params": np.array([[1.0, 2.0]]), "tau": 0.0}),
    ],
)
register(
    name="ddpg-target", spec_id="ddpg.critic-target",
    summary="y = r + gamma (1 - terminated) Q'(s', mu'(s'))",
    signature=f"candidate({TARGET_BATCH}, next_q[N], gamma) -> targets[N]",
    judge=_judge_ddpg_target, make_generated=lambda: _transition_batches(critics=1),
    make_edge_cases=_ddpg_target_edges,
)
register(
    name="td3-target", spec_id="td3.clipped-double-q-target",
    summary="y = r + gamma (1 - terminated) min(Q'_1, Q'_2) at the smoothed target action",
    signature=f"candidate({TARGET_BATCH}, next_q1[N], next_q2[N], gamma) -> targets[N]",
    judge=_judge_td3_target, make_generated=lambda: _transition_batches(critics=2),
    make_edge_cases=_td3_target_edges,
)
register(
    name="target-policy-smoothing", spec_id="td3.target-policy-smoothing",
    summary="clip(mu'(s') + clip(noise, -c, c), low, high), the noise given",
    signature="candidate(next_actions[N, d], noise[N, d], noise_clip, action_low[d], "
              "action_high[d]) -> smoothed[N, d]",
    judge=_judge_smoothing, make_generated=_smoothing_cases, make_edge_cases=_smoothing_edges,
)
register(
    name="delayed-policy-updates", spec_id="td3.delayed-policy-updates",
    summary="after which critic updates the actor and the targets move (k mod d = 0, k from 1)",
    signature="candidate(n_updates, policy_delay) -> schedule[n_updates, 2] "
              "(0/1; column 0 actor, column 1 target networks)",
    judge=_judge_schedule, make_generated=_schedule_cases,
    make_edge_cases=lambda: [
        Case("d = 2", {"n_updates": 5, "policy_delay": 2}),
        Case("d = 3", {"n_updates": 7, "policy_delay": 3}),
        Case("d = 1 (DDPG)", {"n_updates": 3, "policy_delay": 1}),
        Case("fewer updates than d", {"n_updates": 1, "policy_delay": 2}),
    ],
)
register(
    name="sac-target", spec_id="sac.soft-bellman-target",
    summary="y = r + gamma (1 - terminated) (min(Q'_1, Q'_2) - alpha log pi(a'|s'))",
    signature=f"candidate({TARGET_BATCH}, next_q1[N], next_q2[N], next_log_probs[N], alpha, "
              "gamma) -> targets[N]",
    judge=_judge_sac_target, make_generated=lambda: _transition_batches(critics=2, log_probs=True),
    make_edge_cases=_sac_target_edges,
)
register(
    name="squashed-gaussian-log-prob", spec_id="sac.squashed-gaussian-log-prob",
    summary="log pi(tanh(u)) for u ~ N(mean, exp(log_std)^2), summed over action dimensions",
    signature="candidate(mean[N, d], log_std[N, d], pre_tanh[N, d]) -> log_prob[N] "
              "(numpy in, numpy or tensor out)",
    judge=_judge_log_prob, make_generated=_log_prob_cases, make_edge_cases=_log_prob_edges,
)
register(
    name="action-bound-rescaling", spec_id="sac.action-bound-rescaling",
    summary="a = low + (tanh(u) + 1)(high - low) / 2: the squashed sample mapped onto the action box",
    signature="candidate(pre_tanh[N, d], action_low[d], action_high[d]) -> actions[N, d]",
    judge=_judge_rescaled_action, make_generated=lambda: _box_cases(log_prob=False),
    make_edge_cases=lambda: _rescaling_edges(log_prob=False),
)
register(
    name="rescaled-squashed-gaussian-log-prob", spec_id="sac.rescaled-squashed-gaussian-log-prob",
    summary="log pi(a) for a = c + s tanh(u): log N(u) - sum_j log(s_j (1 - tanh(u_j)^2)), s = (high - low) / 2",
    signature="candidate(mean[N, d], log_std[N, d], pre_tanh[N, d], action_low[d], action_high[d]) "
              "-> log_prob[N] (numpy in, numpy or tensor out)",
    judge=_judge_rescaled_log_prob, make_generated=lambda: _box_cases(log_prob=True),
    make_edge_cases=lambda: _rescaling_edges(log_prob=True),
)
register(
    name="temperature-loss", spec_id="sac.temperature-loss",
    summary="mean(-exp(log_alpha) (log pi + target_entropy)), log pi detached; value and gradient",
    signature="candidate(log_alpha: 0-d tensor, log_probs[N]: tensor, target_entropy: float) "
              "-> loss: 0-d tensor",
    judge=_judge_temperature_alpha, make_generated=_temperature_cases,
    make_edge_cases=_temperature_edges,
)
register(
    name="temperature-loss-log-alpha", spec_id="sac.temperature-loss-log-alpha",
    summary="mean(-log_alpha (log pi + target_entropy)), log pi detached; value and gradient",
    signature="candidate(log_alpha: 0-d tensor, log_probs[N]: tensor, target_entropy: float) "
              "-> loss: 0-d tensor",
    judge=_judge_temperature_log_alpha, make_generated=_temperature_cases,
    make_edge_cases=_temperature_edges,
)
register(
    name="sac-actor-loss", spec_id="sac.actor-loss",
    summary="mean(alpha log pi - min(Q1, Q2)); value and gradients w.r.t. log pi, Q1, Q2",
    signature="candidate(log_probs[N]: tensor, q1[N]: tensor, q2[N]: tensor, alpha: float) "
              "-> loss: 0-d tensor",
    judge=_judge_actor_loss, make_generated=_actor_loss_cases, make_edge_cases=_actor_loss_edges,
)
