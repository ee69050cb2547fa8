"""The one registry of exercises, keyed by stable id.

Problems by id (``PROBLEMS``), their parts by part id (``part``), and the
implementation exercises by function name (``EXERCISES``, ``exercise``): those
are the payload of the UR problem's implementation parts, so the engine's
checks and the answer grading read the same registry.
"""

from __future__ import annotations

from fractions import Fraction
from types import MappingProxyType
from typing import Mapping

from .bank import ALL_PROBLEMS
from .checkspec import FunctionExercise
from .spec import Part, Problem
from .variants import draw_params

__all__ = ["PROBLEMS", "EXERCISES", "FUNCTIONS", "get", "part", "parts", "exercise", "default_params"]

PROBLEMS: Mapping[str, Problem] = MappingProxyType({p.id: p for p in ALL_PROBLEMS})
_PARTS: dict[str, Part] = {pt.id: pt for p in ALL_PROBLEMS for pt in p.parts}
assert len(PROBLEMS) == len(ALL_PROBLEMS), "duplicate problem ids"
# Function name -> exercise, in contract order: the payloads of the implementation parts.
EXERCISES: Mapping[str, FunctionExercise] = MappingProxyType(
    {pt.function: pt.exercise for pt in _PARTS.values() if pt.exercise is not None})
FUNCTIONS: tuple[str, ...] = tuple(EXERCISES)


def get(problem_id: str) -> Problem:
    """The problem with this id; KeyError names the known ids."""
    try:
        return PROBLEMS[problem_id]
    except KeyError:
        raise KeyError(f"no problem {problem_id!r}; known: {', '.join(PROBLEMS)}") from None


def part(part_id: str) -> Part:
    """The part with this id (e.g. ``"P1.a"``); KeyError names the problem's parts."""
    if part_id in _PARTS:
        return _PARTS[part_id]
    pid = part_id.split(".", 1)[0]
    known = [p.id for p in PROBLEMS[pid].parts] if pid in PROBLEMS else list(_PARTS)
    raise KeyError(f"no problem part {part_id!r}; known: {', '.join(known)}")


def exercise(function: str) -> FunctionExercise:
    """The implementation exercise of a contract function; KeyError names the functions."""
    try:
        return EXERCISES[function]
    except KeyError:
        raise KeyError(f"no exercise for function {function!r}; known: {', '.join(FUNCTIONS)}") from None


def parts(*, kind: str | None = None) -> list[Part]:
    return [p for p in _PARTS.values() if kind is None or p.kind == kind]


def default_params(p: Part | Problem) -> dict[str, Fraction]:
    """The generic (first-choice) parameters of a problem or of a part's problem."""
    problem = get(p.problem_id) if isinstance(p, Part) else p
    return draw_params(problem, None)
