"""Equivalence verdicts: equal / different / undecided, which method decided, the evidence."""

from __future__ import annotations

import time
from pathlib import Path
from fractions import Fraction

import pytest

from grader import equivalence, sympy_client
from grader.equivalence import compare, implies, sample_points
from grader.sympy_client import SymbolicWorker
from grader.formula import SymbolSpec, SymbolTable, parse

T = SymbolTable(
    (
        SymbolSpec("lr", ("eta", "alpha"), lo=Fraction(1, 1000), hi=1),
        SymbolSpec("beta", kind="nonnegative", lo=0, hi=Fraction(99, 100)),
        SymbolSpec("lambda_max", ("L",), lo=Fraction(1, 2), hi=200),
        SymbolSpec("lambda_min", lo=Fraction(1, 100), hi=10),
        SymbolSpec("g", kind="real", lo=-3, hi=3),
        SymbolSpec("n", kind="integer", lo=1, hi=12),
    ),
    constraints=("beta < 1", "lambda_min < lambda_max"),
    designated="lr",
)

EQUAL = [
    ("2/lambda_max", "2/lambda_max"),
    (r"\frac{2}{L}", "2/lambda_max"),
    ("2*lambda_max^(-1)", "2/lambda_max"),
    ("lr/(1-beta)", r"\frac{\eta}{1-\beta}"),
    ("eta*g/(1 - beta)", "g*lr/(1-beta)"),
    ("g*(1-beta^3)/(1-beta)", "g*(1+beta+beta^2)"),
    ("2^(-n)", "1/2^n"),
    ("(1/2)^n", "2^(-n)"),
    ("0.5^n", "2^(-n)"),
    ("sqrt(lambda_max^2)", "lambda_max"),
    ("exp(log(lr))", "lr"),
]

DIFFERENT = [
    ("1/lambda_max", "2/lambda_max"),
    ("2/lambda_min", "2/lambda_max"),
    ("lr*(1-beta)", "lr/(1-beta)"),
    ("g/(1+beta)", "g/(1-beta)"),
    ("beta*g/(1-beta)", "g/(1-beta)"),
    ("1/n", "2^(-n)"),
    ("2/lambda_max + 1e-12", "2/lambda_max"),  # exact arithmetic sees tiny differences
]


@pytest.mark.parametrize("student,reference", EQUAL)
def test_equal(student: str, reference: str) -> None:
    v = compare(student, reference, T)
    assert v.status == "equal", v
    assert v.method in ("symbolic", "numeric")


def test_equal_symbolic_says_so() -> None:
    v = compare("g*(1-beta^3)/(1-beta)", "g*(1+beta+beta^2)", T)
    assert (v.status, v.method, v.residual) == ("equal", "symbolic", "0")


def test_numeric_fallback_under_domain_assumption() -> None:
    # |1 - beta| = 1 - beta needs beta < 1, a constraint SymPy's assumptions cannot hold
    v = compare("abs(1-beta)", "1-beta", T)
    assert (v.status, v.method) == ("equal", "numeric")
    assert "random points" in v.evidence


@pytest.mark.parametrize("student,reference", DIFFERENT)
def test_different_with_counterexample(student: str, reference: str) -> None:
    v = compare(student, reference, T)
    assert (v.status, v.method) == ("different", "numeric"), v
    assert v.counterexample
    # the counter-example really separates them
    env = {k: Fraction(val.split(" ")[0]) for k, val in v.counterexample.items()}
    s = parse(student, T)
    r = parse(reference, T)
    from grader.formula import evaluate

    assert evaluate(s.node, env) != evaluate(r.node, env)


def test_undefined_student_formula_is_different() -> None:
    v = compare("1/(lambda_max - lambda_max)", "2/lambda_max", T)
    assert v.status == "different" and "undefined" in v.evidence


CONDS = [
    ("lr < 2/lambda_max", "lr*lambda_max < 2", "equal"),
    ("2/lambda_max > lr", "lr < 2/lambda_max", "equal"),
    (r"\eta < \frac{2}{\lambda_{\max}}", "lr < 2/lambda_max", "equal"),
    ("0 < lr < 2/lambda_max", "lr < 2/lambda_max", "equal"),
    ("abs(1 - lr*lambda_max) < 1", "lr < 2/lambda_max", "equal"),
    ("lr <= 2/lambda_max", "lr < 2/lambda_max", "different"),
    ("lr*lambda_max <= 2", "lr < 2/lambda_max", "different"),
    ("lr < 1/lambda_max", "lr < 2/lambda_max", "different"),
    ("lr < 2/lambda_min", "lr < 2/lambda_max", "different"),
    ("lr > 2/lambda_max", "lr < 2/lambda_max", "different"),
    ("lr = 2/lambda_max", "lr*lambda_max = 2", "equal"),
    ("lr = 1/lambda_max", "lr*lambda_max = 2", "different"),
]


