"""The lambda-return and TD(lambda): forward and backward views, their exact offline
equivalence, the limits lambda = 0 (TD(0)) and lambda = 1 (Monte Carlo), and the expected
lambda-return as the TD(lambda) operator.

The equivalence is proved in exact rationals on generated episodes: the sum of the
backward view's increments (accumulating traces, every delta from the values before the
episode) equals the sum of the forward view's lambda-return errors, with no tolerance at all.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlspec.checks.batteries import value_learning as cases
from rlspec.oracles import bellman, eligibility_traces as eligibility_traces_oracle
from rlspec.oracles.methods import accuracy, exact_rational
from rlspec.oracles.dynamic_programming import absorbing_zero_reward_states
from rlspec.oracles.methods.conversions import to_fractions
from rlspec.reference import eligibility_traces, monte_carlo, n_step, temporal_difference
from rlspec.toy_mdps import strategies
from rlspec.toy_mdps.mdp import TabularMDP

import bugs_value_learning as bugs
from mutation import fails

EPS = accuracy.EPS
lambdas = st.sampled_from(cases.LAMBDAS)
small_mdps = st.booleans().flatmap(
    lambda flag: strategies.mdps_with_policy(episodic=flag, max_states=3, max_actions=2))


def _floats(array) -> np.ndarray:
    return np.vectorize(float, otypes=[float])(np.asarray(array, dtype=object))


def episode_tolerance(a) -> float:
    """An episode of T steps: each of at most T updates rounds a few numbers no larger than
    the sum of all |rewards| and |values|; the errors add up, at most T^2 of them in a trace
    sweep."""
    steps = a["rewards"].size
    table = a.get("values", a.get("action_values"))
    scale = 1.0 + np.abs(a["rewards"]).sum() + np.abs(table).sum()
    return accuracy.SAFETY * EPS * (steps + 1) ** 2 * scale



def draw_episode(data):
    return dict(data.draw(cases._episode_cases("td-lambda")).arguments)


# ----------------------------------------------------------- forward = backward

@pytest.mark.spec("traces.forward-backward-equivalence")
@given(st.data())
def test_offline_backward_view_equals_the_forward_view_exactly(data):
    a = draw_episode(data)
    backward = eligibility_traces_oracle.td_lambda_episode_exact(**a, trace="accumulating", online=False)
    forward = eligibility_traces_oracle.offline_lambda_return_exact(**a)
    assert (backward == forward).all()  # Fractions: no tolerance
    # And the reference's two offline algorithms agree in floats.
    np.testing.assert_allclose(eligibility_traces.offline_td_lambda_episode(**a),
                               eligibility_traces.offline_lambda_return_episode(**a),
                               rtol=0, atol=episode_tolerance(a))


@pytest.mark.spec("traces.forward-backward-equivalence", "traces.td-lambda")
def test_online_td_lambda_is_not_the_forward_view():
    """Online, each delta sees the updates of the earlier steps, so the views part ways as soon
    as a state's value changes before a later delta uses it.  States (0, 0, terminal),
    rewards (1, 0), gamma = lambda = alpha = 1, V = 0:
    offline: delta_0 = 1, delta_1 = -V(0) = 0 -> V(0) = 1 + 0 * 2 = 1;
    online: V(0) = 1 after step 0, then delta_1 = 0 - 1 = -1 with e(0) = 2 -> V(0) = -1."""
    a = {"values": np.zeros(2), "states": np.array([0, 0, 1]), "rewards": np.array([1.0, 0.0]),
         "terminated": True, "alpha": 1.0, "gamma": 1.0, "lam": 1.0}
    assert list(eligibility_traces_oracle.offline_lambda_return_exact(**a)) == [1, 0]
    assert list(eligibility_traces_oracle.td_lambda_episode_exact(**a, online=True)) == [-1, 0]
    assert eligibility_traces.td_lambda_episode(**a)[0] == -1.0


@pytest.mark.spec("traces.forward-backward-equivalence", "traces.replacing-traces")
def test_replacing_traces_do_not_reproduce_the_forward_view():
    """Offline with replacing traces, a recurring state forgets its earlier visits' credit:
    states (0, 0, terminal), rewards (0, 1), gamma = lambda = 1, alpha = 1, V = 0.
    The forward view gives V(0) = G_0 + G_1 = 2; the replacing trace gives 1 (first-visit MC)."""
    a = {"values": np.zeros(2), "states": np.array([0, 0, 1]), "rewards": np.array([0.0, 1.0]),
         "terminated": True, "alpha": 1.0, "gamma": 1.0, "lam": 1.0}
    assert list(eligibility_traces_oracle.offline_lambda_return_exact(**a)) == [2, 0]
    assert list(eligibility_traces_oracle.td_lambda_episode_exact(**a, trace="replacing", online=False)) == [1, 0]
    assert eligibility_traces.offline_td_lambda_episode(**a, trace="replacing")[0] == 1.0


# ------------------------------------------------------------------ the limits

@pytest.mark.spec("traces.lambda-return", "traces.replacing-traces", "traces.td-lambda")
@given(st.data())
def test_lambda_zero_is_td0_step_by_step_for_either_trace(data):
    a = draw_episode(data)
    a["lam"] = 0.0
    values, states, rewards = a["values"], a["states"], a["rewards"]
    for t in range(rewards.size):
        done = a["terminated"] and t == rewards.size - 1
        values = temporal_difference.td0_update(values, states[t], rewards[t], states[t + 1], done,
                                                a["alpha"], a["gamma"])
    for trace in ("accumulating", "replacing"):
        np.testing.assert_allclose(eligibility_traces.td_lambda_episode(**a, trace=trace), values,
                                   rtol=0, atol=episode_tolerance(a))
    one_step = n_step.n_step_returns(rewards, a["values"][states], a["terminated"], a["gamma"], 1)
    np.testing.assert_array_equal(
        eligibility_traces.lambda_returns(rewards, a["values"][states], a["terminated"],
                                          a["gamma"], 0.0), one_step)


@pytest.mark.spec("mc.every-visit", "traces.forward-backward-equivalence", "traces.lambda-return")
@given(st.data())
def test_lambda_one_offline_is_every_visit_constant_step_monte_carlo(data):
    a = draw_episode(data)
    a |= {"lam": 1.0, "terminated": True}
    a["states"] = a["states"].copy()
    a["states"][-1] = a["values"].size - 1  # the terminal state of the generated cases
    returns = exact_rational.discounted_returns_exact(a["rewards"], a["gamma"])
    v = to_fractions(a["values"])
    expected = v.copy()
    for t, s in enumerate(a["states"][:-1]):
        expected[s] += Fraction(a["alpha"]) * (returns[t] - v[s])
    assert (eligibility_traces_oracle.td_lambda_episode_exact(**a, online=False) == expected).all()
    np.testing.assert_allclose(monte_carlo.constant_step_mc_update(
        a["values"], a["states"], a["rewards"], a["alpha"], a["gamma"]),
        _floats(expected), rtol=0, atol=episode_tolerance(a))
    np.testing.assert_allclose(eligibility_traces.offline_td_lambda_episode(**a), _floats(expected),
                               rtol=0, atol=episode_tolerance(a))
    # The lambda-return itself is the Monte-Carlo return at lambda = 1.
    np.testing.assert_allclose(eligibility_traces.lambda_returns(
        a["rewards"], a["values"][a["states"]], True, a["gamma"], 1.0), _floats(returns),
        rtol=0, atol=episode_tolerance(a))


@pytest.mark.spec("traces.replacing-traces")
@given(st.data())
def test_replacing_traces_offline_at_lambda_one_are_first_visit_monte_carlo(data):
    """Singh & Sutton (1996), Theorem 4 (undiscounted): offline TD(1) with replacing traces
    makes the first-visit Monte-Carlo update with a constant step size."""
    a = draw_episode(data)
    a |= {"lam": 1.0, "gamma": 1.0, "terminated": True}
    a["states"] = a["states"].copy()
    a["states"][-1] = a["values"].size - 1
    exact = eligibility_traces_oracle.td_lambda_episode_exact(**a, trace="replacing", online=False)
    returns = exact_rational.discounted_returns_exact(a["rewards"], 1.0)
    v = to_fractions(a["values"])
    expected, seen = v.copy(), set()
    for t, s in enumerate(a["states"][:-1]):
        if s not in seen:
            seen.add(s)
            expected[s] += Fraction(a["alpha"]) * (returns[t] - v[s])
    assert (exact == expected).all()
    np.testing.assert_allclose(monte_carlo.constant_step_mc_update(
        a["values"], a["states"], a["rewards"], a["alpha"], 1.0, first_visit=True),
        _floats(expected), rtol=0, atol=episode_tolerance(a))


# ------------------------------------------------------- expected lambda-return

@pytest.mark.spec("traces.lambda-return")
@given(small_mdps, st.lists(st.integers(-4, 4), min_size=3, max_size=3), lambdas,
       st.integers(1, 3))
def test_expected_truncated_lambda_return_is_the_weighted_n_step_backup(mdp_and_policy, numbers,
                                                                         lam, horizon):
    mdp, policy = mdp_and_policy
    values = np.resize(np.array(numbers, dtype=float), mdp.n_states)
    backup = bellman.lambda_backup_v(mdp.transitions, mdp.rewards, mdp.gamma, policy,
                                              values, lam, horizon)
    live = np.flatnonzero(~absorbing_zero_reward_states(mdp.transitions, mdp.rewards))
    for s in live:
        mean = Fraction(0)
        for p, states, _, rewards, terminated in bellman.segments(
                mdp.transitions, mdp.rewards, policy, s, None, horizon):
            g = eligibility_traces.lambda_returns(np.array(rewards, dtype=float), values[states],
                                                  terminated, mdp.gamma, lam)[0]
            mean += p * Fraction(float(g))
        tolerance = accuracy.SAFETY * EPS * (horizon + 3) ** 2 * (1 + np.abs(values).max() + 4 * horizon)
        assert abs(mean - backup[s]) <= tolerance


@st.composite
def acyclic_episodic_mdps(draw):
    """States 0..S-1 with S-1 terminal; every transition goes to a higher-numbered state, so
    every episode ends within S - 1 steps and the lambda-return of whole episodes can be
    enumerated."""
    n_states = draw(st.integers(2, 4))
    n_actions = draw(st.integers(1, 2))
    transitions = np.zeros((n_states, n_actions, n_states))
    for s in range(n_states - 1):
        for a in range(n_actions):
            transitions[s, a, s + 1:] = draw(strategies.probability_vectors(n_states - s - 1))
    transitions[-1, :, -1] = 1.0
    rewards = draw(strategies.reward_tables((n_states, n_actions)))
    rewards[-1] = 0.0
    gamma = draw(st.sampled_from(strategies.EPISODIC_GAMMAS))
    mdp = TabularMDP(transitions, rewards, gamma, terminal_states=[n_states - 1])
    return mdp, draw(strategies.policies(n_states, n_actions))


@pytest.mark.spec("traces.lambda-return")
@given(acyclic_episodic_mdps(), st.lists(st.integers(-4, 4), min_size=4, max_size=4), lambdas)
def test_td_lambda_operator_solve_matches_the_weighted_backups_and_its_limits(mdp_and_policy,
                                                                              numbers, lam):
    """Two oracles, two methods: the linear solve (I - gamma lambda P) X = r + gamma (1 -
    lambda) P V, and the weighted sum of n-fold backups over a horizon past every episode's
    end.  At lambda = 0 it is one backup; at lambda = 1 it is V^pi."""
    mdp, policy = mdp_and_policy
    tables = (mdp.transitions, mdp.rewards, mdp.gamma, policy)
    values = np.resize(np.array(numbers, dtype=float), mdp.n_states)
    solve = bellman.td_lambda_operator_v(*tables, values, lam)
    weighted = bellman.lambda_backup_v(*tables, values, lam, mdp.n_states)
    live = ~mdp.terminal_states
    assert all(solve[s] == weighted[s] for s in np.flatnonzero(live))
    assert list(bellman.td_lambda_operator_v(*tables, values, 0)[live]) == \
        list(bellman.expected_backup_v(*tables, values, 1)[live])
    v_pi = exact_rational.evaluate_policy_exact(*tables)
    assert list(bellman.td_lambda_operator_v(*tables, values, 1)[live]) == \
        [v for v, keep in zip(v_pi, live) if keep]


# ---------------------------------------------------------------------- can fail

def _offline_with_replacing(values, states, rewards, terminated, alpha, gamma, lam,
                            trace="accumulating"):
    return bugs.offline_td_lambda_replacing(values, states, rewards, terminated, alpha, gamma, lam)


def _lambda_returns_literal(rewards, state_values, terminated, gamma, lam):
    return bugs.lambda_return_literal_infinite_sum(rewards, state_values, terminated, gamma, lam)


def _td_lambda_update_before_increment(values, states, rewards, terminated, alpha, gamma, lam,
                                       trace="accumulating"):
    return bugs.td_lambda_update_before_increment(values, states, rewards, terminated, alpha,
                                                  gamma, lam)


def _constant_step_mc_sequential(values, states, rewards, alpha, gamma, first_visit=False):
    """Applies the increments one at a time, each from the latest value: not the offline sum."""
    values = np.array(values, dtype=float)
    g = 0.0
    returns = np.zeros(len(rewards))
    for t in reversed(range(len(rewards))):
        g = rewards[t] + gamma * g
        returns[t] = g
    for t in range(len(rewards)):
        values[states[t]] += alpha * (returns[t] - values[states[t]])
    return values


MUTANTS = {
    "test_offline_backward_view_equals_the_forward_view_exactly":
        (eligibility_traces, "offline_td_lambda_episode", _offline_with_replacing),
    "test_lambda_zero_is_td0_step_by_step_for_either_trace":
        (eligibility_traces, "td_lambda_episode", _td_lambda_update_before_increment),
    "test_lambda_one_offline_is_every_visit_constant_step_monte_carlo":
        (eligibility_traces, "lambda_returns", _lambda_returns_literal),
    "test_replacing_traces_offline_at_lambda_one_are_first_visit_monte_carlo":
        (monte_carlo, "constant_step_mc_update", _constant_step_mc_sequential),
    "test_expected_truncated_lambda_return_is_the_weighted_n_step_backup":
        (eligibility_traces, "lambda_returns", bugs.lambda_return_missing_one_minus_lambda),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    module, attribute, mutant = MUTANTS[test_name]
    monkeypatch.setattr(module, attribute, mutant)
    assert fails(globals()[test_name]), f"{test_name} stayed green with {mutant.__name__}"
