"""`ravine export canvas` through the real CLI: a Canvas gradebook export round-trips with one column filled."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "canvas"


def ravine(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def write_results(out: Path, scores: dict[str, float], max_score: float = 51.0) -> Path:
    """A grading directory as `ravine grade` leaves it: DIR/<name>/results.json."""
    for name, score in scores.items():
        (out / name).mkdir(parents=True)
        tests = [{"name": "t", "score": score, "max_score": max_score, "output": "", "visibility": "visible",
                  "tags": ["sgd_step"], "status": "passed" if score == max_score else "failed",
                  "part": "sgd_step"}]
        (out / name / "results.json").write_text(json.dumps(
            {"score": score, "tests": tests, "extra_data": {"submission": name, "max_score": max_score}}))
    return out


def read_csv(path: Path, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""), delimiter=delimiter))


# The example's students (roster ids) and the scores given to their submissions here.
SCORES = {"alice_correct": 51.0, "bob_polyak": 49.5, "carol_notebook": 51.0, "dave_mistakes": 23.0,
          "erin_torch_nesterov": 22.25, "frank_hangs": 20.0, "grace_syntax_error": 0.0, "heidi_broken": 0.0}


def test_template_round_trips_with_one_column_filled(tmp_path):
    res = write_results(tmp_path / "results", SCORES)
    out = tmp_path / "import.csv"
    p = ravine("export", "canvas", str(res), "--template", str(EXAMPLE / "canvas_export.csv"),
               "--roster", str(EXAMPLE / "roster.csv"), "--assignment", "Optimizers lab", "--out", str(out))
    assert p.returncode == 0, p.stderr
    before, after = read_csv(EXAMPLE / "canvas_export.csv"), read_csv(out)
    assert len(after) == len(before)  # no row dropped: header, Points Possible, all students
    col = before[0].index("Optimizers lab (1002)")
    assert after[0] == before[0]
    assert after[1] == before[1] and after[1][0] == "    Points Possible"
    # every cell outside the filled column is unchanged
    for b, a in zip(before, after):
        assert [c for i, c in enumerate(b) if i != col] == [c for i, c in enumerate(a) if i != col]
    filled = {row[0]: row[col] for row in after[2:]}
    assert filled["Ames, Alice"] == "51.00"
    assert filled["Bauer, Bob"] == "49.50"
    assert filled["Eze, Erin"] == "22.25"
    assert filled["Fox, Frank"] == "20.00"  # no SIS User ID in Canvas: matched by the roster e-mail
    assert filled["Gill, Grace"] == "0.00"
    assert filled["Ito, Ivan"] == "12.00"  # on Canvas, no result: his existing grade is kept
    assert filled["Student, Test"] == ""
    assert "score(s)" in p.stdout and "7 score(s)" in p.stdout
    # unmatched on both sides are named
    assert "1 result(s) with no Canvas row" in p.stderr and "heidi_broken (not on the roster)" in p.stderr
    assert "2 Canvas student(s) with no result" in p.stderr and "Ito, Ivan" in p.stderr
    assert "Student, Test" in p.stderr
    assert out.read_bytes().count(b"\r\n") == len(before)  # Canvas's line ends are kept


def test_semicolon_bom_leading_zeros_new_column_and_conflicts(tmp_path):
    tpl = tmp_path / "export.csv"
    tpl.write_bytes("\ufeffStudent;ID;SIS User ID;SIS Login ID;Section;Quiz (7);Current Score\n"
                    "    Points Possible;;;;;10,00;(read only)\n"
                    "Muted;;;;;;\n"
                    "\"Doe, Jane\";11;0042;jdoe;A;9,50;0\n"
                    "\"Roe, Rick\";12;S2;RROE@UNI.EXAMPLE;A;;0\n"
                    "\"Poe, Ed\";13;S3;epoe;B;;0\n".encode())
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\n42,Jane Doe,jane@uni.example\nr2,Rick Roe,rroe@uni.example\n"
                      "S3,Ed Poe,\n")
    res = write_results(tmp_path / "results", {"42": 30.0, "r2": 12.5, "S3": 5.0, "S3_late": 6.0},
                        max_score=40.0)
    out = tmp_path / "out.csv"
    p = ravine("export", "canvas", str(res), "--template", str(tpl), "--roster", str(roster),
               "--assignment", "Optimizers lab", "--out", str(out))
    assert p.returncode == 0, p.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = read_csv(out, ";")
    assert len(rows) == 6
    assert rows[0][-1] == "Optimizers lab"  # added: Canvas creates the assignment on import
    assert rows[1][-1] == "40.00"  # its points possible
    assert rows[1][5] == "10,00" and rows[2][0] == "Muted"  # header rows kept as they were
    assert rows[3][-1] == "30.00"  # roster id 42 matches SIS User ID 0042
    assert rows[4][-1] == "12.50"  # e-mail matches the login without case
    assert len(rows[5]) == 8 and rows[5][-1] == ""  # two submissions claim Ed Poe: left unchanged, reported
    assert "conflict: line 6" in p.stderr and "S3, S3_late" in p.stderr
    assert "added" in p.stderr


def test_without_template_writes_canvas_minimal_import(tmp_path):
    res = write_results(tmp_path / "results", {"alice": 51.0, "zed": 3.0})
    out = tmp_path / "min.csv"
    p = ravine("export", "canvas", str(res), "--roster", str(EXAMPLE / "roster.csv"),
               "--assignment", "Optimizers lab", "--out", str(out))
    assert p.returncode == 0, p.stderr
    rows = read_csv(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Optimizers lab"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "51.00"]
    assert rows[2] == ["Alice Ames", "", "alice", "alice@uni.example", "", "51.00"]
    assert len(rows) == 3
    assert "zed (not on the roster)" in p.stderr
    assert "6 roster student(s) with no result" in p.stderr


BAD_TEMPLATES = [
    ("missing", None, "no such template file"),
    ("not-canvas", "name,score\nann,3\n", "not a Canvas gradebook export"),
    ("no-section", "Student,ID,SIS User ID,Quiz (1)\nA,1,a,3\n", "no 'Section' column"),
    ("binary", b"\x00\x01\x02", "binary file"),
    ("latin1", "Student,ID,SIS User ID,Section,Q\n\"M\xfcller, A\",1,a,S,\n".encode("latin-1"), "not UTF-8"),
    ("no-sis", "Student,ID,Section,Optimizers lab\n\"Doe, J\",1,A,\n", "no 'SIS User ID' or 'SIS Login ID'"),
    ("two-columns", "Student,ID,SIS User ID,Section,Optimizers lab (1),Optimizers lab (2)\nA,1,a,S,,\n",
     "2 columns are titled"),
    ("bad-quote", 'Student,ID,SIS User ID,Section,Q\n"A,1,a,S,\n', "not a readable CSV"),
]


@pytest.mark.parametrize("name,content,message", BAD_TEMPLATES, ids=[b[0] for b in BAD_TEMPLATES])
def test_bad_template_is_one_line_and_exit_2(tmp_path, name, content, message):
    res = write_results(tmp_path / "results", {"alice": 1.0})
    tpl = tmp_path / f"{name}.csv"
    if isinstance(content, str):
        tpl.write_text(content)
    elif isinstance(content, bytes):
        tpl.write_bytes(content)
    out = tmp_path / "out.csv"
    p = ravine("export", "canvas", str(res), "--template", str(tpl), "--roster", str(EXAMPLE / "roster.csv"),
               "--assignment", "Optimizers lab", "--out", str(out))
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and message in p.stderr, p.stderr
    assert not out.exists()


def test_bad_results_dir_and_usage_errors(tmp_path):
    p = ravine("export", "canvas", str(tmp_path / "nope"), "--assignment", "A", "--out", str(tmp_path / "o.csv"))
    assert p.returncode == 2 and "no such directory" in p.stderr and "Traceback" not in p.stderr
    (tmp_path / "empty").mkdir()
    p = ravine("export", "canvas", str(tmp_path / "empty"), "--assignment", "A", "--out", str(tmp_path / "o.csv"))
    assert p.returncode == 2 and "no */results.json" in p.stderr
    p = ravine("export")
    assert p.returncode == 2 and "canvas" in p.stderr
    res = write_results(tmp_path / "results", {"alice": 1.0})
    p = ravine("export", "canvas", str(res), "--assignment", "A", "--out", str(tmp_path))
    assert p.returncode == 2 and "is a directory" in p.stderr
