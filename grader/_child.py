"""The child process that runs student code.  A LEAF: stdlib and numpy only.

Started by ``grader/sandbox/process.py`` (inside its sandbox) as
``python -I -S -B <leaf dir>/_child.py CHANNEL_FD``, from a private copy of its leaf
files: this file, ``protocol.py`` (the channel's message table, shared with the grader),
``_child_cells.py`` (the cells and their budget), ``_child_hardening.py`` (rlimits,
capabilities, uid, seccomp), ``rollout.py`` and ``objectives.py``.  Its plan arrives on
stdin (never in a file); stdin is then replaced by /dev/null.  It never imports ravine's packages: the leaf files are
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
import math
import os
import signal
import sys
import time
import types
from typing import Any

_BLOCKED = ("grader", "solvers", "problems")
# Bound now: a submission that monkeypatches math or numpy cannot change these checks.
_isfinite = math.isfinite


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
CELLS: Any = None  # the leaf _child_cells.py (cells, their budget, student-facing error text)
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
        return {"repr": CELLS.clip(repr(value), 200), "type": type(value).__name__}
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if _isfinite(number):
            return number
        return {"nonfinite": "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")}
    if isinstance(value, (str, np.str_)):
        return CELLS.clip(str(value), 1000)
    try:
        text = repr(value)
    except Exception:
        text = "<unrepresentable>"
    return {"repr": CELLS.clip(text, 500), "type": CELLS.clip(type(value).__name__, 100)}


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
        text, _ = CELLS.describe(exc, labels)
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
        return {"kind": PROTOCOL.Status.CONTRACT, "message": CELLS.clip(CELLS.safe_str(exc)),
                "step": counter["step"]}
    except BaseException as exc:  # noqa: BLE001
        text, _ = CELLS.describe(exc, labels)
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
    global CHANNEL, PROTOCOL, CELLS
    channel_fd = int(argv[1])
    here = os.path.dirname(os.path.abspath(__file__))
    PROTOCOL = _load_leaf("_ravine_protocol", os.path.join(here, "protocol.py"))
    CELLS = _load_leaf("_ravine_cells", os.path.join(here, "_child_cells.py"))
    hardening = _load_leaf("_ravine_hardening", os.path.join(here, "_child_hardening.py"))
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
    hardening.set_limits(plan["limits"], plan.get("max_processes"))
    if plan.get("drop_uid") is not None:
        hardening.pin_paths()
    hardening.drop_capabilities(plan.get("drop_uid"))
    hardening.forbid_signalling_the_grader()
    try:  # so that prints before a hang or a crash still reach the parent
        sys.stdout.reconfigure(line_buffering=True)
    except Exception:
        pass
    CHANNEL.send(PROTOCOL.message("ready"))

    module = types.ModuleType("submission")
    module.__dict__.update({"get_ipython": CELLS.get_ipython, "display": CELLS.display})
    sys.modules["submission"] = module
    ns = module.__dict__
    labels = set()
    reported = set()

    def check_modules():
        for name in _forbidden_loaded():
            if name not in reported:
                reported.add(name)
                CHANNEL.send(PROTOCOL.message("forbidden", module=name[:200]))

    CELLS.run_cells(plan["cells"], ns, labels, float(plan["cell_timeout"]), CHANNEL.send, PROTOCOL.message)
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
    for name, leaf in (("_ravine_protocol", "protocol.py"), ("_ravine_cells", "_child_cells.py"),
                       ("_ravine_hardening", "_child_hardening.py"), ("_ravine_rollout", "rollout.py"),
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
