"""ravine check: the public checks on one submission, for students."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "run the public checks on your submission (.py or .ipynb) and explain every miss"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ._common import PLOT_SUFFIXES, add_limit_arguments, output_file

    p.add_argument("submission", help="your .py file or .ipynb notebook")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of text")
    p.add_argument("--plot", metavar="PNG", type=output_file(*PLOT_SUFFIXES),
                   help="draw your trajectories against the reference into PNG (.png, .svg or .pdf; "
                        "failing checks; all of them with --plot-all)")
    p.add_argument("--plot-all", action="store_true",
                   help="with --plot: draw passing checks too (an error without --plot)")
    add_limit_arguments(p)


def run(args: argparse.Namespace) -> int:
    from problems.exercise_registry import EXERCISES

    from ..engine import build_checks, grade_submission
    from ..gradescope import results_json
    from ..report import render_text
    from ..submission import SubmissionError, load_submission
    from ._common import UsageError, limits_from

    if args.plot_all and not args.plot:
        raise UsageError("--plot-all needs --plot FILE (the picture to draw into)")
    path = Path(args.submission)
    try:
        sub = load_submission(path)  # a clear message for a file that cannot be graded at all
    except SubmissionError as exc:
        # the reason names the file already ("nope.py: no such file", "syntax error in hw.py, ...")
        reason = str(exc)
        shown = reason if (path.name in reason or str(path) in reason) else f"{path}: {reason}"
        print(f"ravine check: {shown}", file=sys.stderr)
        return 2
    trajectories: dict = {}
    # answer_parts=False: check never grades an answer part (it would need the student's own
    # numbers and would show verdicts and reference answers); it only says whether each one reads.
    result = grade_submission(path, build_checks(seed=None), limits=limits_from(args),
                              trajectories=trajectories if args.plot else None, answer_parts=False)
    formats: list[tuple[str, bool, str]] = []
    if sub.kind == "ipynb":
        from ..engine import _is_assignment

        if _is_assignment(sub.notebook):
            from ..answer_grading import answer_formats

            formats = answer_formats(sub.notebook)
    if args.json:
        data = results_json(result)
        if formats:
            data["answers"] = [{"part": pid, "reads": ok, "message": why} for pid, ok, why in formats]
        print(json.dumps(data, indent=2))
    else:
        hints = {e.function: (e.hint, e.hint_for) for e in EXERCISES.values()}
        sys.stdout.write(render_text(result, hints=hints, public_only=True))
        if formats:
            sys.stdout.write(render_answer_formats(formats))
    if args.plot:
        from ..trajectory_plots import plot_trajectories

        panels = [p for p in trajectories.values() if args.plot_all or not p["passed"]]
        if panels:
            out = plot_trajectories(panels, Path(args.plot))
            print(f"plot: {out} ({len(panels)} trajectories)", file=sys.stderr)
        else:
            print("plot: every trajectory check passed; nothing to draw (use --plot-all)", file=sys.stderr)
    ok = all(t.passed for t in result.tests) and all(reads for _, reads, _ in formats)
    return 0 if ok else 1


def render_answer_formats(formats: list[tuple[str, bool, str]]) -> str:
    """Whether each answer part reads: ``reads`` or ``cannot be read`` and the parser's message.

    Nothing else: no verdict, no reference, no feedback (those come with the grade).
    """
    lines = ["", "Answer parts: whether each answer can be read (never whether it is right; "
             "`ravine grade` decides that)"]
    for pid, reads, why in formats:
        if reads:
            lines.append(f"  {pid:<6} reads")
            continue
        first, *rest = why.splitlines() or [""]
        lines.append(f"  {pid:<6} cannot be read: {first}")
        lines += ["        " + line for line in rest]  # the formula and its caret
    n = sum(1 for _, reads, _ in formats if reads)
    lines.append("")
    lines.append(f"Answers that read: {n}/{len(formats)}")
    return "\n".join(lines) + "\n"
