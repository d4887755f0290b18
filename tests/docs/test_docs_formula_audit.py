"""The formula audit (spec/audit/) accounts for every display-math block of every seed.

Each seed of the notes has a table ``spec/audit/seed-NNN.md`` with one row per display block
(``$$ ... $$``; the seeds hold no ``\\[ ... \\]`` and no equation environment outside ``$$``,
and the counter below would count them if they did) and one row per checkable inline claim.
A row names the block by its number and the line where it opens, the heading it sits under and
a short quote of the notes' own LaTeX, and maps it to the spec entries that verify or correct
it, or gives a reason. These tests hold the tables to the seeds: a block missing from a table,
a row for a block that does not exist, a quote that is not in its block, or an entry ID that
does not exist, fails.

The seeds are looked up in ``$RLSPEC_SEEDS``, else in ``../shared/seeds`` beside the clone (where
CI puts them); the tests that need them skip when neither is there.
"""
import math
import os
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
AUDIT = REPOSITORY / "spec" / "audit"
VERDICTS = {"verified", "erratum", "new erratum", "restatement", "definition", "true (no entry)",
            "typo", "not RL"}
NEEDS_AN_ENTRY = {"verified", "erratum", "restatement"}
#: verdicts that are their own reason ("a definition with nothing to verify"); the others that
#: name no entry must say why in the note
SELF_EXPLAINING = {"definition", "not RL"}
ROW = re.compile(r"^\|\s*(i?\d+)\s*\|(.*)\|\s*$")
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")


def seeds_folder() -> Path | None:
    configured = os.environ.get("RLSPEC_SEEDS")
    folder = Path(configured) if configured else REPOSITORY.parent / "shared" / "seeds"
    return folder if folder.is_dir() and any(folder.glob("*.txt")) else None


def squeeze(text: str) -> str:
    """Whitespace-insensitive form in which quotes are compared."""
    return " ".join(text.split())


def display_blocks(text: str) -> list[tuple[int, str]]:
    """(opening line, content) of every display-math block, in order.

    A block is ``$$ ... $$`` (one line or many), ``\\[ ... \\]``, or an equation environment
    (``equation``, ``align``, ``gather``, ``multline``, starred or not) standing outside ``$$``.
    """
    found = []
    patterns = [r"\$\$(.+?)\$\$", r"\\\[(.+?)\\\]",
                r"\\begin\{(?:equation|align|gather|multline)\*?\}(.+?)\\end\{(?:equation|align|gather|multline)\*?\}"]
    taken: list[tuple[int, int]] = []
    for pattern in patterns:
        for match in re.finditer(pattern, text, re.S):
            inside_earlier = any(start <= match.start() < end for start, end in taken)
            if not inside_earlier:
                found.append((match.start(), match.group(1)))
        taken += [(m.start(), m.end()) for m in re.finditer(pattern, text, re.S)]
    return [(text.count("\n", 0, start) + 1, body) for start, body in sorted(found)]


def markdown_headings(lines: list[str]) -> list[str | None]:
    """For each line (0-based), the Markdown or ``<h1>`` heading in force above it."""
    in_code, current, above = False, None, []
    for line in lines:
        above.append(current)
        if line.strip().startswith("```"):
            in_code = not in_code
        elif not in_code:
            match = re.match(r"\s*#{1,6}\s+(.*)", line) or re.match(r"<h1[^>]*>(.*?)</h1>", line)
            if match:
                current = match.group(1).strip()
    return above


def audit_rows(table: Path) -> tuple[list[dict], list[dict]]:
    """The display-block rows and the inline-claim rows of one audit table."""
    blocks, claims = [], []
    for line in table.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if not match:
            continue
        cells = [cell.strip().replace(r"\|", "|") for cell in CELL_SEPARATOR.split(match.group(2))]
        assert len(cells) == 6, f"{table.name}: row {match.group(1)!r} has {len(cells) + 1} cells, expected 7"
        line_number, heading, quote, entries, verdict, note = cells
        row = {"key": match.group(1), "line": int(line_number), "heading": heading,
               "quote": quote.strip("`"), "entries": [e.strip() for e in entries.split(",") if e.strip() not in ("", "—")],
               "verdict": verdict, "note": note}
        (claims if row["key"].startswith("i") else blocks).append(row)
    return blocks, claims


