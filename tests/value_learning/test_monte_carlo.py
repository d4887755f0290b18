"""Monte-Carlo evaluation: the incremental mean is the plain mean of the returns seen;
first-visit and every-visit differ exactly when a state recurs; the order of the updates
does not matter.  (Convergence to V^pi, with a derived tolerance, is in test_convergence.py;
the bias of every-visit MC, in test_errata_value_learning.py.)"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlspec.checks.batteries import value_learning as cases
from rlspec.oracles import monte_carlo as monte_carlo_oracle
from rlspec.oracles.methods import accuracy, exact_rational
from rlspec.reference import monte_carlo

import bugs_value_learning as bugs
from mutation import fails

EPS = accuracy.EPS


def _floats(array) -> np.ndarray:
    return np.vectorize(float, otypes=[float])(np.asarray(array, dtype=object))


def mean_tolerance(values, rewards_list) -> float:
    """Each incremental step rounds a few numbers no larger than the largest |return| or
    |value|; the errors are damped (the new value is a convex combination), so per episode
    they add at most SAFETY * eps * scale, and one per step."""
    scale = 1.0 + np.abs(values).max() + max(np.abs(r).sum() for r in rewards_list)
    return accuracy.SAFETY * EPS * scale * sum(r.size + 1 for r in rewards_list)


@pytest.mark.spec("mc.every-visit", "mc.first-visit")
@given(st.lists(cases._mc_cases(), min_size=1, max_size=4), st.booleans())
def test_incremental_mean_over_episodes_is_the_plain_mean_of_the_returns(episodes, first_visit):
    """From a fresh table (N = 0), after any number of episodes V(s) is the average of the
    returns collected for s: one per episode (first visit) or one per visit (every visit)."""
    n_states = max(c.arguments["values"].size for c in episodes)
    gamma = episodes[0].arguments["gamma"]
    update = monte_carlo.first_visit_mc_update if first_visit else monte_carlo.every_visit_mc_update
    values, counts = np.full(n_states, 7.0), np.zeros(n_states)  # 7: must be forgotten
    collected = {s: [] for s in range(n_states)}
    rewards_list = []
    for case in episodes:
        states, rewards = case.arguments["states"] % n_states, case.arguments["rewards"]
        states[-1] = n_states - 1
        rewards_list.append(rewards)
        values = update(values, counts, states, rewards, gamma)
        returns = exact_rational.discounted_returns_exact(rewards, gamma)
        seen = set()
        for t, s in enumerate(states[:-1]):
            if first_visit and s in seen:
                continue
            seen.add(s)
            collected[s].append(returns[t])
            counts[s] += 1
    for s, returns in collected.items():
        expected = sum(returns, Fraction(0)) / len(returns) if returns else Fraction(7)
        assert abs(Fraction(values[s]) - expected) <= mean_tolerance(values, rewards_list)


@pytest.mark.spec("mc.first-visit")
@given(cases._mc_cases())
def test_first_and_every_visit_agree_unless_a_state_recurs(case):
    a = case.arguments
    first = monte_carlo.first_visit_mc_update(**a)
    every = monte_carlo.every_visit_mc_update(**a)
    states = a["states"][:-1]
    if len(set(states.tolist())) == states.size:
        np.testing.assert_array_equal(first, every)
    # The oracle sees it the same way, exactly.
    exact_first = monte_carlo_oracle.monte_carlo_exact(**a, first_visit=True)
    exact_every = monte_carlo_oracle.monte_carlo_exact(**a, first_visit=False)
    recurring = {s for s in states.tolist() if (states == s).sum() > 1}
    for s in range(a["values"].size):
        if s not in recurring:
            assert exact_first[s] == exact_every[s]
    tolerance = mean_tolerance(a["values"], [a["rewards"]])
    np.testing.assert_allclose(first, _floats(exact_first), rtol=0, atol=tolerance)
    np.testing.assert_allclose(every, _floats(exact_every), rtol=0, atol=tolerance)


@pytest.mark.spec("mc.every-visit")
@given(cases._mc_cases())
def test_every_visit_mean_does_not_depend_on_the_order_of_the_updates(case):
    """Sutton & Barto's box processes an episode backwards, t = T-1..0; the reference goes
    forwards.  The mean is the same (up to rounding)."""
    a = case.arguments
    states, rewards, gamma = a["states"], a["rewards"], a["gamma"]
    returns = np.zeros(rewards.size)
    g = 0.0
    for t in reversed(range(rewards.size)):
        g = rewards[t] + gamma * g
        returns[t] = g
    values, counts = a["values"].copy(), a["counts"].copy()
    for t in reversed(range(rewards.size)):
        counts[states[t]] += 1
        values[states[t]] += (returns[t] - values[states[t]]) / counts[states[t]]
    np.testing.assert_allclose(monte_carlo.every_visit_mc_update(**a), values, rtol=0,
                               atol=mean_tolerance(a["values"], [rewards]))


@pytest.mark.spec("mc.first-visit")
@given(st.lists(cases._mc_cases(), min_size=2, max_size=3))
def test_monte_carlo_oracle_applied_episode_by_episode_is_the_batch_mean(episodes):
    """Oracle cross-check: the per-episode closed form (N V + sum G) / (N + k), chained over
    episodes with the counts carried along, equals one mean over all returns."""
    n_states = max(c.arguments["values"].size for c in episodes)
    gamma = episodes[0].arguments["gamma"]
    values = [Fraction(0)] * n_states
    counts = np.zeros(n_states)
    everything = {s: [] for s in range(n_states)}
    for case in episodes:
        states, rewards = case.arguments["states"] % n_states, case.arguments["rewards"]
        values = list(monte_carlo_oracle.monte_carlo_exact(np.array(values, dtype=object), counts,
                                                   states, rewards, gamma, first_visit=False))
        for t, s in enumerate(states[:-1]):
            everything[s].append(exact_rational.discounted_returns_exact(rewards, gamma)[t])
            counts[s] += 1
    for s, returns in everything.items():
        if returns:
            assert values[s] == sum(returns, Fraction(0)) / len(returns)


MUTANTS = {
    "test_incremental_mean_over_episodes_is_the_plain_mean_of_the_returns":
        ("first_visit_mc_update", bugs.mc_mean_off_by_one),
    "test_first_and_every_visit_agree_unless_a_state_recurs":
        ("first_visit_mc_update", bugs.mc_last_visit),
    "test_every_visit_mean_does_not_depend_on_the_order_of_the_updates":
        ("every_visit_mc_update", bugs.mc_every_visit_counted_once),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, mutant = MUTANTS[test_name]
    monkeypatch.setattr(monte_carlo, attribute, mutant)
    assert fails(globals()[test_name]), f"{test_name} stayed green with {mutant.__name__}"
