"""One child, supervised: its plan, its channel read against ``protocol``'s table with a
deadline on every read, its phases and how it ended.  A result message is validated and
decoded at once into an :class:`Outcome` (``tasks.TASK_KINDS``): nothing else of the
message is kept."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from grader.submission import FORBIDDEN_PACKAGES, Submission

from . import process
from .decoding import _finite_float, _Interference, _matrix, _reject_constant, _require, _scrub
from .zygote import ZygoteSession
from . import protocol as P
from .model import SIGNATURES, Forbidden, Limits, Outcome, Task
from .tasks import TASK_KINDS, size

# Caps on what a child can make the grader keep (a flood of valid messages is interference too).
_MAX_LOAD_MESSAGES = 200  # one per notebook cell at most, normally
_MAX_FORBIDDEN = 50  # distinct (module, function) import attempts
# After the child exited: what is left in the channel is read for at most this long (a process
# the submission left behind may keep the pipe full forever: class 6 of issue 8).
_CHANNEL_DRAIN_SECONDS = 1.0
_OUTPUT_DRAIN_SECONDS = 0.5
# A budget is wall-clock time, but a child starved of CPU (by a neighbour's hog: there are no
# cgroups here) is not timed out: when its budget runs out, the sandbox's run delay (time its
# processes spent runnable but waiting for a CPU) is measured over PROBE_SECONDS; if they waited
# at least STARVED of it, the deadline moves on, up to MAX_STRETCH x the budget.  A sleeping child,
# or one that has the CPU it asks for, is not waiting: it times out at its budget (+ the probe).
STARVED = 0.3
MAX_STRETCH = 4.0
PROBE_SECONDS = 0.25


def _signal_name(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    description = signal.strsignal(number) or ""
    return f"{name} ({description})" if description else name


def uses_matplotlib(sub: Submission) -> bool:
    return any("matplotlib" in c.source or "pylab" in c.source for c in sub.cells)


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


@dataclass
class _ChildResult:
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # task id -> its decoded result
    loaded: bool = False
    defined: list[str] = field(default_factory=list)
    load_messages: list[str] = field(default_factory=list)
    forbidden: list[Forbidden] = field(default_factory=list)
    failure: str | None = None  # a key of failures.FAILURES, or None
    failed_function: str = ""
    how: str = ""  # for crashes: exit status / signal text
    dropped_messages: int = 0  # load messages beyond _MAX_LOAD_MESSAGES
    cell: str = ""  # the label of the cell running (or last run) during load


class _Child:
    def __init__(self, sub: Submission, tasks: list[Task], limits: Limits, out: _Output, err: _Output,
                 isolation: process.Isolation | None = None, private: bool = False,
                 session: ZygoteSession | None = None):
        self.private = private
        self.session = session
        self.bwrap_codes = False  # exit statuses come from bwrap (128 + N for a signal)
        self.sub = sub
        self.tasks = tasks
        self.limits = limits
        self.isolation = isolation or process.resolve(limits.isolation)
        self.out = out
        self.err = err
        self.result = _ChildResult()
        self.next = 0  # index of the next expected task
        self.in_flight: str | None = None
        self.started_at = 0.0
        self.phase = "boot"
        cells = max((TASK_KINDS[t.kind].cells(t) for t in tasks), default=0)
        self.max_line = (1 << 20) + 32 * cells
        self.by_id = {t.id: t for t in tasks}
        self._labels = {_scrub(c.label) for c in sub.cells}  # as a "cell" message arrives (scrubbed)
        self._box: Any = None
        self._budget = limits.boot_timeout
        self._budget_start = 0.0
        self._probe: tuple[float, float] | None = None  # (time, run delay) when a deadline was reached
        self.stretched = 0  # deadlines moved on because the child was starved of CPU

    # -- process

    def _plan(self) -> dict:
        return {
            "signatures": SIGNATURES,
            "contract": list(dict.fromkeys([*SIGNATURES, *(t.function for t in self.tasks)])),
            "limits": {
                "memory_bytes": self.limits.memory_bytes,
                "file_size_bytes": self.limits.file_size_bytes,
            },
            "cell_timeout": self.limits.cell_timeout,
            "cells": [
                {"label": c.label, "source": c.source, "error": c.syntax_error}
                for c in self.sub.cells
            ],
            "tasks": [
                {"id": t.id, "function": t.function, "kind": t.kind, "runner": TASK_KINDS[t.kind].runner,
                 "payload": t.payload}
                for t in self.tasks
            ],
        }

    def _stretch(self, now: float) -> bool:
        """At a deadline: True (and a later deadline) if the child is being starved, not busy.

        Measured only when a deadline is reached (nothing is read from /proc otherwise): the
        sandbox's run delay over a short probe; if its processes spent at least STARVED of it
        waiting for a CPU, the deadline moves on by half a budget (up to MAX_STRETCH budgets)."""
        if self.phase not in ("load", "tasks") or self._box is None:
            return False
        if self._probe is None:
            if now - self._budget_start >= MAX_STRETCH * self._budget:
                return False
            waited = self._box.wait_seconds()
            if waited is None:
                return False
            self._probe = (now, waited)
            self._deadline = now + PROBE_SECONDS
            return True
        began, before = self._probe
        self._probe = None
        waited = self._box.wait_seconds()
        if waited is None or waited - before < STARVED * (now - began):
            return False  # it was not kept from the CPU: a real timeout
        self._deadline = min(now + self._budget / 2, self._budget_start + MAX_STRETCH * self._budget)
        self.stretched += 1
        return self._deadline > now

    def _new_budget(self, deadline: float) -> None:
        now = time.monotonic()
        self._deadline = deadline
        self._budget = deadline - now
        self._budget_start = now
        self._probe = None

    def run(self) -> _ChildResult:
        box: Any = self.session.spawn(self._plan()) if self.session is not None else None
        if box is None:
            box = process.launch(self.isolation, self._plan(), self.limits, plot=uses_matplotlib(self.sub),
                                 private=self.private)
            self.bwrap_codes = self.isolation.mode == "namespaces"
        self._box = box
        try:
            self._supervise(box.proc, box.channel)
        finally:
            box.kill()
            self._drain_after(box.proc)
            box.finish()
        return self.result

    def _drain_after(self, proc: subprocess.Popen) -> None:
        """Read what is left in stdout/stderr until EOF, or briefly if an escaped process holds them."""
        sel = selectors.DefaultSelector()
        for stream, sink in ((proc.stdout, self.out), (proc.stderr, self.err)):
            if stream is not None and not stream.closed:
                os.set_blocking(stream.fileno(), False)
                sel.register(stream.fileno(), selectors.EVENT_READ, sink)
        deadline = time.monotonic() + _OUTPUT_DRAIN_SECONDS
        while sel.get_map() and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                try:
                    data = _read(key.fd)
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
                if now >= self._deadline and not self._stretch(now):
                    self._on_timeout()
                    return
                for key, _ in sel.select(timeout=min(0.1, self._deadline - now)):
                    try:
                        data = _read(key.fd)
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
                    if time.monotonic() >= self._deadline:
                        break  # a channel that never runs dry must not postpone the deadline
                if channel_open and proc.poll() is None:
                    continue
                if channel_open:
                    # The child is gone; what it wrote is in the pipe already.  A process it left
                    # behind may still hold the pipe open and keep it full: read for a bounded
                    # time only, never until EOF.
                    stop = time.monotonic() + _CHANNEL_DRAIN_SECONDS
                    while time.monotonic() < stop:
                        try:
                            data = _read(channel)
                        except BlockingIOError:
                            break
                        if not data:
                            break
                        if self._feed(data):
                            return  # done, or interference already recorded
                    else:
                        self._interfere()  # still flooding after the child exited
                        return
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
                self._new_budget(new_deadline)

    # -- messages

    def _decode(self, line: bytes) -> dict:
        """A line as a message whose fields all pass protocol.MESSAGES / RESULTS' checks (the
        checks that need the plan are applied by _handle / _check_result)."""
        try:
            msg = json.loads(line.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise _Interference() from None
        msg = _scrub(msg)
        try:
            spec = P.fields_of(msg)
            for name, check in spec.items():
                scalar = P.SCALAR_CHECKS.get(check)
                if scalar is not None:
                    scalar(msg[name])
        except P.ProtocolError:
            raise _Interference() from None
        return msg

    def _handle(self, line: bytes) -> float | None:
        """Validate one message; return a new deadline when the phase changes."""
        msg = self._decode(line)
        kind = msg["type"]
        now = time.monotonic()
        limits = self.limits
        res = self.result
        if kind == "ready":
            _require(self.phase == "boot")
            self.phase = "load"
            return now + limits.load_timeout
        _require(self.phase != "boot")
        if kind == "forbidden":
            module = msg["module"]
            _require(module.split(".")[0] in FORBIDDEN_PACKAGES)
            attempt = Forbidden(module, "" if self.phase == "load" else self._current_function())
            if attempt not in res.forbidden:  # repeats add nothing (and cost memory)
                _require(len(res.forbidden) < _MAX_FORBIDDEN)
                res.forbidden.append(attempt)
            return None
        if kind == "cell":
            _require(self.phase == "load" and msg["label"] in self._labels)
            res.cell = msg["label"]
            return None
        if kind == "load_message":
            _require(self.phase == "load")
            if len(res.load_messages) < _MAX_LOAD_MESSAGES:
                res.load_messages.append(msg["text"])
            else:  # a flood: count, keep nothing (the grader's memory is not the child's to fill)
                res.dropped_messages += 1
            return None
        if kind == "loaded":
            _require(self.phase == "load")
            defined = msg["defined"]
            _require(isinstance(defined, list) and len(set(map(str, defined))) == len(defined))
            contract = set(SIGNATURES) | {t.function for t in self.tasks}
            _require(all(isinstance(d, str) and d in contract for d in defined))
            res.loaded = True
            res.defined = list(defined)
            self.phase = "tasks"
            if any(f.where == "" for f in res.forbidden):
                self.phase = "done"  # every task is forbidden: nothing left to learn
                return None
            return now + limits.function_timeout
        if kind == "start":
            _require(self.phase == "tasks" and self.in_flight is None)
            _require(self.next < len(self.tasks) and msg["task"] == self.tasks[self.next].id)
            self.in_flight = msg["task"]
            self.started_at = now
            return None
        if kind == "result":
            task_id = self.in_flight
            if self.phase != "tasks" or task_id is None:  # = _require, spelled out so that task_id is a str
                raise _Interference()
            _require(msg["task"] == task_id)
            task = self.by_id[task_id]
            self._check_result(msg, task)
            res.outcomes[task_id] = TASK_KINDS[task.kind].decode(task, msg, limits)
            previous = self.tasks[self.next].function
            self.in_flight = None
            self.next += 1
            if self.next == len(self.tasks):
                self.phase = "finishing"
                return now + 2.0
            if self.tasks[self.next].function != previous:
                return now + limits.function_timeout  # a new function: a new budget
            return None
        # done
        _require(self.phase in ("tasks", "finishing") and self.next == len(self.tasks))
        self.phase = "done"
        return None

    def _check_result(self, msg: dict, task: Task) -> None:
        """The checks of a result that need its task: the kind answers this task kind, shapes."""
        allowed, _ = P.RESULTS[msg["kind"]]
        _require(task.kind in allowed)
        p = task.payload
        if "positions" in msg:
            msg["positions"] = _matrix(msg["positions"], p["steps"] + 1, len(p["x0"]))
        if "partial" in msg:
            step = msg["step"]
            _require(isinstance(step, int) and not isinstance(step, bool) and 1 <= step <= p["steps"])
            msg["partial"] = _matrix(msg["partial"], step, len(p["x0"]))

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
        elif returncode < 0 or (self.bwrap_codes and returncode > 128):
            # bwrap reports a child killed by signal N as exit status 128 + N
            number = -returncode if returncode < 0 else returncode - 128
            how = f"killed by {_signal_name(number)}"
            if number == signal.SIGXFSZ:
                how += f": the file size limit ({size(self.limits.file_size_bytes)}) was exceeded"
            elif number == signal.SIGKILL:
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


def _read(fd: int) -> bytes:
    return os.read(fd, 1 << 16)
