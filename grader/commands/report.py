"""ravine report: the class report from a grading directory's results.json files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write the class report (report.md, report.png, items.csv) from DIR/*/results.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="the --out directory of `ravine grade`")


def run(args: argparse.Namespace) -> int:
    from ..report import ResultsError, atomic_write, class_report, read_results
    from ._common import UsageError

    out = Path(args.dir)
    if not out.is_dir():
        raise UsageError(f"{out}: no such directory")
    try:
        results = read_results(out, strict=True)
    except ResultsError as exc:
        raise UsageError(f"{exc} (not a results.json written by `ravine grade`)") from None
    if not results:
        print(f"ravine report: no */results.json under {out}", file=sys.stderr)
        return 2
    atomic_write(out / "report.md", class_report(results, plot_path=out / "report.png",
                                                   items_path=out / "items.csv"))
    print(f"wrote {out / 'report.md'}, {out / 'report.png'} and {out / 'items.csv'} ({len(results)} submissions)")
    return 0
