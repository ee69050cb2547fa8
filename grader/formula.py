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
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Mapping, Union

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

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "rho": "ρ", "sigma": "σ", "tau": "τ",
    "phi": "φ", "varphi": "ϕ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Sigma": "Σ", "Phi": "Φ",
    "Psi": "Ψ", "Omega": "Ω",
}
_UNICODE_GREEK = {v: k for k, v in GREEK.items() if k not in ("varepsilon", "vartheta", "varphi")}
_UNICODE_GREEK["ϵ"] = "epsilon"
_UNICODE_OPS = {"−": "-", "–": "-", "·": "*", "×": "*", "÷": "/", "≤": "<=", "≥": ">=",
                "⩽": "<=", "⩾": ">=", "√": "sqrt", "π": "pi", "²": "^2", "³": "^3"}

# LaTeX commands that are dropped (spacing, sizing) or mapped to an operator.
_LATEX_DROP = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
               "displaystyle", "textstyle", ",", ";", ":", "!", " ", "quad", "qquad"}
_LATEX_OPS = {"cdot": "*", "times": "*", "ast": "*", "div": "/", "le": "<=", "leq": "<=",
              "leqslant": "<=", "ge": ">=", "geq": ">=", "geqslant": ">=", "lt": "<", "gt": ">",
              "{": "(", "}": ")", "lvert": "|", "rvert": "|", "vert": "|", "mid": "|",
              "lbrace": "(", "rbrace": ")", "langle": "(", "rangle": ")"}
_LATEX_FUNCS = {"frac", "dfrac", "tfrac", "sqrt", "exp", "log", "ln", "min", "max", "abs"}
_LATEX_TEXT = {"text", "mathrm", "operatorname", "mathit", "textrm", "mathbf", "boldsymbol", "rm"}
_LATEX_UNSUPPORTED = {
    "sum": "sums are not supported: write the closed form (e.g. (1-beta^t)/(1-beta))",
    "prod": "products are not supported: write the closed form",
    "int": "integrals are not supported",
    "lim": "limits are not supported: write the value of the limit",
    "infty": "infinity is not a value here: write the limit's value",
    "ne": "'not equal' is not accepted as an answer",
    "neq": "'not equal' is not accepted as an answer",
    "in": "write the interval as a condition, e.g. 0 < lr < 2/lambda_max",
    "approx": "write an exact formula, not an approximation",
}


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


# ----------------------------------------------------------------------------- tokens

@dataclass(frozen=True)
class Tok:
    kind: str  # num, name, op, func, frac, text, end
    value: str
    pos: int
    space_before: bool = False


_NUM_RE = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*")
_OPS = ["**", "<=", ">=", "==", "=<", "=>", "!=", "<", ">", "=", "+", "-", "*", "/", "^", "(", ")",
        "[", "]", "{", "}", ",", "|", "_"]


def _tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    space = False

    def add(kind: str, value: str, pos: int) -> None:
        nonlocal space
        toks.append(Tok(kind, value, pos, space))
        space = False
        if len(toks) > MAX_TOKENS:
            raise FormulaError(f"formula too long (more than {MAX_TOKENS} symbols)", text, pos)

    while i < n:
        c = text[i]
        if c.isspace() or c == "$":
            space = True
            i += 1
            continue
        if c in _UNICODE_GREEK:
            add("name", _UNICODE_GREEK[c], i)
            i += 1
            continue
        if c in _UNICODE_OPS:
            rep = _UNICODE_OPS[c]
            if rep in ("sqrt", "pi"):
                add("func" if rep == "sqrt" else "name", rep, i)
            elif rep.startswith("^"):
                add("op", "^", i)
                add("num", rep[1:], i)
            else:
                add("op", rep, i)
            i += 1
            continue
        if c == "\\":
            m = re.compile(r"\\([A-Za-z]+|.)").match(text, i)
            if not m:
                raise FormulaError("a backslash must start a LaTeX command", text, i)
            cmd = m.group(1)
            start = i
            i = m.end()
            if cmd in _LATEX_DROP:
                space = True
                continue
            if cmd in _LATEX_OPS:
                add("op", _LATEX_OPS[cmd], start)
            elif cmd in GREEK or cmd == "pi":
                add("name", cmd, start)
            elif cmd in _LATEX_FUNCS:
                add("func", cmd, start)
            elif cmd in _LATEX_TEXT:
                mm = re.compile(r"\s*\{\s*([A-Za-z][A-Za-z0-9 ]*)\s*\}").match(text, i)
                if not mm:
                    raise FormulaError(f"\\{cmd} must be followed by {{letters}}", text, start)
                word = mm.group(1).replace(" ", "")
                add("func" if word in FUNCTIONS or word in _FUNC_ALIASES else "name", word, start)
                i = mm.end()
            elif cmd in _LATEX_UNSUPPORTED:
                raise FormulaError(_LATEX_UNSUPPORTED[cmd], text, start)
            else:
                raise FormulaError(f"unknown LaTeX command \\{cmd}", text, start)
            continue
        if c in "0123456789" or (c == "." and i + 1 < n and text[i + 1] in "0123456789"):
            m = _NUM_RE.match(text, i)
            assert m
            add("num", m.group(0), i)
            i = m.end()
            continue
        if c.isalpha() and c.isascii():
            m = _NAME_RE.match(text, i)
            assert m
            word = m.group(0)
            if word in FUNCTIONS or word in _FUNC_ALIASES:
                add("func", word, i)
            else:
                add("name", word, i)
            i = m.end()
            continue
        for op in _OPS:
            if text.startswith(op, i):
                value = {"**": "^", "==": "=", "=<": "<=", "=>": ">="}.get(op, op)
                if value == "!=":
                    raise FormulaError("'not equal' is not accepted as an answer", text, i)
                add("op", value, i)
                i += len(op)
                break
        else:
            raise FormulaError(f"unexpected character {c!r}", text, i)
    toks.append(Tok("end", "", n, space))
    return toks


