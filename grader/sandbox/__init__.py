"""Running student code in a sandboxed child process (parent side).

``run_submission(sub, tasks, limits)`` starts ``grader/_child.py`` (a private copy of it) in
a sandbox (``process``: bubblewrap namespaces, a dedicated uid, or a plain process, see
``--isolation``), sends it its plan on stdin, and turns everything the child does into
:class:`Outcome` values -- a call into foreign code becomes a value, never an exception out
of the grader.

The child only *reports data* on a private pipe (newline-delimited JSON, never pickle,
``protocol``'s table); the supervisor validates every message strictly, decodes each result
at once into an :class:`Outcome` and decides every status (one vocabulary: ``Status``).  Tasks are run function by function; each function has one wall-clock budget for
all its tasks.  A function that hangs or kills the process costs that function only: the
sandbox is killed and a fresh child re-runs the module for the remaining functions.

Modules: ``process`` (launch, limits, kill; knows nothing of tasks; with ``paths``,
``uidslots``, ``starvation`` and ``zygote``), ``protocol`` (the
channel's messages, loaded by both sides), ``tasks`` (the task kinds' table), ``failures``
(the failure kinds' table), ``supervisor`` (one child's channel and phases).
"""

from __future__ import annotations

import time
from typing import Sequence

from grader.submission import Submission

from .failures import FAILURES, INTERFERENCE
from .model import ISOLATION_MODES, SIGNATURES, Forbidden, Limits, Outcome, RunReport, Task
from .process import Isolation, IsolationError, protect_parent, resolve
from .protocol import Status
from .supervisor import _Child, _Output, uses_matplotlib
from .tasks import check_task
from .zygote import ZygoteSession

__all__ = [
    "Limits",
    "Task",
    "Outcome",
    "RunReport",
    "Status",
    "Forbidden",
    "SIGNATURES",
    "INTERFERENCE",
    "ISOLATION_MODES",
    "Isolation",
    "IsolationError",
    "resolve",
    "open_session",
    "run_submission",
]


def _ordered(tasks: list[Task]) -> list[Task]:
    """Tasks grouped by function (functions in order of first appearance), order kept within."""
    order: dict[str, list[Task]] = {}
    for t in tasks:
        order.setdefault(t.function, []).append(t)
    return [t for group in order.values() for t in group]


def open_session(sub: Submission, limits: Limits = Limits()) -> ZygoteSession | None:
    """One sandbox for all the children of a submission (namespaces mode; None otherwise): pass
    it to every ``run_submission`` of that submission, then ``close()`` it."""
    isolation = resolve(limits.isolation)
    if isolation.mode != "namespaces":
        return None
    return ZygoteSession(isolation, limits, uses_matplotlib(sub))


def run_submission(sub: Submission, tasks: Sequence[Task], limits: Limits = Limits(), *,
                   private: bool = False, session: ZygoteSession | None = None) -> RunReport:
    """Run ``tasks`` against a loaded submission in sandboxed child processes.

    ``private``: the tasks hold inputs no other child may learn (hidden checks): in uid mode
    such a child runs while no other child runs (``uidslots.ALONE``).  ``session``: the
    submission's sandbox (``open_session``); without one, every child gets a sandbox of its own.

    Returns a :class:`RunReport` with one :class:`Outcome` per task, always.
    Raises ValueError only for a malformed plan (a grader bug, never the student's), and
    IsolationError when ``limits.isolation`` names a mode this machine cannot provide.
    """
    began = time.monotonic()
    isolation = resolve(limits.isolation)
    protect_parent()
    given = list(tasks)
    for t in given:
        check_task(t)
    ids = [t.id for t in given]
    if len(set(ids)) != len(ids):
        raise ValueError("task ids must be unique in a plan")
    ordered = _ordered(given)
    functions = list(dict.fromkeys(t.function for t in ordered))
    outcomes: dict[str, Outcome] = {}
    load_messages: list[str] = []
    defined: list[str] = []
    runtime_forbidden: list[Forbidden] = []
    out, err = _Output(limits.output_bytes), _Output(limits.output_bytes)
    max_spawns = limits.max_spawns or len(functions) + 2
    spawns = 0
    first = True

    def settle(fn: str | None, status: Status, message: str) -> None:
        for t in ordered:
            if t.id not in outcomes and (fn is None or t.function == fn):
                outcomes[t.id] = Outcome(t.id, status, message=message)

    # static scan: decided before anything runs
    static = [Forbidden(m, where) for m, where in sub.forbidden]  # the static scan's (module, where)
    static_top = [f.module for f in static if f.where == ""]
    for t in ordered:
        if static_top:
            reason = f"imports {static_top[0]} (a package of the grader) at module level"
        else:
            mods = [f.module for f in static if f.where == t.function]
            if not mods:
                continue
            reason = f"imports {mods[0]} (a package of the grader) inside {t.function}"
        outcomes[t.id] = Outcome(
            t.id, Status.FORBIDDEN, message=f"the submission {reason}; {t.function} gets no credit"
        )

    while True:
        pending = [t for t in ordered if t.id not in outcomes]
        if not first and not pending:
            break
        if spawns >= max_spawns:
            settle(None, Status.CRASH, f"not run: the grader gave up after {spawns} restarts of the child")
            break
        child = _Child(sub, pending, limits, out, err, isolation, private, session)
        res = child.run()
        spawns += 1
        outcomes.update(res.outcomes)
        runtime_forbidden.extend(res.forbidden)
        if first:
            load_messages.extend(res.load_messages)
            if res.dropped_messages:
                load_messages.append(f"[... {res.dropped_messages} more messages from loading were dropped]")
            defined = list(res.defined)
        first = False
        if any(f.where == "" for f in res.forbidden):
            break
        if res.failure is None:
            continue
        failure = FAILURES[res.failure]
        words = {"fn": res.failed_function, "how": res.how, "function_timeout": limits.function_timeout,
                 "load_timeout": limits.load_timeout, "cell_timeout": limits.cell_timeout,
                 "cell": res.cell or "its top-level code",
                 "past_budget": (f" (past its own {limits.cell_timeout:g} s budget)"
                                 if limits.cell_timeout < limits.load_timeout else "")}
        if failure.stop:
            load_messages.append(failure.load.format(**words))
            settle(None, failure.status, failure.message.format(**words))
            break
        settle(res.failed_function, failure.status, failure.message.format(**words))

    # runtime attempts to import the grader's packages: reported at once by the child
    report_forbidden = list(dict.fromkeys(runtime_forbidden))
    at_load = [f.module for f in runtime_forbidden if f.where == ""]
    for t in ordered:
        during = [f.module for f in runtime_forbidden if f.where == t.function]
        if not (at_load or during):
            continue
        when = f"{at_load[0]} (a package of the grader) at load" if at_load else (
            f"{during[0]} (a package of the grader) while {t.function} ran"
        )
        outcomes[t.id] = Outcome(
            t.id,
            Status.FORBIDDEN,
            message=f"the submission imported {when}; {t.function} gets no credit",
            seconds=outcomes[t.id].seconds if t.id in outcomes else 0.0,
        )
    settle(None, Status.CRASH, "not run")  # never a missing key
    return RunReport(
        outcomes={t.id: outcomes[t.id] for t in given},
        load_messages=load_messages,
        defined=defined,
        stdout=out.text(),
        stderr=err.text(),
        forbidden=report_forbidden,
        spawns=spawns,
        seconds=time.monotonic() - began,
        isolation=isolation.record(),
    )
