"""Running the student's cells in the child.  A LEAF: stdlib only.

Loaded by ``grader/_child.py`` by file path (a private copy next to it, under the module name
``_ravine_cells``), like ``protocol.py``; it never imports ravine's packages.  It holds the
notebook stand-ins (``get_ipython``, ``display``), the student-facing error text (``describe``:
the student's own frames only) and ``run_cells``: each cell under its own wall-clock budget
(SIGALRM, less the time it waited for a CPU); a cell that raises or runs out is reported and the
later cells still run.
"""

import linecache
import os
import signal
import sys
import time
from typing import Any

_MAX_TEXT = 4000


class _IPythonStandIn:
    """A harmless get_ipython(): every method is a no-op returning None."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None

    def __repr__(self):
        return "<ravine get_ipython() stand-in>"


_IPYTHON = _IPythonStandIn()


def get_ipython():
    return _IPYTHON


def display(*objs, **kwargs):
    return None


def clip(text, limit=_MAX_TEXT):
    text = str(text)
    return text if len(text) <= limit else text[: limit - 20] + " [... truncated]"


def safe_str(exc):
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


def describe(exc, labels):
    """Student-facing text: 'Type: message' plus a traceback of the student's frames only."""
    head = f"{type(exc).__name__}: {safe_str(exc)}"
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
    return clip("\n".join(lines)), frames


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


def run_cells(cells, ns, labels, budget, send, message):
    """exec the plan's cells into ``ns`` in order; every student-facing line goes out through
    ``send(message("load_message", text=...))``.  The alarm is ours only while the cells run."""
    several = len(cells) > 1
    signal.signal(signal.SIGALRM, _on_alarm)
    for cell in cells:
        label = cell["label"]
        if cell["error"]:
            send(message("load_message", text=clip(cell["error"])))
            continue
        if not cell["source"].strip():
            continue
        labels.add(label)
        lines = cell["source"].splitlines(keepends=True)
        linecache.cache[label] = (len(cell["source"]), None, lines, label)
        send(message("cell", label=label))
        try:
            code = compile(cell["source"], label, "exec", dont_inherit=True)
            _run_cell(code, ns, budget)
        except _CellTimeout as exc:  # what the cell did before it was stopped stays
            _, frames = describe(exc, labels)
            later = "; the cells after it still run" if several else ""
            send(message("load_message", text=clip(
                f"{label} took longer than {budget:g} s and was stopped{_where(frames, label)}{later}")))
        except BaseException as exc:  # noqa: BLE001 - a cell that raises is reported, later cells run
            text, frames = describe(exc, labels)
            head = text.splitlines()[0]
            where = ""
            if frames:
                f_label, f_line, f_name, _ = frames[-1]
                where = f" ({f_label}, line {f_line}" + (
                    f", in {f_name})" if f_name != "<module>" else ")"
                )
            send(message("load_message", text=clip(f"{label} raised {head}{where}")))
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
