"""The plan and the sandbox's limits: plan validation, Limits, respawns, concurrency, the
leaf child, the zygote, deadlines stretched only for a starved child.

Every run here starts real child processes with small limits, so the file stays fast.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time

import pytest

from grader.sandbox import Forbidden, Limits, Outcome, Task, run_submission
from grader.sandbox import supervisor
from grader.submission import load_submission
from sandbox_common import ALL_TASKS, FAST, HOSTILE, MODE, ROOT, _assert_all_correct, _call, _child_for, _traj, run, statuses, write


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
    assert Forbidden("solvers", "momentum_step") in report.forbidden


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


def test_a_stopped_zygote_means_a_fresh_sandbox_and_the_plan_is_never_sent_to_it():
    """namespaces: a submission's children are forked by a zygote.  If it does not answer (here
    stopped from outside, as a process of the submission might on a machine without the seccomp
    filter), the next child gets a sandbox of its own and is graded normally."""
    import signal

    from grader.sandbox import open_session, starvation

    if MODE != "namespaces":
        pytest.skip(f"the zygote exists in namespaces mode only (isolation here: {MODE})")
    sub = load_submission(HOSTILE / "correct.py")
    lr, beta = ALL_TASKS[5].payload["args"]
    session = open_session(sub, FAST)
    try:
        first = run_submission(sub, [ALL_TASKS[5]], FAST, session=session)
        assert first.outcomes["eff"].value == pytest.approx(lr / (1 - beta)) and not session.dead
        init = starvation._children(session.proc.pid)[0]
        zygote = starvation._children(init)[0]
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


def test_uid_slots_are_shared_by_graders_whatever_their_tmpdir(tmp_path, monkeypatch):
    """Two grader processes with different temporary folders (`ravine grade` points tempfile at a
    per-batch folder) must never get the same uid slot: each clears its uid's processes."""
    import tempfile

    from grader.sandbox import uidslots

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, tempfile; tempfile.tempdir = sys.argv[1]\n"
         "from grader.sandbox import uidslots\n"
         "print(uidslots._take_slot(), flush=True); sys.stdin.read()", str(tmp_path / "a")],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        theirs = int(holder.stdout.readline())
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "b"))
        ours = uidslots._take_slot()
        try:
            assert ours != theirs
            assert not uidslots._slot_dir().startswith(str(tmp_path))
        finally:
            uidslots._release_slot(ours)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
