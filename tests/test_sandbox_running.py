"""Running submissions in the sandbox: correct code and ordinary broken code give the right
Outcome statuses and values.

Every run here starts real child processes with small limits, so the file stays fast.
"""

from __future__ import annotations

import json
import re

import nbformat
import numpy as np
import pytest

from grader.sandbox import Task, run_submission
from grader.submission import load_submission
from sandbox_common import ALL_TASKS, FAST, HOSTILE, _assert_all_correct, _call, _traj, notebooks, ref_positions, run, statuses, write


# --------------------------------------------------------------------------- running: correct code


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
        "leaf": ["_ravine_cells", "_ravine_hardening", "_ravine_objectives", "_ravine_protocol", "_ravine_rollout"],
        "mpl": False, "path_has_repo": False,
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
