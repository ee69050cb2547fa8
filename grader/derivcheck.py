"""Checking a student derivation step by step.

A derivation is a list of steps, each an expression, an equation or a
condition, optionally with a one-line reason.  Two shapes are checked:

* **a chain of expressions** (``lr * sum beta^k`` ... ``lr/(1-beta)``): every
  step must be *equal* to the previous one on the domain (compared with
  :func:`grader.equivalence.compare`: symbolic, numeric fallback);
* **a chain of equations / conditions** (``v = beta v + g`` ... ``v = g/(1-beta)``):
  every step must *follow* from the previous one (and the first from the
  ``given``, when there is one): at every point of the domain where the
  previous step holds, this one holds too (checked numerically on random and
  boundary points, see :func:`grader.equivalence.implies`).

The last step must be equivalent to the target.  The first step that does not
follow is reported with a counter-example.

Text format (``ravine verify FILE``; one item per line)::

    # a comment line
    target: v = g/(1 - beta)           # what must be derived (or use --problem)
    given:  v = beta*v + g             # optional starting point (at most one)
    assume: 0 < beta < 1               # optional domain conditions (any number)
    v - beta*v = g          -- move beta*v to the left
    v*(1 - beta) = g        -- factor out v
    v = g/(1 - beta)        -- divide by 1 - beta, which is not 0

A step's reason follows `` -- `` (two dashes with spaces around them) or
`` # ``.  Formulas use the syntax of :mod:`grader.formula` (plain or LaTeX).

JSON format: ``{"target": str, "given": str?, "assume": [str], "problem": str?,
"steps": [str | {"step": str, "reason": str}]}``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from grader.equivalence import DEFAULT_TIMEOUT, Verdict, compare, implies
from grader.formula import Formula, FormulaError, SymbolTable, parse

__all__ = ["StudentStep", "StepResult", "DerivationResult", "StudentDerivation", "DerivationError",
           "parse_derivation", "check_derivation", "check_part_derivation"]


class DerivationError(ValueError):
    """The derivation file is malformed (exit status 2 of ``ravine verify``)."""


@dataclass(frozen=True)
class StudentStep:
    """One line of a student's derivation as written (not :class:`solvers.derive.core.Step`, a checked
    step of the textbook's own derivations)."""

    text: str
    reason: str = ""
    line: int = 0  # 1-based line in the source file (0: not from a file)


@dataclass
class StudentDerivation:
    """A student's derivation read from text or JSON: its steps and the optional header lines."""

    steps: list[StudentStep]
    target: str | None = None
    given: str | None = None
    assume: list[str] = field(default_factory=list)
    problem: str | None = None


@dataclass
class StepResult:
    index: int  # 1-based step number
    step: StudentStep
    status: str  # "ok", "fails", "undecided"
    verdict: Verdict | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "step": self.step.text, "reason": self.step.reason,
                "line": self.step.line, "status": self.status,
                "verdict": self.verdict.to_dict() if self.verdict else None}


@dataclass
class DerivationResult:
    ok: bool
    steps: list[StepResult]
    target_status: str  # "ok", "fails", "undecided", "unchecked"
    target_verdict: Verdict | None = None
    message: str = ""
    # set when every step checks but the part asks for more steps (show the work): then ok is False
    shortfall: str = ""

    @property
    def first_failure(self) -> StepResult | None:
        for s in self.steps:
            if s.status != "ok":
                return s
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, "shortfall": self.shortfall,
                "target_status": self.target_status,
                "target_verdict": self.target_verdict.to_dict() if self.target_verdict else None,
                "steps": [s.to_dict() for s in self.steps]}

    def render(self) -> str:
        lines = []
        for s in self.steps:
            mark = {"ok": "ok  ", "fails": "FAIL", "undecided": "??  "}[s.status]
            how = f" [{s.verdict.method}]" if s.verdict else ""
            why = f"   -- {s.step.reason}" if s.step.reason else ""
            lines.append(f"{mark} step {s.index}: {s.step.text}{why}{how}")
            if s.status != "ok" and s.verdict:
                lines.append(f"       {s.verdict.evidence}")
        if self.target_verdict is not None:
            mark = {"ok": "ok  ", "fails": "FAIL", "undecided": "??  "}.get(self.target_status, "")
            lines.append(f"{mark} last step equals the target [{self.target_verdict.method}]")
            if self.target_status != "ok":
                lines.append(f"       {self.target_verdict.evidence}")
        lines.append(self.message)
        return "\n".join(lines)


