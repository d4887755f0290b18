"""One-step TD methods: each expected update is the Bellman backup it samples, and the fixed
points are V^pi (TD(0)), Q^pi of the policy followed (SARSA, Expected SARSA) and Q*
(Q-learning, whatever the behaviour policy).

The expectations are exact: every outcome (action, next state, next action) of a generated
MDP is enumerated with its probability, the reference update is applied to each, and the
probability-weighted mean of the updated entries is compared with
``rlspec.oracles.bellman`` and the foundation's exact oracles.  The only rounding is
the reference's own float arithmetic on one update, bounded below.

Also here: the chapter's spec IDs, the docstring examples of the chapter's modules, clear
errors on bad input, and the user implementations that the checks must accept.
"""

import doctest
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rlspec
from rlspec.spec import registry
from rlspec.oracles import bellman, eligibility_traces as eligibility_traces_oracle
from rlspec.oracles import monte_carlo as monte_carlo_oracle, n_step as n_step_oracle
from rlspec.oracles import temporal_difference as temporal_difference_oracle
from rlspec.oracles.methods import accuracy, exact_rational, linear_program
from rlspec.oracles.dynamic_programming import absorbing_zero_reward_states
from rlspec.oracles.methods.conversions import to_fractions
from rlspec.reference import eligibility_traces, monte_carlo, n_step, temporal_difference
from rlspec.reference.policies import epsilon_greedy
from rlspec.toy_mdps import strategies
from rlspec.validation import InvalidInputError

import user_implementations_value_learning as user
from mutation import fails

CHAPTER = {
    "mc.first-visit", "mc.every-visit", "td.td0", "td.sarsa", "td.expected-sarsa",
    "td.q-learning", "nstep.return", "nstep.td", "nstep.sarsa", "nstep.off-policy-td",
    "nstep.off-policy-sarsa", "nstep.tree-backup", "traces.lambda-return", "traces.td-lambda",
    "traces.replacing-traces", "traces.forward-backward-equivalence",
}
EPS = accuracy.EPS
small_mdps = st.booleans().flatmap(
    lambda flag: strategies.mdps_with_policy(episodic=flag, max_states=3, max_actions=2))
integer_tables = st.lists(st.integers(-4, 4), min_size=6, max_size=6)


def test_the_value_learning_chapter_is_covered():
    assert CHAPTER <= {entry.id for entry in registry.entries()}
    prefixes = {"mc", "td", "nstep", "traces"}
    assert {e.id for e in registry.entries() if e.id.split(".")[0] in prefixes} == CHAPTER


@pytest.mark.parametrize("module", [monte_carlo, temporal_difference, n_step, eligibility_traces,
                                    monte_carlo_oracle, temporal_difference_oracle, n_step_oracle,
                                    eligibility_traces_oracle, bellman], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module):
    failures, _ = doctest.testmod(module, verbose=False)
    assert failures == 0


# ---------------------------------------------------------------------- helpers

def terminal_mask(mdp):
    """The spec's terminal states: absorbing with reward 0 (a continuing MDP can have one
    too; its value is 0 for every policy, and the oracles never bootstrap from it)."""
    return absorbing_zero_reward_states(mdp.transitions, mdp.rewards)


def table_from(values, shape):
    return np.resize(np.array(values, dtype=np.float64), shape)


def update_tolerance(*arrays) -> float:
    """One update r + gamma X - Y, times alpha, plus Y: a handful of roundings of numbers no
    larger than the largest input, so SAFETY * eps * scale per entry (SAFETY = 16 covers the
    few operations with room); a probability-weighted mean of such entries keeps the bound."""
    scale = 1.0 + sum(float(np.max(np.abs(a))) for a in arrays)
    return accuracy.SAFETY * EPS * scale


def expected_entry(outcomes, pick) -> Fraction:
    """sum of probability * pick(updated table) over the enumerated outcomes, exactly."""
    return sum((Fraction(p) * Fraction(float(pick(result))) for p, result in outcomes), Fraction(0))


def td0_outcomes(mdp, policy, values, state, alpha, update=None):
    update = update or temporal_difference.td0_update
    done = terminal_mask(mdp)
    for a in range(mdp.n_actions):
        for s_next in range(mdp.n_states):
            p = policy[state, a] * mdp.transitions[state, a, s_next]
            if p:
                yield p, update(values, state, mdp.rewards[state, a], s_next, bool(done[s_next]),
                                alpha, mdp.gamma)


