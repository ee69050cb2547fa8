"""Running student code in an isolated child process (parent side).

``run_submission(sub, tasks, limits)`` starts ``grader/_child.py`` as
``sys.executable -I -S -B _child.py FD PLAN`` in its own session (process
group), with a scrubbed environment, a scratch working directory and resource
limits, and turns everything the child does into :class:`Outcome` values -- a
call into foreign code becomes a value, never an exception out of the grader.

The child only *reports data* on a private pipe (newline-delimited JSON, never
pickle); this module validates every message strictly and decides every
status.  Tasks are run function by function; each function has one wall-clock
budget for all its tasks.  A function that hangs or kills the process costs
that function only: the process group is killed and a fresh child re-runs the
module for the remaining functions.

Known limitations (see docs/notes-sandbox.md): the child runs as the grader's
user, so it can read and write whatever that user can; a process that calls
``setsid`` itself escapes the process-group kill.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import selectors
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from grader.submission import FORBIDDEN_PACKAGES, Submission
from solvers.rollout import STUDENT_SIGNATURES

__all__ = [
    "Limits",
    "Task",
    "Outcome",
    "RunReport",
    "STATUSES",
    "SIGNATURES",
    "run_submission",
]

STATUSES = (
    "ok",
    "exception",
    "timeout",
    "memory",
    "crash",
    "contract",
    "non-finite",
    "forbidden",
    "missing",
)

NUMERIC_SIGNATURES: dict[str, str] = {
    "largest_stable_lr": "largest_stable_lr(H) -> float",
    "effective_lr": "effective_lr(lr, beta) -> float",
    "classify_critical_point": "classify_critical_point(H) -> str",
}
# Every published contract function and its signature text (for "missing"/"contract" messages).
SIGNATURES: dict[str, str] = {**STUDENT_SIGNATURES, **NUMERIC_SIGNATURES}

INTERFERENCE = "the submission interfered with the grader's channel"
# Caps on what a child can make the grader keep (a flood of valid messages is interference too).
_MAX_LOAD_MESSAGES = 200  # one per notebook cell at most, normally
_MAX_FORBIDDEN = 50  # distinct (module, function) import attempts
_ROOT = Path(__file__).resolve().parent.parent
_CHILD = Path(__file__).resolve().parent / "_child.py"
_ROLLOUT = _ROOT / "solvers" / "rollout.py"
_OBJECTIVES = _ROOT / "solvers" / "objectives.py"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one child process (and of each function run in it)."""

    function_timeout: float = 5.0  # wall-clock seconds for ALL tasks of one student function together
    load_timeout: float = 10.0  # executing the module / notebook cells
    memory_bytes: int = 2 << 30  # RLIMIT_AS of the child
    file_size_bytes: int = 8 << 20  # RLIMIT_FSIZE
    output_bytes: int = 32 << 10  # stdout/stderr kept (each); the rest is drained and dropped
    boot_timeout: float = 30.0  # interpreter + numpy start, before any student code runs
    max_spawns: int = 0  # 0: number of functions + 2

    def __post_init__(self) -> None:
        for name in ("function_timeout", "load_timeout", "boot_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"Limits.{name} must be a positive number of seconds, got {value!r}")
        for name in ("memory_bytes", "file_size_bytes", "output_bytes"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value > 0):
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.max_spawns, int) and self.max_spawns >= 0):
            raise ValueError(f"Limits.max_spawns must be an integer >= 0, got {self.max_spawns!r}")


@dataclass(frozen=True)
class Task:
    """One call into student code.

    kind "trajectory": payload {"objective": spec, "x0": [...], "lr": float, "beta": float,
    "steps": int, "dtype": "float64" | "float32" (optional)}; the child runs
    solvers/rollout.py's ``rollout`` over ``student_rule(function, ...)``.
    kind "call": payload {"args": [...]}: a value {"matrix": [[...]]} becomes a float64
    array, {"objective": spec} the objective's dense Hessian; numbers stay numbers.
    """

    id: str
    function: str
    kind: str
    payload: dict