@pytest.mark.parametrize("student,reference,status", CONDS)
def test_conditions_as_sets(student: str, reference: str, status: str) -> None:
    v = compare(student, reference, T)
    assert v.status == status, v
    if status == "different":
        assert v.counterexample and "lr" in v.counterexample


def test_le_versus_lt_is_caught_at_the_boundary_itself() -> None:
    v = compare("lr <= 2/lambda_max", "lr < 2/lambda_max", T)
    lam = Fraction(v.counterexample["lambda_max"].split(" ")[0])
    lr = Fraction(v.counterexample["lr"].split(" ")[0])
    assert lr * lam == 2  # exactly on the boundary
    assert "holds but the correct one does not" in v.evidence


def test_kind_mismatch() -> None:
    v = compare("2/lambda_max", "lr < 2/lambda_max", T)
    assert (v.status, v.method) == ("different", "form")
    assert "expected a condition" in v.evidence


def test_implies() -> None:
    assert implies("lr < 1/lambda_max", "lr < 2/lambda_max", T).status == "equal"
    v = implies("lr < 2/lambda_max", "lr < 1/lambda_max", T)
    assert v.status == "different" and v.counterexample


def test_sampling_respects_domain() -> None:
    pts = sample_points(T, ["beta", "lambda_min", "lambda_max", "n"], n=50)
    assert len(pts) == 50
    for p in pts:
        assert 0 <= p["beta"] < 1 and p["lambda_min"] < p["lambda_max"]
        assert p["n"].denominator == 1 and 1 <= p["n"] <= 12


SLOW = "(lr+beta+g+lambda_max+lambda_min+1)^20"  # SymPy needs more than 15 s for SLOW - SLOW2
SLOW2 = SLOW.replace("+1)", "+2)")


def test_symbolic_timeout_falls_back_to_numeric(monkeypatch: pytest.MonkeyPatch) -> None:
    # every symbolic request of this compare() is replaced by one that really hangs in SymPy;
    # compare's timeout reaches the worker, which interrupts SymPy itself and stays up, and the
    # numeric verdict stands
    real = SymbolicWorker()
    seen: list[float] = []

    class Hanging:
        def request(self, req: dict, timeout: float):  # type: ignore[no-untyped-def]
            seen.append(timeout)
            return real.request({**req, "a": SLOW, "b": SLOW2}, timeout)

    real.request({"op": "expr", "a": "1", "b": "1", "table": T.to_dict()}, 30)  # started
    pid = real.proc.pid  # type: ignore[union-attr]
    monkeypatch.setattr(equivalence, "shared_worker", lambda: Hanging())
    t0 = time.perf_counter()
    v = compare("g*(1-beta^3)/(1-beta)", "g*(1+beta+beta^2)", T, timeout=0.5)
    assert time.perf_counter() - t0 < 5
    assert seen == [0.5] and real.proc is not None and real.proc.pid == pid  # not restarted
    assert (v.status, v.method) == ("equal", "numeric")
    assert "timed out" in v.evidence
    monkeypatch.undo()
    # the shared worker answers symbolically as before
    assert compare("2/L", "2/lambda_max", T).method == "symbolic"


def test_hanging_simplify_is_interrupted_and_the_worker_answers_again() -> None:
    w = SymbolicWorker()
    assert w.request({"op": "expr", "a": "1", "b": "1", "table": T.to_dict()}, 30) is not None
    pid = w.proc.pid  # type: ignore[union-attr]
    slow = {"op": "expr", "a": SLOW, "b": SLOW2, "table": T.to_dict()}
    t0 = time.perf_counter()
    assert w.request(slow, 0.5) is None
    assert time.perf_counter() - t0 < 5
    # SIGALRM inside the worker stopped SymPy: same process, and it answers the next request
    assert w.proc is not None and w.proc.pid == pid
    assert w.request({"op": "expr", "a": "lr", "b": "lr", "table": T.to_dict()}, 30) == \
        {"zero": True, "residual": "0"}
    w.kill()


