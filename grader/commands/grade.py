"""ravine grade: public and hidden checks on many submissions, for instructors."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

HELP = "grade submissions (files or directories) with public and hidden checks; write results and a gradebook"

# What `ravine grade` writes into --out; --force removes these and nothing else.
_FOLDER_FILES = ("results.json", "feedback.html")
_BATCH_FILES = ("grading.json", "gradebook.csv", "report.md", "report.png", "items.csv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ._common import MAX_SEED, add_limit_arguments, bounded_int, output_dir, seconds, seed

    p.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                   help=".py / .ipynb files, or directories holding them")
    p.add_argument("--out", required=True, metavar="DIR", type=output_dir,
                   help="output directory: DIR/<name>/results.json and feedback.html, DIR/gradebook.csv, "
                        "DIR/report.md, report.png, items.csv; a new or empty one, unless --resume or --force")
    p.add_argument("--jobs", type=bounded_int(1, 256, "a number of jobs"), default=1,
                   help="submissions graded in parallel (default 1)")
    p.add_argument("--seed", type=seed, default=None,
                   help=f"grading seed for the hidden checks' inputs, 0 to {MAX_SEED} (default: $RAVINE_SEED, "
                        "which student processes cannot read, unlike the command line; with --resume the "
                        "interrupted batch's; else a fresh random seed; always recorded in DIR/grading.json "
                        "before the first submission is graded)")
    p.add_argument("--roster", metavar="CSV", help="roster (column id): notebooks named <id>.ipynb get "
                   "their answer parts graded with that student's numbers (needs --secret-file)")
    p.add_argument("--secret-file", metavar="F", help="the course secret used by `ravine assign`")
    p.add_argument("--answer-budget", type=seconds, default=None, metavar="SECONDS",
                   help="symbolic-checking time per notebook for its formula and derivation answers "
                        "(default 60); parts still undecided then are left pending for manual review")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="finish an interrupted batch in DIR: same seed and settings (from DIR/grading.json); "
                           "submissions already graded from the same file content are kept, not regraded")
    mode.add_argument("--force", action="store_true",
                      help="clear the batch already in DIR (its results, gradebook, report) and grade from scratch")
    p.add_argument("--no-feedback", action="store_true",
                   help="skip the students' feedback pages (DIR/<name>/feedback.html)")
    p.add_argument("--no-report", action="store_true", help="skip the class report (report.md, report.png, items.csv)")
    add_limit_arguments(p)


def _fail(message: str) -> int:
    print(f"ravine grade: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..batch import grade_batch, unique_names
    from ..engine import preload
    from ..report import atomic_write, class_report, render_table
    from ..submission import collect_submissions
    from ..sandbox import resolve
    from ._common import limits_from, seed_from_env

    limits = limits_from(args)
    seed = args.seed
    if seed is None:
        seed = seed_from_env()  # a bad $RAVINE_SEED is a usage error (exit 2), like a bad --seed
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return _fail(f"{out}: exists and is not a directory")
    paths, bad = collect_submissions(args.submissions)
    for p, reason in bad:
        print(f"ravine grade: {p}: {reason}", file=sys.stderr)
    # A bad *file* is a student's submission: it gets a row of zeros with the reason.
    # An empty directory is only warned about.
    rejected = [(p, reason) for p, reason in bad if not p.is_dir()]
    if not paths and not rejected:
        return _fail("no .py or .ipynb submissions found in " + ", ".join(args.submissions))
    answers = None
    settings: dict[str, Any] = {
        "ravine_version": __version__,
        "limits": {"function_timeout": limits.function_timeout, "load_timeout": limits.load_timeout,
                   "cell_timeout": limits.cell_timeout,
                   "memory_bytes": limits.memory_bytes},
        "answer_budget": args.answer_budget,
        "roster_sha256": None, "secret_fingerprint": None,
    }
    if args.roster or args.secret_file:
        import hashlib

        from ..assign import load_course, secret_fingerprint
        from ..engine import AnswerKey

        try:
            students, secret = load_course(args.roster, args.secret_file)
        except ValueError as exc:
            return _fail(str(exc))
        answers = AnswerKey(frozenset(s.id for s in students), secret)
        settings["roster_sha256"] = hashlib.sha256(
            "\n".join(sorted(s.id for s in students)).encode()).hexdigest()
        settings["secret_fingerprint"] = secret_fingerprint(secret)

    names = unique_names(list(paths) + [p for p, _ in rejected])
    try:
        previous = _prepare_out(out, names, resume=args.resume, force=args.force)
    except ValueError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot use the output directory {out}: {exc.strerror or exc}")
    batch = secrets.token_hex(8)
    if previous is not None:
        old_seed = previous.get("seed")
        if seed is None:
            seed = old_seed
        differ = [k for k in settings if previous.get("settings", {}).get(k) != settings[k]]
        if seed != old_seed:
            differ.insert(0, "seed")
        if differ or not isinstance(previous.get("batch"), str):
            return _fail(f"the batch in {out} was graded with other settings ({', '.join(differ) or 'unknown'}); "
                         "give the same ones to --resume, or --force to grade from scratch")
        batch = previous["batch"]
    if seed is None:
        seed = secrets.randbelow(2**31)
    started = time.time()
    manifest: dict[str, Any] = {
        "ravine_version": __version__,
        "seed": seed,
        "batch": batch,
        "state": "grading",
        "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "submissions": names,
        "settings": settings,
        "limits": settings["limits"],
        "isolation": resolve(limits.isolation).record(),  # the mode that graded it (+ a warning)
    }
    if previous is not None:
        manifest["graded_at"] = previous.get("graded_at", manifest["graded_at"])
        manifest["resumed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    # grading.json holds the seed of the hidden checks: it is for the instructor, never for students.
    # Written before the first submission is graded, so a killed batch keeps its seed (--resume).
    try:
        atomic_write(out / "grading.json", json.dumps(manifest, indent=2) + "\n")
    except OSError as exc:
        return _fail(f"cannot write {out / 'grading.json'}: {exc.strerror or exc}")
    # Every grader module, and the SymPy worker for notebooks, before the first student process.
    preload(report=not (args.no_report and args.no_feedback), symbolic=any(p.suffix == ".ipynb" for p in paths))
    print(f"ravine grade: {len(paths) + len(rejected)} submission(s), jobs={args.jobs}"
          + (", resuming" if previous is not None else ""), file=sys.stderr)
    signal.signal(signal.SIGTERM, _on_sigterm)  # `kill PID`: clean up like Ctrl-C, keep what is written
    with batch_scratch():
        result = grade_batch(paths, out, seed=seed, jobs=args.jobs, limits=limits, rejected=rejected,
                             answers=answers, answer_budget=args.answer_budget, batch=batch,
                             feedback=not args.no_feedback,
                             resume=previous is not None)
    manifest.update(state="complete", seconds=round(time.time() - started, 3),
                    submissions=[r.submission for r in result.results])
    atomic_write(out / "grading.json", json.dumps(manifest, indent=2) + "\n")
    if not args.no_report:
        # From memory, not from DIR/*/results.json: a submission's process (same user) could
        # have planted extra folders or malformed files there.
        atomic_write(out / "report.md", class_report(result.results,
                                                     plot_path=out / "report.png",
                                                     items_path=out / "items.csv"))
    sys.stdout.write(render_table(result.results))
    print(f"\nWrote {out}/<name>/results.json" + ("" if args.no_feedback else f", {out}/<name>/feedback.html")
          + f", {out}/gradebook.csv"
          + ("" if args.no_report else f", {out}/report.md, {out}/report.png, {out}/items.csv"), file=sys.stderr)
    return 0


def _on_sigterm(signum: int, frame: Any) -> None:
    print("ravine grade: terminated; the results written so far are kept (--resume finishes the batch)",
          file=sys.stderr)
    raise SystemExit(128 + signum)


def _ravine_folder(path: Path) -> bool:
    """A submission folder of a batch: results.json, feedback.html and atomic_write's temporary files only."""
    try:
        return path.is_dir() and not path.is_symlink() and all(
            e.name in _FOLDER_FILES or e.name.startswith(tuple(f".{n}." for n in _FOLDER_FILES))
            for e in path.iterdir())
    except OSError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _prepare_out(out: Path, names: list[str], *, resume: bool, force: bool) -> dict[str, Any] | None:
    """Make ``out`` ready; the previous grading.json when resuming one, else None.

    A non-empty directory is used only with --resume (it must hold a ravine batch) or --force
    (which removes that batch's files, and refuses anything ravine did not write).
    """
    out.mkdir(parents=True, exist_ok=True)
    entries = sorted(out.iterdir())
    if not entries:
        return None
    manifest = out / "grading.json"
    if not (resume or force):
        if manifest.exists():
            raise ValueError(f"{out} holds another batch (grading.json): pass --resume to finish it, or "
                             "--force to clear it and grade again")
        raise ValueError(f"{out} is not empty: choose a new or empty directory")
    foreign = [e for e in entries if not (e.name in _BATCH_FILES or e.name.startswith(
        tuple(f".{n}." for n in _BATCH_FILES)) or _ravine_folder(e))]
    if foreign:
        raise ValueError(f"{out} holds files ravine did not write (such as {foreign[0].name}); "
                         "choose a new or empty directory")
    if force:
        for e in entries:
            _remove(e)
        return None
    try:
        previous = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(previous, dict):
            raise ValueError
    except (OSError, ValueError):
        raise ValueError(f"cannot resume: {manifest} is missing or unreadable; --force grades from scratch") \
            from None
    # Folders of submissions no longer in the batch would be counted by `ravine report`.
    keep = {n for n in names}
    for e in entries:
        if e.is_dir() and e.name not in keep:
            _remove(e)
    return previous


@contextlib.contextmanager
def batch_scratch() -> Iterator[str]:
    """A private parent directory for the batch's temporary folders (the sandbox's scratch).

    Removed at the end, also on Ctrl-C.  A SIGKILL cannot be caught: the next `ravine grade`
    removes the leftovers of batches whose process is gone.
    """
    base = tempfile.gettempdir()
    _sweep_scratch(base)
    path = tempfile.mkdtemp(prefix=f"ravine-batch-{os.getpid()}-", dir=base)
    os.chmod(path, 0o711)  # traversable (a child under another uid reaches its own folder), not listable
    previous, tempfile.tempdir = tempfile.tempdir, path
    try:
        yield path
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(path, ignore_errors=True)


def _sweep_scratch(base: str) -> None:
    for p in Path(base).glob("ravine-batch-*-*"):
        try:
            pid = int(p.name.split("-")[2])
            if p.stat().st_uid != os.getuid() or pid == os.getpid():
                continue
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, IndexError, OSError):
            continue
