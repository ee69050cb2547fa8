"""The channel between child and grader: the protocol table, strict validation of every
message, the task kinds' table.

Every run here starts real child processes with small limits, so the file stays fast.
"""

from __future__ import annotations

import ast
import base64
import json
import math

import numpy as np
import pytest

from grader.sandbox import Status, supervisor
from sandbox_common import ROOT, STEPS, _call, _child_for, _traj


# --------------------------------------------------------------------------- the channel, strictly


def _line(obj) -> bytes:
    return json.dumps(obj).encode()


def _b64(rows) -> str:
    return base64.b64encode(np.asarray(rows, dtype="<f8").tobytes()).decode("ascii")


GOOD_POSITIONS = _b64([[1.0, 1.0]] * (STEPS + 1))
FORGED = [
    b"not json",
    b'{"type": "start", "task": NaN}',
    b'{"type": "start", "task": "sgd", "x": 1}',
    _line({"type": "hello"}),
    _line(["start"]),
    _line({"type": "start", "task": "unknown"}),
    _line({"type": "done"}),  # before any result
    _line({"type": "load_message", "text": "late"}),  # load is over
    _line({"type": "forbidden", "module": "numpy"}),  # not one of ours: a lie
    # a result for a task that has not started:
    _line({"type": "result", "task": "sgd", "kind": "trajectory", "positions": GOOD_POSITIONS, "seconds": 0.1}),
]
FORGED_RESULTS = [
    {"kind": "trajectory", "positions": _b64([[1.0, 1.0]] * STEPS)},  # a row short
    {"kind": "trajectory", "positions": "!" * len(GOOD_POSITIONS)},  # not base64
    {"kind": "trajectory", "positions": _b64([[np.inf, 1.0]] * (STEPS + 1))},
    {"kind": "trajectory", "positions": _b64([[np.nan, 1.0]] * (STEPS + 1))},
    {"kind": "trajectory", "positions": [[1.0, 1.0]] * (STEPS + 1)},  # not the wire format
    {"kind": "trajectory", "positions": GOOD_POSITIONS, "verdict": "pass"},
    {"kind": "trajectory", "positions": GOOD_POSITIONS, "seconds": -1.0},
    {"kind": "trajectory", "positions": GOOD_POSITIONS, "seconds": "fast"},
    {"kind": "value", "value": 1.0},  # a value for a trajectory task
    {"kind": "nonfinite", "step": 1, "partial": _b64([[1.0, 1.0]])},  # the old spelling: not a Status
    {"kind": "non-finite", "step": 0, "partial": _b64(np.zeros((0, 2)))},
    {"kind": "non-finite", "step": 2, "partial": _b64([[1.0, 1.0]])},
    {"kind": "non-finite", "step": True, "partial": _b64([[1.0, 1.0]])},
    {"kind": "exception", "exc_type": "bad name!", "message": "x", "step": None},
    {"kind": "contract", "message": 3, "step": None},
    {"kind": "missing", "message": "extra"},
    {"kind": "pass"},
]


@pytest.mark.parametrize("line", FORGED)
def test_channel_rejects_malformed_or_out_of_order_messages(line):
    child = _child_for([_traj("sgd_step", "sgd")])
    with pytest.raises(supervisor._Interference):
        child._handle(line)


@pytest.mark.parametrize("fields", FORGED_RESULTS)
def test_channel_rejects_malformed_results(fields):
    child = _child_for([_traj("sgd_step", "sgd")])
    child._handle(_line({"type": "start", "task": "sgd"}))
    with pytest.raises(supervisor._Interference):
        child._handle(_line({"type": "result", "task": "sgd", "seconds": 0.01, **fields}))


def test_channel_accepts_a_well_formed_exchange():
    child = _child_for([_traj("sgd_step", "sgd"), _call("effective_lr", 0.1, 0.5, tid="e")])
    child._handle(_line({"type": "start", "task": "sgd"}))
    child._handle(_line({"type": "result", "task": "sgd", "kind": "trajectory", "positions": GOOD_POSITIONS, "seconds": 0.5}))
    child._handle(_line({"type": "start", "task": "e"}))
    child._handle(_line({"type": "result", "task": "e", "kind": "value", "value": {"nonfinite": "nan"}, "seconds": 0.0}))
    child._handle(_line({"type": "done"}))
    assert child.phase == "done"
    sgd, e = child.result.outcomes["sgd"], child.result.outcomes["e"]  # decoded at once
    assert (sgd.status, sgd.seconds) == (Status.OK, 0.5)
    np.testing.assert_array_equal(sgd.value, np.ones((STEPS + 1, 2)))
    assert e.status == Status.NON_FINITE and math.isnan(e.value) and e.message == "effective_lr returned nan"


# --------------------------------------------------------------------------- the package's tables


def test_the_protocol_table_builds_and_checks_the_same_messages():
    from grader.sandbox import protocol as P

    msg = P.message("result", task="t", kind="value", seconds=0.5, value=1.0)
    assert P.fields_of(msg) == {"task": "task", "kind": "result_kind", "seconds": "seconds", "value": "value"}
    with pytest.raises(P.ProtocolError):
        P.message("result", task="t", kind="value", seconds=0.5)  # the value is missing
    with pytest.raises(P.ProtocolError):
        P.fields_of({"type": "ready", "extra": 1})
    with pytest.raises(P.ProtocolError):
        P.check_value(10**300)  # too big for float(): sent as a repr


def test_every_task_kind_has_a_runner_in_the_child_and_results_in_the_protocol():
    from grader.sandbox import protocol as P
    from grader.sandbox.tasks import TASK_KINDS

    tree = ast.parse((ROOT / "grader" / "_child.py").read_text())
    runners = next(ast.literal_eval(ast.Dict(keys=n.value.keys, values=[ast.Constant(None)] * len(n.value.keys)))
                   for n in ast.walk(tree) if isinstance(n, ast.Assign)
                   and any(getattr(t, "id", "") == "RUNNERS" for t in n.targets))
    assert {k.runner for k in TASK_KINDS.values()} == set(runners)
    for kind in TASK_KINDS:
        assert any(kind in allowed for allowed, _ in P.RESULTS.values()), kind


def test_one_status_vocabulary_from_the_child_to_the_checks():
    """The child's failure result kinds, the failure table and the checks' diagnoses all speak
    ``Status``; the child's old "nonfinite" spelling is gone from its source."""
    from grader.checks import diagnosis
    from grader.sandbox import protocol as P
    from grader.sandbox.failures import FAILURES

    assert set(P.RESULTS) - {"value", "trajectory"} == {Status.MISSING, Status.CONTRACT, Status.EXCEPTION,
                                                       Status.NON_FINITE}
    assert {f.status for f in FAILURES.values()} == {Status.CRASH, Status.TIMEOUT}
    assert all(isinstance(f.status, Status) for f in FAILURES.values())
    assert [diagnosis(s) for s in (Status.MISSING, Status.NON_FINITE, Status.TIMEOUT)] == \
        ["contract", "non-finite", "timeout"]
    child = (ROOT / "grader" / "_child.py").read_text()
    assert '"kind": "nonfinite"' not in child and "PROTOCOL.Status.NON_FINITE" in child