@dataclass
class Outcome:
    """What happened to one task (pytest's CallInfo idea)."""

    task_id: str
    status: str
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
    forbidden: list[str]
    spawns: int
    seconds: float = 0.0  # wall clock of the whole run (all children)


# --------------------------------------------------------------------------- validation of tasks


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


def _check_task(task: Task) -> None:
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
    p = task.payload
    if task.kind == "trajectory":
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
    elif task.kind == "call":
        args = p.get("args")
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
    else:
        raise ValueError(f"task {task.id}: kind must be 'trajectory' or 'call', got {task.kind!r}")


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=1)
def _child_sys_path() -> tuple[str, ...]:
    """The child's sys.path: the stdlib and site-packages directories of this interpreter.

    Never the current directory or a source checkout (where ``solvers/`` lives); the
    directories that hold numpy and matplotlib are added explicitly in case they come
    from elsewhere.  When ravine itself is pip-installed (not editable), its packages
    sit in site-packages next to numpy: the child's meta-path blocker refuses them.
    """
    import importlib.util

    roots = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    try:
        site_dirs = [os.path.realpath(p) for p in site.getsitepackages()]
    except AttributeError:  # pragma: no cover - unusual site module
        site_dirs = []
    user = getattr(site, "getusersitepackages", lambda: None)()
    extra = [os.path.dirname(os.path.dirname(np.__file__))]
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        extra.append(os.path.dirname(os.path.dirname(spec.origin)))
    extra = [os.path.realpath(p) for p in extra]
    candidates = [p for p in sys.path if p and os.path.isabs(p)] + site_dirs + extra
    if user:
        candidates.append(user)
    out: list[str] = []
    for p in candidates:
        real = os.path.realpath(p)
        if real in out or not os.path.isdir(real) and not os.path.isfile(real):
            continue
        allowed = (
            any(real == r or real.startswith(r + os.sep) for r in roots)
            or real in extra
            or real == (os.path.realpath(user) if user else None)
        )
        checkout = real == str(_ROOT) and real not in site_dirs
        if allowed and not checkout:
            out.append(real)
    return tuple(out)


_MPL_LOCK = threading.Lock()
_MPL_TEMPLATE: list[str | None] = []  # [] = not tried yet; [None] = unavailable


def _matplotlib_template() -> str | None:
    """A matplotlib config dir with a ready font cache, built once by a trusted child.

    matplotlib scans the system fonts (~0.3 s here) the first time it is imported with
    an empty MPLCONFIGDIR, i.e. in every fresh scratch dir.  The cache is built once per
    machine (``$XDG_CACHE_HOME/ravine`` or ``~/.cache/ravine``) by a process that runs no
    student code, and *copied* into each scratch dir, so a submission cannot poison it
    for the next one.  Any failure just means matplotlib builds its cache itself.
    """
    with _MPL_LOCK:
        if _MPL_TEMPLATE:
            return _MPL_TEMPLATE[0]
        _MPL_TEMPLATE.append(None)
        try:
            from importlib.metadata import version

            key = f"{sys.version_info[0]}{sys.version_info[1]}-mpl{version('matplotlib')}"
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ravine"
            target = base / f"mplconfig-{key}"
            if not any(target.glob("fontlist-*.json")):
                base.mkdir(parents=True, exist_ok=True)
                tmp = tempfile.mkdtemp(prefix="mplconfig-build-", dir=base)
                code = (
                    f"import sys; sys.path[:] = {list(_child_sys_path())!r}; "
                    "import matplotlib.font_manager"
                )
                subprocess.run(
                    [sys.executable, "-I", "-S", "-B", "-c", code],
                    env={"PATH": "/usr/bin:/bin", "HOME": tmp, "MPLCONFIGDIR": tmp, "MPLBACKEND": "Agg"},
                    cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                )
                if any(Path(tmp).glob("fontlist-*.json")):
                    try:
                        os.rename(tmp, target)
                    except OSError:  # another grader process won the race
                        shutil.rmtree(tmp, ignore_errors=True)
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
            if any(target.glob("fontlist-*.json")):
                _MPL_TEMPLATE[0] = str(target)
        except Exception:  # noqa: BLE001 - an optimisation only
            pass
        return _MPL_TEMPLATE[0]


