"""End to end: the bundled example submissions through the real, isolated grader."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.batch import grade_batch, unique_names
from grader.engine import build_checks, grade_submission
from grader.gradescope import tags as gradescope_tags
from grader.sandbox import Limits
from grader.submission import collect_submissions

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
FAST = Limits(function_timeout=1.5, load_timeout=5.0)
FULL = {"sgd_step": 12, "momentum_step": 12, "nesterov_step": 12, "largest_stable_lr": 4,
        "effective_lr": 4, "classify_critical_point": 7}

# name -> (expected score per function, diagnosis ids that must appear per function)
TABLE = {
    "alice_correct": (FULL, {}),
    "bob_polyak": (FULL, {}),
    "carol_notebook": (FULL, {}),
    "dave_mistakes": (
        {**FULL, "momentum_step": 6, "nesterov_step": 0, "largest_stable_lr": 0, "effective_lr": 0,
         "classify_critical_point": 5},
        {"momentum_step": {"ema-form"}, "nesterov_step": {"no-lookahead"},
         "largest_stable_lr": {"one-over-lambda-max"}, "effective_lr": {"lr-times-one-minus-beta"},
         "classify_critical_point": {"determinant-only"}},
    ),
    "erin_torch_nesterov": (
        {**FULL, "momentum_step": 0, "nesterov_step": 6, "largest_stable_lr": 0, "classify_critical_point": 0},
        {"momentum_step": {"stale-velocity"}, "nesterov_step": {"reparameterized-nesterov"},
         "largest_stable_lr": {"two-over-lambda-min"}, "classify_critical_point": {"contract"}},
    ),
    "frank_hangs": (
        {**FULL, "momentum_step": 0, "nesterov_step": 0, "classify_critical_point": 0},
        {"momentum_step": {"crash"}, "nesterov_step": {"timeout"}, "classify_critical_point": {"exception"}},
    ),
    "grace_syntax_error": ({k: 0 for k in FULL}, {"sgd_step": {"submission-error"}}),
    "heidi_broken": ({k: 0 for k in FULL}, {"sgd_step": {"submission-error"}}),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    paths, rejected = collect_submissions([EXAMPLES])
    result = grade_batch(paths, out, seed=1234, jobs=2, limits=FAST, rejected=rejected,
                         progress=lambda msg: None)
    return result


def test_every_example_is_graded_once(batch):
    assert sorted(r.submission for r in batch.results) == sorted(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_example_scores_and_diagnoses(batch, name):
    result = next(r for r in batch.results if r.submission == name)
    scores, diagnoses = TABLE[name]
    by = result.by_part()
    assert {k: v[0] for k, v in by.items()} == scores, "\n".join(t.output for t in result.tests)
    for function, ids in diagnoses.items():
        tags = {tag for t in result.tests if t.part == function for tag in gradescope_tags(t)}
        assert ids <= tags, (function, tags)


def test_results_json_follow_gradescope_schema(batch):
    for r in batch.results:
        data = json.loads((batch.out_dir / r.submission / "results.json").read_text())
        assert data["score"] == r.score
        assert isinstance(data["tests"], list) and data["tests"]
        for t in data["tests"]:
            assert set(t) >= {"name", "score", "max_score", "output", "visibility", "tags"}
            assert t["visibility"] in {"visible", "hidden", "after_due_date", "after_published"}
            assert 0 <= t["score"] <= t["max_score"]
            assert t["tags"][0] in FULL


def test_gradebook_has_a_row_per_submission_and_a_column_per_function(batch):
    with open(batch.out_dir / "gradebook.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["submission"] for r in rows) == sorted(TABLE)
    for row in rows:
        scores, _ = TABLE[row["submission"]]
        assert {k: float(row[k]) for k in FULL} == scores
        assert float(row["total"]) == sum(scores.values())
        assert float(row["max_total"]) == 51


def test_bad_input_gets_a_specific_message(batch):
    grace = next(r for r in batch.results if r.submission == "grace_syntax_error")
    assert any("line 1" in m and "syntax" in m.lower() for m in grace.messages), grace.messages
    heidi = next(r for r in batch.results if r.submission == "heidi_broken")
    assert any("notebook" in m.lower() for m in heidi.messages), heidi.messages


def test_hidden_outputs_reveal_no_reference_values(batch):
    from problems.exercise_registry import EXERCISES

    dave = next(r for r in batch.results if r.submission == "dave_mistakes")
    hidden = {s.name: s for e in EXERCISES.values() for s in e.checks(seed=1234) if s.hidden}
    for t in dave.tests:
        if t.name in hidden and hasattr(hidden[t.name], "expected") and isinstance(hidden[t.name].expected, float):
            assert f"{hidden[t.name].expected:.6g}" not in t.output


def test_unique_names():
    assert unique_names([Path("a/x.py"), Path("b/x.ipynb"), Path("y.py")]) == ["x", "x-2", "y"]


def test_check_command_public_only(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader", "check", str(EXAMPLES / "dave_mistakes.py"),
                           "--timeout", "2"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert "Hidden checks" in proc.stdout and "NOT run" in proc.stdout
    assert "[ema-form]" in proc.stdout and "[no-lookahead]" in proc.stdout
    assert "hidden" not in "".join(line for line in proc.stdout.splitlines() if line.startswith("  PASS"))
    ok = subprocess.run([sys.executable, "-m", "grader", "check", str(EXAMPLES / "alice_correct.py")],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Total (public checks): 26/26" in ok.stdout


def test_check_command_bad_input(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "grader", "check", str(tmp_path / "nope.py")],
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert missing.returncode == 2 and "nope.py" in missing.stderr


def test_grade_command_writes_everything_and_exits_zero(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(EXAMPLES / "alice_correct.py"),
         str(EXAMPLES / "dave_mistakes.py"), str(tmp_path / "missing.py"), "--out", str(out), "--seed", "5"],
        capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert (out / "alice_correct" / "results.json").exists()
    assert (out / "missing" / "results.json").exists()
    assert json.loads((out / "grading.json").read_text())["seed"] == 5
    assert "alice_correct" in proc.stdout and "51/51" in proc.stdout
    report = (out / "report.md").read_text()
    assert "3 submissions graded" in report and (out / "report.png").stat().st_size > 1000


def test_grade_command_without_submissions_fails_clearly(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(tmp_path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "no .py or .ipynb submissions" in proc.stderr


def test_same_verdicts_with_one_job_and_in_process_order():
    checks = build_checks(seed=1234)
    a = grade_submission(EXAMPLES / "erin_torch_nesterov.py", checks, limits=FAST)
    assert {k: v[0] for k, v in a.by_part().items()} == TABLE["erin_torch_nesterov"][0]


def test_check_plot_draws_failing_trajectories(tmp_path):
    png = tmp_path / "mine.png"
    proc = subprocess.run([sys.executable, "-m", "grader", "check", str(EXAMPLES / "erin_torch_nesterov.py"),
                           "--plot", str(png)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    assert "plot:" in proc.stderr and "(6 trajectories)" in proc.stderr  # 3 momentum + 3 nesterov misses
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_grade_command_with_a_roster_that_is_not_utf8(tmp_path):
    # A roster saved as Latin-1 (a spreadsheet's default on some systems): a clear message and exit 2,
    # before any grading (it used to die with AttributeError: UnicodeDecodeError has no .filename).
    roster = tmp_path / "roster.csv"
    roster.write_bytes("id,name\ns001,Jos\xe9\n".encode("latin-1"))
    secret = tmp_path / "secret.txt"
    secret.write_text("a-course-secret-of-enough-length\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(EXAMPLES / "alice_correct.py"), "--out", str(out),
         "--roster", str(roster), "--secret-file", str(secret)],
        capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"ravine grade: {roster}: not UTF-8 text (undecodable byte at offset 16); "
                                   "save the roster as UTF-8 CSV")
    assert not (out / "alice_correct").exists() and proc.stdout == ""


def test_grade_takes_the_seed_from_the_environment(tmp_path):
    import os

    env = {**os.environ, "RAVINE_SEED": "77"}
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(EXAMPLES / "alice_correct.py"), "--out",
                           str(out), "--no-report"], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "grading.json").read_text())["seed"] == 77
    bad = subprocess.run([sys.executable, "-m", "grader", "grade", str(EXAMPLES / "alice_correct.py"), "--out",
                          str(out)], capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={**os.environ, "RAVINE_SEED": "abc"})
    assert bad.returncode == 2 and "RAVINE_SEED: expected a whole number" in bad.stderr


def test_grade_roster_needs_the_secret_and_names_bad_files(tmp_path):
    (tmp_path / "r.csv").write_text("id\ns001\n")
    base = [sys.executable, "-m", "grader", "grade", str(EXAMPLES / "alice_correct.py"), "--out", str(tmp_path / "o")]
    alone = subprocess.run(base + ["--roster", str(tmp_path / "r.csv")], capture_output=True, text=True,
                           cwd=ROOT, timeout=60)
    assert alone.returncode == 2 and "--roster and --secret-file go together" in alone.stderr
    missing = subprocess.run(base + ["--roster", str(tmp_path / "r.csv"), "--secret-file", str(tmp_path / "nope")],
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert missing.returncode == 2 and "nope" in missing.stderr
