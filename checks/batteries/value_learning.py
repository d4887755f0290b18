"""The batteries of the model-free value chapter (issue 3a): Monte Carlo, one-step TD
methods, n-step methods and eligibility traces.

Every candidate is a per-transition or per-episode update on explicit inputs, so a check is
deterministic: the same table, transition or episode, step size and discount must give the
same new table.  Judges compare with ``rlspec.oracles.temporal_difference`` (exact rationals, other
formulas than the reference's), never with ``rlspec.reference``.

Conventions (the spec entries ``mc.*``, ``td.*``, ``nstep.*``, ``traces.*`` state them in
full):

* ``values[s]``, ``action_values[s, a]``: the tables; the candidate returns the updated
  table (it may update a copy or its argument: every call gets fresh arrays).
* A transition is ``(state, action, reward, next_state)``; ``reward`` is received on that
  transition (the notes' r_t, Sutton & Barto's R_{t+1}).  ``terminated=True`` means
  ``next_state`` is terminal: bootstrap nothing from it, whatever the table holds there.
  A time-limit truncation is ``terminated=False``.
* An episode (or a truncated piece of one) is ``states[0..T]``, ``rewards[0..T-1]``,
  ``actions[0..T-1]`` or ``[0..T]`` (the last one, A_T, only to bootstrap a SARSA return
  when the segment did not terminate), and ``terminated`` for S_T.

Generated cases use integer rewards and tables and dyadic step sizes, discounts and
probabilities, so that the exact answer is representable and the only rounding is the
candidate's own.  Terminal states always hold a non-zero value in the table, so code that
bootstraps through them is caught.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from rlspec.checks.batteries import register
from rlspec.checks.core import Case, compare
from rlspec.oracles import eligibility_traces, monte_carlo, n_step, temporal_difference
from rlspec.toy_mdps import strategies
from rlspec.toy_mdps.episodes import sample_episode
from rlspec.toy_mdps.mdp import TabularMDP

GAMMAS = (0.5, 1.0, 0.0, 0.25, 0.75, 0.9)
ALPHAS = (0.5, 1.0, 0.25, 0.125, 0.1)
LAMBDAS = (0.5, 0.0, 1.0, 0.25, 0.75, 0.9)
REWARD_BOUND = 4
MAX_STEPS = 6

#: Toy MDPs the episodes of the toy cases are sampled from, with the seed of each.
TOY_EPISODE_SOURCES = ("random-walk-5", "random-walk-19", "cliff-walking", "two-state", "chain-5")
#: Toy episodes are cut at this many steps (and are then truncated, not terminated).
TOY_MAX_STEPS = 16


def _to_float(array) -> np.ndarray:
    return np.vectorize(float, otypes=[np.float64])(np.asarray(array, dtype=object))


# ------------------------------------------------------------------ strategies

def _integers(size, low=-REWARD_BOUND, high=REWARD_BOUND):
    return st.lists(st.integers(low, high), min_size=size, max_size=size).map(
        lambda values: np.array(values, dtype=np.float64))


@st.composite
def _table(draw, n_live: int, n_actions: int | None):
    """Integer table over n_live live states plus one terminal state (the last index),
    whose entries are non-zero so that bootstrapping through it shows."""
    width = 1 if n_actions is None else n_actions
    live = draw(_integers(n_live * width)).reshape(n_live, width)
    terminal = draw(_integers(width, 1, REWARD_BOUND)).reshape(1, width)
    table = np.concatenate([live, terminal])
    return table[:, 0] if n_actions is None else table


@st.composite
def _segment(draw, with_actions=False, last_action=False, complete=False, behaviour=False):
    """A segment over states 0..n_live-1 with terminal state n_live.

    Returns a dict with states, rewards, terminated and, as asked, actions and a behaviour
    policy under which every action taken has positive probability."""
    n_live = draw(st.integers(1, 3))
    n_actions = draw(st.integers(1, 3)) if with_actions else None
    steps = draw(st.integers(1, MAX_STEPS))
    terminated = True if complete else draw(st.booleans())
    live = draw(st.lists(st.integers(0, n_live - 1), min_size=steps, max_size=steps))
    last = n_live if terminated else draw(st.integers(0, n_live - 1))
    states = np.array(live + [last])
    out = {"n_live": n_live, "n_actions": n_actions, "states": states,
           "rewards": draw(_integers(steps)), "terminated": terminated}
    if with_actions:
        n_states = n_live + 1
        b = draw(strategies.policies(n_states, n_actions)) if behaviour else \
            np.full((n_states, n_actions), 1.0 / n_actions)
        count = steps + 1 if last_action else steps
        actions = []
        for t in range(count):
            if t == steps and terminated:
                actions.append(0)
            else:
                actions.append(draw(st.sampled_from(np.flatnonzero(b[states[t]] > 0).tolist())))
        out["actions"] = np.array(actions)
        out["behaviour"] = b
    return out


def _steps(draw):
    return {"alpha": draw(st.sampled_from(ALPHAS)), "gamma": draw(st.sampled_from(GAMMAS))}


@st.composite
def _mc_cases(draw):
    segment = draw(_segment(complete=True))
    n_states = segment["n_live"] + 1
    counts = np.array(draw(st.lists(st.integers(0, 3), min_size=n_states, max_size=n_states)),
                      dtype=np.float64)
    return Case("generated", {"values": draw(_table(segment["n_live"], None)), "counts": counts,
                              "states": segment["states"], "rewards": segment["rewards"],
                              "gamma": draw(st.sampled_from(GAMMAS))})


@st.composite
def _transition_cases(draw, kind: str):
    n_live = draw(st.integers(1, 3))
    n_actions = None if kind == "td0" else draw(st.integers(1, 3))
    table = draw(_table(n_live, n_actions))
    terminated = draw(st.booleans())
    state = draw(st.integers(0, n_live - 1))
    next_state = n_live if terminated else draw(st.integers(0, n_live - 1))
    arguments = {"values" if kind == "td0" else "action_values": table, "state": state}
    if kind != "td0":
        arguments["action"] = draw(st.integers(0, n_actions - 1))
    arguments |= {"reward": float(draw(st.integers(-REWARD_BOUND, REWARD_BOUND))),
                  "next_state": next_state}
    if kind == "sarsa":
        arguments["next_action"] = draw(st.integers(0, n_actions - 1))
    if kind == "q-learning":  # the behaviour's next action, non-greedy first (shrinks there)
        row = table[next_state]
        non_greedy = np.flatnonzero(row < row.max()).tolist()
        any_action = st.integers(0, n_actions - 1)
        arguments["next_action"] = draw(st.one_of(st.sampled_from(non_greedy), any_action)
                                        if non_greedy else any_action)
    arguments |= {"terminated": terminated, **_steps(draw)}
    if kind == "expected-sarsa":
        arguments["policy"] = draw(strategies.policies(n_live + 1, n_actions))
    return Case("generated", arguments)


@st.composite
def _return_cases(draw, kind: str):
    segment = draw(_segment())
    steps = segment["rewards"].size
    arguments = {"rewards": segment["rewards"], "state_values": draw(_integers(steps + 1)),
                 "terminated": segment["terminated"], "gamma": draw(st.sampled_from(GAMMAS))}
    if kind == "n":
        arguments["n"] = draw(st.integers(1, MAX_STEPS + 1))
    else:
        arguments["lam"] = draw(st.sampled_from(LAMBDAS))
    return Case("generated", arguments)


@st.composite
def _episode_cases(draw, kind: str):
    """kind: n-step-td, n-step-sarsa, off-policy-td, off-policy-sarsa, tree-backup,
    td-lambda (also for the replacing and offline checks)."""
    q = kind in ("n-step-sarsa", "off-policy-td", "off-policy-sarsa", "tree-backup")
    off_policy = kind.startswith("off-policy")
    segment = draw(_segment(with_actions=q, last_action=kind in ("n-step-sarsa", "off-policy-sarsa"),
                            behaviour=off_policy))
    n_live, n_actions = segment["n_live"], segment["n_actions"]
    table_is_q = q and kind != "off-policy-td"
    arguments = {("action_values" if table_is_q else "values"):
                 draw(_table(n_live, n_actions if table_is_q else None)),
                 "states": segment["states"]}
    if q:
        arguments["actions"] = segment["actions"]
    arguments |= {"rewards": segment["rewards"], "terminated": segment["terminated"],
                  **_steps(draw)}
    if kind == "td-lambda":
        arguments["lam"] = draw(st.sampled_from(LAMBDAS))
    else:
        arguments["n"] = draw(st.integers(1, MAX_STEPS + 1))
    if off_policy:
        arguments["target_policy"] = draw(strategies.policies(n_live + 1, n_actions))
        arguments["behaviour_policy"] = segment["behaviour"]
    if kind == "tree-backup":
        arguments["policy"] = draw(strategies.policies(n_live + 1, n_actions))
    return Case("generated", arguments)


# ------------------------------------------------------------- edge cases

def _edge_episodes():
    """(states, actions A_0..A_T, rewards, terminated): hand-made segments that tell the
    catalogued bugs apart: a state that recurs (first vs every visit, accumulating vs
    replacing traces), a terminal state whose table entry is not 0, a truncated segment
    (bootstrap from S_T with the right power of gamma), one step."""
    return [
        ("a state that recurs, terminated", np.array([0, 1, 0, 2]), np.array([0, 1, 1, 0]),
         np.array([1.0, 2.0, 3.0]), True),
        ("truncated after 3 steps", np.array([0, 1, 1, 0]), np.array([1, 0, 1, 1]),
         np.array([1.0, -2.0, 4.0]), False),
        ("one step into a terminal state", np.array([0, 2]), np.array([1, 0]),
         np.array([2.0]), True),
        ("the same state again and again", np.array([1, 1, 1, 1, 2]), np.array([0, 0, 1, 0, 0]),
         np.array([1.0, 0.0, 0.0, 4.0]), True),
    ]


_EDGE_V = np.array([2.0, -1.0, 3.0])           # state 2 is terminal in the edge episodes
_EDGE_Q = np.array([[2.0, -1.0], [1.0, 4.0], [3.0, 3.0]])
_EDGE_PI = np.array([[0.75, 0.25], [0.5, 0.5], [0.5, 0.5]])
_EDGE_B = np.array([[0.5, 0.5], [0.25, 0.75], [0.5, 0.5]])


def _edge_mc_cases():
    cases = []
    for label, states, _, rewards, terminated in _edge_episodes():
        if terminated:
            cases.append(Case(label, {"values": _EDGE_V, "counts": np.array([1.0, 0.0, 0.0]),
                                      "states": states, "rewards": rewards, "gamma": 0.5}))
    return cases


def _edge_transition_cases(kind: str):
    cases = []
    for label, terminated, next_state in (("into a terminal state whose entry is 3", True, 2),
                                          ("to another state", False, 1),
                                          ("a self-loop", False, 0)):
        arguments = {"values" if kind == "td0" else "action_values":
                     _EDGE_V if kind == "td0" else _EDGE_Q, "state": 0}
        if kind != "td0":
            arguments["action"] = 1
        arguments |= {"reward": 1.0, "next_state": next_state}
        if kind in ("sarsa", "q-learning"):  # from state 1, action 0 is not the greedy one
            arguments["next_action"] = 0
        arguments |= {"terminated": terminated, "alpha": 0.5, "gamma": 0.5}
        if kind == "expected-sarsa":
            arguments["policy"] = _EDGE_PI
        cases.append(Case(label, arguments))
    if kind != "td0":
        arguments = {"action_values": np.array([[2.0, -1.0, 0.5], [1.0, 4.0, -2.0]]),
                     "state": 0, "action": 2, "reward": 1.0, "next_state": 1}
        if kind in ("sarsa", "q-learning"):
            arguments["next_action"] = 2
        arguments |= {"terminated": False, "alpha": 0.5, "gamma": 0.5}
        if kind == "expected-sarsa":
            arguments["policy"] = np.array([[0.25, 0.25, 0.5], [0.5, 0.25, 0.25]])
        cases.append(Case("more actions than states (2 x 3): an index into the wrong axis "
                          "of Q goes out of range", arguments))
    if kind == "q-learning":
        tied = np.array([[2.0, -1.0, 0.5], [3.0, 3.0, -2.0]])
        for label, next_action in (("the behaviour's next action is the worst one: Q-learning "
                                    "ignores it and bootstraps on the max", 2),
                                   ("a tie for the max in s': either greedy action gives 3", 1)):
            cases.append(Case(label, {"action_values": tied, "state": 0, "action": 0,
                                      "reward": 1.0, "next_state": 1, "next_action": next_action,
                                      "terminated": False, "alpha": 0.5, "gamma": 0.5}))
    return cases


def _edge_return_cases(kind: str):
    cases = []
    for label, states, _, rewards, terminated in _edge_episodes():
        state_values = _EDGE_V[states]
        for setting in ((1, 2, 5) if kind == "n" else (1.0, 0.5, 0.0)):
            key = "n" if kind == "n" else "lam"
            cases.append(Case(f"{label}, {key} = {setting}",
                              {"rewards": rewards, "state_values": state_values,
                               "terminated": terminated, "gamma": 0.5, key: setting}))
    return cases


def _edge_episode_cases(kind: str):
    cases = []
    table_is_q = kind in ("n-step-sarsa", "off-policy-sarsa", "tree-backup")
    for label, states, actions, rewards, terminated in _edge_episodes():
        settings = (0.5, 1.0, 0.0) if kind == "td-lambda" else (2, 1, 5)
        for setting in settings:
            arguments = {("action_values" if table_is_q else "values"):
                         _EDGE_Q if table_is_q else _EDGE_V, "states": states}
            if kind in ("n-step-sarsa", "off-policy-sarsa"):
                arguments["actions"] = actions
            elif kind in ("off-policy-td", "tree-backup"):
                arguments["actions"] = actions[:-1]
            arguments |= {"rewards": rewards, "terminated": terminated, "alpha": 0.5,
                          "gamma": 0.5}
            arguments["lam" if kind == "td-lambda" else "n"] = setting
            if kind.startswith("off-policy"):
                arguments |= {"target_policy": _EDGE_PI, "behaviour_policy": _EDGE_B}
            if kind == "tree-backup":
                arguments["policy"] = _EDGE_PI
            key = "lambda" if kind == "td-lambda" else "n"
            cases.append(Case(f"{label}, {key} = {setting}", arguments))
    return cases


# ------------------------------------------------------------- toy cases

def _toy_segments():
    """One sampled segment from each toy MDP (uniform policy, fixed seed), at most
    TOY_MAX_STEPS steps, with the MDP's tables of sizes."""
    from rlspec.toy_mdps.catalogue import make

    out = []
    for seed, name in enumerate(TOY_EPISODE_SOURCES):
        mdp = make(name)
        policy = np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)
        states, actions, rewards, terminated = sample_episode(
            mdp, policy, np.random.default_rng(seed), TOY_MAX_STEPS)
        out.append((mdp, policy, states, actions, rewards, terminated))
    return out


