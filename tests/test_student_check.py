"""`ravine check` on a handout made by `ravine assign`: answers *read* or not, nothing more.

Every test runs the real CLI (``python -m grader check``) on a notebook written by
``python -m grader assign --roster`` and filled here.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import nbformat
import pytest

import problems
import problems.update_rules
from grader.answers import _numeric_value
from problems.variants import draw_params, render, student_seed

ROOT = Path(__file__).resolve().parents[1]
SECRET = "a-course-secret-of-enough-length"
STUDENT = "s001"
TV_DERIVATION = "v - beta*v = g -- collect v\nv*(1 - beta) = g\nv = g/(1 - beta)"
ANSWER_PARTS = [p for p in problems.parts() if p.graded_by_answers]


def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def params_of(part) -> dict[str, Fraction]:
    return draw_params(problems.get(part.problem_id), student_seed(SECRET, STUDENT))


def reference_functions() -> dict[str, str]:
    src = (ROOT / "examples" / "submissions" / "alice_correct.py").read_text()
    tree = ast.parse(src)
    return {n.name: ast.get_source_segment(src, n) for n in tree.body if isinstance(n, ast.FunctionDef)}


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    """s001's handout, exactly as `ravine assign --roster` writes it."""
    tmp = tmp_path_factory.mktemp("handout")
    (tmp / "roster.csv").write_text(f"id,name\n{STUDENT},Ada\n")
    (tmp / "secret.txt").write_text(SECRET)
    a = cli("assign", "--out", str(tmp / "out"), "--roster", str(tmp / "roster.csv"),
            "--secret-file", str(tmp / "secret.txt"))
    assert a.returncode == 0, a.stderr
    return tmp / "out" / f"{STUDENT}.ipynb"


def filled(handout: Path, dest: Path, answers: dict[str, str]) -> Path:
    """A copy of the handout with the reference implementations and the given answers."""
    nb = nbformat.read(str(handout), as_version=4)
    funcs = reference_functions()
    for cell in nb.cells:
        rv = cell.metadata.get("ravine", {})
        if cell.cell_type == "code" and rv.get("function"):
            cell.source = funcs[rv["function"]]
        elif cell.cell_type == "markdown" and rv.get("part") in answers:
            cell.source = cell.source.splitlines()[0] + "\n\n" + answers[rv["part"]]
    nbformat.write(nb, str(dest))
    return dest


def right_answer(part) -> str:
    return TV_DERIVATION if part.kind == "derivation" else render(part.reference, params_of(part))


def answer_section(stdout: str) -> list[str]:
    head = stdout.index("Answer parts:")
    return stdout[head:].splitlines()[1:]


def test_filled_handout_reads_everywhere_and_exits_0(handout, tmp_path):
    nb = filled(handout, tmp_path / f"{STUDENT}.ipynb", {p.id: right_answer(p) for p in ANSWER_PARTS})
    proc = cli("check", str(nb))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = answer_section(proc.stdout)
    assert lines[:len(ANSWER_PARTS)] == [f"  {p.id:<6} reads" for p in ANSWER_PARTS]
    assert lines[len(ANSWER_PARTS):] == ["", f"Answers that read: {len(ANSWER_PARTS)}/{len(ANSWER_PARTS)}"]
    assert "Total (public checks): 26/26" in proc.stdout
    # nothing about grading answers, and no option that check does not take
    for word in ("--roster", "--secret-file", "generic numbers", "PASS  P", "FAIL  P", "TODO  P"):
        assert word not in proc.stdout + proc.stderr


def test_unreadable_and_missing_answers_say_why_and_exit_1(handout, tmp_path):
    answers = {p.id: right_answer(p) for p in ANSWER_PARTS}
    answers["TV.a"] = "g/(1-beta"
    answers["P1.c"] = "lr/2"  # a numeric part takes numbers only, as `grade` reads it
    answers["P4.a"] = "(z)"
    del answers["P2.a"]  # the handout's TODO stays
    nb = filled(handout, tmp_path / f"{STUDENT}.ipynb", answers)
    proc = cli("check", str(nb))
    assert proc.returncode == 1
    text = "\n".join(answer_section(proc.stdout))
    assert "  TV.a   cannot be read\n        '(' is never closed" in text
    assert re.search(r"  TV.a   cannot be read\n.*\n +g/\(1-beta\n +\^", text)
    assert "  P1.c   cannot be read\n        unknown name 'lr'" in text
    assert "  P4.a   cannot be read\n        '(z)' is not one of the choices a, b, c" in text
    assert "  P2.a   cannot be read\n        no answer yet" in text
    assert f"Answers that read: {len(ANSWER_PARTS) - 4}/{len(ANSWER_PARTS)}" in text


