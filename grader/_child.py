"""The child process that runs student code.  A LEAF: stdlib and numpy only.

Started by ``grader/sandbox/process.py`` (inside its sandbox) as
``python -I -S -B <leaf dir>/_child.py CHANNEL_FD``, from a private copy of its leaf
files: this file, ``protocol.py`` (the channel's message table, shared with the grader),
``rollout.py`` and ``objectives.py``.  Its plan arrives on stdin (never in a file); stdin
is then replaced by /dev/null.  It never imports ravine's packages: the leaf files are
loaded *by file path* under private module names, and a meta-path blocker refuses
``grader``, ``solvers`` and ``problems``.

Everything it writes on the channel is *data* (positions, returned values, exception
text), one JSON object per line, built with ``protocol.message``; the parent validates
every message against the same table and takes all decisions.
"""

import base64
import importlib.util
import inspect
import json
import linecache
import math
import os
import resource
import signal
import sys
import time
import types
from typing import Any

_BLOCKED = ("grader", "solvers", "problems")
# Bound now: a submission that monkeypatches math or numpy cannot change these checks.
_isfinite = math.isfinite
_MAX_TEXT = 4000


class _Channel:
    """Newline-delimited JSON on a pipe; json.dumps and os.write are bound early so a
    submission that monkeypatches the json or os modules does not change what we send."""

    def __init__(self, fd, dumps=json.dumps, write=os.write, sigmask=signal.pthread_sigmask):
        self._fd = fd
        self._dumps = dumps
        self._write = write
        self._sigmask = sigmask

    def send(self, message):
        data = (self._dumps(message, allow_nan=False, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        # A cell's stop (SIGALRM) waits until the line is whole: a message sent from inside a
        # cell (a blocked import) is never cut in two.
        old = self._sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        try:
            while view:
                written = self._write(self._fd, view)
                view = view[written:]
        finally:
            self._sigmask(signal.SIG_SETMASK, old)


CHANNEL = None
PROTOCOL: Any = None  # the leaf protocol.py, loaded in main()
# Bound in main() before any student code runs: a submission that monkeypatches numpy
# (np.isfinite = ...) changes the module attribute, not these references.
SAFE: dict[str, Any] = {}
_OBJECTIVES: dict[str, Any] = {}  # spec (as JSON) -> Objective, so d = 1000 objectives are built once


class _Blocker:
    """Meta-path finder refusing the grader's own packages; reports each attempt at once."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if fullname.split(".", 1)[0] in _BLOCKED:
            try:
                CHANNEL.send(PROTOCOL.message("forbidden", module=str(fullname)[:200]))
            except Exception:
                pass
            raise ImportError(
                f"importing {fullname!r} is not allowed in a submission: it is the grader's own "
                "package, and using it earns no credit"
            )
        return None

    @staticmethod
    def invalidate_caches():
        return None


class _IPythonStandIn:
    """A harmless get_ipython(): every method is a no-op returning None."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None

    def __repr__(self):
        return "<ravine get_ipython() stand-in>"


_IPYTHON = _IPythonStandIn()


def _get_ipython():
    return _IPYTHON


def _display(*objs, **kwargs):
    return None


def _clip(text, limit=_MAX_TEXT):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 20] + " [... truncated]"


def _safe_str(exc):
    try:
        return str(exc)
    except Exception:
        return "<unprintable message>"


def _student_frames(tb, labels):
    """(label, line, function, source line) of the traceback frames in the student's code."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename in labels:
            line = linecache.getline(code.co_filename, tb.tb_lineno).strip()
            frames.append((code.co_filename, tb.tb_lineno, code.co_name, line))
        tb = tb.tb_next
    return frames


def _describe(exc, labels):
    """Student-facing text: 'Type: message' plus a traceback of the student's frames only."""
    head = f"{type(exc).__name__}: {_safe_str(exc)}"
    if isinstance(exc, SystemExit):
        head = f"SystemExit: sys.exit({exc.code!r}) was called"
    frames = _student_frames(exc.__traceback__, labels)
    lines = [head]
    if frames:
        lines.append("Traceback (your code only, most recent call last):")
        for label, lineno, name, text in frames[-8:]:
            where = f"  {label}, line {lineno}" + (f", in {name}" if name != "<module>" else "")
            lines.append(where)
            if text:
                lines.append(f"    {text}")
    return _clip("\n".join(lines)), frames


class _CellTimeout(BaseException):
    """Raised by SIGALRM inside a cell that ran past its budget.  A BaseException so that
    ``except Exception`` in the cell does not swallow it; a cell that swallows it anyway runs
    on until the grader's hard stop (the load budget for all cells together)."""


# The running cell's budget: {"budget", "start" (monotonic), "waited" (run delay at start, or None)}.
_CELL: dict[str, Any] = {}
_MAX_STRETCH = 4.0  # a starved cell gets at most this many budgets of wall-clock time


def _run_delay(os_open=os.open, os_read=os.read, os_close=os.close):
    """Seconds this thread spent runnable but waiting for a CPU (/proc/thread-self/schedstat),
    or None; the os functions are bound now, so a submission that patches them changes nothing."""
    try:
        fd = os_open("/proc/thread-self/schedstat", os.O_RDONLY)
        try:
            return int(os_read(fd, 200).split()[1]) / 1e9
        finally:
            os_close(fd)
    except Exception:
        return None


def _on_alarm(signum, frame, monotonic=time.monotonic, setitimer=signal.setitimer):
    """The cell's budget is over, unless part of that time the machine kept it from the CPU
    (other processes, other sandboxes): then the timer is set again for what is left."""
    now, waited = monotonic(), _run_delay()
    if _CELL and waited is not None and _CELL["waited"] is not None:
        elapsed = now - _CELL["start"]
        left = _CELL["budget"] - (elapsed - (waited - _CELL["waited"]))
        if left > 0.01 and elapsed + left <= _MAX_STRETCH * _CELL["budget"]:
            setitimer(signal.ITIMER_REAL, left)
            return
    raise _CellTimeout()


def _where(frames, label):
    """Where the innermost student frame was: ' at line L' (the cell's own top level), else
    ' in f (cell 2, line L)'."""
    if not frames:
        return ""
    f_label, f_line, f_name, _ = frames[-1]
    if f_label == label and f_name == "<module>":
        return f" at line {f_line}"
    if f_name == "<module>":
        return f" at {f_label}, line {f_line}"
    return f" in {f_name} ({f_label}, line {f_line})"


def _run_cell(code, ns, budget, monotonic=time.monotonic, setitimer=signal.setitimer):
    """exec one cell under a wall-clock budget (ITIMER_REAL, less the time it waited for a CPU);
    the timer is off on return."""
    try:
        _CELL.update(budget=budget, start=monotonic(), waited=_run_delay())
        setitimer(signal.ITIMER_REAL, budget)
        exec(code, ns)
    finally:
        setitimer(signal.ITIMER_REAL, 0)


def _load_leaf(name, path):
    if name in sys.modules:  # loaded by the zygote before it forked this child
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _forbidden_loaded():
    return sorted(m for m in list(sys.modules) if m.split(".", 1)[0] in _BLOCKED)


# --------------------------------------------------------------------------- values


def _encode_value(value, np):
    """A returned value as JSON data: bool/int/float/str, else {"repr", "type"}.

    A 0-d numeric numpy array (np.array(0.02)) counts as its scalar.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        number = int(value)
        if abs(number) < 10**300:
            return number
        return {"repr": _clip(repr(value), 200), "type": type(value).__name__}
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if _isfinite(number):
            return number
        return {"nonfinite": "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")}
    if isinstance(value, (str, np.str_)):
        return _clip(str(value), 1000)
    try:
        text = repr(value)
    except Exception:
        text = "<unrepresentable>"
    return {"repr": _clip(text, 500), "type": _clip(type(value).__name__, 100)}


def _b64(array):
    data = SAFE["ascontiguousarray"](array, dtype="<f8").tobytes()
    return base64.b64encode(data).decode("ascii")


def _objective(objectives, spec):
    key = json.dumps(spec, sort_keys=True)
    if key not in _OBJECTIVES:
        _OBJECTIVES[key] = objectives.build(spec)
    return _OBJECTIVES[key]


def _convert_arg(arg, np, objectives):
    if isinstance(arg, dict) and "matrix" in arg:
        return np.array(arg["matrix"], dtype=np.float64)
    if isinstance(arg, dict) and "objective" in arg:
        return np.array(_objective(objectives, arg["objective"]).hessian(), dtype=np.float64)
    return arg


# --------------------------------------------------------------------------- tasks


def _signature_problem(fn, args, inspect_mod):
    try:
        sig = inspect_mod.signature(fn)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(*args)
    except TypeError as exc:
        return f"{exc} (your function's signature is {getattr(fn, '__name__', '?')}{sig})"
    return None


def _run_task(task, ns, labels, np, rollout_mod, objectives, signatures):
    """Run one task with its kind's runner (RUNNERS); return the result message fields (data only)."""
    fn = ns.get(task["function"])
    if not callable(fn):
        return {"kind": PROTOCOL.Status.MISSING}
    runner = RUNNERS[task["runner"]]
    return runner(task, fn, labels, np, rollout_mod, objectives, signatures.get(task["function"], task["function"]))


def _run_call(task, fn, labels, np, rollout_mod, objectives, expected):
    args = [_convert_arg(a, np, objectives) for a in task["payload"]["args"]]
    problem = _signature_problem(fn, args, inspect)
    if problem:
        return {"kind": PROTOCOL.Status.CONTRACT, "message": f"expected {expected}: {problem}", "step": None}
    try:
        value = fn(*args)
    except BaseException as exc:  # noqa: BLE001 - foreign code: everything becomes data
        text, _ = _describe(exc, labels)
        return {"kind": PROTOCOL.Status.EXCEPTION, "exc_type": type(exc).__name__, "message": text, "step": None}
    return {"kind": "value", "value": _encode_value(value, np)}


def _run_trajectory(task, fn, labels, np, rollout_mod, objectives, expected):
    function = task["function"]
    payload = task["payload"]
    obj = _objective(objectives, payload["objective"])
    dtype = np.float32 if payload.get("dtype") == "float32" else np.float64
    x0 = np.array(payload["x0"], dtype=np.float64)
    lr = float(payload["lr"])
    beta = float(payload.get("beta", 0.0))
    steps = int(payload["steps"])
    grad = obj.grad

    def grad_fn(point):
        p = np.asarray(point)
        g = np.array(grad(np.asarray(p, dtype=np.float64)), dtype=np.float64)
        return g.astype(np.float32) if dtype is np.float32 else g

    # called: the student's function with its arrays cast to the check's dtype (one name per arity)
    if function == "sgd_step":
        dummy = (x0.astype(dtype), grad_fn, lr)

        def called_sgd(x, g, lr_):
            return fn(x.astype(dtype), g, lr_)

        called = called_sgd
    else:
        dummy = (x0.astype(dtype), np.zeros_like(x0, dtype=dtype), grad_fn, lr, beta)

        def called_momentum(x, v, g, lr_, beta_):
            return fn(x.astype(dtype), v.astype(dtype), g, lr_, beta_)

        called = called_momentum

    problem = _signature_problem(fn, dummy, inspect)
    if problem:
        return {"kind": PROTOCOL.Status.CONTRACT, "message": f"expected {expected}: {problem}", "step": 1}

    rule = rollout_mod.student_rule(function, called, lr=lr, beta=beta)
    record = []
    counter = {"step": 0}

    def init(x):
        record.append(np.array(x, dtype=np.float64))
        return rule.init(x)

    def step(x, state, g):
        counter["step"] += 1
        x_new, state_new = rule.step(x, state, g)
        record.append(np.array(x_new, dtype=np.float64))
        return x_new, state_new

    recording = rollout_mod.Rule(init, step)
    try:
        positions = rollout_mod.rollout(recording, x0, grad_fn, steps)
    except rollout_mod.NonFiniteError as exc:
        partial = SAFE["array"](record[: exc.step], dtype=np.float64).reshape(exc.step, x0.size)
        return {"kind": PROTOCOL.Status.NON_FINITE, "step": int(exc.step), "partial": _b64(partial)}
    except rollout_mod.ContractError as exc:
        return {"kind": PROTOCOL.Status.CONTRACT, "message": _clip(_safe_str(exc)), "step": counter["step"]}
    except BaseException as exc:  # noqa: BLE001
        text, _ = _describe(exc, labels)
        return {
            "kind": PROTOCOL.Status.EXCEPTION,
            "exc_type": type(exc).__name__,
            "message": text,
            "step": counter["step"] or None,
        }
    positions = SAFE["array"](positions, dtype=np.float64)
    finite = SAFE["isfinite"](positions).all(axis=1)  # rollout's own check may have been patched
    if not finite.all():
        t = int(SAFE["argmin"](finite))
        return {"kind": PROTOCOL.Status.NON_FINITE, "step": t, "partial": _b64(positions[:t])}
    return {"kind": "trajectory", "positions": _b64(positions)}


RUNNERS = {"call": _run_call, "trajectory": _run_trajectory}  # grader/sandbox/tasks.py: TASK_KINDS


# --------------------------------------------------------------------------- main


def _set_limits(limits, max_processes=None):
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


def _drop_capabilities(drop_uid=None):
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


def _forbid_signalling_the_grader():
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


def _pin_paths():
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


def _read_plan():
    """The plan from stdin (the parent writes it, then closes the pipe); stdin is then /dev/null."""
    chunks = []
    while True:
        data = os.read(0, 1 << 16)
        if not data:
            break
        chunks.append(data)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return json.loads(b"".join(chunks).decode("utf-8"))


def _copy_font_cache(template, target):
    """matplotlib's font cache, copied from the grader's template into our own config dir."""
    try:
        os.makedirs(target, exist_ok=True)
        if template:
            for name in os.listdir(template):
                if name.startswith("fontlist-") and name.endswith(".json"):
                    with open(os.path.join(template, name), "rb") as src:
                        data = src.read()
                    with open(os.path.join(target, name), "wb") as dst:
                        dst.write(data)
    except OSError:
        pass


def main(argv):
    global CHANNEL, PROTOCOL
    channel_fd = int(argv[1])
    here = os.path.dirname(os.path.abspath(__file__))
    PROTOCOL = _load_leaf("_ravine_protocol", os.path.join(here, "protocol.py"))
    CHANNEL = _Channel(channel_fd)
    plan = _read_plan()
    sys.path[:] = list(plan["sys_path"])
    sys.meta_path.insert(0, _Blocker)

    import numpy as np

    SAFE.update(
        array=np.array, ascontiguousarray=np.ascontiguousarray, isfinite=np.isfinite,
        argmin=np.argmin,
    )

    rollout_mod = _load_leaf("_ravine_rollout", os.path.join(here, "rollout.py"))
    objectives = _load_leaf("_ravine_objectives", os.path.join(here, "objectives.py"))
    signatures = dict(plan["signatures"])
    _copy_font_cache(plan.get("mpl_template"), plan["mpl_dir"])
    _set_limits(plan["limits"], plan.get("max_processes"))
    if plan.get("drop_uid") is not None:
        _pin_paths()
    _drop_capabilities(plan.get("drop_uid"))
    _forbid_signalling_the_grader()
    try:  # so that prints before a hang or a crash still reach the parent
        sys.stdout.reconfigure(line_buffering=True)
    except Exception:
        pass
    CHANNEL.send(PROTOCOL.message("ready"))

    module = types.ModuleType("submission")
    module.__dict__.update({"get_ipython": _get_ipython, "display": _display})
    sys.modules["submission"] = module
    ns = module.__dict__
    labels = set()
    reported = set()

    def check_modules():
        for name in _forbidden_loaded():
            if name not in reported:
                reported.add(name)
                CHANNEL.send(PROTOCOL.message("forbidden", module=name[:200]))

    budget = float(plan["cell_timeout"])
    several = len(plan["cells"]) > 1
    signal.signal(signal.SIGALRM, _on_alarm)
    for cell in plan["cells"]:
        label = cell["label"]
        if cell["error"]:
            CHANNEL.send(PROTOCOL.message("load_message", text=_clip(cell["error"])))
            continue
        if not cell["source"].strip():
            continue
        labels.add(label)
        lines = cell["source"].splitlines(keepends=True)
        linecache.cache[label] = (len(cell["source"]), None, lines, label)
        CHANNEL.send(PROTOCOL.message("cell", label=label))
        try:
            code = compile(cell["source"], label, "exec", dont_inherit=True)
            _run_cell(code, ns, budget)
        except _CellTimeout as exc:  # what the cell did before it was stopped stays
            _, frames = _describe(exc, labels)
            later = "; the cells after it still run" if several else ""
            CHANNEL.send(PROTOCOL.message("load_message", text=_clip(
                f"{label} took longer than {budget:g} s and was stopped{_where(frames, label)}{later}")))
        except BaseException as exc:  # noqa: BLE001 - a cell that raises is reported, later cells run
            text, frames = _describe(exc, labels)
            head = text.splitlines()[0]
            where = ""
            if frames:
                f_label, f_line, f_name, _ = frames[-1]
                where = f" ({f_label}, line {f_line}" + (
                    f", in {f_name})" if f_name != "<module>" else ")"
                )
            CHANNEL.send(PROTOCOL.message("load_message", text=_clip(f"{label} raised {head}{where}")))
        finally:
            # student code may have replaced the streams; keep ours usable
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:
                pass
    signal.setitimer(signal.ITIMER_REAL, 0)
    if signal.getsignal(signal.SIGALRM) is _on_alarm:  # an alarm the student set later is theirs
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
    check_modules()
    defined = [name for name in plan["contract"] if callable(ns.get(name))]
    CHANNEL.send(PROTOCOL.message("loaded", defined=defined))

    for task in plan["tasks"]:
        CHANNEL.send(PROTOCOL.message("start", task=task["id"]))
        began = time.perf_counter()
        try:
            fields = _run_task(task, ns, labels, np, rollout_mod, objectives, signatures)
        except MemoryError:  # e.g. encoding the result after the student hoarded memory
            fields = {"kind": "exception", "exc_type": "MemoryError",
                      "message": "MemoryError", "step": None}
        seconds = time.perf_counter() - began
        check_modules()
        CHANNEL.send(PROTOCOL.message("result", task=task["id"], seconds=seconds, **fields))
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    try:
        sys.__stdout__.flush()
        sys.__stderr__.flush()
    except Exception:
        pass
    CHANNEL.send(PROTOCOL.message("done"))
    os._exit(0)  # skip the student's atexit handlers; the parent kills the process group


# --------------------------------------------------------------------------- the zygote


def zygote(ctrl_fd):
    """namespaces mode, one sandbox per submission: this process imports numpy once, then forks
    one child per request of the grader (public checks first, then hidden ones), and between two
    children kills every other process of the sandbox.

    It never holds a plan: each request carries only descriptors (the child's stdout, stderr,
    channel and the read end of the pipe its plan arrives on), passed with SCM_RIGHTS; the grader
    writes a plan only after this process reported the previous child gone (and every process
    of the sandbox with it).  It runs no student code and is non-dumpable, so a child's
    processes cannot read or write its memory; the child's seccomp filter refuses signals to it
    (x86_64).  If it stops answering anyway, the grader notices (no acknowledgement of a fork, no
    exit report), writes no plan to it, and starts a fresh sandbox."""
    import select
    import socket

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back here, to be reaped
    except Exception:
        pass
    sock = socket.socket(fileno=ctrl_fd)
    boot = json.loads(sock.recv(1 << 16).decode("utf-8"))
    sys.path[:] = list(boot["sys_path"])
    import numpy  # noqa: F401 - the point of the zygote: imported once, before any fork

    here = os.path.dirname(os.path.abspath(__file__))
    for name, leaf in (("_ravine_protocol", "protocol.py"), ("_ravine_rollout", "rollout.py"),
                       ("_ravine_objectives", "objectives.py")):
        _load_leaf(name, os.path.join(here, leaf))
    sock.sendall(b'{"ready": true}\n')

    def reap_all():
        try:
            os.kill(-1, signal.SIGKILL)  # every process of this PID namespace but init and us
        except OSError:
            pass
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return
            except InterruptedError:
                continue

    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 4096, 4)
        except OSError:
            data, fds = b"", []
        if not data:  # the grader is gone
            reap_all()
            os._exit(0)
        if len(fds) != 4:  # a late kill request: nothing runs
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            try:
                sock.close()
                out, err, channel, plan = fds
                os.dup2(plan, 0)
                os.dup2(out, 1)
                os.dup2(err, 2)
                for fd in (plan, out, err):
                    os.close(fd)
                os.setsid()
                sys.argv[:] = ["_child.py", str(channel)]
                main(sys.argv)
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        sock.sendall(b'{"forked": true}\n')  # the grader writes the plan only after this
        status = None
        while status is None:
            ready, _, _ = select.select([sock], [], [], 0.02)
            if ready:
                try:
                    request = sock.recv(4096)
                except OSError:
                    request = b""
                if not request:  # the grader is gone
                    reap_all()
                    os._exit(0)
                # any request while a child runs means: kill it
                os.kill(-1, signal.SIGKILL)
            try:
                done, raw = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, raw = pid, 0
            if done:
                status = os.waitstatus_to_exitcode(raw) if done == pid else 0
        reap_all()
        sock.sendall(json.dumps({"exit": status}).encode() + b"\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]))
    else:
        main(sys.argv)