def q_outcomes(mdp, policy, q, state, action, alpha, method):
    done = terminal_mask(mdp)
    for s_next in range(mdp.n_states):
        p_next = mdp.transitions[state, action, s_next]
        if not p_next:
            continue
        arguments = (q, state, action, mdp.rewards[state, action], s_next)
        if method == "sarsa":
            for a_next in range(mdp.n_actions):
                if policy[s_next, a_next]:
                    yield p_next * policy[s_next, a_next], temporal_difference.sarsa_update(
                        *arguments, a_next, bool(done[s_next]), alpha, mdp.gamma)
        elif method == "expected-sarsa":
            yield p_next, temporal_difference.expected_sarsa_update(
                *arguments, bool(done[s_next]), alpha, mdp.gamma, policy)
        else:
            yield p_next, temporal_difference.q_learning_update(
                *arguments, bool(done[s_next]), alpha, mdp.gamma)


def live_states(mdp):
    return [s for s in range(mdp.n_states) if not terminal_mask(mdp)[s]]


# ---------------------------------------------------------------------- theorems

@pytest.mark.spec("td.td0")
@given(small_mdps, integer_tables, st.sampled_from([0.5, 1.0, 0.25]))
def test_expected_td0_update_is_the_bellman_expectation_backup(mdp_and_policy, numbers, alpha):
    mdp, policy = mdp_and_policy
    values = table_from(numbers, mdp.n_states)  # terminal entries too: they must be ignored
    backup = bellman.expected_backup_v(mdp.transitions, mdp.rewards, mdp.gamma, policy,
                                                values)
    tolerance = update_tolerance(values, mdp.rewards)
    for s in live_states(mdp):
        mean = expected_entry(td0_outcomes(mdp, policy, values, s, alpha), lambda v: v[s])
        exact = Fraction(values[s]) + Fraction(alpha) * (backup[s] - Fraction(values[s]))
        assert abs(mean - exact) <= tolerance, (s, float(mean), float(exact))


@pytest.mark.spec("td.td0")
@given(small_mdps)
def test_v_pi_is_the_fixed_point_of_the_expected_td0_update(mdp_and_policy):
    mdp, policy = mdp_and_policy
    v_pi = np.array([float(v) for v in exact_rational.evaluate_policy_exact(
        mdp.transitions, mdp.rewards, mdp.gamma, policy)])
    tolerance = update_tolerance(v_pi, mdp.rewards)
    for s in live_states(mdp):
        mean = expected_entry(td0_outcomes(mdp, policy, v_pi, s, 0.5), lambda v: v[s])
        assert abs(mean - Fraction(v_pi[s])) <= tolerance


@pytest.mark.spec("td.expected-sarsa", "td.sarsa")
@given(small_mdps, integer_tables, st.sampled_from(["sarsa", "expected-sarsa"]))
def test_expected_sarsa_update_is_the_bellman_backup_for_q(mdp_and_policy, numbers, method):
    mdp, policy = mdp_and_policy
    q = table_from(numbers, (mdp.n_states, mdp.n_actions))
    backup = bellman.expected_backup_q(mdp.transitions, mdp.rewards, mdp.gamma, policy, q)
    tolerance = update_tolerance(q, mdp.rewards)
    for s in live_states(mdp):
        for a in range(mdp.n_actions):
            mean = expected_entry(q_outcomes(mdp, policy, q, s, a, 0.5, method),
                                  lambda table: table[s, a])
            exact = Fraction(q[s, a]) + (backup[s, a] - Fraction(q[s, a])) / 2
            assert abs(mean - exact) <= tolerance, (s, a)


@pytest.mark.spec("td.expected-sarsa", "td.sarsa")
@given(small_mdps, integer_tables, st.sampled_from([0.5, 0.25, 0.0, 1.0]))
def test_q_of_a_fixed_epsilon_greedy_policy_is_the_fixed_point_of_sarsa(mdp_and_policy, numbers,
                                                                        epsilon):
    mdp, _ = mdp_and_policy
    policy = epsilon_greedy(table_from(numbers, (mdp.n_states, mdp.n_actions)), epsilon)
    v = exact_rational.evaluate_policy_exact(mdp.transitions, mdp.rewards, mdp.gamma, policy)
    q_pi = np.vectorize(float, otypes=[float])(
        exact_rational.action_values_exact(mdp.transitions, mdp.rewards, mdp.gamma, v))
    tolerance = update_tolerance(q_pi, mdp.rewards)
    for method in ("sarsa", "expected-sarsa"):
        for s in live_states(mdp):
            for a in range(mdp.n_actions):
                mean = expected_entry(q_outcomes(mdp, policy, q_pi, s, a, 0.5, method),
                                      lambda table: table[s, a])
                assert abs(mean - Fraction(q_pi[s, a])) <= tolerance, (method, s, a)