def _uses_matplotlib(sub: Submission) -> bool:
    return any("matplotlib" in c.source or "pylab" in c.source for c in sub.cells)


def _signal_name(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    description = signal.strsignal(number) or ""
    return f"{name} ({description})" if description else name


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


class _Output:
    """A capped capture of one stream: keeps the first ``cap`` bytes, counts the rest."""

    def __init__(self, cap: int):
        self.cap = cap
        self.kept = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        room = self.cap - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        self.dropped += max(0, len(data) - max(room, 0))

    def text(self) -> str:
        out = self.kept.decode("utf-8", errors="replace")
        if self.dropped:
            out += f"\n[... {self.dropped} bytes dropped]"
        return out


class _Interference(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("non-finite float")
    return value


def _require(cond: bool) -> None:
    if not cond:
        raise _Interference()


def _keys(msg: dict, *keys: str) -> None:
    _require(set(msg) == {"type", *keys})


def _matrix(value: Any, rows: int, cols: int) -> np.ndarray:
    """Decode base64 little-endian float64 bytes into a finite (rows, cols) array, strictly."""
    _require(isinstance(value, str) and len(value) == 4 * ((rows * cols * 8 + 2) // 3))
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _Interference() from None
    _require(len(data) == rows * cols * 8)
    arr = np.frombuffer(data, dtype="<f8").astype(np.float64).reshape(rows, cols)
    _require(bool(np.all(np.isfinite(arr))))
    return arr


def _scrub(value: Any) -> Any:
    """Strings as valid Unicode: JSON's "\\ud800" escapes decode to lone surrogates, which no
    UTF-8 file or terminal accepts (results.json, the gradebook, `ravine check`'s report would
    raise UnicodeEncodeError); each becomes '?'.  Containers are scrubbed one level deep (the
    protocol's messages are flat, a value is at most a dict of strings)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {k: _scrub(v) if isinstance(v, (str, dict)) else v for k, v in value.items()}
    return value


def _opt_int(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _text(value: Any, limit: int = 8000) -> str:
    _require(isinstance(value, str) and len(value) <= limit)
    return value


# --------------------------------------------------------------------------- one child


@dataclass
class _ChildResult:
    results: dict[str, tuple[dict, float]] = field(default_factory=dict)  # task id -> (msg, seconds)
    loaded: bool = False
    defined: list[str] = field(default_factory=list)
    load_messages: list[str] = field(default_factory=list)
    forbidden: list[tuple[str, str]] = field(default_factory=list)  # (module, function or "")
    failure: str | None = None  # boot-crash | load-timeout | load-crash | load-interference |
    #                             timeout | crash | interference | None
    failed_function: str = ""
    how: str = ""  # for crashes: exit status / signal text
    dropped_messages: int = 0  # load messages beyond _MAX_LOAD_MESSAGES


class _Child:
    def __init__(
        self,
        sub: Submission,
        tasks: list[Task],
        limits: Limits,
        out: _Output,
        err: _Output,
    ):
        self.sub = sub
        self.tasks = tasks
        self.limits = limits
        self.out = out
        self.err = err
        self.result = _ChildResult()
        self.next = 0  # index of the next expected task
        self.in_flight: str | None = None
        self.started_at = 0.0
        self.phase = "boot"
        cells = max(
            ((t.payload["steps"] + 1) * len(t.payload["x0"]) for t in tasks if t.kind == "trajectory"),
            default=0,
        )
        self.max_line = (1 << 20) + 32 * cells
        self.by_id = {t.id: t for t in tasks}

    # -- process

    def _plan(self) -> dict:
        return {
            "sys_path": list(_child_sys_path()),
            "rollout_path": str(_ROLLOUT),
            "objectives_path": str(_OBJECTIVES),
            "signatures": SIGNATURES,
            "contract": list(dict.fromkeys([*SIGNATURES, *(t.function for t in self.tasks)])),
            "limits": {
                "memory_bytes": self.limits.memory_bytes,
                "file_size_bytes": self.limits.file_size_bytes,
            },
            "cells": [
                {"label": c.label, "source": c.source, "error": c.syntax_error}
                for c in self.sub.cells
            ],
            "tasks": [
                {"id": t.id, "function": t.function, "kind": t.kind, "payload": t.payload}
                for t in self.tasks
            ],
        }

    def run(self) -> _ChildResult:
        scratch = tempfile.mkdtemp(prefix="ravine-sandbox-")
        try:
            return self._run_in(scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _run_in(self, scratch: str) -> _ChildResult:
        for sub in ("home", "tmp", "mpl"):
            os.mkdir(os.path.join(scratch, sub))
        template = _matplotlib_template() if _uses_matplotlib(self.sub) else None
        if template:
            for item in Path(template).glob("fontlist-*.json"):
                shutil.copyfile(item, os.path.join(scratch, "mpl", item.name))
        plan_path = os.path.join(scratch, "plan.json")
        with open(plan_path, "w", encoding="utf-8") as fh:
            json.dump(self._plan(), fh)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": os.path.join(scratch, "home"),
            "TMPDIR": os.path.join(scratch, "tmp"),
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": os.path.join(scratch, "mpl"),
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
        }
        # Hardware workarounds, not secrets: older OpenBLAS builds crash on some CPUs without them.
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            if key in os.environ:
                env[key] = os.environ[key]
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", str(_CHILD), str(write_fd), plan_path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=scratch,
                env=env,
                pass_fds=(write_fd,),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            raise
        os.close(write_fd)
        try:
            self._supervise(proc, read_fd)
        finally:
            self._kill(proc)
            self._drain_after(proc)
            os.close(read_fd)
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        return self.result

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        # The group leader is not reaped before this point, so its pgid cannot be reused.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _drain_after(self, proc: subprocess.Popen) -> None:
        """Read what is left in stdout/stderr until EOF, or briefly if an escaped process holds them."""
        sel = selectors.DefaultSelector()
        for stream, sink in ((proc.stdout, self.out), (proc.stderr, self.err)):
            if stream is not None and not stream.closed:
                os.set_blocking(stream.fileno(), False)
                sel.register(stream.fileno(), selectors.EVENT_READ, sink)
        deadline = time.monotonic() + 0.5
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                try:
                    data = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if data:
                    key.data.feed(data)
                else:
                    sel.unregister(key.fd)
        sel.close()

    def _supervise(self, proc: subprocess.Popen, channel: int) -> None:
        limits = self.limits
        sel = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        for stream, sink in ((proc.stdout, self.out), (proc.stderr, self.err)):
            os.set_blocking(stream.fileno(), False)
            sel.register(stream.fileno(), selectors.EVENT_READ, sink)
        os.set_blocking(channel, False)
        sel.register(channel, selectors.EVENT_READ, None)
        self._buffer = bytearray()
        self._deadline = time.monotonic() + limits.boot_timeout
        channel_open = True
        try:
            while True:
                now = time.monotonic()
                if now >= self._deadline:
                    self._on_timeout()
                    return
                for key, _ in sel.select(timeout=min(0.1, self._deadline - now)):
                    try:
                        data = os.read(key.fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    if key.data is not None:  # stdout / stderr
                        if data:
                            key.data.feed(data)
                        else:
                            sel.unregister(key.fd)
                    elif data:
                        if self._feed(data):
                            return
                    else:
                        sel.unregister(key.fd)
                        channel_open = False
                if channel_open and proc.poll() is None:
                    continue
                if channel_open:
                    # The child is gone; what it wrote is in the pipe already (a forked
                    # grandchild may still hold the pipe open, so never wait for EOF).
                    while True:
                        try:
                            data = os.read(channel, 1 << 16)
                        except BlockingIOError:
                            break
                        if not data:
                            break
                        if self._feed(data):
                            return  # done, or interference already recorded
                else:
                    try:
                        proc.wait(timeout=0.5)
                    except subprocess.TimeoutExpired:
                        self._interfere()  # the submission closed the grader's channel
                        return
                self._on_exit(proc.returncode)
                return
        finally:
            sel.close()

    def _feed(self, data: bytes) -> bool:
        """Take channel bytes; handle complete lines.  True when supervision should stop."""
        buffer = self._buffer
        buffer += data
        while True:
            nl = buffer.find(b"\n")
            if nl < 0:
                if len(buffer) > self.max_line:
                    self._interfere()
                    return True
                return False
            line = bytes(buffer[:nl])
            del buffer[: nl + 1]
            if len(line) > self.max_line:
                self._interfere()
                return True
            try:
                new_deadline = self._handle(line)
            except _Interference:
                self._interfere()
                return True
            if self.phase == "done":
                return True
            if new_deadline is not None:
                self._deadline = new_deadline

    # -- messages

    def _handle(self, line: bytes) -> float | None:
        """Validate one message; return a new deadline when the phase changes."""
        try:
            msg = json.loads(
                line.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
            )
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _Interference() from None
        _require(isinstance(msg, dict) and isinstance(msg.get("type"), str))
        msg = _scrub(msg)
        kind = msg["type"]
        now = time.monotonic()
        limits = self.limits
        res = self.result
        if kind == "ready":
            _keys(msg)
            _require(self.phase == "boot")
            self.phase = "load"
            return now + limits.load_timeout
        _require(self.phase != "boot")
        if kind == "forbidden":
            _keys(msg, "module")
            module = _text(msg["module"], 200)
            _require(bool(_MODULE.match(module)) and module.split(".")[0] in FORBIDDEN_PACKAGES)
            where = "" if self.phase == "load" else self._current_function()
            if (module, where) not in res.forbidden:  # repeats add nothing (and cost memory)
                _require(len(res.forbidden) < _MAX_FORBIDDEN)
                res.forbidden.append((module, where))
            return None
        if kind == "load_message":
            _keys(msg, "text")
            _require(self.phase == "load")
            text = _text(msg["text"])
            if len(res.load_messages) < _MAX_LOAD_MESSAGES:
                res.load_messages.append(text)
            else:  # a flood: count, keep nothing (the grader's memory is not the child's to fill)
                res.dropped_messages += 1
            return None
        if kind == "loaded":
            _keys(msg, "defined")
            _require(self.phase == "load")
            defined = msg["defined"]
            _require(isinstance(defined, list) and len(set(map(str, defined))) == len(defined))
            contract = set(SIGNATURES) | {t.function for t in self.tasks}
            _require(all(isinstance(d, str) and d in contract for d in defined))
            res.loaded = True
            res.defined = list(defined)
            self.phase = "tasks"
            if any(where == "" for _, where in res.forbidden):
                self.phase = "done"  # every task is forbidden: nothing left to learn
                return None
            return now + limits.function_timeout
        if kind == "start":
            _keys(msg, "task")
            _require(self.phase == "tasks" and self.in_flight is None)
            _require(self.next < len(self.tasks) and msg["task"] == self.tasks[self.next].id)
            self.in_flight = msg["task"]
            self.started_at = now
            return None
        if kind == "result":
            task_id = self.in_flight
            if self.phase != "tasks" or task_id is None:  # = _require, spelled out so that task_id is a str
                raise _Interference()
            _require(msg.get("task") == task_id)
            self._check_result(msg, self.by_id[task_id])
            res.results[task_id] = (msg, msg["seconds"])
            previous = self.tasks[self.next].function
            self.in_flight = None
            self.next += 1
            if self.next == len(self.tasks):
                self.phase = "finishing"
                return now + 2.0
            if self.tasks[self.next].function != previous:
                return now + limits.function_timeout  # a new function: a new budget
            return None
        if kind == "done":
            _keys(msg)
            _require(self.phase in ("tasks", "finishing") and self.next == len(self.tasks))
            self.phase = "done"
            return None
        raise _Interference()

    def _check_result(self, msg: dict, task: Task) -> None:
        seconds = msg.pop("seconds", None)  # the child's own timing: information, not a budget
        _require(isinstance(seconds, float) and seconds >= 0.0)
        msg["seconds"] = seconds
        kind = msg.get("kind")
        if kind == "missing":
            _keys(msg, "seconds", "task", "kind")
        elif kind == "contract":
            _keys(msg, "seconds", "task", "kind", "message", "step")
            _text(msg["message"])
            _require(_opt_int(msg["step"]))
        elif kind == "exception":
            _keys(msg, "seconds", "task", "kind", "exc_type", "message", "step")
            _require(bool(_IDENT.match(_text(msg["exc_type"], 200))))
            _text(msg["message"])
            _require(_opt_int(msg["step"]))
        elif kind == "value":
            _require(task.kind == "call")
            _keys(msg, "seconds", "task", "kind", "value")
            value = msg["value"]
            if isinstance(value, dict):
                if set(value) == {"nonfinite"}:
                    _require(value["nonfinite"] in ("nan", "inf", "-inf"))
                else:
                    _require(set(value) == {"repr", "type"})
                    _text(value["repr"], 1000)
                    _text(value["type"], 200)
            else:
                _require(isinstance(value, (bool, int, float, str)))
                if isinstance(value, str):
                    _text(value, 2000)
                if isinstance(value, int) and not isinstance(value, bool):
                    _require(abs(value) < 10**300)  # the child sends bigger ints as a repr: float() must work
        elif kind == "trajectory":
            _require(task.kind == "trajectory")
            _keys(msg, "seconds", "task", "kind", "positions")
            p = task.payload
            msg["positions"] = _matrix(msg["positions"], p["steps"] + 1, len(p["x0"]))
        elif kind == "nonfinite":
            _require(task.kind == "trajectory")
            _keys(msg, "seconds", "task", "kind", "step", "partial")
            p = task.payload
            step = msg["step"]
            _require(isinstance(step, int) and not isinstance(step, bool) and 1 <= step <= p["steps"])
            msg["partial"] = _matrix(msg["partial"], step, len(p["x0"]))
        else:
            raise _Interference()

    def _current_function(self) -> str:
        if self.next < len(self.tasks):
            return self.tasks[self.next].function
        return self.tasks[-1].function if self.tasks else ""

    # -- endings

    def _on_timeout(self) -> None:
        res = self.result
        if self.phase == "boot":
            res.failure, res.how = "boot-crash", f"it did not start within {self.limits.boot_timeout:g} s"
        elif self.phase == "load":
            res.failure = "load-timeout"
        elif self.phase == "tasks":
            res.failure, res.failed_function = "timeout", self._current_function()
        # "finishing": all results are in; a slow exit costs nothing

    def _interfere(self) -> None:
        res = self.result
        if self.phase in ("boot", "load"):
            res.failure = "load-interference"
        elif self.phase == "tasks":
            res.failure, res.failed_function = "interference", self._current_function()

    def _on_exit(self, returncode: int | None) -> None:
        res = self.result
        if returncode is None:
            how = "it stopped responding"
        elif returncode < 0:
            how = f"killed by {_signal_name(-returncode)}"
            if -returncode == signal.SIGXFSZ:
                how += f": the file size limit ({_size(self.limits.file_size_bytes)}) was exceeded"
            elif -returncode == signal.SIGKILL:
                how += " (possibly out of memory)"
        else:
            how = f"exited with status {returncode} (for example sys.exit in a thread or os._exit)"
        res.how = how
        if self.phase == "boot":
            res.failure = "boot-crash"
            tail = self.err.kept.decode("utf-8", "replace").strip().splitlines()
            if tail:  # our own start-up code failed (no student code has run yet)
                res.how += f"; last line of its stderr: {tail[-1][:300]}"
        elif self.phase == "load":
            res.failure = "load-crash"
        elif self.phase == "tasks":
            res.failure, res.failed_function = "crash", self._current_function()


# --------------------------------------------------------------------------- the session


def _outcome_from_result(task: Task, msg: dict, seconds: float, limits: Limits) -> Outcome:
    kind = msg["kind"]
    f = task.function
    if kind == "missing":
        return Outcome(
            task.id,
            "missing",
            message=f"{f} is not defined (or not callable) in the submission; expected "
            f"{SIGNATURES.get(f, f)}",
            seconds=seconds,
        )
    if kind == "contract":
        text = msg["message"]
        return Outcome(task.id, "contract", message=text if f in text else f"{f}: {text}",
                       step=msg["step"], seconds=seconds)
    if kind == "exception":
        head, _, rest = msg["message"].partition("\n")
        at = f" at step {msg['step']}" if msg["step"] else ""
        if msg["exc_type"] == "MemoryError":
            text = f"{f} ran out of memory{at} (limit {_size(limits.memory_bytes)})"
            return Outcome(task.id, "memory", message=text + ("\n" + rest if rest else ""),
                           step=msg["step"], seconds=seconds)
        text = f"{f} raised {head}{at}" + ("\n" + rest if rest else "")
        return Outcome(task.id, "exception", message=text, step=msg["step"], seconds=seconds)
    if kind == "value":
        value = msg["value"]
        if isinstance(value, dict) and "nonfinite" in value:
            number = float(value["nonfinite"])
            return Outcome(task.id, "non-finite", value=number, message=f"{f} returned {number}",
                           seconds=seconds)
        return Outcome(task.id, "ok", value=value, seconds=seconds)
    if kind == "trajectory":
        return Outcome(task.id, "ok", value=msg["positions"], seconds=seconds)
    # nonfinite trajectory
    step = msg["step"]
    return Outcome(
        task.id,
        "non-finite",
        message=f"{f}: the position became non-finite (NaN or inf) at step {step}",
        step=step,
        partial=msg["partial"],
        seconds=seconds,
    )


def _ordered(tasks: list[Task]) -> list[Task]:
    """Tasks grouped by function (functions in order of first appearance), order kept within."""
    order: dict[str, list[Task]] = {}
    for t in tasks:
        order.setdefault(t.function, []).append(t)
    return [t for group in order.values() for t in group]


_PROTECTED: list[bool] = []


def _protect_parent() -> None:
    """Make the grader's process non-dumpable (once, Linux only, best effort).

    Then /proc/<grader pid>/environ, mem, fd/* are open only to processes holding
    CAP_SYS_PTRACE, which the child has dropped (``_child._drop_capabilities``): a
    submission cannot read the grader's environment or memory, nor write to its stdout.
    Side effect: no core dumps of the grader.  /proc/<pid>/cmdline stays world-readable.
    """
    if _PROTECTED:
        return
    _PROTECTED.append(True)
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
    except Exception:  # noqa: BLE001
        pass


def run_submission(sub: Submission, tasks: Sequence[Task], limits: Limits = Limits()) -> RunReport:
    """Run ``tasks`` against a loaded submission in isolated child processes.

    Returns a :class:`RunReport` with one :class:`Outcome` per task, always.
    Raises ValueError only for a malformed plan (a grader bug, never the student's).
    """
    began = time.monotonic()
    _protect_parent()
    given = list(tasks)
    tasks = given
    for t in tasks:
        _check_task(t)
    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise ValueError("task ids must be unique in a plan")
    tasks = _ordered(tasks)
    functions = list(dict.fromkeys(t.function for t in tasks))
    outcomes: dict[str, Outcome] = {}
    load_messages: list[str] = []
    defined: list[str] = []
    runtime_forbidden: list[tuple[str, str]] = []
    out, err = _Output(limits.output_bytes), _Output(limits.output_bytes)
    max_spawns = limits.max_spawns or len(functions) + 2
    spawns = 0
    first = True

    def settle(fn: str | None, status: str, message: str) -> None:
        for t in tasks:
            if t.id not in outcomes and (fn is None or t.function == fn):
                outcomes[t.id] = Outcome(t.id, status, message=message)

    # static scan: decided before anything runs
    static_top = [m for m, where in sub.forbidden if where == ""]
    for t in tasks:
        if static_top:
            reason = f"imports {static_top[0]} (a package of the grader) at module level"
        else:
            mods = [m for m, where in sub.forbidden if where == t.function]
            if not mods:
                continue
            reason = f"imports {mods[0]} (a package of the grader) inside {t.function}"
        outcomes[t.id] = Outcome(
            t.id, "forbidden", message=f"the submission {reason}; {t.function} gets no credit"
        )

    while True:
        pending = [t for t in tasks if t.id not in outcomes]
        if not first and not pending:
            break
        if spawns >= max_spawns:
            settle(None, "crash", f"not run: the grader gave up after {spawns} restarts of the child")
            break
        child = _Child(sub, pending, limits, out, err)
        res = child.run()
        spawns += 1
        for task_id, (msg, seconds) in res.results.items():
            outcomes[task_id] = _outcome_from_result(child.by_id[task_id], msg, seconds, limits)
        runtime_forbidden.extend(res.forbidden)
        if first:
            load_messages.extend(res.load_messages)
            if res.dropped_messages:
                load_messages.append(f"[... {res.dropped_messages} more messages from loading were dropped]")
            defined = list(res.defined)
        first = False
        if any(where == "" for _, where in res.forbidden):
            break
        fn = res.failed_function
        if res.failure == "boot-crash":
            load_messages.append(f"the grader could not start the child process: {res.how}")
            settle(None, "crash", f"not run: the grader could not start the child process ({res.how})")
            break
        if res.failure == "load-timeout":
            text = (
                f"process killed during load: loading did not finish within "
                f"{limits.load_timeout:g} s (an infinite loop at import?)"
            )
            load_messages.append(text)
            settle(None, "timeout", f"not run: {text}")
            break
        if res.failure == "load-crash":
            text = f"process killed during load: {res.how}"
            load_messages.append(text)
            settle(None, "crash", f"not run: {text}")
            break
        if res.failure == "load-interference":
            load_messages.append(f"{INTERFERENCE} while loading")
            settle(None, "crash", f"not run: {INTERFERENCE} while loading")
            break
        if res.failure == "timeout":
            settle(
                fn,
                "timeout",
                f"{fn} did not finish within {limits.function_timeout:g} s (the budget for all its "
                "checks together) and was stopped; look for an infinite loop or very slow code",
            )
        elif res.failure == "crash":
            settle(fn, "crash", f"the process running {fn} died: {res.how}")
        elif res.failure == "interference":
            settle(fn, "crash", f"{INTERFERENCE} while {fn} ran")

    # runtime attempts to import the grader's packages: reported at once by the child
    report_forbidden: list[str] = []
    for module, where in runtime_forbidden:
        text = f"{module} ({'at load' if where == '' else f'during {where}'})"
        if text not in report_forbidden:
            report_forbidden.append(text)
    at_load = [m for m, where in runtime_forbidden if where == ""]
    for t in tasks:
        during = [m for m, where in runtime_forbidden if where == t.function]
        if not (at_load or during):
            continue
        when = f"{at_load[0]} (a package of the grader) at load" if at_load else (
            f"{during[0]} (a package of the grader) while {t.function} ran"
        )
        outcomes[t.id] = Outcome(
            t.id,
            "forbidden",
            message=f"the submission imported {when}; {t.function} gets no credit",
            seconds=outcomes[t.id].seconds if t.id in outcomes else 0.0,
        )
    settle(None, "crash", "not run")  # never a missing key
    return RunReport(
        outcomes={t.id: outcomes[t.id] for t in given},
        load_messages=load_messages,
        defined=defined,
        stdout=out.text(),
        stderr=err.text(),
        forbidden=report_forbidden,
        spawns=spawns,
        seconds=time.monotonic() - began,
    )
