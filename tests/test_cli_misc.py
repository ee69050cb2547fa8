"""Small promises of the command line, each through the real CLI (``python -m grader``)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALICE = str(ROOT / "examples" / "submissions" / "alice_correct.py")
DAVE = str(ROOT / "examples" / "submissions" / "dave_mistakes.py")


def cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, umask: int = -1,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, umask=umask, timeout=timeout)


def test_version():
    import grader

    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout == f"ravine {grader.__version__}\n"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(rf'^version = "{re.escape(grader.__version__)}"$', pyproject, re.M)


def test_gradescope_help_explains_submission_dir_and_results():
    out = " ".join(cli("gradescope", "--help").stdout.split())
    assert "--submission-dir DIR the student's submitted files (default ROOT/submission)" in out
    assert "--results FILE where Gradescope reads the results (default ROOT/results/results.json)" in out
    assert "--root ROOT Gradescope's layout" in out and "(default /autograder)" in out


def test_derive_list_in_json():
    from solvers import derive

    proc = cli("derive", "--format", "json")
    assert proc.returncode == 0
    listing = json.loads(proc.stdout)
    assert [d["name"] for d in listing] == derive.names()
    assert all(d["title"] == derive.get(d["name"]).title for d in listing)
    md = cli("derive", "--format", "markdown").stdout.splitlines()
    assert md[0] == f"- `{derive.names()[0]}`: {derive.get(derive.names()[0]).title}"


def test_reproduce_with_one_seed_says_one_seed_and_no_spread():
    pytest.importorskip("sklearn", reason="momentum-table trains on scikit-learn's 8x8 digits")
    proc = cli("reproduce", "momentum-table", "--seeds", "1", "--epochs", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "measured (digits), 1 seed " in out and "1 seeds" not in out
    assert "+- 0.000" not in out and "+-  0.0" not in out
    assert "1 epoch = " in out and "seed 0 (split" in out
    assert "momentum lower in 1/1 seed " in out
    assert re.search(r"^SGD +\| +0\.42 +92\.1% \| +\d\.\d{3} +\d+\.\d%$", out, re.M)


def test_python_m_grader_ignores_a_solvers_folder_in_the_current_directory(tmp_path):
    for name in ("solvers", "problems"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('the fake {name} was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = cli("check", ALICE, cwd=tmp_path, env=env)
    assert "fake" not in proc.stderr, proc.stderr
    assert proc.returncode == 0
    assert "Total (public checks): 26/26" in proc.stdout


def test_every_output_is_the_owners_only_whatever_the_umask(tmp_path):
    """Files 0600, directories 0700: results, gradebook, grading.json, report.md, report.png, plots, handouts."""
    grade = cli("grade", ALICE, DAVE, "--out", str(tmp_path / "results"), "--seed", "3", umask=0o022)
    assert grade.returncode == 0, grade.stderr
    (tmp_path / "plots").mkdir()
    check = cli("check", DAVE, "--plot", str(tmp_path / "plots" / "mine.png"), umask=0o022)
    assert check.returncode == 1, check.stderr
    assign = cli("assign", "--out", str(tmp_path / "handout"), umask=0o022)
    assert assign.returncode == 0, assign.stderr
    made = [tmp_path / "results", *(tmp_path / "results").rglob("*"), tmp_path / "plots" / "mine.png",
            tmp_path / "handout", *(tmp_path / "handout").rglob("*")]
    files = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in made if p.is_file()}
    dirs = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in made if p.is_dir()}
    assert {"results/report.png", "results/report.md", "results/gradebook.csv", "results/grading.json",
            "results/alice_correct/results.json", "plots/mine.png", "handout/assignment.ipynb"} <= set(files)
    assert set(files.values()) == {0o600}, files
    assert {"results", "results/alice_correct", "handout"} <= set(dirs)
    assert set(dirs.values()) == {0o700}, dirs


def test_assign_is_byte_identical_between_runs(tmp_path):
    (tmp_path / "roster.csv").write_text("id,name\ns001,Ada\ns002,Alan\n")
    (tmp_path / "secret.txt").write_text("a-course-secret-of-enough-length")
    outs = []
    for run in ("one", "two"):
        a = cli("assign", "--out", str(tmp_path / run), "--roster", str(tmp_path / "roster.csv"),
                "--secret-file", str(tmp_path / "secret.txt"))
        assert a.returncode == 0, a.stderr
        g = cli("assign", "--out", str(tmp_path / f"{run}-generic"))
        assert g.returncode == 0, g.stderr
        outs.append({p.name: p.read_bytes() for d in (run, f"{run}-generic") for p in (tmp_path / d).iterdir()})
    assert set(outs[0]) == {"s001.ipynb", "s002.ipynb", "assignment.ipynb"}
    assert outs[0] == outs[1]
    ids = [c["id"] for c in json.loads(outs[0]["s001.ipynb"])["cells"]]
    assert len(set(ids)) == len(ids)
    assert outs[0]["s001.ipynb"] != outs[0]["s002.ipynb"]  # personal numbers differ, and so do the ids
