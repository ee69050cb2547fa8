"""Shared helpers of the tests/test_sandbox_*.py files (not a test module)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from grader import sandbox as sandbox_mod
from grader.sandbox import Limits, RunReport, Task, run_submission
from grader.sandbox import supervisor
from grader.submission import Cell, Submission, load_submission

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


def _child_for(tasks) -> supervisor._Child:
    sub = Submission("s", Path("s.py"), "py", (Cell(0, "x = 1", "s.py"),), None, ())
    out = supervisor._Output(100)
    child = supervisor._Child(sub, list(tasks), FAST, out, out)
    child.phase = "tasks"
    return child


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is dead: it has only its exit status left)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def with_marker(marker: str) -> list[int]:
    """Pids of live processes whose command line holds ``marker``, or whose comm is its first 15
    characters (a forked process names itself so), in any namespace."""
    import os

    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmdline = fh.read()
                with open(f"/proc/{entry}/comm", "rb") as fh:
                    comm = fh.read().strip()
            except OSError:
                continue
            if (marker.encode() in cmdline or comm == marker[:15].encode()) and alive(int(entry)):
                out.append(int(entry))
    return out
