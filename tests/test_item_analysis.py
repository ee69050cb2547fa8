"""Item analysis (`ravine report` -> items.csv, report.md) on a synthetic class whose answers are known.

The expected numbers are computed here independently with numpy: corrcoef for the corrected
item-total correlation, and the 27% groups from the students' known ranking.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
N = 40


def _test(name, part, group, score, max_score, status=None, tags=()):
    return {"name": name, "part": part, "score": score, "max_score": max_score, "output": "",
            "visibility": "visible", "tags": [group, *tags],
            "status": status or ("passed" if score == max_score else "failed" if score == 0 else "partial")}


def synthetic_class() -> tuple[list[dict], dict[str, np.ndarray]]:
    """40 students ranked by ability k = 0..39.  'base' (10 k points) fixes the ranking; the other
    items are made to discriminate well, inversely, not at all, or not to vary."""
    rng = np.random.default_rng(7)
    k = np.arange(N)
    items = {
        "base": 10.0 * k,  # max 390
        "good": np.where(k >= 20, 2.0, np.where(k >= 12, 1.0, 0.0)),  # max 2: partial credit in the middle
        "inverse": np.where(k < 15, 1.0, 0.0),  # the weak students get it right
        "easy": np.ones(N),
        "noisy": rng.integers(0, 2, N).astype(float),
    }
    maxes = {"base": 390.0, "good": 2.0, "inverse": 1.0, "easy": 1.0, "noisy": 1.0}
    results = []
    for s in range(N):
        tests = [_test("fn: base", "fn", "fn", items["base"][s], maxes["base"]),
                 _test("fn: good", "fn", "fn", items["good"][s], maxes["good"],
                       tags=() if items["good"][s] == 2 else ("stale-velocity",)),
                 _test("P1.a (symbolic)", "P1.a", "P1", items["inverse"][s], 1.0,
                       tags=() if items["inverse"][s] else (("one-over-lambda-max",) if s % 3 else ("two-over-lambda-min",))),
                 _test("P1.b (choice)", "P1.b", "P1", 1.0, 1.0),
                 _test("P2.a (numeric)", "P2.a", "P2", items["noisy"][s], 1.0),
                 _test("P3.a (text)", "P3.a", "P3", 0.0, 3.0, status="pending"),
                 # half pending: only the graded half counts
                 _test("P4.a (symbolic)", "P4.a", "P4", 0.0 if s % 2 else float(s >= 20), 1.0,
                       status="pending" if s % 2 else None)]
        results.append({"score": float(sum(t["score"] for t in tests)), "tests": tests,
                        "extra_data": {"submission": f"s{s:03d}", "max_score": 399.0}})
    return results, {**items, "maxes": maxes}


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    results, items = synthetic_class()
    for r in results:
        d = out / r["extra_data"]["submission"]
        d.mkdir()
        (d / "results.json").write_text(json.dumps(r))
    p = subprocess.run([sys.executable, "-m", "grader", "report", str(out)], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    with open(out / "items.csv", newline="") as fh:
        rows = {r["item"]: r for r in csv.DictReader(fh)}
    return out, rows, results, items


def expected(scores: np.ndarray, totals: np.ndarray, max_points: float) -> tuple[float, float, float]:
    difficulty = float(np.mean(scores / max_points))
    r = float(np.corrcoef(scores, totals - scores)[0, 1])
    order = np.argsort(totals, kind="stable")
    g = int(round(0.27 * len(totals)))
    d = float(np.mean(scores[order[-g:]] / max_points) - np.mean(scores[order[:g]] / max_points))
    return difficulty, r, d


def test_difficulty_and_discrimination_match_numpy(reported):
    _, rows, results, items = reported
    totals = np.array([r["score"] for r in results])
    for item, key in [("fn: good", "good"), ("P1.a (symbolic)", "inverse"), ("P2.a (numeric)", "noisy"),
                      ("fn: base", "base")]:
        diff, r, d = expected(items[key], totals, items["maxes"][key])
        row = rows[item]
        assert float(row["difficulty"]) == pytest.approx(diff, abs=5e-4), item
        assert float(row["item_total_r"]) == pytest.approx(r, abs=5e-4), item
        assert float(row["upper_lower_d"]) == pytest.approx(d, abs=5e-4), item
        assert int(row["n"]) == N and int(row["pending"]) == 0
    # the known answers: the top 11 (k >= 29) all got "good" fully, the bottom 11 (k <= 10) none of it
    assert float(rows["fn: good"]["upper_lower_d"]) == 1.0
    assert float(rows["P1.a (symbolic)"]["upper_lower_d"]) == -1.0
    assert rows["fn: good"]["full_marks"] == "20"


def test_flags(reported):
    _, rows, results, items = reported
    totals = np.array([r["score"] for r in results])
    assert "negative discrimination" in rows["P1.a (symbolic)"]["flags"]
    assert rows["fn: good"]["flags"] == ""
    assert rows["P1.b (choice)"]["flags"] == "everyone passes"
    assert rows["P1.b (choice)"]["item_total_r"] == ""  # no variance: no correlation
    r_noisy = float(np.corrcoef(items["noisy"], totals - items["noisy"])[0, 1])
    want = ("negative discrimination" if r_noisy < 0 else "near-zero discrimination" if r_noisy < 0.1 else "")
    assert rows["P2.a (numeric)"]["flags"] == want


def test_pending_is_pending_not_zero(reported):
    out, rows, results, _ = reported
    assert rows["P3.a (text)"]["difficulty"] == "" and rows["P3.a (text)"]["pending"] == str(N)
    assert rows["P3.a (text)"]["flags"] == "pending"
    # half graded: statistics over the graded half only
    half = rows["P4.a (symbolic)"]
    assert half["n"] == str(N // 2) and half["pending"] == str(N // 2)
    graded = np.array([float(s >= 20) for s in range(0, N, 2)])
    assert float(half["difficulty"]) == pytest.approx(graded.mean())
    md = (out / "report.md").read_text()
    assert "| P3.a (text) | 3 |  (40 pending) | pending |" in md
    assert "40 submission(s) have parts **pending**" in md


def test_diagnoses_with_counts_and_report_sections(reported):
    out, rows, _, _ = reported
    # 15 got P1.a right (k < 15); of the 25 wrong, s % 3 == 0 -> two-over-lambda-min
    wrong = [s for s in range(15, N)]
    n_two = sum(1 for s in wrong if s % 3 == 0)
    assert rows["P1.a (symbolic)"]["top_diagnoses"] == \
        f"one-over-lambda-max ({len(wrong) - n_two}); two-over-lambda-min ({n_two})"
    assert rows["fn: good"]["top_diagnoses"] == "stale-velocity (20)"
    md = (out / "report.md").read_text()
    assert "## Flagged items" in md and "- P1.a (symbolic): negative discrimination" in md
    assert "everyone passes (1): P1.b (choice)" in md
    assert (out / "report.png").stat().st_size > 10_000


def test_full_assignment_report_through_grade(tmp_path):
    """A whole handout (6 functions, 36 answer parts) graded by `ravine grade`: free text is pending,
    not 0% passing, and report.png gives every bar of the longest panel room for its label."""
    import matplotlib.image as mpimg

    import problems
    from test_assigned_notebooks import fill, hand_out

    hand_out(tmp_path, "id,name\ns001,Ada\ns002,Alan\ns003,Grace\n")
    subs = tmp_path / "subs"
    subs.mkdir()
    for sid in ("s001", "s002", "s003"):
        (subs / f"{sid}.ipynb").write_bytes((tmp_path / "handout" / f"{sid}.ipynb").read_bytes())
    fill(subs / "s001.ipynb", "s001")
    fill(subs / "s002.ipynb", "s001")  # s002 answers with s001's numbers: some parts wrong
    g = subprocess.run([sys.executable, "-m", "grader", "grade", str(subs), "--out", str(tmp_path / "out"),
                        "--seed", "5", "--no-feedback", "--roster", str(tmp_path / "roster.csv"),
                        "--secret-file", str(tmp_path / "secret.txt")],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert g.returncode == 0, g.stderr
    out = tmp_path / "out"
    with open(out / "items.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    text_parts = {p.id for p in problems.parts(kind="text")}
    answer_parts = [p for p in problems.parts() if p.kind != "implementation"]
    assert {r["part"] for r in rows if r["kind"] == "answer"} == {p.id for p in answer_parts}
    for r in rows:
        if r["part"] in text_parts:
            assert r["flags"] == "pending" and r["difficulty"] == "" and r["pending"] == "3"
        else:
            assert r["difficulty"] != "" and r["n"] == "3"
    md = (out / "report.md").read_text()
    assert "3 submission(s) have parts **pending**" in md
    for pid in text_parts:
        assert re.search(rf"\| {re.escape(pid)} \(text\) \| [\d.]+ \|  \(3 pending\) \| pending \|", md), pid
    img = mpimg.imread(out / "report.png")
    groups = {p.problem_id for p in answer_parts}
    # 100 dpi, 0.2 inch a bar: 20 px per row for an 8 pt (11 px) label, headings included
    assert img.shape[0] >= 20 * (len(answer_parts) + len(groups))
    assert img.shape[1] >= 1600  # three columns: summary, checks, answer parts
