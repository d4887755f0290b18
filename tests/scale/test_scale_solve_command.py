"""The logic of ``rlspec solve`` for large generated MDPs (the lead wires it into the CLI)."""

import argparse
import json

from rlspec import solve_large as certified_cli


def solve(*argv):
    parser = argparse.ArgumentParser()
    certified_cli.add_arguments(parser)
    return certified_cli.run(parser.parse_args(list(argv)))


def test_solve_prints_values_and_the_proven_bound(capsys):
    assert solve("large-grid-400-seed1") == certified_cli.EXIT_OK
    out = capsys.readouterr().out
    assert "large-grid-400-seed1" in out and "proven: max |V - exact| <=" in out


def test_solve_json_gives_a_policy_and_a_small_bound(capsys):
    assert solve("large-random-300", "--json") == certified_cli.EXIT_OK
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["V"]) == len(answer["policy"]) == 300
    assert answer["error_bound"] < 1e-9


def test_solve_names_an_unknown_mdp(capsys):
    assert solve("large-maze-100") == certified_cli.EXIT_USAGE
    assert "large-<kind>-<size>" in capsys.readouterr().out