# ----------------------------------------------------------------------------- parser

_REL_OPS = {"<", "<=", ">", ">=", "="}
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


class _Parser:
    def __init__(self, text: str, table: SymbolTable | None):
        self.text = text
        self.table = table
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.nodes = 0
        self.in_bars = 0

    # helpers ------------------------------------------------------------
    def err(self, message: str, tok: Tok | None = None) -> FormulaError:
        tok = tok or self.peek()
        return FormulaError(message, self.text, tok.pos)

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def expect(self, value: str, opening: Tok | None = None) -> Tok:
        t = self.peek()
        if t.kind == "op" and t.value == value:
            return self.next()
        if t.kind == "end" and opening is not None:
            raise FormulaError(f"'{opening.value}' is never closed (expected '{value}')",
                               self.text, opening.pos)
        raise self.err(f"expected '{value}' but found {self.describe(t)}", t)

    @staticmethod
    def describe(t: Tok) -> str:
        return "the end of the formula" if t.kind == "end" else f"'{t.value}'"

    def node(self, kind: str, value: Any = None, args: tuple[Node, ...] = (), pos: int = 0) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FormulaError(f"formula too large (more than {MAX_NODES} parts)", self.text, pos)
        return Node(kind, value, args, pos)

    # grammar ------------------------------------------------------------
    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise FormulaError("the answer is empty", self.text, 0)
        first = self.expr(0)
        t = self.peek()
        if t.kind == "op" and t.value in _REL_OPS:
            links: list[Node] = []
            left = first
            while t.kind == "op" and t.value in _REL_OPS:
                self.next()
                right = self.expr(0)
                links.append(self.node("rel", t.value, (left, right), t.pos))
                left = right
                t = self.peek()
            if any(link.value == "=" for link in links) and len(links) > 1:
                raise self.err("write one equation per line (a = b = c is not allowed here)",
                               self.toks[0])
            first = links[0] if len(links) == 1 else self.node("and", None, tuple(links), 0)
        if t.kind != "end":
            if t.kind == "op" and t.value in ")]}":
                raise self.err(f"unmatched '{t.value}'", t)
            raise self.err(f"unexpected {self.describe(t)}", t)
        return first

    def expr(self, rbp: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.err(f"formula nested too deeply (more than {MAX_DEPTH} levels)")
        try:
            left = self.nud(self.next())
            while True:
                t = self.peek()
                lbp, kind = self.lbp(t)
                if lbp <= rbp:
                    break
                if kind == "implicit":
                    if t.kind == "num":
                        raise self.err("two numbers side by side: put an operator between them"
                                       if left.kind == "num" else
                                       "a number after a name or bracket: write the '*' explicitly", t)
                    right = self.expr(30)
                    left = self._mul(left, right, t.pos)
                    continue
                self.next()
                left = self.led(t, left)
            return left
        finally:
            self.depth -= 1

    def lbp(self, t: Tok) -> tuple[int, str]:
        if t.kind == "op":
            v = t.value
            if v in ("+", "-"):
                return 20, "op"
            if v in ("*", "/"):
                return 30, "op"
            if v == "^":
                return 50, "op"
            if v in ("(", "[", "{"):
                return 30, "implicit"
            if v == "|":
                # a bar closes an open |...| ; otherwise it would start one (implicit product)
                return (0, "op") if self.in_bars else (30, "implicit")
            return 0, "op"
        if t.kind in ("num", "name", "func", "frac"):
            return 30, "implicit"
        return 0, "op"

    def _mul(self, a: Node, b: Node, pos: int) -> Node:
        args = (a.args if a.kind == "mul" else (a,)) + (b,)
        return self.node("mul", None, args, pos)

    def led(self, t: Tok, left: Node) -> Node:
        v = t.value
        if v == "+" or v == "-":
            right = self.expr(20)
            if v == "-":
                right = self.node("neg", None, (right,), t.pos)
            args = (left.args if left.kind == "add" else (left,)) + (right,)
            return self.node("add", None, args, t.pos)
        if v == "*":
            return self._mul(left, self.expr(30), t.pos)
        if v == "/":
            right = self.expr(30)
            if _const_value(right) == 0:
                raise self.err("division by zero", t)
            return self.node("div", None, (left, right), t.pos)
        if v == "^":
            right = self.expr(49)
            return self._pow(left, right, t)
        raise self.err(f"unexpected {self.describe(t)}", t)  # pragma: no cover

    def _pow(self, base: Node, exp: Node, t: Tok) -> Node:
        ev = _const_value(exp)
        if ev is not None:
            if ev.denominator == 1 and abs(ev) > MAX_EXPONENT:
                raise FormulaError(f"exponent too large ({_short(ev)}; at most {MAX_EXPONENT})",
                                   self.text, t.pos)
            bv = _const_value(base)
            if bv is not None and bv != 0:
                mag = max(abs(bv.numerator), bv.denominator)
                if abs(float(ev)) * mag.bit_length() > MAX_POWER_BITS:
                    raise FormulaError("number too large: this power has more than "
                                       f"{MAX_POWER_BITS} bits", self.text, t.pos)
        return self.node("pow", None, (base, exp), t.pos)

    def group(self, opening: Tok) -> Node:
        inner = self.expr(0)
        self.expect(_CLOSERS[opening.value], opening)
        return inner

    def braced(self, what: str, t: Tok) -> Node:
        nt = self.peek()
        if nt.kind == "op" and nt.value == "{":
            return self.group(self.next())
        raise self.err(f"{what} must be followed by {{...}}", nt)

    def nud(self, t: Tok) -> Node:
        if t.kind == "num":
            return self.node("num", _number(t, self.text), (), t.pos)
        if t.kind == "name":
            return self.name(t)
        if t.kind == "func":
            return self.func(t)
        if t.kind == "op":
            v = t.value
            if v == "-":
                return self.node("neg", None, (self.expr(35),), t.pos)
            if v == "+":
                return self.expr(35)
            if v in _CLOSERS:
                return self.group(t)
            if v == "|":
                self.in_bars += 1
                inner = self.expr(0)
                self.in_bars -= 1
                self.expect("|", t)
                return self.node("call", "abs", (inner,), t.pos)
            if v == "_":
                raise self.err("a subscript '_' must follow a name", t)
            if v in _REL_OPS:
                raise self.err(f"'{v}' needs something on its left", t)
        if t.kind == "end":
            raise self.err("the formula ends too early: something is missing here", t)
        raise self.err(f"unexpected {self.describe(t)}", t)

    def name(self, t: Tok) -> Node:
        word = t.value
        nt = self.peek()
        if nt.kind == "op" and nt.value == "_" and not nt.space_before:
            self.next()
            word += "_" + self.subscript(nt)
        nt = self.peek()
        if nt.kind == "op" and nt.value == "(" and not nt.space_before:
            # f(x) reads as a function call: a name that is not a known function is refused
            # rather than silently read as a product (Abs(x) as Abs*x, sin(x) as sin*x)
            known = ", ".join(sorted(FUNCTIONS))
            raise FormulaError(f"'{word}' is not a known function (known: {known}); for a product "
                               f"write {word}*(...)", self.text, t.pos)
        if word == "pi" and (self.table is None or self.table.resolve("pi") is None):
            return self.node("const", "pi", (), t.pos)
        if self.table is not None:
            canon = self.table.resolve(word)
            if canon is None:
                if self.table.open:
                    canon = _canon(word)
                else:
                    known = ", ".join(self.table.names) or "no names (numbers only)"
                    hint = " (for Euler's number write exp(1))" if word == "e" else ""
                    raise FormulaError(f"unknown name '{word}'{hint}; this answer may use: {known}",
                                       self.text, t.pos)
        else:
            canon = _canon(word)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_{}+\-]*", canon):  # pragma: no cover
            raise FormulaError(f"bad name {word!r}", self.text, t.pos)
        return self.node("sym", canon, (), t.pos)

    def subscript(self, us: Tok) -> str:
        t = self.next()
        if t.kind in ("name", "num", "func"):
            return t.value
        if t.kind == "op" and t.value == "{":
            parts: list[str] = []
            while True:
                u = self.next()
                if u.kind == "op" and u.value == "}":
                    break
                if u.kind in ("name", "num", "func") or (u.kind == "op" and u.value in "+-"):
                    parts.append(u.value)
                    continue
                raise FormulaError("a subscript may hold only names, numbers, + and -",
                                   self.text, u.pos)
            if not parts:
                raise FormulaError("empty subscript", self.text, us.pos)
            body = "".join(parts)
            return body if re.fullmatch(r"[A-Za-z0-9]+", body) else "{" + body + "}"
        raise FormulaError("a subscript '_' must be followed by a name, a number or {...}",
                           self.text, t.pos)

    def func(self, t: Tok) -> Node:
        name = t.value
        if name in ("frac", "dfrac", "tfrac"):
            num = self.braced(f"\\{name}", t)
            den = self.braced(f"\\{name}{{...}}", t)
            return self.node("div", None, (num, den), t.pos)
        name = _FUNC_ALIASES.get(name, name)
        nt = self.peek()
        if name == "sqrt" and nt.kind == "op" and nt.value == "[":
            self.next()
            index = self.expr(0)
            self.expect("]", nt)
            radicand = self.braced("\\sqrt[n]", t)
            one = self.node("num", Fraction(1), (), t.pos)
            return self._pow(radicand, self.node("div", None, (one, index), t.pos), t)
        if nt.kind == "op" and nt.value in ("(", "{", "["):
            opening = self.next()
            args = [self.expr(0)]
            while self.peek().kind == "op" and self.peek().value == ",":
                self.next()
                args.append(self.expr(0))
            self.expect(_CLOSERS[opening.value], opening)
        elif nt.kind in ("num", "name", "func"):
            # LaTeX style \sqrt 2, \ln x: the function takes the next factor
            args = [self.expr(40)]
        else:
            raise self.err(f"{name} needs an argument in brackets, e.g. {name}(x)", nt)
        arity = FUNCTIONS[name]
        if arity > 0 and len(args) != arity:
            raise FormulaError(f"{name} takes {arity} argument, got {len(args)}", self.text, t.pos)
        if arity < 0 and len(args) < -arity:
            raise FormulaError(f"{name} takes at least {-arity} arguments, got {len(args)}",
                               self.text, t.pos)
        return self.node("call", name, tuple(args), t.pos)


