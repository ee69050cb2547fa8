"""Grade submissions: load, run isolated, score, and (for a batch) write results as they come.

``grade_submission`` never raises for anything a submission does: a load
failure, a crash or a hang becomes zero-score tests with a message.
"""

from __future__ import annotations

import hashlib
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


FINGERPRINT_NOTE = "secret mismatch"


def _check_fingerprint(sub: Any, key: AnswerKey, messages: list[str]) -> None:
    """A handout made with another course secret than the one given: its numbers are not these."""
    from .assign import secret_fingerprint

    meta = sub.notebook.metadata.get("ravine") if hasattr(sub.notebook, "metadata") else None
    stored = meta.get("secret_fingerprint") if isinstance(meta, dict) else None
    if not isinstance(stored, str) or key.secret is None:
        return
    mine = secret_fingerprint(key.secret)
    if stored != mine:
        messages.append(f"{FINGERPRINT_NOTE}: this notebook was made with another course secret "
                        f"(fingerprint {stored[:16]!r}, the secret given has {mine}); its answers were "
                        "graded with the given secret's numbers")


def _answer_tests(sub: Any, key: AnswerKey | None, messages: list[str],
                  budget: float | None = None) -> list[TestResult]:
    from .answer_grading import OVER_BUDGET_TAG

    tests = _graded_answers(sub, key, messages, budget)
    late = [t.part for t in tests if OVER_BUDGET_TAG in t.tags]
    if late:
        messages.append(f"{len(late)} answer part(s) ({', '.join(late)}) need manual review: not decided "
                        "within the notebook's answer-grading budget")
    return tests


def _graded_answers(sub: Any, key: AnswerKey | None, messages: list[str],
                    budget: float | None) -> list[TestResult]:
    from .answer_grading import grade_answers

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
        _check_fingerprint(sub, key, messages)
    elif isinstance(sub.notebook.metadata.get("ravine", {}).get("student_id"), str):
        messages.append("Answer parts graded with the generic numbers: pass --roster and --secret-file "
                        "to grade each student's own numbers.")
    return grade_answers(sub.notebook, student_id=student,
                         secret=key.secret if student is not None and key is not None else None,
                         budget=budget)


_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'")


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
                     answers: AnswerKey | None = None, answer_parts: bool = True,
                     answer_budget: float | None = None) -> SubmissionResult:
    """Grade one submission with the given checks; every failure is a value, never an exception.

    ``answer_parts=False`` leaves a notebook's answer parts ungraded (``ravine check``
    only tells whether they read: see ``answers.answer_formats``).

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
    for name in sorted(set(_MISSING_MODULE.findall("\n".join(messages)))):
        # Said without looking next to the file: whether a sibling exists is not the student's to learn.
        top = name.split(".", 1)[0][:60]
        messages.append(f"If {top} is a module of your own: a submission is one file, and other files "
                        "are not available when grading. Put the code you import into the submission.")
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
    if answer_parts:
        tests += _answer_tests(sub, answers, messages, answer_budget)
    seconds = time.perf_counter() - start
    return SubmissionResult(display, tests, messages, stdout=stdout, seconds=seconds,
                            visible_seconds=max(0.0, seconds - (hidden_run.seconds if hidden_run else 0.0)),
                            isolation=isolation)


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
_RESERVED_NAMES = frozenset({"gradebook.csv", "grading.json", "report.md", "report.png", "items.csv"})
_UNSAFE_CHARS = re.compile(r"[^\w.+-]")


# A folder name is capped in bytes, not characters: file systems limit a name to 255 bytes, and
# 100 CJK characters are 300 bytes of UTF-8.  100 bytes leave room for "-NNN" and for
# atomic_write's ".results.json.XXXXXXXX" temporary files.
MAX_NAME_BYTES = 100


def _cap_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding (surrogates escaped) fits in ``limit`` bytes."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def _safe_name(stem: str) -> str:
    """A submission's folder name: word characters, '.', '+', '-' only; no leading '.', '+' or
    '-' (so never '.' or '..', nor a spreadsheet formula), at most ``MAX_NAME_BYTES`` bytes of
    UTF-8, never one of the batch's own files."""
    name = _cap_bytes(_UNSAFE_CHARS.sub("_", stem).lstrip(".+-"), MAX_NAME_BYTES) or "submission"
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


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _batch_extra(batch: str | None, digest: str | None) -> dict[str, Any]:
    return {"batch": batch, "file_sha256": digest} if batch else {}


