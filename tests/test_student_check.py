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
from grader.answer_grading import _numeric_value
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
    assert "  TV.a   cannot be read: '(' is never closed" in text
    assert re.search(r"  TV.a   cannot be read: .*\n          g/\(1-beta\n +\^\n", text)
    assert "  P1.c   cannot be read: unknown name 'lr'" in text
    assert "  P4.a   cannot be read: '(z)' is not one of the choices a, b, c\n" in text
    assert "  P2.a   cannot be read: no answer yet\n" in text
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
            texts += [m.message, render(m.message, p) if "{{" in m.message else m.message]
            if part.kind == "numeric":
                values.append(f"{float(_numeric_value(render(str(m.matcher), p))):.6g}")
            else:
                texts.append(render(str(m.matcher), p))
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
                answers[p.id] = render(p.mistakes[(k - 1) % len(p.mistakes)].matcher, params_of(p))
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


# --- small ones: messages a student reads ---------------------------------------------------------

def with_functions(tmp_path: Path, name: str, replace: dict[str, str]) -> Path:
    """alice_correct.py with some functions replaced by the given source."""
    src = (ROOT / "examples" / "submissions" / "alice_correct.py").read_text()
    src = src.split('\nif __name__ == "__main__":')[0]
    tree = ast.parse(src)
    for node in sorted((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in replace),
                       key=lambda n: -n.lineno):
        lines = src.splitlines(keepends=True)
        src = "".join(lines[:node.lineno - 1]) + replace[node.name] + "".join(lines[node.end_lineno:])
    path = tmp_path / name
    path.write_text(src)
    return path


def test_missing_file_is_named_once():
    proc = cli("check", "no-such-submission.py")
    assert proc.returncode == 2
    assert proc.stderr == "ravine check: no-such-submission.py: no such file\n"


def test_type_names_take_their_article(tmp_path):
    sub = with_functions(tmp_path, "arrays.py", {
        "largest_stable_lr": "def largest_stable_lr(H):\n    return np.array([1.0])\n",
        "momentum_step": "def momentum_step(x, v, grad_fn, lr, beta):\n    return x - lr * grad_fn(x)\n",
        "classify_critical_point": "def classify_critical_point(H):\n    return 1\n",
        "effective_lr": "def effective_lr(lr, beta):\n    return [lr]\n",
    })
    out = cli("check", str(sub)).stdout
    assert "largest_stable_lr must return a float; it returned an ndarray." in out
    assert "momentum_step returned an ndarray, expected a tuple (x_new, v_new)" in out
    assert "'saddle', 'degenerate'); it returned an int." in out
    assert "effective_lr must return a float; it returned a list." in out
    assert " a ndarray" not in out


def test_difference_where_the_expected_value_is_zero_is_absolute(tmp_path):
    # momentum at lr=0.01 on the ravine: the reference x_1 = (0, 0.99) has an exact 0
    sub = with_functions(tmp_path, "off.py", {"momentum_step": MOMENTUM_VARIANTS["unknown"]})
    out = cli("check", str(sub)).stdout
    ravine = out[out.index("momentum_step: the lecture's ravine"):out.index("momentum_step: 1-D quadratic")]
    assert "expected x_1 = [0, 0.99]" in ravine
    assert "Max absolute difference 1.067e+00 (no relative difference: an expected value is 0 where the " \
           "positions differ)" in ravine
    assert "e+300" not in out and "inf" not in ravine
    quad = out[out.index("momentum_step: 1-D quadratic"):out.index("momentum_step: Rosenbrock")]
    assert re.search(r"Max absolute difference \d\.\d{3}e[+-]\d\d, max relative difference \d\.\d{3}e[+-]\d\d;",
                     quad)


_CELL = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": "x = 1"}


@pytest.mark.parametrize("content,message", [
    ({"cells": 5, "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
     "'cells' is a number, expected a list of cells"),
    ({"cells": [{**_CELL, "source": ["x = 1\n", 5]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
     "cell 1 (counting every cell from 1): 'source' is a list holding something other than text, "
     "expected text or a list of lines"),
    ({"cells": [_CELL, 7], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
     "cell 2 (counting every cell from 1) is a number, expected an object"),
    ({"cells": [{**_CELL, "metadata": 5}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
     "cell 1 (counting every cell from 1): 'metadata' is a number, expected an object"),
    ({"cells": [], "metadata": 5, "nbformat": 4, "nbformat_minor": 5},
     "the notebook's 'metadata' is a number, expected an object"),
    ({"worksheets": 5, "metadata": {}, "nbformat": 3, "nbformat_minor": 0},
     "'worksheets' is a number, expected a list of objects (format 3)"),
    ({"nbformat": "x"}, "'nbformat' is text, expected the format version 4"),
    ([1, 2], "the file holds a list, expected a JSON object with 'cells'"),
    ({"metadata": {}, "nbformat": 4, "nbformat_minor": 5}, "no 'cells' key (the list of the notebook's cells)"),
])
def test_malformed_notebook_says_what_is_malformed(tmp_path, content, message):
    nb = tmp_path / "hw.ipynb"
    nb.write_text(json.dumps(content))
    proc = cli("check", str(nb))
    assert proc.returncode == 2
    assert proc.stderr == f"ravine check: hw.ipynb: malformed notebook: {message}\n"
    assert "Error" not in proc.stderr


def test_importing_a_helper_module_says_a_submission_is_one_file(tmp_path):
    (tmp_path / "helpers.py").write_text("def sgd_step(x, grad_fn, lr):\n    return x - lr * grad_fn(x)\n")
    (tmp_path / "main.py").write_text("from helpers import sgd_step\n")
    out = cli("check", str(tmp_path / "main.py")).stdout
    assert "! main.py raised ModuleNotFoundError: No module named 'helpers'" in out
    assert "! If helpers is a module of your own: a submission is one file" in out
    assert "sgd_step: 0/6" in out


def test_a_latin1_file_with_a_coding_line_is_read_as_python_reads_it(tmp_path):
    sub = tmp_path / "latin.py"
    src = (ROOT / "examples" / "submissions" / "alice_correct.py").read_text()
    sub.write_bytes(b"# -*- coding: latin-1 -*-\n# Gr\xfc\xdfe, caf\xe9\n" + src.encode("ascii")
                    + b"\nNOTE = 'd\xe9j\xe0 vu'\n")
    proc = cli("check", str(sub))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Total (public checks): 26/26" in proc.stdout


@pytest.mark.parametrize("data,message", [
    (b"# -*- coding: klingon -*-\nx = 1\n",
     "its coding line declares an encoding Python does not know (unknown encoding: klingon); save the file "
     "as UTF-8 and remove the coding line"),
    (b"x = 'caf\xe9'\n", "not UTF-8 text (undecodable byte at offset 8); save the file as UTF-8"),
    (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n",
     "the file starts with a UTF-8 byte order mark but its coding line names another encoding; remove one "
     "of them"),
])
def test_undecodable_python_says_exactly_why(tmp_path, data, message):
    sub = tmp_path / "enc.py"
    sub.write_bytes(data)
    proc = cli("check", str(sub))
    assert proc.returncode == 2
    assert proc.stderr == f"ravine check: enc.py: {message}\n"