def stated_counts(table: Path) -> tuple[int, int]:
    match = re.search(r"Display blocks: (\d+)\. Checkable inline claims: (\d+)\.", table.read_text(encoding="utf-8"))
    assert match, f"{table.name}: the counts sentence is missing"
    return int(match.group(1)), int(match.group(2))


def entry_ids() -> set[str]:
    ids = set()
    for entry in (resources.files("rlspec.spec") / "entries").iterdir():
        if entry.name.endswith(".md"):
            front_matter = entry.read_text(encoding="utf-8").split("+++")[1]
            ids.add(tomllib.loads(front_matter)["id"])
    return ids


def all_tables() -> list[Path]:
    return sorted(AUDIT.glob("seed-*.md"))


def new_errata_headings() -> set[str]:
    return set(re.findall(r"^## (NE-\d+)\b", (AUDIT / "new-errata.md").read_text(encoding="utf-8"), re.M))


# --- tables on their own (no seeds needed) -------------------------------------------------

def test_every_cited_entry_id_exists():
    known = entry_ids()
    unknown = {(table.name, row["key"], entry)
               for table in all_tables() for row in sum(audit_rows(table), []) for entry in row["entries"]
               if entry not in known}
    assert not unknown, f"audit rows cite entries that do not exist: {sorted(unknown)}"


def test_every_row_has_a_known_verdict_and_a_target():
    problems = []
    for table in all_tables():
        for row in sum(audit_rows(table), []):
            if row["verdict"] not in VERDICTS:
                problems.append((table.name, row["key"], f"verdict {row['verdict']!r}"))
            if row["verdict"] in NEEDS_AN_ENTRY and not row["entries"]:
                problems.append((table.name, row["key"], "names no entry"))
            if row["verdict"] not in NEEDS_AN_ENTRY | SELF_EXPLAINING and not row["note"]:
                problems.append((table.name, row["key"], "gives no reason"))
    assert not problems, problems


def test_every_new_erratum_row_points_at_a_written_up_erratum():
    written = new_errata_headings()
    for table in all_tables():
        for row in sum(audit_rows(table), []):
            if row["verdict"] == "new erratum":
                cited = re.findall(r"NE-\d+", row["note"])
                assert cited and set(cited) <= written, (table.name, row["key"], cited, sorted(written))


def test_stated_counts_match_the_rows():
    for table in all_tables():
        blocks, claims = audit_rows(table)
        assert stated_counts(table) == (len(blocks), len(claims)), table.name


def test_readme_counts_match_the_tables():
    readme = (AUDIT / "README.md").read_text(encoding="utf-8")
    total_blocks = total_claims = 0
    for table in all_tables():
        blocks, claims = audit_rows(table)
        total_blocks, total_claims = total_blocks + len(blocks), total_claims + len(claims)
        number = table.stem.removeprefix("seed-")
        row = re.search(rf"^\| {number} \| (\d+)[^|]*\| (\d+) \|", readme, re.M)
        assert row and (int(row.group(1)), int(row.group(2))) == (len(blocks), len(claims)), table.name
    assert re.search(rf"^\| all \| {total_blocks} \| {total_claims} \|", readme, re.M)


# --- tables against the seeds --------------------------------------------------------------

