"""Was a sandbox starved of CPU?  The scheduler's run delay of its processes, read from /proc
only when a deadline is reached (``supervisor._Child._stretch``)."""

from __future__ import annotations

import os

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

