"""Loading submissions and running them isolated (grader/submission.py, grader/sandbox.py).

Every run here starts real child processes with small limits, so the file stays fast.
"""

from __future__ import annotations

import ast
import base64
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader import sandbox as sandbox_mod
from grader.sandbox import INTERFERENCE, Limits, Outcome, RunReport, Task, run_submission
from grader.submission import (
    Cell,
    Submission,
    SubmissionError,
    collect_submissions,
    load_submission,
    scan_forbidden,
    strip_magics,
)

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = Path(__file__).resolve().parent / "fixtures" / "hostile"
MODE = sandbox_mod.resolve("auto").mode  # the isolation these tests run in (auto's choice here)
FAST = Limits(function_timeout=1.0, load_timeout=2.0, memory_bytes=1 << 30, file_size_bytes=1 << 20)

RAVINE = {"kind": "ravine"}
H_RAVINE = np.diag([100.0, 1.0])
X0 = [1.0, 1.0]
LR, BETA, STEPS = 0.01, 0.9, 6


def _traj(function: str, tid: str | None = None, **overrides) -> Task:
    payload = {"objective": RAVINE, "x0": X0, "lr": LR, "beta": BETA, "steps": STEPS}
    payload.update(overrides)
    return Task(tid or function, function, "trajectory", payload)


def _call(function: str, *args, tid: str | None = None) -> Task:
    return Task(tid or function, function, "call", {"args": list(args)})


ALL_TASKS = [
    _traj("sgd_step", "sgd"),
    _traj("momentum_step", "mom"),
    _traj("momentum_step", "mom-b", x0=[-0.5, 2.0]),
    _traj("nesterov_step", "nes"),
    _call("largest_stable_lr", {"matrix": [[100.0, 0.0], [0.0, 1.0]]}, tid="lsl"),
    _call("effective_lr", 0.1, 0.9, tid="eff"),
    _call("classify_critical_point", {"objective": {"kind": "saddle"}}, tid="cls"),
]


# Independent references (written here, not taken from solvers/rules.py).
def ref_positions(function: str, x0=X0, lr=LR, beta=BETA, steps=STEPS, H=H_RAVINE) -> np.ndarray:
    x = np.array(x0, dtype=float)
    v = np.zeros_like(x)
    out = [x.copy()]
    for _ in range(steps):
        if function == "sgd_step":
            x = x - lr * (H @ x)
        elif function == "momentum_step":
            v = beta * v + H @ x
            x = x - lr * v
        else:
            v = beta * v + H @ (x - lr * beta * v)
            x = x - lr * v
        out.append(x.copy())
    return np.array(out)


def run(name: str, tasks=ALL_TASKS, limits: Limits = FAST) -> RunReport:
    return run_submission(load_submission(HOSTILE / name), tasks, limits)


def statuses(report: RunReport) -> dict[str, str]:
    return {k: o.status for k, o in report.outcomes.items()}


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _notebooks_module():
    spec = importlib.util.spec_from_file_location("_make_notebooks", HOSTILE / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, Path]:
    return _notebooks_module().write_all(tmp_path_factory.mktemp("nb"))


# --------------------------------------------------------------------------- loading: bad input


def _bad_notebook_schema() -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    data = json.loads(nbformat.writes(nb))
    del data["cells"][0]["execution_count"]
    return json.dumps(data)


BAD_INPUT = [
    ("missing.py", None, r"missing\.py: no such file"),
    ("notes.txt", "print(1)", r"notes\.txt: unsupported file type \('\.txt'\); expected a \.py file"),
    ("Makefile", "all:", r"unsupported file type \(no extension\)"),
    ("empty.py", "", r"empty\.py: the file is empty"),
    ("blank.py", "  \n\n\t\n", r"blank\.py: the file is empty"),
    ("nul.py", b"x = 1\x00\n", r"nul\.py: binary file \(it contains NUL bytes\)"),
    ("latin.py", "x = 'caf\xe9'\n".encode("latin-1"), r"latin\.py: not UTF-8 text \(undecodable byte at offset 8\)"),
    ("syntax.py", "x = 1\ndef f(:\n    pass\n", r"syntax error in syntax\.py, line 2: invalid syntax"),
    ("ret.py", "return 3\n", r"syntax error in ret\.py, line 1: 'return' outside function"),
    ("empty.ipynb", "", r"empty\.ipynb: the file is empty"),
    ("notjson.ipynb", "{ this is not json", r"notjson\.ipynb: malformed notebook: not valid JSON"),
    ("list.ipynb", "[1, 2]", r"list\.ipynb: malformed notebook: "),
    ("schema.ipynb", _bad_notebook_schema(), r"schema\.ipynb: malformed notebook: nbformat says 'execution_count' is a required property \(at cells/0\)"),
    (
        "nocode.ipynb",
        nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# hi")])),
        r"nocode\.ipynb: the notebook has no code cells",
    ),
]