def _graded_before(folder: Path, batch: str | None, digest: str | None) -> SubmissionResult | None:
    """The result in ``folder``/results.json if this batch wrote it for this very file, else None."""
    import json

    if not batch or digest is None:
        return None
    try:
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        extra = data.get("extra_data") or {}
        if extra.get("batch") != batch or extra.get("file_sha256") != digest \
                or extra.get("submission") != folder.name:
            return None
        return SubmissionResult.from_dict(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _shared_roster_ids(paths: Sequence[Path], answers: AnswerKey | None) -> dict[Path, str]:
    """Files that map to the same roster id as another file, each with a one-line note.

    ``s001.ipynb`` and ``s001_final.ipynb`` both get s001's numbers: one of them may be another
    student's work under a borrowed name, so the instructor is told instead of grading silently.
    """
    if answers is None or not answers.roster:
        return {}
    by_id: dict[str, list[Path]] = {}
    for p in paths:
        sid = answers.student_for(p.stem)
        if sid is not None:
            by_id.setdefault(sid, []).append(p)
    out: dict[Path, str] = {}
    for sid, group in by_id.items():
        if len(group) > 1:
            names = ", ".join(p.name for p in group)
            note = (f"several files map to roster id {sid} ({names}); each was graded with {sid}'s "
                    "numbers: check whose work each one is")
            for p in group:
                out[p] = note
    return out


# Every module the grader may import while or after student code runs.  ``preload`` imports them
# before the first child starts: a module imported lazily later would be read from disk after a
# submission had its chance to rewrite it (in the modes where a child can write the grader's files).
PRELOAD = ("grader.answer_grading", "grader.derivcheck", "grader.equivalence", "grader.formula", "grader.report",
           "grader.results", "grader.checks", "grader.submission", "grader.assign",
           "problems", "problems.exercise_registry", "problems.bank", "problems.spec", "problems.variants",
           "problems.update_rules", "problems.checkspec", "solvers.rules", "solvers.rollout",
           "solvers.objectives", "solvers.numeric", "nbformat")
PRELOAD_REPORT = ("grader.trajectory_plots", "grader.items", "grader.feedback", "matplotlib", "matplotlib.pyplot", "matplotlib.ticker")


def preload(*, report: bool = False, symbolic: bool = False) -> None:
    """Import every grader module now and, with ``symbolic``, start the SymPy worker now.

    ``report``: the batch draws figures (class report or feedback pages), so matplotlib and the
    renderers are imported too.

    Called once before a batch's first submission.  The worker imports SymPy and the grader's
    formula modules at its start (``grader._symworker``), so it, too, reads them before any
    student code has run.
    """
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    if report:
        import matplotlib

        matplotlib.use("Agg")
        for name in PRELOAD_REPORT:
            importlib.import_module(name)
    if symbolic:
        from .equivalence import start_worker

        start_worker()


@dataclass
class BatchResult:
    results: list[SubmissionResult]
    out_dir: Path


def grade_batch(paths: Sequence[Path], out_dir: Path, *, seed: int, jobs: int = 1,
                limits: Limits = Limits(), rejected: Iterable[tuple[Path, str]] = (),
                answers: AnswerKey | None = None,
                progress: Callable[[str], None] | None = None,
                answer_budget: float | None = None, batch: str | None = None,
                resume: bool = False, feedback: bool = False) -> BatchResult:
    """Grade every path, writing DIR/<name>/results.json and DIR/gradebook.csv as results arrive.

    The gradebook is rewritten atomically after each submission, so an
    interrupted batch keeps everything graded so far.  Each results.json records
    ``batch`` (an id of the batch's settings, kept in grading.json) and the SHA-256
    of the submitted file; with ``resume``, a submission whose results.json has
    both the same is not graded again.  With ``feedback`` each submission also
    gets DIR/<name>/feedback.html (see :mod:`grader.feedback`).
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
    # name -> (sha256 of feedback.html as written, the figures' data): the final pass checks the
    # page and redraws it if it changed, without holding every page (~0.5 MB each) in memory
    pages: dict[str, tuple[str, dict[str, Any] | None]] = {}

    def write_page(result: SubmissionResult, trajectories: dict[str, Any] | None) -> None:
        from .feedback import render_feedback  # in the main thread only: matplotlib is not thread-safe

        page = render_feedback(result.to_dict(), trajectories=trajectories)
        try:
            report.atomic_write(out_dir / result.submission / "feedback.html", page)
        except OSError:
            return  # the unwritable folder is reported with its results.json
        pages[result.submission] = (hashlib.sha256(page.encode("utf-8", "replace")).hexdigest(), trajectories)

    shared = _shared_roster_ids(paths, answers)
    notes = {name_of[str(p)]: note for p, note in shared.items()}
    for note in dict.fromkeys(shared.values()):
        say(f"ravine grade: warning: {note}")

    def record(result: SubmissionResult, trajectories: dict[str, Any] | None = None) -> None:
        if result.submission in notes:
            result.messages.insert(0, notes[result.submission])
        for m in result.messages:
            if m.startswith(FINGERPRINT_NOTE):
                say(f"ravine grade: warning: {result.submission}: {m}")
        done.append(result)
        try:
            report.write_submission(out_dir, result)
        except OSError as exc:  # one unwritable folder must not end the batch
            note = f"results.json not written: {exc.strerror or exc}"
            result.messages.append(note)
            say(f"ravine grade: {result.submission}: {note}")
        if feedback:
            write_page(result, trajectories)
        report.write_gradebook(out_dir / "gradebook.csv", done)
        say(f"[{len(done)}/{len(all_paths)}] {result.submission}: "
            f"{result.score:g}/{result.max_score:g} ({result.seconds:.2f} s)")

    digests = {str(p): _file_digest(p) for p in all_paths}

    def grade_one(p: Path) -> tuple[SubmissionResult, dict[str, Any] | None]:
        trajectories: dict[str, Any] | None = {} if feedback else None
        r = grade_submission(p, checks, limits=limits, name=name_of[str(p)], answers=answers,
                             answer_budget=answer_budget, trajectories=trajectories)
        r.extra.update(_batch_extra(batch, digests[str(p)]))
        return r, trajectories

    isolation = resolve(limits.isolation).record()
    for p, reason in rejected:
        r = SubmissionResult(name_of[str(p)], _not_graded(checks, reason), [f"{p}: {reason}"],
                             isolation=isolation)
        r.extra.update(_batch_extra(batch, digests[str(p)]))
        record(r)

    todo = []
    for p in paths:
        before = _graded_before(out_dir / name_of[str(p)], batch, digests[str(p)]) if resume else None
        if before is None:
            todo.append(p)
            continue
        done.append(before)
        say(f"[{len(done)}/{len(all_paths)}] {before.submission}: {before.score:g}/{before.max_score:g} "
            "(graded before, same file and settings: kept)")

    if jobs <= 1:
        for p in todo:
            record(*grade_one(p))
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade_one, p) for p in todo]
            for fut in as_completed(futures):
                record(*fut.result())

    # Final pass from memory: whatever a submission's process may have written into the
    # output directory meanwhile, the files on disk end up equal to the grader's verdicts.
    order = {n: i for i, n in enumerate(names)}
    # As written to results.json (scores to 6 decimals): the gradebook is then the same whether a
    # result was graded now or kept from an interrupted run (--resume).
    done = [SubmissionResult.from_dict(r.to_dict()) for r in done]
    done.sort(key=lambda r: order.get(r.submission, len(order)))
    for r in done:
        try:
            report.write_submission(out_dir, r)
        except OSError:
            pass  # already reported by record()
        if r.submission in pages:
            digest, trajectories = pages[r.submission]
            try:
                ok = hashlib.sha256((out_dir / r.submission / "feedback.html").read_bytes()).hexdigest() == digest
            except OSError:
                ok = False
            if not ok:
                write_page(r, trajectories)
    report.write_gradebook(out_dir / "gradebook.csv", done)
    return BatchResult(done, out_dir)