@pytest.mark.spec("td.q-learning")
@given(small_mdps, integer_tables)
def test_expected_q_learning_update_is_the_optimality_backup(mdp_and_policy, numbers):
    mdp, _ = mdp_and_policy
    q = table_from(numbers, (mdp.n_states, mdp.n_actions))
    backup = bellman.optimality_backup_q(mdp.transitions, mdp.rewards, mdp.gamma, q)
    tolerance = update_tolerance(q, mdp.rewards)
    for s in live_states(mdp):
        for a in range(mdp.n_actions):  # whichever policy chose a: it does not enter
            mean = expected_entry(q_outcomes(mdp, None, q, s, a, 0.5, "q-learning"),
                                  lambda table: table[s, a])
            assert abs(mean - (Fraction(q[s, a]) + (backup[s, a] - Fraction(q[s, a])) / 2)) <= tolerance


@pytest.mark.spec("td.q-learning")
@given(st.booleans().flatmap(lambda flag: strategies.mdps(episodic=flag, max_states=3,
                                                         max_actions=2)))
def test_q_star_is_the_fixed_point_of_q_learning_and_matches_the_lp(mdp):
    v_star, _ = exact_rational.optimal_values_exact(mdp.transitions, mdp.rewards, mdp.gamma)
    q_star_exact = exact_rational.action_values_exact(mdp.transitions, mdp.rewards, mdp.gamma, v_star)
    # Oracle cross-check: Q* is exactly a fixed point of the optimality backup, and the LP
    # (a different method) gives the same V*.
    backed_up = bellman.optimality_backup_q(mdp.transitions, mdp.rewards, mdp.gamma,
                                                     q_star_exact)
    live = live_states(mdp)
    assert all(backed_up[s, a] == q_star_exact[s, a] for s in live for a in range(mdp.n_actions))
    lp = linear_program.optimal_values_lp(mdp.transitions, mdp.rewards, mdp.gamma)
    modulus = accuracy.contraction_modulus(mdp.transitions, mdp.rewards, mdp.gamma)
    np.testing.assert_allclose([float(v) for v in v_star], lp, rtol=0,
                               atol=accuracy.linear_program_tolerance(modulus, np.abs(lp).max()))
    q_star = np.vectorize(float, otypes=[float])(q_star_exact)
    tolerance = update_tolerance(q_star, mdp.rewards)
    for s in live:
        for a in range(mdp.n_actions):
            mean = expected_entry(q_outcomes(mdp, None, q_star, s, a, 0.5, "q-learning"),
                                  lambda table: table[s, a])
            assert abs(mean - Fraction(q_star[s, a])) <= tolerance


@pytest.mark.spec("td.td0")
@given(small_mdps, integer_tables)
def test_expected_backup_oracle_agrees_with_the_foundations_exact_lookahead(mdp_and_policy, numbers):
    """Two oracles, two methods: the backup by enumeration (expected_updates) and the
    foundation's exact one-step lookahead averaged under pi, with terminal entries zeroed."""
    mdp, policy = mdp_and_policy
    values = table_from(numbers, mdp.n_states)
    done = terminal_mask(mdp)
    zeroed = [Fraction(0) if done[s] else Fraction(values[s])
              for s in range(mdp.n_states)]
    q = exact_rational.action_values_exact(mdp.transitions, mdp.rewards, mdp.gamma, zeroed)
    pi = to_fractions(policy)
    lookahead = (pi * q).sum(axis=1)
    backup = bellman.expected_backup_v(mdp.transitions, mdp.rewards, mdp.gamma, policy, values)
    assert list(backup) == list(lookahead)
    q_table = np.resize(values, (mdp.n_states, mdp.n_actions))
    backup_q = bellman.expected_backup_q(mdp.transitions, mdp.rewards, mdp.gamma, policy,
                                                  q_table)
    # B^pi Q is the lookahead of V_Q(s) = sum_a pi(a|s) Q(s, a) (0 on terminal states).
    v_q = [Fraction(0) if done[s] else sum(pi[s] * to_fractions(q_table[s]))
           for s in range(mdp.n_states)]
    assert (backup_q == exact_rational.action_values_exact(mdp.transitions, mdp.rewards,
                                                           mdp.gamma, v_q)).all()


