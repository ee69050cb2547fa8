"""The one registry of exercises, keyed by stable id."""

from __future__ import annotations

from fractions import Fraction
from types import MappingProxyType
from typing import Mapping

from .bank import ALL_PROBLEMS
from .spec import Part, Problem
from .variants import draw_params

__all__ = ["PROBLEMS", "get", "part", "parts", "default_params"]

PROBLEMS: Mapping[str, Problem] = MappingProxyType({p.id: p for p in ALL_PROBLEMS})
_PARTS: dict[str, Part] = {pt.id: pt for p in ALL_PROBLEMS for pt in p.parts}
assert len(PROBLEMS) == len(ALL_PROBLEMS), "duplicate problem ids"


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


def parts(*, kind: str | None = None) -> list[Part]:
    return [p for p in _PARTS.values() if kind is None or p.kind == kind]


def default_params(p: Part | Problem) -> dict[str, Fraction]:
    """The generic (first-choice) parameters of a problem or of a part's problem."""
    problem = get(p.problem_id) if isinstance(p, Part) else p
    return draw_params(problem, None)