def _short(v: Fraction) -> str:
    s = str(v)
    return s if len(s) <= 20 else s[:8] + "..." + f"({len(s)} digits)"


def _number(t: Tok, text: str) -> Fraction:
    m = _NUM_RE.fullmatch(t.value)
    assert m
    mant, exp = m.group(1), m.group(2)
    if len(mant.replace(".", "")) > MAX_DIGITS:
        raise FormulaError(f"number has too many digits (at most {MAX_DIGITS})", text, t.pos)
    value = Fraction(mant)
    if exp:
        e = int(exp[1:])
        if abs(e) > 100:
            raise FormulaError("number exponent out of range (|e| <= 100)", text, t.pos)
        value *= Fraction(10) ** e
    return value


def _const_value(n: Node) -> Fraction | None:
    """Exact value of a small numeric subtree (numbers, +-*/ and small integer powers)."""
    if n.kind == "num":
        return n.value
    if n.kind == "neg":
        v = _const_value(n.args[0])
        return None if v is None else -v
    if n.kind in ("add", "mul"):
        vals = [_const_value(a) for a in n.args]
        if any(v is None for v in vals):
            return None
        acc = Fraction(0) if n.kind == "add" else Fraction(1)
        for v in vals:
            acc = acc + v if n.kind == "add" else acc * v  # type: ignore[operator]
        return acc
    if n.kind == "div":
        a, b = _const_value(n.args[0]), _const_value(n.args[1])
        if a is None or b is None or b == 0:
            return None
        return a / b
    if n.kind == "pow":
        # _pow already bounded these; only exact integer powers are folded
        a, b = _const_value(n.args[0]), _const_value(n.args[1])
        if a is None or b is None or b.denominator != 1 or (a == 0 and b < 0):
            return None
        return a ** int(b)
    return None


