"""ravine export TARGET ...: write grades or the bank in another system's format.

A small registry of targets: each is a module exposing ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``, like the top-level commands.
Heavy imports stay inside each target's ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

HELP = "export to another system: prairielearn (a course fragment of questions), canvas (a gradebook CSV)"

# target name -> module; the order is the order of `ravine export --help`.
TARGETS: dict[str, str] = {
    "prairielearn": "grader.export_prairielearn",
    "canvas": "grader.canvas",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="target", metavar="TARGET")
    for name, module_name in TARGETS.items():
        module = importlib.import_module(module_name)
        tp = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(tp)
        tp.set_defaults(_export_run=module.run)


def run(args: argparse.Namespace) -> int:
    if not getattr(args, "target", None):
        print("ravine export: name a target: " + ", ".join(TARGETS), file=sys.stderr)
        return 2
    return int(args._export_run(args) or 0)