def _toy_tables(mdp: TabularMDP):
    """Small integer tables, non-zero on terminal states too."""
    values = (np.arange(mdp.n_states) % 5 - 2).astype(np.float64) + 0.5
    action_values = values[:, None] + np.arange(mdp.n_actions)[None, :] % 3 - 1.0
    return values, action_values


def _toy_mc_cases():
    cases = []
    for mdp, _, states, _, rewards, terminated in _toy_segments():
        if terminated:
            values, _ = _toy_tables(mdp)
            cases.append(Case(mdp.name, {"values": values, "counts": np.arange(mdp.n_states) % 3,
                                         "states": states, "rewards": rewards, "gamma": mdp.gamma}))
    return cases


def _toy_transition_cases(kind: str):
    cases = []
    for mdp, policy, states, actions, rewards, terminated in _toy_segments():
        values, action_values = _toy_tables(mdp)
        last = rewards.size - 1
        arguments = {"values" if kind == "td0" else "action_values":
                     values if kind == "td0" else action_values, "state": int(states[last])}
        if kind != "td0":
            arguments["action"] = int(actions[last])
        arguments |= {"reward": float(rewards[last]), "next_state": int(states[last + 1])}
        if kind in ("sarsa", "q-learning"):
            arguments["next_action"] = int(actions[last + 1])
        arguments |= {"terminated": terminated, "alpha": 0.1, "gamma": mdp.gamma}
        if kind == "expected-sarsa":
            arguments["policy"] = policy
        cases.append(Case(mdp.name, arguments))
    return cases


