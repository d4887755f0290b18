"""The batteries of the policy-gradient, actor-critic and GAE chapter (issue 4a).

Each judge calls only ``rlspec.oracles`` (exact rationals, enumeration, torch autograd of a
closed form), never ``rlspec.reference``.  Conventions:

* trajectories: ``states[t]``, ``actions[t]`` (int64), ``rewards[t]`` (float64), t = 0..T-1;
  the policy is the tabular softmax of ``theta[s, a]``; gradients are [s, a] arrays.
* GAE: time-major 1-D arrays of one environment's segment; ``terminated[t]`` and
  ``truncated[t]`` are numpy bool arrays (what ``env.step`` returns), ``next_values[t]`` is V
  of the observation after step t, even on truncation.  Other conventions (CleanRL, SB3,
  rlax, (T, N) batches) are mapped by ``rlspec.checks.gae_conventions``.
* The critic loss takes and returns torch tensors: ``values`` and ``next_values`` are fresh
  float64 leaf tensors that require grad; the judge differentiates the returned loss.

Generated numbers are small integers (rewards, values), multiples of 1/8 (probabilities)
and halves (logits), so counterexamples read easily and the exact oracles are exact for the
very inputs the candidate sees.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from rlspec.checks.batteries import register
from rlspec.checks.core import CandidateFailure, Case, Mismatch, compare, exact_gradient, judge_loss
from rlspec.oracles import gae as gae_oracle
from rlspec.oracles import actor_critic, pg_estimators
from rlspec.oracles.methods import trajectories
from rlspec.toy_mdps import strategies

# ----------------------------------------------------------------- shared pieces

def _to_float(values) -> np.ndarray:
    return np.array([float(v) for v in np.asarray(values, dtype=object).reshape(-1)],
                    dtype=np.float64).reshape(np.shape(values))


def _ints(size: int, low: int = -4, high: int = 4):
    return st.lists(st.integers(low, high), min_size=size, max_size=size).map(
        lambda values: np.array(values, dtype=np.float64))


#: Discounts: the first is what hypothesis shrinks to.  1.0 is where the gamma^t bugs hide.
GAMMAS = (0.5, 1.0, 0.0, 0.9, 0.25, 0.99)
#: GAE lambdas: 0 (TD residual) and 1 (Monte Carlo) are the limits people get wrong.
LAMBDAS = (0.5, 1.0, 0.0, 0.95, 0.25)


@st.composite
def _logits(draw, n_states: int, n_actions: int) -> np.ndarray:
    """theta[s, a] in halves from -2 to 2: readable, and every pi(a|s) >= e^-4 / A."""
    halves = draw(st.lists(st.integers(-4, 4), min_size=n_states * n_actions,
                           max_size=n_states * n_actions))
    return np.array(halves, dtype=np.float64).reshape(n_states, n_actions) / 2.0


@st.composite
def _trajectory_cases(draw, off_policy: bool = False) -> Case:
    n_states, n_actions = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    size = draw(st.integers(1, 5))
    arguments = {
        "theta": draw(_logits(n_states, n_actions)),
        "states": np.array(draw(st.lists(st.integers(0, n_states - 1), min_size=size, max_size=size)), dtype=np.int64),
        "actions": np.array(draw(st.lists(st.integers(0, n_actions - 1), min_size=size, max_size=size)), dtype=np.int64),
        "rewards": draw(_ints(size)),
    }
    if off_policy:  # beta(a_t|s_t) in eighths, never 0: the action was taken
        eighths = draw(st.lists(st.integers(1, 8), min_size=size, max_size=size))
        arguments["behaviour_probabilities"] = np.array(eighths, dtype=np.float64) / 8.0
    arguments["gamma"] = draw(st.sampled_from(GAMMAS))
    if not off_policy:
        arguments["baseline"] = draw(st.one_of(st.just(np.zeros(n_states)), _ints(n_states)))
    return Case("generated", arguments)


# ------------------------------------------------------- trajectory probability

def _judge_trajectory_probability(case, call, tolerance):
    expected = np.array(float(trajectories.trajectory_probability_exact(**case.arguments)))
    return compare(expected, call(case.arguments, ()), tolerance)


@st.composite
def _trajectory_probability_cases(draw) -> Case:
    mdp = draw(strategies.mdps(max_states=3, max_actions=3))
    policy = draw(strategies.policies(mdp.n_states, mdp.n_actions))
    size = draw(st.integers(1, 4))
    feasible = draw(st.booleans())
    states, actions = [], []

    def pick(weights, feasible):
        support = np.flatnonzero(weights > 0) if feasible else np.arange(weights.size)
        return int(draw(st.sampled_from(support.tolist())))

    states.append(pick(mdp.initial_distribution, feasible))
    for _ in range(size):
        actions.append(pick(policy[states[-1]], feasible))
        states.append(pick(mdp.transitions[states[-1], actions[-1]], feasible))
    return Case("generated", {"initial_distribution": np.array(mdp.initial_distribution),
                              "transitions": np.array(mdp.transitions), "policy": policy,
                              "states": np.array(states), "actions": np.array(actions)})


def _trajectory_probability_edge_cases() -> list[Case]:
    transitions = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.0, 1.0]]])
    policy = np.array([[0.75, 0.25], [1.0, 0.0]])
    base = {"initial_distribution": np.array([0.5, 0.5]), "transitions": transitions,
            "policy": policy}
    return [
        Case("the worked example: 1/2 * 1/4 * 1/2", {**base, "states": np.array([0, 1]),
                                                      "actions": np.array([1])}),
        Case("two steps", {**base, "states": np.array([0, 1, 1]), "actions": np.array([1, 0])}),
        Case("an impossible step has probability 0", {**base, "states": np.array([0, 0, 1]),
                                                      "actions": np.array([0, 1])}),
    ]


# -------------------------------------------------------------------- REINFORCE

def _judge_reinforce(case, call, tolerance):
    expected = pg_estimators.reinforce_gradient_autograd(**case.arguments)
    return compare(expected, call(case.arguments, expected.shape), tolerance)


def _reinforce_edge_cases() -> list[Case]:
    one_state = {"theta": np.zeros((1, 2)), "states": np.array([0, 0]),
                 "actions": np.array([0, 1]), "rewards": np.array([1.0, 2.0])}
    return [
        Case("the worked example (gamma = 1/2)", {**one_state, "gamma": 0.5, "baseline": np.zeros(1)}),
        Case("gamma = 0: only the immediate reward counts",
             {**one_state, "gamma": 0.0, "baseline": np.zeros(1)}),
        Case("a baseline of 1", {**one_state, "gamma": 0.5, "baseline": np.ones(1)}),
        Case("two states, three steps",
             {"theta": np.array([[0.5, -0.5], [0.0, 1.0]]), "states": np.array([0, 1, 0]),
              "actions": np.array([1, 1, 0]), "rewards": np.array([0.0, 1.0, 3.0]),
              "gamma": 0.5, "baseline": np.array([1.0, -1.0])}),
        *_overflow_trajectory_cases({"baseline": np.zeros(2)}),
    ]


def _overflow_trajectory_cases(extra: dict) -> list[Case]:
    """Logits with a spread of 800: a softmax without the max shift overflows to NaN, one
    shifted by the min overflows too, and the second state (logits 0, 0) catches a shift by
    another state's max (e^-800 underflows to 0 there and log pi is -inf)."""
    steps = {"states": np.array([0, 1, 0]), "actions": np.array([0, 1, 1]),
             "rewards": np.array([1.0, 2.0, -1.0]), "gamma": 0.5}
    return [
        Case("logits [800, 0] and [0, 0]: a softmax without the max shift, or shifted by the "
             "min or by another state's max, overflows",
             {"theta": np.array([[800.0, 0.0], [0.0, 0.0]]), **steps, **extra}),
        Case("logits [-800, 0] and [0, 0]: the same spread in the other direction",
             {"theta": np.array([[-800.0, 0.0], [0.0, 0.0]]), **steps, **extra}),
    ]


