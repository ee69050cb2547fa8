"""Grade submissions: load, run isolated, score, and (for a batch) write results as they come.

``grade_submission`` never raises for anything a submission does: a load
failure, a crash or a hang becomes zero-score tests with a message.
"""

from __future__ import annotations

import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from problems import update_rules

from . import report
from .checks import Check, _TrajectoryCheck, compile_check
from .results import SubmissionResult, TestResult
from .sandbox import Limits, Outcome, RunReport, open_session, resolve, run_submission
from .submission import SubmissionError, load_submission

__all__ = ["build_checks", "grade_submission", "grade_batch", "BatchResult", "unique_names", "AnswerKey"]


@dataclass(frozen=True)
class AnswerKey:
    """How to grade a notebook's answer parts: the roster ids and the course secret.

    With a roster, the student is the roster id equal to the file name (without
    extension) or its leading part before ``_``/``-``/``.`` (``s001_final.ipynb``);
    their numbers are recomputed from the id and the secret, never read from the
    notebook.  Without one, assignment notebooks are graded with the generic numbers.
    """

    roster: frozenset[str] = frozenset()
    secret: bytes | None = None
    student: str | None = None  # known from elsewhere (Gradescope's submission metadata)

    def student_for(self, stem: str) -> str | None:
        if self.student is not None:
            return self.student if self.student in self.roster else None
        if stem in self.roster:
            return stem
        for sep in ("_", "-", "."):
            head = stem.split(sep, 1)[0]
            if head in self.roster:
                return head
        return None


def _is_assignment(notebook: Any) -> bool:
    """A notebook made by ``ravine assign``, or one holding any answer cell."""
    meta = getattr(notebook, "metadata", None) or {}
    if isinstance(meta.get("ravine"), dict):
        return True
    for cell in getattr(notebook, "cells", []) or []:
        rv = (cell.get("metadata") or {}).get("ravine")
        if isinstance(rv, dict) and "part" in rv:
            return True
    return False


def _answer_tests(sub: Any, key: AnswerKey | None, messages: list[str]) -> list[TestResult]:
    from .answers import grade_answers

    if sub.kind != "ipynb" or sub.notebook is None:
        return []
    if not _is_assignment(sub.notebook) and not (key and key.roster):
        return []
    student = None
    if key is not None and key.roster:
        student = key.student_for(sub.name)
        if student is None:
            if key.student is not None:  # identified by Gradescope's metadata, not by file name
                messages.append("The submitter is not on the course roster (no roster id matches), so the "
                                "answer parts were not graded (0). Please contact your instructor.")
            else:
                messages.append(f"{sub.path.name}: no roster id matches this file name, so the answer parts "
                                "were not graded (0). Rename the file to <id>.ipynb and grade again.")
            tests = grade_answers({}, student_id=None, secret=None)
            for t in tests:
                t.score, t.status = 0.0, "error"
                t.output = "Not graded: the file name matches no roster id."
            return tests
    elif isinstance(sub.notebook.metadata.get("ravine", {}).get("student_id"), str):
        messages.append("Answer parts graded with the generic numbers: pass --roster and --secret-file "
                        "to grade each student's own numbers.")
    return grade_answers(sub.notebook, student_id=student,
                         secret=key.secret if student is not None and key is not None else None)


def build_checks(*, seed: int | None, functions: Sequence[str] | None = None) -> list[Check]:
    """Compiled checks of the update-rule exercises: public ones, plus hidden ones if ``seed`` is set."""
    out: list[Check] = []
    for function in functions or update_rules.FUNCTIONS:
        for spec in update_rules.exercise(function).checks(seed=seed):
            out.append(compile_check(spec))
    return out


def _not_graded(checks: Sequence[Check], reason: str) -> list[TestResult]:
    results = []
    for c in checks:
        results.append(
            TestResult(
                name=c.spec.name, part=c.spec.function, max_score=c.spec.points, score=0.0,
                output=f"Not graded: {reason}", tags=[c.spec.function, "submission-error"],
                visibility="after_published" if c.spec.hidden else "visible", status="error",
            )
        )
    return results


