"""The formula tree as a SymPy object (SymPy imported lazily), symbols with the table's assumptions."""

from __future__ import annotations

from typing import Any

from .syntax import Node, SymbolTable


def sympy_symbol(name: str, table: SymbolTable | None) -> Any:
    import sympy

    kind = "real"
    if table is not None:
        try:
            kind = table.spec(name).kind
        except KeyError:
            kind = "real"
    assumptions = {"positive": {"positive": True}, "nonnegative": {"nonnegative": True},
                   "real": {"real": True}, "integer": {"integer": True, "positive": True}}[kind]
    return sympy.Symbol(name, **assumptions)


def to_sympy(node: Node, table: SymbolTable | None = None) -> Any:
    import sympy

    def go(n: Node) -> Any:
        k = n.kind
        if k == "num":
            return sympy.Rational(n.value.numerator, n.value.denominator)
        if k == "sym":
            return sympy_symbol(n.value, table)
        if k == "const":
            return sympy.pi
        if k == "neg":
            return -go(n.args[0])
        if k == "add":
            return sympy.Add(*[go(a) for a in n.args])
        if k == "mul":
            return sympy.Mul(*[go(a) for a in n.args])
        if k == "div":
            return go(n.args[0]) / go(n.args[1])
        if k == "pow":
            return sympy.Pow(go(n.args[0]), go(n.args[1]))
        if k == "call":
            args = [go(a) for a in n.args]
            f = {"sqrt": sympy.sqrt, "exp": sympy.exp, "log": sympy.log, "abs": sympy.Abs,
                 "min": sympy.Min, "max": sympy.Max}[n.value]
            return f(*args)
        if k == "rel":
            a, b = go(n.args[0]), go(n.args[1])
            op = {"<": sympy.StrictLessThan, "<=": sympy.LessThan, ">": sympy.StrictGreaterThan,
                  ">=": sympy.GreaterThan, "=": sympy.Equality}[n.value]
            return op(a, b, evaluate=False)
        if k == "and":
            return sympy.And(*[go(a) for a in n.args], evaluate=False)
        raise AssertionError(k)  # pragma: no cover

    return go(node)
