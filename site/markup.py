"""Spec entry Markdown to HTML, with the TeX converted to MathML at build time.

The entries write math as ``$...$`` (inline, possibly wrapped over lines) and ``$$...$$``
(display).  Markdown would mangle TeX (``_`` and ``*`` read as emphasis, ``\\`` as escapes),
so the math is cut out first, replaced by placeholders, and put back as MathML after the
Markdown is rendered.  MathML needs no JavaScript: Chromium and Firefox draw it natively,
which a site that may download nothing at run time requires.  Code spans and fenced code
blocks keep their dollar signs.
"""

from __future__ import annotations

import html
import re

import latex2mathml.converter
import markdown

# One alternation, so that whichever token starts first wins: a ``$`` inside code is code.
_TOKENS = re.compile(
    r"(?P<fence>^```.*?^```)"
    r"|(?P<code>`(?:[^`\n]|\n(?!\s*\n))+`)"      # code spans may wrap too
    r"|\$\$(?P<display>.+?)\$\$"
    r"|\$(?P<inline>(?:[^$\n]|\n(?!\s*\n))+?)\$",   # inline math may wrap, not span paragraphs
    re.S | re.M,
)

# TeX that latex2mathml does not know, rewritten to TeX it does (same meaning).
_TEX_SPELLINGS = {r"\arg": r"\operatorname{arg}", r"\lbrace": r"\{", r"\rbrace": r"\}"}
_UNKNOWN_COMMAND = re.compile(r">\\[A-Za-z]+<")

_PLACEHOLDER = "MATHPLACEHOLDER{}X"
_PLACEHOLDERS = re.compile(r"MATHPLACEHOLDER(\d+)X")


class UnrenderedMathError(ValueError):
    """A formula that latex2mathml cannot convert; the site must not show raw TeX."""


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """MathML for one TeX formula, e.g. ``tex_to_mathml("x^2")`` contains ``<msup>``."""
    source = tex.strip()
    for spelling, known in _TEX_SPELLINGS.items():
        source = re.sub(re.escape(spelling) + r"(?![A-Za-z])", lambda _: known, source)
    try:
        mathml = latex2mathml.converter.convert(source, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises several unrelated types on bad TeX
        raise UnrenderedMathError(f"cannot convert ${tex}$: {type(error).__name__}: {error}") \
            from None
    unknown = _UNKNOWN_COMMAND.search(mathml)
    if unknown:
        raise UnrenderedMathError(f"unknown TeX command {unknown.group(0)[1:-1]} in ${tex}$")
    return mathml


def _cut_out_math(text: str) -> tuple[str, list[str]]:
    """The text with each formula replaced by a placeholder, and the formulas as MathML."""
    formulas: list[str] = []

    def replace(match: re.Match) -> str:
        if match.group("fence") or match.group("code"):
            return match.group(0)
        display = match.group("display") is not None
        formulas.append(tex_to_mathml(match.group("display" if display else "inline"), display))
        return _PLACEHOLDER.format(len(formulas) - 1)

    return _TOKENS.sub(replace, text), formulas


def _put_back_math(rendered: str, formulas: list[str]) -> str:
    return _PLACEHOLDERS.sub(lambda match: formulas[int(match.group(1))], rendered)


def markdown_to_html(text: str, link_code=lambda code: None) -> str:
    """Render Markdown with math.  ``link_code(text)`` may return a URL for a code span
    (the site links a spec ID written as code to its page)."""
    without_math, formulas = _cut_out_math(text)
    rendered = markdown.markdown(without_math, extensions=["tables", "fenced_code"])

    def link(match: re.Match) -> str:
        url = link_code(html.unescape(match.group(1)))
        return f'<a href="{url}">{match.group(0)}</a>' if url else match.group(0)

    rendered = re.sub(r"<code>([^<]*)</code>", link, rendered)
    return _put_back_math(rendered, formulas)


def text_to_html(text: str) -> str:
    """Escape one line of plain text (a title, a source) and render its math."""
    without_math, formulas = _cut_out_math(text)
    return _put_back_math(html.escape(without_math), formulas)
