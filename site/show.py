"""``rlspec show ID``: a spec entry in the terminal, with its worked example run live.

Prints the statement, the conventions, the canonical signature of the entry's check, the
status (and the erratum, where the notes are wrong), and the source of each reference
function; then runs the reference's docstring examples with doctest and prints what each
line returned now, so that the reader sees the numbers computed, not quoted.  Exit code 0
when every example still gives its documented result, 1 when one does not, 2 for an
unknown ID.
"""

from __future__ import annotations

import doctest
import inspect
import pkgutil
import sys
import textwrap

import rlspec
from rlspec.site import gather

SHOWN_SECTIONS = ("Statement", "Conventions", "Erratum")


def add_arguments(parser) -> None:
    parser.add_argument("id", help="a spec ID, e.g. gae.advantage (`rlspec list spec`)")


def run(args) -> int:
    try:
        entry = rlspec.entry(args.id)
    except KeyError as error:
        print(f"rlspec show: {error.args[0]}", file=sys.stderr)
        return 2
    _print_entry(entry)
    print(_rule("Worked example, run now (the reference's doctest)"))
    all_documented = all([_run_examples(dotted) for dotted in entry.reference])
    return 0 if all_documented else 1


def _rule(title: str) -> str:
    return f"\n── {title} " + "─" * max(0, 78 - len(title))


def _print_entry(entry) -> None:
    print(f"{entry.id}: {entry.title}")
    print(f"status: {entry.status}")
    for source in entry.source:
        print(f"source: {source}")
    body = dict(gather.sections(entry.body))
    for heading in SHOWN_SECTIONS:
        if heading in body:
            print(_rule(heading))
            print(body[heading])
    print(_rule(f"Canonical signature of `rlspec check {entry.check}`"))
    print(textwrap.fill(gather.signatures()[entry.id], width=92,
                        subsequent_indent="    "))
    for dotted in entry.reference:
        print(_rule(f"Reference {dotted}"))
        print(gather.source_of(dotted), end="")


class _ShowingRunner(doctest.DocTestRunner):
    """A doctest runner that echoes every example with the output it gave this time."""

    def report_start(self, out, test, example):
        pass

    def report_success(self, out, test, example, got):
        out(_echo(example, example.want if example.exc_msg is not None else got))

    def report_failure(self, out, test, example, got):
        out(_echo(example, got) + f"!!! documented instead:\n{example.want}")

    def report_unexpected_exception(self, out, test, example, exc_info):
        error = exc_info[1]
        out(_echo(example, "") + f"!!! raised {type(error).__name__}: {error}\n")


def _echo(example: doctest.Example, output: str) -> str:
    lines = example.source.rstrip("\n").split("\n")
    prompt = [">>> " + lines[0]] + ["... " + line for line in lines[1:]]
    return "\n".join(prompt) + "\n" + output


def _run_examples(dotted: str) -> bool:
    """Run the docstring examples of one reference function; True when all still hold."""
    function = pkgutil.resolve_name(dotted)
    module = inspect.getmodule(function)
    tests = doctest.DocTestFinder(recurse=False).find(function, dotted, module=module,
                                                      globs=vars(module).copy())
    examples = [test for test in tests if test.examples]
    if not examples:
        print(f"{dotted} has no docstring example.")
        return True
    runner = _ShowingRunner()
    for test in examples:
        runner.run(test, out=sys.stdout.write)
    result = runner.summarize(verbose=False)
    verdict = "as documented" if not result.failed else f"{result.failed} NOT as documented"
    print(f"({dotted}: {result.attempted} examples, {verdict})")
    return not result.failed