# ------------------------------------------------------------ the six forms of psi_t

def _judge_psi_weights(case, call, tolerance):
    a = case.arguments
    expected = _to_float(pg_estimators.psi_weights_exact(**a))
    got = call(a, expected.shape)
    found = compare(expected, got, tolerance)
    if found is None or a["form"] == "total-return":
        return found
    step_discount = np.asarray(a["gamma"]) ** np.arange(expected.size)
    if compare(expected, step_discount * np.asarray(got, dtype=np.float64), tolerance) is None:
        return found.with_hint(" (your weights lack the step's own discount gamma^t: that is "
                               "the notes' psi_t, unbiased only at gamma = 1; see pg.psi-forms, "
                               "erratum)")
    return found


def _psi_case(mdp, policy, states, actions, form, label, gamma=None,
              values_after_end=None) -> Case:
    """One trajectory's case with the exact time-indexed values of ``policy`` on ``mdp``
    (horizon T = len(states); ``gamma`` overrides the MDP's: on a finite horizon any gamma
    in [0, 1] is valid); ``values_after_end`` replaces the row values[T] (0 there), which
    every form must ignore."""
    horizon, gamma = len(states), mdp.gamma if gamma is None else gamma
    values, action_values = pg_estimators.finite_horizon_values_exact(
        mdp.transitions, mdp.rewards, gamma, policy, horizon)
    values = _to_float(values)
    if values_after_end is not None:
        values[horizon] = values_after_end
    states, actions = np.array(states, dtype=np.int64), np.array(actions, dtype=np.int64)
    return Case(label, {"form": form, "rewards": np.asarray(mdp.rewards)[states, actions],
                        "gamma": float(gamma), "states": states, "actions": actions,
                        "values": values, "action_values": _to_float(action_values),
                        "baseline": np.linspace(-1.0, 1.0, mdp.n_states)})


