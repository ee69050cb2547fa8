"""Options shared by the commands, and the argparse types that validate them.

A bad value is refused when the command line is parsed, before anything runs, with
``ravine COMMAND: argument --X: why`` on one line and exit status 2 (see ``grader.cli``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable

from solvers.cli_args import output_dir, output_file, probe_writable  # noqa: F401 - shared with the lab commands

from ..sandbox import ISOLATION_MODES, Isolation, IsolationError, Limits, resolve

ISOLATION_HELP = ("how student code is confined (default auto: namespaces if bubblewrap works here, else uid "
                  "when running as root, else process; see README 'How student code is run')")


def add_isolation_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--isolation", choices=ISOLATION_MODES, default="auto", help=ISOLATION_HELP)

MAX_SECONDS = 86400.0  # a day: longer is a typo, and select()/poll() overflow on 1e300
MAX_MEMORY_MB = 1 << 20  # 1 TiB
MAX_SEED = 2**63 - 1
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
SUBMISSION_SUFFIXES = (".py", ".ipynb")


def seconds(text: str) -> float:
    """A positive, finite number of seconds (not 0, inf or nan)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, at most {MAX_SECONDS:g}, got {text!r}")
    return value


def bounded_int(lo: int, hi: int, what: str = "an integer") -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be {what} from {lo} to {hi}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in its own messages
    return parse


def seed(text: str) -> int:
    """A grading seed: an integer from 0 to 2**63 - 1 (numpy's generators refuse negative ones)."""
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**63 - 1, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 2**63 - 1, got {text!r}")
    return value


def seed_from_env(name: str = "RAVINE_SEED") -> int | None:
    """The seed in ``$RAVINE_SEED`` (None when unset or empty); a bad one is a usage error."""
    text = os.environ.get(name, "")
    if not text.strip():
        return None
    try:
        return seed(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{name}: {exc}") from None


class UsageError(Exception):
    """A bad option or input found after parsing: ``grader.cli`` prints it on one line, exit 2."""


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument("--timeout", type=seconds, default=d.function_timeout, metavar="SECONDS",
                   help=f"wall-clock limit per student function (default {d.function_timeout:g})")
    p.add_argument("--load-timeout", type=seconds, default=d.load_timeout, metavar="SECONDS",
                   help=f"hard limit for running the file or notebook cells, all together "
                        f"(default {d.load_timeout:g}); must be larger than --cell-timeout")
    p.add_argument("--cell-timeout", type=seconds, default=d.cell_timeout, metavar="SECONDS",
                   help=f"limit for one notebook cell (or a .py file's top-level code): a cell over it "
                        f"is stopped and the later cells still run (default {d.cell_timeout:g})")
    p.add_argument("--memory-mb", type=bounded_int(1, MAX_MEMORY_MB, "a number of MB"),
                   default=d.memory_bytes >> 20, metavar="MB",
                   help=f"address-space limit of the student's process (default {d.memory_bytes >> 20})")
    add_isolation_argument(p)


def seconds_problem(option: str, value: object) -> str | None:
    """Why ``value`` is not a usable number of seconds (finite, positive), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return f"{option} must be a positive, finite number of seconds, got {value!r}"
    return None


def seed_problem(option: str, value: object) -> str | None:
    """Why ``value`` is not a usable grading seed (a whole number from 0 to 2**63-1), or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        return f"{option} must be a whole number from 0 to {MAX_SEED}, got {value!r}"
    return None


def file_problem(option: str, value: object) -> str | None:
    """Why ``value`` is not a submission file name (``hw.py``/``hw.ipynb``, no directory), or None."""
    if not isinstance(value, str) or not value or "/" in value or "\\" in value or value in (".", ".."):
        return f"{option} must be a file name such as hw.py or hw.ipynb (no directory), got {value!r}"
    if not value.endswith(SUBMISSION_SUFFIXES):
        return f"{option} must name a .py or .ipynb file (what students submit), got {value!r}"
    return None


def isolation_from(command: str, requested: str) -> Isolation:
    """Probe the requested isolation once for this run; a mode that cannot work is a usage error
    (exit 2); process mode's warning goes to stderr."""
    try:
        iso = resolve(requested)
    except IsolationError as exc:
        print(f"ravine {command}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if iso.warning:
        print(f"ravine {command}: warning: {iso.warning}", file=sys.stderr)
    return iso


def limits_from(args: argparse.Namespace, command: str = "") -> Limits:
    """The limits of the command line (validated when parsed) and its isolation mode, probed now."""
    name = command or args.command
    if args.cell_timeout >= args.load_timeout:
        print(f"ravine {name}: --cell-timeout ({args.cell_timeout:g} s) must be smaller than --load-timeout "
              f"({args.load_timeout:g} s), the hard limit for all cells together", file=sys.stderr)
        raise SystemExit(2)
    isolation_from(name, args.isolation)
    return Limits(function_timeout=args.timeout, load_timeout=args.load_timeout,
                  cell_timeout=args.cell_timeout,
                  memory_bytes=int(args.memory_mb) << 20, isolation=args.isolation)
