"""The channel between the sandboxed child and the grader: ONE table, loaded by both sides.

A LEAF (stdlib only): the grader imports it as ``grader.sandbox.protocol``; the child
(``grader/_child.py``) loads a private copy of this file by path, next to itself.  The
child builds every message with :func:`message`, which refuses a field the table does not
list; the grader validates every line it reads against the same table
(``grader.sandbox.supervisor``), so the two sides cannot drift apart.

Messages are JSON objects, one per line, child -> grader::

    {"type": "ready"}                                    interpreter, numpy, leaf files up
    {"type": "cell", "label": str}                       a cell (or the .py) is about to run
    {"type": "load_message", "text": str}                a cell raised / was skipped / was stopped
    {"type": "forbidden", "module": str}                 a blocked import (sent at once)
    {"type": "loaded", "defined": [str, ...]}            cells done; callable contract names
    {"type": "start", "task": id}                        a task is about to run
    {"type": "result", "task": id, "kind": K, "seconds": float, ...K's fields}
                                                         K: "value" / "trajectory" (the task ran),
                                                         else the Status that ended it
    {"type": "done"}                                     all tasks reported

Position arrays travel as base64 of little-endian float64 bytes (row-major; the shape is
the task's (steps+1, d) or (step, d)): data that cannot execute.

A field's *check* names how the grader validates it; the scalar checks are defined here
(stdlib), the ones that need the task (shapes, ids) in the supervisor.
"""

import enum
import math
import re


class Status(enum.StrEnum):
    """What happened to one task: THE status vocabulary of the grading path.

    The child sends the statuses it can see itself as result kinds (missing, contract,
    exception, non-finite); the grader adds the ones only it can see (timeout, memory, crash,
    forbidden); ``Outcome.status``, the failure table, the checks' diagnoses and the renderers
    use the same values.
    """

    OK = "ok"
    MISSING = "missing"  # the function is not defined (or not callable)
    CONTRACT = "contract"  # wrong signature or return shape
    EXCEPTION = "exception"
    NON_FINITE = "non-finite"  # NaN or inf in a position or a returned number
    MEMORY = "memory"
    TIMEOUT = "timeout"
    CRASH = "crash"  # the process died, or the channel was interfered with
    FORBIDDEN = "forbidden"  # imported the grader's own packages


# message type -> {field: check}
MESSAGES = {
    "ready": {},
    "cell": {"label": "text"},
    "load_message": {"text": "text"},
    "forbidden": {"module": "module"},
    "loaded": {"defined": "names"},
    "start": {"task": "task"},
    "result": {"task": "task", "kind": "result_kind", "seconds": "seconds"},
    "done": {},
}

# result kind -> (task kinds it may answer, {extra field: check})
RESULTS = {
    Status.MISSING: (("call", "trajectory"), {}),
    Status.CONTRACT: (("call", "trajectory"), {"message": "text", "step": "opt_int"}),
    Status.EXCEPTION: (("call", "trajectory"), {"exc_type": "ident", "message": "text", "step": "opt_int"}),
    "value": (("call",), {"value": "value"}),
    "trajectory": (("trajectory",), {"positions": "positions"}),
    Status.NON_FINITE: (("trajectory",), {"step": "step", "partial": "partial"}),
}

MAX_TEXT = 8000  # a text field (the child clips to 4000 characters)
MAX_NAME = 200  # an exception type name, a module name
MAX_VALUE_TEXT = 2000  # a returned string
MAX_REPR = 1000  # a repr of a returned object
MAX_INT = 10**300  # larger ints travel as a repr: float() must work on every int

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class ProtocolError(ValueError):
    """A message that does not follow the table."""


def message(type_, /, **fields):
    """A message of type ``type_`` with exactly the table's fields (the child's constructor)."""
    expected = set(MESSAGES[type_])
    if type_ == "result":
        expected |= set(RESULTS[fields.get("kind")][1])
    if set(fields) != expected:
        raise ProtocolError(f"{type_}: fields {sorted(fields)} != {sorted(expected)}")
    return {"type": type_, **fields}


def fields_of(msg):
    """{field: check} of a decoded message, or ProtocolError (unknown type or result kind)."""
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str) or msg["type"] not in MESSAGES:
        raise ProtocolError("unknown message type")
    spec = dict(MESSAGES[msg["type"]])
    if msg["type"] == "result":
        kind = msg.get("kind")
        if not isinstance(kind, str) or kind not in RESULTS:
            raise ProtocolError("unknown result kind")
        spec.update(RESULTS[kind][1])
    if set(msg) != {"type", *spec}:
        raise ProtocolError("unexpected or missing fields")
    return spec


def _require(cond):
    if not cond:
        raise ProtocolError("bad field")


def check_text(value, limit=MAX_TEXT):
    _require(isinstance(value, str) and len(value) <= limit)
    return value


def check_ident(value):
    _require(bool(_IDENT.match(check_text(value, MAX_NAME))))
    return value


def check_module(value):
    _require(bool(_MODULE.match(check_text(value, MAX_NAME))))
    return value


def check_opt_int(value):
    _require(value is None or (isinstance(value, int) and not isinstance(value, bool)))
    return value


def check_seconds(value):
    _require(isinstance(value, float) and math.isfinite(value) and value >= 0.0)
    return value


def check_value(value):
    """A returned value: bool/int/float/str, {"nonfinite": ...} or {"repr", "type"}."""
    if isinstance(value, dict):
        if set(value) == {"nonfinite"}:
            _require(value["nonfinite"] in ("nan", "inf", "-inf"))
        else:
            _require(set(value) == {"repr", "type"})
            check_text(value["repr"], MAX_REPR)
            check_text(value["type"], MAX_NAME)
        return value
    _require(isinstance(value, (bool, int, float, str)))
    if isinstance(value, str):
        check_text(value, MAX_VALUE_TEXT)
    if isinstance(value, int) and not isinstance(value, bool):
        _require(abs(value) < MAX_INT)
    return value


# the checks that need no context; "task", "names", "result_kind", "positions", "partial" and
# "step" need the plan and live in the supervisor
SCALAR_CHECKS = {
    "text": check_text,
    "ident": check_ident,
    "module": check_module,
    "opt_int": check_opt_int,
    "seconds": check_seconds,
    "value": check_value,
}
