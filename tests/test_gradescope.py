"""The Gradescope path: the autograder zip and a run in an /autograder-like layout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from grader.gradescope import find_submission, make_autograder_zip

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"


def test_zip_has_scripts_settings_and_source(tmp_path):
    z = make_autograder_zip(tmp_path / "ag.zip", seed=99, file="hw.py", timeout=3)
    with zipfile.ZipFile(z) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "ravine-gradescope.json", "ravine-src/pyproject.toml",
                "ravine-src/grader/cli.py", "ravine-src/solvers/rollout.py",
                "ravine-src/problems/update_rules.py"} <= names
        assert (zf.getinfo("run_autograder").external_attr >> 16) & 0o111
        assert json.loads(zf.read("ravine-gradescope.json")) == {"seed": 99, "file": "hw.py", "timeout": 3.0}
        assert not any("__pycache__" in n for n in names)


def test_make_zip_requires_a_seed(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader", "gradescope", "--make-zip", str(tmp_path / "a.zip")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "--seed" in proc.stderr


def test_run_in_autograder_layout(tmp_path):
    sub = tmp_path / "submission"
    sub.mkdir()
    shutil.copy(EXAMPLES / "dave_mistakes.py", sub / "hw.py")
    config = tmp_path / "ravine-gradescope.json"
    config.write_text(json.dumps({"seed": 7, "timeout": 2}))
    results = tmp_path / "results" / "results.json"
    proc = subprocess.run([sys.executable, "-m", "grader", "gradescope", "--config", str(config),
                           "--submission-dir", str(sub), "--results", str(results)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(results.read_text())
    assert data["score"] == 23
    assert len(data["tests"]) == 33
    assert {t["visibility"] for t in data["tests"]} == {"visible", "after_published"}


def test_no_submission_still_writes_results(tmp_path):
    (tmp_path / "submission").mkdir()
    config = tmp_path / "c.json"
    config.write_text('{"seed": 1}')
    results = tmp_path / "r" / "results.json"
    proc = subprocess.run([sys.executable, "-m", "grader", "gradescope", "--config", str(config),
                           "--submission-dir", str(tmp_path / "submission"), "--results", str(results)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0
    data = json.loads(results.read_text())
    assert data["score"] == 0 and "no .py or .ipynb file was submitted" in data["output"]
    # the same results.json writer as a graded submission: no tests, the hidden stdout
    assert (data["tests"], data["stdout_visibility"], data["extra_data"]["max_score"]) == ([], "hidden", 0)


def test_find_submission_prefers_the_named_file(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "hw.ipynb").write_text("{}")
    assert find_submission(tmp_path, "hw.ipynb").name == "hw.ipynb"
    try:
        find_submission(tmp_path)
    except FileNotFoundError as exc:
        assert "several" in str(exc) and "a.py" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("two files must be refused without --file")


def test_tags_exist_only_in_results_json_built_from_group_and_diagnoses():
    from grader.gradescope import from_results_json, results_json
    from grader.results import SubmissionResult, TestResult

    t = TestResult("momentum_step: ravine", "momentum_step", 3.0, 1.5, status="partial", group="momentum_step",
                   diagnoses=["ema-form"])
    assert not hasattr(t, "tags")  # positional tags are Gradescope's format, not the result's
    data = results_json(SubmissionResult("s", [t], ["a\nb"]))
    assert data["tests"][0]["tags"] == ["momentum_step", "ema-form"]
    back = from_results_json(data)
    assert (back.tests[0].group, back.tests[0].diagnoses, back.messages) == ("momentum_step", ["ema-form"], ["a\nb"])
    assert results_json(back)["tests"] == data["tests"]