# ----------------------------------------------------------------------------- Formula

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
    return Formula(stripped, _Parser(stripped, table).parse())


# ----------------------------------------------------------------------------- SymPy

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


# ----------------------------------------------------------------------------- numbers

class Undefined(ArithmeticError):
    """The formula has no real value at this point (division by zero, log of a negative, ...)."""


Number = Union[Fraction, float]
_EXACT_BITS = 2000  # exact arithmetic switches to float beyond this size


def _small(v: Fraction) -> Number:
    if v.numerator.bit_length() > _EXACT_BITS or v.denominator.bit_length() > _EXACT_BITS:
        return float(v)
    return v


def evaluate(node: Node, env: Mapping[str, Number]) -> Number:
    """Value of an expression node at ``env``: an exact Fraction when only rational
    operations are involved, else a float.  Raises :class:`Undefined`."""
    k = node.kind
    try:
        if k == "num":
            return node.value
        if k == "sym":
            return env[node.value]
        if k == "const":
            return math.pi
        args = [evaluate(a, env) for a in node.args]
        if k == "neg":
            return -args[0]
        if k == "add":
            acc: Number = args[0]
            for a in args[1:]:
                acc = acc + a
            return _fin(acc)
        if k == "mul":
            acc = args[0]
            for a in args[1:]:
                acc = acc * a
            return _fin(acc)
        if k == "div":
            if args[1] == 0:
                raise Undefined("division by zero")
            return _fin(args[0] / args[1])
        if k == "pow":
            return _power(args[0], args[1])
        if k == "call":
            return _call(node.value, args)
    except (OverflowError, ZeroDivisionError, ValueError) as exc:
        raise Undefined(str(exc)) from None
    except KeyError as exc:
        raise Undefined(f"no value for {exc}") from None
    raise Undefined(f"{k} has no numeric value")


