"""How a child's run can end badly, as ONE table: failure kind -> (status, message, stop).

A failure kind (the key) says where the child was when it went wrong; its ``Status`` is what
the tasks it takes down get.

``stop``: the failure ends the whole run (every task not yet decided gets ``status`` and
``message``, and ``load`` is added to the submission's load messages); otherwise only the
failed function's remaining tasks get them and a fresh child runs the other functions.
Messages are formatted with ``fn`` (the function), ``how`` (exit status / signal text) and
the limits (``function_timeout``, ``load_timeout``, ``cell_timeout``) and ``cell`` (the label of the
cell that was running when loading was stopped: ``cell 3``, or the ``.py`` file's name) with
``past_budget`` (" (past its own 5 s budget)", or "" when that budget is not below the load's).
"""

from __future__ import annotations

from dataclasses import dataclass

from .protocol import Status

INTERFERENCE = "the submission interfered with the grader's channel"


@dataclass(frozen=True)
class Failure:
    status: Status
    message: str
    stop: bool
    load: str = ""  # the load message, for failures that stop the run


# The hard stop: a cell over its own budget (cell_timeout) is stopped inside the child and
# reported by it; this is what remains when a cell ignores that (catches it, a long C call).
_LOAD_TIMEOUT = ("process killed during load: loading did not finish within {load_timeout:g} s, the hard "
                 "limit for all cells together; {cell} was still running{past_budget}, so nothing the "
                 "submission defines could be checked")

FAILURES: dict[str, Failure] = {
    "boot-crash": Failure(Status.CRASH, "not run: the grader could not start the child process ({how})", True,
                          "the grader could not start the child process: {how}"),
    "load-timeout": Failure(Status.TIMEOUT, "not run: " + _LOAD_TIMEOUT, True, _LOAD_TIMEOUT),
    "load-crash": Failure(Status.CRASH, "not run: process killed during load: {how}", True,
                          "process killed during load: {how}"),
    "load-interference": Failure(Status.CRASH, f"not run: {INTERFERENCE} while loading", True,
                                 f"{INTERFERENCE} while loading"),
    "timeout": Failure(Status.TIMEOUT, "{fn} did not finish within {function_timeout:g} s (the budget for all "
                       "its checks together) and was stopped; look for an infinite loop or very slow code",
                       False),
    "crash": Failure(Status.CRASH, "the process running {fn} died: {how}", False),
    "interference": Failure(Status.CRASH, f"{INTERFERENCE} while {{fn}} ran", False),
}