def grade_submission(path: str | Path, checks: Sequence[Check], *, limits: Limits = Limits(),
                     name: str | None = None, trajectories: dict[str, Any] | None = None,
                     answers: AnswerKey | None = None) -> SubmissionResult:
    """Grade one submission with the given checks; every failure is a value, never an exception.

    With ``trajectories`` (a dict), the public trajectory checks' expected and
    obtained positions are stored in it by check name, for plotting.
    """
    start = time.perf_counter()
    path = Path(path)
    display = name or path.stem
    isolation = resolve(limits.isolation).record()
    try:
        sub = load_submission(path)
    except SubmissionError as exc:
        reason = str(exc)
        note = reason if reason.startswith((path.name, str(path))) else f"{path.name}: {reason}"
        return SubmissionResult(display, _not_graded(checks, reason), [note],
                                seconds=time.perf_counter() - start, isolation=isolation)
    session = open_session(sub, limits)  # namespaces: one sandbox for the submission's children
    try:
        run, hidden_run = _run_public_then_hidden(sub, checks, limits, session)
    finally:
        if session is not None:
            session.close()
    outcomes = {**hidden_run.outcomes, **run.outcomes} if hidden_run else run.outcomes
    tests = [c.score(outcomes[c.task.id]) for c in checks]
    if trajectories is not None:
        for c in checks:
            # compile_check makes a _TrajectoryCheck for every task of kind "trajectory"
            if isinstance(c, _TrajectoryCheck) and not c.spec.hidden:
                o = run.outcomes[c.task.id]
                got = o.value if o.status == "ok" else o.partial
                trajectories[c.spec.name] = {"title": c.spec.name, "objective": c.spec.objective,
                                             "expected": c.expected(), "got": got,
                                             "passed": o.status == "ok" and c.score(o).passed}
    messages = list(run.load_messages)
    forbidden = list(run.forbidden)
    stdout = run.stdout
    if hidden_run is not None:
        # Only the package name: the rest of an attempted module name is the student's text.
        for f in hidden_run.forbidden:
            module, _, when = f.partition(" ")
            text = f"{module.split('.', 1)[0]} {when}".strip()
            if text not in forbidden:
                forbidden.append(text)
        stdout = (stdout + "\n[hidden checks]\n" + hidden_run.stdout) if hidden_run.stdout else stdout
    for f in forbidden:
        messages.append(f"Forbidden import: {f} (the grader's own packages are off limits; no credit).")
    tests += _answer_tests(sub, answers, messages)
    return SubmissionResult(display, tests, messages, stdout=stdout,
                            seconds=time.perf_counter() - start, isolation=isolation)


def _run_public_then_hidden(sub: Any, checks: Sequence[Check], limits: Limits,
                            session: Any = None) -> tuple[Any, Any]:
    """Run the public checks' tasks, then the hidden ones in a separate child process.

    A child can read everything in its own memory (its plan included), and everything it
    says in visible feedback (load messages, exception text, returned values) is the
    student's text.  So the child that produces visible feedback never holds a hidden
    input, and of the hidden run only grader-made statuses are used: its load messages
    are dropped and the hidden checks redact the details of failed runs
    (``Check._failed_run``).  In namespaces mode both children are forked in one sandbox
    (``session``), the hidden one only after the public one and everything it started are gone.
    Returns ``(public_run, hidden_run or None)``.
    """
    public = [c.task for c in checks if not c.spec.hidden]
    hidden = [c.task for c in checks if c.spec.hidden]
    if not hidden:
        return run_submission(sub, public, limits, session=session), None
    if not public:
        hidden_run = run_submission(sub, hidden, limits, private=True, session=session)
        return replace(hidden_run, load_messages=[], forbidden=[]), hidden_run
    public_run = run_submission(sub, public, limits, session=session)
    # A function whose public run hung or killed its process would do it again: as in one
    # run (one budget per function), its hidden checks take the same verdict without a rerun.
    failed: dict[str, Outcome] = {}
    for t in public:
        o = public_run.outcomes[t.id]
        if o.status in ("timeout", "crash") and t.function not in failed:
            failed[t.function] = o
    rest = [t for t in hidden if t.function not in failed]
    hidden_run = (run_submission(sub, rest, limits, private=True, session=session) if rest else
                  RunReport(outcomes={}, load_messages=[], defined=[], stdout="", stderr="", forbidden=[],
                            spawns=0))
    for t in hidden:
        if t.function in failed:
            o = failed[t.function]
            hidden_run.outcomes[t.id] = Outcome(t.id, o.status, message=o.message)
    return public_run, hidden_run


