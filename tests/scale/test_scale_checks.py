"""The MDP checks' large cases (``rlspec check --large``, issue 13).

The large cases are shrunk here to a few hundred states (``LARGE_CASE_SIZES`` is read when
the cases are made, in this process), so that the tests run in seconds; the path is the one
a 10^6-state run takes.  Each solver below is right on every MDP, or right on small MDPs
and wrong only past 250 states: the bug a solver built for large problems makes when it
takes a shortcut at scale, which only the large cases can catch.
"""

import inspect
import json
import time

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
from rlspec import UsageError, check
from rlspec.toy_mdps import large

SHORTCUT_ABOVE = 250


@pytest.fixture(autouse=True)
def small_large_cases(monkeypatch):
    monkeypatch.setattr(large, "LARGE_CASE_SIZES", (("random", 300), ("grid", 400), ("chain", 300)))


def markov_chain(transitions, policy):
    n_states, n_actions = policy.shape
    choose = scipy.sparse.csr_matrix((policy.reshape(-1), np.arange(n_states * n_actions),
                                      np.arange(0, n_states * n_actions + 1, n_actions)),
                                     shape=(n_states, n_states * n_actions))
    return (choose @ scipy.sparse.csr_matrix(transitions)).tocsc()


def sparse_evaluation(transitions, rewards, gamma, policy):
    system = scipy.sparse.identity(len(policy), format="csc") - gamma * markov_chain(transitions, policy)
    return scipy.sparse.linalg.spsolve(system, (policy * rewards).sum(axis=1))


def value_iteration(transitions, rewards, gamma, sweeps=None):
    n_states, n_actions = rewards.shape
    matrix = scipy.sparse.csr_matrix(transitions)
    values = np.zeros(n_states)
    for _ in range(sweeps or 4000):
        values = (rewards + gamma * (matrix @ values).reshape(n_states, n_actions)).max(axis=1)
    return values


def greedy(transitions, rewards, gamma, values):
    n_states, n_actions = rewards.shape
    q = rewards + gamma * (scipy.sparse.csr_matrix(transitions) @ values).reshape(n_states, n_actions)
    return q.argmax(axis=1)


def optimal_policy(transitions, rewards, gamma):
    return greedy(transitions, rewards, gamma, value_iteration(transitions, rewards, gamma))


def occupancy(transitions, gamma, policy, initial_distribution):
    system = (scipy.sparse.identity(len(policy), format="csc")
              - gamma * markov_chain(transitions, policy)).T.tocsc()
    return scipy.sparse.linalg.spsolve(system, (1 - gamma) * initial_distribution)


def state_action_occupancy(transitions, gamma, policy, initial_distribution):
    return occupancy(transitions, gamma, policy, initial_distribution)[:, None] * policy


def truncated_at_scale(transitions, rewards, gamma):
    """Converged value iteration on small MDPs, 30 sweeps on large ones."""
    return value_iteration(transitions, rewards, gamma,
                           sweeps=30 if len(rewards) > SHORTCUT_ABOVE else None)


def myopic_at_scale(transitions, rewards, gamma):
    """The greedy policy of V* on small MDPs, of the immediate reward on large ones."""
    if len(rewards) > SHORTCUT_ABOVE:
        return rewards.argmax(axis=1)
    return optimal_policy(transitions, rewards, gamma)


def undiscounted_occupancy_at_scale(transitions, gamma, policy, initial_distribution):
    """Forgets the (1 - gamma) normalisation on large MDPs."""
    nu = occupancy(transitions, gamma, policy, initial_distribution)
    return nu / (1 - gamma) if len(policy) > SHORTCUT_ABOVE else nu


def truncated_evaluation_at_scale(transitions, rewards, gamma, policy):
    """An exact solve on small MDPs, 30 sweeps of the Bellman backup on large ones."""
    if len(policy) <= SHORTCUT_ABOVE:
        return sparse_evaluation(transitions, rewards, gamma, policy)
    markov, reward = markov_chain(transitions, policy), (policy * rewards).sum(axis=1)
    values = np.zeros(len(policy))
    for _ in range(30):
        values = reward + gamma * (markov @ values)
    return values


def unweighted_state_action_occupancy_at_scale(transitions, gamma, policy, initial_distribution):
    """nu(s) in every action's column on large MDPs, without the pi(a|s) factor."""
    nu = occupancy(transitions, gamma, policy, initial_distribution)
    return np.repeat(nu[:, None], policy.shape[1], axis=1) if len(policy) > SHORTCUT_ABOVE \
        else nu[:, None] * policy


def slow_at_scale(transitions, rewards, gamma, policy):
    if len(policy) > SHORTCUT_ABOVE:
        time.sleep(30)
    return sparse_evaluation(transitions, rewards, gamma, policy)


def writes_transitions_at_scale(transitions, rewards, gamma, policy):
    values = sparse_evaluation(transitions, rewards, gamma, policy)
    if len(policy) > SHORTCUT_ABOVE:
        transitions.data[:] = 0.0
    return values