def test_a_worker_that_does_not_answer_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    w = SymbolicWorker()
    assert w.request({"op": "expr", "a": "1", "b": "1", "table": T.to_dict()}, 30) is not None
    # SIGALRM ignored (as by a long C call): only the grader's own deadline is left
    w.proc.send_signal(__import__("signal").SIGSTOP)  # type: ignore[union-attr]
    monkeypatch.setattr(sympy_client, "GRACE", 0.2)
    assert w.request({"op": "expr", "a": "lr", "b": "lr", "table": T.to_dict()}, 0.3) is None
    assert w.proc is None  # killed


def test_worker_kill_and_restart() -> None:
    w = SymbolicWorker()
    req = {"op": "expr", "a": "lr", "b": "lr", "table": T.to_dict()}
    assert w.request(req, 30) == {"zero": True, "residual": "0"}
    pid = w.proc.pid  # type: ignore[union-attr]
    w.kill()
    assert w.proc is None
    assert w.request(req, 30) == {"zero": True, "residual": "0"}
    assert w.proc is not None and w.proc.pid != pid
    w.kill()


def test_worker_reparses_and_rejects_hostile_text() -> None:
    w = SymbolicWorker()
    out = w.request({"op": "expr", "a": "__import__('os')", "b": "1", "table": T.to_dict()}, 30)
    assert out is None  # an error answer, nothing executed
    w.kill()


def test_no_symbolic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAVINE_NO_SYMBOLIC", "1")
    v = equivalence.compare("2/L", "2/lambda_max", T)
    assert (v.status, v.method) == ("equal", "numeric")


# ----------------------------------------------------------------------------- properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_leaf = st.sampled_from(["lr", "beta", "lambda_max", "g", "2", "3", "0.5", "1"])
_expr = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(inner, st.sampled_from(["2", "3", "-1"])).map(lambda t: f"({t[0]})^({t[1]})"),
        inner.map(lambda e: f"sqrt(abs({e}))"),
    ),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(_expr)
def test_property_an_expression_equals_itself_and_not_itself_plus_one(text: str) -> None:
    v = compare(text, text, T, symbolic=False)
    assert v.status in ("equal", "undecided")  # undecided only where it is undefined almost everywhere
    w = compare(f"({text}) + 1", text, T, symbolic=False)
    assert w.status != "equal"


@settings(max_examples=40, deadline=None)
@given(_expr)
def test_property_algebraic_rewriting_is_equal(text: str) -> None:
    # (e) * (lr + 1) / (lr + 1) is e wherever e is defined
    v = compare(f"({text})*(lr+1)/(1+lr)", text, T, symbolic=False)
    assert v.status in ("equal", "undecided")


def test_the_symbolic_worker_serves_threads_one_request_at_a_time() -> None:
    # `ravine grade --jobs N` grades notebooks from N threads that share one SymPy worker
    from concurrent.futures import ThreadPoolExecutor

    pairs = [("(lr*beta - lr)/(beta - 1)", "lr", "equal"), ("lr/(1 - beta)", "lr*(1 - beta)", "different"),
             ("2/lambda_max", "(4/lambda_max)/2", "equal"), ("beta^2", "beta", "different")] * 4

    def one(pair: tuple[str, str, str]) -> str:
        return compare(parse(pair[0], T), parse(pair[1], T), T).status

    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(one, pairs))
    assert got == [p[2] for p in pairs]


def test_a_float_disagreement_is_confirmed_symbolically() -> None:
    # sqrt(2)^2 - 2 is 4.4e-16 in floats: the numeric pass alone would call this "different"
    v = compare("lr/(1-beta) + sqrt(2)^2 - 2", "lr/(1-beta)", T)
    assert (v.status, v.method) == ("equal", "symbolic")
    w = compare("lr/(1-beta) + sqrt(2)^2 - 2.001", "lr/(1-beta)", T)
    assert w.status == "different"


def test_worker_runs_isolated_without_site_nor_the_graders_environment() -> None:
    w = SymbolicWorker()
    assert w.request({"op": "expr", "a": "lr", "b": "lr", "table": T.to_dict()}, 30) is not None
    pid = w.proc.pid  # type: ignore[union-attr]
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-I", b"-S"]
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not any(e.startswith((b"RAVINE_", b"PYTHONPATH=")) for e in environ)
    w.kill()


def test_worker_module_blocks_late_imports() -> None:
    import subprocess
    import sys

    code = ("import sys, grader._symworker as w; sys.meta_path.insert(0, w._NoLateImports())\n"
            "try:\n    import grader.answer_grading\nexcept ImportError as e:\n    print('refused', e)\n"
            "import json; print('stdlib ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=60).stdout
    assert "refused grader.answer_grading" in out and "stdlib ok" in out
