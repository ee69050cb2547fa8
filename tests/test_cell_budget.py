"""Issue 9 item 2: every notebook cell (and a .py's top level) has its own budget
(--cell-timeout); a slow cell is stopped and named, later cells still run, and --load-timeout
stays the hard stop for all cells together.  Through the real CLI, with small budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
BUDGETS = ["--cell-timeout", "1", "--load-timeout", "10", "--timeout", "3"]
SLEEP = "import time\nprint('a long experiment')\ntime.sleep(30)\nprint('never printed')\n"


def _ravine(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def _carol_with(tmp_path: Path, name: str, inserts: dict[int, str]) -> Path:
    """carol_notebook (51/51) with code cells inserted before the given cell positions."""
    nb = nbformat.read(EXAMPLES / "carol_notebook.ipynb", as_version=4)
    for position in sorted(inserts, reverse=True):
        nb.cells.insert(position, nbformat.v4.new_code_cell(inserts[position]))
    path = tmp_path / "subs" / name
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_slow_cells_are_stopped_and_named_and_the_notebook_keeps_full_marks(tmp_path):
    # carol's code cell 7 defines largest_stable_lr and effective_lr: a slow cell now comes before
    # it (code cell 7 of the new notebook; markdown cells are not counted), and the last code cell
    # (cell 10) sleeps too.
    n_cells = len(nbformat.read(EXAMPLES / "carol_notebook.ipynb", as_version=4).cells)
    path = _carol_with(tmp_path, "slow.ipynb", {7: SLEEP, n_cells: SLEEP})
    proc = _ravine("grade", str(path.parent), "--out", str(tmp_path / "out"), "--seed", "3",
                   "--no-report", *BUDGETS)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "out" / "slow" / "results.json").read_text())
    assert results["score"] == 51.0
    assert results["output"].splitlines() == [
        "cell 6 raised NameError: name 'undefined_name' is not defined (cell 6, line 1)",
        "cell 7 took longer than 1 s and was stopped at line 3; the cells after it still run",
        "cell 10 took longer than 1 s and was stopped at line 3; the cells after it still run",
    ]
    assert "infinite loop" not in json.dumps(results)
    settings = json.loads((tmp_path / "out" / "grading.json").read_text())
    assert settings["limits"]["cell_timeout"] == 1.0 and settings["limits"]["load_timeout"] == 10.0


def test_py_top_level_that_sleeps_is_stopped_at_its_line(tmp_path):
    source = (EXAMPLES / "alice_correct.py").read_text()
    path = tmp_path / "alice_slow.py"
    path.write_text(source + "\n" + SLEEP)
    line = len(source.splitlines()) + 1 + 3  # the blank line, then SLEEP's third line
    proc = _ravine("check", str(path), *BUDGETS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"! alice_slow.py took longer than 1 s and was stopped at line {line}\n" in proc.stdout
    assert "Total (public checks): 26/26" in proc.stdout


def test_cell_that_swallows_its_stop_meets_the_hard_stop_with_the_cell_named(tmp_path):
    hostile = ("while True:\n    try:\n        while True:\n            pass\n"
               "    except BaseException:\n        pass\n")
    path = _carol_with(tmp_path, "stubborn.ipynb", {2: hostile})  # code cell 2, after the imports
    proc = _ravine("check", str(path), "--cell-timeout", "0.5", "--load-timeout", "2", "--timeout", "3")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert ("! process killed during load: loading did not finish within 2 s, the hard limit for all cells "
            "together; cell 2 was still running (past its own 0.5 s budget), so nothing the submission "
            "defines could be checked\n") in proc.stdout
    assert "Total (public checks): 0/26" in proc.stdout
    assert proc.stdout.count("[timeout] your code did not finish loading within the time limit, so this "
                             "function was not run") == 17  # every public check
    assert "infinite loop" not in proc.stdout


def test_cell_budget_must_be_below_the_load_budget(tmp_path):
    path = EXAMPLES / "alice_correct.py"
    proc = _ravine("check", str(path), "--cell-timeout", "5", "--load-timeout", "3")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == ("ravine check: --cell-timeout (5 s) must be smaller than --load-timeout (3 s), "
                                   "the hard limit for all cells together")
    bad = _ravine("grade", str(path), "--out", str(tmp_path / "o"), "--cell-timeout", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "argument --cell-timeout: must be a positive number of seconds" in bad.stderr
    assert not (tmp_path / "o").exists()
