"""Starting and ending one bubblewrap sandbox so that nothing of it can outlive the grader's kill.

Killing bwrap's own process group is not enough.  bwrap clones the sandbox's first process (the
future PID 1 of the namespace), which calls ``setsid()`` during its set-up and only afterwards
asks for ``PR_SET_PDEATHSIG``.  A kill that lands between the two leaves that process, and the
command it then starts, alive in a session of their own with nobody to kill them (measured: 2
sandboxes in 100 survived ``killpg`` at a random 0-30 ms after the start).

So every sandbox is started with ``--info-fd``: bwrap reports the PID 1's pid before it lets it
run, the grader opens a pidfd on it (checked to be bwrap's child, so never a recycled pid), and
:func:`end_sandbox` kills both bwrap's group and that PID 1 (whose death makes the kernel kill
every process of the namespace), then waits until the PID 1 is gone.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from typing import Any

__all__ = ["BwrapProcess", "start_sandbox", "end_sandbox", "kill_sandbox", "sweep_orphans"]

# How long bwrap may take to report its child.  It writes the report right after clone() and the
# uid map, so only a stalled machine comes near this; then the start counts as failed.
INFO_TIMEOUT = 20.0
# How long end_sandbox waits for the namespace's PID 1 to be gone.
GONE_TIMEOUT = 10.0


class BwrapProcess(subprocess.Popen):
    """A ``Popen`` of bwrap that also holds a pidfd on the sandbox's PID 1 (``init_fd``)."""

    init_fd: int | None = None
    init_pid: int | None = None


class _Silent(Exception):
    """bwrap neither reported nor closed the info pipe in time."""


def _read_info(fd: int, deadline: float) -> dict[str, Any] | None:
    """bwrap's ``--info-fd`` JSON; None at EOF without one (bwrap died before cloning).
    Raises :class:`_Silent` at the deadline."""
    data = b""
    while True:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(0.0, left))
        if not ready:
            raise _Silent
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        info = json.loads(data) if data else None
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def start_sandbox(argv: list[str], *, pass_fds: tuple[int, ...] = (), **popen: Any) -> BwrapProcess:
    """``Popen(argv)`` where ``argv[0]`` is bwrap, in a new session, with a pidfd on the sandbox's
    PID 1.  Raises OSError when bwrap does not report its child in time (it is then killed)."""
    info_r, info_w = os.pipe()
    try:
        proc = BwrapProcess([argv[0], "--info-fd", str(info_w), *argv[1:]], pass_fds=(*pass_fds, info_w),
                            start_new_session=True, **popen)
    except BaseException:
        os.close(info_r)
        os.close(info_w)
        raise
    os.close(info_w)
    try:
        info = _read_info(info_r, time.monotonic() + INFO_TIMEOUT)
    except _Silent:  # alive but silent: a stalled start is a failed start
        end_sandbox(proc)
        raise OSError(f"bwrap did not report its sandbox within {INFO_TIMEOUT:g} s") from None
    finally:
        os.close(info_r)
    pid = info.get("child-pid") if info else None
    if isinstance(pid, int) and pid > 1:
        try:
            fd = os.pidfd_open(pid)
        except OSError:  # already gone (bwrap failed) or pidfds unsupported
            fd = None
        # Only bwrap's own child: bwrap is not reaped yet, so its pid is still its own, and a
        # pid recycled after the child died would have another parent.
        if fd is not None and _parent_of(pid) != proc.pid:
            os.close(fd)
            fd = None
        proc.init_fd, proc.init_pid = fd, pid
    # else: bwrap closed the pipe without a report, so it died before cloning (a bad argument, no
    # namespaces here): nothing was started, and its exit status and stderr say why.
    return proc


def kill_sandbox(proc: BwrapProcess) -> None:
    """SIGKILL bwrap's group and the sandbox's PID 1 (the kernel then kills the namespace)."""
    if proc.returncode is None:  # once reaped, its pid (and group id) may belong to another process
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc.init_fd is not None:
        try:
            signal.pidfd_send_signal(proc.init_fd, signal.SIGKILL)
        except (ProcessLookupError, OSError):
            pass


def end_sandbox(proc: BwrapProcess, timeout: float = GONE_TIMEOUT) -> bool:
    """Kill, reap bwrap, and wait until the sandbox's PID 1 is gone (its pidfd turns readable
    only after the kernel killed the rest of the namespace).  True when it is known gone."""
    kill_sandbox(proc)
    proc.wait()
    fd, proc.init_fd = proc.init_fd, None
    if fd is None:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- a killed grader's sandboxes


def _owner_alive(leaf: str) -> bool:
    """Whether the grader process that made the leaf copy ``leaf`` still holds its owner lock."""
    import fcntl

    from .paths import owner_lock_path

    try:
        fd = os.open(owner_lock_path(leaf), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # removed at its exit (or never made): no grader owns it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True  # held: its grader is alive
    finally:
        os.close(fd)
    return False


def sweep_orphans() -> list[int]:
    """SIGKILL the bwrap processes of ravine sandboxes whose grader died without ending them.

    A grader killed with SIGKILL cannot end its sandboxes; bwrap's parent-death signal covers
    most of them, but not a sandbox caught in its start (bwrap's child waits for a go that never
    comes, or has left the group before arming the signal).  Such a process is recognised by its
    command line (bwrap, ``--hostname ravine``, a leaf copy bound on the leaf mount point) and
    killed when no live grader holds that leaf copy's owner lock.  Killing a sandbox's PID 1
    ends its namespace.  Returns the pids killed."""
    from .paths import _INSIDE_LEAF

    killed: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return killed
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"bwrap") or b"--" not in argv:
            continue
        options = argv[:argv.index(b"--")]
        pairs = list(zip(options, options[1:], options[2:]))
        if (b"--hostname", b"ravine") not in list(zip(options, options[1:])):
            continue
        leaves = [src for flag, src, dst in pairs if flag == b"--ro-bind" and dst == _INSIDE_LEAF.encode()]
        if len(leaves) != 1 or _owner_alive(os.fsdecode(leaves[0])):
            continue
        try:
            os.kill(int(entry), signal.SIGKILL)
            killed.append(int(entry))
        except OSError:
            pass
    return killed
