"""The grader's side of the SymPy worker (:mod:`grader._symworker`): start it isolated, send one
JSON request per line with its timeout, kill and restart it when it does not answer in time.

One worker serves the whole process (:func:`shared_worker`); the requests of one task (one
notebook's answers) share a time :class:`Budget` (:func:`budget`), and time spent waiting for
another thread's request is given back.  ``RAVINE_NO_SYMBOLIC`` set: no worker, numeric checks only.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

__all__ = ["Budget", "budget", "SymbolicWorker", "shared_worker", "start_worker", "GRACE"]


class Budget:
    """A time budget shared by the symbolic requests of one task (grading one notebook's answers).

    Time spent waiting for the shared worker (another thread's request, a worker restart) is
    given back: a slow neighbour in ``--jobs N`` must not use up this notebook's budget.
    """

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self.deadline = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def give_back(self, seconds: float) -> None:
        self.deadline += max(0.0, seconds)


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("ravine_symbolic_budget",
                                                                        default=None)


@contextlib.contextmanager
def budget(seconds: float) -> Iterator[Budget]:
    """Within this block (this thread), symbolic requests share ``seconds`` in all."""
    b = Budget(seconds)
    token = _BUDGET.set(b)
    try:
        yield b
    finally:
        _BUDGET.reset(token)


# The worker runs isolated (-I: no PYTHON* variables, no user site, no script directory on
# sys.path) and without the site module (-S: no .pth file in site-packages runs in it).  Its
# sys.path is the standard library, ravine's root and the directories SymPy and mpmath live in.
_BOOT = "import sys; sys.path[:0] = sys.argv[1:]; import grader._symworker as w; w.main()"
GRACE = 2.0  # seconds the worker gets beyond a request's timeout to answer "timed out" itself


def _library_dirs() -> list[str]:
    import importlib.util

    dirs: list[str] = []
    for name in ("sympy", "mpmath", "gmpy2"):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            d = str(Path(spec.origin).resolve().parent.parent)
            if d not in dirs:
                dirs.append(d)
    return dirs


class SymbolicWorker:
    """A SymPy child process that answers one JSON request per line.

    A request carries its timeout: the worker interrupts SymPy itself (SIGALRM) and answers
    with an error, so it normally survives; if it does not answer within ``GRACE`` more
    seconds it is killed and restarted lazily.  Disabled entirely when the environment
    variable ``RAVINE_NO_SYMBOLIC`` is set (numeric checks only).
    """

    def __init__(self, *, startup_timeout: float = 30.0):
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.failed_start = False
        # One request at a time: `ravine grade --jobs N` grades notebooks from N threads.
        self._lock = threading.Lock()

    def _start(self) -> bool:
        if self.failed_start:
            return False
        root = str(Path(__file__).resolve().parent.parent)
        # Not RAVINE_SEED nor anything else of the grader's environment.
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "SYSTEMROOT")}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOT, root, *_library_dirs()], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=root, env=env,
                start_new_session=True)
        except OSError:
            self.failed_start = True
            return False
        line = self._readline(self.startup_timeout)
        if line is None or "ready" not in line:
            self.kill()
            self.failed_start = True
            return False
        return True

    def _readline(self, timeout: float) -> str | None:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return line or None

    def kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    if stream:
                        stream.close()
                except OSError:
                    pass
            self.proc = None

    def request(self, req: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """The answer, or None on timeout / failure (the worker is then killed). Thread-safe."""
        if os.environ.get("RAVINE_NO_SYMBOLIC"):
            return None
        b = _BUDGET.get()
        waited = time.monotonic()
        with self._lock:
            if b is not None:
                b.give_back(time.monotonic() - waited)
            return self._request(req, timeout, b)

    def start(self) -> bool:
        """Start the worker now (if it is not running); False if it cannot start."""
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                return True
            self.proc = None
            return self._start()

    def _request(self, req: dict[str, Any], timeout: float, b: Budget | None = None) -> dict[str, Any] | None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            began = time.monotonic()
            started = self._start()
            if b is not None:
                b.give_back(time.monotonic() - began)
            if not started:
                return None
        if b is not None:
            timeout = min(timeout, b.remaining())
            if timeout <= 0.01:
                return None  # the budget is spent: no request, and the worker stays up
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({**req, "timeout": timeout}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            return None
        line = self._readline(timeout + GRACE)
        if line is None:
            self.kill()
            return None
        try:
            out = json.loads(line)
        except json.JSONDecodeError:
            self.kill()
            return None
        return out if isinstance(out, dict) and "error" not in out else None


_WORKER: SymbolicWorker | None = None
_WORKER_LOCK = threading.Lock()


def shared_worker() -> SymbolicWorker:
    """The one SymPy worker of this process, created on first use and killed at exit."""
    global _WORKER
    with _WORKER_LOCK:
        if _WORKER is None:
            _WORKER = SymbolicWorker()
            atexit.register(_WORKER.kill)
        return _WORKER


def start_worker() -> bool:
    """Start the shared SymPy worker now, e.g. before any student code runs (``engine.preload``)."""
    if os.environ.get("RAVINE_NO_SYMBOLIC"):
        return False
    return shared_worker().start()
