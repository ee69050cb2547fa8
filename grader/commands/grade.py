"""ravine grade: public and hidden checks on many submissions, for instructors."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

HELP = "grade submissions (files or directories) with public and hidden checks; write results and a gradebook"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ._common import add_limit_arguments

    p.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                   help=".py / .ipynb files, or directories holding them")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output directory: DIR/<name>/results.json, DIR/gradebook.csv, DIR/report.md")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    p.add_argument("--seed", type=int, default=None,
                   help="grading seed for the hidden checks' inputs (default: $RAVINE_SEED, which student "
                        "processes cannot read, unlike the command line; else a fresh random seed, "
                        "recorded in DIR/grading.json so a regrade can reuse it)")
    p.add_argument("--roster", metavar="CSV", help="roster (column id): notebooks named <id>.ipynb get "
                   "their answer parts graded with that student's numbers (needs --secret-file)")
    p.add_argument("--secret-file", metavar="F", help="the course secret used by `ravine assign`")
    p.add_argument("--no-report", action="store_true", help="skip the class report (report.md, report.png)")
    add_limit_arguments(p)


def run(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..engine import grade_batch
    from ..report import atomic_write, class_report, render_table
    from ..submission import collect_submissions
    from ..sandbox import resolve
    from ._common import limits_from

    if args.jobs < 1:
        print("ravine grade: --jobs must be at least 1", file=sys.stderr)
        return 2
    limits = limits_from(args)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"ravine grade: cannot create output directory {out}: {exc.strerror}", file=sys.stderr)
        return 2
    paths, bad = collect_submissions(args.submissions)
    for p, reason in bad:
        print(f"ravine grade: {p}: {reason}", file=sys.stderr)
    # A bad *file* is a student's submission: it gets a row of zeros with the reason.
    # An empty directory is only warned about.
    rejected = [(p, reason) for p, reason in bad if not p.is_dir()]
    if not paths and not rejected:
        print("ravine grade: no .py or .ipynb submissions found in "
              + ", ".join(args.submissions), file=sys.stderr)
        return 2
    answers = None
    if args.roster or args.secret_file:
        from ..assign import load_course
        from ..engine import AnswerKey

        try:
            students, secret = load_course(args.roster, args.secret_file)
        except ValueError as exc:
            print(f"ravine grade: {exc}", file=sys.stderr)
            return 2
        answers = AnswerKey(frozenset(s.id for s in students), secret)
    seed = args.seed
    if seed is None and os.environ.get("RAVINE_SEED"):
        try:
            seed = int(os.environ["RAVINE_SEED"])
        except ValueError:
            print(f"ravine grade: RAVINE_SEED must be an integer, got {os.environ['RAVINE_SEED']!r}",
                  file=sys.stderr)
            return 2
    if seed is None:
        seed = secrets.randbelow(2**31)
    started = time.time()
    print(f"ravine grade: {len(paths) + len(rejected)} submission(s), jobs={args.jobs}", file=sys.stderr)
    batch = grade_batch(paths, out, seed=seed, jobs=args.jobs, limits=limits, rejected=rejected,
                        answers=answers)
    manifest = {
        "ravine_version": __version__,
        "seed": seed,
        "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 3),
        "submissions": [r.submission for r in batch.results],
        "limits": {"function_timeout": limits.function_timeout, "load_timeout": limits.load_timeout,
                   "memory_bytes": limits.memory_bytes},
        "isolation": resolve(limits.isolation).record(),  # the mode that graded it (+ a warning)
    }
    # grading.json holds the seed of the hidden checks: it is for the instructor, never for students.
    atomic_write(out / "grading.json", json.dumps(manifest, indent=2) + "\n")
    if not args.no_report:
        # From memory, not from DIR/*/results.json: a submission's process (same user) could
        # have planted extra folders or malformed files there.
        atomic_write(out / "report.md", class_report([r.to_dict() for r in batch.results],
                                                     plot_path=out / "report.png"))
    sys.stdout.write(render_table(batch.results))
    print(f"\nWrote {out}/<name>/results.json, {out}/gradebook.csv"
          + ("" if args.no_report else f", {out}/report.md, {out}/report.png"), file=sys.stderr)
    return 0
