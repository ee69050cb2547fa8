"""Safe parsing of student formulas (plain syntax and LaTeX) without ``eval``.

Nothing here calls ``eval``, ``sympify`` or ``parse_expr`` on student text.  A
small tokenizer and a Pratt parser build an immutable tree of :class:`Node`
(numbers are exact ``Fraction``); SymPy objects are built from that tree
(:meth:`Formula.to_sympy`, SymPy imported lazily) and a numeric evaluator
(:func:`evaluate`) works on the tree directly, exactly when it can.

Syntax (plain and LaTeX can be mixed):

* numbers ``2``, ``0.9``, ``1e-3`` (decimals become exact fractions);
* names: letters, digits, ``_`` subscripts (``lambda_max``, ``v_t``), Greek
  letters spelled out (``beta``, ``\\beta``, ``β``), LaTeX subscripts
  (``\\lambda_{\\max}`` is ``lambda_max``, ``v_{t-1}`` is ``v_{t-1}``);
  every name must be known to the problem's :class:`SymbolTable`;
* ``+ - * / ^ **``, ``\\cdot``, ``\\times``, ``\\frac{a}{b}``, ``\\sqrt{x}``,
  ``\\sqrt[n]{x}``, ``( ) [ ] { }``, ``\\left( \\right)``, ``|x|``;
* functions ``sqrt exp log ln abs min max`` (``log`` is the natural log; ``Abs`` is
  ``abs``), ``pi``; a name directly followed by ``(`` is a function call, so any other
  name there (``sin(x)``, ``lr(1-beta)``) is refused with a message naming it (write
  ``lr*(1-beta)`` or ``lr (1-beta)`` for a product);
* implicit multiplication: a number or a closing bracket or a name followed by
  a name, a bracket or a LaTeX command (``2x``, ``2(1-beta)``, ``\\eta g``,
  ``lr beta`` and ``lr (1-beta)`` with a space).  It binds like ``*`` (so ``1/2x`` is ``x/2``).
  Two numbers side by side (``2 3``) are an error; ``lrbeta`` is one unknown name;
* relations ``< <= > >= = ==`` (and ``\\le \\leq \\ge \\geq \\lt \\gt``, ``≤ ≥``);
  a chain ``0 < lr < 2/lambda_max`` is the conjunction of its links;
* ``\\sum`` and other big operators are not supported: write the closed form.

Bounds (so that nothing hangs): at most ``MAX_LENGTH`` characters, ``MAX_TOKENS``
tokens, ``MAX_NODES`` tree nodes and ``MAX_DEPTH`` nesting; number literals at
most ``MAX_DIGITS`` digits; an integer exponent above ``MAX_EXPONENT`` in
absolute value, or a numeric power with more than ``MAX_POWER_BITS`` bits, is
rejected (``9**9**9**9`` fails at once with a positioned message).

The package: ``syntax`` (tree, symbol tables, limits, the error), ``lexer`` (tokens), ``parser``
(the Pratt parser), ``arithmetic`` (:func:`evaluate`), ``sympy_conversion`` (:func:`to_sympy`);
this module holds :class:`Formula` and :func:`parse` and re-exports the public names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .arithmetic import Number, Undefined, evaluate
from .parser import Parser
from .syntax import (FUNCTIONS, MAX_DEPTH, MAX_DIGITS, MAX_EXPONENT, MAX_LENGTH, MAX_NODES, MAX_POWER_BITS,
                     MAX_TOKENS, FormulaError, Node, SymbolSpec, SymbolTable, to_text)
from .sympy_conversion import sympy_symbol, to_sympy

__all__ = [
    "FormulaError",
    "Node",
    "Formula",
    "SymbolSpec",
    "SymbolTable",
    "parse",
    "evaluate",
    "Undefined",
    "FUNCTIONS",
    "MAX_LENGTH",
]


@dataclass(frozen=True)
class Formula:
    """A parsed answer: ``kind`` is ``expr``, ``relation`` (inequalities, chains) or ``equation``."""

    text: str
    node: Node

    @property
    def kind(self) -> str:
        if self.node.kind == "and":
            return "relation"
        if self.node.kind == "rel":
            return "equation" if self.node.value == "=" else "relation"
        return "expr"

    @property
    def symbols(self) -> set[str]:
        return self.node.symbols()

    def plain(self) -> str:
        return to_text(self.node)

    def to_sympy(self, table: SymbolTable | None = None) -> Any:
        """The SymPy object (imports sympy).  Symbols carry the table's assumptions."""
        return to_sympy(self.node, table)

    def __str__(self) -> str:
        return self.plain()


def parse(text: str, table: SymbolTable | None = None, *, max_length: int = MAX_LENGTH) -> Formula:
    """Parse ``text`` (plain or LaTeX) into a :class:`Formula`; raise :class:`FormulaError`.

    With ``table``, every name must resolve through it (aliases map to the
    canonical name); without a table any name is accepted as a plain symbol.
    """
    if not isinstance(text, str):
        raise FormulaError(f"expected text, got {type(text).__name__}")
    if len(text) > max_length:
        raise FormulaError(f"formula too long ({len(text)} characters; at most {max_length})")
    stripped = text.strip()
    if "\x00" in stripped:
        raise FormulaError("the answer contains a NUL character")
    return Formula(stripped, Parser(stripped, table).parse())
