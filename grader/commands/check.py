"""ravine check: the public checks on one submission, for students."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "run the public checks on your submission (.py or .ipynb) and explain every miss"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ._common import add_limit_arguments

    p.add_argument("submission", help="your .py file or .ipynb notebook")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of text")
    p.add_argument("--plot", metavar="PNG", help="draw your trajectories against the reference "
                   "(failing checks; all of them with --plot-all)")
    p.add_argument("--plot-all", action="store_true", help="with --plot: draw passing checks too")
    add_limit_arguments(p)


def run(args: argparse.Namespace) -> int:
    from problems.update_rules import EXERCISES

    from ..engine import build_checks, grade_submission
    from ..report import render_text
    from ..submission import SubmissionError, load_submission
    from ._common import limits_from

    path = Path(args.submission)
    try:
        sub = load_submission(path)  # a clear message for a file that cannot be graded at all
    except SubmissionError as exc:
        print(f"ravine check: {path}: {exc}", file=sys.stderr)
        return 2
    trajectories: dict = {}
    result = grade_submission(path, build_checks(seed=None), limits=limits_from(args),
                              trajectories=trajectories if args.plot else None)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        hints = {e.function: e.hint for e in EXERCISES.values()}
        sys.stdout.write(render_text(result, hints=hints, public_only=True))
    if sub.kind == "ipynb" and not args.json:
        from ..engine import _is_assignment

        if _is_assignment(sub.notebook):
            from ..answers import answer_formats

            print("\nAnswer parts (a format check only: whether each answer can be read; "
                  "`ravine grade` decides whether it is right):")
            for part_id, ok, message in answer_formats(sub.notebook):
                mark = "ok " if ok else "-- "
                print(f"  {mark} {part_id}: " + message.replace("\n", "\n        "))
    if args.plot:
        from ..plots import plot_trajectories

        panels = [p for p in trajectories.values() if args.plot_all or not p["passed"]]
        if panels:
            out = plot_trajectories(panels, Path(args.plot))
            print(f"plot: {out} ({len(panels)} trajectories)", file=sys.stderr)
        else:
            print("plot: every trajectory check passed; nothing to draw (use --plot-all)", file=sys.stderr)
    return 0 if all(t.passed for t in result.tests) else 1