@pytest.mark.spec("dp.policy-evaluation", "dp.value-iteration", "dp.policy-iteration",
                  "mdp.state-occupancy", "mdp.state-action-occupancy")
@pytest.mark.parametrize("name, solver", [
    ("policy-evaluation", sparse_evaluation), ("optimal-values", value_iteration),
    ("optimal-policy", optimal_policy), ("state-occupancy", occupancy),
    ("state-action-occupancy", state_action_occupancy),
])
def test_a_sparse_solver_passes_the_large_cases(name, solver):
    report = check(name, solver, max_examples=5, include_undiscounted=False, large_states=1000)
    assert report.passed, report
    assert [run["case"] for run in report.large_cases] == [
        "large-random-300-seed0", "large-grid-400-seed0", "large-chain-300-seed0"]
    assert [run["states"] for run in report.large_cases] == [300, 400, 300]


@pytest.mark.spec("dp.policy-evaluation", "dp.value-iteration", "dp.policy-iteration",
                  "mdp.state-occupancy", "mdp.state-action-occupancy")
@pytest.mark.parametrize("name, solver, message", [
    ("policy-evaluation", truncated_evaluation_at_scale, "V^pi differs from the certified answer"),
    ("state-action-occupancy", unweighted_state_action_occupancy_at_scale,
     "rho^pi differs from the certified answer"),
    ("optimal-values", truncated_at_scale, "V* differs from the certified answer"),
    ("optimal-policy", myopic_at_scale, "the returned policy is not optimal"),
    ("state-occupancy", undiscounted_occupancy_at_scale, "nu^pi differs from the certified answer"),
])
def test_a_shortcut_taken_only_at_scale_fails_on_the_first_large_case(name, solver, message):
    assert check(name, solver, max_examples=5, include_undiscounted=False,
                 adapter="sparse-transitions").passed
    report = check(name, solver, max_examples=5, include_undiscounted=False, large_states=1000)
    assert not report.passed
    assert report.counterexample["case"] == "large-random-300-seed0"
    assert message in report.counterexample["problem"]
    assert "proven exact to" in report.counterexample["problem"]
    shown = report.counterexample["inputs"]
    assert large.make_large_named("large-random-300-seed0").n_states == 300
    assert "make_large_named('large-random-300-seed0')" in shown["mdp"]
    assert len(report.to_json()) < 4000  # a recipe and one entry, not 300-state tables


@pytest.mark.spec("dp.policy-evaluation")
def test_a_large_case_past_its_time_budget_fails_and_names_the_case():
    report = check("policy-evaluation", slow_at_scale, max_examples=5,
                   include_undiscounted=False, large_states=1000, large_timeout=1.0)
    assert not report.passed
    assert report.counterexample["case"] == "large-random-300-seed0"
    assert "did not return within 1 s" in report.counterexample["problem"]
    assert report.seconds < 20


@pytest.mark.spec("dp.policy-evaluation")
def test_a_write_into_the_sparse_transitions_is_reported():
    report = check("policy-evaluation", writes_transitions_at_scale, max_examples=5,
                   include_undiscounted=False, large_states=1000)
    assert report.passed and any("transitions" in warning for warning in report.warnings)
    strict = check("policy-evaluation", writes_transitions_at_scale, max_examples=5,
                   include_undiscounted=False, large_states=1000, forbid_input_writes=True)
    assert not strict.passed and "wrote into its input transitions" in strict.counterexample["problem"]


def test_small_cases_pass_sparse_transitions_too_with_the_adapter():
    report = check("policy-evaluation", sparse_evaluation, max_examples=5,
                   include_undiscounted=False, adapter="sparse-transitions")
    assert report.passed and report.large_cases == []


@pytest.mark.parametrize("options, message", [
    ({"large_states": 1000, "name": "gae"}, "has no large cases; the checks that have them: "
                                            "dp.policy-evaluation"),
    ({"large_states": 100}, "at least 300"),
    ({"large_states": True}, "whole number of states"),
    ({"large_states": 1000, "large_timeout": 0}, "large_timeout must be"),
    ({"large_states": 1000, "adapter": "action-major"}, "cannot convert; leave the adapter out"),
])
def test_bad_large_options_are_usage_errors(options, message):
    name = options.pop("name", "policy-evaluation")
    with pytest.raises(UsageError, match=message):
        check(name, sparse_evaluation, **options)


def test_the_cli_runs_large_cases_and_reports_them(tmp_path, monkeypatch, capsys):
    from rlspec.cli import main

    (tmp_path / "solver.py").write_text(
        "import numpy as np\nimport scipy.sparse\nimport scipy.sparse.linalg\n\n"
        + inspect.getsource(markov_chain) + "\n" + inspect.getsource(sparse_evaluation))
    monkeypatch.chdir(tmp_path)
    status = main(["check", "policy-evaluation", "solver:sparse_evaluation", "--large", "1000",
                   "--large-timeout", "30", "--discounted-only", "--max-examples", "5", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert status == 0 and report["passed"]
    assert [run["states"] for run in report["large_cases"]] == [300, 400, 300]