@st.composite
def _psi_cases(draw) -> Case:
    """A trajectory of a generated MDP under a positive policy, every step possible."""
    mdp = draw(strategies.mdps(max_states=3, max_actions=2, episodic=draw(st.booleans())))
    policy = draw(_positive_policies(mdp.n_states, mdp.n_actions))
    horizon = draw(st.integers(1, 4))
    states = [draw(st.sampled_from(np.flatnonzero(mdp.initial_distribution).tolist()))]
    actions = []
    for t in range(horizon):
        actions.append(draw(st.integers(0, mdp.n_actions - 1)))
        if t + 1 < horizon:
            following = np.flatnonzero(mdp.transitions[states[-1], actions[-1]])
            states.append(draw(st.sampled_from(following.tolist())))
    return _psi_case(mdp, policy, states, actions, draw(st.sampled_from(pg_estimators.PSI_FORMS)),
                     "generated", gamma=draw(st.sampled_from(GAMMAS)))


def _psi_edge_cases() -> list[Case]:
    from rlspec.toy_mdps.catalogue import make

    mdp, uniform = make("two-state", gamma=0.5), np.full((2, 2), 0.5)
    cases = []
    for form in pg_estimators.PSI_FORMS:
        cases += [
            _psi_case(mdp, uniform, [0, 1], [1, 0], form,
                      f"{form}: the worked example (two-state, H = 2, gamma = 1/2)"),
            _psi_case(mdp, uniform, [0], [1], form, f"{form}: one step (T = 1)"),
            _psi_case(mdp, uniform, [0, 1, 1], [1, 0, 1], form,
                      f"{form}: gamma = 0, three steps", gamma=0.0),
            _psi_case(mdp, uniform, [0, 1, 1], [1, 0, 1], form,
                      f"{form}: gamma = 1, three steps: the notes' psi_t", gamma=1.0),
            _psi_case(mdp, uniform, [0, 1, 0], [1, 1, 0], form,
                      f"{form}: the trajectory ends after step T-1 (V_T = 0): values[T] "
                      "holds 4 and 8, which no form may bootstrap on",
                      values_after_end=np.array([4.0, 8.0])),
        ]
    return cases


def _psi_toy_cases() -> list[Case]:
    """The uniform policy's exact values on the 5-state random walk (episodic: the walk can
    terminate inside the horizon) over a horizon of 4 steps, one trajectory per form."""
    from rlspec.toy_mdps.catalogue import make

    mdp = make("random-walk-5", gamma=0.9)
    policy = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    generator = np.random.default_rng(12)
    state = int(np.argmax(mdp.initial_distribution))
    states, actions = [], []
    for _ in range(4):
        action = int(generator.integers(mdp.n_actions))
        states.append(state)
        actions.append(action)
        state = int(generator.choice(mdp.n_states, p=mdp.transitions[state, action]))
    return [_psi_case(mdp, policy, states, actions, form, f"random-walk-5, H = 4, {form}")
            for form in pg_estimators.PSI_FORMS]


# ----------------------------------------------------------- softmax log-gradient

def _judge_softmax_log_gradient(case, call, tolerance):
    expected = pg_estimators.softmax_log_gradient_autograd(**case.arguments)
    return compare(expected, call(case.arguments, expected.shape), tolerance)


@st.composite
def _linear_softmax_cases(draw) -> Case:
    n_actions, size = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    features = draw(_ints(n_actions * size, -2, 2)).reshape(n_actions, size)
    weights = draw(_ints(size, -4, 4)) / 2.0
    return Case("generated", {"features": features, "weights": weights,
                              "action": draw(st.integers(0, n_actions - 1))})


