"""The batteries of deep value-based RL (issue 3b): DQN and its variants.

Each battery judges a candidate against an oracle from ``rlspec.oracles`` (``dqn``,
``dqn_prioritized``, ``dqn_distributional``, ``dqn_noisy``), never against
``rlspec.reference``.  Conventions (spec entries ``dqn.*``, ``per.*``, ``c51.*``,
``noisy.*``): a batch of B transitions, ``q[i, a]`` tables of shape (B, A), episode flags
``terminated`` / ``truncated`` as float64 0.0/1.0 (terminated: no bootstrap; truncated:
bootstrap from the next observation), float64 throughout.  Randomness is an input: uniform
draws u and Gaussian noise samples are arguments, so every case is deterministic.

Generated numbers are small multiples of 1/2, 1/4 or 1/8, so that the exact oracles and a
correct float64 candidate agree to rounding, and edge cases that hinge on exactness (an atom
landing exactly on the C51 support, a draw exactly on a sum-tree boundary) really do.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from rlspec.checks.batteries import register
from rlspec.checks.core import CandidateFailure, Case, Mismatch, compare, exact_gradient, judge_loss
from rlspec.oracles import dqn as dqn_oracle
from rlspec.oracles import distributional, noisy_networks, prioritized_replay
from rlspec.toy_mdps import strategies

GAMMAS = [0.5, 0.0, 1.0, 0.9, 0.99]
ALPHAS = [0.6, 0.0, 1.0, 0.5, 0.7, 2.0]
BETAS = [0.4, 0.0, 1.0, 0.5, 0.7]


def _to_float(array) -> np.ndarray:
    return np.vectorize(float, otypes=[np.float64])(np.asarray(array, dtype=object))


def _array(values) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _numbers(shape, bound=4, denominator=2):
    """Multiples of 1/denominator in [-bound, bound], shrinking towards 0."""
    return strategies.reward_tables(tuple(shape), bound=bound, denominator=denominator)


def _flags(size, ones=1):
    """0.0/1.0 flags, mostly 0 (``ones`` of every ``ones + 2`` choices are 1)."""
    return st.lists(st.sampled_from([0.0, 0.0] + [1.0] * ones), min_size=size,
                    max_size=size).map(_array)


def _integers(values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# =========================================================================== DQN targets

def _judge_dqn_target(case, call, tolerance):
    a = case.arguments
    expected = _to_float(dqn_oracle.dqn_targets_exact(a["rewards"], a["next_q_target"],
                                                     a["terminated"], a["gamma"]))
    found = compare(expected, call(a, expected.shape), tolerance)
    if found is None:
        return None
    i = int(np.argmax(np.abs(call(a, expected.shape) - expected)))
    hint = ""
    if a["terminated"][i]:
        hint = (f" (transition {i} is terminated: its target is r_i alone, with no bootstrap "
                f"from Q_target(s', .))")
    elif a["truncated"][i]:
        hint = (f" (transition {i} is truncated by a time limit, not terminated: its target "
                f"still bootstraps from Q_target(s', .))")
    return Mismatch(found.message + hint, found.expected, found.got, found.tolerance)


@st.composite
def _target_cases(draw):
    batch, n_actions = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return Case("generated", {
        "rewards": draw(_numbers([batch])), "next_q_target": draw(_numbers([batch, n_actions])),
        "terminated": draw(_flags(batch)), "truncated": draw(_flags(batch)),
        "gamma": draw(st.sampled_from(GAMMAS))})


def _target_edge_cases() -> list[Case]:
    return [
        Case("terminated: no bootstrap", {
            "rewards": _array([1.0]), "next_q_target": _array([[5.0, 7.0]]),
            "terminated": _array([1.0]), "truncated": _array([0.0]), "gamma": 0.5}),
        Case("truncated by a time limit: bootstrap from the next observation", {
            "rewards": _array([1.0]), "next_q_target": _array([[5.0, 7.0]]),
            "terminated": _array([0.0]), "truncated": _array([1.0]), "gamma": 0.5}),
        Case("negative action values: the max, not the max of |Q|", {
            "rewards": _array([0.0, 2.0]), "next_q_target": _array([[-3.0, -1.0], [-4.0, -8.0]]),
            "terminated": _array([0.0, 0.0]), "truncated": _array([0.0, 0.0]), "gamma": 1.0}),
        Case("gamma = 0", {
            "rewards": _array([1.0, -1.0]), "next_q_target": _array([[3.0], [2.0]]),
            "terminated": _array([0.0, 1.0]), "truncated": _array([0.0, 0.0]), "gamma": 0.0}),
    ]


# --------------------------------------------------------------------------- Double DQN

def _judge_double_dqn_target(case, call, tolerance):
    a = case.arguments
    admissible = dqn_oracle.double_dqn_targets_exact(a["rewards"], a["next_q_online"],
                                                     a["next_q_target"], a["terminated"],
                                                     a["gamma"])
    one_answer = np.array([float(min(values)) for values in admissible])
    got = call(a, one_answer.shape)
    scale = max(1.0, max(abs(float(v)) for values in admissible for v in values))
    slack = tolerance * scale
    for i, values in enumerate(admissible):
        if not any(abs(got[i] - float(v)) <= slack for v in values):
            online = a["next_q_online"][i]
            hint = ("terminated, so its target is r_i alone" if a["terminated"][i] else
                    f"the online network picks argmax {np.flatnonzero(online == online.max()).tolist()} "
                    f"and the target network values that choice; max_a Q_target = "
                    f"{a['next_q_target'][i].max():g} would be the plain DQN target")
            return Mismatch(f"transition {i}: got {got[i]:.6g}, expected "
                            f"{sorted(float(v) for v in values)} ({hint})",
                            one_answer, got, slack)
    return None


@st.composite
def _double_cases(draw):
    batch, n_actions = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return Case("generated", {
        "rewards": draw(_numbers([batch])), "next_q_online": draw(_numbers([batch, n_actions])),
        "next_q_target": draw(_numbers([batch, n_actions])), "terminated": draw(_flags(batch)),
        "gamma": draw(st.sampled_from(GAMMAS))})


def _double_edge_cases() -> list[Case]:
    return [
        Case("online and target networks disagree", {
            "rewards": _array([0.0]), "next_q_online": _array([[1.0, 3.0]]),
            "next_q_target": _array([[5.0, 2.0]]), "terminated": _array([0.0]), "gamma": 1.0}),
        Case("terminated: no bootstrap", {
            "rewards": _array([1.0]), "next_q_online": _array([[1.0, 3.0]]),
            "next_q_target": _array([[5.0, 2.0]]), "terminated": _array([1.0]), "gamma": 0.5}),
        Case("tied online values: either choice", {
            "rewards": _array([0.0, 1.0]), "next_q_online": _array([[2.0, 2.0], [0.0, -1.0]]),
            "next_q_target": _array([[1.0, 4.0], [-2.0, 6.0]]), "terminated": _array([0.0, 0.0]),
            "gamma": 0.5}),
    ]


# --------------------------------------------------------------------------- losses

def _judge_loss(kind: str):
    def judge(case, call, tolerance):
        a = case.arguments
        loss, gradient = dqn_oracle.dqn_loss_and_gradient_exact(
            a["q_values"], a["actions"], a["rewards"], a["next_q_target"], a["terminated"],
            a["gamma"], kind=kind)
        got = call.loss(a, differentiate=("q_values",), frozen={
            "next_q_target": "the TD target was not detached (compute it under "
                             "torch.no_grad() or call .detach()), so the update would also "
                             "move the target network"})
        rule = "(Q - y) / B" if kind == "squared" else "clip(Q - y, -1, 1) / B"
        return judge_loss(got, float(loss), {"q_values": exact_gradient(_to_float(gradient))},
                          tolerance, gradient_hints={
                              "q_values": f"; expected {rule} on each taken action and 0 elsewhere"})
    return judge


@st.composite
def _loss_cases(draw):
    batch, n_actions = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    actions = draw(st.lists(st.integers(0, n_actions - 1), min_size=batch, max_size=batch))
    return Case("generated", {
        "q_values": draw(_numbers([batch, n_actions])), "actions": _integers(actions),
        "rewards": draw(_numbers([batch])), "next_q_target": draw(_numbers([batch, n_actions])),
        "terminated": draw(_flags(batch)), "gamma": draw(st.sampled_from(GAMMAS))})


def _loss_edge_cases() -> list[Case]:
    return [
        Case("one transition", {
            "q_values": _array([[3.0, 0.0]]), "actions": _integers([0]), "rewards": _array([1.0]),
            "next_q_target": _array([[2.0, 0.0]]), "terminated": _array([0.0]), "gamma": 0.5}),
        Case("terminated transition", {
            "q_values": _array([[1.0, 2.0]]), "actions": _integers([1]), "rewards": _array([0.5]),
            "next_q_target": _array([[8.0, 8.0]]), "terminated": _array([1.0]), "gamma": 0.5}),
        Case("a batch of three: the mean, errors small and large", {
            "q_values": _array([[0.0, 4.0], [1.0, 1.0], [2.0, -1.0]]), "actions": _integers([1, 0, 0]),
            "rewards": _array([0.0, 1.0, 0.5]), "next_q_target": _array([[1.0, 2.0], [0.0, 0.0], [3.0, 1.0]]),
            "terminated": _array([0.0, 0.0, 0.0]), "gamma": 1.0}),
    ]


# --------------------------------------------------------------------------- n-step

def _judge_n_step(case, call, tolerance):
    a = case.arguments
    expected = _to_float(dqn_oracle.n_step_targets_exact(**a))
    return compare(expected, call(a, expected.shape), tolerance)


@st.composite
def _n_step_cases(draw):
    length = draw(st.integers(1, 6))
    return Case("generated", {
        "rewards": draw(_numbers([length])), "next_values": draw(_numbers([length])),
        "terminated": draw(_flags(length)), "truncated": draw(_flags(length)),
        "gamma": draw(st.sampled_from(GAMMAS)), "n": draw(st.integers(1, 4))})


def _n_step_edge_cases() -> list[Case]:
    ones = _array([1.0, 1.0, 1.0])
    return [
        Case("terminal inside the window: truncate the sum, no bootstrap", {
            "rewards": ones, "next_values": _array([10.0, 10.0, 10.0]), "terminated": _array([0, 1, 0]),
            "truncated": _array([0, 0, 0]), "gamma": 0.5, "n": 2}),
        Case("time-limit truncation inside the window: bootstrap there", {
            "rewards": ones, "next_values": _array([10.0, 20.0, 30.0]), "terminated": _array([0, 0, 0]),
            "truncated": _array([0, 1, 0]), "gamma": 0.5, "n": 3}),
        Case("n = 3 inside one long episode", {
            "rewards": _array([1.0, 2.0, 3.0, 4.0, 5.0]), "next_values": _array([8.0, 8.0, 8.0, 8.0, 8.0]),
            "terminated": _array([0, 0, 0, 0, 0]), "truncated": _array([0, 0, 0, 0, 0]),
            "gamma": 0.5, "n": 3}),
        Case("n = 1 is the one-step target", {
            "rewards": _array([1.0, -1.0]), "next_values": _array([4.0, 2.0]),
            "terminated": _array([0, 1]), "truncated": _array([0, 0]), "gamma": 0.5, "n": 1}),
    ]


# --------------------------------------------------------------------------- dueling

def _judge_dueling(case, call, tolerance):
    a = case.arguments
    expected = _to_float(dqn_oracle.dueling_exact(**a))
    found = compare(expected, call(a, expected.shape), tolerance)
    if found:
        rule = "max_a' A(s, a')" if a["aggregation"] == "max" else "the mean of A(s, .)"
        return Mismatch(f"{found.message}; expected Q = V + A - {rule}", found.expected,
                        found.got, found.tolerance)
    return None


@st.composite
def _dueling_cases(draw):
    batch, n_actions = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    return Case("generated", {"values": draw(_numbers([batch])),
                              "advantages": draw(_numbers([batch, n_actions])),
                              "aggregation": draw(st.sampled_from(["mean", "max"]))})


def _dueling_edge_cases() -> list[Case]:
    cases = []
    for aggregation in ("max", "mean"):
        cases += [
            Case(f"{aggregation}: V = 1, A = (1, 3)", {
                "values": _array([1.0]), "advantages": _array([[1.0, 3.0]]), "aggregation": aggregation}),
            Case(f"{aggregation}: one action, Q = V", {
                "values": _array([2.0]), "advantages": _array([[5.0]]), "aggregation": aggregation}),
            Case(f"{aggregation}: negative advantages, two states", {
                "values": _array([0.0, -1.0]), "advantages": _array([[-2.0, -1.0, -4.0], [0.5, 0.0, 1.0]]),
                "aggregation": aggregation}),
        ]
    return cases


# --------------------------------------------------------------------------- replay buffer

def _judge_replay(case, call, tolerance):
    a = case.arguments
    expected = dqn_oracle.replay_sample_exact(a["capacity"], a["experiences"], a["uniform_draws"])
    got = call(a, expected.shape)
    if np.array_equal(got, expected):
        return None
    owners = dqn_oracle.replay_slot_owners(a["capacity"], len(a["experiences"]))
    j = int(np.flatnonzero(np.any(got != expected, axis=1))[0])
    slot = int(Fraction(float(a["uniform_draws"][j])) * len(owners))
    return Mismatch(
        f"sample {j} (u = {float(a['uniform_draws'][j])!r}) is not the experience the buffer holds: the "
        f"{len(owners)} filled slots hold experiences {owners} (experience t in slot t mod "
        f"capacity), and u selects slot floor(u * size) = {slot}, experience {owners[slot]}",
        expected, got, 0.0)


@st.composite
def _replay_cases(draw):
    capacity, added, width = draw(st.integers(1, 5)), draw(st.integers(1, 9)), draw(st.integers(1, 3))
    body = draw(_numbers([added, width], bound=8, denominator=1))
    experiences = np.column_stack([np.arange(1.0, added + 1.0), body])  # column 0 tells them apart
    size = min(capacity, added)
    middles = [(k + 0.5) / size for k in range(size)]
    extra = draw(st.lists(st.integers(0, 127), max_size=4))
    return Case("generated", {"capacity": capacity, "experiences": experiences,
                              "uniform_draws": _array(middles + [k / 128 for k in extra])})


def _replay_edge_cases() -> list[Case]:
    def rows(count):
        return np.column_stack([np.arange(1.0, count + 1.0), 10.0 * np.arange(1.0, count + 1.0)])

    below_one = float(np.nextafter(1.0, 0.0))
    return [
        Case("not yet full: only the filled slots", {
            "capacity": 3, "experiences": rows(2), "uniform_draws": _array([0.0, 0.5, 0.75])}),
        Case("full: the oldest experience was overwritten", {
            "capacity": 2, "experiences": rows(3), "uniform_draws": _array([0.25, 0.75])}),
        Case("wrapped around twice", {
            "capacity": 3, "experiences": rows(7),
            "uniform_draws": _array([1 / 6, 0.5, 5 / 6])}),
        Case("the largest draw below 1 selects the last slot", {
            "capacity": 3, "experiences": rows(3), "uniform_draws": _array([0.0, below_one])}),
    ]


# =========================================================================== PER

def _judge_proportional(case, call, tolerance):
    a = case.arguments
    expected = prioritized_replay.proportional_probabilities_precise(**a)
    found = compare(expected, call(a, expected.shape), tolerance)
    if found:
        return Mismatch(f"{found.message}; expected P(i) = (|delta_i| + epsilon)^alpha / "
                        f"sum_k (|delta_k| + epsilon)^alpha", found.expected, found.got,
                        found.tolerance)
    return None


@st.composite
def _proportional_cases(draw):
    size = draw(st.integers(1, 5))
    return Case("generated", {"td_errors": draw(_numbers([size])),
                              "alpha": draw(st.sampled_from(ALPHAS)),
                              "epsilon": draw(st.sampled_from([0.5, 0.01, 1.0, 1e-6]))})


def _proportional_edge_cases() -> list[Case]:
    return [
        Case("a zero TD error is still sampled", {
            "td_errors": _array([0.0, 2.0]), "alpha": 1.0, "epsilon": 0.5}),
        Case("epsilon goes inside the power", {
            "td_errors": _array([0.0, -3.0]), "alpha": 0.5, "epsilon": 1.0}),
        Case("alpha = 0 is uniform", {
            "td_errors": _array([0.0, 1.0, -4.0]), "alpha": 0.0, "epsilon": 0.01}),
        Case("every TD error zero", {"td_errors": _array([0.0, 0.0]), "alpha": 0.6, "epsilon": 0.01}),
    ]


def _judge_rank(case, call, tolerance):
    a = case.arguments
    groups = prioritized_replay.rank_based_probabilities_by_group(**a)
    magnitudes = np.abs(a["td_errors"])
    one_answer = np.zeros(magnitudes.size)
    for members, probabilities in groups:
        one_answer[members] = probabilities
    got = call(a, (magnitudes.size,))
    for members, probabilities in groups:
        found = compare(np.sort(probabilities), np.sort(got[members]), tolerance)
        if found:
            first = int(np.sum(magnitudes > magnitudes[members[0]])) + 1
            ranks = list(range(first, first + len(members)))
            return Mismatch(
                f"transitions {members} (|delta| = {magnitudes[members[0]]:g}) have rank(s) {ranks} "
                f"(rank 1 = largest |delta|; tied transitions in any order), so P = "
                f"{np.round(probabilities, 6).tolist()}, but got {np.round(got[members], 6).tolist()}",
                one_answer, got, found.tolerance)
    return None


@st.composite
def _rank_cases(draw):
    size = draw(st.integers(1, 6))
    return Case("generated", {"td_errors": draw(_numbers([size], bound=3, denominator=1)),
                              "alpha": draw(st.sampled_from(ALPHAS))})


def _rank_edge_cases() -> list[Case]:
    return [
        Case("ranked by |delta|, largest first", {"td_errors": _array([1.0, -5.0, 2.0]), "alpha": 1.0}),
        Case("alpha = 1/2", {"td_errors": _array([3.0, 0.0, 1.0, 2.0]), "alpha": 0.5}),
        Case("ties take consecutive ranks", {"td_errors": _array([2.0, -2.0, 1.0]), "alpha": 1.0}),
    ]


def _judge_weights(case, call, tolerance):
    a = case.arguments
    expected = prioritized_replay.importance_weights_precise(**a)
    found = compare(expected, call(a, expected.shape), tolerance)
    if found:
        return Mismatch(f"{found.message}; expected w_j = (N P(j))^-beta / max_i (N P(i))^-beta "
                        f"with the max over all N transitions in the buffer, so that the least "
                        f"likely transition has weight 1", found.expected, found.got,
                        found.tolerance)
    return None


@st.composite
def _weight_cases(draw):
    size = draw(st.integers(1, 5))
    priorities = draw(st.lists(st.integers(1, 16), min_size=size, max_size=size))
    indices = draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=4))
    return Case("generated", {"priorities": _array(priorities) / 4.0, "indices": _integers(indices),
                              "alpha": draw(st.sampled_from(ALPHAS)),
                              "beta": draw(st.sampled_from(BETAS))})


def _weight_edge_cases() -> list[Case]:
    return [
        Case("the least likely transition is not in the batch", {
            "priorities": _array([1.0, 2.0, 4.0]), "indices": _integers([1, 2]), "alpha": 1.0, "beta": 1.0}),
        Case("alpha acts on the priorities", {
            "priorities": _array([1.0, 4.0]), "indices": _integers([0, 1]), "alpha": 0.5, "beta": 1.0}),
        Case("beta = 0: no correction", {
            "priorities": _array([1.0, 3.0]), "indices": _integers([1]), "alpha": 1.0, "beta": 0.0}),
        Case("beta between 0 and 1", {
            "priorities": _array([1.0, 3.0, 0.5]), "indices": _integers([0, 1, 1]), "alpha": 0.6,
            "beta": 0.4}),
    ]


def _judge_beta(case, call, tolerance):
    expected = float(prioritized_replay.beta_schedule_exact(**case.arguments))
    found = compare(expected, call(case.arguments, ()), tolerance)
    if found:
        a = case.arguments
        return Mismatch(f"{found.message}; expected beta_0 + min(t, T - 1) (1 - beta_0) / (T - 1), "
                        f"which is beta_0 at t = 0 and 1 from t = T - 1 = {a['total_steps'] - 1} on",
                        found.expected, found.got, found.tolerance)
    return None


@st.composite
def _beta_cases(draw):
    total = draw(st.integers(1, 50))
    return Case("generated", {"step": draw(st.integers(0, total + 5)), "total_steps": total,
                              "beta_start": draw(st.sampled_from([0.4, 0.0, 0.5, 0.6, 1.0]))})


def _beta_edge_cases() -> list[Case]:
    return [
        Case("the first step is beta_start", {"step": 0, "total_steps": 100, "beta_start": 0.6}),
        Case("the last step reaches 1 (the notes' example)", {"step": 99, "total_steps": 100, "beta_start": 0.6}),
        Case("after the last step beta stays 1", {"step": 150, "total_steps": 100, "beta_start": 0.4}),
        Case("a single step", {"step": 0, "total_steps": 1, "beta_start": 0.4}),
        Case("a single step, asked later: still 1 (no division by T - 1 = 0)",
             {"step": 3, "total_steps": 1, "beta_start": 0.4}),
        Case("two steps, the first: beta_start, not 1 (the smallest horizon with a ramp)",
             {"step": 0, "total_steps": 2, "beta_start": 0.4}),
        Case("two steps, the second: 1", {"step": 1, "total_steps": 2, "beta_start": 0.4}),
        Case("half way", {"step": 50, "total_steps": 101, "beta_start": 0.5}),
    ]


# --------------------------------------------------------------------------- sum tree

def _final_priorities(a) -> np.ndarray:
    final = np.array(a["priorities"], dtype=np.float64)
    for index, priority in zip(a["update_indices"], a["update_priorities"]):
        final[int(index)] = priority
    return final


def _sum_tree_case(label, priorities, update_indices=(), update_priorities=(), extra=()) -> Case:
    """All cell middles and cell boundaries of the final priorities, plus ``extra`` draws."""
    arguments = {"priorities": _array(priorities), "update_indices": _integers(list(update_indices)),
                 "update_priorities": _array(list(update_priorities))}
    _, middles, boundaries = prioritized_replay.sampling_grid(_final_priorities(arguments))
    arguments["uniform_draws"] = np.concatenate([middles, boundaries, _array(list(extra))])
    return Case(label, arguments, {"middles": middles.size})


def _judge_sum_tree(case, call, tolerance):
    a = case.arguments
    final = _final_priorities(a)
    size = final.size
    leaves = call(a, a["uniform_draws"].shape)
    if not np.all((leaves == np.round(leaves)) & (leaves >= 0) & (leaves < size)):
        bad = int(np.flatnonzero(~((leaves == np.round(leaves)) & (leaves >= 0) & (leaves < size)))[0])
        raise CandidateFailure("type", f"returned {float(leaves[bad]):g} for u = {float(a['uniform_draws'][bad])!r}, "
                                       f"not a leaf index in range({size})", leaves)
    leaves = leaves.astype(int)
    prefix_order = np.array([prioritized_replay.prefix_sum_leaf_exact(final, u) for u in a["uniform_draws"]])
    zero = np.flatnonzero(final[leaves] == 0.0)
    if zero.size:
        j = int(zero[0])
        return Mismatch(f"u = {float(a['uniform_draws'][j])!r} returned leaf {leaves[j]}, whose priority is 0: "
                        f"a transition with priority 0 must never be sampled (final priorities "
                        f"{final.tolist()}; prefix-sum order would return leaf {prefix_order[j]})",
                        prefix_order, leaves, 0.0)
    cell, _, _ = prioritized_replay.sampling_grid(final)
    measures = prioritized_replay.leaf_measures(size, cell, leaves[:case.context["middles"]])
    exact = [Fraction(float(p)) for p in final]
    if measures != exact:
        i = next(i for i in range(size) if measures[i] != exact[i])
        return Mismatch(f"wrong sampling distribution: leaf {i} is returned for draws u in a set "
                        f"of total length {float(measures[i]):g}, but its priority (after the "
                        f"updates) is {final[i]:g}, so P({i}) would be {float(measures[i] / sum(exact)):g} "
                        f"instead of {float(exact[i] / sum(exact)):g}; expected shows the prefix-sum "
                        f"answers (any layout with the exact distribution is accepted)",
                        prefix_order, leaves, 0.0)
    return None


@st.composite
def _sum_tree_cases(draw):
    size = draw(st.integers(1, 7))
    denominator = draw(st.sampled_from([1, 2]))
    priorities = draw(st.lists(st.integers(0, 4), min_size=size, max_size=size))
    count = draw(st.integers(0, 3))
    indices = draw(st.lists(st.integers(0, size - 1), min_size=count, max_size=count))
    values = draw(st.lists(st.integers(0, 4), min_size=count, max_size=count))
    arguments = {"priorities": _array(priorities) / denominator, "update_indices": _integers(indices),
                 "update_priorities": _array(values) / denominator}
    if _final_priorities(arguments).sum() == 0:
        arguments["priorities"][-1] += 1.0
        arguments["update_priorities"] = np.where(arguments["update_indices"] == size - 1,
                                                  arguments["update_priorities"] + 1.0,
                                                  arguments["update_priorities"])
    return _sum_tree_case("generated", arguments["priorities"], arguments["update_indices"],
                          arguments["update_priorities"])


def _sum_tree_edge_cases() -> list[Case]:
    return [
        _sum_tree_case("a leaf of priority 0 at u = 0", [0.0, 2.0, 1.0]),
        _sum_tree_case("an update changes the distribution", [1.0, 1.0, 1.0, 1.0], [2], [5.0]),
        _sum_tree_case("five leaves, the last one updated", [1.0, 2.0, 0.0, 1.0, 3.0], [4], [0.5]),
        _sum_tree_case("one leaf updated twice", [1.0, 1.0, 2.0], [1, 1], [3.0, 1.0]),
        _sum_tree_case("zero-priority leaves between positive ones", [2.0, 0.0, 0.0, 1.0, 0.0]),
    ]


# =========================================================================== C51

def _judge_c51(case, call, tolerance):
    a = case.arguments
    expected = _to_float(distributional.categorical_projection_exact(**a))
    got = call(a, expected.shape)
    found = compare(expected, got, tolerance)
    if found is None:
        return None
    sums = got.sum(axis=1)
    hint = ""
    if np.any(np.abs(sums - 1.0) > tolerance):
        hint = (f"; mass is not conserved (row sums {sums.tolist()}): when b = (Tz - v_min)/dz "
                f"is an integer, floor(b) = ceil(b) and p_j must go to that atom whole")
    return Mismatch(found.message + hint, found.expected, found.got, found.tolerance)


@st.composite
def _c51_cases(draw):
    n_atoms = draw(st.integers(2, 6))
    spacing = draw(st.sampled_from([1.0, 0.5, 2.0]))
    v_min = draw(st.sampled_from([-2.0, -1.0, 0.0, -4.0]))
    batch = draw(st.integers(1, 3))
    probabilities = np.array([draw(strategies.probability_vectors(n_atoms)) for _ in range(batch)])
    return Case("generated", {
        "rewards": draw(_numbers([batch], bound=3, denominator=4)), "terminated": draw(_flags(batch)),
        "gamma": draw(st.sampled_from([0.5, 1.0, 0.0, 0.75, 0.9])),
        "next_probabilities": probabilities, "v_min": v_min, "v_max": v_min + spacing * (n_atoms - 1)})


def _c51_edge_cases() -> list[Case]:
    spread = _array([[0.125, 0.25, 0.25, 0.25, 0.125]])
    one_atom = _array([[0.0, 0.0, 0.0, 1.0, 0.0]])
    return [
        Case("every shifted atom lands exactly on the support", {
            "rewards": _array([1.0]), "terminated": _array([0.0]), "gamma": 1.0,
            "next_probabilities": spread, "v_min": -2.0, "v_max": 2.0}),
        Case("an atom halfway between two atoms of the support", {
            "rewards": _array([0.5]), "terminated": _array([0.0]), "gamma": 1.0,
            "next_probabilities": one_atom, "v_min": -2.0, "v_max": 2.0}),
        Case("clipped at v_max and at v_min", {
            "rewards": _array([3.0, -3.5]), "terminated": _array([0.0, 0.0]), "gamma": 1.0,
            "next_probabilities": np.vstack([spread, spread]), "v_min": -2.0, "v_max": 2.0}),
        Case("terminated: all mass at r", {
            "rewards": _array([0.25]), "terminated": _array([1.0]), "gamma": 0.5,
            "next_probabilities": spread, "v_min": -2.0, "v_max": 2.0}),
        Case("gamma = 1/2 shrinks the distribution", {
            "rewards": _array([0.0]), "terminated": _array([0.0]), "gamma": 0.5,
            "next_probabilities": spread, "v_min": -2.0, "v_max": 2.0}),
    ]


# =========================================================================== NoisyNet

NOISE = [-1.0, 0.25, 2.25, -0.25, 0.0, 1.0, -2.25, 4.0, 0.5, -0.81]


def _judge_noisy(case, call, tolerance):
    a = case.arguments
    expected = noisy_networks.noisy_linear_precise(**a)
    found = compare(expected, call(a, expected.shape), tolerance)
    if found:
        return Mismatch(f"{found.message}; expected y = (mu_w + sigma_w * outer(f(noise_out), "
                        f"f(noise_in))) x + mu_b + sigma_b * f(noise_out), f(e) = sgn(e) sqrt(|e|)",
                        found.expected, found.got, found.tolerance)
    return None


@st.composite
def _noisy_cases(draw):
    batch, n_in, n_out = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sigma = strategies.reward_tables((n_out, n_in), bound=1, denominator=4).map(np.abs)
    return Case("generated", {
        "x": draw(_numbers([batch, n_in], bound=2, denominator=4)),
        "weight_mu": draw(_numbers([n_out, n_in], bound=2, denominator=4)),
        "weight_sigma": draw(sigma),
        "bias_mu": draw(_numbers([n_out], bound=2, denominator=4)),
        "bias_sigma": np.abs(draw(_numbers([n_out], bound=1, denominator=4))),
        "noise_in": _array(draw(st.lists(st.sampled_from(NOISE), min_size=n_in, max_size=n_in))),
        "noise_out": _array(draw(st.lists(st.sampled_from(NOISE), min_size=n_out, max_size=n_out)))})


def _noisy_edge_cases() -> list[Case]:
    return [
        Case("negative noise: f keeps the sign", {
            "x": _array([[1.0]]), "weight_mu": _array([[1.0]]), "weight_sigma": _array([[1.0]]),
            "bias_mu": _array([0.0]), "bias_sigma": _array([1.0]), "noise_in": _array([4.0]),
            "noise_out": _array([-1.0])}),
        Case("noise of size other than 0 and 1: f takes a square root", {
            "x": _array([[2.0]]), "weight_mu": _array([[0.0]]), "weight_sigma": _array([[1.0]]),
            "bias_mu": _array([0.0]), "bias_sigma": _array([0.5]), "noise_in": _array([0.25]),
            "noise_out": _array([2.25])}),
        Case("three inputs, two outputs: noise outer(f(noise_out), f(noise_in))", {
            "x": _array([[1.0, -1.0, 2.0]]), "weight_mu": _array([[0.5, 0.0, 1.0], [-1.0, 0.25, 0.0]]),
            "weight_sigma": _array([[0.5, 0.25, 0.125], [1.0, 0.5, 0.25]]),
            "bias_mu": _array([0.0, 1.0]), "bias_sigma": _array([0.25, 0.5]),
            "noise_in": _array([1.0, -2.25, 0.25]), "noise_out": _array([4.0, -0.25])}),
        Case("sigma = 0: the layer without noise", {
            "x": _array([[1.0, 2.0]]), "weight_mu": _array([[1.0, -1.0]]), "weight_sigma": _array([[0.0, 0.0]]),
            "bias_mu": _array([0.5]), "bias_sigma": _array([0.0]), "noise_in": _array([1.0, -1.0]),
            "noise_out": _array([2.25])}),
    ]


# =========================================================================== registry

FLAGS = "terminated[B], truncated[B] float64 0.0/1.0"

register(
    name="dqn-target", spec_id="dqn.td-target",
    summary="the DQN TD target r + gamma (1 - terminated) max_a' Q_target(s', a')",
    signature=f"candidate(rewards[B], next_q_target[B, A], terminated[B], truncated[B], gamma) -> targets[B]; {FLAGS}",
    judge=_judge_dqn_target, make_generated=_target_cases, make_edge_cases=_target_edge_cases,
)
register(
    name="double-dqn-target", spec_id="dqn.double-target",
    summary="the Double DQN target: online argmax, target-network evaluation",
    signature="candidate(rewards[B], next_q_online[B, A], next_q_target[B, A], terminated[B], gamma) -> targets[B]",
    judge=_judge_double_dqn_target, make_generated=_double_cases, make_edge_cases=_double_edge_cases,
)
_LOSS_SIGNATURE = ("candidate(q_values[B, A], actions[B], rewards[B], next_q_target[B, A], "
                   "terminated[B], gamma) -> loss; torch tensors in (float64; actions int64), a "
                   "torch scalar out, differentiable in q_values and not in next_q_target")
register(
    name="dqn-loss", spec_id="dqn.loss",
    summary="the squared DQN loss (1/2B) sum (Q(s, a) - y)^2 and its gradient; the target is not differentiated",
    signature=_LOSS_SIGNATURE,
    judge=_judge_loss("squared"), make_generated=_loss_cases, make_edge_cases=_loss_edge_cases,
)
register(
    name="dqn-huber-loss", spec_id="dqn.huber-loss",
    summary="the DQN loss with error clipping (mean Huber, threshold 1) and its gradient",
    signature=_LOSS_SIGNATURE,
    judge=_judge_loss("huber"), make_generated=_loss_cases, make_edge_cases=_loss_edge_cases,
)
register(
    name="n-step-q-target", spec_id="dqn.n-step-target",
    summary="n-step Q targets over a segment: no bootstrap through a terminal, bootstrap at truncation",
    signature=("candidate(rewards[T], next_values[T], terminated[T], truncated[T], gamma, n) -> targets[T]; "
               "next_values[t] = max_a Q_target(s_{t+1}, a)"),
    judge=_judge_n_step, make_generated=_n_step_cases, make_edge_cases=_n_step_edge_cases,
)
register(
    name="dueling-aggregation", spec_id="dqn.dueling",
    summary="the dueling head Q = V + A - max A or Q = V + A - mean A",
    signature="candidate(values[B], advantages[B, A], aggregation: 'mean' | 'max') -> q[B, A]",
    judge=_judge_dueling, make_generated=_dueling_cases, make_edge_cases=_dueling_edge_cases,
)
register(
    name="replay-buffer-sample", spec_id="dqn.replay-buffer",
    summary="a FIFO ring buffer: experience t in slot t mod capacity; u selects slot floor(u * size)",
    signature="candidate(capacity, experiences[T, d], uniform_draws[M] in [0, 1)) -> sampled[M, d]",
    judge=_judge_replay, make_generated=_replay_cases, make_edge_cases=_replay_edge_cases,
)
register(
    name="per-proportional-probabilities", spec_id="per.proportional-priority",
    summary="P(i) = p_i^alpha / sum p^alpha with p_i = |delta_i| + epsilon",
    signature="candidate(td_errors[N], alpha, epsilon) -> probabilities[N]",
    judge=_judge_proportional, make_generated=_proportional_cases,
    make_edge_cases=_proportional_edge_cases,
)
register(
    name="per-rank-probabilities", spec_id="per.rank-priority",
    summary="P(i) = p_i^alpha / sum p^alpha with p_i = 1 / rank(i), rank 1 = largest |delta|",
    signature="candidate(td_errors[N], alpha) -> probabilities[N]",
    judge=_judge_rank, make_generated=_rank_cases, make_edge_cases=_rank_edge_cases,
)
register(
    name="per-importance-weights", spec_id="per.importance-weights",
    summary="w_j = (N P(j))^-beta / max_i (N P(i))^-beta, the max over the whole buffer",
    signature="candidate(priorities[N] > 0, indices[B] int64, alpha, beta) -> weights[B]",
    judge=_judge_weights, make_generated=_weight_cases, make_edge_cases=_weight_edge_cases,
)
register(
    name="per-beta-schedule", spec_id="per.beta-schedule",
    summary="beta annealed linearly from beta_start at step 0 to 1 at step T - 1",
    signature="candidate(step >= 0, total_steps >= 1, beta_start) -> beta",
    judge=_judge_beta, make_generated=_beta_cases, make_edge_cases=_beta_edge_cases,
)
register(
    name="sum-tree-sample", spec_id="per.sum-tree",
    summary="a sum tree's leaf for prefix sums u in [0, total) after updates; the sampling distribution must be exact",
    signature=("candidate(priorities[N], update_indices[K] int64, update_priorities[K], "
               "uniform_draws[M] in [0, total)) -> leaves[M]"),
    judge=_judge_sum_tree, make_generated=_sum_tree_cases, make_edge_cases=_sum_tree_edge_cases,
)
register(
    name="c51-projection", spec_id="c51.projection",
    summary="C51's projection of r + gamma z onto the fixed support (clipped, linear interpolation)",
    signature=("candidate(rewards[B], terminated[B], gamma, next_probabilities[B, K], v_min, v_max) "
               "-> projected[B, K]; support z_j = v_min + j (v_max - v_min) / (K - 1)"),
    judge=_judge_c51, make_generated=_c51_cases, make_edge_cases=_c51_edge_cases,
)
register(
    name="noisy-linear", spec_id="noisy.factorised-linear",
    summary="a NoisyNet linear layer with factorised Gaussian noise given as input",
    signature=("candidate(x[B, p], weight_mu[q, p], weight_sigma[q, p], bias_mu[q], bias_sigma[q], "
               "noise_in[p], noise_out[q]) -> y[B, q]"),
    judge=_judge_noisy, make_generated=_noisy_cases, make_edge_cases=_noisy_edge_cases,
)