@pytest.fixture(scope="module")
def seeds() -> dict[str, str]:
    folder = seeds_folder()
    if folder is None:
        pytest.skip("the seeds are not here: set RLSPEC_SEEDS or put them in ../shared/seeds")
    return {path.name[:3]: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.txt"))}


def test_every_seed_has_a_table(seeds):
    missing = [number for number in seeds if not (AUDIT / f"seed-{number}.md").is_file()]
    assert not missing, f"no audit table for seeds {missing}"


def test_each_table_lists_exactly_the_display_blocks_of_its_seed(seeds):
    for number, text in seeds.items():
        actual = display_blocks(text)
        rows, _ = audit_rows(AUDIT / f"seed-{number}.md")
        listed = [int(row["key"]) for row in rows]
        expected = list(range(1, len(actual) + 1))
        assert listed == expected, (
            f"seed {number}: the table lists blocks {listed}, the seed has blocks 1..{len(actual)} "
            f"(missing {sorted(set(expected) - set(listed))}, not in the seed {sorted(set(listed) - set(expected))})")
        for row, (opening_line, body) in zip(rows, actual):
            assert row["line"] == opening_line, f"seed {number} block {row['key']}: opens on line {opening_line}, table says {row['line']}"
            assert squeeze(row["quote"]) in squeeze(body), f"seed {number} block {row['key']}: quote {row['quote']!r} is not in the block"


def test_inline_claims_quote_their_line(seeds):
    for number, text in seeds.items():
        lines = text.split("\n")
        _, claims = audit_rows(AUDIT / f"seed-{number}.md")
        for row in claims:
            assert 1 <= row["line"] <= len(lines), f"seed {number} claim {row['key']}: no line {row['line']}"
            assert squeeze(row["quote"]) in squeeze(lines[row["line"] - 1]), (
                f"seed {number} claim {row['key']}: {row['quote']!r} is not on line {row['line']}")


def test_headings_are_the_ones_the_rows_sit_under(seeds):
    for number, text in seeds.items():
        lines = text.split("\n")
        in_force = markdown_headings(lines)
        for row in sum(audit_rows(AUDIT / f"seed-{number}.md"), []):
            heading = in_force[row["line"] - 1]
            if heading is not None:
                assert row["heading"] in heading, f"seed {number} row {row['key']}: under {heading!r}, table says {row['heading']!r}"
            else:
                # slide transcripts (seed 002) have no Markdown headings: the slide title must
                # stand on an earlier line
                earlier = "\n".join(lines[:row["line"] - 1])
                assert row["heading"] in earlier, f"seed {number} row {row['key']}: {row['heading']!r} is not above line {row['line']}"


def test_issue_counts_of_display_blocks(seeds):
    """Issue 12 counts 161 blocks: 53, 0, 38, 59, 11. A change to a seed shows up here first."""
    counts = {number: len(display_blocks(text)) for number, text in seeds.items()}
    assert counts == {"000": 53, "001": 0, "002": 38, "003": 59, "004": 11}


def test_the_counter_sees_every_kind_of_display_block():
    text = "a $$x$$ b\n\\[y\\]\n\\begin{align*}z\\end{align*}\n$$\n\\begin{aligned}w\\end{aligned}\n$$ $v$"
    assert [body.strip() for _, body in display_blocks(text)] == ["x", "y", "z", "\\begin{aligned}w\\end{aligned}"]


# --- the numeric claims the tables mark "true (no entry)" ----------------------------------

def test_seed_000_trpo_example_sigmoid_values():
    """Seed 000, TRPO motivation: sigma(6) ~ 1.00 -> sigma(3) ~ 0.95; sigma(1.5) = 0.82 -> sigma(-1.5) = 0.18."""
    def sigma(x):
        return 1 / (1 + math.exp(-x))
    assert (round(sigma(6), 2), round(sigma(3), 2)) == (1.00, 0.95)
    assert (round(sigma(1.5), 2), round(sigma(-1.5), 2)) == (0.82, 0.18)
    assert round(sigma(3), 2) != round(sigma(6), 2)  # the example's point: same step, different change


def test_seed_002_bernoulli_inequality_and_its_boundary():
    """(1 - eps)^t >= 1 - eps t for eps in [0, 1] and integer t >= 0 (equality at t = 0, 1 or eps = 0)."""
    grid = [i / 20 for i in range(21)]
    assert all((1 - eps) ** t >= 1 - eps * t - 1e-15 for eps in grid for t in range(0, 30))
    assert (1 - 0.5) ** 2 > 1 - 0.5 * 2  # strict for t >= 2 and 0 < eps
