"""`rlspec show ID`: the entry in the terminal and its worked example, run live."""

import argparse

from rlspec.site import show


def _show(*argv) -> int:
    parser = argparse.ArgumentParser()
    show.add_arguments(parser)
    return show.run(parser.parse_args(list(argv)))


def test_show_prints_the_entry_signature_source_and_runs_the_example(capsys):
    assert _show("gae.advantage") == 0
    out = capsys.readouterr().out
    for expected in ("gae.advantage: Generalised advantage estimation", "status: verified",
                     "── Statement", "── Conventions",
                     "candidate(rewards[T], values[T], next_values[T], terminated[T], truncated[T]",
                     "def generalized_advantage_estimation(",
                     "── Worked example, run now"):
        assert expected in out
    worked = out.split("── Worked example, run now")[1]
    assert ">>> generalized_advantage_estimation(" in worked and "array([1., 0., 2.])" in worked
    assert "1 examples, as documented" in worked


def test_show_prints_the_erratum_of_an_erratum_entry(capsys):
    assert _show("td.sarsa") == 0
    out = capsys.readouterr().out
    assert "status: erratum" in out
    assert "── Erratum" in out and "**What the notes say.**" in out.split("── Erratum")[1]


def test_an_unknown_id_is_a_usage_error(capsys):
    assert _show("no.such-entry") == 2
    assert "no spec entry 'no.such-entry'" in capsys.readouterr().err


def drifted_example():
    """A function whose documented result is wrong.

    >>> 1 + 1
    3
    """


def test_a_worked_example_that_no_longer_holds_is_shown_and_fails(capsys):
    assert show._run_examples(f"{__name__}:drifted_example") is False
    out = capsys.readouterr().out
    assert ">>> 1 + 1\n2\n!!! documented instead:\n3" in out and "1 NOT as documented" in out
