"""ravine selftest: the bank's question tests, for instructors after an edit and for CI."""

from __future__ import annotations

import argparse
import sys
import time

HELP = ("check the bank against itself for N student variants: references get full marks, anticipated "
        "answers and update-rule mutants are each recognised, derivations verify")

MAX_LISTED = 40


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..selftest import SECTIONS

    p.add_argument("--variants", type=int, default=50, metavar="N",
                   help="student variants (numbers drawn as `ravine assign` does) and grading seeds of the "
                        "hidden checks (default 50)")
    p.add_argument("--only", action="append", choices=SECTIONS, metavar="PART",
                   help=f"run only this part ({', '.join(SECTIONS)}); repeatable")
    p.add_argument("--no-simulate", action="store_true",
                   help="verify the derivations' steps but skip their numeric simulations")


def run(args: argparse.Namespace) -> int:
    from ..selftest import SECTIONS, selftest

    if args.variants < 1:
        print("ravine selftest: --variants must be at least 1", file=sys.stderr)
        return 2
    sections = tuple(args.only) if args.only else SECTIONS
    started = time.perf_counter()
    report = selftest(variants=args.variants, sections=sections, simulate=not args.no_simulate)
    total = time.perf_counter() - started
    print(f"ravine selftest: {args.variants} variants; " + ", ".join(
        f"{name} {report.seconds[name]:.1f} s" for name in sections))
    for what, n in sorted(report.counts.items()):
        print(f"  {what}: {n}")
    if report.failures:
        print(f"FAILED: {len(report.failures)} problem(s)")
        for f in report.failures[:MAX_LISTED]:
            print(f"  {f}")
        if len(report.failures) > MAX_LISTED:
            print(f"  ... and {len(report.failures) - MAX_LISTED} more")
        print(f"({total:.1f} s)")
        return 1
    print(f"OK: everything holds ({total:.1f} s)")
    return 0
