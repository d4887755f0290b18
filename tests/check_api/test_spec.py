"""The spec is complete and honest: every entry names a reference and an oracle that exist and
has tests marked ``@pytest.mark.spec(<its id>)``; every marker names an entry; every public
reference and oracle function has an entry; every battery belongs to an entry; every cited
heading is in the notes; and every entry verifies."""

import importlib
import re
from pathlib import Path

import pytest

from rlspec.spec import registry
from rlspec.checks.batteries import BATTERIES
from rlspec.checks.verify import verify_entry

from spec_markers import marked_tests

ROOT = Path(__file__).parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"
ENTRIES = registry.entries()
#: spec ID -> the tests marked with it (tests/support/spec_markers.py)
MARKED = marked_tests()

#: The MDP chapter as the foundation issue scopes it: these IDs must all exist.
MDP_CHAPTER = {
    "mdp.return", "mdp.bellman-expectation-v", "mdp.bellman-expectation-q",
    "mdp.bellman-matrix-form", "mdp.bellman-optimality-operator",
    "mdp.policy-improvement-theorem", "mdp.epsilon-greedy", "mdp.state-occupancy",
    "mdp.state-action-occupancy", "mdp.occupancy-theorem-1", "mdp.occupancy-theorem-2",
    "dp.policy-evaluation", "dp.policy-improvement", "dp.policy-iteration",
    "dp.value-iteration", "pg.importance-sampling", "pg.performance-difference",
    "pg.policy-gradient-theorem",
}


def _public_functions(package: str) -> set[str]:
    names = set()
    folder = ROOT / package.split(".")[-1]
    for path in sorted(folder.rglob("[!_]*.py")):
        dotted = ".".join(path.relative_to(folder).with_suffix("").parts)
        module = importlib.import_module(f"{package}.{dotted}")
        names |= {f"{module.__name__}:{name}" for name in getattr(module, "__all__", [])}
    return names


def test_the_mdp_chapter_is_covered():
    assert MDP_CHAPTER <= {entry.id for entry in ENTRIES}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.id)
def test_entry_names_a_reference_an_oracle_and_tests_that_exist(entry):
    references, oracles = _public_functions("rlspec.reference"), _public_functions("rlspec.oracles")
    for name in entry.reference:
        assert name in references, f"{entry.id}: {name} is not a public reference function"
        registry.resolve(name)
    for name in entry.oracle:
        assert name in oracles, f"{entry.id}: {name} is not a public oracle function"
        registry.resolve(name)
    assert MARKED.get(entry.id), f"{entry.id}: no test is marked @pytest.mark.spec({entry.id!r})"
    assert entry.check in BATTERIES, f"{entry.id}: no check called {entry.check!r}"
    assert entry.checked_reference() in entry.reference


def test_every_spec_marker_names_an_entry():
    ids = {entry.id for entry in ENTRIES}
    unknown = {spec_id: nodes for spec_id, nodes in MARKED.items() if spec_id not in ids}
    assert not unknown, f"@pytest.mark.spec names no entry: {unknown}"


def test_every_reference_and_oracle_function_has_a_spec_entry():
    named = {name for entry in ENTRIES for name in (*entry.reference, *entry.oracle)}
    missing = (_public_functions("rlspec.reference") | _public_functions("rlspec.oracles")) - named
    assert not missing, f"no spec entry names {sorted(missing)}"


def test_every_battery_judges_a_spec_entry():
    ids = {entry.id for entry in ENTRIES}
    assert {battery.spec_id for battery in BATTERIES.values()} <= ids


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.status == "erratum"], ids=lambda e: e.id)
def test_erratum_entry_says_why_and_a_test_shows_it(entry):
    assert "## Erratum" in entry.body
    assert any(Path(test.partition("::")[0]).name.startswith("test_errata")
               for test in MARKED.get(entry.id, []))


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the notes (../shared/seeds) are not beside this checkout")
@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry.id)
def test_cited_headings_are_in_the_notes(entry):
    for source in entry.source:
        match = re.match(r"seed (\d{3}) · (.*)", source)
        assert match, f"{entry.id}: source {source!r} must read 'seed NNN · heading · ...'"
        (seed,) = SEEDS.glob(f"{match.group(1)}_*.txt")
        text = seed.read_text(encoding="utf-8")
        for part in match.group(2).split(" · "):
            heading = re.sub(r"\s*\([^()]*\)$", "", part.strip())  # a closing remark
            assert heading in text, f"{entry.id}: {heading!r} is not in {seed.name}"


@pytest.mark.parametrize("entry", [pytest.param(entry, marks=pytest.mark.spec(entry.id))
                                   for entry in ENTRIES], ids=lambda entry: entry.id)
def test_every_entry_verifies(entry):
    result = verify_entry(entry, max_examples=15)
    assert result.passed, result.error or str(result.report)
