"""``python -m rlspec.site build OUTDIR [--max-examples N | --results FILE | --no-verify]``."""

import argparse
import sys

from rlspec.site import command

parser = argparse.ArgumentParser(prog="python -m rlspec.site",
                                 description="Build the rlspec documentation site.")
commands = parser.add_subparsers(dest="command", required=True)
command.add_arguments(commands.add_parser("build", help="write the static site into OUTDIR"))
sys.exit(command.run(parser.parse_args()))
