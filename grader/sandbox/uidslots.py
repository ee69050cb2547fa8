"""uid mode: a distinct uid per concurrent child (slots locked across grader processes), the
lock that lets a private child run alone, and the sweep of everything a uid left behind."""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import subprocess
import tempfile
import threading

UID_BASE = 61000  # uid mode: the child of slot k runs as UID_BASE + k
UID_SLOTS = 64

# --------------------------------------------------------------------------- uid slots


_SLOT_LOCK = threading.Lock()
_SLOTS_HELD: dict[int, int] = {}  # slot -> lock file descriptor


# One place for every grader process on the machine, whatever its TMPDIR (``ravine grade`` points
# tempfile at a per-batch folder): locks in two places would let two graders share a uid, and each
# would then kill the other's children when it clears its uid.
SLOT_DIR_BASES = ("/run", "/tmp")


def _slot_dir() -> str:
    base = next((b for b in SLOT_DIR_BASES if os.access(b, os.W_OK | os.X_OK)), tempfile.gettempdir())
    d = os.path.join(base, f"ravine-uid-slots-{os.geteuid()}")
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