@pytest.mark.parametrize("name, content, pattern", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_gets_a_specific_one_line_message(tmp_path, name, content, pattern):
    path = tmp_path / name if content is None else write(tmp_path, name, content)
    with pytest.raises(SubmissionError) as info:
        load_submission(path)
    message = str(info.value)
    assert re.search(pattern, message), message
    assert "\n" not in message


def test_directory_is_not_a_submission(tmp_path):
    with pytest.raises(SubmissionError, match="is a directory"):
        load_submission(tmp_path)


def test_py_submission_is_one_cell_labelled_with_the_file_name():
    sub = load_submission(HOSTILE / "correct.py")
    assert (sub.name, sub.kind, sub.notebook, sub.forbidden) == ("correct", "py", None, ())
    assert len(sub.cells) == 1
    assert (sub.cells[0].index, sub.cells[0].label, sub.cells[0].syntax_error) == (0, "correct.py", "")
    assert sub.cells[0].source == (HOSTILE / "correct.py").read_text()


def test_notebook_cells_are_code_cells_numbered_from_one(notebooks):
    sub = load_submission(notebooks["magics.ipynb"])
    assert sub.kind == "ipynb" and isinstance(sub.notebook, nbformat.NotebookNode)
    assert [c.label for c in sub.cells] == [f"cell {i}" for i in range(1, 10)]
    assert [c.index for c in sub.cells] == list(range(9))
    by_label = {c.label: c for c in sub.cells}
    assert by_label["cell 1"].source == "pass\npass\npass"
    assert by_label["cell 2"].source == ""  # %%bash: whole cell dropped
    assert by_label["cell 3"].source == "\nTIMED = 41 + 1"  # %%time: body runs, line numbers kept
    assert by_label["cell 4"].source.endswith("\npass\npass\npass")
    assert by_label["cell 6"].syntax_error == (
        "syntax error in cell 6, line 1: invalid syntax; the cell was skipped"
    )
    assert all(c.syntax_error == "" for c in sub.cells if c.label != "cell 6")


def test_committed_notebooks_match_their_builder(notebooks):
    for name, path in notebooks.items():
        committed = nbformat.read(HOSTILE / name, as_version=4)
        built = nbformat.read(path, as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in built.cells], name


STRIP = [
    ("x = 1\n", "x = 1\n"),  # valid Python is never touched
    ('s = """\n%d items\n"""', 's = """\n%d items\n"""'),
    ("%matplotlib inline\nx = 1", "pass\nx = 1"),
    ("!pip install numpy\nx = 1", "pass\nx = 1"),
    ("if True:\n    !ls\n    y = 2", "if True:\n    pass\n    y = 2"),
    ("files = !ls\nn = len('ab')", "pass\nn = len('ab')"),
    ("t = %timeit -o f()\nz = 0", "pass\nz = 0"),
    ("np.zeros?\nz = 0", "pass\nz = 0"),
    ("%%timeit\nz = 0", "\nz = 0"),
    ("%%capture out\nprint(1)", "\nprint(1)"),
    ("%%writefile helper.py\nx = 1", ""),
    ("%%html\n<b>hi</b>", ""),
    ("def f(:\n  pass", "def f(:\n  pass"),  # a real syntax error stays (reported later)
]


@pytest.mark.parametrize("source, expected", STRIP)
def test_strip_magics(source, expected):
    assert strip_magics(source) == expected


SCAN = [
    ("import solvers", [("solvers", "")]),
    ("import numpy, grader.sandbox as g", [("grader.sandbox", "")]),
    ("from problems import registry", [("problems", "")]),
    ("from solvers.rules import momentum", [("solvers.rules", "")]),
    ("def f():\n    import solvers.rules\n", [("solvers.rules", "f")]),
    ("async def f():\n    from grader import cli\n", [("grader", "f")]),
    ("def f():\n    def g():\n        __import__('problems')\n", [("problems", "f")]),
    ("import importlib\nm = importlib.import_module('solvers.numeric')", [("solvers.numeric", "")]),
    ("from importlib import import_module\ndef f():\n    import_module('grader')", [("grader", "f")]),
    ("class A:\n    def m(self):\n        import solvers\n", [("solvers", "")]),
    ("if False:\n    import problems\n", [("problems", "")]),
    ("import solvers_extra, graders, numpy\nfrom . import solvers", []),
    ("__import__('sol' + 'vers')", []),  # not a constant: only the runtime blocker sees it
]


@pytest.mark.parametrize("source, expected", SCAN)
def test_static_forbidden_scan(source, expected):
    assert scan_forbidden(ast.parse(source)) == expected


def test_static_scan_is_part_of_load_submission(notebooks, tmp_path):
    sub = load_submission(HOSTILE / "imports_solvers.py")
    assert sub.forbidden == (("solvers.rules", "momentum_step"),)
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("def sgd_step(x, g, lr):\n    import grader\n    return x"),
            nbformat.v4.new_code_cell("import problems.registry"),
        ]
    )
    path = write(tmp_path, "nb.ipynb", nbformat.writes(nb))
    assert load_submission(path).forbidden == (("grader", "sgd_step"), ("problems.registry", ""))


def test_collect_submissions_expands_directories(tmp_path):
    for rel in [
        "b.py",
        "a.ipynb",
        "notes.md",
        ".hidden.py",
        "sub/c.py",
        ".ipynb_checkpoints/a-checkpoint.ipynb",
        ".git/x.py",
        "__pycache__/d.py",
    ]:
        p = tmp_path / "subs" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x = 1\n")
    (tmp_path / "empty").mkdir()
    single = write(tmp_path, "single.py", "x = 1\n")
    files, bad = collect_submissions(
        [tmp_path / "subs", single, tmp_path / "nope.py", tmp_path / "subs" / "notes.md",
         tmp_path / "empty", single]
    )
    rel = [p.relative_to(tmp_path).as_posix() for p in files]
    assert rel == ["subs/a.ipynb", "subs/b.py", "subs/sub/c.py", "single.py"]
    reasons = {p.name: r for p, r in bad}
    assert reasons == {
        "nope.py": "no such file or directory",
        "notes.md": "unsupported file type ('.md'); expected a .py file or a .ipynb notebook",
        "empty": "the directory contains no .py or .ipynb files",
    }


# --------------------------------------------------------------------------- running: correct code


