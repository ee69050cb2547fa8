"""Options shared by the commands that run student code."""

from __future__ import annotations

import argparse
import sys

from ..sandbox import ISOLATION_MODES, Isolation, IsolationError, Limits, resolve

ISOLATION_HELP = ("how student code is confined (default auto: namespaces if bubblewrap works here, else uid "
                  "when running as root, else process; see README 'How student code is run')")


def add_isolation_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--isolation", choices=ISOLATION_MODES, default="auto", help=ISOLATION_HELP)


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    d = Limits()
    p.add_argument("--timeout", type=float, default=d.function_timeout, metavar="SECONDS",
                   help=f"wall-clock limit per student function (default {d.function_timeout:g})")
    p.add_argument("--load-timeout", type=float, default=d.load_timeout, metavar="SECONDS",
                   help=f"limit for running the file or notebook cells (default {d.load_timeout:g})")
    p.add_argument("--memory-mb", type=int, default=d.memory_bytes >> 20, metavar="MB",
                   help=f"address-space limit of the student's process (default {d.memory_bytes >> 20})")
    add_isolation_argument(p)


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
    for name in ("timeout", "load_timeout", "memory_mb"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"ravine: --{name.replace('_', '-')} must be positive")
    isolation_from(command or args.command, args.isolation)
    return Limits(function_timeout=args.timeout, load_timeout=args.load_timeout,
                  memory_bytes=int(args.memory_mb) << 20, isolation=args.isolation)
