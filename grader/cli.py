"""The ``ravine`` command line: one subcommand per module in ``grader.commands``.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and keeps heavy imports (sympy, matplotlib) inside
``run`` so that ``ravine check`` starts without paying for them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# name -> module; the order is the order of ``ravine --help``.
COMMANDS: dict[str, str] = {
    "check": "grader.commands.check",
    "grade": "grader.commands.grade",
    "report": "grader.commands.report",
    "gradescope": "grader.commands.gradescope",
    "export": "grader.commands.export",
    "assign": "grader.commands.assign",
    "verify": "grader.commands.verify",
    "derive": "grader.commands.derive",
    "manual": "grader.commands.manual",
    "race": "grader.commands.race",
    "reproduce": "grader.commands.reproduce",
    "doctor": "grader.commands.doctor",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ravine",
        description="Autograder and machine-checked solution manual for SGD, momentum and Nesterov.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("ravine: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
