"""``ravine verify FILE``: check a derivation step by step (see grader.derivcheck for the format)."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "check a derivation (one step per line, or JSON) step by step against its target"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="derivation file (text or JSON; '-' reads standard input)")
    parser.add_argument("--problem", metavar="ID",
                        help="a derivation part of the problem bank (e.g. TV.c): its symbols, "
                             "assumptions and target are used")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    from ._common import seconds

    parser.add_argument("--timeout", type=seconds, default=None, metavar="S",
                        help="seconds allowed for each symbolic comparison (default 4)")


def run(args: argparse.Namespace) -> int:
    from grader.derivcheck import (DerivationError, check_derivation, check_part_derivation,
                                   parse_derivation)
    from grader.equivalence import DEFAULT_TIMEOUT

    try:
        if args.file == "-":
            source = sys.stdin.read()
        else:
            with open(args.file, "rb") as fh:
                raw = fh.read(1_000_001)
            if len(raw) > 1_000_000:
                raise DerivationError(f"{args.file}: file too large (more than 1 MB)")
            if b"\x00" in raw:
                raise DerivationError(f"{args.file}: binary file, expected text or JSON")
            try:
                source = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DerivationError(f"{args.file}: not UTF-8 text") from None
        derivation = parse_derivation(source)
        problem_id = args.problem or derivation.problem
        timeout = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT
        if problem_id:
            from problems import exercise_registry

            try:
                part = exercise_registry.part(problem_id)
            except KeyError as exc:
                raise DerivationError(str(exc.args[0]) if exc.args else str(exc)) from None
            if part.kind != "derivation":
                raise DerivationError(f"{problem_id} is a {part.kind} part, not a derivation")
            # the same rule as `ravine grade` (target, given, domain, minimum number of steps)
            result = check_part_derivation(part, derivation, timeout=timeout)
        else:
            result = check_derivation(derivation, None, timeout=timeout)
    except FileNotFoundError:
        print(f"ravine verify: {args.file}: no such file", file=sys.stderr)
        return 2
    except IsADirectoryError:
        print(f"ravine verify: {args.file}: is a directory, expected a file", file=sys.stderr)
        return 2
    except DerivationError as exc:
        print(f"ravine verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.render())
    return 0 if result.ok else 1
