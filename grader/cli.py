"""The ``ravine`` command line: one subcommand per module in ``grader.commands`` (grading) and
``solvers.commands`` (the textbook and the lab: ``derive``, ``manual``, ``race``, ``reproduce``,
``doctor``), shown as two groups by ``ravine --help``.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``, and keeps heavy imports (sympy, matplotlib) inside
``run`` so that ``ravine check`` starts without paying for them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import textwrap
from typing import NoReturn, Sequence

# name -> module; the order is the order of ``ravine --help`` (grading first, then the textbook's).
COMMANDS: dict[str, str] = {
    "check": "grader.commands.check",
    "grade": "grader.commands.grade",
    "report": "grader.commands.report",
    "gradescope": "grader.commands.gradescope",
    "prairielearn": "grader.commands.prairielearn",
    "export": "grader.commands.export",
    "selftest": "grader.commands.selftest",
    "assign": "grader.commands.assign",
    "verify": "grader.commands.verify",
    "derive": "solvers.commands.derive",
    "manual": "solvers.commands.manual",
    "race": "solvers.commands.race",
    "reproduce": "solvers.commands.reproduce",
    "doctor": "solvers.commands.doctor",
}
# The commands that serve the solution manual and the lab, listed apart in ``ravine --help``.
TEXTBOOK_COMMANDS = tuple(name for name, module in COMMANDS.items() if module.startswith("solvers."))


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``ravine check: argument --timeout: ... (see ravine check --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, but a text with line breaks (the textbook commands' list) is kept as is."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    modules = {name: importlib.import_module(module_name) for name, module_name in COMMANDS.items()}
    textbook = "\n".join(
        textwrap.fill(modules[name].HELP, shutil.get_terminal_size().columns - 2,
                      initial_indent=f"    {name:<12}", subsequent_indent=" " * 16)
        for name in TEXTBOOK_COMMANDS)
    parser = _Parser(
        prog="ravine",
        description="Autograder and machine-checked solution manual for SGD, momentum and Nesterov. "
                    "Exit status: 0 success, 1 checks failed (or a derivation did not verify), "
                    "2 usage error or unreadable input.",
        epilog=f"solution manual and lab commands:\n{textbook}",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ravine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="grading commands")
    for name, module in modules.items():
        # a textbook command is parsed like any other but listed in the epilog, not among the grader's
        listed = {} if name in TEXTBOOK_COMMANDS else {"help": module.HELP}
        p = sub.add_parser(name, description=module.HELP, **listed)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A student's text (a lone surrogate in a notebook, an undecodable file name) must not
    # crash a print: what cannot be encoded is shown escaped.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr,attr-defined]
        except (AttributeError, ValueError):
            pass
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # said by the command's own parser: "ravine check: unrecognized arguments: ..."
            getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # a usage error (2), --help or --version (0): a status, as for a run
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    from .commands._common import UsageError

    prog = f"ravine {args.command}"
    # One mode for every output: what ravine creates is the owner's only (files 0600, directories
    # 0700), whatever the umask. Grades, seeds and per-student numbers are private; share by chmod.
    old_umask = os.umask(0o077)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("ravine: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except UsageError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A file or directory that cannot be read or written: the path and the system's reason.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        os.umask(old_umask)
