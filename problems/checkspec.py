"""Declarative building blocks of an implementation exercise (the update-rule checks).

These are frozen data: the grader (``grader.checks``) knows how to run and
score each *kind* of check; the exercises (``problems.update_rules``) only
fill in numbers, reference names, mistakes and messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

__all__ = [
    "Tolerance",
    "Mistake",
    "TrajectoryCheck",
    "ValueCheck",
    "CheckSpec",
    "FunctionExercise",
]


@dataclass(frozen=True)
class Tolerance:
    """Elementwise pass criterion |got - expected| <= atol + rtol * |expected|.

    For trajectories ``atol`` is *relative to the trajectory's scale*
    (max |x_t| over the reference run), so one tolerance serves a 1-D toy and a
    1000-dimensional quadratic alike.
    """

    rtol: float
    atol: float


@dataclass(frozen=True)
class Mistake:
    """A recognisable wrong answer: an id, how to reproduce it, credit and a message.

    Trajectory mistakes name a rule variant of ``solvers.rules.VARIANTS``;
    value mistakes carry a function computing the wrong value from the
    check's arguments.
    """

    id: str
    message: str
    credit: float = 0.0  # fraction of the check's points
    variant: str | None = None
    value: Callable[..., Any] | None = None


@dataclass(frozen=True)
class TrajectoryCheck:
    name: str
    function: str
    points: float
    objective: dict[str, Any]
    x0: tuple[float, ...]
    lr: float
    beta: float
    steps: int
    reference: str  # rule variant giving the expected positions
    mistakes: tuple[Mistake, ...]
    tolerance: Tolerance
    hidden: bool = False
    dtype: Literal["float64", "float32"] = "float64"
    description: str = ""  # what the check does, in words (shown for public checks)


@dataclass(frozen=True)
class ValueCheck:
    name: str
    function: str
    points: float
    args: tuple[Any, ...]  # JSON-able; {"matrix": [[...]]} becomes an ndarray in the child
    expected: Any  # float or label computed from the reference solver
    compare: Literal["float", "label"]
    mistakes: tuple[Mistake, ...]
    tolerance: Tolerance = Tolerance(rtol=1e-6, atol=1e-12)
    hidden: bool = False
    description: str = ""


CheckSpec = TrajectoryCheck | ValueCheck


@dataclass(frozen=True)
class FunctionExercise:
    """One function of the student contract, with its public and hidden checks."""

    id: str
    function: str
    signature: str
    title: str
    statement: str
    points: float
    public: tuple[CheckSpec, ...]
    hidden: Callable[[int], tuple[CheckSpec, ...]]  # seed -> hidden checks
    hint: str = ""
    # The diagnoses the hint answers: it is shown only when a failed check has one of them
    # (not after a timeout, a contract error or a named mistake whose message says more).
    hint_for: tuple[str, ...] = ("wrong-trajectory", "wrong-value")
    tags: tuple[str, ...] = field(default_factory=tuple)

    def checks(self, *, seed: int | None) -> tuple[CheckSpec, ...]:
        """Public checks, plus the hidden ones drawn from ``seed`` (None: public only)."""
        if seed is None:
            return self.public
        return self.public + self.hidden(seed)