def _softmax_edge_cases() -> list[Case]:
    return [
        Case("tabular, uniform", {"features": np.eye(2), "weights": np.zeros(2), "action": 0}),
        Case("shared features", {"features": np.array([[1.0, 2.0], [1.0, 0.0], [0.0, 1.0]]),
                                 "weights": np.array([0.5, -1.0]), "action": 2}),
        Case("one action: the gradient is 0", {"features": np.array([[3.0, -1.0]]),
                                               "weights": np.array([1.0, 1.0]), "action": 0}),
        Case("scores [800, 0]: a softmax without the max shift, or shifted by the min, overflows",
             {"features": np.array([[1.0], [0.0]]), "weights": np.array([800.0]), "action": 1}),
        Case("scores [-800, 0]: the same spread in the other direction",
             {"features": np.array([[1.0], [0.0]]), "weights": np.array([-800.0]), "action": 0}),
    ]


# ------------------------------------------------------- the optimal baseline

def _judge_optimal_baseline(case, call, tolerance):
    a = case.arguments
    exact = pg_estimators.variance_minimising_baseline_exact(**a)
    got = call(a, (a["scores"].shape[1],))
    free = np.array([b is None for b in exact])
    expected = np.array([got[j] if free[j] else float(b) for j, b in enumerate(exact)])
    found = compare(expected, got, tolerance)
    if found is not None and free.any():
        found = Mismatch(found.message + f" (coordinates {np.flatnonzero(free).tolist()} have "
                         "E[g_j^2] = 0, where any baseline is optimal; they show your value)",
                         found.expected, found.got, found.tolerance)
    return found


def _bandit_baseline_case(policy_eighths, rewards, label="generated") -> Case:
    policy = np.array(policy_eighths, dtype=np.float64) / 8.0
    scores = np.eye(policy.size) - policy  # row a: grad log pi(a) = e_a - pi
    return Case(label, {"scores": scores, "returns": np.array(rewards, dtype=np.float64),
                        "probabilities": policy})


def _trajectory_baseline_case(mdp, policy, horizon, label="generated") -> Case:
    found = trajectories.enumerate_trajectories(mdp.transitions, mdp.rewards, policy,
                                                mdp.initial_distribution, horizon)
    n_states, n_actions = policy.shape
    scores, returns, probabilities = [], [], []
    g = Fraction(mdp.gamma)
    for tau in found:
        score = pg_estimators.score_function_gradient_exact(policy, tau.states, tau.actions,
                                                            [Fraction(1)] * horizon)
        scores.append(_to_float(score).reshape(-1))
        returns.append(float(sum(g ** t * r for t, r in enumerate(tau.rewards))))
        probabilities.append(tau.probability)
    probabilities = np.array([float(p) for p in probabilities])
    # The probabilities are products of eighths: exact in binary, and they sum to exactly 1.
    return Case(label, {"scores": np.array(scores), "returns": np.array(returns),
                        "probabilities": probabilities})


@st.composite
def _optimal_baseline_cases(draw) -> Case:
    if draw(st.booleans()):
        n_actions = draw(st.integers(2, 4))
        counts = draw(strategies.probability_vectors(n_actions, denominator=8 - n_actions))
        eighths = np.round(counts * (8 - n_actions)).astype(int) + 1
        return _bandit_baseline_case(eighths, draw(_ints(n_actions)))
    mdp = draw(strategies.mdps(max_states=2, max_actions=2, episodic=draw(st.booleans())))
    policy = draw(_positive_policies(mdp.n_states, mdp.n_actions))
    return _trajectory_baseline_case(mdp, policy, draw(st.integers(1, 2)))


@st.composite
def _positive_policies(draw, n_states: int, n_actions: int) -> np.ndarray:
    """Rows of eighths with every action at least 1/8, so a softmax can represent them."""
    rows = []
    for _ in range(n_states):
        counts = draw(strategies.probability_vectors(n_actions, denominator=8 - n_actions))
        rows.append((np.round(counts * (8 - n_actions)) + 1) / 8.0)
    return np.array(rows)


