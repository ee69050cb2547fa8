"""Hostile submissions through the whole grader: per-function scores and diagnosis ids.

Each row: fixture -> {function: (score, diagnosis id or "" for a pass)}; a function the
fixture does not define scores 0 with "contract" (missing function).  The run-level
statuses are tested in test_sandbox_*.py; here the question is what the gradebook says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.engine import build_checks, grade_submission
from grader.sandbox import Limits

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
LIMITS = Limits(function_timeout=1.5, load_timeout=3.0)
F = ("sgd_step", "momentum_step", "nesterov_step", "largest_stable_lr", "effective_lr",
     "classify_critical_point")
MISSING = (0.0, "contract")


def row(**given):
    out = {f: MISSING for f in F}
    out.update(given)
    return out


OK_SGD = (12.0, "")
OK_EFF = (4.0, "")
TABLE = {
    "loop_at_import": {f: (0.0, "timeout") for f in F},
    "loop_in_function": row(sgd_step=OK_SGD, momentum_step=(0.0, "timeout"), effective_lr=OK_EFF),
    "memory_hog": row(sgd_step=OK_SGD, momentum_step=(0.0, "memory"), effective_lr=OK_EFF),
    "exit_at_import": row(sgd_step=OK_SGD),
    "os_exit_in_function": row(sgd_step=OK_SGD, momentum_step=(0.0, "crash"), effective_lr=OK_EFF),
    "segfault_in_function": row(sgd_step=OK_SGD, nesterov_step=(0.0, "crash"), effective_lr=OK_EFF),
    "output_flood": row(sgd_step=OK_SGD),
    "monkeypatch_numpy": row(sgd_step=(0.0, "wrong-trajectory"), momentum_step=(0.0, "non-finite")),
    "imports_solvers": row(sgd_step=OK_SGD, momentum_step=(0.0, "forbidden"), nesterov_step=(0.0, "forbidden")),
    "imports_at_load": {f: (0.0, "forbidden") for f in F},
    "channel_interference": row(sgd_step=OK_SGD, momentum_step=(0.0, "crash"), effective_lr=OK_EFF),
    "spawns_sleeper": row(sgd_step=OK_SGD),
    "exploding": row(sgd_step=(0.0, "non-finite")),
}


@pytest.fixture(scope="module")
def checks():
    cs = build_checks(seed=11)
    for c in cs:
        c.prepare()
    return cs


@pytest.mark.parametrize("name", sorted(TABLE))
def test_hostile_submission_costs_only_its_own_points(checks, name):
    result = grade_submission(HOSTILE / f"{name}.py", checks, limits=LIMITS)
    got = {}
    for part, (score, _) in result.by_part().items():
        tags = sorted({d for t in result.tests if t.part == part for d in t.diagnoses})
        got[part] = (score, ",".join(tags))
    assert got == TABLE[name]


def test_a_hostile_neighbour_does_not_change_a_correct_grade(checks, tmp_path):
    """Grading a correct file right after each hostile one gives the same full score."""
    correct = HOSTILE / "correct.py"
    baseline = grade_submission(correct, checks, limits=LIMITS).score
    assert baseline == 51
    for name in ("monkeypatch_numpy", "channel_interference", "spawns_sleeper", "output_flood"):
        grade_submission(HOSTILE / f"{name}.py", checks, limits=LIMITS)
        assert grade_submission(correct, checks, limits=LIMITS).score == baseline
