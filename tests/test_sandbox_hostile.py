"""Hostile code in the sandbox: hangs, memory, exits, signals, floods, spawned processes,
the environment, forbidden imports.

Every run here starts real child processes with small limits, so the file stays fast.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from grader.sandbox import INTERFERENCE, Forbidden, Limits, run_submission
from grader.submission import load_submission
from sandbox_common import (ALL_TASKS, FAST, MODE, STEPS, X0, _call, _traj, ref_positions, run, statuses,
                            with_marker, write)


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


def test_processes_spawned_by_the_student_die_with_the_child():
    report = run("spawns_sleeper.py", [_traj("sgd_step", "sgd")])
    assert statuses(report) == {"sgd": "ok"}, report.outcomes
    assert re.search(r"SLEEPER-PID (\d+) \((exec|fork)\)", report.stdout)  # it really started one
    deadline = time.monotonic() + 3.0
    while with_marker("ravine-sleeper-marker") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert with_marker("ravine-sleeper-marker") == []


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
    assert report.forbidden == [Forbidden("solvers", "nesterov_step")]  # a value, formatted by the engine
    assert report.forbidden[0].describe() == "solvers (during nesterov_step)"


def test_import_attempt_at_load_forbids_every_task():
    report = run("imports_at_load.py")
    assert set(statuses(report).values()) == {"forbidden"}
    assert report.forbidden == [Forbidden("problems", "")]
    assert report.forbidden[0].describe() == "problems (at load)"
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