@pytest.mark.spec("td.expected-sarsa", "td.q-learning", "td.td0")
@given(small_mdps, integer_tables)
def test_sample_update_oracles_average_exactly_to_the_backup_oracles(mdp_and_policy, numbers):
    """Oracle cross-check with no rounding anywhere: the exact per-sample updates of
    td_targets, averaged over every outcome, are the exact backups of expected_updates."""
    mdp, policy = mdp_and_policy
    done = terminal_mask(mdp)
    v = table_from(numbers, mdp.n_states)
    q = table_from(numbers, (mdp.n_states, mdp.n_actions))
    tables = (mdp.transitions, mdp.rewards, mdp.gamma)
    b_v = bellman.expected_backup_v(*tables, policy, v)
    b_q = bellman.expected_backup_q(*tables, policy, q)
    b_star = bellman.optimality_backup_q(*tables, q)
    p = to_fractions(mdp.transitions)
    pi = to_fractions(policy)
    for s in live_states(mdp):
        mean_v = sum(pi[s, a] * p[s, a, t] * temporal_difference_oracle.td0_update_exact(
            v, s, mdp.rewards[s, a], t, done[t], 0.5, mdp.gamma)[s]
            for a in range(mdp.n_actions) for t in range(mdp.n_states))
        assert mean_v == (Fraction(v[s]) + b_v[s]) / 2
        for a in range(mdp.n_actions):
            outcomes = [(p[s, a, t], t) for t in range(mdp.n_states) if p[s, a, t]]
            sarsa = sum(w * pi[t, x] * temporal_difference_oracle.sarsa_update_exact(
                q, s, a, mdp.rewards[s, a], t, x, done[t], 0.5, mdp.gamma)[s, a]
                for w, t in outcomes for x in range(mdp.n_actions))
            expected = sum(w * temporal_difference_oracle.expected_sarsa_update_exact(
                q, s, a, mdp.rewards[s, a], t, done[t], 0.5, mdp.gamma, policy)[s, a]
                for w, t in outcomes)
            q_learning = sum(w * temporal_difference_oracle.q_learning_update_exact(
                q, s, a, mdp.rewards[s, a], t, done[t], 0.5, mdp.gamma)[s, a] for w, t in outcomes)
            assert sarsa == expected == (Fraction(q[s, a]) + b_q[s, a]) / 2
            assert q_learning == (Fraction(q[s, a]) + b_star[s, a]) / 2


# ---------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call, message", [
    (lambda: temporal_difference.td0_update([0.0, 0.0], 2, 1.0, 0, False, 0.5, 0.9), "state = 2"),
    (lambda: temporal_difference.td0_update([0.0, 0.0], 0, 1.0, 1, False, 0.0, 0.9), "alpha"),
    (lambda: temporal_difference.td0_update([0.0, 0.0], 0, 1.0, 1, False, 0.5, 1.5), "gamma"),
    (lambda: temporal_difference.td0_update([0.0, 0.0], 0.5, 1.0, 1, False, 0.5, 0.9), "integer"),
    (lambda: temporal_difference.td0_update([0.0, 0.0], 0, 1.0, 1, "no", 0.5, 0.9), "terminated"),
    (lambda: temporal_difference.sarsa_update([[0.0]], 0, 1, 1.0, 0, 0, False, 0.5, 0.9), "action = 1"),
    (lambda: temporal_difference.expected_sarsa_update([[0.0, 0.0]], 0, 0, 1.0, 0, False, 0.5,
                                                       0.9, [[0.5, 0.6]]), "sum to 1"),
    (lambda: temporal_difference.q_learning_update([[np.nan]], 0, 0, 1.0, 0, False, 0.5, 0.9), "NaN"),
    (lambda: monte_carlo.first_visit_mc_update([0.0], [0], [0], [1.0], 0.9), "S_T missing"),
    (lambda: monte_carlo.first_visit_mc_update([0.0], [-1], [0, 0], [1.0], 0.9), "counts"),
    (lambda: monte_carlo.every_visit_mc_update([0.0], [0], [0, 3], [1.0], 0.9), "range(0, 1)"),
    (lambda: n_step.n_step_returns([1.0], [0.0, 0.0], False, 0.9, 0), "n (the number of steps)"),
    (lambda: n_step.n_step_sarsa_episode([[0.0]], [0, 0], [0], [1.0], False, 0.5, 0.9, 1), "A_0..A_T"),
    (lambda: n_step.off_policy_n_step_td_episode([0.0, 0.0], [0, 1], [1], [1.0], True, 0.5, 0.9, 1,
                                                 [[0.5, 0.5]] * 2, [[1.0, 0.0]] * 2), "probability 0"),
    (lambda: eligibility_traces.td_lambda_episode([0.0], [0, 0], [1.0], True, 0.5, 0.9, 0.5,
                                                  trace="dutch"), "trace must be"),
    (lambda: eligibility_traces.lambda_returns([1.0], [0.0, 0.0], True, 0.9, 1.5), "lam"),
    (lambda: eligibility_traces.lambda_returns([], [0.0], True, 0.9, 0.5), "at least one step"),
], ids=lambda value: value if isinstance(value, str) else "")
def test_bad_input_gets_an_error_that_names_the_problem(call, message):
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        call()


