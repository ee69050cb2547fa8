"""The bank's reference texts, generated from the derivations' results: each answer is stated once.

A symbolic, numeric or derivation part does not write its reference: it says in
``Part.derived`` how the reference follows from the ``results`` of the
derivations in ``solvers.derive`` (where every step is machine-checked).  A
recipe is a small expression:

* a name: a result of some derivation (``stable_lr``), else a symbol of that name (``lr``);
* ``{{p}}``: the problem's parameter ``p`` (it stays a placeholder in the text);
* ``at(expr, name=value, ...)``: ``expr`` with its symbol ``name`` replaced by ``value``;
* ``Eq(lhs, rhs)``: an equation (derivation parts), printed ``lhs = rhs``;
* numbers, ``+ - * / **`` and one comparison (``lr < stable_lr``).

``generate()`` evaluates every recipe of the bank with SymPy and prints it in the
grader's formula syntax.  The texts are committed in ``problems/_references.py``
so that grading never imports SymPy; ``tests/test_problem_bank.py`` regenerates
them and compares.  After changing a derivation's results or a recipe, rewrite
the file with ``python3 -m pytest tests/test_problem_bank.py --update-references``
(or ``python3 -m problems.references``) and review the diff.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any, Iterable

__all__ = ["generate", "module_text", "results", "evaluate", "to_text", "PATH"]

PATH = Path(__file__).with_name("_references.py")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_PARAM_PREFIX = "__param_"


def results() -> dict[str, Any]:
    """Every derivation's results by key (keys are unique across derivations)."""
    import sympy as sp

    from solvers import derive

    out: dict[str, Any] = {}
    for name in derive.names():
        for key, value in derive.get(name).results.items():
            if key in out and sp.simplify(sp.sympify(out[key]) - sp.sympify(value)) != 0:
                raise ValueError(f"result {key!r} is derived twice with different values")
            out.setdefault(key, value)
    return out


def evaluate(recipe: str, known: dict[str, Any]) -> Any:
    """The SymPy object a recipe describes (see the module docstring)."""
    import sympy as sp

    source = _PLACEHOLDER.sub(lambda m: _PARAM_PREFIX + m.group(1), recipe)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"recipe {recipe!r}: {exc.msg}") from None

    def at(expr: Any, **values: Any) -> Any:
        by_name = {s.name: s for s in sp.sympify(expr).free_symbols}
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise ValueError(f"recipe {recipe!r}: at(): {', '.join(unknown)} not in {expr}")
        return sp.sympify(expr).subs({by_name[k]: v for k, v in values.items()}, simultaneous=True)

    functions = {"at": at, "Eq": sp.Eq}
    binary = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
              ast.Div: lambda a, b: sp.sympify(a) / b, ast.Pow: lambda a, b: sp.sympify(a) ** b}
    compare = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan,
               ast.GtE: sp.GreaterThan}

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Name):
            if node.id.startswith(_PARAM_PREFIX):
                return sp.Symbol("{{" + node.id[len(_PARAM_PREFIX):] + "}}", positive=True)
            return known[node.id] if node.id in known else sp.Symbol(node.id)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return sp.Rational(str(node.value))
        if isinstance(node, ast.BinOp) and type(node.op) in binary:
            return binary[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in compare:
            return compare[type(node.ops[0])](ev(node.left), ev(node.comparators[0]))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
            return functions[node.func.id](*[ev(a) for a in node.args],
                                           **{k.arg: ev(k.value) for k in node.keywords if k.arg})
        raise ValueError(f"recipe {recipe!r}: {ast.unparse(node)!r} is not part of the recipe language")

    return ev(tree)


def to_text(expr: Any) -> str:
    """A SymPy object in the grader's formula syntax (``^`` for powers, ``lhs = rhs`` for equations)."""
    import sympy as sp

    if isinstance(expr, sp.Equality):
        return f"{to_text(expr.lhs)} = {to_text(expr.rhs)}"
    return sp.sstr(expr).replace("**", "^")


def generate(parts: Iterable[Any] | None = None) -> dict[str, str]:
    """Recipe -> reference text for every derived part (bank order)."""
    if parts is None:
        from . import exercise_registry

        parts = exercise_registry.parts()
    known = results()
    out: dict[str, str] = {}
    for part in parts:
        if part.derived and part.derived not in out:
            out[part.derived] = to_text(evaluate(part.derived, known))
    return out


def module_text(references: dict[str, str]) -> str:
    """The text of ``problems/_references.py``."""
    lines = [
        '"""Generated by problems/references.py from the derivations\' results: do not edit.',
        "",
        "Rewrite with `python3 -m pytest tests/test_problem_bank.py --update-references`.",
        '"""',
        "",
        "# recipe (Part.derived) -> reference text in the grader's formula syntax",
        "REFERENCES: dict[str, str] = {",
        *(f"    {json.dumps(recipe)}: {json.dumps(text)}," for recipe, text in references.items()),
        "}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    PATH.write_text(module_text(generate()), encoding="utf-8")
    print(f"wrote {PATH}")