def _optimal_baseline_edge_cases() -> list[Case]:
    from rlspec.toy_mdps.catalogue import make

    two_state = make("two-state", gamma=0.5)
    return [
        _bandit_baseline_case([4, 4], [1.0, 3.0], "the worked example: two arms, pi = (1/2, 1/2)"),
        _bandit_baseline_case([6, 2], [1.0, 3.0], "two arms, pi = (3/4, 1/4)"),
        _trajectory_baseline_case(two_state, np.array([[0.5, 0.5], [0.75, 0.25]]), 2,
                                  "two-state, horizon 2, every trajectory enumerated"),
    ]


# ------------------------------------------------------------------- off-policy

def _judge_off_policy(case, call, tolerance):
    expected = pg_estimators.off_policy_gradient_autograd(**case.arguments)
    return compare(expected, call(case.arguments, expected.shape), tolerance)


def _off_policy_edge_cases() -> list[Case]:
    base = {"theta": np.zeros((1, 2)), "states": np.array([0, 0]), "actions": np.array([1, 0]),
            "rewards": np.array([1.0, 2.0]), "gamma": 0.5}
    return [
        Case("the worked example: one step, rho = 2",
             {"theta": np.zeros((1, 2)), "states": np.array([0]), "actions": np.array([1]),
              "rewards": np.array([1.0]), "behaviour_probabilities": np.array([0.25]),
              "gamma": 0.5}),
        Case("on-policy: every ratio is 1", {**base, "behaviour_probabilities": np.array([0.5, 0.5])}),
        Case("two steps, ratios 2 and 2/3", {**base, "behaviour_probabilities": np.array([0.25, 0.75])}),
        *_overflow_trajectory_cases({"behaviour_probabilities": np.array([0.5, 0.5, 0.5])}),
    ]


# ------------------------------------------------------------------ critic loss

def _critic_loss_hint(expected, got) -> str:
    a_ratio = float(got) / float(expected) if float(expected) else None
    if a_ratio == 2.0:
        return " (exactly twice: a mean squared error without the 1/2?)"
    return ""


def _judge_critic_td_loss(case, call, tolerance):
    a = case.arguments
    got = call.loss(a, differentiate=("values",), frozen={
        "next_values": "the TD target r + gamma V(s') is held constant (detach it): a TD loss "
                       "takes the semi-gradient"})
    expected = float(actor_critic.critic_td_loss_exact(**a))
    exact_values, _ = actor_critic.critic_semi_gradient_exact(**a)
    found = judge_loss(got, expected, {"values": exact_gradient(_to_float(exact_values))},
                       tolerance, _critic_loss_hint)
    if found and a["values"].size > 1 and expected and \
            float(got.value) == a["values"].size * expected:
        return found.with_hint(" (B times: a sum over the batch instead of the mean?)")
    return found


@st.composite
def _critic_cases(draw) -> Case:
    size = draw(st.integers(1, 4))
    return Case("generated", {
        "values": draw(_ints(size)), "next_values": draw(_ints(size)), "rewards": draw(_ints(size)),
        "terminated": np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size)), dtype=bool),
        "gamma": draw(st.sampled_from(GAMMAS))})


def _critic_edge_cases() -> list[Case]:
    return [
        Case("the worked example", {"values": np.array([1.0]), "next_values": np.array([2.0]),
                                    "rewards": np.array([1.0]), "terminated": np.array([False]),
                                    "gamma": 0.5}),
        Case("a terminal transition ignores V(s')",
             {"values": np.array([1.0, 0.0]), "next_values": np.array([2.0, 4.0]),
              "rewards": np.array([1.0, 1.0]), "terminated": np.array([False, True]),
              "gamma": 0.5}),
    ]


# ---------------------------------------------------------------- A3C n-step

def _judge_n_step(case, call, tolerance):
    expected = _to_float(gae_oracle.n_step_advantages_exact(**case.arguments))
    return compare(expected, call(case.arguments, expected.shape), tolerance)


@st.composite
def _n_step_cases(draw) -> Case:
    size = draw(st.integers(1, 5))
    return Case("generated", {"rewards": draw(_ints(size)), "values": draw(_ints(size)),
                              "bootstrap_value": float(draw(st.integers(-4, 4))),
                              "terminal": draw(st.booleans()), "gamma": draw(st.sampled_from(GAMMAS))})


def _n_step_edge_cases() -> list[Case]:
    base = {"rewards": np.array([1.0, 1.0]), "values": np.array([0.0, 0.0]), "bootstrap_value": 4.0}
    return [
        Case("the worked example: bootstrap from V(s_T) = 4", {**base, "terminal": False, "gamma": 0.5}),
        Case("terminal s_T: R = 0, whatever V(s_T) says", {**base, "terminal": True, "gamma": 0.5}),
        Case("one step", {"rewards": np.array([2.0]), "values": np.array([1.0]),
                          "bootstrap_value": 2.0, "terminal": False, "gamma": 0.5}),
    ]


