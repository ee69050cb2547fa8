"""Per-student numbers: drawn from HMAC(course secret, student id), never from the notebook.

``student_seed(secret, student_id)`` is HMAC-SHA256 of the id under the secret;
each problem then draws its parameters from ``random.Random(HMAC(seed,
problem id))``, so problems are independent of each other and of their order.
Two students get different numbers (up to the size of each choice list); one
student always gets the same.  Without a student (generic notebook) every
parameter takes its first choice.  Only the numbers reach notebooks and
feedback; the secret and the seed never do.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from fractions import Fraction
from typing import Mapping

from .spec import Problem

__all__ = ["student_seed", "draw_params", "render", "format_value"]


def _bytes(secret: bytes | str) -> bytes:
    b = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not b:
        raise ValueError("the course secret is empty")
    return b


def student_seed(secret: bytes | str, student_id: str) -> bytes:
    """HMAC-SHA256(secret, student id): 32 bytes that only the secret's holder can compute."""
    sid = student_id.strip()
    if not sid:
        raise ValueError("empty student id")
    return hmac.new(_bytes(secret), sid.encode("utf-8"), hashlib.sha256).digest()


def draw_params(problem: Problem, seed: bytes | None) -> dict[str, Fraction]:
    """The problem's parameters for one student (``seed`` None: the generic first choices)."""
    out: dict[str, Fraction] = {}
    rng = None
    if seed is not None:
        rng = random.Random(hmac.new(seed, problem.id.encode("utf-8"), hashlib.sha256).digest())
    for param in problem.params:
        choice = param.choices[0] if rng is None else rng.choice(param.choices)
        for name, value in zip(param.names, choice):
            out[name] = Fraction(value)
    return out


def format_value(v: Fraction) -> str:
    """Exact decimal when the value has one (0.99, 120), else a fraction (1/3)."""
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d == 1:
        s = f"{float(v):.15g}"
        if Fraction(s) == v:
            return s
    return f"{v.numerator}/{v.denominator}"


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(text: str, params: Mapping[str, Fraction]) -> str:
    """Replace ``{{name}}`` by the parameter's value; an unknown name raises KeyError."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in params:
            raise KeyError(f"no parameter {name!r} (known: {', '.join(params) or 'none'})")
        return format_value(params[name])

    return _PLACEHOLDER.sub(sub, text)