def _toy_return_cases(kind: str):
    cases = []
    for mdp, _, states, _, rewards, terminated in _toy_segments():
        values, _ = _toy_tables(mdp)
        key, setting = ("n", 4) if kind == "n" else ("lam", 0.9)
        cases.append(Case(mdp.name, {"rewards": rewards, "state_values": values[states],
                                     "terminated": terminated, "gamma": mdp.gamma, key: setting}))
    return cases


def _toy_episode_cases(kind: str):
    cases = []
    for mdp, policy, states, actions, rewards, terminated in _toy_segments():
        values, action_values = _toy_tables(mdp)
        table_is_q = kind in ("n-step-sarsa", "off-policy-sarsa", "tree-backup")
        arguments = {("action_values" if table_is_q else "values"):
                     action_values if table_is_q else values, "states": states}
        if kind in ("n-step-sarsa", "off-policy-sarsa"):
            arguments["actions"] = actions
        elif kind in ("off-policy-td", "tree-backup"):
            arguments["actions"] = actions[:-1]
        arguments |= {"rewards": rewards, "terminated": terminated, "alpha": 0.1,
                      "gamma": mdp.gamma}
        arguments["lam" if kind == "td-lambda" else "n"] = 0.9 if kind == "td-lambda" else 3
        if kind.startswith("off-policy") or kind == "tree-backup":
            # A target policy that prefers action 0; the segment was sampled uniformly.
            target = np.full_like(policy, 0.25 / max(mdp.n_actions - 1, 1))
            target[:, 0] = 0.75 if mdp.n_actions > 1 else 1.0
            if kind == "tree-backup":
                arguments["policy"] = target
            else:
                arguments |= {"target_policy": target, "behaviour_policy": policy}
        cases.append(Case(mdp.name, arguments))
    return cases


