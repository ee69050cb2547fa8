"""Options shared by the commands that run student code."""

from __future__ import annotations

import argparse

from ..sandbox import Limits


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument("--timeout", type=float, default=d.function_timeout, metavar="SECONDS",
                   help=f"wall-clock limit per student function (default {d.function_timeout:g})")
    p.add_argument("--load-timeout", type=float, default=d.load_timeout, metavar="SECONDS",
                   help=f"limit for running the file or notebook cells (default {d.load_timeout:g})")
    p.add_argument("--memory-mb", type=int, default=d.memory_bytes >> 20, metavar="MB",
                   help=f"address-space limit of the student's process (default {d.memory_bytes >> 20})")


def limits_from(args: argparse.Namespace) -> Limits:
    for name in ("timeout", "load_timeout", "memory_mb"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"ravine: --{name.replace('_', '-')} must be positive")
    return Limits(function_timeout=args.timeout, load_timeout=args.load_timeout,
                  memory_bytes=int(args.memory_mb) << 20)
