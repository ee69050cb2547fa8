"""Grading the answer parts of a notebook (symbolic, numeric, choice, free text, derivation).

Answers are *read*, never executed.  An answer cell is a notebook cell whose
metadata is ``{"ravine": {"part": "P1.a"}}`` (``ravine assign`` writes them);
a cell without that metadata counts when its first line is the instruction
line ``> **P1.a** ...``.  The cell's answer text is:

* markdown or raw cell: the cell's lines, without instruction lines (those
  starting with ``>``), blank lines, ``$``/``$$`` and backticks; the
  placeholder ``TODO`` means "no answer";
* code cell: a single string literal, possibly assigned (``answer = r"2/lambda_max"``),
  read with ``ast.literal_eval`` (never run).

Formula parts join the lines into one formula; derivation parts take one step
per line.  When several cells claim a part, the last one counts (and a message
says so).

``grade_answers`` returns one :class:`grader.results.TestResult` per answer
part (``part`` = the part id, ``group`` = the problem id, ``diagnoses`` = [the
anticipated mistake's id] if one was recognised, or ["over-budget"]).  Implementation parts are left to the
implementation checks.  The student's numbers are recomputed from
``student_id`` and ``secret`` (HMAC); nothing in the notebook is trusted for them.
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Mapping

from grader.equivalence import DEFAULT_TIMEOUT, Verdict, compare
from grader.formula import FormulaError, SymbolTable, Undefined, evaluate, parse
from grader.results import TestResult
from problems.spec import award

__all__ = ["read_answers", "grade_answers", "grade_part", "answer_text", "answer_formats", "NO_ANSWER",
           "ANSWER_BUDGET"]

NO_ANSWER = "TODO"
_MARKER = re.compile(r"^\s*>\s*\*\*\s*([A-Za-z0-9_]+\.[A-Za-z0-9_]+)\s*\*\*")
MAX_ANSWER_CHARS = 5000


def _cell_part(cell: Mapping[str, Any]) -> str | None:
    meta = cell.get("metadata") or {}
    rv = meta.get("ravine") if isinstance(meta, Mapping) else None
    if isinstance(rv, Mapping) and isinstance(rv.get("part"), str):
        return rv["part"]
    src = _source(cell)
    first = src.lstrip().splitlines()[0] if src.strip() else ""
    m = _MARKER.match(first)
    return m.group(1) if m else None


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(str(s) for s in src)
    return src if isinstance(src, str) else ""


def answer_text(cell: Mapping[str, Any]) -> str:
    """The answer written in a cell (see the module docstring); '' when there is none."""
    src = _source(cell)[:MAX_ANSWER_CHARS * 2]
    if cell.get("cell_type") == "code":
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            # not Python (or too deeply nested for CPython's parser, e.g. 9000 unary minus signs,
            # which raises MemoryError): take the text as written; the formula parser's bounds
            # then refuse it with a message
            return src.strip()
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and
                                              isinstance(n.value, ast.Constant) and n is not tree.body[-1])]
        if len(body) == 1:
            node = body[0]
            value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign, ast.Expr)) else None
            if value is not None:
                try:
                    lit = ast.literal_eval(value)
                except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                    lit = None
                if isinstance(lit, str):
                    return _clean(lit)
                if isinstance(lit, (int, float)) and not isinstance(lit, bool):
                    return repr(lit)
        return ""
    return _clean(src)


def _clean(text: str) -> str:
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith(">"):
            continue
        s = s.replace("$$", " ").replace("`", " ").strip()
        if s.startswith("$") and s.endswith("$"):
            s = s.strip("$").strip()
        if s:
            lines.append(s)
    out = "\n".join(lines)
    return "" if out.strip() == NO_ANSWER else out


def read_answers(source: Any) -> tuple[dict[str, str], list[str]]:
    """Part id -> answer text from a notebook (path, nbformat node or dict) or a plain mapping.

    Returns the answers and messages about the notebook (duplicates, unreadable file).
    """
    messages: list[str] = []
    if isinstance(source, Mapping) and "cells" not in source:
        return {str(k): str(v) for k, v in source.items()}, messages
    nb = source
    if isinstance(source, (str, Path)):
        import nbformat

        try:
            nb = nbformat.read(str(source), as_version=4)
        except Exception as exc:  # a malformed notebook is a message, not a crash
            return {}, [f"could not read the notebook {Path(source).name}: "
                        f"{type(exc).__name__}: {str(exc)[:200]}"]
    cells = nb.get("cells") if isinstance(nb, Mapping) else None
    if not isinstance(cells, list):
        return {}, ["the notebook has no list of cells"]
    answers: dict[str, str] = {}
    for i, cell in enumerate(cells):
        if not isinstance(cell, Mapping):
            continue
        pid = _cell_part(cell)
        if pid is None:
            continue
        if pid in answers:
            messages.append(f"several cells answer {pid}; the last one (cell {i + 1}) counts")
        answers[pid] = answer_text(cell)
    return answers, messages


def _result(part: Any, problem_id: str, score: float, status: str, output: str,
            diagnoses: Iterable[str] = ()) -> TestResult:
    return TestResult(
        name=f"{part.id} ({part.kind})", part=part.id, max_score=float(part.points),
        score=score, output=output,
        # Free text shows the reference answer: students see it once grades are published.
        visibility="after_published" if part.kind == "text" else "visible",
        status=status, group=problem_id, diagnoses=list(diagnoses))  # type: ignore[arg-type]


def _numeric_value(text: str) -> Fraction | float:
    f = parse(text, SymbolTable())
    if f.kind != "expr":
        raise FormulaError("expected a number, not an equation or a condition")
    return evaluate(f.node, {})


def grade_part(part: Any, text: str | None, params: Mapping[str, Fraction], *,
               timeout: float = DEFAULT_TIMEOUT) -> TestResult:
    """Grade one answer part; never raises for bad student input."""
    from problems.variants import render

    pid = part.problem_id
    if part.kind == "text":
        ref = render(part.reference, params)
        got = "" if not text else text
        return _result(part, pid, 0.0, "pending",
                       "Graded by the instructor (0 points until then)."
                       + (f"\nYour answer: {got[:2000]}" if got else "\nNo answer was found.")
                       + f"\nReference answer: {ref}")
    if not text or not text.strip():
        return _result(part, pid, 0.0, "failed",
                       f"No answer found for {part.id}: write it in the cell marked {part.id} "
                       f"(replace {NO_ANSWER}).")
    if len(text) > MAX_ANSWER_CHARS:
        return _result(part, pid, 0.0, "error", f"The answer is too long ({len(text)} characters).")
    explanation = f"\n{render(part.explanation, params)}" if part.explanation else ""
    if part.kind == "choice":
        return _grade_choice(part, text)
    if part.kind == "numeric":
        return _grade_numeric(part, text, params, explanation)
    if part.kind == "symbolic":
        return _grade_symbolic(part, text, params, explanation, timeout)
    if part.kind == "derivation":
        return _grade_derivation(part, text, params, timeout)
    raise ValueError(f"{part.id}: {part.kind} parts are not graded from answers")


def _grade_choice(part: Any, text: str) -> TestResult:
    pid = part.problem_id
    chosen = _chosen(part, text)
    if chosen is None:
        return _result(part, pid, 0.0, "error",
                       f"Could not read the choice {text.strip()[:40]!r}: answer with one of "
                       f"{', '.join(c.key for c in part.choices)}.")
    ok = chosen.key == part.reference
    fb = f" {chosen.feedback}" if chosen.feedback else ""
    if ok:
        return _result(part, pid, part.points, "passed", f"Correct ({chosen.key}).{fb}")
    named = [m.id for m in part.mistakes if m.matcher == chosen.key]
    return _result(part, pid, 0.0, "failed", f"Not ({chosen.key}).{fb}", named)


def _chosen(part: Any, text: str) -> Any:
    """The choice an answer names (its key, its text, or "(b) ..."), or None."""
    t = text.strip().strip("()[]. )").strip().lower()
    keys = {c.key.lower(): c for c in part.choices}
    chosen = keys.get(t) or next((c for c in part.choices if c.text.lower() == t), None)
    if chosen is None:
        m = re.match(r"^\(?([a-z])\)", t)
        chosen = keys.get(m.group(1)) if m else None
    return chosen


def _grade_numeric(part: Any, text: str, params: Mapping[str, Fraction],
                   explanation: str) -> TestResult:
    from problems.variants import render

    pid = part.problem_id
    try:
        got = _numeric_value(_without_label(text, SymbolTable()))
    except FormulaError as exc:
        return _result(part, pid, 0.0, "error", f"Could not read your answer:\n{exc}")
    except Undefined as exc:
        return _result(part, pid, 0.0, "error", f"Your answer has no value: {exc}.")
    want = _numeric_value(render(part.reference, params))
    if part.tolerance.accepts(float(got), float(want)):
        return _result(part, pid, part.points, "passed",
                       f"Correct: {_show(got)} (relative tolerance {part.rtol:g}).")
    found = award(part.mistakes, part.points, lambda m: part.tolerance.accepts(
        float(got), float(_numeric_value(render(str(m.matcher), params)))))
    if found is not None:
        return _result(part, pid, found.score, found.status, found.mistake.message + explanation,
                       [found.mistake.id])
    return _result(part, pid, 0.0, "failed",
                   f"{_show(got)} is not the expected value (relative tolerance {part.rtol:g})."
                   + explanation)


def _show(v: Fraction | float) -> str:
    return f"{float(v):.6g}"


def _grade_symbolic(part: Any, text: str, params: Mapping[str, Fraction], explanation: str,
                    timeout: float) -> TestResult:
    from problems.variants import render

    pid = part.problem_id
    table = SymbolTable.from_dict(part.table_data())
    reference = parse(render(part.reference, params), table)
    text = text.replace("\n", " ")
    if reference.kind == "expr":
        text = _without_label(text, table)
    try:
        student = parse(text, table)
    except FormulaError as exc:
        return _result(part, pid, 0.0, "error", f"Could not read your answer:\n{exc}")
    v = compare(student, reference, table, timeout=timeout)
    if v.status == "equal":
        return _result(part, pid, part.points, "passed",
                       f"Correct ({_method(v)}).")
    found = award(part.mistakes, part.points, lambda m: compare(
        student, parse(render(str(m.matcher), params), table), table, timeout=timeout).status == "equal")
    if found is not None:
        return _result(part, pid, found.score, found.status, found.mistake.message + explanation,
                       [found.mistake.id])
    if v.status == "undecided":
        return _result(part, pid, 0.0, "pending",
                       "Could not decide automatically whether your answer equals the reference "
                       f"({v.evidence}); the instructor will check it.")
    return _result(part, pid, 0.0, "failed",
                   f"Not the expected answer: {_without_reference(v.evidence)}.{explanation}")


def _without_reference(evidence: str) -> str:
    """The counter-example with the student's value but not the reference's.

    "at beta = 0.5 your formula gives 2, expected 3" would hand out the reference at a
    point of the student's choosing, over repeated submissions enough to fit it.
    """
    evidence = re.sub(r"[,;] expected [^;]*$", "", evidence)
    return evidence + " (the expected answer differs there)" if evidence.startswith("at ") or \
        evidence.startswith("your formula is undefined") else evidence


_LABEL = re.compile(r"^\s*[A-Za-z\\][A-Za-z0-9_{}\\]*\s*=(?![=<>])(.+)$", re.S)


def _without_label(text: str, table: SymbolTable) -> str:
    """The answer without a label: in "lr = 0.02" or "v_inf = g/(1-beta)" (not an expression
    itself) the name on the left only names the value on the right."""
    m = _LABEL.match(text)
    return m.group(1) if m and not _parses(text, table) else text


def _parses(text: str, table: SymbolTable) -> bool:
    try:
        return parse(text, table).kind == "expr"
    except FormulaError:
        return False


def _method(v: Verdict) -> str:
    if v.method == "symbolic":
        return "checked symbolically"
    return f"checked numerically: {v.evidence}"


def _grade_derivation(part: Any, text: str, params: Mapping[str, Fraction],
                      timeout: float) -> TestResult:
    from grader.derivcheck import DerivationError, check_part_derivation, parse_derivation

    pid = part.problem_id
    try:
        result = check_part_derivation(part, parse_derivation(text), params, timeout=timeout)
    except DerivationError as exc:
        return _result(part, pid, 0.0, "error", f"Could not read your derivation:\n{exc}")
    if result.shortfall:
        return _result(part, pid, 0.0, "failed", result.shortfall)
    if result.ok:
        return _result(part, pid, part.points, "passed",
                       f"Correct: all {len(result.steps)} steps follow and the last is the result.")
    status = "pending" if (result.first_failure and result.first_failure.status == "undecided") \
        or result.target_status == "undecided" else "failed"
    return _result(part, pid, 0.0, status, result.render())


# Seconds of symbolic work (SymPy requests) that one notebook's answers may take in all.  A
# correct notebook needs about a second; a crafted one (13 formulas SymPy cannot simplify, each
# compared with the reference and every anticipated mistake) took 163 s before this budget.
ANSWER_BUDGET = 60.0
OVER_BUDGET_TAG = "over-budget"
# Parts that need SymPy; the others (choice, numeric, text) are cheap and always graded.
_BUDGETED_KINDS = ("symbolic", "derivation")


def _over_budget(part: Any, problem_id: str, seconds: float) -> TestResult:
    return _result(part, problem_id, 0.0, "pending",
                   "Not decided automatically: this notebook's answers used up their grading time "
                   f"({seconds:g} s), so your instructor will check this part by hand (0 points until then).",
                   [OVER_BUDGET_TAG])


def _quick_pass(part: Any, text: str | None, params: Mapping[str, Fraction]) -> TestResult | None:
    """Full points if a formula answer agrees with the reference numerically (no SymPy), else None."""
    from problems.variants import render

    if part.kind != "symbolic" or not text or len(text) > MAX_ANSWER_CHARS:
        return None
    try:
        table = SymbolTable.from_dict(part.table_data())
        reference = parse(render(part.reference, params), table)
        text = text.replace("\n", " ")
        if reference.kind == "expr":
            text = _without_label(text, table)
        v = compare(parse(text, table), reference, table, symbolic=False)
    except Exception:  # noqa: BLE001 - no verdict: the instructor decides
        return None
    if v.status != "equal":
        return None
    return _result(part, part.problem_id, part.points, "passed", f"Correct ({_method(v)}).")


def grade_answers(notebook_or_answers: Any, *, student_id: str | None, secret: bytes | str | None,
                  problems: Iterable[str] | None = None,
                  timeout: float = DEFAULT_TIMEOUT, budget: float | None = None) -> list[TestResult]:
    """Grade every answer part of the bank (or of ``problems``) for one student.

    ``notebook_or_answers``: an .ipynb path, an nbformat notebook, or a mapping
    part id -> answer text.  ``student_id`` and ``secret`` give the student's
    numbers (both None: the generic notebook's numbers).  Notebook-level
    messages (unreadable file, duplicate cells) are prefixed to the first result's output.

    ``budget`` (default ``ANSWER_BUDGET``) caps the symbolic work of the whole notebook.  A
    formula or derivation part that is not passed when the budget runs out, or not started,
    is ``pending`` with the tag ``over-budget``: for the instructor, never a silent zero.
    """
    from grader.sympy_client import budget as symbolic_budget

    seconds = ANSWER_BUDGET if budget is None else float(budget)
    with symbolic_budget(seconds) as b:
        return _grade_answers(notebook_or_answers, student_id=student_id, secret=secret,
                              problems=problems, timeout=timeout, b=b)


def _grade_answers(notebook_or_answers: Any, *, student_id: str | None, secret: bytes | str | None,
                   problems: Iterable[str] | None, timeout: float, b: Any) -> list[TestResult]:
    from problems import exercise_registry
    from problems.variants import draw_params, student_seed

    seed = None
    if student_id is not None and secret is not None:
        seed = student_seed(secret, student_id)
    elif (student_id is None) != (secret is None):
        raise ValueError("student_id and secret go together (or both None for the generic numbers)")
    answers, messages = read_answers(notebook_or_answers)
    wanted = list(problems) if problems is not None else list(exercise_registry.PROBLEMS)
    results: list[TestResult] = []
    for problem_id in wanted:
        problem = exercise_registry.get(problem_id)
        params = draw_params(problem, seed)
        for part in problem.parts:
            if not part.graded_by_answers:
                continue
            budgeted = part.kind in _BUDGETED_KINDS and bool((answers.get(part.id) or "").strip())
            if budgeted and b.remaining() <= 0:
                # Out of budget: a formula may still pass on the numbers alone (the reference only,
                # no SymPy, within a short grace); anything else waits for the instructor.
                quick = _quick_pass(part, answers.get(part.id), params) \
                    if b.remaining() > -min(10.0, b.seconds / 2) else None
                results.append(quick or _over_budget(part, problem.id, b.seconds))
                continue
            try:
                r = grade_part(part, answers.get(part.id), params, timeout=timeout)
            except Exception as exc:  # a grader bug must not sink the other parts
                r = _result(part, problem.id, 0.0, "error",
                            f"internal grader error on this part: {type(exc).__name__}: {exc}")
            # The budget ran out while this part was graded: a symbolic check may have been cut
            # short, so anything but a pass is left to the instructor.
            if budgeted and b.remaining() <= 0 and r.status != "passed":
                r = _over_budget(part, problem.id, b.seconds)
            results.append(r)
    if messages and results:
        results[0].output = "\n".join(messages) + "\n" + results[0].output
    return results


def answer_formats(notebook: Any) -> list[tuple[str, bool, str]]:
    """For ``ravine check``: does each answer *read*, as ``grade`` would read it?

    Returns (part id, reads, why not) for every answer part of the bank, in bank order;
    "why not" is '' for an answer that reads, else the parser's message (with a caret
    where it has one).  Nothing here looks at a reference, a mistake or the student's
    numbers: whether an answer is right is never computed, so it cannot be shown.
    """
    from problems import exercise_registry

    answers, _ = read_answers(notebook)
    out: list[tuple[str, bool, str]] = []
    for problem in exercise_registry.PROBLEMS.values():
        for part in problem.parts:
            if not part.graded_by_answers:
                continue
            why = _why_unreadable(part, answers.get(part.id))
            out.append((part.id, not why, why))
    return out


def _why_unreadable(part: Any, text: str | None) -> str:
    """'' when ``grade_part`` would read ``text`` for ``part``, else the reason (as it would say it)."""
    from grader.derivcheck import DerivationError, parse_derivation

    if not text or not text.strip():
        return "no answer yet"
    if len(text) > MAX_ANSWER_CHARS:
        return f"the answer is too long ({len(text)} characters; at most {MAX_ANSWER_CHARS})"
    try:
        if part.kind == "text":
            return ""
        if part.kind == "choice":
            if _chosen(part, text) is not None:
                return ""
            return (f"{text.strip()[:40]!r} is not one of the choices "
                    f"{', '.join(c.key for c in part.choices)}")
        if part.kind == "numeric":
            try:
                _numeric_value(_without_label(text, SymbolTable()))
            except Undefined as exc:
                return f"the answer has no value: {exc}"
            return ""
        table = SymbolTable.from_dict(part.table_data())
        if part.kind == "derivation":
            d = parse_derivation(text)
            for step in d.steps:
                parse(step.text, table)
            return ""
        parse(_without_label(text.replace("\n", " "), table), table)
        return ""
    except (FormulaError, DerivationError) as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a format check must not crash the report
        return f"could not be read ({type(exc).__name__})"
