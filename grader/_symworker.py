"""The symbolic worker: a child process that runs SymPy on formulas, one JSON line per request.

Started by :class:`grader.sympy_client.SymbolicWorker` as ``python -I -S`` (no
environment variables, no user site, no ``.pth`` files), before any student
code runs.  It imports SymPy and every grader module it uses at its start and
refuses later imports of ravine's packages.  A request carries its
``timeout``: SIGALRM interrupts SymPy (whose simplify can run for minutes) and
the answer is ``{"error": "timed out"}``; the grader kills a worker that does
not answer shortly after.  It receives the raw
formula *texts* and the symbol table and re-parses them with the safe parser
(:mod:`grader.formula`), so nothing but data crosses the pipe and nothing is
``eval``-ed.

Requests (one JSON object per line on stdin)::

    {"op": "expr", "a": TEXT, "b": TEXT, "table": TABLE}
        -> {"zero": bool, "residual": str}          # is simplify(a - b) == 0 ?
    {"op": "cond", "a": TEXT, "b": TEXT, "table": TABLE}
        -> {"equal": true|false|null, "detail": str}  # same solution set (linear in
                                                      # the designated variable)?
Errors come back as {"error": str}.  The worker prints {"ready": true} once
SymPy is imported.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _simplify_zero(d: Any) -> tuple[bool, Any]:
    import sympy

    if d == 0:
        return True, d
    for f in (sympy.cancel, sympy.simplify):
        d = f(d)
        if d == 0:
            return True, d
    return False, d


def _linear_form(atom: Any, u: Any) -> tuple[str, Any] | None:
    """``u OP bound`` for an atom linear in ``u`` with a coefficient of known sign."""
    import sympy

    op = {sympy.StrictLessThan: "<", sympy.LessThan: "<=", sympy.StrictGreaterThan: ">",
          sympy.GreaterThan: ">=", sympy.Equality: "="}[type(atom)]
    d = sympy.together(atom.lhs - atom.rhs)
    num, den = sympy.fraction(d)
    if not (den.is_positive or den.is_negative):
        return None
    poly = sympy.Poly(sympy.expand(num), u) if num.has(u) else None
    if poly is None or poly.degree() != 1:
        return None
    a, b = poly.all_coeffs()
    sign = sympy.sign(a * den)
    if sign not in (1, -1):
        return None
    bound = sympy.simplify(-b / a)
    if sign == -1:
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="}[op]
    return op, bound


def _cond_set(expr: Any, u: Any) -> set[tuple[str, Any]] | None:
    import sympy

    atoms = list(expr.args) if isinstance(expr, sympy.And) else [expr]
    out: set[tuple[str, Any]] = set()
    for atom in atoms:
        lf = _linear_form(atom, u)
        if lf is None:
            return None
        op, bound = lf
        # drop bounds the assumptions already give (0 < lr for a positive lr)
        if op in (">", ">=") and bound == 0 and (u.is_positive or (op == ">=" and u.is_nonnegative)):
            continue
        out.add((op, bound))
    return out


def handle(req: dict[str, Any]) -> dict[str, Any]:
    import sympy

    from grader.formula import SymbolTable, parse, sympy_symbol

    table = SymbolTable.from_dict(req["table"])
    a = parse(req["a"], table).to_sympy(table)
    b = parse(req["b"], table).to_sympy(table)
    if req["op"] == "expr":
        zero, residual = _simplify_zero(a - b)
        text = str(residual)
        return {"zero": bool(zero), "residual": text if len(text) <= 300 else text[:300] + "..."}
    if req["op"] == "cond":
        if not table.designated:
            return {"equal": None, "detail": "no designated variable"}
        u = sympy_symbol(table.designated, table)
        sa, sb = _cond_set(a, u), _cond_set(b, u)
        if sa is None or sb is None:
            return {"equal": None, "detail": f"not linear in {u} with a coefficient of known sign"}
        if len(sa) != len(sb):
            return {"equal": False, "detail": f"{sorted(map(str, sa))} vs {sorted(map(str, sb))}"}
        rest = list(sb)
        for op, bound in sa:
            for j, (op2, bound2) in enumerate(rest):
                if op == op2 and _simplify_zero(bound - bound2)[0]:
                    del rest[j]
                    break
            else:
                return {"equal": False, "detail": f"{u} {op} {bound} has no counterpart"}
        return {"equal": True, "detail": " and ".join(f"{u} {op} {bd}" for op, bd in sa)}
    return {"error": f"unknown op {req.get('op')!r}"}


class _TimedOut(BaseException):
    """Raised by SIGALRM inside SymPy; a BaseException so that no ``except Exception`` eats it."""


class _NoLateImports:
    """A meta-path finder that refuses to import ravine's own packages after the start.

    Everything of ``grader``/``problems``/``solvers`` the worker needs is imported before it
    says ready (before any student code has run); a later import of one of them could only be
    a file planted since.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".", 1)[0] in ("grader", "problems", "solvers"):
            raise ImportError(f"{name}: ravine's modules are imported at the worker's start only")
        return None


def _on_alarm(signum: int, frame: Any) -> None:
    raise _TimedOut()


def main() -> None:
    import signal

    import sympy  # noqa: F401  (pay the import before saying ready)

    import grader.formula  # noqa: F401  (every grader module handle() uses, eagerly)

    sys.meta_path.insert(0, _NoLateImports())
    sys.setrecursionlimit(5000)
    signal.signal(signal.SIGALRM, _on_alarm)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        try:
            req = json.loads(line)
            timeout = float(req.get("timeout") or 0)
            if timeout > 0:
                signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                out = handle(req)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _TimedOut:
            out = {"error": "timed out"}
        except Exception as exc:  # a failed request is an answer, never a dead worker
            out = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
