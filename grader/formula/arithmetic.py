"""Numeric evaluation of a formula tree: exact ``Fraction`` arithmetic while it stays small, float
beyond; :class:`Undefined` where the formula has no real value."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Mapping, Union

from .syntax import Node


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
