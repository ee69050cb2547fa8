"""ravine gradescope: run as a Gradescope autograder, or build the autograder zip."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..gradescope import CONFIG_NAME
from ._common import MAX_SEED, file_problem, seconds_problem, seed_problem

HELP = "grade inside Gradescope (/autograder layout), or build the autograder zip with --make-zip"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--make-zip", metavar="ZIP", help="write the autograder zip to upload to Gradescope")
    p.add_argument("--seed", type=int, help="grading seed for the hidden checks (with --make-zip): "
                   f"a whole number from 0 to {MAX_SEED}")
    p.add_argument("--file", help="the file students submit, e.g. hw.ipynb (default: the only .py/.ipynb)")
    p.add_argument("--timeout", type=float, help="seconds per student function")
    p.add_argument("--roster", metavar="CSV", help="with --make-zip: roster with id and email columns, so "
                   "assignment notebooks are graded with each submitter's own numbers")
    p.add_argument("--secret-file", metavar="F", help="with --make-zip and --roster: the course secret "
                   "(any bytes, e.g. from head -c 32 /dev/urandom)")
    p.add_argument("--root", default="/autograder", metavar="ROOT",
                   help="Gradescope's layout: ROOT/source/ravine-gradescope.json, ROOT/submission/, "
                        "ROOT/results/results.json (default /autograder); the options below override parts")
    p.add_argument("--config", default=None, help="settings written by --make-zip "
                   "(default ROOT/source/ravine-gradescope.json)")
    p.add_argument("--submission-dir", default=None, metavar="DIR",
                   help="the student's submitted files (default ROOT/submission)")
    p.add_argument("--results", default=None, metavar="FILE",
                   help="where Gradescope reads the results (default ROOT/results/results.json)")
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


def _usage(message: str) -> int:
    print(f"ravine gradescope: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from ..gradescope import config_problem, grade_gradescope, make_autograder_zip

    for problem in (seconds_problem("--timeout", args.timeout) if args.timeout is not None else None,
                    file_problem("--file", args.file) if args.file is not None else None):
        if problem:
            return _usage(problem)
    if args.make_zip:
        if args.seed is None:
            return _usage("--make-zip needs --seed (the hidden checks' inputs come from it)")
        problem = seed_problem("--seed", args.seed)
        if problem:
            return _usage(problem)
        students: dict[str, str] | None = None
        secret = None
        if args.roster or args.secret_file:
            from ..assign import load_course

            try:
                roster, secret = load_course(args.roster, args.secret_file)
            except ValueError as exc:
                return _usage(str(exc))
            by_email: dict[str, str] = {}
            students = by_email
            for s in roster:
                if not s.email:
                    continue
                email = s.email.strip().lower()
                if email in by_email:
                    return _usage(f"{args.roster}: the e-mail {s.email} belongs to {by_email[email]} and "
                                  f"{s.id}; Gradescope identifies submitters by e-mail")
                by_email[email] = s.id
            if not students:
                return _usage("the roster has no email column values; Gradescope identifies "
                              "submitters by e-mail")
        try:
            out = make_autograder_zip(Path(args.make_zip), seed=args.seed, file=args.file, timeout=args.timeout,
                                      students=students, secret=secret)
        except ValueError as exc:
            return _usage(str(exc))
        except OSError as exc:
            return _usage(f"cannot write {args.make_zip}: {exc.strerror or exc}")
        print(f"wrote {out}: upload it as the autograder (it holds the seed: keep it private)")
        return 0
    root = Path(args.root)
    config_path = Path(args.config) if args.config else root / "source" / CONFIG_NAME
    submission_dir = Path(args.submission_dir) if args.submission_dir else root / "submission"
    results = Path(args.results) if args.results else root / "results" / "results.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return _usage(f"cannot read settings {config_path}: {getattr(exc, 'strerror', None) or exc}")
    _hide_settings(config_path)
    from ._common import isolation_from

    isolation_from("gradescope", args.isolation)
    config["isolation"] = args.isolation
    if args.file:
        config["file"] = args.file
    if args.timeout:
        config["timeout"] = args.timeout
    problem = config_problem(config)
    if problem:
        # The student sees a message instead of "The autograder failed"; the instructor the reason.
        _write_unusable(results, problem)
        return _usage(f"unusable settings {config_path}: {problem}")
    result = grade_gradescope(submission_dir, results, config)
    if result is not None:
        print(f"{result.submission}: {result.score:g}/{result.max_score:g}")
    return 0


def _write_unusable(results: Path, problem: str) -> None:
    from ..gradescope import not_graded, write_results

    try:
        write_results(results, not_graded("The autograder is misconfigured, so this submission was not graded; "
                                           "your instructor has been told. Please contact them.", problem))
    except OSError:
        pass
