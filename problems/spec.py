"""The shape of an exercise: frozen, declarative specs (no behaviour beyond small helpers).

A :class:`Problem` has an id, a title, a Markdown+LaTeX statement, optional
per-student parameters and a tuple of :class:`Part`.  Each part has an answer
kind:

* ``implementation``: a student function; the part's payload ``exercise`` (a
  :class:`problems.checkspec.FunctionExercise`) holds its checks, mistakes and
  points, and ``function`` is the exercise's function.  The grader's
  implementation checks grade it.
* ``symbolic``: a formula (or a condition, or an equation) in the part's
  symbols; ``reference`` is its formula text.  Symbolic, numeric and derivation
  parts say in ``derived`` how their reference follows from the derivations'
  results (:mod:`problems.references`); ``reference`` is then the generated text
  committed in ``problems/_references.py``.
* ``numeric``: a number; ``reference`` is a formula in the problem's
  parameters, the answer may be any numeric formula (``2/120``) and is
  accepted within ``rtol``/``atol``.
* ``choice``: multiple choice; ``reference`` is the key of the right choice.
* ``text``: free text, graded by the instructor; ``reference`` is the model
  answer shown after grading.
* ``derivation``: a list of steps (see ``grader.derivcheck``); ``reference``
  is the target, ``given`` the starting point.

Statements, prompts and references may hold ``{{name}}`` placeholders for the
problem's parameters (drawn per student, see :mod:`problems.variants`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Union

from ._references import REFERENCES

if TYPE_CHECKING:
    from .checkspec import FunctionExercise

__all__ = ["Kind", "Sym", "Tolerance", "Mistake", "Award", "award", "Choice", "Param", "Part",
           "Problem", "KINDS"]

Kind = Literal["implementation", "symbolic", "numeric", "choice", "text", "derivation"]
KINDS = ("implementation", "symbolic", "numeric", "choice", "text", "derivation")


@dataclass(frozen=True)
class Sym:
    """A symbol a part's answers may use (plain data; the grader builds its symbol table).

    ``kind``: ``positive``, ``nonnegative``, ``real`` or ``integer`` (positive
    integer); ``lo``/``hi``: the range numeric checks sample (exact decimal strings).
    """

    name: str
    aliases: tuple[str, ...] = ()
    kind: str = "positive"
    lo: str = "0.1"
    hi: str = "5"
    latex: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("positive", "nonnegative", "real", "integer"):
            raise ValueError(f"symbol {self.name}: unknown kind {self.kind!r}")
        if not Fraction(self.lo) < Fraction(self.hi):
            raise ValueError(f"symbol {self.name}: empty range")


@dataclass(frozen=True)
class Tolerance:
    """Pass criterion |got - want| <= atol * scale + rtol * |want| (elementwise on arrays).

    ``scale`` is 1 for numbers; trajectories pass the scale of the reference run
    (max |x_t|), so one tolerance serves a 1-D toy and a 1000-dimensional quadratic alike.
    """

    rtol: float
    atol: float

    def bound(self, want: Any, scale: float = 1.0) -> Any:
        return self.atol * scale + self.rtol * abs(want)

    def accepts(self, got: float, want: float, scale: float = 1.0) -> bool:
        return bool(abs(got - want) <= self.bound(want, scale))


# What recognises a mistake: a formula text or choice key (answer parts; ``{{name}}``
# placeholders allowed), the name of a rule variant of ``solvers.rules.VARIANTS``
# (trajectory checks), or a function of a value check's arguments returning the wrong
# value (or a set of wrong values).
Matcher = Union[str, Callable[..., Any]]


@dataclass(frozen=True)
class Mistake:
    """A recognisable wrong answer, for implementation checks and answer parts alike.

    ``id`` names it in feedback and tags, ``message`` explains it to the student,
    ``credit`` is the fraction of the points it still earns, ``matcher`` recognises it
    (see ``Matcher``).  How a matcher is compared is the grader's business
    (``grader.checks`` for checks, ``grader.answer_grading`` for parts).
    """

    id: str
    message: str
    credit: float = 0.0
    matcher: Matcher = ""

    def __post_init__(self) -> None:
        if self.matcher == "":
            raise ValueError(f"mistake {self.id}: no matcher")


@dataclass(frozen=True)
class Award:
    """A recognised mistake and the points it earns."""

    mistake: Mistake
    score: float

    @property
    def status(self) -> str:
        return "partial" if self.score else "failed"


def award(mistakes: Iterable[Mistake], points: float, matches: Callable[[Mistake], bool]) -> Award | None:
    """The first of ``mistakes`` that ``matches`` the answer, with credit x points; None if none does."""
    for m in mistakes:
        if matches(m):
            return Award(m, m.credit * points)
    return None


@dataclass(frozen=True)
class Choice:
    key: str
    text: str
    feedback: str = ""


@dataclass(frozen=True)
class Param:
    """Parameters drawn together: ``names`` and a tuple of value tuples (exact decimal strings)."""

    names: tuple[str, ...]
    choices: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        for c in self.choices:
            if len(c) != len(self.names):
                raise ValueError(f"param {self.names}: choice {c} has the wrong length")
            for v in c:
                Fraction(v)  # raises on a non-number


@dataclass(frozen=True)
class Part:
    id: str  # "P1.a": problem id, a dot, the part's letter or name
    kind: Kind
    points: float
    prompt: str
    reference: str = ""
    symbols: tuple[Sym, ...] = ()
    constraints: tuple[str, ...] = ()
    designated: str | None = None
    mistakes: tuple[Mistake, ...] = ()
    choices: tuple[Choice, ...] = ()
    function: str = ""  # implementation parts: the student function's name (from the exercise)
    exercise: FunctionExercise | None = None  # implementation parts: checks, mistakes, points
    derived: str = ""  # recipe of the reference from the derivations' results (problems.references)
    rtol: float = 2e-3
    atol: float = 0.0
    given: str = ""  # derivation parts: the starting equation
    min_steps: int = 1  # derivation parts: fewer steps get no credit (show the work)
    explanation: str = ""  # shown with the feedback after grading

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.id}: unknown kind {self.kind!r}")
        if self.derived:
            # Generated from the derivations (empty until problems/_references.py is rewritten;
            # tests/test_problem_bank.py says so).
            generated = REFERENCES.get(self.derived, "")
            if self.reference not in ("", generated):
                raise ValueError(f"{self.id}: the reference of a derived part is generated, not written")
            object.__setattr__(self, "reference", generated)
        if self.points < 0:
            raise ValueError(f"{self.id}: negative points")
        if self.kind == "implementation":
            if self.exercise is None:
                raise ValueError(f"{self.id}: an implementation part names its function through its exercise")
            if self.function not in ("", self.exercise.function):
                raise ValueError(f"{self.id}: function {self.function!r} is not its exercise's "
                                 f"{self.exercise.function!r}")
            if self.points != self.exercise.points:
                raise ValueError(f"{self.id}: {self.points:g} points, its exercise has {self.exercise.points:g}")
            object.__setattr__(self, "function", self.exercise.function)
        elif self.exercise is not None:
            raise ValueError(f"{self.id}: only implementation parts carry an exercise")
        if self.kind == "choice" and (self.reference or not self.derived):  # not yet generated: the test says so
            keys = [c.key for c in self.choices]
            if self.reference not in keys or len(set(keys)) != len(keys):
                raise ValueError(f"{self.id}: reference {self.reference!r} must be one of {keys}")
        for m in self.mistakes:
            if not 0 <= m.credit < 1:
                raise ValueError(f"{self.id}: mistake {m.id} credit must be in [0, 1)")

    def table_data(self) -> dict[str, object]:
        """The symbol table as plain data (``grader.formula.SymbolTable.from_dict`` reads it)."""
        return {
            "symbols": [{"name": s.name, "aliases": list(s.aliases), "kind": s.kind,
                         "lo": s.lo, "hi": s.hi, "latex": s.latex} for s in self.symbols],
            "constraints": list(self.constraints),
            "designated": self.designated,
            "open": False,
        }

    @property
    def tolerance(self) -> Tolerance:
        """Numeric parts: how close an answer (or an anticipated mistake) must be."""
        return Tolerance(rtol=self.rtol, atol=self.atol)

    @property
    def problem_id(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def graded_by_answers(self) -> bool:
        """True for parts graded from answer cells (everything but implementations)."""
        return self.kind != "implementation"


@dataclass(frozen=True)
class Problem:
    id: str
    title: str
    statement: str
    parts: tuple[Part, ...]
    params: tuple[Param, ...] = ()

    def __post_init__(self) -> None:
        ids = [p.id for p in self.parts]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.id}: duplicate part ids")
        for p in self.parts:
            if p.problem_id != self.id:
                raise ValueError(f"part {p.id} does not belong to problem {self.id}")

    @property
    def points(self) -> float:
        return sum(p.points for p in self.parts)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(n for p in self.params for n in p.names)
