"""The formula tree (:class:`Node`, :func:`to_text`), the symbol tables, the parse error and the
size limits: what the lexer, the parser, the evaluator and the SymPy conversion share."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping


MAX_LENGTH = 500
MAX_TOKENS = 300
MAX_NODES = 300
MAX_DEPTH = 40
MAX_DIGITS = 30
MAX_EXPONENT = 1000
MAX_POWER_BITS = 4096

FUNCTIONS: dict[str, int] = {  # name -> arity (min/max take 2 or more)
    "sqrt": 1,
    "exp": 1,
    "log": 1,
    "ln": 1,
    "abs": 1,
    "min": -2,
    "max": -2,
}
_FUNC_ALIASES = {"ln": "log", "Abs": "abs"}  # Abs: SymPy's spelling

class FormulaError(ValueError):
    """A formula could not be parsed; ``pos`` is the 0-based character position (or None)."""

    def __init__(self, message: str, text: str = "", pos: int | None = None):
        self.message = message
        self.text = text
        self.pos = pos
        super().__init__(self.render())

    def render(self) -> str:
        if self.pos is None or not self.text or len(self.text) > 200:
            where = f" (at character {self.pos + 1})" if self.pos is not None else ""
            return f"{self.message}{where}"
        line = self.text.replace("\n", " ").replace("\t", " ")
        return f"{self.message} (at character {self.pos + 1})\n  {line}\n  {' ' * self.pos}^"


# ----------------------------------------------------------------------------- tree

@dataclass(frozen=True)
class Node:
    """A formula tree node.

    kinds: ``num`` (value: Fraction), ``sym`` (value: canonical name), ``const``
    (value: "pi"), ``neg``, ``add``, ``mul``, ``div``, ``pow`` (args), ``call``
    (value: function name), ``rel`` (value: one of < <= > >= =), ``and`` (args: rels).
    """

    kind: str
    value: Any = None
    args: tuple["Node", ...] = ()
    pos: int = 0

    def walk(self) -> Iterable["Node"]:
        yield self
        for a in self.args:
            yield from a.walk()

    def symbols(self) -> set[str]:
        return {n.value for n in self.walk() if n.kind == "sym"}

    def __str__(self) -> str:
        return to_text(self)


_PREC = {"rel": 1, "and": 0, "add": 2, "neg": 3, "mul": 4, "div": 4, "pow": 6}


def to_text(n: Node, parent: int = 0) -> str:
    """Plain-syntax rendering (re-parses to the same tree)."""
    k = n.kind
    if k == "num":
        v: Fraction = n.value
        s = str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
        return s if v.denominator == 1 or parent < 4 else f"({s})"
    if k in ("sym", "const"):
        return n.value
    if k == "call":
        return f"{n.value}({', '.join(to_text(a) for a in n.args)})"
    if k == "and":
        # Conjunctions only come from chains (0 < lr < 2/L): render them as the chain,
        # which re-parses to the same links (there is no "and" keyword to read back).
        links = n.args
        if all(a.kind == "rel" for a in links) and all(
                links[i].args[1] == links[i + 1].args[0] for i in range(len(links) - 1)):
            s = to_text(links[0].args[0], 2)
            for a in links:
                s += f" {a.value} {to_text(a.args[1], 2)}"
            return s
        raise ValueError("a conjunction that is not a chain has no plain rendering")
    p = _PREC[k]
    if k == "rel":
        s = f"{to_text(n.args[0], p)} {n.value} {to_text(n.args[1], p)}"
    elif k == "neg":
        s = f"-{to_text(n.args[0], 5)}"
    elif k == "add":
        s = to_text(n.args[0], p)
        for a in n.args[1:]:
            if a.kind == "neg":
                s += f" - {to_text(a.args[0], 3)}"
            else:
                s += f" + {to_text(a, p)}"
    elif k == "mul":
        s = "*".join(to_text(a, p) for a in n.args)
    elif k == "div":
        s = f"{to_text(n.args[0], p)}/{to_text(n.args[1], p + 1)}"
    elif k == "pow":
        s = f"{to_text(n.args[0], p + 1)}^{to_text(n.args[1], p)}"
    else:  # pragma: no cover
        raise AssertionError(k)
    return f"({s})" if p < parent or (p == parent and k in ("div", "pow", "neg")) else s


# ----------------------------------------------------------------------------- symbols

@dataclass(frozen=True)
class SymbolSpec:
    """One symbol of a problem: its canonical name, aliases, assumptions and sampling range.

    ``kind`` is ``positive``, ``nonnegative``, ``real`` or ``integer`` (a positive
    integer).  ``lo``/``hi`` bound the random points of the numeric checks; the
    valid domain is further cut by the table's ``constraints``.
    """

    name: str
    aliases: tuple[str, ...] = ()
    kind: str = "positive"
    lo: Fraction = Fraction(1, 10)
    hi: Fraction = Fraction(5)
    latex: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("positive", "nonnegative", "real", "integer"):
            raise ValueError(f"symbol {self.name}: unknown kind {self.kind!r}")
        object.__setattr__(self, "lo", Fraction(self.lo))
        object.__setattr__(self, "hi", Fraction(self.hi))
        if not self.lo < self.hi:
            raise ValueError(f"symbol {self.name}: empty sampling range [{self.lo}, {self.hi}]")


@dataclass(frozen=True)
class SymbolTable:
    """The names a problem part understands.

    ``constraints`` are relation strings (parsed with this table) that every
    sample point must satisfy, e.g. ``"beta < 1"`` or ``"lambda_min < lambda_max"``.
    ``designated`` names the variable a condition is about (``lr`` in
    ``lr < 2/lambda_max``).  With ``open=True`` unknown names become real
    symbols (used by ``ravine verify`` without a problem).
    """

    symbols: tuple[SymbolSpec, ...] = ()
    constraints: tuple[str, ...] = ()
    designated: str | None = None
    open: bool = False
    _lookup: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for s in self.symbols:
            for alias in (s.name, *s.aliases):
                key = _canon(alias)
                if key in self._lookup and self._lookup[key] != s.name:
                    raise ValueError(f"name {alias!r} is used by {self._lookup[key]} and {s.name}")
                self._lookup[key] = s.name

    def resolve(self, name: str) -> str | None:
        return self._lookup.get(_canon(name))

    def spec(self, name: str) -> SymbolSpec:
        for s in self.symbols:
            if s.name == name:
                return s
        if self.open:
            return SymbolSpec(name, kind="real", lo=Fraction(-3), hi=Fraction(3))
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.symbols]

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbols": [
                {"name": s.name, "aliases": list(s.aliases), "kind": s.kind,
                 "lo": str(s.lo), "hi": str(s.hi), "latex": s.latex}
                for s in self.symbols
            ],
            "constraints": list(self.constraints),
            "designated": self.designated,
            "open": self.open,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SymbolTable":
        syms = tuple(
            SymbolSpec(s["name"], tuple(s.get("aliases", ())), s.get("kind", "positive"),
                       Fraction(s.get("lo", "1/10")), Fraction(s.get("hi", "5")), s.get("latex", ""))
            for s in d.get("symbols", ())
        )
        return cls(syms, tuple(d.get("constraints", ())), d.get("designated"), bool(d.get("open")))

    def with_open(self) -> "SymbolTable":
        return SymbolTable(self.symbols, self.constraints, self.designated, True)


def _canon(name: str) -> str:
    """Canonical spelling of a name: no braces for simple subscripts, no spaces."""
    name = name.replace(" ", "")
    name = re.sub(r"_\{([A-Za-z0-9]+)\}", r"_\1", name)
    return name