_HEADER = re.compile(r"^\s*(target|given|assume|problem)\s*:\s*(.*)$", re.IGNORECASE)
_REASON = re.compile(r"\s(--|#)\s")


def parse_derivation(source: str) -> StudentDerivation:
    """Read the text or JSON format (JSON when the first non-blank character is ``{``)."""
    if source.lstrip().startswith("{"):
        return _from_json(source)
    d = StudentDerivation(steps=[])
    for lineno, raw in enumerate(source.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("--"):
            continue
        m = _HEADER.match(line)
        text, reason = line, ""
        if m:
            key, text = m.group(1).lower(), m.group(2)
            text = _REASON.split(" " + text + " ", maxsplit=1)[0].strip()
            if key == "target":
                d.target = text
            elif key == "given":
                if d.given is not None:
                    raise DerivationError(f"line {lineno}: only one 'given:' line is supported")
                d.given = text
            elif key == "assume":
                d.assume.append(text)
            else:
                d.problem = text
            continue
        parts = _REASON.split(" " + line + " ", maxsplit=1)
        if len(parts) == 3:
            text, reason = parts[0].strip(), parts[2].strip()
        d.steps.append(StudentStep(text.strip(), reason, lineno))
    return d


def _from_json(source: str) -> StudentDerivation:
    try:
        data = json.loads(source)
    except json.JSONDecodeError as exc:
        raise DerivationError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise DerivationError('JSON derivation must be an object with a "steps" list')
    steps = []
    for i, item in enumerate(data["steps"], 1):
        if isinstance(item, str):
            steps.append(StudentStep(item, "", 0))
        elif isinstance(item, dict) and isinstance(item.get("step"), str):
            steps.append(StudentStep(item["step"], str(item.get("reason", "")), 0))
        else:
            raise DerivationError(f'step {i}: expected a string or {{"step": ..., "reason": ...}}')
    for key in ("target", "given", "problem"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise DerivationError(f'"{key}" must be a string')
    assume = data.get("assume", [])
    if isinstance(assume, str):
        assume = [assume]
    if not isinstance(assume, list) or not all(isinstance(a, str) for a in assume):
        raise DerivationError('"assume" must be a list of strings')
    return StudentDerivation(steps, data.get("target"), data.get("given"), list(assume), data.get("problem"))


def _where(step: StudentStep, index: int) -> str:
    return f"line {step.line}" if step.line else f"step {index}"


MAX_STEPS = 60
BUDGET = 30.0  # seconds for a whole derivation; later steps are reported as not verified


def check_derivation(derivation: StudentDerivation, table: SymbolTable | None = None, *,
                     target: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                     symbolic: bool = True, budget: float = BUDGET) -> DerivationResult:
    """Check every step; raise :class:`DerivationError` (with positions) when a formula does not parse.

    ``table`` defaults to an open table (any name, real); ``assume:`` lines add
    constraints.  ``target`` overrides the derivation's own.
    """
    if not derivation.steps:
        raise DerivationError("the derivation has no steps")
    if len(derivation.steps) > MAX_STEPS:
        raise DerivationError(f"too many steps ({len(derivation.steps)}; at most {MAX_STEPS})")
    deadline = time.monotonic() + budget
    target_text = target if target is not None else derivation.target
    base = table if table is not None else SymbolTable(open=True)
    # names and designated variable: the target's left side when it is a single name
    probe = base.with_open() if not base.open else base
    try:
        tgt = parse(target_text, probe) if target_text else None
    except FormulaError as exc:
        raise DerivationError(f"target: {exc}") from None
    designated = base.designated
    if tgt is not None and tgt.kind != "expr" and tgt.node.args[0].kind == "sym":
        designated = tgt.node.args[0].value
    table = SymbolTable(base.symbols, tuple(base.constraints) + tuple(derivation.assume),
                        designated, base.open)
    formulas: list[Formula] = []
    for i, st in enumerate(derivation.steps, 1):
        try:
            formulas.append(parse(st.text, table))
        except FormulaError as exc:
            raise DerivationError(f"{_where(st, i)}: {exc}") from None
    try:
        for a in derivation.assume:
            if parse(a, table).kind == "expr":
                raise DerivationError(f"assume: '{a}' is not a condition")
        given = parse(derivation.given, table) if derivation.given else None
        tgt = parse(target_text, table) if target_text else None
    except FormulaError as exc:
        raise DerivationError(f"given/assume/target: {exc}") from None
    kinds = ["expr" if f.kind == "expr" else "cond" for f in formulas]
    chain_kind = kinds[0]
    odd = next((i for i, k in enumerate(kinds) if k != chain_kind), None)
    if odd is not None:
        st = derivation.steps[odd]
        what = {"expr": "an expression", "cond": "an equation or condition"}
        raise DerivationError(
            f"{_where(st, odd + 1)}: '{st.text}' is {what[kinds[odd]]}, but step 1 is "
            f"{what[chain_kind]}: steps must be all expressions (a chain of equal expressions) or "
            "all equations/conditions (each following from the previous), not a mix")
    if given is not None and (given.kind == "expr") != (chain_kind == "expr"):
        if given.kind == "expr":
            raise DerivationError(
                f"given: '{derivation.given}' is an expression, but the steps are equations/"
                "conditions: write the given as an equation or condition to start from (e.g. "
                "'v = beta*v + g'), or write every step as an expression equal to the given")
        raise DerivationError(
            f"given: '{derivation.given}' is an equation/condition, but the steps are "
            "expressions: write every step as an equation or condition that follows from it "
            "(e.g. 'v - beta*v = g'), or give an expression to start from")
    if given is None and tgt is None and len(formulas) == 1:
        raise DerivationError(
            f"nothing to check: {_where(derivation.steps[0], 1)} ('{derivation.steps[0].text}') is "
            "the only step and there is no target: or given: line. A derivation is a chain of "
            "steps, each an equation or condition that follows from the previous (like "
            "'v = beta*v + g') or an expression equal to the previous (see examples/derivations/)")
    # table-less symbols used in assumptions need sampling specs: open tables provide them
    results: list[StepResult] = []
    previous = given
    for i, (st, f) in enumerate(zip(derivation.steps, formulas), 1):
        if previous is None:
            results.append(StepResult(i, st, "ok", None))
            previous = f
            continue
        if time.monotonic() > deadline:
            v = Verdict("undecided", "none", f"time limit ({budget:g} s) reached before this step")
        elif chain_kind == "expr":
            v = compare(f, previous, table, timeout=timeout, symbolic=symbolic, seed=i)
        else:
            v = implies(previous, f, table, seed=i)
        status = {"equal": "ok", "different": "fails", "undecided": "undecided"}[v.status]
        if status == "fails" and chain_kind == "expr":
            v.evidence = f"step {i} is not equal to step {i - 1}: {v.evidence}"
        elif status == "fails":
            v.evidence = f"step {i} does not follow from {'step ' + str(i - 1) if i > 1 else 'the given'}: {v.evidence}"
        results.append(StepResult(i, st, status, v))
        previous = f
        if status != "ok":
            break
    bad = next((r for r in results if r.status != "ok"), None)
    if bad is not None:
        verdict = "does not follow" if bad.status == "fails" else "could not be verified"
        return DerivationResult(False, results, "unchecked", None,
                                f"step {bad.index} ({_where(bad.step, bad.index)}) {verdict}")
    if tgt is None:
        verdict = "every step equals the previous one" if chain_kind == "expr" else "every step follows"
        return DerivationResult(True, results, "unchecked", None,
                                f"{verdict} (no target given: the result was not checked)")
    last = formulas[-1]
    solved = _solved_for(tgt)
    if solved is not None and _solved_for(last) != solved:
        tv = Verdict("different", "form", f"the last step must state the result as "
                     f"{solved} = ... (with {solved} only on one side), like the target")
        return DerivationResult(False, results, "fails", tv,
                                "every step follows, but the last step is not the target")
    tv = compare(last, tgt, table, timeout=timeout, symbolic=symbolic, seed=99)
    status = {"equal": "ok", "different": "fails", "undecided": "undecided"}[tv.status]
    if status == "ok":
        msg = "the derivation checks: every step follows and the last equals the target"
    elif status == "fails":
        msg = "every step follows, but the last step is not the target"
    else:
        msg = "every step follows, but the last step could not be compared with the target"
    return DerivationResult(status == "ok", results, status, tv, msg)


def _solved_for(f: Formula) -> str | None:
    """The name an equation is solved for (``v = expr`` with v not in expr), else None."""
    if f.kind != "equation":
        return None
    lhs, rhs = f.node.args
    for a, b in ((lhs, rhs), (rhs, lhs)):
        if a.kind == "sym" and a.value not in b.symbols():
            return a.value
    return None


def check_part_derivation(part: Any, derivation: StudentDerivation, params: Any = None, *,
                          timeout: float = DEFAULT_TIMEOUT) -> DerivationResult:
    """Check a derivation against a problem-bank derivation part: the one rule that both
    ``ravine verify --problem`` and ``ravine grade`` apply.

    * the part fixes the symbols, the domain, the target and the starting point (``given``);
      a ``target:`` or ``given:`` line in the derivation must state the same (else
      :class:`DerivationError`), and an ``assume:`` line must hold on the whole domain (a
      derivation may not narrow the problem);
    * a derivation whose steps all check but that has fewer than ``part.min_steps`` steps does
      not pass (``shortfall`` says why: show the work).

    ``params`` are the student's numbers (None: the part's default numbers).
    """
    from problems import exercise_registry
    from problems.variants import render

    if params is None:
        params = exercise_registry.default_params(part)
    table = SymbolTable.from_dict(part.table_data())
    target = render(part.reference, params)
    given = render(part.given, params) if part.given else None
    for label, own, fixed in (("target", derivation.target, target), ("given", derivation.given, given)):
        if own is None:
            continue
        if fixed is None:
            raise DerivationError(f"{label}: {part.id} has no {label}; remove the '{label}:' line")
        try:
            same = compare(parse(own, table), parse(fixed, table), table, timeout=timeout)
        except FormulaError as exc:
            raise DerivationError(f"{label}: {exc}") from None
        if same.status != "equal":
            raise DerivationError(f"{label}: {part.id} fixes its {label} as '{fixed}'; remove the "
                                  f"'{label}:' line or write that")
    for a in derivation.assume:
        _check_assumption_in_domain(a, table, part.id)
    d = StudentDerivation(derivation.steps, target, given, list(derivation.assume), part.id)
    result = check_derivation(d, table, target=target, timeout=timeout)
    if result.ok and len(result.steps) < part.min_steps:
        result.ok = False
        result.shortfall = (f"The result is right, but show your work: at least {part.min_steps} "
                            f"steps (you gave {len(result.steps)}).")
        result.message = (f"every step follows and the last equals the target, but show your work: at "
                          f"least {part.min_steps} steps are required (you gave {len(result.steps)})")
    return result


def _check_assumption_in_domain(text: str, table: SymbolTable, part_id: str) -> None:
    """An ``assume:`` line may restate the part's domain, not narrow it."""
    from grader.equivalence import holds, sample_points

    try:
        f = parse(text, table)
    except FormulaError as exc:
        raise DerivationError(f"assume: {exc}") from None
    if f.kind == "expr":
        raise DerivationError(f"assume: '{text}' is not a condition")
    for env in sample_points(table, f.symbols, n=60, seed=7):
        if holds(f.node, env) is False:
            at = ", ".join(f"{k} = {v}" for k, v in sorted(env.items()))
            raise DerivationError(f"assume: '{text}' narrows the domain of {part_id} (it fails at "
                                  f"{at}); a derivation must hold on the whole domain, so remove "
                                  "that 'assume:' line")
