"""Options shared by the commands that run student code, and their validation."""

from __future__ import annotations

import argparse
import math
import sys

from ..sandbox import Limits

MAX_SEED = 2**63 - 1
SUBMISSION_SUFFIXES = (".py", ".ipynb")


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument("--timeout", type=float, default=d.function_timeout, metavar="SECONDS",
                   help=f"wall-clock limit per student function (default {d.function_timeout:g})")
    p.add_argument("--load-timeout", type=float, default=d.load_timeout, metavar="SECONDS",
                   help=f"limit for running the file or notebook cells (default {d.load_timeout:g})")
    p.add_argument("--memory-mb", type=int, default=d.memory_bytes >> 20, metavar="MB",
                   help=f"address-space limit of the student's process (default {d.memory_bytes >> 20})")


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


def limits_from(args: argparse.Namespace) -> Limits:
    """The limits of the command line; a bad value is a one-line usage error (exit 2)."""
    prefix = f"ravine {args.command}" if getattr(args, "command", None) else "ravine"
    problems = [seconds_problem(f"--{name.replace('_', '-')}", getattr(args, name))
                for name in ("timeout", "load_timeout")]
    if args.memory_mb <= 0:
        problems.append(f"--memory-mb must be positive, got {args.memory_mb}")
    for problem in problems:
        if problem:
            print(f"{prefix}: {problem}", file=sys.stderr)
            raise SystemExit(2)
    return Limits(function_timeout=args.timeout, load_timeout=args.load_timeout,
                  memory_bytes=int(args.memory_mb) << 20)
