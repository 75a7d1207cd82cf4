"""Command line: ``ntkfast <command>`` or ``python -m ntkfast <command>``.

This module only builds the parser and dispatches: each command is a subpackage whose
``command`` module holds its ``HELP``, ``DESCRIPTION``, ``add_arguments(parser)`` and
``main(args)`` (``bench`` -> ``ntkfast.bench.command``, ``paper`` -> ``ntkfast.paper.command``).
Nothing in ntkfast imports this module.
"""
from __future__ import annotations

import argparse
import sys

from .bench import command as bench_command
from .paper import command as paper_command

COMMANDS = {"bench": bench_command, "paper": paper_command}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="ntkfast", description="ntkfast command-line tools")
    parser.add_argument("--version", action="version", version=f"ntkfast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(p)
        p.set_defaults(func=command.main)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