def _secrets_of(part) -> tuple[list[str], list[str]]:
    """(texts, values): what must never reach check's output for this part."""
    params = params_of(part)
    generic = draw_params(problems.get(part.problem_id), None)
    texts: list[str] = []
    values: list[str] = []
    for p in (params, generic):
        if part.reference:
            texts.append(render(part.reference, p))
        if part.explanation:
            texts.append(render(part.explanation, p))
        for m in part.mistakes:
            texts += [m.feedback, render(m.feedback, p) if "{{" in m.feedback else m.feedback]
            if part.kind == "numeric":
                values.append(f"{float(_numeric_value(render(m.answer, p))):.6g}")
            else:
                texts.append(render(m.answer, p))
        if part.kind == "numeric":
            values.append(f"{float(_numeric_value(render(part.reference, p))):.6g}")
    texts += [c.feedback for c in part.choices if c.feedback]
    # one-letter choice keys and tiny formulas are checked by the exact shape of the answer lines
    return [t for t in texts if len(t) >= 6], values


def test_no_reference_value_or_feedback_of_any_part_reaches_check(handout, tmp_path):
    """Answers that are right, or each anticipated mistake, or each choice: check says `reads`, no more."""
    rounds = max(max(len(p.mistakes), len(p.choices)) for p in ANSWER_PARTS)
    for k in range(rounds + 1):
        answers = {}
        for p in ANSWER_PARTS:
            if k == 0:
                answers[p.id] = right_answer(p)
            elif p.kind == "choice":
                answers[p.id] = p.choices[(k - 1) % len(p.choices)].key
            elif p.mistakes:
                answers[p.id] = render(p.mistakes[(k - 1) % len(p.mistakes)].answer, params_of(p))
            else:
                answers[p.id] = right_answer(p)
        nb = filled(handout, tmp_path / f"{STUDENT}-{k}.ipynb", answers)
        proc = cli("check", str(nb), "--json") if k == 1 else cli("check", str(nb))
        out = proc.stdout + proc.stderr
        assert "Traceback" not in out
        for p in ANSWER_PARTS:
            texts, values = _secrets_of(p)
            for t in texts:
                assert t not in out, (k, p.id, t)
            section = "\n".join(answer_section(proc.stdout)[:len(ANSWER_PARTS)]) if k != 1 else \
                json.dumps(json.loads(proc.stdout)["answers"])
            for v in values:  # checked where answers are reported (the public checks print lr=0.01)
                assert not re.search(rf"(?<![\w.]){re.escape(v)}(?![\w.])", section), (k, p.id, v)
        for word in ("Reference answer", "Correct", "expected", "Not (", "partial", "credit"):
            assert word not in out, (k, word)
        if k != 1:
            assert proc.returncode == 0, out  # every answer reads, every public check passes
            assert answer_section(proc.stdout)[:len(ANSWER_PARTS)] == \
                [f"  {p.id:<6} reads" for p in ANSWER_PARTS]


def test_json_lists_answer_formats_without_answer_tests(handout, tmp_path):
    nb = filled(handout, tmp_path / f"{STUDENT}.ipynb", {p.id: right_answer(p) for p in ANSWER_PARTS})
    proc = cli("check", str(nb), "--json")
    data = json.loads(proc.stdout)
    assert {t["part"] for t in data["tests"]} == set(problems.update_rules.FUNCTIONS)
    assert [a["part"] for a in data["answers"]] == [p.id for p in ANSWER_PARTS]
    assert all(a["reads"] and a["message"] == "" for a in data["answers"])
    assert proc.returncode == 0


# --- hints only with the diagnosis they answer --------------------------------------------------

MOMENTUM_HINT = "Update the velocity first, then move x with the new velocity."
MOMENTUM_VARIANTS = {
    "ema": "def momentum_step(x, v, grad_fn, lr, beta):\n"
           "    v = beta * v + (1 - beta) * grad_fn(x)\n    return x - lr * v, v\n",
    "only_x": "def momentum_step(x, v, grad_fn, lr, beta):\n"
              "    v = beta * v + grad_fn(x)\n    return x - lr * v\n",
    "hangs": "def momentum_step(x, v, grad_fn, lr, beta):\n    while True:\n        pass\n",
    "stale": "def momentum_step(x, v, grad_fn, lr, beta):\n"
             "    x_new = x - lr * v\n    return x_new, beta * v + grad_fn(x)\n",
    "unknown": "def momentum_step(x, v, grad_fn, lr, beta):\n"
               "    v = beta * v + grad_fn(x)\n    return x - 1.3 * lr * v, v\n",
}


@pytest.mark.parametrize("variant,hint_expected,diagnosis", [
    ("ema", False, "[ema-form]"),
    ("only_x", False, "[contract]"),
    ("hangs", False, "[timeout]"),
    ("stale", True, "[stale-velocity]"),
    ("unknown", True, "No known mistake matches"),
])
def test_momentum_hint_only_with_its_diagnosis(tmp_path, variant, hint_expected, diagnosis):
    src = (ROOT / "examples" / "submissions" / "alice_correct.py").read_text()
    start = src.index("def momentum_step")
    end = src.index("def nesterov_step")
    sub = tmp_path / f"{variant}.py"
    sub.write_text(src[:start] + MOMENTUM_VARIANTS[variant] + "\n\n" + src[end:])
    proc = cli("check", str(sub), "--timeout", "1")
    assert proc.returncode == 1
    section = proc.stdout[proc.stdout.index("momentum_step: "):proc.stdout.index("nesterov_step: ")]
    assert diagnosis in section
    assert (MOMENTUM_HINT in section) is hint_expected, section
    assert MOMENTUM_HINT not in proc.stdout.replace(section, "")