# ---------------------------------------------------------------------- user code

@pytest.mark.parametrize("name, candidate", user.CORRECT,
                         ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementation_passes(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


@pytest.mark.spec("td.q-learning")
def test_a_q_learning_update_without_next_action_passes_through_the_adapter():
    """The check passes SARSA's transition tuple; the textbook signature without next_action
    is told which adapter drops it, and passes through that adapter."""
    from rlspec.checks.core import UsageError

    with pytest.raises(UsageError, match="next_action"):
        rlspec.check("q-learning-update", user.q_learning_without_next_action, max_examples=5)
    report = rlspec.check("q-learning-update", user.q_learning_without_next_action,
                          adapter="ignore-next-action", max_examples=30)
    assert report.passed, str(report)


def test_every_check_of_the_chapter_has_a_correct_user_implementation():
    from rlspec.checks.batteries import BATTERIES
    ours = {name for name, battery in BATTERIES.items()
            if battery.spec_id.split(".")[0] in {"mc", "td", "nstep", "traces"}}
    assert {name for name, _ in user.CORRECT} == ours


# ---------------------------------------------------------------------- can fail

_original = {name: getattr(temporal_difference, name) for name in temporal_difference.__all__}


def _td0_bootstraps_terminal(values, state, reward, next_state, terminated, alpha, gamma):
    return _original["td0_update"](values, state, reward, next_state, False, alpha, gamma)


def _td0_discounts_reward(values, state, reward, next_state, terminated, alpha, gamma):
    return _original["td0_update"](values, state, gamma * reward, next_state, terminated,
                                   alpha, gamma)


def _sarsa_with_max(q, state, action, reward, next_state, next_action, terminated, alpha, gamma):
    return _original["q_learning_update"](q, state, action, reward, next_state, terminated,
                                          alpha, gamma)


def _expected_sarsa_uniform(q, state, action, reward, next_state, terminated, alpha, gamma, policy):
    uniform = np.full_like(np.asarray(policy, dtype=float), 1.0 / np.shape(policy)[1])
    return _original["expected_sarsa_update"](q, state, action, reward, next_state, terminated,
                                              alpha, gamma, uniform)


def _q_learning_with_mean(q, state, action, reward, next_state, terminated, alpha, gamma):
    uniform = np.full_like(np.asarray(q, dtype=float), 1.0 / np.shape(q)[1])
    return _original["expected_sarsa_update"](q, state, action, reward, next_state, terminated,
                                              alpha, gamma, uniform)


MUTANTS = {
    "test_expected_td0_update_is_the_bellman_expectation_backup": ("td0_update", _td0_bootstraps_terminal),
    "test_v_pi_is_the_fixed_point_of_the_expected_td0_update": ("td0_update", _td0_discounts_reward),
    "test_expected_sarsa_update_is_the_bellman_backup_for_q": ("sarsa_update", _sarsa_with_max),
    "test_q_of_a_fixed_epsilon_greedy_policy_is_the_fixed_point_of_sarsa":
        ("expected_sarsa_update", _expected_sarsa_uniform),
    "test_expected_q_learning_update_is_the_optimality_backup": ("q_learning_update", _q_learning_with_mean),
    "test_q_star_is_the_fixed_point_of_q_learning_and_matches_the_lp": ("q_learning_update", _q_learning_with_mean),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, mutant = MUTANTS[test_name]
    monkeypatch.setattr(temporal_difference, attribute, mutant)
    assert fails(globals()[test_name]), f"{test_name} stayed green with {mutant.__name__}"
