"""namespaces mode: one sandbox per submission, in which a zygote forks each child."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from .bwrapproc import BwrapProcess, end_sandbox, start_sandbox
from .model import Limits
from .paths import _INSIDE_LEAF, _INSIDE_MPL, _real, child_sys_path, matplotlib_template
from .process import Isolation, _base_env, _bwrap_argv
from .starvation import sandbox_wait

class _ZygoteProc:
    """What the supervisor needs of a process (poll, wait, returncode, stdout, stderr), for a child
    forked by a zygote: its exit status arrives on the zygote's control socket."""

    def __init__(self, session: "ZygoteSession", out: int, err: int):
        self.session = session
        self.stdout = os.fdopen(out, "rb", buffering=0)
        self.stderr = os.fdopen(err, "rb", buffering=0)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            status = self.session.exit_report(0.0)
            if status is not None:
                self.returncode = status
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        status = self.session.exit_report(timeout if timeout is not None else 3600.0)
        if status is None and self.returncode is None:
            raise subprocess.TimeoutExpired("zygote child", timeout or 0.0)
        if status is not None:
            self.returncode = status
        assert self.returncode is not None
        return self.returncode


class _ZygoteChild:
    """A child forked by the zygote, with the interface of :class:`Sandbox`."""

    def __init__(self, session: "ZygoteSession", plan: bytes):
        self.session = session
        pipes = [os.pipe() for _ in range(4)]  # stdout, stderr, channel (child writes); plan (child reads)
        (out_r, out_w), (err_r, err_w), (chan_r, chan_w), (plan_r, plan_w) = pipes
        try:
            assert session.sock is not None
            socket.send_fds(session.sock, [b"spawn"], [out_w, err_w, chan_w, plan_r])
        finally:
            for fd in (out_w, err_w, chan_w, plan_r):
                os.close(fd)
        self.channel = chan_r
        self.proc = _ZygoteProc(session, out_r, err_r)
        if session._line(3.0) != {"forked": True}:  # a zygote that does not answer gets no plan
            for fd in (chan_r, plan_w):
                os.close(fd)
            self.proc.stdout.close()
            self.proc.stderr.close()
            session.discard()
            raise OSError("the sandbox's zygote did not answer")
        self._writer = threading.Thread(target=_write_all, args=(plan_w, plan), daemon=True)
        self._writer.start()

    def wait_seconds(self) -> float | None:
        return sandbox_wait(ns_of=self.session.proc.pid) if self.session.proc is not None else None

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.session.request_kill()

    def finish(self) -> None:
        self.kill()
        if self.proc.returncode is None:
            status = self.session.exit_report(3.0)
            if status is None:  # stopped or killed by the submission: the sandbox is not trusted again
                self.session.discard()
            else:
                self.proc.returncode = status
        for fd in (self.channel,):
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc.stdout.close()
        self.proc.stderr.close()
        self._writer.join(timeout=1.0)


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass
    finally:
        os.close(fd)


class ZygoteSession:
    """namespaces mode: ONE sandbox per submission.  Inside it a zygote (``_child.py --zygote``)
    imports numpy once and forks the public child, then the hidden child (and any respawn).

    The hidden plan is written only after the zygote reported the previous child gone, which it
    does only after ``kill(-1)`` inside the PID namespace and reaping everything (it is the
    namespace's subreaper); the zygote never holds a plan (each child reads its own from a fresh
    pipe).  If the zygote does not answer (a submission stopped or killed it), the sandbox is
    discarded and every later child of the submission gets a fresh sandbox of its own."""

    def __init__(self, iso: Isolation, limits: Limits, plot: bool):
        self.iso, self.limits, self.plot = iso, limits, plot
        self.proc: BwrapProcess | None = None
        self.sock: socket.socket | None = None
        self.dead = False
        self._buffer = b""

    def _start(self) -> None:
        assert self.iso.bwrap is not None
        template = matplotlib_template() if self.plot else None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = _base_env()
        env.update(HOME="/tmp", TMPDIR="/tmp", MPLCONFIGDIR="/tmp/.mpl")
        try:
            self.proc = start_sandbox(
                [*_bwrap_argv(self.iso.bwrap, self.limits, self.plot, template), _real(sys.executable),
                 "-I", "-S", "-B", os.path.join(_INSIDE_LEAF, "_child.py"), "--zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd="/", env=env, pass_fds=(theirs.fileno(),),
            )
        except OSError:  # bwrap did not start, or did not report its sandbox: no session
            ours.close()
            self.dead = True
            return
        finally:
            theirs.close()
        self.sock = ours
        ours.sendall(json.dumps({"sys_path": child_sys_path("namespaces")}).encode())
        if self._line(self.limits.boot_timeout) != {"ready": True}:
            self.discard()

    def _line(self, timeout: float) -> Any:
        """The next JSON line from the zygote, or None (timeout, or it is gone)."""
        import select
        import time

        assert self.sock is not None
        end = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = end - time.monotonic()
            ready, _, _ = select.select([self.sock], [], [], max(0.0, left))
            if not ready:
                return None
            try:
                data = self.sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                self.dead = True
                return None
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError:
            self.discard()
            return None

    def exit_report(self, timeout: float) -> int | None:
        if self.dead or self.sock is None:
            return None
        msg = self._line(timeout)
        if isinstance(msg, dict) and isinstance(msg.get("exit"), int):
            return int(msg["exit"])
        if msg is not None:
            self.discard()
        return None

    def request_kill(self) -> None:
        try:
            if self.sock is not None and not self.dead:
                self.sock.sendall(b"k")
        except OSError:
            self.discard()

    def spawn(self, plan: dict) -> _ZygoteChild | None:
        """A forked child with ``plan``, or None when this session cannot be trusted (then the
        caller starts a sandbox of its own)."""
        if self.dead:
            return None
        if self.proc is None:
            self._start()
            if self.dead:
                return None
        template = _INSIDE_MPL if (self.plot and matplotlib_template()) else None
        plan = dict(plan, sys_path=child_sys_path("namespaces"), mpl_template=template, mpl_dir="/tmp/.mpl",
                    max_processes=self.limits.max_processes)
        try:
            return _ZygoteChild(self, json.dumps(plan).encode())
        except OSError:
            self.discard()
            return None

    def discard(self) -> None:
        self.dead = True
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        if self.proc is not None:
            end_sandbox(self.proc)  # returns once the namespace's PID 1 (and so everything in it) is gone
            self.proc = None

