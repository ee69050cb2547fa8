"""Is the student's formula the same answer as the reference?  A three-way verdict with evidence.

Method, in the order it is tried:

1. **Numeric** (in this process, no SymPy): both formulas are evaluated on
   random points of the problem's domain (each symbol's sampling range, cut by
   the table's constraints), exactly in ``Fraction`` arithmetic whenever only
   rational operations occur, in floating point otherwise.  For conditions
   (``lr < 2/lambda_max``) and equations the points also include *boundary
   points*: for each relation, its left minus right side is solved for a
   variable (exactly when it is linear in it, by bisection otherwise), so that
   ``<`` and ``<=`` are told apart at the boundary itself.  A point where the
   two answers differ is a counter-example and decides ``different``.
2. **Symbolic** (in a SymPy worker process, :mod:`grader.sympy_client`, that is killed after
   ``timeout`` seconds): ``simplify(student - reference) == 0`` under the symbols'
   assumptions for expressions; for conditions and equations, both are solved
   for the table's designated variable when they are linear in it and the
   bounds are compared.  A zero residual decides ``equal`` (method
   ``symbolic``).
3. Otherwise agreement on every numeric point decides ``equal`` with method
   ``numeric`` (as WeBWorK and STACK do); too few valid points, a timeout with
   no numeric evidence, or floating-point ties decide ``undecided``.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Iterator, Literal

from grader.formula import Formula, Node, Number, SymbolTable, Undefined, evaluate, parse
# Budget, budget, SymbolicWorker and start_worker are part of this module's interface; they live with
# the worker's client.
from grader.sympy_client import Budget, SymbolicWorker, budget, shared_worker, start_worker  # noqa: F401
from problems.variants import format_value

__all__ = [
    "Verdict",
    "compare",
    "implies",
    "holds",
    "sample_points",
    "SymbolicWorker",
    "DEFAULT_TIMEOUT",
    "Budget",
    "budget",
    "start_worker",
]

DEFAULT_TIMEOUT = 4.0  # seconds for one symbolic request (SymPy import not included)
REL_TOL = 1e-9  # floats closer than this (relative) are equal: float64 round-off of short formulas
CLEAR_TOL = 1e-6  # floats further apart than this are different beyond doubt
N_POINTS = 40
NUMERIC_BUDGET = 2.0  # seconds for the boundary search of one comparison (random points come first)

Status = Literal["equal", "different", "undecided"]


@dataclass
class Verdict:
    """``status`` equal / different / undecided; ``method`` says what decided it."""

    status: Status
    method: str  # "symbolic", "numeric", "form" (kinds differ), "none"
    evidence: str = ""
    residual: str | None = None
    counterexample: dict[str, str] | None = None
    points: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return self.status == "equal"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "method": self.method, "evidence": self.evidence,
                "residual": self.residual, "counterexample": self.counterexample,
                "points": self.points, "notes": list(self.notes)}


# ----------------------------------------------------------------------------- sampling

def _constraints(table: SymbolTable) -> list[Node]:
    return [parse(c, table).node for c in table.constraints]


def _random_value(table: SymbolTable, name: str, rng: random.Random) -> Fraction:
    spec = table.spec(name)
    if spec.kind == "integer":
        return Fraction(rng.randint(int(spec.lo), max(int(spec.lo), int(spec.hi))))
    # "nice" numbers: a grid of about 1000 steps of a power of ten, so counter-examples read well
    width = spec.hi - spec.lo
    step = Fraction(10) ** (math.floor(math.log10(width)) - 3)
    k = rng.randint(1, max(1, int(width / step) - 1))
    return spec.lo + step * k


def _in_domain(table: SymbolTable, env: dict[str, Number], cons: list[Node]) -> bool:
    for name, v in env.items():
        try:
            spec = table.spec(name)
        except KeyError:
            continue
        if spec.kind in ("positive", "integer") and not v > 0:
            return False
        if spec.kind == "nonnegative" and not v >= 0:
            return False
        if spec.kind == "integer" and (not isinstance(v, Fraction) or v.denominator != 1):
            return False
    for c in cons:
        if c.symbols() <= env.keys() and holds(c, env) is not True:
            return False
    return True


def sample_points(table: SymbolTable, names: Iterable[str], *, n: int = N_POINTS,
                  seed: int = 0) -> list[dict[str, Number]]:
    """Up to ``n`` random points (exact fractions) of the domain, for the given symbols."""
    names = sorted(set(names))
    rng = random.Random(seed)
    cons = _constraints(table)
    out: list[dict[str, Number]] = []
    for _ in range(n * 25):
        env: dict[str, Number] = {name: _random_value(table, name, rng) for name in names}
        if _in_domain(table, env, cons):
            out.append(env)
            if len(out) >= n:
                break
    return out


# ----------------------------------------------------------------------------- truth

def _close(a: Number, b: Number) -> bool | None:
    """Exact equality for fractions; for floats True/False, or None in the grey zone."""
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    diff = abs(float(a) - float(b))
    scale = max(abs(float(a)), abs(float(b)), 1e-300)
    if diff <= REL_TOL * scale + 1e-13:
        return True
    if diff > CLEAR_TOL * scale + 1e-10:
        return False
    return None


def holds(node: Node, env: dict[str, Number]) -> bool | None:
    """Truth of a relation / chain at ``env``: True, False, or None (undefined or a float tie)."""
    if node.kind == "and":
        vals = [holds(a, env) for a in node.args]
        if any(v is False for v in vals):
            return False
        return None if any(v is None for v in vals) else True
    if node.kind != "rel":
        raise ValueError("holds() needs a relation")
    try:
        a, b = evaluate(node.args[0], env), evaluate(node.args[1], env)
    except Undefined:
        return None
    eq = _close(a, b)
    if node.value == "=":
        return eq
    if eq is None:
        return None
    if eq is True and not (isinstance(a, Fraction) and isinstance(b, Fraction)):
        return None  # a float tie at the boundary decides nothing about < versus <=
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[node.value] if not eq else \
        node.value in ("<=", ">=")


def _atoms(node: Node) -> list[Node]:
    return list(node.args) if node.kind == "and" else [node]


def _diff(atom: Node, env: dict[str, Number]) -> Number:
    return evaluate(atom.args[0], env) - evaluate(atom.args[1], env)


def _roots(atom: Node, var: str, env: dict[str, Number], table: SymbolTable,
           deadline: float) -> list[Number]:
    """Values of ``var`` where lhs == rhs, other symbols fixed: exact if linear, else bisection
    (in floating point, at most 3 roots, stopping at ``deadline``)."""
    spec = table.spec(var)
    lo, hi = spec.lo, spec.hi
    # exact linear test on three points
    try:
        us = [lo, (lo + hi) / 2, hi]
        fs = [_diff(atom, {**env, var: u}) for u in us]
        if all(isinstance(f, Fraction) for f in fs):
            slope = (fs[1] - fs[0]) / (us[1] - us[0])
            if slope != 0 and (fs[2] - fs[1]) / (us[2] - us[1]) == slope:
                root = us[0] - fs[0] / slope
                # confirm linearity at a fourth point
                u4 = lo + (hi - lo) / 3
                if _diff(atom, {**env, var: u4}) == fs[0] + slope * (u4 - us[0]):
                    return [root]
    except (Undefined, ZeroDivisionError):
        pass
    if spec.kind == "integer":
        return []
    fenv: dict[str, Number] = {k: float(v) for k, v in env.items()}

    def f(u: float) -> float | None:
        try:
            return float(_diff(atom, {**fenv, var: u}))
        except (Undefined, OverflowError, ZeroDivisionError):
            return None

    # bisection on a grid of the sampling range (and a wider one: boundaries may lie outside)
    roots: list[Number] = []
    for a0, b0 in ((float(lo), float(hi)), (float(lo) / 10, float(hi) * 10)):
        grid = [a0 + (b0 - a0) * i / 60 for i in range(61)]
        vals = [f(u) for u in grid]
        for i in range(60):
            if len(roots) >= 3 or time.monotonic() > deadline:
                return roots
            fa, fb = vals[i], vals[i + 1]
            if fa is None or fb is None or (fa > 0) == (fb > 0) or fa == 0:
                continue
            a, b = grid[i], grid[i + 1]
            for _ in range(45):
                m = (a + b) / 2
                fm = f(m)
                if fm is None:
                    break
                if (fm > 0) == (fa > 0):
                    a, fa = m, fm
                else:
                    b = m
            roots.append((a + b) / 2)
        if roots:
            break
    return roots


def _boundary_points(conds: list[Node], table: SymbolTable, names: list[str], seed: int,
                     n: int, deadline: float) -> Iterator[dict[str, Number]]:
    """Points on the boundaries (lhs == rhs) of every relation in ``conds``, and just beside
    them; generated lazily until ``deadline``."""
    base = sample_points(table, names, n=n, seed=seed + 1)
    cons = _constraints(table)
    order = [table.designated] if table.designated in names else []
    for atom in [a for c in conds for a in _atoms(c)]:
        variables = order + [v for v in sorted(atom.symbols()) if v not in order]
        for env in base:
            for var in variables[:2]:
                if time.monotonic() > deadline:
                    return
                for r in _roots(atom, var, env, table, deadline):
                    for p in (r, r * (1 + Fraction(1, 1000)) if isinstance(r, Fraction) else r * 1.001,
                              r * (1 - Fraction(1, 1000)) if isinstance(r, Fraction) else r * 0.999):
                        cand = {**env, var: p}
                        if _in_domain(table, cand, cons):
                            yield cand


# ----------------------------------------------------------------------------- compare

def _fmt(v: Number) -> str:
    """A value in a message: ``variants.format_value``'s exact text when it is a short decimal
    (0.99, 120), else the fraction with its float (1/3 (≈ 0.333333)), else the float alone."""
    if not isinstance(v, Fraction):
        return f"{v:.6g}"
    exact = format_value(v)
    digits = exact.split("e")[0].lstrip("-").replace(".", "").strip("0")
    if "/" not in exact and len(str(v)) <= 16 and len(digits) <= 12:
        return exact
    return f"{v} (≈ {float(v):.6g})" if len(str(v)) <= 12 else f"{float(v):.6g}"


def _point(env: dict[str, Number]) -> dict[str, str]:
    return {k: _fmt(v) for k, v in sorted(env.items())}


def _as_formula(x: Formula | str, table: SymbolTable) -> Formula:
    return x if isinstance(x, Formula) else parse(x, table)


def compare(student: Formula | str, reference: Formula | str, table: SymbolTable, *,
            symbolic: bool = True, timeout: float = DEFAULT_TIMEOUT, seed: int = 0,
            n: int = N_POINTS) -> Verdict:
    """Compare two answers (expressions, equations or conditions) under ``table``.

    Strings are parsed with ``table`` (a :class:`FormulaError` propagates).
    """
    s, r = _as_formula(student, table), _as_formula(reference, table)
    if s.kind != r.kind:
        want = {"expr": "a formula", "relation": "a condition (an inequality)",
                "equation": "an equation"}
        return Verdict("different", "form",
                       f"expected {want[r.kind]}, got {want[s.kind]}")
    if s.kind == "expr":
        return _compare_expr(s, r, table, symbolic=symbolic, timeout=timeout, seed=seed, n=n)
    return _compare_cond(s, r, table, symbolic=symbolic, timeout=timeout, seed=seed, n=n)


def _symbolic_zero(s: Formula, r: Formula, table: SymbolTable, timeout: float) -> bool:
    out = shared_worker().request({"op": "expr", "a": s.text, "b": r.text, "table": table.to_dict()}, timeout)
    return bool(out is not None and out.get("zero"))


def _compare_expr(s: Formula, r: Formula, table: SymbolTable, *, symbolic: bool, timeout: float,
                  seed: int, n: int) -> Verdict:
    names = sorted(s.symbols | r.symbols)
    points = sample_points(table, names, n=n, seed=seed)
    agree = 0
    grey = 0
    for env in points:
        try:
            rv = evaluate(r.node, env)
        except Undefined:
            continue
        try:
            sv = evaluate(s.node, env)
        except Undefined as exc:
            if symbolic and _symbolic_zero(s, r, table, timeout):  # float round-off, not a real pole
                return Verdict("equal", "symbolic", "simplify(answer - reference) = 0 under the "
                               "assumptions (the numeric check hit round-off)", residual="0", points=agree)
            return Verdict("different", "numeric",
                           f"your formula is undefined at {_fmtpt(env)} ({exc}); expected {_fmt(rv)}",
                           counterexample=_point(env), points=agree + 1)
        c = _close(sv, rv)
        if c is False:
            # Exact (Fraction) values are trusted; a float may have cancelled catastrophically,
            # so a float disagreement is confirmed by SymPy before it counts.
            if (isinstance(sv, float) or isinstance(rv, float)) and symbolic \
                    and _symbolic_zero(s, r, table, timeout):
                return Verdict("equal", "symbolic", "simplify(answer - reference) = 0 under the "
                               "assumptions (the numeric check hit round-off)", residual="0", points=agree)
            return Verdict("different", "numeric",
                           f"at {_fmtpt(env)} your formula gives {_fmt(sv)}, expected {_fmt(rv)}",
                           counterexample=_point(env), points=agree + 1)
        if c is None:
            grey += 1
        else:
            agree += 1
    if symbolic:
        out = shared_worker().request({"op": "expr", "a": s.text, "b": r.text, "table": table.to_dict()},
                                timeout)
        if out is not None and out.get("zero"):
            return Verdict("equal", "symbolic", "simplify(answer - reference) = 0 under the "
                           "assumptions", residual="0", points=agree)
        residual = None if out is None else str(out.get("residual"))
        note = "symbolic check timed out or failed" if out is None else \
            f"simplify left the residual {residual}"
    else:
        residual, note = None, "symbolic check skipped"
    if agree >= min(10, max(3, n // 4)) and grey <= agree // 4:
        return Verdict("equal", "numeric", f"agrees with the reference at {agree} random points "
                       f"of the domain ({note})", residual=residual, points=agree)
    return Verdict("undecided", "none", f"only {agree} comparable points ({grey} within "
                   f"floating-point noise); {note}", residual=residual, points=agree)


def _fmtpt(env: dict[str, Number]) -> str:
    return ", ".join(f"{k} = {_fmt(v)}" for k, v in sorted(env.items()))


def implies(a: Formula | str, b: Formula | str, table: SymbolTable, *, seed: int = 0,
            n: int = 12) -> Verdict:
    """Numerically: does condition/equation ``a`` imply ``b`` on the domain?

    ``equal`` means no counter-example among the points where ``a`` holds
    (random points and boundary points of both), ``different`` comes with a
    point where ``a`` holds and ``b`` does not.
    """
    fa, fb = _as_formula(a, table), _as_formula(b, table)
    if fa.kind == "expr" or fb.kind == "expr":
        raise ValueError("implies() needs equations or conditions")
    names = sorted(fa.symbols | fb.symbols)
    deadline = time.monotonic() + NUMERIC_BUDGET
    pts = itertools.chain(sample_points(table, names, n=n * 2, seed=seed),
                          _boundary_points([fa.node, fb.node], table, names, seed, n, deadline))
    checked = 0
    for env in pts:
        if holds(fa.node, env) is not True:
            continue
        hb = holds(fb.node, env)
        if hb is False:
            return Verdict("different", "numeric",
                           f"at {_fmtpt(env)} the first holds but the second does not",
                           counterexample=_point(env), points=checked + 1)
        if hb is True:
            checked += 1
    if checked >= 3:
        return Verdict("equal", "numeric", f"no counter-example among {checked} points where "
                       "the first holds", points=checked)
    return Verdict("undecided", "none", f"only {checked} points found where the first holds",
                   points=checked)


def _compare_cond(s: Formula, r: Formula, table: SymbolTable, *, symbolic: bool, timeout: float,
                  seed: int, n: int) -> Verdict:
    names = sorted(s.symbols | r.symbols)
    deadline = time.monotonic() + NUMERIC_BUDGET
    pts = itertools.chain(sample_points(table, names, n=n, seed=seed),
                          _boundary_points([s.node, r.node], table, names, seed, max(4, n // 4),
                                           deadline))
    agree, true_seen, false_seen = 0, 0, 0
    for env in pts:
        hs, hr = holds(s.node, env), holds(r.node, env)
        if hs is None or hr is None:
            continue
        if hs != hr:
            yours = "holds" if hs else "does not hold"
            ref = "the correct one does" if hr else "the correct one does not"
            what = "condition" if s.kind == "relation" else s.kind
            return Verdict("different", "numeric", f"at {_fmtpt(env)} your {what} {yours} but "
                           f"{ref}", counterexample=_point(env), points=agree + 1)
        agree += 1
        true_seen += hr
        false_seen += not hr
    note = ""
    if symbolic:
        out = shared_worker().request({"op": "cond", "a": s.text, "b": r.text, "table": table.to_dict()},
                                timeout)
        if out is not None and out.get("equal") is True:
            return Verdict("equal", "symbolic", f"both reduce to {out.get('detail')}",
                           residual="0", points=agree)
        if out is not None and out.get("equal") is False and agree == 0:
            return Verdict("different", "symbolic", str(out.get("detail")))
        note = "symbolic check timed out or failed" if out is None else str(out.get("detail"))
    if agree >= 8 and (true_seen and (false_seen or r.kind == "equation")):
        return Verdict("equal", "numeric", f"same truth value at {agree} points, boundary points "
                       f"included{'; ' + note if note else ''}", points=agree)
    return Verdict("undecided", "none", f"only {agree} comparable points "
                   f"({true_seen} inside, {false_seen} outside){'; ' + note if note else ''}",
                   points=agree)
