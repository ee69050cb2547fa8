"""The exercises: declarative specs in one registry keyed by id.

``PROBLEMS`` maps id -> :class:`problems.spec.Problem`; ``get(id)`` and
``part(part_id)`` look them up; ``exercise(function)`` gives an implementation
part's exercise (``EXERCISES`` maps function -> exercise).  Imports nothing of the grader.
"""

from .exercise_registry import EXERCISES, FUNCTIONS, PROBLEMS, default_params, exercise, get, part, parts

__all__ = ["PROBLEMS", "EXERCISES", "FUNCTIONS", "get", "part", "parts", "exercise", "default_params"]