# ------------------------------------------------------------------------- GAE

def _segment_case(rewards, values, next_values, terminated, truncated, gamma, lam, label) -> Case:
    return Case(label, {"rewards": np.array(rewards, dtype=np.float64),
                        "values": np.array(values, dtype=np.float64),
                        "next_values": np.array(next_values, dtype=np.float64),
                        "terminated": np.array(terminated, dtype=bool),
                        "truncated": np.array(truncated, dtype=bool),
                        "gamma": float(gamma), "lam": float(lam)})


STEP_KINDS = ("continue", "terminated", "truncated", "both")


@st.composite
def _segments(draw, truncation: bool = True) -> Case:
    """A segment of a real rollout: next_values[t] = values[t+1] unless step t is done or
    last; on done steps next_values[t] is the final observation's value (arbitrary, and
    ignored on termination, so a candidate that reads it there is caught)."""
    size = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(STEP_KINDS if truncation else STEP_KINDS[:2]),
                          min_size=size, max_size=size))
    rewards, values, extra = draw(_ints(size)), draw(_ints(size)), draw(_ints(size))
    next_values = np.array([values[t + 1] if kinds[t] == "continue" and t + 1 < size else extra[t]
                            for t in range(size)])
    return _segment_case(rewards, values, next_values,
                         [k in ("terminated", "both") for k in kinds],
                         [k in ("truncated", "both") for k in kinds],
                         draw(st.sampled_from(GAMMAS)), draw(st.sampled_from(LAMBDAS)), "generated")


def _gae_edge_cases(truncation: bool = True) -> list[Case]:
    no = [False, False, False]
    cases = [
        _segment_case([1, 0, 2], [1, 2, 4], [2, 4, 8], no, [False, True, False] if truncation else no,
                      0.5, 0.5, "the worked example" + (": truncated at step 1" if truncation else "")),
        _segment_case([1], [0], [4], [False], [False], 0.5, 0.5, "one step: bootstrap at the segment end"),
        _segment_case([1, 1, 1], [1, 2, 3], [2, 3, 4], [False, True, False], no, 0.5, 0.5,
                      "terminated at step 1: V after it is ignored, the carry is cut"),
        _segment_case([1, 1, 1], [1, 2, 3], [2, 3, 4], no, no, 1.0, 1.0,
                      "lambda = gamma = 1: return to the end, bootstrapped, minus V"),
        _segment_case([1, 2, 3], [1, 1, 1], [1, 1, 5], no, no, 0.5, 0.0, "lambda = 0: the TD residual"),
        _segment_case([0, 0, 1], [0, 0, 0], [0, 0, 8], [False, False, True], no, 1.0, 1.0,
                      "an episode that terminates at the end: nothing is bootstrapped"),
    ]
    if truncation:
        cases += [
            _segment_case([1, 1, 1], [1, 2, 3], [2, 6, 4], no, [False, True, False], 0.5, 1.0,
                          "truncated at step 1: bootstrap from V(final observation) = 6, not V(s_2)"),
            _segment_case([1, 1], [1, 2], [2, 7], [False, False], [False, True], 0.5, 0.5,
                          "truncated at the segment's end"),
            _segment_case([1, 1], [1, 2], [2, 7], [False, True], [False, True], 0.5, 0.5,
                          "terminated and truncated together: termination wins"),
        ]
    return cases


def _gae_toy_cases(truncation: bool = True) -> list[Case]:
    """Rollouts of the uniform policy on the 5-state random walk (gamma 0.9, exact V^pi as
    the critic), in one segment of 16 steps, with a time limit of 3 steps when truncation
    is allowed: several episodes per segment, terminations and truncations both."""
    from rlspec.oracles.dynamic_programming import evaluate_policy
    from rlspec.toy_mdps.catalogue import make

    mdp = make("random-walk-5", gamma=0.9)
    policy = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
    v = evaluate_policy(mdp.transitions, mdp.rewards, mdp.gamma, policy)
    generator = np.random.default_rng(4)
    cases = []
    for lam in (0.95, 1.0):
        start = int(np.argmax(mdp.initial_distribution))
        state, age, columns = start, 0, {k: [] for k in ("r", "v", "nv", "term", "trunc")}
        for _ in range(16):
            following = int(generator.choice(mdp.n_states, p=mdp.transitions[state, 0]))
            age += 1
            terminated = bool(mdp.terminal_states[following])
            truncated = truncation and age >= 3 and not terminated
            for key, value in zip(columns, (mdp.rewards[state, 0], v[state], v[following],
                                            terminated, truncated)):
                columns[key].append(value)
            state = start if terminated or truncated else following
            age = 0 if terminated or truncated else age
        cases.append(_segment_case(columns["r"], columns["v"], columns["nv"], columns["term"],
                                   columns["trunc"], mdp.gamma, lam,
                                   f"random-walk-5 rollout, lambda = {lam}"
                                   + (", time limit 3" if truncation else "")))
    return cases


