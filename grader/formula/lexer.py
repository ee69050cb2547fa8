"""The formula tokenizer: plain syntax, LaTeX commands and Unicode symbols to a list of :class:`Tok`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .syntax import _FUNC_ALIASES, FUNCTIONS, MAX_TOKENS, FormulaError


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


def tokenize(text: str) -> list[Tok]:
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
