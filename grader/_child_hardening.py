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
    pidfd_send_signal fail with EPERM.  So do unshare(), setns() and a clone() that asks for a
    new namespace: a process in a user + PID namespace of its own would be out of reach of the
    sandbox's kills (uid mode allows unprivileged user namespaces where the kernel does); clone3
    fails with ENOSYS (its flags are in memory a filter cannot read), so the C library falls back
    to clone.  Inherited by everything the submission starts, setsid escapees included.  Other
    processes can still be signalled by pid (a known limit)."""
    try:
        import ctypes
        import platform

        if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
            return
        ppid, own = os.getppid(), os.getpgrp()
        allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
        enosys = 0x00050000 | 38  # SECCOMP_RET_ERRNO | ENOSYS
        ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
        # CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
        new_namespace = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 \
            | 0x40000000 | 0x00000080

        # (label or None, code, jump if true, jump if false, k); jumps name a label ("" = next)
        asm = [
            (None, ld, "", "", 4),                        # arch
            (None, jeq, "", "deny", 0xC000003E),          # x86_64 only (int 0x80: refused)
            (None, ld, "", "", 0),                        # syscall number
            (None, jge, "deny", "", 0x40000000),          # x32 ABI
            (None, jeq, "kill", "", 62),                  # kill
            (None, jeq, "tkill", "", 200),                # tkill
            (None, jeq, "tkill", "", 234),                # tgkill
            (None, jeq, "deny", "", 424),                 # pidfd_send_signal
            (None, jeq, "deny", "", 272),                 # unshare
            (None, jeq, "deny", "", 308),                 # setns
            (None, jeq, "enosys", "", 435),               # clone3
            (None, jeq, "clone", "allow", 56),            # clone
            ("kill", ld, "", "", 16),                     # kill: pid (low 32 bits of args[0])
            (None, jeq, "deny", "", ppid),                # the grader
            (None, jeq, "allow", "", 0),                  # own group
            (None, jeq, "allow", "", (-own) & 0xFFFFFFFF),  # own group by id
            (None, jset, "deny", "allow", 0x80000000),    # another group, or -1
            ("tkill", ld, "", "", 16),                    # tkill/tgkill: tid / tgid
            (None, jeq, "deny", "allow", ppid),           # the grader
            ("clone", ld, "", "", 16),                    # clone: flags (args[0])
            (None, jset, "deny", "allow", new_namespace),  # a new namespace
            ("deny", ret, "", "", deny),
            ("enosys", ret, "", "", enosys),
            ("allow", ret, "", "", allow),
        ]
        where = {label: i for i, (label, *_rest) in enumerate(asm) if label}

        def offset(i, target):
            return 0 if target == "" else where[target] - i - 1

        prog = [(code, offset(i, jt), offset(i, jf), k) for i, (_, code, jt, jf, k) in enumerate(asm)]

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
