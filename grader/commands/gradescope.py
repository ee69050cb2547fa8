"""ravine gradescope: run as a Gradescope autograder, or build the autograder zip."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "grade inside Gradescope (/autograder layout), or build the autograder zip with --make-zip"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--make-zip", metavar="ZIP", help="write the autograder zip to upload to Gradescope")
    p.add_argument("--seed", type=int, help="grading seed for the hidden checks (with --make-zip)")
    p.add_argument("--file", help="the file students submit, e.g. hw.ipynb (default: the only .py/.ipynb)")
    p.add_argument("--timeout", type=float, help="seconds per student function")
    p.add_argument("--roster", metavar="CSV", help="with --make-zip: roster with id and email columns, so "
                   "assignment notebooks are graded with each submitter's own numbers")
    p.add_argument("--secret-file", metavar="F", help="with --make-zip and --roster: the course secret")
    p.add_argument("--config", default="/autograder/source/ravine-gradescope.json",
                   help="settings written by --make-zip")
    p.add_argument("--submission-dir", default="/autograder/submission")
    p.add_argument("--results", default="/autograder/results/results.json")
    from ._common import add_isolation_argument

    add_isolation_argument(p)


# Inside Gradescope's image everything runs as root, so a submission could read the settings
# (the seed, and the course secret for per-student numbers) and print them in its feedback.
# Its process has no capabilities (CAP_DAC_OVERRIDE included), so mode 000 locks it out; the
# grader has already read the file.  Only under /autograder: never chmod an instructor's copy.
GRADESCOPE_ROOT = "/autograder/"


def _hide_settings(path: Path) -> None:
    try:
        if str(path.resolve()).startswith(GRADESCOPE_ROOT):
            path.chmod(0)
    except OSError:
        pass


def run(args: argparse.Namespace) -> int:
    from ..gradescope import grade_gradescope, make_autograder_zip

    if args.make_zip:
        if args.seed is None:
            print("ravine gradescope: --make-zip needs --seed (the hidden checks' inputs come from it)",
                  file=sys.stderr)
            return 2
        students = secret = None
        if args.roster or args.secret_file:
            from ..assign import load_course

            try:
                roster, secret = load_course(args.roster, args.secret_file)
            except ValueError as exc:
                print(f"ravine gradescope: {exc}", file=sys.stderr)
                return 2
            students = {s.email: s.id for s in roster if s.email}
            if not students:
                print("ravine gradescope: the roster has no email column values; Gradescope identifies "
                      "submitters by e-mail", file=sys.stderr)
                return 2
        out = make_autograder_zip(Path(args.make_zip), seed=args.seed, file=args.file, timeout=args.timeout,
                                  students=students, secret=secret)
        print(f"wrote {out}: upload it as the autograder (it holds the seed: keep it private)")
        return 0
    try:
        config = json.loads(Path(args.config).read_text(encoding="utf-8"))
        int(config["seed"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"ravine gradescope: cannot read settings {args.config}: {exc}", file=sys.stderr)
        return 2
    _hide_settings(Path(args.config))
    from ._common import isolation_from

    isolation_from("gradescope", args.isolation)
    config["isolation"] = args.isolation
    if args.file:
        config["file"] = args.file
    if args.timeout:
        config["timeout"] = args.timeout
    result = grade_gradescope(Path(args.submission_dir), Path(args.results), config)
    if result is not None:
        print(f"{result.submission}: {result.score:g}/{result.max_score:g}")
    return 0
