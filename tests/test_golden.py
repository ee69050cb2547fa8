"""Expected reports as golden files: what a student and an instructor read, byte for byte.

A deliberate change of wording is accepted by regenerating them:
    python -m pytest tests/test_golden.py --update-golden
and reviewing the diff of tests/golden/ like any other change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.engine import build_checks, grade_submission
from grader.gradescope import results_json
from grader.sandbox import Limits

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = ROOT / "examples" / "submissions"


def compare_golden(request, name: str, text: str) -> None:
    path = GOLDEN / name
    if request.config.getoption("--update-golden"):
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path.name}: run with --update-golden and review it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{path.name} changed; if intended, regenerate with --update-golden"


@pytest.mark.parametrize("example", ["dave_mistakes.py", "erin_torch_nesterov.py", "carol_notebook.ipynb"])
def test_check_report(request, example):
    proc = subprocess.run([sys.executable, "-m", "grader", "check", str(EXAMPLES / example)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    compare_golden(request, f"check-{Path(example).stem}.txt", proc.stdout)


@pytest.mark.parametrize("example", ["dave_mistakes.py", "frank_hangs.py", "grace_syntax_error.py"])
def test_results_json(request, example):
    result = grade_submission(EXAMPLES / example, build_checks(seed=2026),
                              limits=Limits(function_timeout=1.5, load_timeout=5.0))
    data = results_json(result)
    data.pop("execution_time")  # wall-clock time: differs from run to run
    assert data["extra_data"].pop("isolation")["mode"] in ("namespaces", "uid", "process")  # differs by machine
    data["output"] = data["output"].replace("1.5 s", "<timeout>")
    for t in data["tests"]:
        t["output"] = t["output"].replace("1.5 s", "<timeout>")
    compare_golden(request, f"results-{Path(example).stem}.json", json.dumps(data, indent=2) + "\n")


def test_check_report_on_a_filled_handout(request, tmp_path):
    """`ravine check` on s001's handout from `ravine assign --roster`, filled with right answers:
    the public checks, then `reads` per answer part and nothing more (no verdict, no reference)."""
    import nbformat

    from tests.test_student_check import ANSWER_PARTS, filled, right_answer

    (tmp_path / "roster.csv").write_text("id,name\ns001,Ada\n")
    (tmp_path / "secret.txt").write_text("a-course-secret-of-enough-length")
    a = subprocess.run([sys.executable, "-m", "grader", "assign", "--out", str(tmp_path / "handout"),
                        "--roster", str(tmp_path / "roster.csv"), "--secret-file", str(tmp_path / "secret.txt")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert a.returncode == 0, a.stderr
    assert nbformat.read(str(tmp_path / "handout" / "s001.ipynb"), as_version=4).metadata["ravine"]["student_id"]
    nb = filled(tmp_path / "handout" / "s001.ipynb", tmp_path / "s001.ipynb",
                {p.id: right_answer(p) for p in ANSWER_PARTS})
    proc = subprocess.run([sys.executable, "-m", "grader", "check", str(nb)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    compare_golden(request, "check-s001_handout.txt", proc.stdout)
