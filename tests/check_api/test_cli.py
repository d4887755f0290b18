"""The rlspec command: solve reproduces Sutton & Barto's published values, list and check
report what they should, and every command's exit code means what the README says."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rlspec.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main

SUPPORT = Path(__file__).parent.parent / "support"  # where user_implementations.py lives

# Sutton & Barto (2018), Figure 3.2 (random policy) and Figure 3.5 (optimal), 1 decimal.
FIGURE_3_2 = [[3.3, 8.8, 4.4, 5.3, 1.5], [1.5, 3.0, 2.3, 1.9, 0.5], [0.1, 0.7, 0.7, 0.4, -0.4],
              [-1.0, -0.4, -0.4, -0.6, -1.2], [-1.9, -1.3, -1.2, -1.4, -2.0]]
FIGURE_3_5 = [[22.0, 24.4, 22.0, 19.4, 17.5], [19.8, 22.0, 19.8, 17.8, 16.0],
              [17.8, 19.8, 17.8, 16.0, 14.4], [16.0, 17.8, 16.0, 14.4, 13.0],
              [14.4, 16.0, 14.4, 13.0, 11.7]]
# Figure 4.1, the k = infinity panel (random policy, undiscounted).
FIGURE_4_1 = [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]


def run(capsys, *arguments):
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def solve_json(capsys, *arguments):
    code, out, _ = run(capsys, "solve", *arguments, "--json")
    assert code == EXIT_OK
    return json.loads(out)


@pytest.mark.parametrize("mdp, policy, printed", [
    ("sb-gridworld-5x5", "random", FIGURE_3_2),
    ("sb-gridworld-5x5", "optimal", FIGURE_3_5),
    ("sb-gridworld-4x4", "random", FIGURE_4_1),
])
def test_solve_reproduces_the_published_tables(capsys, mdp, policy, printed):
    solution = solve_json(capsys, mdp, "--policy", policy)
    grid = np.array(solution["V"]).reshape(np.shape(printed))  # row-major
    np.testing.assert_array_equal(np.round(grid, 1) + 0.0, printed)


def test_solve_reproduces_example_6_2(capsys):
    solution = solve_json(capsys, "random-walk-5", "--policy", "random")
    inner = solution["V"][1:-1]
    np.testing.assert_allclose(inner, [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6], rtol=0, atol=1e-12)


def test_solve_json_has_states_values_action_values_and_policy(capsys):
    solution = solve_json(capsys, "two-state", "--gamma", "0.5")
    assert solution["gamma"] == 0.5 and len(solution["states"]) == len(solution["V"]) == 2
    q, policy = np.array(solution["Q"]), np.array(solution["policy"])
    assert q.shape == policy.shape and np.allclose(policy.sum(axis=1), 1)
    # The optimal policy puts mass only on actions attaining max Q, and V = max Q.
    np.testing.assert_allclose(solution["V"], q.max(axis=1), atol=1e-9)
    assert np.all((policy > 0) <= np.isclose(q, q.max(axis=1, keepdims=True), atol=1e-7))


def test_solve_prints_grid_worlds_as_grids(capsys):
    code, out, _ = run(capsys, "solve", "sb-gridworld-5x5", "--policy", "random")
    assert code == EXIT_OK
    assert "3.3  8.8  4.4  5.3  1.5" in out


@pytest.mark.parametrize("arguments", [("solve", "no-such-mdp"),
                                       ("solve", "sb-gridworld-5x5", "--gamma", "1"),
                                       ("verify", "no.such-id"),
                                       ("check", "no-such-check", "user_implementations:value_iteration"),
                                       ("check", "optimal-values", "no_such_module:function"),
                                       ("check", "optimal-values", "user_implementations")])
def test_usage_errors_exit_2_with_a_message(capsys, arguments):
    code, _, err = run(capsys, *arguments)
    assert code == EXIT_USAGE and "error:" in err


def test_list_spec_json_gives_the_fields(capsys):
    code, out, _ = run(capsys, "list", "spec", "--json")
    items = json.loads(out)
    assert code == EXIT_OK and items
    for item in items:
        assert {"id", "title", "source", "reference", "oracle", "status"} <= item.keys()


def test_list_names_mdps_checks_and_entries(capsys):
    code, out, _ = run(capsys, "list")
    assert code == EXIT_OK
    for expected in ("mdps:", "sb-gridworld-5x5", "checks:", "dp.policy-evaluation",
                     "(alias policy-evaluation)", "spec:"):
        assert expected in out


def test_check_exit_codes(capsys, monkeypatch):
    monkeypatch.chdir(SUPPORT)
    code, out, _ = run(capsys, "check", "optimal-values", "user_implementations:value_iteration",
                       "--max-examples", "10")
    assert code == EXIT_OK and "PASS" in out
    code, out, _ = run(capsys, "check", "optimal-values", "bugs_mdp:value_iteration_mean",
                       "--json")
    report = json.loads(out)
    assert code == EXIT_FAILED and report["passed"] is False
    assert report["spec_id"] == "dp.value-iteration" and report["counterexample"]["inputs"]


def test_check_with_adapter_and_renames(capsys, monkeypatch):
    monkeypatch.chdir(SUPPORT)
    code, out, _ = run(capsys, "check", "policy-evaluation", "user_implementations:evaluate_action_major",
                       "--adapter", "action-major", "--rename", "transitions=P", "--rename", "rewards=R",
                       "--rename", "gamma=discount", "--rename", "policy=pi", "--max-examples", "10")
    assert code == EXIT_OK, out


def test_verify_one_entry(capsys):
    code, out, _ = run(capsys, "verify", "mdp.return", "--max-examples", "5")
    assert code == EXIT_OK and "mdp.return" in out and "1 passed, 0 failed" in out


def test_console_script_runs():
    command = shutil.which("rlspec")
    arguments = [command] if command else [sys.executable, "-m", "rlspec.cli"]
    result = subprocess.run([*arguments, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "verify" in result.stdout


def test_verify_exits_1_and_shows_the_counterexample_when_a_reference_is_wrong(capsys, monkeypatch):
    import dataclasses

    from rlspec.spec import registry

    original = registry.entry("mdp.return")
    planted = dataclasses.replace(original, check_reference="bugs_mdp:returns_forwards")
    monkeypatch.setattr(registry, "entry", lambda spec_id: planted)
    code, out, _ = run(capsys, "verify", "mdp.return", "--max-examples", "5")
    assert code == EXIT_FAILED
    assert "FAIL" in out and "0 passed, 1 failed" in out and "counterexample" in out


def test_check_with_a_gae_convention_adapter(capsys, monkeypatch):
    monkeypatch.chdir(SUPPORT)
    command = ("user_implementations_policy_gradient:gae_cleanrl", "--adapter", "gae-cleanrl",
               "--max-examples", "20")
    code, out, _ = run(capsys, "check", "gae-no-truncation", *command)
    assert code == EXIT_OK, out
    # CleanRL's convention cannot bootstrap a truncated step: the full check says so.
    code, out, _ = run(capsys, "check", "gae", *command)
    assert code == EXIT_FAILED and "truncat" in out
