"""The batteries of the MDP chapter (issue 2): canonical signatures, cases and judges.

Each battery judges a candidate against an oracle from ``rlspec.oracles`` (never against
``rlspec.reference``).  Arrays follow the spec's conventions: ``transitions[s, a, s_next]``,
``rewards[s, a]`` (expected reward), ``policy[s, a] = pi(a|s)``, float64 throughout.
Terminal states are absorbing with reward 0, so an episodic MDP needs no extra argument.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from rlspec.checks.batteries import LargeCases, register
from rlspec.checks.core import CandidateFailure, Case, Mismatch, compare
from rlspec.oracles import bellman, certified, occupancy, policies
from rlspec.oracles.methods import enumeration, exact_rational, linear_program
from rlspec.oracles import dynamic_programming, policy_gradient
from rlspec.oracles.dynamic_programming import NonTerminatingPolicyError
from rlspec.oracles.methods.conversions import to_fractions
from rlspec.toy_mdps import large, strategies
from rlspec.toy_mdps.mdp import TabularMDP

# --------------------------------------------------------------------------- cases

def _mdp_arguments(mdp: TabularMDP) -> dict:
    return {"transitions": np.array(mdp.transitions), "rewards": np.array(mdp.rewards),
            "gamma": mdp.gamma}


def _uniform(mdp: TabularMDP) -> np.ndarray:
    return np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)


def _tiny_mdps() -> list[TabularMDP]:
    """Edge cases worked out by hand in the spec entries: a single self-loop (V = r / (1 -
    gamma)), gamma = 0 (V = r_pi), an episodic chain with gamma = 1, two actions that tie."""
    stay = np.ones((1, 1, 1))
    to_terminal = np.array([[[0.0, 1.0]], [[0.0, 1.0]]])
    two_actions = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])
    return [
        TabularMDP(stay, [[1.0]], 0.5, name="self-loop, r = 1, gamma = 1/2"),
        TabularMDP(two_actions, [[1.0, 2.0], [0.0, 0.0]], 0.0, name="gamma = 0"),
        TabularMDP(to_terminal, [[-1.0], [0.0]], 1.0, terminal_states=[1],
                   name="one step to a terminal state, gamma = 1"),
        TabularMDP(two_actions, [[1.0, 1.0], [2.0, 2.0]], 0.5, name="tied actions"),
    ]


#: Small named MDPs, smallest first: every battery runs its candidate on these after the
#: generated cases.  frozenlake-8x8 and taxi stay out: a plain-loop candidate would take
#: minutes on them, and they add no case the small ones lack.
TOY_NAMES = ("two-state", "bandit-10", "chain-5", "random-walk-5", "sb-gridworld-4x4",
             "random-walk-19", "frozenlake-4x4", "sb-gridworld-5x5")


def _toy_mdps(discounted_only: bool = False, names=TOY_NAMES) -> list[TabularMDP]:
    from rlspec.toy_mdps.catalogue import make

    mdps = [make(name) for name in names]
    return [mdp for mdp in mdps if mdp.gamma < 1.0 or not discounted_only]


def _lopsided(mdp: TabularMDP) -> np.ndarray:
    """3/4 on action 0 and the rest spread evenly: unlike the uniform policy, it tells
    apart code that ignores the policy (exact in binary for up to 2 actions)."""
    if mdp.n_actions == 1:
        return np.ones((mdp.n_states, 1))
    row = np.full(mdp.n_actions, 0.25 / (mdp.n_actions - 1))
    row[0] = 0.75
    return np.tile(row, (mdp.n_states, 1))


def _policy_cases(mdps, policy=_uniform) -> list[Case]:
    return [Case(mdp.name, {**_mdp_arguments(mdp), "policy": policy(mdp)}, {"mdp": mdp})
            for mdp in mdps]


@st.composite
def _mdp_cases(draw, episodic: bool | None = None) -> TabularMDP:
    """Generated MDPs: continuing with gamma < 1, or episodic (gamma may be 1)."""
    flag = draw(st.booleans()) if episodic is None else episodic
    return draw(strategies.mdps(episodic=flag))


@st.composite
def _mdp_policy_cases(draw, episodic: bool | None = None, kind=None) -> Case:
    mdp = draw(_mdp_cases(episodic))
    kind = kind or draw(st.sampled_from(["stochastic", "deterministic"]))
    policy = draw(strategies.policies(mdp.n_states, mdp.n_actions, kind=kind))
    return Case("generated", {**_mdp_arguments(mdp), "policy": policy}, {"mdp": mdp})


def _state_vectors(size: int):
    return st.lists(st.integers(-8, 8), min_size=size, max_size=size).map(
        lambda values: np.array(values, dtype=np.float64))


# ----------------------------------------------------------------- exact helpers

def _to_float(array) -> np.ndarray:
    return np.vectorize(float, otypes=[np.float64])(array)


def _policy_answer(answer: np.ndarray, n_states: int, n_actions: int, tolerance: float):
    """Accept a policy as probabilities [s, a] or as one action index per state."""
    if answer.shape == (n_states,):
        if not np.all((answer == np.round(answer)) & (answer >= 0) & (answer < n_actions)):
            raise CandidateFailure("type", f"returned action indices outside range({n_actions})",
                                   answer)
        return np.eye(n_actions)[answer.astype(int)]
    if answer.shape != (n_states, n_actions):
        raise CandidateFailure(
            "shape", f"returned shape {answer.shape}, expected ({n_states}, {n_actions}) "
                     f"probabilities or ({n_states},) actions", answer)
    if (answer < -tolerance).any() or np.any(np.abs(answer.sum(axis=1) - 1.0) > tolerance):
        raise CandidateFailure("type", "returned a policy whose rows are not distributions",
                               answer)
    return answer


# --------------------------------------------------------------------- judges

def _judge_discounted_return(case, call, tolerance):
    expected = _to_float(np.array(exact_rational.discounted_returns_exact(**case.arguments),
                                  dtype=object))
    return compare(expected, call(case.arguments, expected.shape), tolerance)


def _judge_backup_v(case, call, tolerance):
    a = case.arguments
    q = bellman.one_step_lookahead_exact(a["transitions"], a["rewards"], a["gamma"], a["values"])
    policy = to_fractions(a["policy"])
    expected = _to_float((policy * q).sum(axis=1))
    found = compare(expected, call(a, expected.shape), tolerance)
    if found or a["gamma"] == 1.0:
        return found
    # The Bellman equation: V^pi is a fixed point of the backup.
    v_pi = dynamic_programming.evaluate_policy(a["transitions"], a["rewards"], a["gamma"], a["policy"])
    found = compare(v_pi, call({**a, "values": v_pi}, v_pi.shape), tolerance)
    return found and Mismatch("V^pi is not a fixed point: " + found.message,
                              found.expected, found.got, found.tolerance)


def _judge_backup_q(case, call, tolerance):
    a = case.arguments
    policy = to_fractions(a["policy"])
    next_values = (policy * to_fractions(a["action_values"])).sum(axis=1)
    q = exact_rational.action_values_exact(a["transitions"], a["rewards"], a["gamma"],
                                           list(next_values))
    expected = _to_float(q)
    return compare(expected, call(a, expected.shape), tolerance)


def _judge_optimality_backup(case, call, tolerance):
    a = case.arguments
    expected = _to_float(bellman.one_step_lookahead_exact(a["transitions"], a["rewards"], a["gamma"],
                                          a["values"]).max(axis=1))
    got = call(a, expected.shape)
    found = compare(expected, got, tolerance)
    if found:
        return found
    # Contraction: ||B U - B V|| <= gamma ||U - V|| in the sup norm.
    other = case.context["other_values"]
    got_other = call({**a, "values": other}, expected.shape)
    distance_after = float(np.max(np.abs(got - got_other)))
    bound = a["gamma"] * float(np.max(np.abs(a["values"] - other)))
    slack = tolerance * max(1.0, float(np.max(np.abs(expected))))
    if distance_after > bound + slack:
        return Mismatch(f"not a gamma-contraction: ||BU - BV|| = {distance_after:.6g} > "
                        f"gamma ||U - V|| = {bound:.6g} (U = values, V = {other.tolist()})",
                        bound, distance_after, slack)
    return None


def _judge_policy_evaluation(case, call, tolerance):
    a = case.arguments
    expected = dynamic_programming.evaluate_policy(**a)
    return compare(expected, call(a, expected.shape), tolerance)


def _optimal_values(arguments) -> np.ndarray:
    """Exact policy iteration in rationals for small MDPs, the LP beyond."""
    if arguments["rewards"].size <= 30:
        values, _ = exact_rational.optimal_values_exact(**arguments)
        return _to_float(np.array(values, dtype=object))
    return linear_program.optimal_values_lp(**arguments)


def _judge_optimal_values(case, call, tolerance):
    expected = _optimal_values(case.arguments)
    return compare(expected, call(case.arguments, expected.shape), tolerance)


def _judge_optimal_policy(case, call, tolerance):
    a = case.arguments
    n_states, n_actions = a["rewards"].shape
    policy = _policy_answer(call(a, None), n_states, n_actions, tolerance)
    expected = _optimal_values(a)
    try:
        achieved = dynamic_programming.evaluate_policy(a["transitions"], a["rewards"], a["gamma"], policy)
    except NonTerminatingPolicyError:
        return Mismatch("the returned policy never terminates from some states, so its "
                        "return is -infinity there", expected, policy)
    found = compare(expected, achieved, tolerance)
    return found and Mismatch("the returned policy is not optimal: its values "
                              + found.message, expected, achieved, found.tolerance)


def _judge_policy_improvement(case, call, tolerance):
    a = case.arguments
    n_states, n_actions = a["rewards"].shape
    policy = _policy_answer(call(a, None), n_states, n_actions, tolerance)
    q = _to_float(bellman.one_step_lookahead_exact(a["transitions"], a["rewards"], a["gamma"], a["values"]))
    best = q.max(axis=1)
    chosen = (policy * q).sum(axis=1)
    slack = tolerance * max(1.0, float(np.max(np.abs(q))))
    if np.any(chosen < best - slack):
        s = int(np.argmax(best - chosen))
        return Mismatch(f"not greedy in state {s}: the policy's expected Q is {chosen[s]:.6g} "
                        f"but max_a Q(s, a) = {best[s]:.6g}", best, chosen, slack)
    # The policy improvement theorem, when values = V^pi of the case's policy.
    old_policy = case.context.get("policy")
    if old_policy is None:
        return None
    old_values = a["values"]
    try:
        new_values = dynamic_programming.evaluate_policy(a["transitions"], a["rewards"], a["gamma"], policy)
    except NonTerminatingPolicyError:
        return Mismatch("the improved policy never terminates from some states (gamma = 1), "
                        "so it is worse than the old one there", old_values, policy)
    if np.any(new_values < old_values - slack):
        return Mismatch("the improved policy is worse than the old one in some state",
                        old_values, new_values, slack)
    return None


def _judge_epsilon_greedy(case, call, tolerance):
    q, epsilon = case.arguments["action_values"], case.arguments["epsilon"]
    got = call(case.arguments, q.shape)
    problems = policies.epsilon_greedy_violations(q, epsilon, got, tolerance)
    if not problems:
        return None
    one_answer = epsilon / q.shape[1] + (1.0 - epsilon) * np.eye(q.shape[1])[np.argmax(q, axis=1)]
    return Mismatch("; ".join(problems[:3]) + " (tied maximisers may split the greedy mass "
                    "any way; expected shows one valid answer)", one_answer, got, tolerance)


def _judge_state_occupancy(case, call, tolerance):
    expected = occupancy.state_occupancy(**case.arguments)
    return compare(expected, call(case.arguments, expected.shape), tolerance)


def _judge_state_action_occupancy(case, call, tolerance):
    expected = occupancy.state_action_occupancy(**case.arguments)
    return compare(expected, call(case.arguments, expected.shape), tolerance)


def _judge_policy_from_occupancy(case, call, tolerance):
    rho = case.arguments["occupancy"]
    got = _policy_answer(call(case.arguments, rho.shape), *rho.shape, tolerance)
    visited = rho.sum(axis=1) > 0
    expected = np.where(visited[:, None], case.context["policy"], got)
    return compare(expected, got, tolerance)


def _judge_performance_difference(case, call, tolerance):
    expected = np.asarray(policy_gradient.performance_difference(**case.arguments))
    return compare(expected, call(case.arguments, ()), tolerance)


def _judge_policy_gradient(case, call, tolerance):
    expected = policy_gradient.softmax_policy_gradient(**case.arguments)
    return compare(expected, call(case.arguments, expected.shape), tolerance)


def _judge_importance_sampling(case, call, tolerance):
    a = case.arguments
    exact = [Fraction(f) * Fraction(p) / Fraction(q) for f, p, q in
             zip(a["values"], a["target_probabilities"], a["behaviour_probabilities"])]
    expected = np.asarray(float(sum(exact, Fraction(0)) / len(exact)))
    found = compare(expected, call(a, ()), tolerance)
    if found:
        return found
    # Unbiasedness: averaged over every pair of samples from q, the estimate is E_p[f].
    values, target, behaviour = (case.context[k] for k in ("values", "target", "behaviour"))
    if np.any((behaviour == 0) & (target * values != 0)):
        return None  # q misses part of p's support: no estimator can be unbiased (erratum)

    def estimate(f, p, q):
        return float(call({"values": f, "target_probabilities": p,
                           "behaviour_probabilities": q}, ()))

    mean = enumeration.expected_estimate(estimate, values, target, behaviour, n_samples=2)
    truth = enumeration.expectation(values, target)
    return compare(np.asarray(truth), np.asarray(mean), tolerance) and Mismatch(
        f"biased: over all pairs of samples from q the estimate averages {mean:.6g}, "
        f"but E_p[f] = {truth:.6g}", truth, mean)


# ------------------------------------------------------------- generated cases

@st.composite
def _returns_cases(draw):
    rewards = draw(st.lists(st.integers(-4, 4), min_size=1, max_size=8))
    gamma = draw(st.sampled_from([0.5, 0.0, 1.0, 0.9, 0.25]))
    return Case("generated", {"rewards": np.array(rewards, dtype=np.float64), "gamma": gamma})


@st.composite
def _backup_cases(draw, with_policy=True, q_values=False):
    case = draw(_mdp_policy_cases())
    mdp = case.context["mdp"]
    size = mdp.n_states * mdp.n_actions if q_values else mdp.n_states
    values = draw(_state_vectors(size))
    arguments = dict(case.arguments)
    if not with_policy:
        del arguments["policy"]
    if q_values:
        arguments["action_values"] = values.reshape(mdp.n_states, mdp.n_actions)
    else:
        arguments["values"] = values
    return Case("generated", arguments, {"mdp": mdp, "other_values": draw(_state_vectors(mdp.n_states))})


@st.composite
def _optimal_cases(draw):
    mdp = draw(_mdp_cases())
    return Case("generated", _mdp_arguments(mdp), {"mdp": mdp})


@st.composite
def _improvement_cases(draw):
    case = draw(_mdp_policy_cases())
    a = case.arguments
    values = dynamic_programming.evaluate_policy(**a)
    arguments = {k: a[k] for k in ("transitions", "rewards", "gamma")}
    return Case("generated", {**arguments, "values": values},
                {"mdp": case.context["mdp"], "policy": a["policy"]})


@st.composite
def _epsilon_greedy_cases(draw):
    n_states, n_actions = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    q = draw(st.lists(st.integers(-2, 2), min_size=n_states * n_actions,
                      max_size=n_states * n_actions))
    epsilon = draw(st.sampled_from([0.5, 0.0, 1.0, 0.1, 0.25]))
    return Case("generated", {"action_values": np.array(q, dtype=np.float64).reshape(n_states, n_actions),
                              "epsilon": epsilon})


@st.composite
def _occupancy_cases(draw):
    case = draw(_mdp_policy_cases(episodic=False))
    mdp = case.context["mdp"]
    initial = draw(strategies.probability_vectors(mdp.n_states))
    a = case.arguments
    return Case("generated", {"transitions": a["transitions"], "gamma": a["gamma"],
                              "policy": a["policy"], "initial_distribution": initial},
                {"mdp": mdp})


@st.composite
def _policy_from_occupancy_cases(draw):
    case = draw(_occupancy_cases())
    rho = occupancy.state_action_occupancy(**case.arguments)
    # Unvisited states have rho = 0 up to rounding; make that exact.
    rho[rho.sum(axis=1) < 1e-12] = 0.0
    return Case("generated", {"occupancy": rho}, {"policy": case.arguments["policy"]})


@st.composite
def _performance_difference_cases(draw):
    case = draw(_mdp_policy_cases(episodic=False))
    mdp = case.context["mdp"]
    new_policy = draw(strategies.policies(mdp.n_states, mdp.n_actions, kind="stochastic"))
    initial = draw(strategies.probability_vectors(mdp.n_states))
    a = case.arguments
    return Case("generated", {**_mdp_arguments(mdp), "initial_distribution": initial,
                              "new_policy": new_policy, "old_policy": a["policy"]}, {"mdp": mdp})


@st.composite
def _policy_gradient_cases(draw):
    mdp = draw(_mdp_cases(episodic=False))
    theta = draw(strategies.softmax_parameters(mdp.n_states, mdp.n_actions))
    initial = draw(strategies.probability_vectors(mdp.n_states))
    return Case("generated", {**_mdp_arguments(mdp), "initial_distribution": initial,
                              "theta": theta}, {"mdp": mdp})


@st.composite
def _importance_sampling_cases(draw):
    size = draw(st.integers(1, 4))
    target = draw(strategies.probability_vectors(size))
    behaviour = draw(strategies.probability_vectors(size))
    values = np.array(draw(st.lists(st.integers(-4, 4), min_size=size, max_size=size)),
                      dtype=np.float64)
    support = np.flatnonzero(behaviour > 0)
    samples = np.array(draw(st.lists(st.sampled_from(support.tolist()), min_size=1, max_size=4)))
    return Case("generated", {"values": values[samples],
                              "target_probabilities": target[samples],
                              "behaviour_probabilities": behaviour[samples]},
                {"values": values, "target": target, "behaviour": behaviour})


# ------------------------------------------------------------ edge and toy cases

def _edge_policy_cases() -> list[Case]:
    return _policy_cases(_tiny_mdps(), policy=_lopsided)


def _edge_backup_cases(key, q_values=False, with_policy=True) -> list[Case]:
    cases = []
    for case in _edge_policy_cases():
        mdp = case.context["mdp"]
        shape = (mdp.n_states, mdp.n_actions) if q_values else (mdp.n_states,)
        arguments = dict(case.arguments)
        if not with_policy:
            del arguments["policy"]
        arguments[key] = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
        cases.append(Case(case.label, arguments,
                          {"mdp": mdp, "other_values": np.zeros(mdp.n_states)}))
    return cases


def _edge_optimal_cases() -> list[Case]:
    return [Case(m.name, _mdp_arguments(m), {"mdp": m}) for m in _tiny_mdps() + _tie_mdps()]


def _tie_mdps() -> list[TabularMDP]:
    """Where a tie tolerance goes wrong.  A gain of 5e-8 per step is worth 5e-5 over the
    horizon of gamma = 0.999, more than the judge's 1e-6: a tolerance that is not scaled by
    1 - gamma keeps the worse action.  States 1 and 2 are exact copies (both lead to the
    terminal state 3, or back to 0), so from state 0 the two actions tie exactly: a policy
    iteration whose tolerance is wrongly signed or scaled flips between them forever, and the
    check's timeout catches it.  Rewards of -1e6 put the tie far from 0, where an absolute
    tolerance is below the rounding of the values.  Each is solved in a few steps."""
    stay = np.ones((1, 2, 1))
    copies = np.zeros((4, 2, 4))
    copies[0, 0, 1] = copies[0, 1, 2] = 1.0          # 0 -> 1 or 0 -> 2
    copies[1:3, 0, 3] = copies[1:3, 1, 0] = 1.0      # 1 and 2: to the end, or back to 0
    copies[3, :, 3] = 1.0                            # 3 is terminal
    cost = np.array([[-1.0, -1.0], [-1.0, -1.0], [-1.0, -1.0], [0.0, 0.0]])
    return [
        TabularMDP(stay, [[0.0, 5e-8]], 0.999,
                   name="a gain of 5e-8 at gamma = 0.999: below a tie tolerance not scaled "
                        "by 1 - gamma"),
        TabularMDP(copies, cost, 1.0, terminal_states=[3],
                   name="exact ties between identical states at gamma = 1: a policy "
                        "iteration that flips between tied actions never stops"),
        TabularMDP(copies, cost * 1e6, 1.0, terminal_states=[3],
                   name="exact ties at gamma = 1 with rewards of -1e6: a tie tolerance not "
                        "scaled by |V| flips between them"),
        TabularMDP(copies, cost, 0.9,
                   name="exact ties between identical states at gamma = 0.9"),
    ]


def _toy_optimal_cases() -> list[Case]:
    return [Case(m.name, _mdp_arguments(m), {"mdp": m})
            for m in _toy_mdps(names=TOY_NAMES + ("cliff-walking",))]


def _edge_improvement_cases(mdps=None) -> list[Case]:
    cases = []
    for case in _policy_cases(mdps if mdps is not None else _tiny_mdps()):
        a = case.arguments
        values = dynamic_programming.evaluate_policy(**a)
        cases.append(Case(case.label, {k: a[k] for k in ("transitions", "rewards", "gamma")}
                          | {"values": values}, {"policy": a["policy"]}))
    return cases


def _occupancy_case(mdp: TabularMDP) -> Case:
    return Case(mdp.name, {"transitions": np.array(mdp.transitions), "gamma": mdp.gamma,
                           "policy": _uniform(mdp),
                           "initial_distribution": np.array(mdp.initial_distribution)},
                {"mdp": mdp})


def _occupancy_toy_cases(tiny=False) -> list[Case]:
    mdps = _tiny_mdps() if tiny else _toy_mdps()
    return [_occupancy_case(m) for m in mdps if m.gamma < 1.0]


def _policy_from_occupancy_edge_cases() -> list[Case]:
    cases = []
    for case in _occupancy_toy_cases(tiny=True):
        rho = occupancy.state_action_occupancy(**case.arguments)
        cases.append(Case(case.label, {"occupancy": rho}, {"policy": case.arguments["policy"]}))
    unvisited = np.array([[0.25, 0.75], [0.0, 0.0], [1.0, 0.0]])
    cases.append(Case("state 1 is never visited: any distribution there is accepted, and "
                      "dividing by its zero visits gives NaN", {"occupancy": unvisited},
                      {"policy": np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]])}))
    return cases


def _pg_toy_cases(tiny=False) -> list[Case]:
    cases = []
    for case in _occupancy_toy_cases(tiny):
        mdp = case.context["mdp"]
        theta = np.tile(np.linspace(-1.0, 1.0, mdp.n_actions), (mdp.n_states, 1))
        cases.append(Case(mdp.name, {**_mdp_arguments(mdp),
                                     "initial_distribution": case.arguments["initial_distribution"],
                                     "theta": theta}, {"mdp": mdp}))
    if tiny:
        two_states = next(m for m in _tiny_mdps() if m.n_states == 2 and m.gamma < 1.0)
        for sign in (1.0, -1.0):
            cases.append(Case(
                f"logits [{sign * 800:g}, 0] and [0, 0]: a softmax without the max shift, or "
                f"shifted by the min or by another state's max, overflows",
                {**_mdp_arguments(two_states), "gamma": 0.5,
                 "initial_distribution": np.array([0.5, 0.5]),
                 "theta": np.array([[sign * 800.0, 0.0], [0.0, 0.0]])}, {"mdp": two_states}))
    return cases


def _performance_difference_toy_cases(tiny=False) -> list[Case]:
    cases = []
    for case in _occupancy_toy_cases(tiny):
        mdp = case.context["mdp"]
        greedy = np.eye(mdp.n_actions)[np.arange(mdp.n_states) % mdp.n_actions]
        cases.append(Case(mdp.name, {**_mdp_arguments(mdp),
                                     "initial_distribution": case.arguments["initial_distribution"],
                                     "new_policy": greedy, "old_policy": _uniform(mdp)},
                          {"mdp": mdp}))
    return cases


# ---------------------------------------------------------------- large cases

def _large(arguments: tuple[str, ...], judge) -> LargeCases:
    """The generated MDPs of ``rlspec.toy_mdps.large.large_cases`` as cases whose
    ``arguments`` are those of the check; the report shows how to rebuild a failing one."""

    def make(max_states: int):
        for label, mdp, actions in large.large_cases(max_states):
            available = {"transitions": mdp.transition_matrix, "rewards": np.array(mdp.rewards),
                         "gamma": mdp.gamma, "policy": np.eye(mdp.n_actions)[actions],
                         "initial_distribution": np.array(mdp.initial_distribution)}
            shown = {"mdp": f"rlspec.toy_mdps.large.make_large_named({label!r}): "
                            f"{mdp.n_states} states, {mdp.n_actions} actions, gamma {mdp.gamma:g}",
                     "transitions": "mdp.transition_matrix, CSR of shape (S * A, S), row s * A + a"}
            if "policy" in arguments:
                shown["policy"] = (f"one-hot of numpy.random.default_rng(0).integers(0, "
                                   f"{mdp.n_actions}, size={mdp.n_states})")
            yield Case(label, {name: available[name] for name in arguments},
                       {"mdp": mdp, "actions": actions, "shown_inputs": shown})

    return LargeCases(make, judge)


def _certified_mismatch(expected: certified.CertifiedValues, got: np.ndarray,
                        tolerance: float, what: str) -> Mismatch | None:
    """``got`` within the relative tolerance of the certified answer, widened by the error
    bound the solver proved: the exact answer lies in values +- error_bound."""
    slack = tolerance * max(1.0, float(np.max(np.abs(expected.values)))) + expected.error_bound
    error = np.abs(got - expected.values)
    if np.all(error <= slack):
        return None
    worst = np.unravel_index(int(np.argmax(error)), error.shape)
    return Mismatch(f"{what} differs from the certified answer by {float(error[worst]):.6g} at "
                    f"index {tuple(int(i) for i in worst)}: {float(got[worst]):.6g} instead of "
                    f"{float(expected.values[worst]):.6g} (proven exact to "
                    f"{expected.error_bound:.1e})", expected=float(expected.values[worst]),
                    got=float(got[worst]), tolerance=slack)


def _judge_large(certified_answer, what: str):
    def judge(case, call, tolerance):
        expected = certified_answer(case.context["mdp"], case.context["actions"])
        return _certified_mismatch(expected, call(case.arguments, expected.values.shape),
                                   tolerance, what)
    return judge


def _judge_large_optimal_policy(case, call, tolerance):
    mdp = case.context["mdp"]
    policy = _policy_answer(call(case.arguments, None), mdp.n_states, mdp.n_actions, tolerance)
    policy = np.clip(policy, 0.0, None)
    optimum = certified.optimal_values(mdp)
    try:
        achieved = certified.evaluate_policy(mdp, policy / policy.sum(axis=1, keepdims=True))
    except certified.UncertifiableError as error:
        return Mismatch(f"the returned policy's values cannot be computed: {error}")
    slack = tolerance * max(1.0, float(np.max(np.abs(optimum.values)))) \
        + optimum.error_bound + achieved.error_bound
    shortfall = optimum.values - achieved.values
    if np.all(shortfall <= slack):
        return None
    s = int(np.argmax(shortfall))
    return Mismatch(f"the returned policy is not optimal: in state {s} its value is "
                    f"{achieved.values[s]:.6g}, V* is {optimum.values[s]:.6g} (both proven "
                    f"exact to {optimum.error_bound + achieved.error_bound:.1e})",
                    expected=float(optimum.values[s]), got=float(achieved.values[s]),
                    tolerance=slack)


_LARGE_MDP = ("transitions", "rewards", "gamma")


# ------------------------------------------------------------------- registry

MDP_ARGUMENTS = ("transitions[s, a, s'] float64, rewards[s, a] float64 (expected reward), "
                 "gamma float in [0, 1]")

register(
    name="discounted-return", spec_id="mdp.return",
    summary="G_t = sum_k gamma^k r_{t+k} for every step of one finished episode",
    signature="candidate(rewards[T], gamma) -> returns[T]",
    judge=_judge_discounted_return, make_generated=_returns_cases,
    make_edge_cases=lambda: [
        Case("one step", {"rewards": np.array([3.0]), "gamma": 0.5}),
        Case("gamma = 0", {"rewards": np.array([1.0, 2.0, 3.0]), "gamma": 0.0}),
        Case("gamma = 1", {"rewards": np.array([1.0, 2.0, 3.0]), "gamma": 1.0}),
    ],
)
register(
    name="bellman-expectation-v", spec_id="mdp.bellman-expectation-v",
    summary="one application of B^pi to a state-value vector",
    signature=f"candidate(transitions, rewards, gamma, policy[s, a], values[s]) -> values[s]; {MDP_ARGUMENTS}",
    judge=_judge_backup_v, make_generated=lambda: _backup_cases(),
    make_edge_cases=lambda: _edge_backup_cases("values"),
)
register(
    name="bellman-expectation-q", spec_id="mdp.bellman-expectation-q",
    summary="one application of B^pi to an action-value table",
    signature=f"candidate(transitions, rewards, gamma, policy[s, a], action_values[s, a]) -> action_values[s, a]; {MDP_ARGUMENTS}",
    judge=_judge_backup_q, make_generated=lambda: _backup_cases(q_values=True),
    make_edge_cases=lambda: _edge_backup_cases("action_values", q_values=True),
)
register(
    name="bellman-optimality-backup", spec_id="mdp.bellman-optimality-operator",
    summary="one application of the optimality operator B; also checks the contraction",
    signature=f"candidate(transitions, rewards, gamma, values[s]) -> values[s]; {MDP_ARGUMENTS}",
    judge=_judge_optimality_backup, make_generated=lambda: _backup_cases(with_policy=False),
    make_edge_cases=lambda: _edge_backup_cases("values", with_policy=False),
)
register(
    name="policy-evaluation", spec_id="dp.policy-evaluation",
    summary="V^pi of a stochastic policy",
    signature=f"candidate(transitions, rewards, gamma, policy[s, a]) -> values[s]; {MDP_ARGUMENTS}",
    judge=_judge_policy_evaluation, make_generated=lambda: _mdp_policy_cases(),
    make_edge_cases=_edge_policy_cases,
    make_toy_cases=lambda: _policy_cases(_toy_mdps()),
    large=_large(_LARGE_MDP + ("policy",), _judge_large(certified.evaluate_policy, "V^pi")),
)
register(
    name="optimal-values", spec_id="dp.value-iteration",
    summary="V*, the optimal state values",
    signature=f"candidate(transitions, rewards, gamma) -> values[s]; {MDP_ARGUMENTS}",
    judge=_judge_optimal_values, make_generated=_optimal_cases,
    make_edge_cases=_edge_optimal_cases, make_toy_cases=_toy_optimal_cases,
    large=_large(_LARGE_MDP, _judge_large(lambda mdp, _: certified.optimal_values(mdp), "V*")),
)
register(
    name="optimal-policy", spec_id="dp.policy-iteration",
    summary="an optimal policy (any one: ties are accepted)",
    signature=f"candidate(transitions, rewards, gamma) -> policy[s, a] or actions[s]; {MDP_ARGUMENTS}",
    judge=_judge_optimal_policy, make_generated=_optimal_cases,
    make_edge_cases=_edge_optimal_cases, make_toy_cases=_toy_optimal_cases,
    large=_large(_LARGE_MDP, _judge_large_optimal_policy),
)
register(
    name="policy-improvement", spec_id="dp.policy-improvement",
    summary="the greedy policy with respect to V; with V = V^pi it must dominate pi",
    signature=f"candidate(transitions, rewards, gamma, values[s]) -> policy[s, a] or actions[s]; {MDP_ARGUMENTS}",
    judge=_judge_policy_improvement, make_generated=_improvement_cases,
    make_edge_cases=_edge_improvement_cases,
    make_toy_cases=lambda: _edge_improvement_cases(_toy_mdps()),
)
register(
    name="epsilon-greedy", spec_id="mdp.epsilon-greedy",
    summary="the epsilon-greedy policy of an action-value table",
    signature="candidate(action_values[s, a], epsilon) -> policy[s, a]",
    judge=_judge_epsilon_greedy, make_generated=_epsilon_greedy_cases,
    make_edge_cases=lambda: [
        Case("single action", {"action_values": np.array([[5.0]]), "epsilon": 0.3}),
        Case("tie", {"action_values": np.array([[1.0, 1.0, 0.0]]), "epsilon": 0.3}),
        Case("epsilon = 1", {"action_values": np.array([[0.0, 1.0]]), "epsilon": 1.0}),
    ],
)
register(
    name="state-occupancy", spec_id="mdp.state-occupancy",
    summary="nu^pi, the (1 - gamma)-normalised discounted state visitation distribution",
    signature="candidate(transitions[s, a, s'], gamma < 1, policy[s, a], initial_distribution[s]) -> nu[s]",
    judge=_judge_state_occupancy, make_generated=_occupancy_cases,
    make_edge_cases=lambda: _occupancy_toy_cases(tiny=True),
    make_toy_cases=_occupancy_toy_cases,
    large=_large(("transitions", "gamma", "policy", "initial_distribution"),
                 _judge_large(certified.state_occupancy, "nu^pi")),
)
register(
    name="state-action-occupancy", spec_id="mdp.state-action-occupancy",
    summary="rho^pi(s, a) = nu^pi(s) pi(a|s)",
    signature="candidate(transitions[s, a, s'], gamma < 1, policy[s, a], initial_distribution[s]) -> rho[s, a]",
    judge=_judge_state_action_occupancy, make_generated=_occupancy_cases,
    make_edge_cases=lambda: _occupancy_toy_cases(tiny=True),
    make_toy_cases=_occupancy_toy_cases,
    large=_large(("transitions", "gamma", "policy", "initial_distribution"),
                 _judge_large(certified.state_action_occupancy, "rho^pi")),
)
register(
    name="policy-from-occupancy", spec_id="mdp.occupancy-theorem-2",
    summary="the policy that generates an occupancy measure (any distribution where unvisited)",
    signature="candidate(occupancy[s, a]) -> policy[s, a]",
    judge=_judge_policy_from_occupancy, make_generated=_policy_from_occupancy_cases,
    make_edge_cases=_policy_from_occupancy_edge_cases,
)
register(
    name="performance-difference", spec_id="pg.performance-difference",
    summary="J(pi_new) - J(pi_old)",
    signature="candidate(transitions, rewards, gamma < 1, initial_distribution[s], new_policy[s, a], old_policy[s, a]) -> float",
    judge=_judge_performance_difference, make_generated=_performance_difference_cases,
    make_edge_cases=lambda: _performance_difference_toy_cases(tiny=True),
    make_toy_cases=_performance_difference_toy_cases,
)
register(
    name="softmax-policy-gradient", spec_id="pg.policy-gradient-theorem",
    summary="dJ/dtheta for the tabular softmax policy pi(a|s) = softmax(theta[s])_a",
    signature="candidate(transitions, rewards, gamma < 1, initial_distribution[s], theta[s, a]) -> gradient[s, a]",
    judge=_judge_policy_gradient, make_generated=_policy_gradient_cases,
    make_edge_cases=lambda: _pg_toy_cases(tiny=True),
    make_toy_cases=_pg_toy_cases,
)
register(
    name="importance-sampling", spec_id="pg.importance-sampling",
    summary="the ordinary importance-sampling estimate of E_p[f] from samples of q",
    signature="candidate(values[n], target_probabilities[n], behaviour_probabilities[n]) -> float",
    judge=_judge_importance_sampling, make_generated=_importance_sampling_cases,
    make_edge_cases=lambda: [
        Case("one sample", {"values": np.array([2.0]), "target_probabilities": np.array([0.5]),
                            "behaviour_probabilities": np.array([0.25])},
             {"values": np.array([2.0, 0.0]), "target": np.array([0.5, 0.5]),
              "behaviour": np.array([0.25, 0.75])}),
    ],
)
