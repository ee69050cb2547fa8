"""The child's hardening before student code runs.  A LEAF: stdlib only.

Loaded by ``grader/_child.py`` by file path (a private copy next to it, under the module name
``_ravine_hardening``), like ``protocol.py``; it never imports ravine's packages.  In order:
``set_limits`` (rlimits), ``pin_paths`` (uid mode: import directories opened by descriptor),
``drop_capabilities`` (capabilities, non-dumpable, the sandbox uid) and
``forbid_signalling_the_grader`` (a seccomp filter).
"""

import os
import resource
import signal
import sys


def set_limits(limits, max_processes=None):
    def lower(which, value):
        soft, hard = resource.getrlimit(which)
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    lower(resource.RLIMIT_CORE, 0)
    lower(resource.RLIMIT_FSIZE, limits["file_size_bytes"])
    lower(resource.RLIMIT_AS, limits["memory_bytes"])
    if max_processes:  # namespaces / uid modes: the count is this sandbox's (uid's) own
        lower(resource.RLIMIT_NPROC, max_processes)
    # Writing past RLIMIT_FSIZE raises OSError(EFBIG) instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def drop_capabilities(drop_uid=None):
    """Give up every Linux capability before student code runs (best effort, Linux only).

    The grader often runs as root; a root child with capabilities could raise its own
    RLIMIT_AS back (CAP_SYS_RESOURCE) and read the grader's environment, memory and open
    files through /proc/<ppid> (CAP_SYS_PTRACE; the parent makes itself non-dumpable, see
    sandbox._protect_parent).  The bounding set is emptied too, so a program the student
    starts does not get them back at execve, and no_new_privs forbids set-uid gains.
    The child makes itself non-dumpable as well (against other children of a batch).
    With ``drop_uid`` (uid mode, started as root) it then gives up root for good: no
    supplementary groups, gid and uid ``drop_uid`` (real, effective and saved).  A failure
    to drop is fatal: no student code runs as root by accident.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        # Non-dumpable: another submission's child (same uid, no capabilities) cannot read or
        # write this one's memory through /proc/<pid>/mem nor ptrace it.
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
        for cap in range(64):
            libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (EINVAL past the last capability)
        if drop_uid is not None:
            os.setgroups([])
            os.setresgid(drop_uid, drop_uid, drop_uid)
            os.setresuid(drop_uid, drop_uid, drop_uid)
            libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0 again (a uid change resets it)

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        libc.capset(ctypes.byref(header), (Data * 2)())  # all zero: no capability left
    except Exception:  # not Linux, no libc: the rlimits still apply
        if drop_uid is not None:
            raise
    if drop_uid is not None and (os.getuid(), os.geteuid(), os.getgid()) != (drop_uid,) * 3:
        raise SystemExit("could not drop to the sandbox uid")


def forbid_signalling_the_grader():
    """A seccomp filter (x86_64 Linux only, best effort): kill/tkill/tgkill aimed at the grader
    (the parent), kill() of any process group but the child's own (kill(-1) included) and
    pidfd_send_signal fail with EPERM.  Inherited by everything the submission starts, setsid
    escapees included.  Other processes can still be signalled by pid (a known limit)."""
    try:
        import ctypes
        import platform

        if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
            return
        ppid, own = os.getppid(), os.getpgrp()
        allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
        ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06

        # (code, jt, jf, k); jumps count instructions after the next one
        prog = [
            (ld, 0, 0, 4),                        # 0  arch
            (jeq, 1, 0, 0xC000003E),              # 1  x86_64 -> 3
            (ret, 0, 0, deny),                    # 2  any other ABI (int 0x80): refused
            (ld, 0, 0, 0),                        # 3  syscall number
            (jge, 13, 0, 0x40000000),             # 4  x32 ABI -> DENY (18)
            (jeq, 4, 0, 62),                      # 5  kill -> 10
            (jeq, 9, 0, 200),                     # 6  tkill -> 16
            (jeq, 8, 0, 234),                     # 7  tgkill -> 16
            (jeq, 9, 0, 424),                     # 8  pidfd_send_signal -> DENY (18)
            (ret, 0, 0, allow),                   # 9
            (ld, 0, 0, 16),                       # 10 kill: pid (low 32 bits of args[0])
            (jeq, 6, 0, ppid),                    # 11 the grader -> DENY
            (jeq, 6, 0, 0),                       # 12 own group -> ALLOW (19)
            (jeq, 5, 0, (-own) & 0xFFFFFFFF),     # 13 own group by id -> ALLOW
            (jset, 3, 0, 0x80000000),             # 14 another group, or -1 -> DENY
            (ret, 0, 0, allow),                   # 15
            (ld, 0, 0, 16),                       # 16 tkill/tgkill: tid / tgid
            (jeq, 0, 1, ppid),                    # 17 the grader -> 18, else 19
            (ret, 0, 0, deny),                    # 18 DENY
            (ret, 0, 0, allow),                   # 19 ALLOW
        ]

        class Filter(ctypes.Structure):
            _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                        ("k", ctypes.c_uint32)]

        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Filter))]

        filters = (Filter * len(prog))(*[Filter(*ins) for ins in prog])
        program = Prog(len(prog), ctypes.cast(filters, ctypes.POINTER(Filter)))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS (required for an unprivileged filter)
        libc.prctl(22, 2, ctypes.byref(program), 0, 0)  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    except Exception:
        pass


def pin_paths():
    """uid mode: the interpreter may live where the sandbox uid cannot go (here under /root,
    mode 0700).  Before giving up root, every import directory is opened and named through its
    descriptor (/proc/self/fd/N), in sys.path and in the __path__ of loaded packages, so that
    later imports (the student's, numpy's lazy ones) still work; the directories themselves stay
    closed to other paths."""
    pinned = {}
    for entry in list(sys.path):
        try:
            real = os.path.realpath(entry)
            fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        pinned[real] = f"/proc/self/fd/{fd}"
    sys.path[:] = [pinned.get(os.path.realpath(e), e) for e in sys.path]
    for module in list(sys.modules.values()):
        paths = getattr(module, "__path__", None)
        if not isinstance(paths, list):
            continue
        new = []
        for p in paths:
            real = os.path.realpath(p)
            for root, alias in pinned.items():
                if real == root or real.startswith(root + os.sep):
                    real = alias + real[len(root):]
                    break
            new.append(real)
        try:
            module.__path__[:] = new
        except Exception:
            pass
    sys.path_importer_cache.clear()
