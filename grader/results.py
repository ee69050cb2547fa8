"""The graded results: :class:`TestResult` per check or answer part, :class:`SubmissionResult`
per submission.  Every renderer takes a ``SubmissionResult`` (``grader.report``, ``items``,
``feedback``, ``gradescope``, ``prairielearn``).

results.json is Gradescope's format, written and read by ``grader.gradescope``
(``results_json`` / ``from_results_json``): that is the only place where a test's ``group`` and
``diagnoses`` become Gradescope's ``tags`` list and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["TestResult", "SubmissionResult", "Visibility", "Mark", "score_round"]

Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]
# The mark a test earned (not what happened to a run: that is ``grader.sandbox.Status``).
Mark = Literal["passed", "failed", "partial", "pending", "error"]


def score_round(x: float) -> float:
    # Scores are sums of fractions of points; 6 decimals keeps CSVs readable and exact enough.
    return round(float(x) + 0.0, 6)


@dataclass
class TestResult:
    """One graded check (a 'test' in Gradescope's vocabulary)."""

    name: str
    part: str  # the function or problem part this test grades, e.g. "momentum_step" or "P1.a"
    max_score: float
    score: float = 0.0
    output: str = ""
    visibility: Visibility = "visible"
    status: Mark = "failed"
    group: str = ""  # the function of a check, the problem (P1) of an answer part; "" = ``part``
    # Why it did not pass, most specific last: a run status (``Status`` value, "missing" as
    # "contract"), a known mistake's id, "wrong-trajectory", "submission-error", ...
    diagnoses: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.max_score < 0:
            raise ValueError(f"{self.name}: max_score must be >= 0, got {self.max_score}")
        # A score is never negative nor above its maximum, whatever a check computed.
        self.score = min(max(float(self.score), 0.0), float(self.max_score))

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class SubmissionResult:
    """All tests of one submission, plus messages about the submission as a whole."""

    submission: str  # display name: the file name without extension
    tests: list[TestResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # load errors, notebook cell errors, ...
    stdout: str = ""  # what the student's code printed (truncated), for the instructor
    seconds: float = 0.0  # wall clock of the whole grading, for the instructor's progress line
    # Wall clock without the hidden checks' run: the only timing a student-visible file reports
    # (see ``gradescope.results_json``).  None: no hidden run, ``seconds`` is used.
    visible_seconds: float | None = None
    # More keys for results.json's extra_data (``ravine grade`` stores its batch id and the
    # submission file's hash there, so that ``--resume`` knows what it may skip).
    extra: dict[str, Any] = field(default_factory=dict)
    isolation: dict[str, Any] = field(default_factory=dict)  # the sandbox that ran it: mode, bwrap version

    @property
    def score(self) -> float:
        return score_round(sum(t.score for t in self.tests))

    @property
    def max_score(self) -> float:
        return score_round(sum(t.max_score for t in self.tests))

    def by_part(self) -> dict[str, tuple[float, float]]:
        """Score and max score per part (function or problem part), in first-seen order."""
        out: dict[str, tuple[float, float]] = {}
        for t in self.tests:
            s, m = out.get(t.part, (0.0, 0.0))
            out[t.part] = (s + t.score, m + t.max_score)
        return {k: (score_round(s), score_round(m)) for k, (s, m) in out.items()}
