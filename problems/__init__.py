"""The exercises: declarative specs in one registry keyed by id.

``PROBLEMS`` maps id -> :class:`problems.spec.Problem`; ``get(id)`` and
``part(part_id)`` look them up.  Imports nothing of the grader.
"""

from .registry import PROBLEMS, default_params, get, part, parts

__all__ = ["PROBLEMS", "get", "part", "parts", "default_params"]
