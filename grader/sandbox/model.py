"""The sandbox's values: limits, tasks, outcomes, reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from solvers import numeric
from solvers.rollout import STUDENT_SIGNATURES

from .protocol import Status

# Every published contract function and its signature text (for "missing"/"contract" messages).
SIGNATURES: dict[str, str] = {**STUDENT_SIGNATURES, **numeric.SIGNATURES}

ISOLATION_MODES = ("auto", "namespaces", "uid", "process")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one child process (and of each function run in it)."""

    function_timeout: float = 5.0  # wall-clock seconds for ALL tasks of one student function together
    load_timeout: float = 20.0  # executing the module / notebook cells, all together: the hard stop
    cell_timeout: float = 5.0  # one notebook cell (or a .py's top level): stopped, later cells run
    memory_bytes: int = 2 << 30  # RLIMIT_AS of the child
    file_size_bytes: int = 8 << 20  # RLIMIT_FSIZE
    output_bytes: int = 32 << 10  # stdout/stderr kept (each); the rest is drained and dropped
    boot_timeout: float = 30.0  # interpreter + numpy start, before any student code runs
    max_spawns: int = 0  # 0: number of functions + 2
    tmp_bytes: int = 64 << 20  # size of the private /tmp (namespaces mode)
    max_processes: int = 8  # RLIMIT_NPROC of the child (namespaces and uid modes)
    isolation: str = "auto"  # auto | namespaces | uid | process (see grader/sandbox/process.py)

    def __post_init__(self) -> None:
        for name in ("function_timeout", "load_timeout", "cell_timeout", "boot_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"Limits.{name} must be a positive number of seconds, got {value!r}")
        for name in ("memory_bytes", "file_size_bytes", "output_bytes", "tmp_bytes", "max_processes"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.max_spawns, int) and self.max_spawns >= 0):
            raise ValueError(f"Limits.max_spawns must be an integer >= 0, got {self.max_spawns!r}")
        if self.isolation not in ISOLATION_MODES:
            raise ValueError(f"Limits.isolation must be one of {', '.join(ISOLATION_MODES)}, "
                             f"got {self.isolation!r}")


@dataclass(frozen=True)
class Task:
    """One call into student code.

    kind "trajectory": payload {"objective": spec, "x0": [...], "lr": float, "beta": float,
    "steps": int, "dtype": "float64" | "float32" (optional)}; the child runs
    solvers/rollout.py's ``rollout`` over ``student_rule(function, ...)``.
    kind "call": payload {"args": [...]}: a value {"matrix": [[...]]} becomes a float64
    array, {"objective": spec} the objective's dense Hessian; numbers stay numbers.
    The kinds are one table: ``grader.sandbox.tasks.TASK_KINDS``.
    """

    id: str
    function: str
    kind: str
    payload: dict


@dataclass(frozen=True)
class Forbidden:
    """An import of the grader's own packages: ``module`` as imported, ``where`` the function
    that ran ("" = at load).  Formatted once, where it becomes a message (``grader.engine``)."""

    module: str
    where: str = ""

    @property
    def package(self) -> str:
        return self.module.split(".", 1)[0]

    def describe(self) -> str:
        return f"{self.module} ({'at load' if self.where == '' else f'during {self.where}'})"


@dataclass
class Outcome:
    """What happened to one task (pytest's CallInfo idea): decoded straight from the child's
    result message (``tasks.TASK_KINDS[kind].decode``) or set by the grader."""

    task_id: str
    status: Status
    value: Any = None
    message: str = ""
    step: int | None = None
    partial: Any = None
    seconds: float = 0.0


@dataclass
class RunReport:
    outcomes: dict[str, Outcome]
    load_messages: list[str]
    defined: list[str]
    stdout: str
    stderr: str
    forbidden: list[Forbidden]  # distinct runtime attempts, in order
    spawns: int
    seconds: float = 0.0  # wall clock of the whole run (all children)
    isolation: dict[str, Any] = field(default_factory=dict)  # {"mode", "bwrap_version"}