# ------------------------------------------------------------------ judges

def _judge(oracle, **fixed):
    def judge(case, call, tolerance):
        expected = _to_float(oracle(**case.arguments, **fixed))
        return compare(expected, call(case.arguments, expected.shape), tolerance)
    return judge


def _judge_q_learning(case, call, tolerance):
    expected = _to_float(temporal_difference.q_learning_update_exact(**case.arguments))
    got = call(case.arguments, expected.shape)
    found = compare(expected, got, tolerance)
    if found is not None:
        sarsa = _to_float(temporal_difference.sarsa_update_exact(**case.arguments))
        if compare(sarsa, got, tolerance) is None:
            return found.with_hint(" (that is SARSA's target Q(s', next_action): Q-learning "
                                   "bootstraps on max_a Q(s', a), whatever action is taken next)")
    return found


def _judge_episode_n_step(case, call, tolerance):
    a = dict(case.arguments)
    table = a.pop("values", None)
    if table is None:
        table = a.pop("action_values")
    target, behaviour = a.pop("target_policy", None), a.pop("behaviour_policy", None)
    exact = n_step.n_step_episode_exact(table, a["states"], a.get("actions"), a["rewards"],
                                            a["terminated"], a["alpha"], a["gamma"], a["n"],
                                            target, behaviour)
    expected = _to_float(exact)
    return compare(expected, call(case.arguments, expected.shape), tolerance)