#: Common mistakes, each the exact GAE of the case with its flags rewritten; a candidate that
#: matches one of them gets the diagnosis in its report.
_DIAGNOSES = (
    ("treats truncation as termination: a truncated step must bootstrap from next_values[t] "
     "(with a done-only convention use `rlspec check gae-no-truncation`, or fold gamma * "
     "V(final observation) into the reward: truncation='bootstrap-in-reward')",
     lambda term, trunc: (term | trunc, trunc)),
    ("carries the advantage across a truncation into the next episode: a truncated step "
     "must cut the recursion too", lambda term, trunc: (term, np.zeros_like(trunc))),
    ("bootstraps through a termination: a terminated step has no next value",
     lambda term, trunc: (np.zeros_like(term), term | trunc)),
)


def _segment_answer(case, call, shape) -> np.ndarray:
    """The candidate's answer; a pair (advantages, returns), which many implementations
    return, gets a report that says how to pass one of them."""
    try:
        return call(case.arguments, shape)
    except CandidateFailure as failure:
        if failure.kind == "type" and " of 2 items " in failure.message:
            raise CandidateFailure("type", "returned a pair (advantages and returns?); this "
                                           "check wants one array of length T: pass `lambda "
                                           "**a: f(**a)[0]` (or [1] for rlspec check "
                                           "gae-returns)") from None
        raise


def _judge_gae(case, call, tolerance):
    expected = _to_float(gae_oracle.gae_exact(**case.arguments))
    got = _segment_answer(case, call, expected.shape)
    found = compare(expected, got, tolerance)
    if found is None:
        return None
    a = case.arguments
    for diagnosis, rewrite in _DIAGNOSES:
        terminated, truncated = rewrite(a["terminated"], a["truncated"])
        variant = _to_float(gae_oracle.gae_exact(**{**a, "terminated": terminated,
                                                     "truncated": truncated}))
        if compare(variant, expected, 0.0) is not None and compare(variant, got, tolerance) is None:
            return Mismatch(f"{found.message}; the answer {diagnosis}", found.expected,
                            found.got, found.tolerance)
    return found


def _judge_gae_returns(case, call, tolerance):
    expected = _to_float(gae_oracle.lambda_returns_exact(**case.arguments))
    return compare(expected, _segment_answer(case, call, expected.shape), tolerance)


# ------------------------------------------------------------------- registry

TRAJECTORY = "theta[s, a] float64 (tabular softmax logits), states[T] int, actions[T] int, rewards[T] float64"
SEGMENT = ("rewards[T], values[T], next_values[T] float64, terminated[T], truncated[T] bool, "
           "gamma in [0, 1], lam in [0, 1]; time-major, one environment")

