"""``ravine selftest``: the bank's own question tests (the counterpart of STACK's question tests).

For ``N`` student variants (the numbers ``ravine assign`` would draw for N
made-up students), it checks with the grader's real code paths that

* every answer part's reference answer gets full marks (free text: it is left
  to the instructor; derivation parts: the target follows from the given, and
  the bare target without work is refused);
* every anticipated wrong answer is recognised (its id among the diagnoses, its
  feedback shown, its credit given) and told apart from the reference (less
  than full marks); every wrong choice scores zero and shows its feedback;
* every mutant of the update rules (the mistake variants of
  ``problems.update_rules`` / ``solvers.rules``) is told apart from the
  reference on every check, public and hidden (hidden ones drawn from N grading
  seeds), with its own id; the reference passes every check.  A value mistake
  (e.g. "determinant only") only applies where its value differs from the
  right one: elsewhere it is counted as not applicable;
* every derivation of the solution manual (``solvers.derive``) verifies.

Each failure names the problem (or check), the variant and the answer.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping, Sequence

__all__ = ["Failure", "SelftestReport", "selftest", "bank_problems", "bank_exercises", "variant_seeds"]

SELFTEST_SECRET = "ravine-selftest"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Failure:
    where: str  # problem part or check
    variant: str  # "student-3 (a=80, b=4)" or "grading seed 7"
    answer: str  # "reference", "anticipated 'ema-form' (...)", "mutant 'momentum-ema'"
    message: str

    def __str__(self) -> str:
        return f"{self.where} [{self.variant}] {self.answer}: {self.message}"


@dataclass
class SelftestReport:
    variants: int
    counts: Counter = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def bank_problems() -> list[Any]:
    from problems import exercise_registry

    return list(exercise_registry.PROBLEMS.values())


def bank_exercises() -> list[Any]:
    from problems import exercise_registry

    return list(exercise_registry.EXERCISES.values())


def variant_seeds(n: int) -> list[tuple[str, bytes]]:
    """N made-up students and their seeds (ravine assign's HMAC, under a fixed selftest secret)."""
    from problems.variants import student_seed

    return [(f"student-{i}", student_seed(SELFTEST_SECRET, f"student-{i}")) for i in range(n)]


def _show(params: Mapping[str, Fraction]) -> str:
    from problems.variants import format_value

    return ", ".join(f"{k}={format_value(v)}" for k, v in params.items())


def _relevant(part: Any) -> list[str]:
    texts = [part.reference, part.explanation, part.given, *(m.matcher for m in part.mistakes),
             *(m.message for m in part.mistakes), *(c.feedback for c in part.choices)]
    return sorted({m.group(1) for t in texts for m in _PLACEHOLDER.finditer(t)})


# ------------------------------------------------------------------------------ answer parts

def _check_part(part: Any, params: Mapping[str, Fraction], where: str, variant: str,
                fail: Callable[[Failure], None], counts: Counter, timeout: float) -> None:
    from problems.variants import render

    from .answer_grading import grade_part

    def bad(answer: str, message: str) -> None:
        fail(Failure(where, variant, answer, message))

    if part.kind == "text":
        r = grade_part(part, render(part.reference, params), params, timeout=timeout)
        counts["reference answers"] += 1
        if r.status != "pending":
            bad("reference", f"free text must be left to the instructor (pending), got {r.status}")
        return
    if part.kind == "derivation":
        _check_derivation_part(part, params, where, variant, fail, counts, timeout)
        return
    ref_text = render(part.reference, params)
    r = grade_part(part, ref_text, params, timeout=timeout)
    counts["reference answers"] += 1
    if r.status != "passed" or abs(r.score - part.points) > 1e-9:
        bad(f"reference ({ref_text})", f"got {r.score:g}/{part.points:g} ({r.status}): "
            f"{r.output.splitlines()[0] if r.output else ''}")
    if part.kind == "choice":
        for c in part.choices:
            if c.key == part.reference:
                continue
            r = grade_part(part, c.key, params, timeout=timeout)
            counts["wrong choices"] += 1
            if r.score != 0 or r.passed:
                bad(f"choice ({c.key})", f"a wrong choice got {r.score:g}/{part.points:g}")
            elif c.feedback and render(c.feedback, params) not in r.output:
                bad(f"choice ({c.key})", "its feedback is not shown")
        return
    for m in part.mistakes:
        text = render(m.matcher, params)
        r = grade_part(part, text, params, timeout=timeout)
        counts["anticipated answers"] += 1
        label = f"anticipated {m.id!r} ({text})"
        want = m.credit * part.points
        if r.passed or r.score >= part.points:
            bad(label, f"not told apart from the reference: it got full marks ({r.score:g}/{part.points:g})")
        elif m.id not in r.diagnoses:
            bad(label, f"not recognised: diagnoses {r.diagnoses or 'none'}, feedback "
                f"{r.output.splitlines()[0][:120] if r.output else ''!r}")
        elif not r.output.startswith(render(m.message, params)):
            bad(label, "its feedback is not shown")
        elif abs(r.score - want) > 1e-9:
            bad(label, f"credit {r.score:g}, expected {want:g}")


def _check_derivation_part(part: Any, params: Mapping[str, Fraction], where: str, variant: str,
                           fail: Callable[[Failure], None], counts: Counter, timeout: float) -> None:
    from problems.variants import render

    from .answer_grading import grade_part
    from .derivcheck import StudentDerivation, StudentStep, check_derivation
    from .formula import SymbolTable

    table = SymbolTable.from_dict(part.table_data())
    target = render(part.reference, params)
    given = render(part.given, params) if part.given else None
    result = check_derivation(StudentDerivation(steps=[StudentStep(target)], given=given), table, target=target,
                              timeout=timeout)
    counts["derivation parts"] += 1
    if not result.ok:
        fail(Failure(where, variant, f"target ({target})", "does not follow from the given "
                     f"({given}): {result.render().splitlines()[-1]}"))
    if part.min_steps > 1:
        r = grade_part(part, target, params, timeout=timeout)
        if r.score >= part.points:
            fail(Failure(where, variant, f"bare target ({target})",
                         f"full marks without the {part.min_steps} steps of work the part asks for"))


def check_answers(problems: Sequence[Any], seeds: Sequence[tuple[str, bytes]], report: SelftestReport,
                  *, timeout: float = 4.0) -> None:
    from problems.variants import draw_params

    done: set[tuple[Any, ...]] = set()
    for problem in problems:
        for part in problem.parts:
            if part.kind == "implementation":
                continue
            names = _relevant(part)
            for label, seed in seeds:
                params = draw_params(problem, seed)
                # the grade depends on the numbers only through the part's placeholders:
                # a variant with the same values was already checked
                key = (part.id, tuple(params.get(n) for n in names))
                if key in done:
                    report.counts["repeated variants skipped"] += 1
                    continue
                done.add(key)
                # a part without placeholders is the same for every student
                variant = f"{label} ({_show({n: params[n] for n in names})})" if names else "every variant"
                _check_part(part, params, part.id, variant, report.failures.append, report.counts, timeout)


# ------------------------------------------------------------------------------ update rules

def _values(wrong: Any) -> list[Any]:
    if isinstance(wrong, (set, frozenset, tuple, list)):
        return sorted(wrong, key=repr)
    return [wrong]


def _check_spec(spec: Any, variant: str, report: SelftestReport) -> None:
    import numpy as np

    from problems.checkspec import TrajectoryCheck

    from .checks import _TrajectoryCheck, compile_check
    from .sandbox import Outcome, Status

    check = compile_check(spec)
    where = spec.name

    def bad(answer: str, message: str) -> None:
        report.failures.append(Failure(where, variant, answer, message))

    if isinstance(spec, TrajectoryCheck):
        assert isinstance(check, _TrajectoryCheck)
        try:
            expected = check.expected()
        except RuntimeError as exc:
            bad("reference", str(exc))
            return
        r = check.score(Outcome(spec.name, Status.OK, expected))
        report.counts["reference runs"] += 1
        if not r.passed:
            bad("reference", f"the reference's own positions got {r.status}")
        for m in spec.mistakes:
            traj = check.mutant(str(m.matcher))
            report.counts["mutant runs"] += 1
            label = f"mutant {m.id!r} ({m.matcher})"
            if traj is None or len(traj) < 4:
                bad(label, "its run is not finite long enough to be recognised")
                continue
            if traj.shape[0] == spec.steps + 1:
                outcome = Outcome(spec.name, Status.OK, traj)
            else:
                outcome = Outcome(spec.name, Status.NON_FINITE, step=int(traj.shape[0]), partial=traj)
            r = check.score(outcome)
            if r.passed:
                bad(label, "not told apart from the reference: it passes")
            elif m.id not in r.diagnoses:
                bad(label, f"told apart but named {r.diagnoses or 'nothing'}, not {m.id!r}")
            elif abs(r.score - m.credit * spec.points) > 1e-9:
                bad(label, f"credit {r.score:g}, expected {m.credit * spec.points:g}")
        return
    want = spec.expected
    r = check.score(Outcome(spec.name, Status.OK, want))
    report.counts["reference runs"] += 1
    if not r.passed:
        bad("reference", f"the reference value got {r.status}")
    for m in spec.mistakes:
        label = f"mutant {m.id!r}"
        with np.errstate(all="ignore"):
            values = _values(m.matcher(*spec.args))
        for value in values:
            same = (value == want) if spec.compare == "label" else \
                spec.tolerance.accepts(float(value), float(want))
            if same:
                report.counts["value mutants not applicable"] += 1
                continue
            report.counts["mutant runs"] += 1
            r = check.score(Outcome(spec.name, Status.OK, value))
            if r.passed:
                bad(label, "not told apart from the reference: it passes")
            elif m.id not in r.diagnoses:
                bad(label, f"told apart but named {r.diagnoses or 'nothing'}, not {m.id!r}")


def check_rules(exercises: Sequence[Any], n: int, report: SelftestReport) -> None:
    for e in exercises:
        for spec in e.public:
            _check_spec(spec, "public", report)
        for seed in range(n):
            for spec in e.hidden(seed):
                _check_spec(spec, f"grading seed {seed}", report)


# ------------------------------------------------------------------------------ derivations

def check_derivations(report: SelftestReport, *, simulate: bool = True) -> None:
    from solvers import derive

    for name in derive.names():
        report.counts["derivations"] += 1
        try:
            derive.verify(name, simulate=simulate)
        except Exception as exc:  # noqa: BLE001 - any failure of a derivation is reported by name
            report.failures.append(Failure(f"derivation {name}", "-", "verify",
                                           f"{type(exc).__name__}: {exc}"))


# ------------------------------------------------------------------------------ all

SECTIONS = ("answers", "rules", "derivations")


def selftest(*, variants: int = 50, problems: Iterable[Any] | None = None,
             exercises: Iterable[Any] | None = None, sections: Sequence[str] = SECTIONS,
             simulate: bool = True, timeout: float = 4.0) -> SelftestReport:
    report = SelftestReport(variants)
    if "answers" in sections:
        t = time.perf_counter()
        check_answers(list(problems) if problems is not None else bank_problems(), variant_seeds(variants),
                      report, timeout=timeout)
        report.seconds["answers"] = time.perf_counter() - t
    if "rules" in sections:
        t = time.perf_counter()
        check_rules(list(exercises) if exercises is not None else bank_exercises(), variants, report)
        report.seconds["rules"] = time.perf_counter() - t
    if "derivations" in sections:
        t = time.perf_counter()
        check_derivations(report, simulate=simulate)
        report.seconds["derivations"] = time.perf_counter() - t
    return report