# ----------------------------------------------------------------- registry

EPISODE = ("states[T+1] int (S_0..S_T), rewards[T] float (rewards[t] received on leaving "
           "S_t), terminated bool (S_T terminal: no bootstrap from it)")
STEP = "alpha float in (0, 1], gamma float in [0, 1]"

register(
    name="first-visit-mc", spec_id="mc.first-visit",
    summary="one episode of first-visit Monte Carlo by the incremental mean",
    signature=("candidate(values[S], counts[S], states[T+1], rewards[T], gamma) -> values[S]; "
               "counts[s] = N(s), the returns already averaged into values[s]; the episode "
               "is complete (S_T terminal, ignored)"),
    judge=_judge(monte_carlo.monte_carlo_exact, first_visit=True),
    make_generated=_mc_cases, make_edge_cases=_edge_mc_cases, make_toy_cases=_toy_mc_cases,
)
register(
    name="every-visit-mc", spec_id="mc.every-visit",
    summary="one episode of every-visit Monte Carlo by the incremental mean",
    signature=("candidate(values[S], counts[S], states[T+1], rewards[T], gamma) -> values[S]; "
               "counts[s] = N(s), the returns already averaged into values[s]"),
    judge=_judge(monte_carlo.monte_carlo_exact, first_visit=False),
    make_generated=_mc_cases, make_edge_cases=_edge_mc_cases, make_toy_cases=_toy_mc_cases,
)
register(
    name="td0-update", spec_id="td.td0",
    summary="one TD(0) update of a state-value table",
    signature=(f"candidate(values[S], state, reward, next_state, terminated, alpha, gamma) "
               f"-> values[S]; {STEP}"),
    judge=_judge(temporal_difference.td0_update_exact),
    make_generated=lambda: _transition_cases("td0"),
    make_edge_cases=lambda: _edge_transition_cases("td0"),
    make_toy_cases=lambda: _toy_transition_cases("td0"),
)
register(
    name="sarsa-update", spec_id="td.sarsa",
    summary="one SARSA update: bootstrap on the next action taken",
    signature=(f"candidate(action_values[S, A], state, action, reward, next_state, next_action, "
               f"terminated, alpha, gamma) -> action_values[S, A]; {STEP}"),
    judge=_judge(temporal_difference.sarsa_update_exact),
    make_generated=lambda: _transition_cases("sarsa"),
    make_edge_cases=lambda: _edge_transition_cases("sarsa"),
    make_toy_cases=lambda: _toy_transition_cases("sarsa"),
)
register(
    name="expected-sarsa-update", spec_id="td.expected-sarsa",
    summary="one Expected SARSA update: bootstrap on sum_a pi(a|s') Q(s', a)",
    signature=(f"candidate(action_values[S, A], state, action, reward, next_state, terminated, "
               f"alpha, gamma, policy[S, A]) -> action_values[S, A]; {STEP}"),
    judge=_judge(temporal_difference.expected_sarsa_update_exact),
    make_generated=lambda: _transition_cases("expected-sarsa"),
    make_edge_cases=lambda: _edge_transition_cases("expected-sarsa"),
    make_toy_cases=lambda: _toy_transition_cases("expected-sarsa"),
)
register(
    name="q-learning-update", spec_id="td.q-learning",
    summary="one Q-learning update: bootstrap on max_a Q(s', a), whatever action is taken next",
    signature=(f"candidate(action_values[S, A], state, action, reward, next_state, next_action, "
               f"terminated, alpha, gamma) -> action_values[S, A]; {STEP}; next_action is the "
               f"behaviour's next action, SARSA's transition tuple, which Q-learning must ignore "
               f"(a function without that parameter: adapter ignore-next-action)"),
    judge=_judge_q_learning,
    make_generated=lambda: _transition_cases("q-learning"),
    make_edge_cases=lambda: _edge_transition_cases("q-learning"),
    make_toy_cases=lambda: _toy_transition_cases("q-learning"),
)
register(
    name="n-step-return", spec_id="nstep.return",
    summary="G_{t:t+n} from every step of a segment, with fixed state values",
    signature=("candidate(rewards[T], state_values[T+1], terminated, gamma, n) -> returns[T]; "
               "state_values[t] = V(S_t); n int >= 1"),
    judge=_judge(n_step.n_step_returns_exact),
    make_generated=lambda: _return_cases("n"), make_edge_cases=lambda: _edge_return_cases("n"),
    make_toy_cases=lambda: _toy_return_cases("n"),
)
register(
    name="n-step-td", spec_id="nstep.td",
    summary="online n-step TD prediction over one segment",
    signature=f"candidate(values[S], states, rewards, terminated, alpha, gamma, n) -> values[S]; {EPISODE}",
    judge=_judge_episode_n_step,
    make_generated=lambda: _episode_cases("n-step-td"),
    make_edge_cases=lambda: _edge_episode_cases("n-step-td"),
    make_toy_cases=lambda: _toy_episode_cases("n-step-td"),
)
register(
    name="n-step-sarsa", spec_id="nstep.sarsa",
    summary="online n-step SARSA over one segment",
    signature=(f"candidate(action_values[S, A], states, actions[T+1], rewards, terminated, alpha, "
               f"gamma, n) -> action_values[S, A]; {EPISODE}; actions[T] = A_T bootstraps a "
               f"segment that did not terminate"),
    judge=_judge_episode_n_step,
    make_generated=lambda: _episode_cases("n-step-sarsa"),
    make_edge_cases=lambda: _edge_episode_cases("n-step-sarsa"),
    make_toy_cases=lambda: _toy_episode_cases("n-step-sarsa"),
)
register(
    name="off-policy-n-step-td", spec_id="nstep.off-policy-td",
    summary="off-policy n-step TD with per-update importance ratios rho_{t:h-1}",
    signature=(f"candidate(values[S], states, actions[T], rewards, terminated, alpha, gamma, n, "
               f"target_policy[S, A], behaviour_policy[S, A]) -> values[S]; {EPISODE}"),
    judge=_judge_episode_n_step,
    make_generated=lambda: _episode_cases("off-policy-td"),
    make_edge_cases=lambda: _edge_episode_cases("off-policy-td"),
    make_toy_cases=lambda: _toy_episode_cases("off-policy-td"),
)
register(
    name="off-policy-n-step-sarsa", spec_id="nstep.off-policy-sarsa",
    summary="off-policy n-step SARSA with per-update importance ratios rho_{t+1:h}",
    signature=(f"candidate(action_values[S, A], states, actions[T+1], rewards, terminated, alpha, "
               f"gamma, n, target_policy[S, A], behaviour_policy[S, A]) -> action_values[S, A]; "
               f"{EPISODE}"),
    judge=_judge_episode_n_step,
    make_generated=lambda: _episode_cases("off-policy-sarsa"),
    make_edge_cases=lambda: _edge_episode_cases("off-policy-sarsa"),
    make_toy_cases=lambda: _toy_episode_cases("off-policy-sarsa"),
)
register(
    name="tree-backup", spec_id="nstep.tree-backup",
    summary="the online n-step tree-backup algorithm over one segment",
    signature=(f"candidate(action_values[S, A], states, actions[T], rewards, terminated, alpha, "
               f"gamma, n, policy[S, A]) -> action_values[S, A]; {EPISODE}"),
    judge=_judge(n_step.tree_backup_episode_exact),
    make_generated=lambda: _episode_cases("tree-backup"),
    make_edge_cases=lambda: _edge_episode_cases("tree-backup"),
    make_toy_cases=lambda: _toy_episode_cases("tree-backup"),
)
register(
    name="lambda-return", spec_id="traces.lambda-return",
    summary="the (truncated) lambda-return G^lambda_t from every step of a segment",
    signature=("candidate(rewards[T], state_values[T+1], terminated, gamma, lam) -> returns[T]; "
               "state_values[t] = V(S_t); lam in [0, 1]"),
    judge=_judge(eligibility_traces.lambda_returns_exact),
    make_generated=lambda: _return_cases("lambda"),
    make_edge_cases=lambda: _edge_return_cases("lambda"),
    make_toy_cases=lambda: _toy_return_cases("lambda"),
)
register(
    name="td-lambda", spec_id="traces.td-lambda",
    summary="online TD(lambda) with accumulating traces over one episode (traces start at 0)",
    signature=f"candidate(values[S], states, rewards, terminated, alpha, gamma, lam) -> values[S]; {EPISODE}",
    judge=_judge(eligibility_traces.td_lambda_episode_exact, trace="accumulating", online=True),
    make_generated=lambda: _episode_cases("td-lambda"),
    make_edge_cases=lambda: _edge_episode_cases("td-lambda"),
    make_toy_cases=lambda: _toy_episode_cases("td-lambda"),
)
register(
    name="td-lambda-replacing", spec_id="traces.replacing-traces",
    summary="online TD(lambda) with replacing traces over one episode (traces start at 0)",
    signature=f"candidate(values[S], states, rewards, terminated, alpha, gamma, lam) -> values[S]; {EPISODE}",
    judge=_judge(eligibility_traces.td_lambda_episode_exact, trace="replacing", online=True),
    make_generated=lambda: _episode_cases("td-lambda"),
    make_edge_cases=lambda: _edge_episode_cases("td-lambda"),
    make_toy_cases=lambda: _toy_episode_cases("td-lambda"),
)
register(
    name="offline-td-lambda", spec_id="traces.forward-backward-equivalence",
    summary="offline TD(lambda), judged by the forward view: the offline lambda-return algorithm",
    signature=f"candidate(values[S], states, rewards, terminated, alpha, gamma, lam) -> values[S]; {EPISODE}",
    judge=_judge(eligibility_traces.offline_lambda_return_exact),
    make_generated=lambda: _episode_cases("td-lambda"),
    make_edge_cases=lambda: _edge_episode_cases("td-lambda"),
    make_toy_cases=lambda: _toy_episode_cases("td-lambda"),
)
