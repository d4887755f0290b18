"""`rlspec train` / `rlspec plot` logic, in process: files written, exit codes, validation."""

import argparse
import json

import pytest
import torch

from rlspec.agents import cli
from rlspec.agents.networks import QNetwork
from rlspec.agents.runtime import load_checkpoint


def parse(add_arguments, argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_train_writes_metrics_checkpoint_and_summary_with_exact_figures(tmp_path, capsys):
    out = tmp_path / "run"
    args = parse(cli.add_train_arguments, [
        "dqn", "rlspec/sb-gridworld-4x4-v0", "--validate", "5", "--total-steps", "400",
        "--num-envs", "4", "--out", str(out), "--no-progress", "--log-every", "200",
        "--set", "learning_starts=200", "--set", "double=true", "--set", "buffer_size=1000"])
    assert cli.run_train(args) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "step" in r] == [200, 400, 400]
    assert all("regret" in r for r in records if "step" in r)
    summary = json.loads((out / "summary.json").read_text())
    assert "all passed" in summary["validation"] and len(summary["optimal_values"]) == 16
    assert (out / "checkpoint.pt").exists() and (out / "metrics.csv").exists()
    assert "exact: J^pi" in capsys.readouterr().out
    fresh = QNetwork(16, 4)
    saved = load_checkpoint(out / "checkpoint.pt", {"online": fresh})
    assert saved["step"] == 400 and saved["config"]["double"] is True
    assert not torch.equal(fresh.advantage_head.weight, QNetwork(16, 4).advantage_head.weight)


def test_train_same_seed_repeats_exactly(tmp_path):
    def final_loss(name):
        args = parse(cli.add_train_arguments, [
            "ppo", "rlspec/chain-5-v0", "--total-steps", "256", "--num-envs", "4", "--seed", "7",
            "--out", str(tmp_path / name), "--no-progress", "--set", "n_steps=32",
            "--set", "batch_size=32"])
        assert cli.run_train(args) == 0
        return json.loads((tmp_path / name / "summary.json").read_text())["critic_error"]
    assert final_loss("a") == final_loss("b")


@pytest.mark.parametrize("argv", [
    ["dqn", "CartPole-v1", "--set", "no_such_option=1"],
    ["dqn", "Pendulum-v1", "--total-steps", "10"],            # DQN needs discrete actions
    ["sac", "CartPole-v1", "--total-steps", "10"],            # SAC needs a Box action space
])
def test_usage_errors_exit_2_with_a_message(argv, tmp_path, capsys):
    args = parse(cli.add_train_arguments, argv + ["--out", str(tmp_path), "--no-progress"])
    assert cli.run_train(args) == 2
    assert "rlspec train:" in capsys.readouterr().err


def test_plot_writes_curves_errors_and_heat_maps(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    train = parse(cli.add_train_arguments, [
        "ppo", "rlspec/sb-gridworld-4x4-v0", "--total-steps", "512", "--num-envs", "8",
        "--out", str(out), "--no-progress", "--log-every", "256", "--set", "n_steps=32",
        "--set", "batch_size=64"])
    assert cli.run_train(train) == 0
    assert cli.run_plot(parse(cli.add_plot_arguments, [str(out)])) == 0
    names = sorted(path.name for path in (out / "plots").iterdir())
    assert names == ["exact_errors.png", "learning_curves.png", "values_run.png"]
    assert cli.run_plot(parse(cli.add_plot_arguments, [str(tmp_path / "missing")])) == 2
