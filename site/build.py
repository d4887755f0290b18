"""``python -m rlspec.site build OUTDIR``: the documentation site, static, from the entries.

Writes ``index.html`` (the chapters in the notes' order, as ``spec/README.md`` lists them),
``entries/<id>.html`` (one page per entry: its text with math as MathML, its figures, its
last verification, canonical signature, reference, oracle and tests), ``figures.html``,
``search.html`` with ``search-index.js``, and ``static/``.  Nothing is fetched when a page is
read: no CDN, no math renderer in JavaScript, and search runs over an index in the page.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import rlspec
import rlspec.spec
from rlspec.site import figures, gather, markup
from rlspec.spec.registry import site_page

STATIC_DIRECTORY = Path(__file__).parent / "static"
SPEC_README = Path(rlspec.spec.__file__).parent / "README.md"


@dataclass(frozen=True)
class Chapter:
    prefixes: tuple[str, ...]     # ID prefixes, e.g. ("mc", "td", "nstep", "traces")
    description: str
    notes: str                    # where in the notes, e.g. "seed 000 Pre-lessons"

    @property
    def anchor(self) -> str:
        return "chapter-" + self.prefixes[0]

    @property
    def heading(self) -> str:
        return self.description[:1].upper() + self.description[1:]


def chapters(spec_ids: list[str]) -> list[tuple[Chapter, list[str]]]:
    """The chapters of spec/README.md's ID table, in its order, each with its entries (by
    prefix order, then ID); IDs whose prefix the table lacks come last, under "Other"."""
    rows = re.findall(r"^\| ((?:`[a-z0-9]+\.\*`,? ?)+) \| (.+?) \| (.+?) \|$",
                      SPEC_README.read_text(encoding="utf-8"), flags=re.M)
    found = [Chapter(tuple(re.findall(r"`([a-z0-9]+)\.\*`", cell)), description, notes)
             for cell, description, notes in rows]
    known = {prefix for chapter in found for prefix in chapter.prefixes}
    others = tuple(sorted({spec_id.split(".")[0] for spec_id in spec_ids} - known))
    if others:
        found.append(Chapter(others, "Other (not yet in spec/README.md)", ""))
    prefix_of = lambda spec_id: spec_id.split(".")[0]  # noqa: E731
    return [(chapter, sorted((i for i in spec_ids if prefix_of(i) in chapter.prefixes),
                             key=lambda i: (chapter.prefixes.index(prefix_of(i)), i)))
            for chapter in found]


def _page(title: str, body: str, root: str) -> str:
    """A whole HTML page; ``root`` is the relative path to the site's top ("" or "../")."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · rlspec</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{root}static/style.css">