# Files the batch writes next to the per-submission folders: no submission may be named like them.
_RESERVED_NAMES = frozenset({"gradebook.csv", "grading.json", "report.md", "report.png"})
_UNSAFE_CHARS = re.compile(r"[^\w.+-]")


def _safe_name(stem: str) -> str:
    """A submission's folder name: word characters, '.', '+', '-' only; no leading '.', '+' or
    '-' (so never '.' or '..', nor a spreadsheet formula), at most 100 characters, never one of
    the batch's own files."""
    name = _UNSAFE_CHARS.sub("_", stem).lstrip(".+-")[:100] or "submission"
    if name.lower() in _RESERVED_NAMES:
        name = name + "_submission"
    return name


def unique_names(paths: Sequence[Path]) -> list[str]:
    """Folder names for ``DIR/<name>/results.json``: the file name without extension, made
    safe (see ``_safe_name``) and unique with -2, -3, ... in input order, also against names
    that already end in ``-2`` (``a.py``, ``a.ipynb``, ``a-2.py``) and up to case."""
    used: set[str] = set()
    names = []
    for p in paths:
        base = _safe_name(p.stem)
        name, n = base, 1
        while name.lower() in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name.lower())
        names.append(name)
    return names


@dataclass
class BatchResult:
    results: list[SubmissionResult]
    out_dir: Path


def grade_batch(paths: Sequence[Path], out_dir: Path, *, seed: int, jobs: int = 1,
                limits: Limits = Limits(), rejected: Iterable[tuple[Path, str]] = (),
                answers: AnswerKey | None = None,
                progress: Callable[[str], None] | None = None) -> BatchResult:
    """Grade every path, writing DIR/<name>/results.json and DIR/gradebook.csv as results arrive.

    The gradebook is rewritten atomically after each submission, so an
    interrupted batch keeps everything graded so far.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    checks = build_checks(seed=seed)
    for c in checks:  # reference runs once per batch, before any thread starts
        c.prepare()
    rejected = list(rejected)
    all_paths = list(paths) + [p for p, _ in rejected]
    names = unique_names(all_paths)
    name_of = dict(zip(map(str, all_paths), names))
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    done: list[SubmissionResult] = []

    def record(result: SubmissionResult) -> None:
        done.append(result)
        report.write_submission(out_dir, result)
        report.write_gradebook(out_dir / "gradebook.csv", done)
        say(f"[{len(done)}/{len(all_paths)}] {result.submission}: "
            f"{result.score:g}/{result.max_score:g} ({result.seconds:.2f} s)")

    isolation = resolve(limits.isolation).record()
    for p, reason in rejected:
        record(SubmissionResult(name_of[str(p)], _not_graded(checks, reason), [f"{p}: {reason}"],
                                isolation=isolation))

    if jobs <= 1:
        for p in paths:
            record(grade_submission(p, checks, limits=limits, name=name_of[str(p)], answers=answers))
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade_submission, p, checks, limits=limits, name=name_of[str(p)],
                                   answers=answers) for p in paths]
            for fut in as_completed(futures):
                record(fut.result())

    # Final pass from memory: whatever a submission's process may have written into the
    # output directory meanwhile, the files on disk end up equal to the grader's verdicts.
    order = {n: i for i, n in enumerate(names)}
    done.sort(key=lambda r: order.get(r.submission, len(order)))
    for r in done:
        report.write_submission(out_dir, r)
    report.write_gradebook(out_dir / "gradebook.csv", done)
    return BatchResult(done, out_dir)