def _fin(v: Number) -> Number:
    if isinstance(v, float) and not math.isfinite(v):
        raise Undefined("overflow")
    return _small(v) if isinstance(v, Fraction) else v


def _power(b: Number, e: Number) -> Number:
    if isinstance(e, Fraction) and e.denominator == 1:
        ei = int(e)
        if b == 0 and ei < 0:
            raise Undefined("division by zero")
        if isinstance(b, Fraction):
            bits = max(b.numerator.bit_length(), b.denominator.bit_length())
            if bits * abs(ei) <= _EXACT_BITS:
                return b ** ei
        return _fin(float(b) ** ei)
    if isinstance(e, Fraction) and isinstance(b, Fraction) and b >= 0 and e.denominator <= 10:
        r = _exact_root(b, e.denominator)
        if r is not None:
            return _power(r, Fraction(e.numerator))
    fb, fe = float(b), float(e)
    if fb < 0:
        raise Undefined("a negative number to a fractional power")
    if fb == 0 and fe < 0:
        raise Undefined("division by zero")
    return _fin(fb ** fe)


def _exact_root(b: Fraction, k: int) -> Fraction | None:
    def iroot(n: int) -> int | None:
        if n.bit_length() > 400:
            return None
        r = round(n ** (1.0 / k)) if n < 2**1000 else None
        if r is None:
            return None
        for c in (r - 1, r, r + 1):
            if c >= 0 and c**k == n:
                return c
        return None

    p, q = iroot(b.numerator), iroot(b.denominator)
    return Fraction(p, q) if p is not None and q is not None else None


def _call(name: str, args: list[Number]) -> Number:
    if name == "abs":
        a = args[0]
        # one abs() per type: mypy cannot infer abs() of the union Fraction | float
        return abs(a) if isinstance(a, Fraction) else abs(a)
    if name == "min":
        return min(args)
    if name == "max":
        return max(args)
    x = args[0]
    if name == "sqrt":
        return _power(x, Fraction(1, 2))
    if name == "exp":
        if x == 0:
            return Fraction(1)
        return _fin(math.exp(float(x)))
    if name == "log":
        if x <= 0:
            raise Undefined("log of a non-positive number")
        if x == 1:
            return Fraction(0)
        return math.log(float(x))
    raise Undefined(f"unknown function {name}")  # pragma: no cover
