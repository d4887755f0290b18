"""The site's pieces without a browser: TeX to MathML, entry sections, chapters, one page."""

import re

import pytest

pytest.importorskip("latex2mathml", reason="the site needs the extra: pip install -e '.[site]'")
pytest.importorskip("markdown", reason="the site needs the extra: pip install -e '.[site]'")

import rlspec  # noqa: E402
from rlspec.site import build, gather, markup  # noqa: E402


def test_inline_and_display_math_become_mathml_and_code_keeps_its_dollars():
    rendered = markup.markdown_to_html("Cost $x_1^2$ and `echo $HOME`:\n\n$$\n\\frac{a}{b}\n$$\n")
    assert "<msubsup>" in rendered and 'display="block"' in rendered
    assert "<mfrac>" in rendered and "\\frac" not in rendered
    assert "<code>echo $HOME</code>" in rendered


def test_math_and_code_spans_wrapped_over_two_lines_are_still_recognised():
    rendered = markup.markdown_to_html("see `f(a,\nb)` and $a +\nb$ here")
    assert "$" not in rendered and "<code>f(a,\nb)</code>" in rendered and "<math" in rendered


def test_markdown_does_not_read_tex_underscores_as_emphasis():
    rendered = markup.markdown_to_html("$a_t$ and $b_t$")
    assert "<em>" not in rendered and rendered.count("<math") == 2


def test_tex_commands_latex2mathml_lacks_are_rewritten_and_unknown_ones_refused():
    argmax = markup.tex_to_mathml(r"\arg\max_a Q(s, a)")
    assert ">arg<" in argmax and "\\" not in argmax
    assert "&#x0007B;" in markup.tex_to_mathml(r"\lbrace x \rbrace")  # {
    with pytest.raises(markup.UnrenderedMathError, match=r"\\nosuchcommand"):
        markup.tex_to_mathml(r"\nosuchcommand x")


def test_an_entry_id_written_as_code_links_to_its_page():
    rendered = markup.markdown_to_html("see `gae.advantage` and `x`",
                                       lambda code: f"{code}.html" if code == "gae.advantage" else None)
    assert '<a href="gae.advantage.html"><code>gae.advantage</code></a>' in rendered
    assert "<code>x</code>" in rendered and 'href="x.html"' not in rendered


def test_sections_split_at_second_level_headings_outside_code():
    body = "# T\nintro\n## Statement\nx\n```\n## not a heading\n```\n## Erratum\ny"
    assert gather.sections(body) == [("", "# T\nintro"), ("Statement", "x\n```\n## not a heading\n```"),
                                     ("Erratum", "y")]


def test_every_entry_falls_in_a_chapter_of_spec_readme_in_its_order():
    spec_ids = [entry.id for entry in rlspec.entries()]
    grouped = build.chapters(spec_ids)
    placed = [spec_id for _, ids in grouped for spec_id in ids]
    assert sorted(placed) == sorted(spec_ids)
    assert [chapter.prefixes[0] for chapter, _ in grouped][:3] == ["mdp", "dp", "mc"]
    assert all(chapter.notes for chapter, _ in grouped), "an ID prefix missing from spec/README.md"


def test_every_entry_renders_without_raw_tex(tmp_path):
    # The same conversion the site runs, on every entry; a TeX command latex2mathml does
    # not know raises UnrenderedMathError and names the formula.
    for entry in rlspec.entries():
        prose = re.sub(r"<pre>.*?</pre>|<code>.*?</code>|<math.*?</math>", "",
                       markup.markdown_to_html(entry.body), flags=re.S)
        assert "$" not in prose, f"{entry.id}: a $ left in {prose[prose.index('$') - 60:][:120]!r}"
