"""The instructor's loop end to end: assign notebooks, students fill them, `ravine grade --roster` grades them."""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import problems
from problems.variants import draw_params, render, student_seed

ROOT = Path(__file__).resolve().parents[1]
SECRET = "a-course-secret-of-enough-length"
TV_DERIVATION = "v - beta*v = g -- collect v\nv*(1 - beta) = g\nv = g/(1 - beta)"


def reference_functions() -> dict[str, str]:
    """The source of each contract function in the correct example submission."""
    src = (ROOT / "examples" / "submissions" / "alice_correct.py").read_text()
    tree = ast.parse(src)
    return {n.name: ast.get_source_segment(src, n) for n in tree.body if isinstance(n, ast.FunctionDef)}


def fill(path: Path, student_id: str | None) -> None:
    nb = nbformat.read(str(path), as_version=4)
    funcs = reference_functions()
    seed = student_seed(SECRET, student_id) if student_id else None
    for cell in nb.cells:
        rv = cell.metadata.get("ravine", {})
        if cell.cell_type == "code" and rv.get("function"):
            cell.source = funcs[rv["function"]]
        elif cell.cell_type == "markdown" and rv.get("part"):
            part = problems.part(rv["part"])
            params = draw_params(problems.get(part.problem_id), seed)
            answer = TV_DERIVATION if part.kind == "derivation" else render(part.reference, params)
            cell.source = cell.source.splitlines()[0] + "\n\n" + answer
    nbformat.write(nb, str(path))


