"""The command line of the site: ``rlspec site OUTDIR`` and ``python -m rlspec.site build``.

Kept apart from :mod:`rlspec.site.build`, which imports matplotlib and the renderers, so that
``rlspec --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path

#: Generated cases per entry when the build runs the verification itself.
DEFAULT_EXAMPLES = 20


def add_arguments(parser) -> None:
    parser.add_argument("outdir", type=Path, help="where to write the site")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--max-examples", type=int, default=DEFAULT_EXAMPLES,
                        help="run `rlspec verify` with this many generated cases per entry "
                             f"while building (default {DEFAULT_EXAMPLES})")
    source.add_argument("--results", type=Path, metavar="FILE",
                        help="show the results saved by `rlspec verify --json > FILE` instead")
    source.add_argument("--no-verify", action="store_true",
                        help="build without verification results")


def run(args) -> int:
    from rlspec.site import build, gather

    started = time.perf_counter()
    if args.no_verify:
        rows, examples = {}, None
    elif args.results:
        rows, examples = gather.read_verification(args.results), None
    else:
        rows, examples = gather.run_verification([], args.max_examples), args.max_examples
    pages = build.build(args.outdir, rows, examples)
    print(f"{pages} pages written to {args.outdir} in {time.perf_counter() - started:.1f} s; "
          f"open {args.outdir / 'index.html'}")
    return 0
