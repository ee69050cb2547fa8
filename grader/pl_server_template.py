"""The server.py every exported PrairieLearn question gets (``str.format`` template).

Filled in by :mod:`grader.export_prairielearn` with the question's data as JSON.
"""

SERVER_PY = r'''# PrairieLearn server.py for the question "{problem_id}", written by `ravine export prairielearn`.
# Do not edit: change the problem bank and export again.
#
# PrairieLearn has numpy and sympy but not ravine, so this file is self-contained: the per-variant
# numbers (drawn by ravine's generator, the one `ravine assign` uses), the references, the anticipated
# wrong answers with their feedback and the sample points of the equivalence test are baked in as data.
#
# Symbolic answers: pl-symbolic-input parses the student's text with PrairieLearn's own safe parser
# and stores the result as {{"_type": "sympy", "_value": str(expr), ...}}.  `_value` is that parser's
# output (never the student's raw text); it is read back with sympy's parser restricted to the part's
# symbols and a few functions.  Two formulas are equal when they agree, to 12 significant digits of a
# 50-digit evaluation, at every baked sample point (exact rationals inside each symbol's range and the
# part's constraints).
import json
import random
from fractions import Fraction

import sympy
from sympy.parsing.sympy_parser import parse_expr, standard_transformations

QUESTION = json.loads({question_json!r})
VARIANTS = json.loads({variants_json!r})

_KINDS = {{
    "positive": {{"positive": True}},
    "nonnegative": {{"nonnegative": True}},
    "real": {{"real": True}},
    "integer": {{"integer": True, "positive": True}},
}}
_FUNCTIONS = {{
    "sqrt": sympy.sqrt, "exp": sympy.exp, "log": sympy.log, "ln": sympy.log, "Abs": sympy.Abs,
    "abs": sympy.Abs, "Min": sympy.Min, "Max": sympy.Max, "pi": sympy.pi, "E": sympy.E,
    "Integer": sympy.Integer, "Float": sympy.Float, "Rational": sympy.Rational, "Symbol": sympy.Symbol,
}}
_MAX_CHARS = 2000
_RTOL = sympy.Float("1e-12", 50)


def _symbols(part):
    return {{name: sympy.Symbol(name, **_KINDS[kind]) for name, kind in part["symbols"].items()}}


def _to_sympy(value, part):
    text = value.get("_value") if isinstance(value, dict) else value
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_CHARS:
        raise ValueError("not a formula")
    expr = parse_expr(text.replace("^", "**"), local_dict=_symbols(part),
                      global_dict={{"__builtins__": {{}}, **_FUNCTIONS}},
                      transformations=standard_transformations)
    if not isinstance(expr, sympy.Expr):
        raise ValueError("not an expression")
    return expr


def _value_at(expr, point, syms):
    v = expr.subs({{syms[k]: sympy.Rational(x) for k, x in point.items() if k in syms}}).evalf(50)
    if v.free_symbols or not v.is_number or v.is_real is not True or v.is_finite is not True:
        return None
    return v


def _equal(a, b, part):
    syms = _symbols(part)
    compared = 0
    for point in part["points_at"]:
        vb = _value_at(b, point, syms)
        if vb is None:
            continue
        va = _value_at(a, point, syms)
        if va is None:
            return False
        if abs(va - vb) > _RTOL * max(abs(va), abs(vb)):
            return False
        compared += 1
    return compared > 0


def _number(value):
    if isinstance(value, dict):  # a value PrairieLearn serialised with to_json (e.g. a numpy number)
        value = value.get("_value")
    if isinstance(value, bool):
        raise ValueError("not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(Fraction(value.strip()))
    raise ValueError("not a number")


def _close(got, want, part):
    return abs(got - want) <= part["atol"] + part["rtol"] * abs(want)


def _grade_part(part, answer, submitted):
    explanation = ("\n" + answer["explanation"]) if answer.get("explanation") else ""
    if part["kind"] == "choice":
        key = str(submitted).strip().lower()
        feedback = answer["choice_feedback"].get(key, "")
        if key == answer["reference"]:
            return 1.0, ("Correct. " + feedback).strip()
        return 0.0, ("Not (" + key + "). " + feedback).strip()
    if part["kind"] == "numeric":
        try:
            got = _number(submitted)
        except (ValueError, ZeroDivisionError):
            return 0.0, "Could not read your answer as a number."
        if _close(got, answer["reference"], part):
            return 1.0, "Correct."
        for m in answer["mistakes"]:
            if _close(got, m["answer"], part):
                return m["credit"], m["feedback"] + explanation
        return 0.0, "Not the expected value." + explanation
    try:
        got = _to_sympy(submitted, part)
    except Exception:  # noqa: BLE001 - any unreadable answer is a message, never a crash
        return 0.0, "Could not read your answer as a formula."
    if _equal(got, _to_sympy(answer["reference"], part), part):
        return 1.0, "Correct."
    for m in answer["mistakes"]:
        if _equal(got, _to_sympy(m["answer"], part), part):
            return m["credit"], m["feedback"] + explanation
    return 0.0, "Not the expected answer." + explanation


def generate(data):
    index = random.randrange(len(VARIANTS))
    variant = VARIANTS[index]
    data["params"]["ravine_variant"] = index
    data["params"].update(variant["params"])
    for part in QUESTION["parts"]:
        if part["kind"] in ("symbolic", "numeric"):
            data["correct_answers"][part["name"]] = variant["answers"][part["name"]]["correct"]


def grade(data):
    variant = VARIANTS[int(data["params"]["ravine_variant"])]
    earned = possible = 0.0
    for part in QUESTION["parts"]:
        if part["kind"] == "manual":
            continue
        name = part["name"]
        submitted = data["submitted_answers"].get(name)
        if name in data.get("format_errors", {{}}) or submitted is None:
            score, feedback = 0.0, "No answer could be read."
        else:
            score, feedback = _grade_part(part, variant["answers"][name], submitted)
        data["partial_scores"][name] = {{"score": score, "weight": part["points"]}}
        data["feedback"][name] = feedback
        earned += score * part["points"]
        possible += part["points"]
    data["score"] = earned / possible if possible else 0.0
'''
