"""The Pratt parser: tokens to a tree of :class:`Node`, names resolved through a :class:`SymbolTable`,
every limit of :mod:`grader.formula` enforced with a positioned :class:`FormulaError`."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from .lexer import Tok, _NUM_RE, tokenize
from .syntax import FUNCTIONS, FormulaError, MAX_DEPTH, MAX_DIGITS, MAX_EXPONENT, MAX_NODES, MAX_POWER_BITS, Node, SymbolTable, _FUNC_ALIASES, _canon


_REL_OPS = {"<", "<=", ">", ">=", "="}
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


class Parser:
    def __init__(self, text: str, table: SymbolTable | None):
        self.text = text
        self.table = table
        self.toks = tokenize(text)
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
