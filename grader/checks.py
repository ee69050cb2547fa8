"""Kinds of checks: turn a declarative check spec into a sandbox task and score its outcome.

The grader knows *kinds* (trajectory, value), never a particular exercise.
All comparison happens here, in the grader's process; the child only reports
data (positions, returned values, exception info).

A trajectory miss is diagnosed by matching the student's positions against the
named mistake variants of the spec (``solvers.rules.VARIANTS``), never by
reading the student's source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, cast

import numpy as np

from problems.checkspec import CheckSpec, Tolerance, TrajectoryCheck, ValueCheck
from problems.spec import Award, award
from solvers import rules
from solvers.objectives import build as build_objective
from solvers.rollout import NonFiniteError, a_or_an

from .results import TestResult
from .sandbox import Outcome, Status, Task

__all__ = ["Check", "compile_check", "Comparison", "compare_positions", "diagnosis"]

# What a failed run's feedback says (a non-finite trajectory is scored on its own: see
# _TrajectoryCheck.score).
_STATUS_TEXT = {
    Status.EXCEPTION: "your function raised an exception",
    Status.TIMEOUT: "your function did not finish within the time limit (an infinite loop?)",
    Status.MEMORY: "your function ran out of memory",
    Status.CRASH: "the process running your code died",
    Status.CONTRACT: "your function does not follow the contract",
    Status.MISSING: "the function is missing",
    Status.FORBIDDEN: "your code imports the grader's own packages (grader, solvers, problems); "
                      "that earns no credit",
}

# A timeout whose message starts "not run: " is the load's hard stop (sandbox/failures.py).
_LOAD_TIMEOUT_TEXT = ("your code did not finish loading within the time limit, so this function was not "
                      "run (the message about loading names the cell that was still running)")

def diagnosis(status: Status) -> str:
    """The diagnosis a failed run is named by in feedback (and results.json's tags): the status
    itself, a missing function counting as a contract violation."""
    return Status.CONTRACT.value if status == Status.MISSING else Status(status).value


_HIDDEN_DETAILS = ("(Details of runs on hidden inputs are not shown; run `ravine check` to see the "
                   "public checks, which report the same kinds of failure in full.)")


def _fmt(a: Any, max_items: int = 6) -> str:
    arr = np.atleast_1d(np.asarray(a, dtype=float))
    items = ", ".join(f"{v:.6g}" for v in arr[:max_items])
    more = f", ... ({arr.size} values)" if arr.size > max_items else ""
    return f"[{items}{more}]"


@dataclass(frozen=True)
class Comparison:
    ok: bool
    first_bad_step: int | None  # 0-based index into the trajectory
    max_abs: float
    max_rel: float
    scale: float


def compare_positions(got: np.ndarray, expected: np.ndarray, tol: Tolerance) -> Comparison:
    """Elementwise |got - exp| <= tol.atol * scale + tol.rtol * |exp|, scale = max |exp|."""
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    scale = scale if scale > 0 else 1.0
    if got.shape != expected.shape:
        return Comparison(False, 0, float("inf"), float("inf"), scale)
    diff = np.abs(got - expected)
    bad_rows = np.nonzero(np.any(diff > tol.bound(expected, scale), axis=1))[0]
    with np.errstate(all="ignore"):
        rel = np.where(np.abs(expected) > 0, diff / np.abs(expected), np.where(diff > 0, np.inf, 0.0))
    return Comparison(
        ok=bad_rows.size == 0,
        first_bad_step=int(bad_rows[0]) if bad_rows.size else None,
        max_abs=float(diff.max()) if diff.size else 0.0,
        max_rel=float(rel.max()) if rel.size else 0.0,
        scale=scale,
    )


def _difference_text(cmp: Comparison, *, digits: int, absolute: bool = False) -> str:
    """'max absolute difference A, max relative difference R'; where an expected value is 0
    and the positions differ there, a relative difference means nothing: the absolute one only."""
    abs_text = f"max absolute difference {cmp.max_abs:.{digits}e}"
    if not np.isfinite(cmp.max_rel):
        if not absolute:  # a passing check: the absolute figure alone
            return abs_text
        return f"{abs_text} (no relative difference: an expected value is 0 where the positions differ)"
    rel_text = f"max relative difference {cmp.max_rel:.{digits}e}"
    return f"{abs_text}, {rel_text}" if absolute else rel_text


class Check:
    """A compiled check: one sandbox task plus the scorer of its outcome."""

    spec: CheckSpec
    task: Task

    def score(self, outcome: Outcome) -> TestResult:  # pragma: no cover - interface
        raise NotImplementedError

    def prepare(self) -> None:
        """Compute reference values now (once per batch, before worker threads start)."""

    # -- shared pieces -------------------------------------------------------------
    def _result(self, *, score: float, status: str, lines: list[str], diagnoses: list[str]) -> TestResult:
        spec = self.spec
        return TestResult(
            name=spec.name,
            part=spec.function,
            max_score=spec.points,
            score=score,
            output="\n".join(lines),
            visibility="after_published" if spec.hidden else "visible",
            status=status,  # type: ignore[arg-type]
            group=spec.function,
            diagnoses=diagnoses,
        )

    def _header(self) -> str:
        spec = self.spec
        if spec.hidden:
            return "Hidden check (its inputs and expected values are not shown)."
        return f"Setting: {spec.description}." if spec.description else ""

    def _failed_run(self, outcome: Outcome) -> TestResult:
        diag = diagnosis(outcome.status)
        lines = [self._header()] if self._header() else []
        text = _STATUS_TEXT.get(outcome.status, "the run failed")
        if outcome.status == "timeout" and outcome.message.startswith("not run: "):
            text = _LOAD_TIMEOUT_TEXT  # the hard stop of loading: the function never ran
        lines.append(f"[{diag}] {text}.")
        if self.spec.hidden:
            # The details of a run on hidden inputs are the student's own text (exception
            # messages, class names, returned shapes, exit codes), i.e. a channel for the
            # hidden inputs: never shown.  The public checks show the same failures in full.
            lines.append(_HIDDEN_DETAILS)
        elif outcome.message:
            lines.append(outcome.message.rstrip())
        return self._result(score=0.0, status="failed", lines=lines, diagnoses=[diag])


@dataclass
class _TrajectoryCheck(Check):
    spec: TrajectoryCheck
    task: Task
    _expected: np.ndarray | None = field(default=None, repr=False)
    _mutants: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False)

    def _run(self, variant: str) -> np.ndarray | None:
        spec = self.spec
        obj = build_objective(spec.objective)
        try:
            return rules.trajectory(variant, np.array(spec.x0), obj.grad, lr=spec.lr, beta=spec.beta,
                                    steps=spec.steps)
        except NonFiniteError as exc:  # a diverging mistake: its finite prefix still identifies it
            return exc.partial

    def expected(self) -> np.ndarray:
        if self._expected is None:
            with np.errstate(all="ignore"):
                traj = self._run(self.spec.reference)
            if traj is None or traj.shape[0] != self.spec.steps + 1:  # a spec bug, not a student's: fail loudly for the developer
                raise RuntimeError(f"check {self.spec.name!r}: the reference trajectory is not finite")
            self._expected = traj
        return self._expected

    def prepare(self) -> None:
        self.expected()

    def mutant(self, variant: str) -> np.ndarray | None:
        if variant not in self._mutants:
            with np.errstate(all="ignore"):
                self._mutants[variant] = self._run(variant)
        return self._mutants[variant]

    def diagnose(self, got: np.ndarray, *, partial_ok: bool = False) -> Award | None:
        """The first mistake whose trajectory matches ``got``, with its credit.

        With ``partial_ok`` (the student's run diverged) ``got`` is a finite prefix
        and is compared with the same prefix of each mistake.
        """
        n = got.shape[0]

        def matches(m: Any) -> bool:
            traj = self.mutant(m.matcher)
            if traj is None or traj.shape[0] < n or (traj.shape[0] > n and not partial_ok):
                return False
            return compare_positions(got, traj[:n], self.spec.tolerance).ok

        return award(self.spec.mistakes, self.spec.points, matches)

    def score(self, outcome: Outcome) -> TestResult:
        spec = self.spec
        exp = self.expected()
        header = [self._header()] if self._header() else []
        if outcome.status == Status.NON_FINITE:
            step = outcome.step
            lines = header + [f"[non-finite] your positions became NaN or inf at step {step}, "
                              "while the reference stays finite."]
            diags = [Status.NON_FINITE.value]
            partial = outcome.partial
            # A prefix shorter than x_0..x_3 cannot tell mistakes apart (x_1 is the same for many).
            if partial is not None and np.asarray(partial).ndim == 2 and len(partial) >= 4:
                found = self.diagnose(np.asarray(partial, dtype=float), partial_ok=True)
                if found is not None:
                    m = found.mistake
                    lines.append(f"[{m.id}] Up to then your positions matched a known mistake. {m.message}")
                    diags.append(m.id)
            if outcome.message:
                lines.append(outcome.message)
            return self._result(score=0.0, status="failed", lines=lines, diagnoses=diags)
        if outcome.status != Status.OK:
            return self._failed_run(outcome)
        got = np.asarray(outcome.value, dtype=float)
        cmp = compare_positions(got, exp, spec.tolerance)
        if cmp.ok:
            detail = "" if spec.hidden else f" ({_difference_text(cmp, digits=1)})"
            lines = header + [f"Passed: positions match the reference at all {spec.steps} steps{detail}."]
            return self._result(score=spec.points, status="passed", lines=lines, diagnoses=[])
        found = self.diagnose(got)
        if found is not None:
            lines = header + [f"[{found.mistake.id}] {found.mistake.message}"]
            if found.score:
                lines.append(f"Credit: {found.score:g} of {spec.points:g} points.")
            return self._result(score=found.score, status=found.status, lines=lines,
                                diagnoses=[found.mistake.id])
        lines = header + [self._deviation(got, exp, cmp)]
        return self._result(score=0.0, status="failed", lines=lines, diagnoses=["wrong-trajectory"])

    def _deviation(self, got: np.ndarray, exp: np.ndarray, cmp: Comparison) -> str:
        spec = self.spec
        k = cmp.first_bad_step if cmp.first_bad_step is not None else 0
        if spec.hidden:  # no difference figures: they are computed from values the student chose
            return (f"Your positions first differ from the reference at step {k} of {spec.steps}; "
                    "no known mistake matches.")
        return (
            f"Your positions first differ from the reference at step {k} of {spec.steps}: "
            f"expected x_{k} = {_fmt(exp[k])}, got {_fmt(got[k])}. "
            f"{_difference_text(cmp, digits=3, absolute=True).capitalize()}; "
            f"tolerance |got - expected| <= {spec.tolerance.atol:g}*{cmp.scale:.3g} + "
            f"{spec.tolerance.rtol:g}*|expected|. No known mistake matches; "
            f"step 1 by hand: x_1 should be {_fmt(exp[1])}."
        )


@dataclass
class _ValueCheck(Check):
    spec: ValueCheck
    task: Task

    def _close(self, got: float, want: float) -> bool:
        return self.spec.tolerance.accepts(got, want)

    def _kind(self, value: Any) -> str:
        """'a <type>' for feedback; on a hidden check only a fixed word (a class name is the student's text)."""
        if self.spec.hidden:
            return "something else"
        kind = value.get("type", "?") if isinstance(value, dict) else type(value).__name__
        return a_or_an(str(kind))

    def _matches(self, got: Any, wrong: Any) -> bool:
        if isinstance(wrong, (set, frozenset, tuple, list)):
            return any(self._matches(got, w) for w in wrong)
        if self.spec.compare == "label":
            return got == wrong
        return self._close(float(got), float(wrong))

    def score(self, outcome: Outcome) -> TestResult:
        spec = self.spec
        header = [self._header()] if self._header() else []
        if outcome.status != Status.OK:
            return self._failed_run(outcome)
        value = outcome.value
        want = spec.expected
        sig = spec.function
        if spec.compare == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                kind = self._kind(value)
                lines = header + [f"[contract] {sig} must return a float; it returned {kind}."]
                return self._result(score=0.0, status="failed", lines=lines, diagnoses=[Status.CONTRACT.value])
            got: Any = float(value)
            if not np.isfinite(got):
                lines = header + [f"[{Status.NON_FINITE}] {sig} returned {got}."]
                return self._result(score=0.0, status="failed", lines=lines, diagnoses=[Status.NON_FINITE.value])
            ok = self._close(got, float(want))
        else:
            if not isinstance(value, str):
                kind = self._kind(value)
                lines = header + [f"[contract] {sig} must return a str (one of 'minimum', 'maximum', "
                                  f"'saddle', 'degenerate'); it returned {kind}."]
                return self._result(score=0.0, status="failed", lines=lines, diagnoses=[Status.CONTRACT.value])
            got = value.strip().lower()
            ok = got == want
        shown = f"{got:.6g}" if isinstance(got, float) else repr(got)
        if ok:  # on a hidden check the passing value would be the expected value: not shown
            lines = header + [f"Passed: {sig} returned {'the expected value' if spec.hidden else shown}."]
            return self._result(score=spec.points, status="passed", lines=lines, diagnoses=[])
        found = award(spec.mistakes, spec.points, lambda m: self._matches(got, cast(Callable[..., Any], m.matcher)(*spec.args)))
        if found is not None:
            lines = header + [f"[{found.mistake.id}] {found.mistake.message}"]
            if not spec.hidden:
                lines.append(f"Expected {want if isinstance(want, str) else f'{want:.6g}'!s}, got {shown}.")
            return self._result(score=found.score, status=found.status, lines=lines,
                                diagnoses=[found.mistake.id])
        if spec.hidden:  # the returned value is the student's to choose: a channel for the inputs
            lines = header + [f"Wrong answer: {sig} returned a wrong value; no known mistake matches."]
        else:
            w = repr(want) if isinstance(want, str) else f"{want:.6g}"
            lines = header + [f"Wrong answer: expected {w}, got {shown}."]
        return self._result(score=0.0, status="failed", lines=lines, diagnoses=["wrong-value"])


def _task_id(spec: CheckSpec) -> str:
    return spec.name


def compile_check(spec: CheckSpec) -> Check:
    """Turn a spec into a Check holding its sandbox task."""
    if isinstance(spec, TrajectoryCheck):
        payload = {
            "objective": dict(spec.objective),
            "x0": list(spec.x0),
            "lr": spec.lr,
            "beta": spec.beta,
            "steps": spec.steps,
            "dtype": spec.dtype,
        }
        return _TrajectoryCheck(spec, Task(_task_id(spec), spec.function, "trajectory", payload))
    if isinstance(spec, ValueCheck):
        return _ValueCheck(spec, Task(_task_id(spec), spec.function, "call", {"args": list(spec.args)}))
    raise TypeError(f"unknown check spec {type(spec).__name__}")