def hand_out(tmp: Path, roster: str) -> None:
    """Write roster.csv and secret.txt in ``tmp`` and run `ravine assign` into tmp/handout."""
    (tmp / "roster.csv").write_text(roster)
    (tmp / "secret.txt").write_text(SECRET)
    a = subprocess.run([sys.executable, "-m", "grader", "assign", "--out", str(tmp / "handout"), "--roster",
                        str(tmp / "roster.csv"), "--secret-file", str(tmp / "secret.txt")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert a.returncode == 0, a.stderr


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course")
    hand_out(tmp, "id,name\ns001,Ada\ns002,Alan\n")
    run = [sys.executable, "-m", "grader"]
    subs = tmp / "subs"
    subs.mkdir()
    for sid in ("s001", "s002"):
        (subs / f"{sid}.ipynb").write_bytes((tmp / "handout" / f"{sid}.ipynb").read_bytes())
    fill(subs / "s001.ipynb", "s001")
    fill(subs / "s002.ipynb", "s001")  # s002 copied s001's numbers: wrong for s002
    (subs / "stranger.ipynb").write_bytes((subs / "s001.ipynb").read_bytes())
    g = subprocess.run(run + ["grade", str(subs), "--out", str(tmp / "out"), "--seed", "3", "--roster",
                              str(tmp / "roster.csv"), "--secret-file", str(tmp / "secret.txt")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert g.returncode == 0, g.stderr
    with open(tmp / "out" / "gradebook.csv", newline="") as fh:
        rows = {r["submission"]: r for r in csv.DictReader(fh)}
    return tmp, rows


def test_filled_notebook_scores_everything_but_the_pending_free_text(graded):
    tmp, rows = graded
    text_points = sum(p.points for p in problems.parts(kind="text"))
    total = sum(p.points for p in problems.parts())
    assert float(rows["s001"]["max_total"]) == total
    assert float(rows["s001"]["total"]) == total - text_points
    data = json.loads((tmp / "out" / "s001" / "results.json").read_text())
    pending = [t for t in data["tests"] if t["status"] == "pending"]
    assert {t["part"] for t in pending} == {p.id for p in problems.parts(kind="text")}


def test_numbers_come_from_the_roster_id_not_the_notebook(graded):
    _, rows = graded
    # s002 answered with s001's numbers: the per-student numeric parts are wrong for s002
    assert float(rows["s002"]["total"]) < float(rows["s001"]["total"])
    assert float(rows["s002"]["sgd_step"]) == 12.0  # implementations are not personal


def test_file_name_not_on_the_roster_gets_a_clear_message(graded):
    tmp, rows = graded
    assert "no roster id matches" in rows["stranger"]["notes"]
    data = json.loads((tmp / "out" / "stranger" / "results.json").read_text())
    answer_tests = [t for t in data["tests"] if "." in t["part"]]
    assert answer_tests and all(t["score"] == 0 for t in answer_tests)
    assert float(rows["stranger"]["momentum_step"]) == 12.0


def test_secret_never_reaches_outputs(graded):
    tmp, _ = graded
    for p in (tmp / "out").rglob("*"):
        if p.is_file() and p.suffix in (".json", ".csv", ".md"):
            assert SECRET not in p.read_text()
    for p in (tmp / "handout").rglob("*.ipynb"):
        assert SECRET not in p.read_text()


def test_check_reports_whether_answers_read_without_grading_them(tmp_path):
    a = subprocess.run([sys.executable, "-m", "grader", "assign", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert a.returncode == 0, a.stderr
    path = tmp_path / "assignment.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        part = cell.metadata.get("ravine", {}).get("part")
        if cell.cell_type == "markdown" and part == "P1.a":
            cell.source = cell.source.splitlines()[0] + "\n\n1/lambda_max"  # wrong, but readable
        if cell.cell_type == "markdown" and part == "TV.a":
            cell.source = cell.source.splitlines()[0] + "\n\ng/(1-beta"
    nbformat.write(nb, str(path))
    proc = subprocess.run([sys.executable, "-m", "grader", "check", str(path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert "  P1.a   reads\n" in proc.stdout  # no verdict on a wrong answer
    assert "  TV.a   cannot be read: '(' is never closed" in proc.stdout
    assert "  P2.a   cannot be read: no answer yet\n" in proc.stdout
    assert "one-over-lambda-max" not in proc.stdout


def test_free_text_reference_is_shown_only_after_publication(graded):
    tmp, _ = graded
    data = json.loads((tmp / "out" / "s001" / "results.json").read_text())
    text_parts = {p.id for p in problems.parts(kind="text")}
    for t in data["tests"]:
        if t["part"] in text_parts:
            assert t["visibility"] == "after_published" and "Reference answer:" in t["output"]


def test_gradescope_grades_an_assignment_notebook_with_the_submitters_numbers(tmp_path):
    hand_out(tmp_path, "id,name,email\ns001,Ada,Ada@Example.org\ns002,Alan,alan@example.org\n")
    run = [sys.executable, "-m", "grader"]
    z = subprocess.run(run + ["gradescope", "--make-zip", str(tmp_path / "ag.zip"), "--seed", "4", "--roster",
                              str(tmp_path / "roster.csv"), "--secret-file", str(tmp_path / "secret.txt")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert z.returncode == 0, z.stderr
    import zipfile

    config = json.loads(zipfile.ZipFile(tmp_path / "ag.zip").read("ravine-gradescope.json"))
    assert config["students"] == {"ada@example.org": "s001", "alan@example.org": "s002"}
    (tmp_path / "ravine-gradescope.json").write_text(json.dumps(config))
    text_points = sum(p.points for p in problems.parts(kind="text"))
    total = sum(p.points for p in problems.parts())
    for email, expect in (("ada@example.org", total - text_points), ("eve@example.org", None)):
        ag = tmp_path / email
        (ag / "submission").mkdir(parents=True)
        (ag / "submission" / "homework.ipynb").write_bytes((tmp_path / "handout" / "s001.ipynb").read_bytes())
        fill(ag / "submission" / "homework.ipynb", "s001")
        (ag / "submission_metadata.json").write_text(json.dumps({"users": [{"email": email}]}))
        g = subprocess.run(run + ["gradescope", "--config", str(tmp_path / "ravine-gradescope.json"),
                                  "--submission-dir", str(ag / "submission"), "--results",
                                  str(ag / "results" / "results.json")],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert g.returncode == 0, g.stderr
        data = json.loads((ag / "results" / "results.json").read_text())
        if expect is not None:
            assert data["score"] == expect
        else:  # a submitter not on the roster: implementations graded, answers zero with the reason
            assert data["score"] == 51 and "no roster id matches" in data["output"]
        assert SECRET not in json.dumps(data)