register(
    name="trajectory-probability", spec_id="pg.trajectory-probability",
    summary="p(tau) = p(s_0) prod_t pi(a_t|s_t) p(s_{t+1}|s_t, a_t) for one trajectory",
    signature="candidate(initial_distribution[s], transitions[s, a, s'], policy[s, a], states[T+1], actions[T]) -> float",
    judge=_judge_trajectory_probability, make_generated=_trajectory_probability_cases,
    make_edge_cases=_trajectory_probability_edge_cases,
)
register(
    name="reinforce-gradient", spec_id="pg.reinforce",
    summary="one trajectory's REINFORCE estimate sum_t gamma^t (G_t - b(s_t)) grad log pi(a_t|s_t)",
    signature=f"candidate(theta, states, actions, rewards, gamma, baseline[s]) -> gradient[s, a]; {TRAJECTORY}",
    judge=_judge_reinforce, make_generated=lambda: _trajectory_cases(),
    make_edge_cases=_reinforce_edge_cases,
)
register(
    name="psi-weights", spec_id="pg.psi-forms",
    summary="the weights w_t of the six forms of psi_t for one trajectory, with gamma^t on forms 2-6",
    signature=("candidate(form, rewards[T], gamma, states[T], actions[T], values[T+1, S], "
               "action_values[T, S, A], baseline[S]) -> weights[T]; form is one of "
               f"{', '.join(pg_estimators.PSI_FORMS)}; values[t, s] = V_t(s) and "
               "action_values[t, s, a] = Q_t(s, a) are the exact time-indexed values of the "
               "horizon H = T; the trajectory ends after step T-1, so V_T = 0 whatever "
               "values[T] holds"),
    judge=_judge_psi_weights, make_generated=_psi_cases,
    make_edge_cases=_psi_edge_cases, make_toy_cases=_psi_toy_cases,
)
register(
    name="softmax-log-gradient", spec_id="pg.softmax-score-function",
    summary="grad_w log pi(a|s) for pi = softmax(phi(s, .) w)",
    signature="candidate(features[a, d], weights[d], action int) -> gradient[d]",
    judge=_judge_softmax_log_gradient, make_generated=_linear_softmax_cases,
    make_edge_cases=_softmax_edge_cases,
)
register(
    name="optimal-baseline", spec_id="pg.variance-minimising-baseline",
    summary="b_j = E[g_j^2 R] / E[g_j^2], the constant baseline of least variance",
    signature="candidate(scores[n, d], returns[n], probabilities[n]) -> baseline[d]; outcome i has probability p_i, score g_i, return R_i",
    judge=_judge_optimal_baseline, make_generated=_optimal_baseline_cases,
    make_edge_cases=_optimal_baseline_edge_cases,
)
register(
    name="off-policy-reinforce-gradient", spec_id="pg.off-policy-gradient",
    summary="the per-decision importance-sampling estimate of grad J(pi_theta) from a behaviour trajectory",
    signature=f"candidate(theta, states, actions, rewards, behaviour_probabilities[T], gamma) -> gradient[s, a]; {TRAJECTORY}",
    judge=_judge_off_policy, make_generated=lambda: _trajectory_cases(off_policy=True),
    make_edge_cases=_off_policy_edge_cases,
)
register(
    name="critic-td-loss", spec_id="ac.critic-td-loss",
    summary="mean 1/2 (r + gamma (1 - d) V(s') - V(s))^2 with the target held constant",
    signature="candidate(values[B], next_values[B], rewards[B], terminated[B], gamma) -> loss; torch float64 "
              "tensors in (values and next_values require grad), a scalar tensor out",
    judge=_judge_critic_td_loss, make_generated=_critic_cases,
    make_edge_cases=_critic_edge_cases,
)
register(
    name="n-step-advantage", spec_id="ac.n-step-advantage",
    summary="A3C: R = 0 or V(s_T), then R = r_i + gamma R and A_i = R - V(s_i) backwards",
    signature="candidate(rewards[T], values[T], bootstrap_value float, terminal bool, gamma) -> advantages[T]",
    judge=_judge_n_step, make_generated=_n_step_cases,
    make_edge_cases=_n_step_edge_cases,
)
register(
    name="gae", spec_id="gae.advantage",
    summary="GAE advantages with termination, truncation and several episodes per segment",
    signature=f"candidate(rewards, values, next_values, terminated, truncated, gamma, lam) -> advantages[T]; {SEGMENT}",
    judge=_judge_gae, make_generated=lambda: _segments(),
    make_edge_cases=_gae_edge_cases, make_toy_cases=_gae_toy_cases,
)
register(
    name="gae-no-truncation", spec_id="gae.advantage",
    summary="GAE on segments without truncated steps, for conventions with one done flag",
    signature=f"candidate(rewards, values, next_values, terminated, truncated, gamma, lam) -> advantages[T]; {SEGMENT}; truncated is all False",
    judge=_judge_gae, make_generated=lambda: _segments(truncation=False),
    make_edge_cases=lambda: _gae_edge_cases(truncation=False),
    make_toy_cases=lambda: _gae_toy_cases(truncation=False),
)
register(
    name="gae-returns", spec_id="gae.lambda-return",
    summary="the lambda-returns (critic targets) advantages + values",
    signature=f"candidate(rewards, values, next_values, terminated, truncated, gamma, lam) -> returns[T]; {SEGMENT}",
    judge=_judge_gae_returns, make_generated=lambda: _segments(),
    make_edge_cases=_gae_edge_cases, make_toy_cases=_gae_toy_cases,
)
