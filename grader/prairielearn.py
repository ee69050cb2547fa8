"""Running ravine as a PrairieLearn external grader (``ravine prairielearn``).

PrairieLearn's grader host starts the question's image with this layout
(see PrairieLearn's ``docs/externalGrading.md``)::

    /grade/student/...        the files the student submitted
    /grade/tests/...          the question's tests/ folder: ravine-prairielearn.json (settings)
    /grade/data/data.json     the question's data dict (not needed here)
    /grade/results/           created by us; results.json is the only output that counts

``grade_prairielearn(root, config)`` grades the one submitted file with the
same checks as ``ravine grade`` (public ones, plus the hidden ones drawn from
the settings' seed) and writes ``results.json`` in PrairieLearn's format:
``score`` is ravine's points divided by the maximum (0..1), and each check is
one test with ``name``, ``description``, ``points``, ``max_points``,
``message`` and ``output``.  A missing submission is reported as not
gradable (the student keeps the attempt).  The settings hold the seed of the
hidden checks, so they live in the question's ``tests/`` folder, which is
part of the (private) course repository and never shown to students.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

from .results import SubmissionResult, TestResult

__all__ = ["SETTINGS_NAME", "grade_prairielearn", "to_prairielearn", "MAX_RESULTS_BYTES"]

SETTINGS_NAME = "ravine-prairielearn.json"
# The grader host refuses a results.json larger than 1 MiB: outputs are cut to stay well below.
MAX_RESULTS_BYTES = 1024 * 1024
_MAX_TEST_OUTPUT = 4000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} characters cut)"


def _test(t: TestResult) -> dict[str, Any]:
    return {
        "name": t.name,
        "description": f"{t.part} ({t.status})",
        "points": round(float(t.score), 6),
        "max_points": round(float(t.max_score), 6),
        "message": _cut(t.output, _MAX_TEST_OUTPUT),
        "output": "",
    }


def to_prairielearn(result: SubmissionResult) -> dict[str, Any]:
    """PrairieLearn's results.json for one graded submission (score = points / max points)."""
    score = result.score / result.max_score if result.max_score > 0 else 0.0
    messages = list(result.messages)
    summary = f"ravine: {result.score:g} of {result.max_score:g} points."
    return {
        "gradable": True,
        "score": min(max(round(score, 6), 0.0), 1.0),
        "message": "\n".join([summary, *messages]),
        # Not what the student's code printed: that includes the hidden checks' run, where a print
        # of the arguments would show the hidden inputs (Gradescope's results hide it likewise).
        "output": "",
        "tests": [_test(t) for t in result.tests],
        "ravine": {"points": result.score, "max_points": result.max_score,
                   **({"isolation": dict(result.isolation)} if result.isolation else {})},
    }


def grade_prairielearn(root: Path, config: dict[str, Any]) -> tuple[dict[str, Any], SubmissionResult | None]:
    """Grade ``root/student`` and write ``root/results/results.json``; returns (results, result).

    Always writes a results.json, even when the grader itself fails, so the
    student sees a message instead of a failed job.
    """
    from .engine import build_checks, grade_submission, preload
    from .gradescope import find_submission
    from .report import atomic_write
    from .sandbox import Limits

    result: SubmissionResult | None = None
    try:
        path = find_submission(root / "student", config.get("file"))
        preload(symbolic=path.suffix == ".ipynb")  # every grader module before the student's code runs
        limits = Limits(function_timeout=float(config.get("timeout", Limits().function_timeout)),
                        isolation=str(config.get("isolation", "auto")))
        result = grade_submission(path, build_checks(seed=int(config["seed"])), limits=limits)
        data = to_prairielearn(result)
    except FileNotFoundError as exc:
        data = {"gradable": False, "format_errors": [f"Not graded: {exc}."],
                "message": f"Not graded: {exc}."}
    except Exception:  # the grader's own failure: no traceback for the student
        print(traceback.format_exc(limit=5))  # the job's log, seen by course staff
        data = {"gradable": False, "format_errors": ["The autograder failed on this submission; "
                                                     "your instructor can see the details."],
                "message": "The autograder failed on this submission."}
    text = json.dumps(data, indent=2) + "\n"
    if len(text.encode("utf-8")) > MAX_RESULTS_BYTES // 2:  # belt and braces: never hit the host's limit
        for t in data.get("tests", []):
            t["message"] = _cut(t["message"], 500)
        data["output"] = _cut(str(data.get("output", "")), 2000)
        text = json.dumps(data, indent=2) + "\n"
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    atomic_write(results / "results.json", text)
    return data, result
