"""Declarative building blocks of an implementation exercise (the update-rule checks).

These are frozen data: the grader (``grader.checks``) knows how to run and
score each *kind* of check; the exercises (``problems.update_rules``) only
fill in numbers, reference names, mistakes and messages.  ``Mistake`` and
``Tolerance`` are the ones answer parts use (``problems.spec``): a trajectory
mistake's matcher names a rule variant of ``solvers.rules.VARIANTS``, a value
mistake's matcher computes the wrong value from the check's arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from solvers.numeric import SIGNATURES as HELPER_SIGNATURES
from solvers.rollout import STUDENT_SIGNATURES

from .spec import Mistake, Tolerance

__all__ = [
    "Tolerance",
    "Mistake",
    "TrajectoryCheck",
    "ValueCheck",
    "CheckSpec",
    "FunctionExercise",
]


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

    @property
    def signature(self) -> str:
        """The published signature (stated once, in ``solvers``: the rules' and the helpers')."""
        return {**STUDENT_SIGNATURES, **HELPER_SIGNATURES}[self.function]

    def checks(self, *, seed: int | None) -> tuple[CheckSpec, ...]:
        """Public checks, plus the hidden ones drawn from ``seed`` (None: public only)."""
        if seed is None:
            return self.public
        return self.public + self.hidden(seed)
