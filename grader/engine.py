"""Grade one submission: load, run isolated, score (a batch: :mod:`grader.batch`).

``grade_submission`` never raises for anything a submission does: a load
failure, a crash or a hang becomes zero-score tests with a message.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from problems import exercise_registry

from .checks import Check, _TrajectoryCheck, compile_check
from .results import SubmissionResult, TestResult
from .sandbox import Forbidden, Limits, Outcome, RunReport, Status, open_session, resolve, run_submission
from .submission import SubmissionError, load_submission

__all__ = ["build_checks", "grade_submission", "AnswerKey", "preload"]


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
    late = [t.part for t in tests if OVER_BUDGET_TAG in t.diagnoses]
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
    for function in functions or exercise_registry.FUNCTIONS:
        for spec in exercise_registry.exercise(function).checks(seed=seed):
            out.append(compile_check(spec))
    return out


def _not_graded(checks: Sequence[Check], reason: str) -> list[TestResult]:
    results = []
    for c in checks:
        results.append(
            TestResult(
                name=c.spec.name, part=c.spec.function, max_score=c.spec.points, score=0.0,
                output=f"Not graded: {reason}", group=c.spec.function, diagnoses=["submission-error"],
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
                got = o.value if o.status == Status.OK else o.partial
                trajectories[c.spec.name] = {"title": c.spec.name, "objective": c.spec.objective,
                                             "expected": c.expected(), "got": got,
                                             "passed": o.status == Status.OK and c.score(o).passed}
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
            f = Forbidden(f.package, f.where)
            if f not in forbidden:
                forbidden.append(f)
        stdout = (stdout + "\n[hidden checks]\n" + hidden_run.stdout) if hidden_run.stdout else stdout
    for f in forbidden:
        messages.append(f"Forbidden import: {f.describe()} (the grader's own packages are off limits; no credit).")
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
        if o.status in (Status.TIMEOUT, Status.CRASH) and t.function not in failed:
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


# Every module the grader may import while or after student code runs.  ``preload`` imports them
# before the first child starts: a module imported lazily later would be read from disk after a
# submission had its chance to rewrite it (in the modes where a child can write the grader's files).
PRELOAD = ("grader.answer_grading", "grader.derivcheck", "grader.equivalence", "grader.formula", "grader.report",
           "grader.results", "grader.gradescope", "grader.checks", "grader.submission", "grader.assign",
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
