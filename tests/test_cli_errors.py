"""Bad input to any command: a one-line message and exit status 2, never a traceback.

One table over the real CLI (``python -m grader ...``).  Each row: the arguments (``{tmp}``
is a fresh temporary directory holding the files the row needs), the environment added,
the expected exit status and a piece of the one line printed on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALICE = str(ROOT / "examples" / "submissions" / "alice_correct.py")
DAVE = str(ROOT / "examples" / "submissions" / "dave_mistakes.py")

EXTREME = ("import numpy as np\n"
           "def momentum_step(x, v, grad_fn, lr, beta):\n    return x + 1e307, v\n"
           "def sgd_step(x, grad_fn, lr):\n    return x * 1e300\n")


def _setup(tmp: Path) -> None:
    (tmp / "exists.txt").write_text("not a directory\n")
    (tmp / "extreme.py").write_text(EXTREME)
    (tmp / "results" / "ada").mkdir(parents=True)
    (tmp / "results" / "ada" / "results.json").write_text(json.dumps({"score": "abc", "tests": []}))
    cell = {"cell_type": "markdown", "metadata": {"ravine": {"part": "P3.a"}},
            "source": "> **P3.a** Why?\n\nAt a saddle \ud800 it escapes"}
    code = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
            "source": "def effective_lr(lr, beta):\n    return lr / (1 - beta)\n"}
    (tmp / "surrogate.ipynb").write_text(json.dumps({"cells": [code, cell], "metadata": {"ravine": {}},
                                                     "nbformat": 4, "nbformat_minor": 5}))


ROWS = [
    # (id, args, extra environment, exit status, message)
    ("plot-unwritable", ["check", DAVE, "--plot", "/proc/nope.png"], {}, 2,
     "ravine check: argument --plot: /proc/nope.png: cannot write (No such file or directory)"),
    ("plot-txt", ["check", DAVE, "--plot", "{tmp}/out.txt"], {}, 2,
     "ravine check: argument --plot: {tmp}/out.txt: unsupported file type '.txt'; use .png or .svg or .pdf"),
    ("plot-all-alone", ["check", ALICE, "--plot-all"], {}, 2,
     "ravine check: --plot-all needs --plot FILE"),
    ("timeout-inf", ["check", ALICE, "--timeout", "inf"], {}, 2,
     "ravine check: argument --timeout: must be a positive number of seconds, at most 86400, got 'inf'"),
    ("timeout-nan", ["check", ALICE, "--timeout", "nan"], {}, 2,
     "ravine check: argument --timeout: must be a positive number of seconds, at most 86400, got 'nan'"),
    ("timeout-0", ["check", ALICE, "--timeout", "0"], {}, 2,
     "ravine check: argument --timeout: must be a positive number of seconds"),
    ("timeout-word", ["grade", ALICE, "--out", "{tmp}/g", "--timeout", "soon"], {}, 2,
     "ravine grade: argument --timeout: expected a number of seconds, got 'soon'"),
    ("verify-timeout-inf", ["verify", str(ROOT / "examples" / "derivations" / "terminal-velocity.txt"),
                            "--timeout", "inf"], {}, 2,
     "ravine verify: argument --timeout: must be a positive number of seconds, at most 86400, got 'inf'"),
    ("memory-0", ["check", ALICE, "--memory-mb", "0"], {}, 2,
     "ravine check: argument --memory-mb: must be a number of MB from 1 to 1048576, got '0'"),
    ("seed-negative", ["grade", ALICE, "--out", "{tmp}/g", "--seed", "-1"], {}, 2,
     "ravine grade: argument --seed: must be a whole number from 0 to 2**63 - 1, got '-1'"),
    ("env-seed-negative", ["grade", ALICE, "--out", "{tmp}/g"], {"RAVINE_SEED": "-1"}, 2,
     "ravine grade: RAVINE_SEED: must be a whole number from 0 to 2**63 - 1, got '-1'"),
    ("env-seed-word", ["grade", ALICE, "--out", "{tmp}/g"], {"RAVINE_SEED": "abc"}, 2,
     "ravine grade: RAVINE_SEED: expected a whole number from 0 to 2**63 - 1, got 'abc'"),
    ("jobs-0", ["grade", ALICE, "--out", "{tmp}/g", "--jobs", "0"], {}, 2,
     "ravine grade: argument --jobs: must be a number of jobs from 1 to 256, got '0'"),
    ("grade-out-file", ["grade", ALICE, "--out", "{tmp}/exists.txt"], {}, 2,
     "ravine grade: argument --out: {tmp}/exists.txt: exists and is not a directory"),
    ("manual-out-file", ["manual", "--out", "{tmp}/exists.txt"], {}, 2,
     "ravine manual: argument --out: {tmp}/exists.txt: exists and is not a directory"),
    ("manual-out-unwritable", ["manual", "--out", "/proc/nope/manual"], {}, 2,
     "ravine manual: /proc/nope: No such file or directory"),
    ("zip-unwritable", ["gradescope", "--make-zip", "/proc/nope.zip", "--seed", "1"], {}, 2,
     "ravine gradescope: cannot write /proc/nope.zip: No such file or directory"),
    ("zip-into-directory", ["gradescope", "--make-zip", "{tmp}", "--seed", "1"], {}, 2,
     "ravine gradescope: cannot write {tmp}: Is a directory"),
    ("racers-empty", ["race", "--racers", ""], {}, 2,
     "ravine race: argument --racers: no racer named; choose one or more of sgd,momentum,nesterov,adam"),
    ("racers-unknown", ["race", "--racers", "sgd,lion"], {}, 2,
     "ravine race: argument --racers: unknown racer 'lion'; choose from sgd,momentum,nesterov,adam"),
    ("race-out-txt", ["race", "--out", "{tmp}/race.txt"], {}, 2,
     "ravine race: argument --out: {tmp}/race.txt: unsupported file type '.txt'"),
    ("race-start-inf", ["race", "--start", "inf", "0", "--out", "{tmp}/race.png"], {}, 2,
     "ravine race: start must be two finite numbers, got inf 0"),
    ("reproduce-out-unwritable", ["reproduce", "p6", "--out", "/proc/nope.png"], {}, 2,
     "ravine reproduce: argument --out: /proc/nope.png: cannot write (No such file or directory)"),
    ("report-bad-score", ["report", "{tmp}/results"], {}, 2,
     "ravine report: {tmp}/results/ada/results.json: 'score' is 'abc', expected a number"),
    ("report-no-dir", ["report", "{tmp}/nowhere"], {}, 2,
     "ravine report: {tmp}/nowhere: no such directory"),
    ("surrogate-answer", ["check", "{tmp}/surrogate.ipynb"], {}, 2,
     "ravine check: surrogate.ipynb: malformed notebook: cell 2 (counting every cell from 1): its text holds "
     "an invalid character at position"),
    ("unknown-command", ["bogus"], {}, 2, "ravine: argument COMMAND: invalid choice: 'bogus'"),
    ("unknown-option", ["check", ALICE, "--roster", "r.csv"], {}, 2,
     "ravine check: unrecognized arguments: --roster r.csv"),
    # not a usage error: the checks fail (exit 1), the extreme positions are clipped into the picture
    ("plot-extreme", ["check", "{tmp}/extreme.py", "--plot", "{tmp}/p.png"], {}, 1,
     "plot: {tmp}/p.png ("),
]


@pytest.mark.parametrize("args,env,code,message", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_gets_one_line_and_its_exit_status(tmp_path, args, env, code, message):
    _setup(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    environ = {k: v for k, v in os.environ.items() if k != "RAVINE_SEED"}
    proc = subprocess.run([sys.executable, "-m", "grader", *argv], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env={**environ, **env})
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert proc.returncode == code, proc.stderr
    expected = message.replace("{tmp}", str(tmp_path))
    if code == 2:
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1, proc.stderr  # one line
        assert proc.stderr.startswith(expected), proc.stderr
    else:
        assert expected in proc.stderr
    leftovers = {p.name for p in tmp_path.iterdir()} - {"exists.txt", "extreme.py", "results", "surrogate.ipynb",
                                                         "p.png", "g"}
    assert not leftovers  # a refused output file is not left behind
    if "--plot" in argv and code == 2:
        assert not Path(argv[argv.index("--plot") + 1]).exists()


def test_plot_of_extreme_trajectories_is_drawn(tmp_path):
    _setup(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "grader", "check", str(tmp_path / "extreme.py"),
                           "--plot", str(tmp_path / "p.png")], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 1
    png = (tmp_path / "p.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_racer_names_match_the_lab():
    from solvers.commands.race import OBJECTIVES, RACER_NAMES
    from solvers.lab.race import RACE_OBJECTIVES, RACERS

    assert RACER_NAMES == tuple(RACERS) and OBJECTIVES == tuple(RACE_OBJECTIVES)
