"""The batteries: one module per chapter of the notes, each registering its checks.

A battery knows one formula's canonical signature, how to make cases (edge cases,
hypothesis-generated cases, named toy MDPs) and how to judge a candidate's answer against
an oracle from ``rlspec.oracles`` with the rules of :mod:`rlspec.checks.core`.
``rlspec.check`` runs it (:mod:`rlspec.checks.runner`).

A check is addressed by the ID of the spec entry it verifies (``gae.advantage``); its
short ``name`` (``gae``) stays valid as an alias.  Several entries may share one battery
(``mdp.bellman-matrix-form`` is judged by the ``dp.policy-evaluation`` battery); a report
names the entry that was asked for.

To add a check: in the chapter's module (any module in this folder is imported), call
:func:`register` beside the cases and the judge; give it a spec entry whose ``check``
names it; add a catalogued bug in ``tests/<chapter>/bugs_<chapter>.py`` that it must reject.

**Variants.**  A documented convention that real code deliberately uses (SB3's epsilon
inside the log of the squashed Gaussian, verl's dual clip) is a *variant* of a check: its
own exact formula and oracle, addressed as ``ID@variant`` or ``alias@variant``
(``sac.squashed-gaussian-log-prob@sb3``), described in the entry's "Variants" section and
registered with :func:`register_variant` (in ``library_variants``).  A variant is never a
looser tolerance; the report and its JSON name the variant that was judged.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from rlspec.checks.core import Case, Mismatch, UsageError

Judge = Callable[[Case, "Caller", float], "Mismatch | None"]  # noqa: F821


@dataclass(frozen=True)
class LargeCases:
    """Generated MDPs of 10^4 to 10^6 states for a check of a solver built for large
    problems (``rlspec check --large N``): ``make(max_states)`` yields them smallest first,
    with ``transitions`` as a CSR matrix (S * A, S); ``judge`` compares with a certified
    answer, whose proven error bound widens the tolerance."""

    make: Callable[[int], Iterator[Case]]
    judge: Judge


@dataclass(frozen=True)
class Battery:
    name: str
    spec_id: str
    summary: str
    signature: str
    judge: Judge
    make_generated: Callable
    make_edge_cases: Callable[[], list[Case]]
    make_toy_cases: Callable[[], list[Case]] = list
    variant: str | None = None
    users: str = ""
    large: LargeCases | None = None


BATTERIES: dict[str, Battery] = {}
#: (check alias, variant name) -> the variant's battery; kept apart from BATTERIES so that
#: every alias there stays one formula of one entry.
VARIANTS: dict[tuple[str, str], Battery] = {}


def register(**fields) -> None:
    """Add a battery; its name must be new."""
    if fields["name"] in BATTERIES:
        raise ValueError(f"a check called {fields['name']!r} is already registered")
    BATTERIES[fields["name"]] = Battery(**fields)


def register_variant(*, of: str, variant: str, users: str, **fields) -> None:
    """Add the variant ``variant`` of the check ``of`` (an alias): a library convention with
    its own formula.  ``users`` says who uses it; fields not given (cases, signature) are
    the base check's."""
    base = BATTERIES[of]
    if (of, variant) in VARIANTS:
        raise ValueError(f"{of}@{variant} is already registered")
    inherited = {name: getattr(base, name) for name in
                 ("spec_id", "summary", "signature", "make_generated", "make_edge_cases")}
    VARIANTS[of, variant] = Battery(name=of, variant=variant, users=users,
                                    **{**inherited, **fields})


def variants_of(alias: str) -> list[Battery]:
    """The variants of the check ``alias``, by name."""
    return [VARIANTS[key] for key in sorted(VARIANTS) if key[0] == alias]


def find(name: str) -> tuple[Battery, str]:
    """The battery for a spec entry ID or a check alias (with ``@variant`` for a variant),
    and the entry ID a report names; a UsageError with the closest names and the checks on
    that topic otherwise."""
    from rlspec.spec import registry

    if "@" in name:
        base_name, variant = name.split("@", 1)
        battery, spec_id = find(base_name)
        if (battery.name, variant) not in VARIANTS:
            known = ", ".join(v.variant for v in variants_of(battery.name)) or "none"
            raise UsageError(f"{base_name} has no variant {variant!r}; its variants: {known}")
        return VARIANTS[battery.name, variant], spec_id

    entries = {entry.id: entry for entry in registry.entries()}
    if name in entries:
        return BATTERIES[entries[name].check], name
    if name in BATTERIES:
        return BATTERIES[name], BATTERIES[name].spec_id
    known = sorted(entries) + sorted(BATTERIES)
    close = difflib.get_close_matches(name, known, n=4, cutoff=0.5)
    close += [spec_id for spec_id in search(name) if spec_id not in close][:6 - len(close)]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UsageError(f"no check called {name!r}{hint} (rlspec list checks shows them all; "
                     f"rlspec list checks WORD searches)")


def search(words: str) -> list[str]:
    """The spec IDs of the checks whose ID, alias, title or summary holds every word."""
    from rlspec.spec import registry

    wanted = words.lower().replace("-", " ").split()
    found = []
    for entry in registry.entries():
        battery = BATTERIES[entry.check]
        text = " ".join((entry.id, entry.title, battery.name, battery.summary)).lower()
        if all(word in text.replace("-", " ") for word in wanted):
            found.append(entry.id)
    return found


def _import_chapters() -> None:
    """Every module of this package is a chapter that registers its batteries on import."""
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        importlib.import_module(f"{__name__}.{module.name}")


_import_chapters()  # kept last: the chapters import register from this module
