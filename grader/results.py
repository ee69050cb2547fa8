"""Results as dataclasses; every output format renders ``to_dict()``.

The dict of a ``SubmissionResult`` *is* Gradescope's results.json schema
(top-level ``score``, ``tests``, ``output``; each test ``name``, ``score``,
``max_score``, ``output``, ``visibility``, ``tags``) plus a few extra keys that
Gradescope ignores (``status``, ``part``) and the renderers use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["TestResult", "SubmissionResult", "Visibility", "Status"]

Visibility = Literal["visible", "hidden", "after_due_date", "after_published"]
Status = Literal["passed", "failed", "partial", "pending", "error"]


def _round(x: float) -> float:
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
    tags: list[str] = field(default_factory=list)
    status: Status = "failed"

    def __post_init__(self) -> None:
        if self.max_score < 0:
            raise ValueError(f"{self.name}: max_score must be >= 0, got {self.max_score}")
        # A score is never negative nor above its maximum, whatever a check computed.
        self.score = min(max(float(self.score), 0.0), float(self.max_score))

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": _round(self.score),
            "max_score": _round(self.max_score),
            "output": self.output,
            "visibility": self.visibility,
            "tags": list(self.tags),
            "status": self.status,
            "part": self.part,
        }


@dataclass
class SubmissionResult:
    """All tests of one submission, plus messages about the submission as a whole."""

    submission: str  # display name: the file name without extension
    tests: list[TestResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # load errors, notebook cell errors, ...
    stdout: str = ""  # what the student's code printed (truncated), for the instructor
    seconds: float = 0.0  # wall clock of the whole grading, for the instructor's progress line
    # Wall clock without the hidden checks' run: the only timing a student-visible file reports
    # (see to_dict).  None: no hidden run, ``seconds`` is used.
    visible_seconds: float | None = None
    # More keys for results.json's extra_data (``ravine grade`` stores its batch id and the
    # submission file's hash there, so that ``--resume`` knows what it may skip).
    extra: dict[str, Any] = field(default_factory=dict)
    isolation: dict[str, Any] = field(default_factory=dict)  # the sandbox that ran it: mode, bwrap version

    @property
    def score(self) -> float:
        return _round(sum(t.score for t in self.tests))

    @property
    def max_score(self) -> float:
        return _round(sum(t.max_score for t in self.tests))

    def by_part(self) -> dict[str, tuple[float, float]]:
        """Score and max score per part (function or problem part), in first-seen order."""
        out: dict[str, tuple[float, float]] = {}
        for t in self.tests:
            s, m = out.get(t.part, (0.0, 0.0))
            out[t.part] = (s + t.score, m + t.max_score)
        return {k: (_round(s), _round(m)) for k, (s, m) in out.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            # Whole seconds, and without the hidden run: a hidden child controls its own duration
            # (a sleep of lr*k seconds carried ~7 bits of a hidden input into this field, which
            # Gradescope shows the student).  The public run cannot know hidden inputs, and
            # whole seconds leave little room for a neighbour's CPU load to signal through it.
            "execution_time": int(round(self.seconds if self.visible_seconds is None
                                        else self.visible_seconds)),
            "output": "\n".join(self.messages),
            "tests": [t.to_dict() for t in self.tests],
            "extra_data": {"submission": self.submission, "max_score": self.max_score, **self.extra,
                           **({"isolation": dict(self.isolation)} if self.isolation else {}),
                           # "output" joins the messages with newlines; kept apart only when
                           # that is not reversible
                           **({"messages": list(self.messages)} if any("\n" in m for m in self.messages)
                              else {})},
        }

    @classmethod
    def from_dict(cls, data: Any) -> "SubmissionResult":
        """The result ``to_dict`` wrote (results.json); ValueError/TypeError/KeyError if it is not one.

        ``from_dict(to_dict(r))`` has the scores as written (6 decimals): a gradebook made from it is
        the same whether the results came from memory or from disk.
        """
        if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
            raise ValueError("not a results.json")
        extra = dict(data.get("extra_data") or {})
        output = data.get("output", "")
        if not isinstance(output, str):
            raise ValueError("output is not text")
        messages = extra.pop("messages", None)
        if not (isinstance(messages, list) and all(isinstance(m, str) for m in messages)):
            messages = output.split("\n") if output else []
        submission = extra.pop("submission")
        extra.pop("max_score", None)
        isolation = extra.pop("isolation", None)
        tests = []
        for t in data["tests"]:
            tests.append(TestResult(name=str(t["name"]), part=str(t["part"]), max_score=float(t["max_score"]),
                                    score=float(t["score"]), output=str(t.get("output", "")),
                                    visibility=t.get("visibility", "visible"), tags=list(t.get("tags", [])),
                                    status=t.get("status", "failed")))
        return cls(str(submission), tests, messages, seconds=float(data.get("execution_time", 0) or 0),
                   extra=extra, isolation=dict(isolation) if isinstance(isolation, dict) else {})