</head>
<body>
<header><a class="home" href="{root}index.html">rlspec</a>
<nav><a href="{root}index.html">Chapters</a> <a href="{root}figures.html">Figures</a>
<a href="{root}search.html">Search</a></nav></header>
<main>
{body}
</main>
<footer>rlspec {rlspec.__version__}: a verified reference specification for deep RL.
Built from the spec entries; math as MathML, figures from the oracles.</footer>
</body>
</html>
"""


def _status_badge(status: str) -> str:
    return f'<span class="badge status-{status}">{status}</span>'


def _verification_badge(row: dict | None) -> str:
    if row is None:
        return '<span class="badge unverified">not run in this build</span>'
    if row["passed"]:
        return f'<span class="badge pass">PASS · {row["cases"]} cases</span>'
    return '<span class="badge fail">FAIL</span>'


def _code(text: str) -> str:
    return f"<pre><code>{html.escape(text)}</code></pre>"


def _figure_html(item: figures.Figure, root: str) -> str:
    return (f'<figure id="figure-{item.name}"><img src="{root}figures/{item.name}.png" '
            f'alt="{html.escape(item.caption.replace("$", ""))}"><figcaption>{markup.text_to_html(item.caption)}'
            f'</figcaption></figure>')


def _verification_html(entry, row: dict | None) -> str:
    lines = [f"<p>{_verification_badge(row)} Run it yourself: "
             f"<code>rlspec verify {entry.id}</code>, or judge your own function with "
             f"<code>rlspec check {entry.check} mymodule:myfunction</code>.</p>"]
    if row is not None:
        lines.append(f"<p>{row['cases']} cases against <code>{entry.checked_reference()}"
                     f"</code> in {row['seconds']:.2f} s.</p>")
        if not row["passed"]:
            detail = row["error"] or (json.dumps(row["counterexample"], indent=2)
                                      if row["counterexample"] else
                                      f"(no details saved: run `rlspec verify {entry.id}`)")
            lines.append(f'<div class="failure">{_code(detail)}</div>')
    return "\n".join(lines)


def _entry_page(entry, row: dict | None, drawn: list[figures.Figure],
                neighbours: tuple[str | None, str | None], spec_ids: set[str]) -> str:
    root = "../"
    link_code = lambda code: f"{code}.html" if code in spec_ids else None  # noqa: E731
    parts = []
    for heading, text in gather.sections(entry.body):
        rendered = markup.markdown_to_html((f"## {heading}\n\n" if heading else "") + text,
                                           link_code)
        if heading == "":
            parts.append(f'<p class="entry-id"><code>{entry.id}</code> {_status_badge(entry.status)} '
                         f'{_verification_badge(row)}</p>\n{rendered}\n'
                         f'<p class="summary">{markup.text_to_html(entry.title)}</p>\n<ul class="sources">'
                         + "".join(f"<li>{markup.markdown_to_html(s)}</li>" for s in entry.source)
                         + "</ul>")
        else:
            kind = "erratum" if heading == "Erratum" else "section"
            parts.append(f'<section class="{kind}">\n{rendered}\n</section>')
    shown = [item for item in drawn if entry.id in item.spec_ids]
    if shown:
        parts.append("<section><h2>Figures</h2>" + "".join(_figure_html(item, root) for item in shown)
                     + "</section>")
    parts.append(f"<section><h2>Last verification</h2>{_verification_html(entry, row)}</section>")
    parts.append(f"<section><h2>Canonical signature of <code>rlspec check {entry.check}</code></h2>"
                 f"{_code(gather.signatures()[entry.id])}</section>")
    for kind, names in (("Reference", entry.reference), ("Oracle", entry.oracle)):
        parts.append(f"<section><h2>{kind}</h2>" + "".join(
            f"<h3><code>{name}</code></h3>{_code(gather.source_of(name))}" for name in names)
            + "</section>")
    parts.append(f"<section><h2>Tests</h2><p>The tests that establish this entry carry "
                 f"<code>@pytest.mark.spec(\"{html.escape(entry.id)}\")</code> in the repository's "
                 f"<code>tests/</code>; a failing one names this entry.</p></section>")
    previous, following = neighbours
    parts.append('<nav class="neighbours">'
                 + (f'<a rel="prev" href="{previous}.html">← {previous}</a>' if previous else "")
                 + (f'<a rel="next" href="{following}.html">{following} →</a>' if following else "")
                 + "</nav>")
    return _page(f"{entry.id}: {entry.title}", "\n".join(parts), root)


def _index_page(grouped, rows: dict[str, dict], max_examples: int | None) -> str:
    entries = {entry.id: entry for entry in rlspec.entries()}
    errata = sum(entry.status == "erratum" for entry in entries.values())
    passed = sum(row["passed"] for row in rows.values())
    verified = (f"{passed} of {len(rows)} verified in this build"
                + (f" ({max_examples} generated cases each)" if max_examples else "")
                if rows else "verification not run in this build")
    parts = [f"<h1>The rlspec specification</h1>\n<p>{len(entries)} entries, {errata} errata; "
             f"{verified}.</p>",
             '<form class="search" action="search.html"><input name="q" type="search" '
             'placeholder="Search titles and IDs, e.g. gae or DPO" aria-label="search">'
             '<button>Search</button></form>', '<nav class="toc"><ol>']
    parts += [f'<li><a href="#{chapter.anchor}">{html.escape(chapter.heading)}</a></li>'
              for chapter, ids in grouped if ids]
    parts.append("</ol></nav>")
    for chapter, ids in grouped:
        if not ids:
            continue
        parts.append(f'<section id="{chapter.anchor}"><h2>{html.escape(chapter.heading)}</h2>'
                     f'<p class="notes">{", ".join(f"<code>{p}.*</code>" for p in chapter.prefixes)}'
                     f" · {html.escape(chapter.notes)}</p><table><tbody>")
        for spec_id in ids:
            entry = entries[spec_id]
            parts.append(f'<tr class="status-{entry.status}"><td><a href="{site_page(spec_id)}">'
                         f"<code>{spec_id}</code></a></td><td>{markup.text_to_html(entry.title)}</td>"
                         f"<td>{_status_badge(entry.status)}</td>"
                         f"<td>{_verification_badge(rows.get(spec_id))}</td></tr>")
        parts.append("</tbody></table></section>")
    return _page("Chapters", "\n".join(parts), "")


def _figures_page(drawn: list[figures.Figure]) -> str:
    parts = ["<h1>Figures</h1><p>Computed when this site was built, from rlspec's oracles.</p>"]
    for item in drawn:
        links = ", ".join(f'<a href="{site_page(i)}"><code>{i}</code></a>' for i in item.spec_ids)
        parts.append(f"<section>{_figure_html(item, '')}<p>Entries: {links}</p></section>")
    return _page("Figures", "\n".join(parts), "")


def _search_page() -> str:
    body = ('<h1>Search</h1><form class="search" action="search.html" role="search">'
            '<input id="query" name="q" type="search" autofocus aria-label="search" '
            'placeholder="a word of a title or an ID, e.g. gae or DPO"></form>'
            '<p id="count"></p><ul id="results"></ul>'
            '<script src="search-index.js"></script><script src="static/search.js"></script>')
    return _page("Search", body, "")


def _search_index() -> str:
    # A script rather than a .json file, so that search also works from file:// (no fetch).
    index = [{"id": entry.id, "title": entry.title, "title_html": markup.text_to_html(entry.title),
              "status": entry.status, "url": site_page(entry.id)}
             for entry in rlspec.entries()]
    return "const SEARCH_INDEX = " + json.dumps(index, ensure_ascii=False, indent=0) + ";\n"


def build(outdir: Path, rows: dict[str, dict], max_examples: int | None = None) -> int:
    """Write the site into ``outdir`` (created; its old pages are replaced) and return the
    number of HTML pages.  ``rows``: verification results by spec ID (may be empty)."""
    outdir = Path(outdir)
    (outdir / "entries").mkdir(parents=True, exist_ok=True)
    (outdir / "figures").mkdir(exist_ok=True)
    shutil.copytree(STATIC_DIRECTORY, outdir / "static", dirs_exist_ok=True)
    drawn = figures.draw_all(outdir / "figures")
    entries = rlspec.entries()
    grouped = chapters([entry.id for entry in entries])
    order = [spec_id for _, ids in grouped for spec_id in ids]
    by_id = {entry.id: entry for entry in entries}
    for position, spec_id in enumerate(order):
        neighbours = (order[position - 1] if position > 0 else None,
                      order[position + 1] if position + 1 < len(order) else None)
        page = _entry_page(by_id[spec_id], rows.get(spec_id), drawn, neighbours, set(by_id))
        (outdir / site_page(spec_id)).write_text(page, encoding="utf-8")
    pages = {"index.html": _index_page(grouped, rows, max_examples),
             "figures.html": _figures_page(drawn), "search.html": _search_page()}
    for name, page in pages.items():
        (outdir / name).write_text(page, encoding="utf-8")
    (outdir / "search-index.js").write_text(_search_index(), encoding="utf-8")
    return len(order) + len(pages)
