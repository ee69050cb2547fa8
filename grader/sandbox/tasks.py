"""The task kinds as ONE table: how a plan's task is validated, which runner of the child runs
it, which results it may come back as, and how a result becomes an :class:`Outcome`.

Adding a kind: a row here, a runner in ``grader/_child.py`` (``RUNNERS``), its result kinds in
``protocol.RESULTS``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from solvers.rollout import STUDENT_SIGNATURES

from .model import SIGNATURES, Limits, Outcome, Task
from .protocol import Status

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _finite_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


@lru_cache(maxsize=256)
def _objective_dim(spec_json: str) -> int:
    from solvers.objectives import build

    return build(json.loads(spec_json)).dim


def size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


# --------------------------------------------------------------------------- validate (grader bugs)


def _validate_trajectory(task: Task) -> None:
    p = task.payload
    if task.function not in STUDENT_SIGNATURES:
        raise ValueError(
            f"task {task.id}: trajectory tasks need one of {sorted(STUDENT_SIGNATURES)}, "
            f"got {task.function!r}"
        )
    for key in ("objective", "x0", "lr", "steps"):
        if key not in p:
            raise ValueError(f"task {task.id}: trajectory payload needs {key!r}")
    x0 = p["x0"]
    if not (isinstance(x0, list) and x0 and all(_finite_number(v) for v in x0)):
        raise ValueError(f"task {task.id}: x0 must be a non-empty list of finite numbers")
    if not _finite_number(p["lr"]) or not _finite_number(p.get("beta", 0.0)):
        raise ValueError(f"task {task.id}: lr and beta must be finite numbers")
    if not (isinstance(p["steps"], int) and not isinstance(p["steps"], bool) and p["steps"] >= 1):
        raise ValueError(f"task {task.id}: steps must be an integer >= 1, got {p['steps']!r}")
    if p.get("dtype", "float64") not in ("float64", "float32"):
        raise ValueError(f"task {task.id}: dtype must be 'float64' or 'float32'")
    if not isinstance(p["objective"], dict):
        raise ValueError(f"task {task.id}: objective must be a spec dict")
    dim = _objective_dim(json.dumps(p["objective"], sort_keys=True))
    if dim != len(x0):
        raise ValueError(f"task {task.id}: x0 has {len(x0)} entries, the objective has d={dim}")


def _validate_call(task: Task) -> None:
    args = task.payload.get("args")
    if not isinstance(args, list):
        raise ValueError(f"task {task.id}: call payload needs 'args', a list")
    for arg in args:
        if _finite_number(arg) or isinstance(arg, str):
            continue
        if isinstance(arg, dict) and set(arg) == {"matrix"}:
            m = arg["matrix"]
            if not (
                isinstance(m, list)
                and m
                and all(isinstance(r, list) and len(r) == len(m[0]) for r in m)
                and all(_finite_number(v) for r in m for v in r)
            ):
                raise ValueError(f"task {task.id}: a matrix must be a rectangular list of numbers")
            continue
        if isinstance(arg, dict) and set(arg) == {"objective"}:
            from solvers.objectives import build

            if build(arg["objective"]).hessian is None:
                raise ValueError(f"task {task.id}: objective {arg['objective']} has no Hessian")
            continue
        raise ValueError(f"task {task.id}: unsupported call argument {arg!r}")


# --------------------------------------------------------------------------- decode (data -> Outcome)


def _decode_common(task: Task, msg: dict, limits: Limits) -> Outcome:
    kind, f, seconds = msg["kind"], task.function, msg["seconds"]
    if kind == Status.MISSING:
        return Outcome(task.id, Status.MISSING, seconds=seconds,
                       message=f"{f} is not defined (or not callable) in the submission; expected "
                               f"{SIGNATURES.get(f, f)}")
    if kind == Status.CONTRACT:
        text = msg["message"]
        return Outcome(task.id, Status.CONTRACT, message=text if f in text else f"{f}: {text}",
                       step=msg["step"], seconds=seconds)
    # exception
    head, _, rest = msg["message"].partition("\n")
    at = f" at step {msg['step']}" if msg["step"] else ""
    if msg["exc_type"] == "MemoryError":
        text = f"{f} ran out of memory{at} (limit {size(limits.memory_bytes)})"
        return Outcome(task.id, Status.MEMORY, message=text + ("\n" + rest if rest else ""),
                       step=msg["step"], seconds=seconds)
    text = f"{f} raised {head}{at}" + ("\n" + rest if rest else "")
    return Outcome(task.id, Status.EXCEPTION, message=text, step=msg["step"], seconds=seconds)


def _decode_call(task: Task, msg: dict, limits: Limits) -> Outcome:
    if msg["kind"] != "value":
        return _decode_common(task, msg, limits)
    value = msg["value"]
    if isinstance(value, dict) and "nonfinite" in value:
        number = float(value["nonfinite"])
        return Outcome(task.id, Status.NON_FINITE, value=number, message=f"{task.function} returned {number}",
                       seconds=msg["seconds"])
    return Outcome(task.id, Status.OK, value=value, seconds=msg["seconds"])


def _decode_trajectory(task: Task, msg: dict, limits: Limits) -> Outcome:
    if msg["kind"] == "trajectory":
        return Outcome(task.id, Status.OK, value=msg["positions"], seconds=msg["seconds"])
    if msg["kind"] != Status.NON_FINITE:
        return _decode_common(task, msg, limits)
    step = msg["step"]
    return Outcome(task.id, Status.NON_FINITE, step=step, partial=msg["partial"], seconds=msg["seconds"],
                   message=f"{task.function}: the position became non-finite (NaN or inf) at step {step}")


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class TaskKind:
    validate: Callable[[Task], None]  # a malformed plan raises ValueError (a grader bug)
    runner: str  # the child's runner (grader/_child.py RUNNERS)
    decode: Callable[[Task, dict, Limits], Outcome]  # a validated result message -> Outcome
    cells: Callable[[Task], int]  # float64 cells its biggest result may carry (line-length cap)


TASK_KINDS: dict[str, TaskKind] = {
    "trajectory": TaskKind(_validate_trajectory, "trajectory", _decode_trajectory,
                           lambda t: (t.payload["steps"] + 1) * len(t.payload["x0"])),
    "call": TaskKind(_validate_call, "call", _decode_call, lambda t: 0),
}


def check_task(task: Task) -> None:
    """Developer errors in a plan raise ValueError (never a student's fault)."""
    if not isinstance(task, Task):
        raise ValueError(f"expected a Task, got {type(task).__name__}")
    if not (isinstance(task.id, str) and task.id):
        raise ValueError(f"Task.id must be a non-empty string, got {task.id!r}")
    if not (isinstance(task.function, str) and _IDENT.match(task.function)):
        raise ValueError(f"task {task.id}: function must be an identifier, got {task.function!r}")
    try:
        json.dumps(task.payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"task {task.id}: payload is not JSON-able with finite numbers ({exc})")
    kind = TASK_KINDS.get(task.kind)
    if kind is None:
        raise ValueError(f"task {task.id}: kind must be {' or '.join(repr(k) for k in TASK_KINDS)}, "
                         f"got {task.kind!r}")
    kind.validate(task)