def _assert_all_correct(report: RunReport) -> None:
    assert statuses(report) == {t.id: "ok" for t in ALL_TASKS}
    o = report.outcomes
    for tid, function in [("sgd", "sgd_step"), ("mom", "momentum_step"), ("nes", "nesterov_step")]:
        assert o[tid].value.dtype == np.float64
        np.testing.assert_allclose(o[tid].value, ref_positions(function), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(o["mom-b"].value, ref_positions("momentum_step", x0=[-0.5, 2.0]), rtol=1e-12)
    assert o["lsl"].value == pytest.approx(0.02)
    assert o["eff"].value == pytest.approx(1.0)
    assert o["cls"].value == "saddle"
    assert report.defined == [
        "sgd_step", "momentum_step", "nesterov_step",
        "largest_stable_lr", "effective_lr", "classify_critical_point",
    ]
    assert report.spawns == 1 and report.forbidden == []


def test_correct_py_submission_runs_in_one_child_and_demo_code_does_not_run():
    report = run("correct.py")
    _assert_all_correct(report)
    assert report.load_messages == []
    assert "demo" not in report.stdout and report.stderr == ""


def test_correct_notebook(notebooks):
    report = run_submission(load_submission(notebooks["correct.ipynb"]), ALL_TASKS, FAST)
    _assert_all_correct(report)
    assert report.load_messages == []


def test_notebook_with_magics_raising_cell_syntax_error_and_plot(notebooks):
    report = run_submission(load_submission(notebooks["magics.ipynb"]), ALL_TASKS, FAST)
    _assert_all_correct(report)
    assert report.load_messages == [
        "cell 5 raised ZeroDivisionError: division by zero (cell 5, line 1)",
        "syntax error in cell 6, line 1: invalid syntax; the cell was skipped",
    ]
    assert report.stdout.splitlines() == ["PLOTTED 42", "IPYTHON-OK"]


def test_child_is_isolated_interpreter_with_private_leaf_modules(tmp_path):
    path = write(tmp_path, "probe.py", (
        "import sys, json\n"
        "print(json.dumps({\n"
        "  'name': __name__, 'isolated': sys.flags.isolated, 'no_site': sys.flags.no_site,\n"
        "  'ours': sorted(m for m in sys.modules if m.split('.')[0] in ('grader','solvers','problems')),\n"
        "  'rules': [m for m in sys.modules if 'rules' in m],\n"
        "  'leaf': sorted(m for m in sys.modules if m.startswith('_ravine')),\n"
        "  'mpl': 'matplotlib' in sys.modules,\n"
        "  'path_has_repo': any('wt-sandbox' in p or p in ('', '.') for p in sys.path),\n"
        "}))\n"
    ))
    report = run_submission(load_submission(path), [], FAST)
    info = json.loads(report.stdout)
    assert info == {
        "name": "submission", "isolated": 1, "no_site": 1, "ours": [], "rules": [],
        "leaf": ["_ravine_objectives", "_ravine_protocol", "_ravine_rollout"], "mpl": False, "path_has_repo": False,
    }
    assert report.spawns == 1


def test_in_place_updates_and_mutated_gradients_do_not_corrupt_grading(tmp_path):
    path = write(tmp_path, "inplace.py", (
        "def sgd_step(x, grad_fn, lr):\n"
        "    g = grad_fn(x)\n"
        "    g[:] = 1e9            # scribble on the returned gradient\n"
        "    x -= lr * grad_fn(x)  # update the argument in place\n"
        "    return x\n"
        "def momentum_step(x, v, grad_fn, lr, beta):\n"
        "    v *= beta\n"
        "    v += grad_fn(x)\n"
        "    x -= lr * v\n"
        "    return x, v\n"
    ))
    report = run_submission(load_submission(path), ALL_TASKS[:2], FAST)
    np.testing.assert_allclose(report.outcomes["sgd"].value, ref_positions("sgd_step"), rtol=1e-12)
    np.testing.assert_allclose(report.outcomes["mom"].value, ref_positions("momentum_step"), rtol=1e-12)


def test_float32_payload_hands_float32_and_returns_float64(tmp_path):
    path = write(tmp_path, "f32.py", (
        "import numpy as np\n"
        "def momentum_step(x, v, grad_fn, lr, beta):\n"
        "    assert x.dtype == np.float32 and v.dtype == np.float32, (x.dtype, v.dtype)\n"
        "    g = grad_fn(x)\n"
        "    assert g.dtype == np.float32, g.dtype\n"
        "    v = beta * v + g\n"
        "    return x - lr * v, v\n"
    ))
    x0 = [0.3, 0.7]
    task = _traj("momentum_step", "m32", dtype="float32", x0=x0, steps=20)
    outcome = run_submission(load_submission(path), [task], FAST).outcomes["m32"]
    assert outcome.status == "ok", outcome.message
    ref = ref_positions("momentum_step", x0=x0, steps=20)
    assert outcome.value.dtype == np.float64 and outcome.value.shape == (21, 2)
    np.testing.assert_allclose(outcome.value, ref, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(outcome.value, ref)  # the arithmetic really was float32
    later = outcome.value[1:]  # row 0 is x0 as given; every later row came out of float32 code
    assert np.array_equal(later, later.astype(np.float32).astype(np.float64))


def test_spectral_objective_d1000_and_hessian_arguments(tmp_path):
    spec = {"kind": "spectral", "d": 1000, "seed": 7, "lam_min": 0.5, "lam_max": 4.0}
    task = Task("big", "sgd_step", "trajectory", {"objective": spec, "x0": [1.0] * 1000, "lr": 0.1, "steps": 30})
    hess = _call("largest_stable_lr", {"objective": {"kind": "quadratic", "H": [[2.0, 1.0], [1.0, 2.0]]}}, tid="h")
    report = run_submission(load_submission(HOSTILE / "correct.py"), [task, hess], FAST)
    traj = report.outcomes["big"].value
    assert traj.shape == (31, 1000)
    assert np.linalg.norm(traj[-1]) < np.linalg.norm(traj[0])  # loss goes down
    assert report.outcomes["h"].value == pytest.approx(2.0 / 3.0)


# --------------------------------------------------------------------------- running: broken code


def test_exceptions_contracts_missing_and_values_are_reported():
    report = run("broken.py")
    o = report.outcomes
    assert statuses(report) == {
        "sgd": "exception", "mom": "contract", "mom-b": "contract", "nes": "contract",
        "lsl": "missing", "eff": "non-finite", "cls": "ok",
    }
    assert o["sgd"].message.splitlines() == [
        "sgd_step raised ZeroDivisionError: division by zero at step 1",
        "Traceback (your code only, most recent call last):",
        "  broken.py, line 6, in sgd_step",
        "    return x - lr * helper(x)",
        "  broken.py, line 10, in helper",
        "    return 1 / 0",
    ]
    assert o["sgd"].step == 1
    assert o["mom"].message == "momentum_step returned an ndarray, expected a tuple (x_new, v_new)"
    assert o["mom"].step == 1
    assert o["nes"].message.startswith("expected nesterov_step(x, v, grad_fn, lr, beta) -> (x_new, v_new):")
    assert "nesterov_step(x, grad_fn, lr)" in o["nes"].message
    assert o["lsl"].message == (
        "largest_stable_lr is not defined (or not callable) in the submission; "
        "expected largest_stable_lr(H) -> float"
    )
    assert o["eff"].value == float("inf") and o["eff"].message == "effective_lr returned inf"
    assert o["cls"].value == {"repr": "array([-2.,  2.])", "type": "ndarray"}
    for outcome in o.values():  # student-facing text never shows grader paths
        assert not re.search(r"/\w", outcome.message) and "_child" not in outcome.message


def test_non_finite_reports_first_bad_step_and_partial_trajectory():
    outcome = run("exploding.py", [_traj("sgd_step", "s", x0=[1.0, 2.0])]).outcomes["s"]
    assert (outcome.status, outcome.step) == ("non-finite", 2)
    np.testing.assert_array_equal(outcome.partial, [[1.0, 2.0], [1e200, 2e200]])
    assert outcome.value is None
    assert outcome.message == "sgd_step: the position became non-finite (NaN or inf) at step 2"


def test_exception_in_notebook_function_is_labelled_by_cell(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np"),
        nbformat.v4.new_code_cell("def effective_lr(lr, beta):\n    return helper(lr)"),
        nbformat.v4.new_code_cell("def helper(lr):\n    x = 1\n    raise ValueError('no idea')"),
    ])
    path = write(tmp_path, "nb.ipynb", nbformat.writes(nb))
    outcome = run_submission(load_submission(path), [_call("effective_lr", 0.1, 0.5)], FAST).outcomes["effective_lr"]
    assert outcome.status == "exception"
    assert outcome.message.splitlines() == [
        "effective_lr raised ValueError: no idea",
        "Traceback (your code only, most recent call last):",
        "  cell 2, line 2, in effective_lr",
        "    return helper(lr)",
        "  cell 3, line 3, in helper",
        "    raise ValueError('no idea')",
    ]


# --------------------------------------------------------------------------- running: hostile code


def test_infinite_loop_at_import_times_out_every_task():
    limits = Limits(function_timeout=1.0, load_timeout=1.0)
    t0 = time.monotonic()
    report = run("loop_at_import.py", limits=limits)
    assert time.monotonic() - t0 < 10
    assert set(statuses(report).values()) == {"timeout"}
    # the cell budget (default 5 s) is not below this load budget: the hard stop ends it
    assert report.load_messages == [
        "process killed during load: loading did not finish within 1 s, the hard limit for all cells "
        "together; loop_at_import.py was still running, so nothing the submission defines could be checked"
    ]
    assert report.defined == [] and report.spawns == 1


def test_loop_at_import_is_stopped_by_the_cell_budget_and_what_it_defined_is_graded():
    report = run("loop_at_import.py", limits=Limits(function_timeout=1.0, load_timeout=20.0, cell_timeout=0.5))
    assert report.load_messages == ["loop_at_import.py took longer than 0.5 s and was stopped at line 8"]
    assert report.defined == ["sgd_step"] and report.spawns == 1
    assert statuses(report)["sgd"] == "ok" and statuses(report)["mom"] == "missing"


def _notebook(tmp_path: Path, *cells: str) -> Path:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": c} for c in cells]}
    return write(tmp_path, "nb.ipynb", json.dumps(nb))


def test_slow_cell_is_stopped_its_partial_effects_stay_and_later_cells_run(tmp_path):
    path = _notebook(
        tmp_path,
        "def sgd_step(x, grad_fn, lr):\n    return x - lr * grad_fn(x)\n",
        "import time\ndef effective_lr(lr, beta):\n    return lr / (1 - beta)\ntime.sleep(60)\n"
        "def largest_stable_lr(H):\n    return 0.0\n",
        "def train():\n    while True: pass\n\ntrain()\n",
        "def classify_critical_point(H):\n    return 'saddle'\n",
    )
    limits = Limits(function_timeout=1.0, load_timeout=20.0, cell_timeout=0.5)
    report = run_submission(load_submission(path), [ALL_TASKS[0], ALL_TASKS[5], ALL_TASKS[6]], limits)
    assert report.load_messages == [
        "cell 2 took longer than 0.5 s and was stopped at line 4; the cells after it still run",
        "cell 3 took longer than 0.5 s and was stopped in train (cell 3, line 2); the cells after it still run",
    ]
    assert report.defined == ["sgd_step", "effective_lr", "classify_critical_point"]
    assert statuses(report) == {"sgd": "ok", "eff": "ok", "cls": "ok"}
    assert report.outcomes["eff"].value == pytest.approx(1.0)


def test_cell_that_swallows_its_alarm_meets_the_hard_stop(tmp_path):
    path = _notebook(
        tmp_path,
        "def effective_lr(lr, beta):\n    return lr / (1 - beta)\n",
        "import signal\nwhile True:\n    try:\n        while True:\n            pass\n"
        "    except BaseException:\n        signal.setitimer(signal.ITIMER_REAL, 0)\n",
    )
    limits = Limits(function_timeout=1.0, load_timeout=2.0, cell_timeout=0.5)
    report = run_submission(load_submission(path), [ALL_TASKS[5]], limits)
    assert report.load_messages == [
        "process killed during load: loading did not finish within 2 s, the hard limit for all cells "
        "together; cell 2 was still running (past its own 0.5 s budget), so nothing the submission "
        "defines could be checked"
    ]
    assert report.defined == [] and statuses(report) == {"eff": "timeout"}


def test_infinite_loop_in_one_function_costs_that_function_only():
    report = run("loop_in_function.py", limits=Limits(function_timeout=0.5, load_timeout=2.0))
    assert statuses(report) == {
        "sgd": "ok", "mom": "timeout", "mom-b": "timeout", "nes": "missing",
        "lsl": "missing", "eff": "ok", "cls": "missing",
    }
    assert report.outcomes["mom"].message.startswith("momentum_step did not finish within 0.5 s")
    np.testing.assert_allclose(report.outcomes["sgd"].value, ref_positions("sgd_step"), rtol=1e-12)
    assert report.spawns == 2  # killed, then a fresh child for the remaining functions


def test_memory_hog_gets_memory_status():
    report = run("memory_hog.py", limits=Limits(function_timeout=2.0, load_timeout=2.0, memory_bytes=768 << 20))
    assert statuses(report)["mom"] == "memory"
    assert report.outcomes["mom"].message.startswith("momentum_step ran out of memory at step 1 (limit 768 MiB)")
    assert statuses(report)["sgd"] == "ok" and statuses(report)["eff"] == "ok"


def test_sys_exit_at_import_is_a_load_message_not_a_crash():
    report = run("exit_at_import.py")
    assert report.load_messages == [
        "exit_at_import.py raised SystemExit: sys.exit(3) was called (exit_at_import.py, line 9)"
    ]
    assert statuses(report)["sgd"] == "ok" and statuses(report)["mom"] == "missing"
    assert report.defined == ["sgd_step"]


def test_os_exit_in_a_function_is_a_crash_of_that_function_only():
    report = run("os_exit_in_function.py")
    assert statuses(report) == {
        "sgd": "ok", "mom": "crash", "mom-b": "crash", "nes": "missing",
        "lsl": "missing", "eff": "ok", "cls": "missing",
    }
    assert report.outcomes["mom"].message.startswith(
        "the process running momentum_step died: exited with status 7"
    )
    assert report.spawns == 2


def test_segfault_in_a_function_names_the_signal():
    report = run("segfault_in_function.py")
    assert statuses(report)["nes"] == "crash"
    assert report.outcomes["nes"].message == (
        "the process running nesterov_step died: killed by SIGSEGV (Segmentation fault)"
    )
    assert statuses(report)["sgd"] == "ok" and statuses(report)["eff"] == "ok"


def test_process_killed_during_load_is_a_crash_for_every_task(tmp_path):
    path = write(tmp_path, "die.py", "import os\ndef sgd_step(x, g, lr):\n    return x\nos._exit(4)\n")
    report = run_submission(load_submission(path), ALL_TASKS, FAST)
    assert set(statuses(report).values()) == {"crash"}
    assert report.load_messages == [
        "process killed during load: exited with status 4 (for example sys.exit in a thread or os._exit)"
    ]


def test_output_flood_is_drained_and_truncated():
    limits = Limits(function_timeout=2.0, load_timeout=10.0, output_bytes=4096)
    report = run("output_flood.py", [_traj("sgd_step", "sgd")], limits=limits)
    assert statuses(report) == {"sgd": "ok"}
    kept, note = report.stdout.rsplit("\n", 1)
    assert len(kept.encode()) <= 4096 and kept.startswith("flood flood")
    dropped = int(re.fullmatch(r"\[\.\.\. (\d+) bytes dropped\]", note).group(1))
    assert dropped + len(kept.encode()) == (50_000_000 // 97 + 1) * 97
    assert report.stderr == "E" * 4096 + f"\n[... {1_000_000 - 4096} bytes dropped]"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead
    except FileNotFoundError:
        return False


def _with_marker(marker: str) -> list[int]:
    """Pids of live processes whose command line holds ``marker`` (any namespace)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read() and _alive(int(entry)):
                        out.append(int(entry))
            except OSError:
                pass
    return out


def test_processes_spawned_by_the_student_die_with_the_child():
    report = run("spawns_sleeper.py", [_traj("sgd_step", "sgd")])
    assert statuses(report) == {"sgd": "ok"}, report.outcomes
    assert re.search(r"SLEEPER-PID (\d+)", report.stdout)  # it really started one
    deadline = time.monotonic() + 3.0
    while _with_marker("ravine-sleeper-marker") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _with_marker("ravine-sleeper-marker") == []


ALLOWED_ENV = {
    "PATH", "HOME", "TMPDIR", "LANG", "MPLBACKEND", "MPLCONFIGDIR", "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED",
}


def test_environment_is_scrubbed_and_scratch_dir_removed(monkeypatch):
    monkeypatch.setenv("RAVINE_TEST_CANARY", "s3cret-canary")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    report = run("env_canary.py", [_call("classify_critical_point", {"matrix": [[1.0]]}, tid="c")])
    assert "s3cret-canary" not in report.stdout + report.stderr
    assert report.outcomes["c"].value == "no canary"
    keys = json.loads(re.search(r"ENV-KEYS (.*)", report.stdout).group(1))
    # bwrap's --chdir sets PWD (the sandbox's own /tmp)
    assert set(keys) == ALLOWED_ENV | {"OPENBLAS_CORETYPE"} | ({"PWD"} if MODE == "namespaces" else set())
    assert "CANARY None" in report.stdout
    cwd = re.search(r"CWD (.*)", report.stdout).group(1)
    if MODE == "namespaces":
        assert cwd == "/tmp"  # a private tmpfs, gone with the namespace
    else:
        assert "ravine-sandbox-" in cwd and not Path(cwd).exists()


def test_monkeypatching_numpy_and_faking_results_gain_nothing():
    before = np.allclose
    report = run("monkeypatch_numpy.py", ALL_TASKS[:2])
    assert np.allclose is before and not np.allclose([1.0], [2.0])
    assert '"score": 100.0' in report.stdout  # printed, and nothing more than text
    sgd, mom = report.outcomes["sgd"], report.outcomes["mom"]
    assert sgd.status == "ok"  # data, not a verdict: the positions the student produced
    np.testing.assert_array_equal(sgd.value, np.tile(X0, (STEPS + 1, 1)))
    assert not np.allclose(sgd.value, ref_positions("sgd_step"))
    assert (mom.status, mom.step) == ("non-finite", 1)  # patched np.isfinite does not hide NaN
    assert not (Path.cwd() / "results.json").exists()


def test_imports_of_the_grader_packages_are_forbidden():
    report = run("imports_solvers.py", ALL_TASKS[:4])
    assert statuses(report) == {"sgd": "ok", "mom": "forbidden", "mom-b": "forbidden", "nes": "forbidden"}
    assert report.outcomes["mom"].message == (
        "the submission imports solvers.rules (a package of the grader) inside momentum_step; "
        "momentum_step gets no credit"
    )
    # nesterov_step caught the ImportError and computed the right answer: still no credit
    assert report.outcomes["nes"].message == (
        "the submission imported solvers (a package of the grader) while nesterov_step ran; "
        "nesterov_step gets no credit"
    )
    assert report.forbidden == ["solvers (during nesterov_step)"]


def test_import_attempt_at_load_forbids_every_task():
    report = run("imports_at_load.py")
    assert set(statuses(report).values()) == {"forbidden"}
    assert report.forbidden == ["problems (at load)"]
    assert report.outcomes["sgd"].message.startswith("the submission imported problems")


def test_static_top_level_import_forbids_every_task_even_if_never_executed(tmp_path):
    path = write(tmp_path, "dead.py", "if False:\n    import grader\ndef effective_lr(lr, beta):\n    return lr / (1 - beta)\n")
    report = run_submission(load_submission(path), ALL_TASKS, FAST)
    assert set(statuses(report).values()) == {"forbidden"}
    assert report.forbidden == []  # nothing was attempted at run time
    assert report.defined == ["effective_lr"]


def test_forged_channel_message_is_interference():
    report = run("channel_interference.py")
    assert statuses(report) == {
        "sgd": "ok", "mom": "crash", "mom-b": "crash", "nes": "missing",
        "lsl": "missing", "eff": "ok", "cls": "missing",
    }
    assert report.outcomes["mom"].message == f"{INTERFERENCE} while momentum_step ran"


def test_file_size_limit_gives_a_clear_error():
    report = run("big_file.py", [_traj("sgd_step", "sgd"), _call("effective_lr", 0.1, 0.5, tid="eff")])
    assert statuses(report) == {"sgd": "exception", "eff": "ok"}
    assert report.outcomes["sgd"].message.startswith("sgd_step raised OSError: [Errno 27] File too large")


# --------------------------------------------------------------------------- the channel, strictly


def _child_for(tasks) -> sandbox_mod._Child:
    sub = Submission("s", Path("s.py"), "py", (Cell(0, "x = 1", "s.py"),), None, ())
    out = sandbox_mod._Output(100)
    child = sandbox_mod._Child(sub, list(tasks), FAST, out, out)
    child.phase = "tasks"
    return child


def _line(obj) -> bytes:
    return json.dumps(obj).encode()


def _b64(rows) -> str:
    return base64.b64encode(np.asarray(rows, dtype="<f8").tobytes()).decode("ascii")


GOOD_POSITIONS = _b64([[1.0, 1.0]] * (STEPS + 1))
FORGED = [
    b"not json",
    b'{"type": "start", "task": NaN}',
    b'{"type": "start", "task": "sgd", "x": 1}',
    _line({"type": "hello"}),
    _line(["start"]),
    _line({"type": "start", "task": "unknown"}),
    _line({"type": "done"}),  # before any result
    _line({"type": "load_message", "text": "late"}),  # load is over
    _line({"type": "forbidden", "module": "numpy"}),  # not one of ours: a lie
    # a result for a task that has not started:
    _line({"type": "result", "task": "sgd", "kind": "trajectory", "positions": GOOD_POSITIONS, "seconds": 0.1}),
]
FORGED_RESULTS = [
    {"kind": "trajectory", "positions": _b64([[1.0, 1.0]] * STEPS)},  # a row short
    {"kind": "trajectory", "positions": "!" * len(GOOD_POSITIONS)},  # not base64
    {"kind": "trajectory", "positions": _b64([[np.inf, 1.0]] * (STEPS + 1))},
    {"kind": "trajectory", "positions": _b64([[np.nan, 1.0]] * (STEPS + 1))},
    {"kind": "trajectory", "positions": [[1.0, 1.0]] * (STEPS + 1)},  # not the wire format
    {"kind": "trajectory", "positions": GOOD_POSITIONS, "verdict": "pass"},
    {"kind": "trajectory", "positions": GOOD_POSITIONS, "seconds": -1.0},
    {"kind": "trajectory", "positions": GOOD_POSITIONS, "seconds": "fast"},
    {"kind": "value", "value": 1.0},  # a value for a trajectory task
    {"kind": "nonfinite", "step": 0, "partial": _b64(np.zeros((0, 2)))},
    {"kind": "nonfinite", "step": 2, "partial": _b64([[1.0, 1.0]])},
    {"kind": "nonfinite", "step": True, "partial": _b64([[1.0, 1.0]])},
    {"kind": "exception", "exc_type": "bad name!", "message": "x", "step": None},
    {"kind": "contract", "message": 3, "step": None},
    {"kind": "missing", "message": "extra"},
    {"kind": "pass"},
]


@pytest.mark.parametrize("line", FORGED)
def test_channel_rejects_malformed_or_out_of_order_messages(line):
    child = _child_for([_traj("sgd_step", "sgd")])
    with pytest.raises(sandbox_mod._Interference):
        child._handle(line)


@pytest.mark.parametrize("fields", FORGED_RESULTS)
def test_channel_rejects_malformed_results(fields):
    child = _child_for([_traj("sgd_step", "sgd")])
    child._handle(_line({"type": "start", "task": "sgd"}))
    with pytest.raises(sandbox_mod._Interference):
        child._handle(_line({"type": "result", "task": "sgd", "seconds": 0.01, **fields}))


def test_channel_accepts_a_well_formed_exchange():
    child = _child_for([_traj("sgd_step", "sgd"), _call("effective_lr", 0.1, 0.5, tid="e")])
    child._handle(_line({"type": "start", "task": "sgd"}))
    child._handle(_line({"type": "result", "task": "sgd", "kind": "trajectory", "positions": GOOD_POSITIONS, "seconds": 0.5}))
    child._handle(_line({"type": "start", "task": "e"}))
    child._handle(_line({"type": "result", "task": "e", "kind": "value", "value": {"nonfinite": "nan"}, "seconds": 0.0}))
    child._handle(_line({"type": "done"}))
    assert child.phase == "done"
    msg, seconds = child.result.results["sgd"]
    np.testing.assert_array_equal(msg["positions"], np.ones((STEPS + 1, 2)))
    assert seconds == 0.5


# --------------------------------------------------------------------------- plan validation


BAD_PLANS = [
    ([_traj("sgd_step", "a"), _call("effective_lr", 1, 2, tid="a")], "task ids must be unique"),
    ([Task("t", "sgd_step", "magic", {})], "kind must be 'trajectory' or 'call'"),
    ([Task("t", "effective_lr", "trajectory", {})], "trajectory tasks need one of"),
    ([_traj("sgd_step", x0=[1.0, 2.0, 3.0])], "x0 has 3 entries, the objective has d=2"),
    ([_traj("sgd_step", steps=0)], "steps must be an integer >= 1"),
    ([_traj("sgd_step", dtype="float16")], "dtype must be"),
    ([_call("effective_lr", float("nan"), 0.5)], "payload is not JSON-able with finite numbers"),
    ([_call("largest_stable_lr", {"matrix": [[1.0], [1.0, 2.0]]})], "rectangular"),
    ([_call("largest_stable_lr", {"objective": {"kind": "rosenbrock"}})], "has no Hessian"),
    ([_call("largest_stable_lr", [1, 2])], "unsupported call argument"),
]


@pytest.mark.parametrize("tasks, pattern", BAD_PLANS)
def test_malformed_plans_are_developer_errors(tasks, pattern):
    sub = load_submission(HOSTILE / "correct.py")
    with pytest.raises(ValueError, match=pattern):
        run_submission(sub, tasks, FAST)


@pytest.mark.parametrize("kwargs", [{"function_timeout": 0}, {"memory_bytes": -1}, {"load_timeout": float("inf")}])
def test_limits_are_validated(kwargs):
    with pytest.raises(ValueError, match="Limits"):
        Limits(**kwargs)


def test_every_task_has_an_outcome_and_outcomes_keep_plan_order():
    tasks = [ALL_TASKS[5], ALL_TASKS[0], ALL_TASKS[4], ALL_TASKS[1]]
    report = run("correct.py", tasks)
    assert list(report.outcomes) == ["eff", "sgd", "lsl", "mom"]
    assert all(isinstance(o, Outcome) and o.task_id == k for k, o in report.outcomes.items())


def test_child_module_is_a_leaf():
    tree = ast.parse((ROOT / "grader" / "_child.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"numpy"}, imported


def test_importing_the_sandbox_does_not_import_sympy_or_matplotlib():
    code = "import grader.sandbox, grader.submission, sys; print(sorted(m for m in ('sympy','matplotlib','nbformat') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_respawns_are_bounded(tmp_path):
    path = write(tmp_path, "crashes.py", (
        "import os\n"
        "def sgd_step(x, g, lr):\n    os._exit(1)\n"
        "def momentum_step(x, v, g, lr, beta):\n    os._exit(2)\n"
        "def nesterov_step(x, v, g, lr, beta):\n    os._exit(3)\n"
    ))
    tasks = ALL_TASKS[:4]
    report = run_submission(load_submission(path), tasks, FAST)
    assert statuses(report) == {"sgd": "crash", "mom": "crash", "mom-b": "crash", "nes": "crash"}
    assert "status 3" in report.outcomes["nes"].message and report.spawns == 3
    capped = Limits(function_timeout=1.0, load_timeout=2.0, max_spawns=2)
    report = run_submission(load_submission(path), tasks, capped)
    assert report.spawns == 2
    assert report.outcomes["nes"].message == "not run: the grader gave up after 2 restarts of the child"


def test_concurrent_runs_from_threads_do_not_interfere():
    from concurrent.futures import ThreadPoolExecutor

    sub = load_submission(HOSTILE / "correct.py")
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: run_submission(sub, ALL_TASKS, FAST), range(4)))
    for report in reports:
        _assert_all_correct(report)
        assert all(o.seconds >= 0.0 for o in report.outcomes.values())


def test_removing_the_blocker_is_still_caught_after_the_function(tmp_path):
    # A determined submission removes the meta-path blocker and imports the reference
    # by path; the child's check of sys.modules after each task still reports it.
    path = write(tmp_path, "sneaky.py", (
        "import sys\n"
        "def momentum_step(x, v, grad_fn, lr, beta):\n"
        "    sys.meta_path[:] = [f for f in sys.meta_path if 'Blocker' not in repr(f)]\n"
        f"    sys.path.append({str(ROOT)!r})\n"
        "    rules = __import__('sol' + 'vers.rules', fromlist=['x'])\n"
        "    v = beta * v + grad_fn(x)\n"
        "    return x - lr * v, v\n"
        "def effective_lr(lr, beta):\n"
        "    return lr / (1 - beta)\n"
    ))
    report = run_submission(load_submission(path), [ALL_TASKS[1], ALL_TASKS[5]], FAST)
    if MODE == "namespaces":  # the grader's tree does not exist inside the sandbox
        assert statuses(report) == {"mom": "exception", "eff": "ok"}
        assert "No module named 'solvers'" in report.outcomes["mom"].message
        return
    assert statuses(report) == {"mom": "forbidden", "eff": "ok"}
    assert "solvers (during momentum_step)" in report.forbidden


def test_returned_values_are_encoded_as_data(tmp_path):
    path = write(tmp_path, "values.py", (
        "import numpy as np\n"
        "def a(): return np.array(0.25)\n"
        "def b(): return np.int64(3)\n"
        "def c(): return np.bool_(True)\n"
        "def d(): return np.str_('minimum')\n"
        "def e(): return 1 + 2j\n"
        "def f(): return float('-inf')\n"
        "def g(): return [1, 2]\n"
    ))
    tasks = [Task(n, n, "call", {"args": []}) for n in "abcdefg"]
    o = run_submission(load_submission(path), tasks, FAST).outcomes
    got = {k: (v.status, v.value) for k, v in o.items()}
    assert got == {
        "a": ("ok", 0.25), "b": ("ok", 3), "c": ("ok", True), "d": ("ok", "minimum"),
        "e": ("ok", {"repr": "(1+2j)", "type": "complex"}), "f": ("non-finite", float("-inf")),
        "g": ("ok", {"repr": "[1, 2]", "type": "list"}),
    }
    assert type(got["b"][1]) is int and type(got["c"][1]) is bool


def test_sys_exit_in_a_function_is_an_exception_and_closing_the_channel_a_crash(tmp_path):
    path = write(tmp_path, "exits.py", (
        "import os, sys\n"
        "def effective_lr(lr, beta):\n    sys.exit('bye')\n"
        "def largest_stable_lr(H):\n    os.close(int(sys.argv[1]))\n    return 1.0\n"
        "def classify_critical_point(H):\n    return 'minimum'\n"
    ))
    tasks = [ALL_TASKS[5], ALL_TASKS[4], ALL_TASKS[6]]
    report = run_submission(load_submission(path), tasks, FAST)
    assert statuses(report) == {"eff": "exception", "lsl": "crash", "cls": "ok"}
    assert report.outcomes["eff"].message.startswith("effective_lr raised SystemExit: sys.exit('bye') was called")
    assert report.outcomes["lsl"].message.startswith("the process running largest_stable_lr died")


def test_prints_before_a_hang_reach_the_report(tmp_path):
    path = write(tmp_path, "hang.py", (
        "def effective_lr(lr, beta):\n"
        "    print('about to loop')\n"
        "    while True:\n        pass\n"
    ))
    report = run_submission(load_submission(path), [ALL_TASKS[5]], Limits(function_timeout=0.5, load_timeout=2.0))
    assert statuses(report) == {"eff": "timeout"}
    assert report.stdout == "about to loop\n"


# --------------------------------------------------------------------------- the package's tables


def test_the_protocol_table_builds_and_checks_the_same_messages():
    from grader.sandbox import protocol as P

    msg = P.message("result", task="t", kind="value", seconds=0.5, value=1.0)
    assert P.fields_of(msg) == {"task": "task", "kind": "result_kind", "seconds": "seconds", "value": "value"}
    with pytest.raises(P.ProtocolError):
        P.message("result", task="t", kind="value", seconds=0.5)  # the value is missing
    with pytest.raises(P.ProtocolError):
        P.fields_of({"type": "ready", "extra": 1})
    with pytest.raises(P.ProtocolError):
        P.check_value(10**300)  # too big for float(): sent as a repr


def test_every_task_kind_has_a_runner_in_the_child_and_results_in_the_protocol():
    from grader.sandbox import protocol as P
    from grader.sandbox.tasks import TASK_KINDS

    tree = ast.parse((ROOT / "grader" / "_child.py").read_text())
    runners = next(ast.literal_eval(ast.Dict(keys=n.value.keys, values=[ast.Constant(None)] * len(n.value.keys)))
                   for n in ast.walk(tree) if isinstance(n, ast.Assign)
                   and any(getattr(t, "id", "") == "RUNNERS" for t in n.targets))
    assert {k.runner for k in TASK_KINDS.values()} == set(runners)
    for kind in TASK_KINDS:
        assert any(kind in allowed for allowed, _ in P.RESULTS.values()), kind


def test_a_channel_still_flooded_after_the_child_exited_is_interference_not_a_hang(tmp_path):
    """A grandchild keeps the channel full after the child exited (issue 8, class 6): the run
    ends (the drain has a deadline) and the function is charged with interference."""
    path = write(tmp_path, "flood.py", (
        "import os, sys\n"
        "FD = int(sys.argv[-1])\n"
        "def sgd_step(x, grad_fn, lr):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        while True:\n"
        "            try:\n"
        "                os.write(FD, b'x' * 65536)\n"
        "            except OSError:\n"
        "                os._exit(0)\n"
        "    os._exit(0)\n"
    ))
    report = run_submission(load_submission(path), [_traj("sgd_step", "sgd")], FAST)
    assert report.outcomes["sgd"].status == "crash"
    assert report.outcomes["sgd"].message in (f"{INTERFERENCE} while sgd_step ran",
                                              "the process running sgd_step died: exited with status 0 "
                                              "(for example sys.exit in a thread or os._exit)")


def test_a_stopped_zygote_means_a_fresh_sandbox_and_the_plan_is_never_sent_to_it():
    """namespaces: a submission's children are forked by a zygote.  If it does not answer (here
    stopped from outside, as a process of the submission might on a machine without the seccomp
    filter), the next child gets a sandbox of its own and is graded normally."""
    import signal

    from grader.sandbox import open_session, process

    if MODE != "namespaces":
        pytest.skip(f"the zygote exists in namespaces mode only (isolation here: {MODE})")
    sub = load_submission(HOSTILE / "correct.py")
    lr, beta = ALL_TASKS[5].payload["args"]
    session = open_session(sub, FAST)
    try:
        first = run_submission(sub, [ALL_TASKS[5]], FAST, session=session)
        assert first.outcomes["eff"].value == pytest.approx(lr / (1 - beta)) and not session.dead
        init = process._children(session.proc.pid)[0]
        zygote = process._children(init)[0]
        os.kill(zygote, signal.SIGSTOP)
        second = run_submission(sub, [ALL_TASKS[5]], FAST, session=session, private=True)
        assert second.outcomes["eff"].status == "ok"
        assert second.outcomes["eff"].value == pytest.approx(lr / (1 - beta))
        assert session.dead  # discarded: nothing more is sent to it
    finally:
        session.close()


class _FakeBox:
    """wait_seconds() as the scheduler would report it: ``rate`` seconds of run delay per call."""

    def __init__(self, rate: float):
        self.rate, self.waited = rate, 0.0

    def wait_seconds(self) -> float:
        self.waited += self.rate
        return self.waited


@pytest.mark.parametrize("rate, stretched", [(0.2, True), (0.0, False)])
def test_a_deadline_is_stretched_only_while_the_child_waits_for_a_cpu(rate, stretched):
    from grader.sandbox import supervisor

    child = _child_for([_traj("sgd_step", "sgd")])
    child._box = _FakeBox(rate)
    t0 = time.monotonic()
    child._new_budget(t0 + 1.0)
    at = t0 + 1.0
    assert child._stretch(at)  # first: a short probe of the run delay
    assert child._deadline == pytest.approx(at + supervisor.PROBE_SECONDS)
    end = at + supervisor.PROBE_SECONDS
    assert child._stretch(end) is stretched  # 0.2 s waited in a 0.25 s probe: starved
    if stretched:
        assert child.stretched == 1 and child._deadline > end
        late = t0 + supervisor.MAX_STRETCH * 1.0 + 0.01
        assert child._stretch(late) is False  # never past MAX_STRETCH budgets
