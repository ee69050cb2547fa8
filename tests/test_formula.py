"""The safe formula parser: what parses to what, what fails with which message, hostile input."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
import sympy

from grader.formula import (FormulaError, SymbolSpec, SymbolTable, Undefined, evaluate, parse)

TABLE = SymbolTable(
    (
        SymbolSpec("lr", ("eta", "alpha")),
        SymbolSpec("beta", kind="nonnegative", lo=0, hi=Fraction(99, 100)),
        SymbolSpec("lambda_max", ("L", "lambda_1")),
        SymbolSpec("lambda_min"),
        SymbolSpec("g", kind="real", lo=-3, hi=3),
        SymbolSpec("x", kind="real", lo=-3, hi=3),
        SymbolSpec("gamma"), SymbolSpec("zeta"), SymbolSpec("E"), SymbolSpec("I"),
        SymbolSpec("N"), SymbolSpec("S"), SymbolSpec("O"), SymbolSpec("Q"),
    )
)

lr, beta, lmax, lmin, g, x = (sympy.Symbol("lr", positive=True),
                              sympy.Symbol("beta", nonnegative=True),
                              sympy.Symbol("lambda_max", positive=True),
                              sympy.Symbol("lambda_min", positive=True),
                              sympy.Symbol("g", real=True), sympy.Symbol("x", real=True))

PARSES = [
    ("2/lambda_max", 2 / lmax),
    (r"\frac{2}{\lambda_{\max}}", 2 / lmax),
    (r"\dfrac{2}{\lambda_\max}", 2 / lmax),
    (r"\frac{2}{\lambda_{max}}", 2 / lmax),
    (r"$\frac{2}{L}$", 2 / lmax),
    ("2/λ_max", 2 / lmax),
    ("lr/(1-beta)", lr / (1 - beta)),
    ("eta*g/(1 - beta)", lr * g / (1 - beta)),
    (r"\frac{\eta g}{1-\beta}", lr * g / (1 - beta)),
    (r"\alpha \cdot g \times 2", 2 * lr * g),
    ("beta^2", beta**2),
    ("beta**2", beta**2),
    (r"\beta^{2}", beta**2),
    ("β²", beta**2),
    ("2x", 2 * x),
    ("2(1-beta)", 2 * (1 - beta)),
    ("lr beta", lr * beta),
    ("(1-beta)(1+beta)", (1 - beta) * (1 + beta)),
    ("1/2x", x / 2),
    ("-x^2", -x**2),
    ("2^-1", sympy.Rational(1, 2)),
    ("2^3^2", 2**9),
    ("0.9", sympy.Rational(9, 10)),
    ("1e-3", sympy.Rational(1, 1000)),
    (".5", sympy.Rational(1, 2)),
    ("sqrt(lambda_max)", sympy.sqrt(lmax)),
    (r"\sqrt{\lambda_{\max}}", sympy.sqrt(lmax)),
    (r"\sqrt[3]{8}", 2),
    ("exp(x)", sympy.exp(x)),
    ("ln(lr)", sympy.log(lr)),
    ("log(lr)", sympy.log(lr)),
    (r"\ln \eta", sympy.log(lr)),
    ("abs(x)", sympy.Abs(x)),
    ("|1 - lr*L|", sympy.Abs(1 - lr * lmax)),
    (r"\left| 1 - \eta \lambda_1 \right|", sympy.Abs(1 - lr * lmax)),
    ("min(lr, beta)", sympy.Min(lr, beta)),
    ("max(x, g, 1)", sympy.Max(x, g, 1)),
    ("pi", sympy.pi),
    (r"\pi/2", sympy.pi / 2),
    (r"\left( 1-\beta \right)^{-1}", 1 / (1 - beta)),
    ("[1-beta]", 1 - beta),
    ("1 − β", 1 - beta),
    ("lambda_max - lambda_min", lmax - lmin),
]


@pytest.mark.parametrize("text,expected", PARSES)
def test_parses_to(text: str, expected: object) -> None:
    got = parse(text, TABLE).to_sympy(TABLE)
    assert sympy.simplify(got - expected) == 0, (text, got)
    assert got == expected or sympy.expand(got) == sympy.expand(expected)


@pytest.mark.parametrize("name", ["gamma", "zeta", "E", "I", "N", "S", "O", "Q", "beta"])
def test_special_sympy_names_are_plain_symbols(name: str) -> None:
    got = parse(f"1/(1-{name})", TABLE).to_sympy(TABLE)
    (sym,) = got.free_symbols
    assert isinstance(sym, sympy.Symbol) and sym.name == name
    assert got.subs(sym, 3) == sympy.Rational(-1, 2)


def test_lambda_keyword_is_a_name() -> None:
    t = SymbolTable((SymbolSpec("lambda"),))
    got = parse("2/lambda", t).to_sympy(t)
    assert got == 2 / sympy.Symbol("lambda", positive=True)


def test_decimals_become_exact_rationals() -> None:
    assert parse("0.1 + 0.2", TABLE).to_sympy() == sympy.Rational(3, 10)
    assert parse("lr*0.99").to_sympy().args[0] == sympy.Rational(99, 100)


def test_relations_and_chains() -> None:
    f = parse("lr < 2/lambda_max", TABLE)
    assert f.kind == "relation" and f.node.value == "<"
    assert parse(r"\eta \le 2/L", TABLE).node.value == "<="
    assert parse("lr =< 2", TABLE).node.value == "<="
    assert parse("lr ≥ 2", TABLE).node.value == ">="
    chain = parse("0 < lr < 2/lambda_max", TABLE)
    assert chain.kind == "relation" and [a.value for a in chain.node.args] == ["<", "<"]
    assert parse("v_t = beta v_{t-1} + g_t").kind == "equation"
    assert parse("v_t = beta v_{t-1} + g_t").symbols == {"v_t", "beta", "v_{t-1}", "g_t"}


def test_subscript_spellings_agree() -> None:
    names = {parse(t).node.value for t in ["lambda_max", r"\lambda_{\max}", r"\lambda_\max",
                                            r"\lambda_{max}", "λ_max", r"\lambda_{\text{max}}"]}
    assert names == {"lambda_max"}


def test_plain_text_round_trip() -> None:
    for text, _ in PARSES:
        f = parse(text, TABLE)
        again = parse(f.plain(), TABLE)
        assert sympy.simplify(again.to_sympy(TABLE) - f.to_sympy(TABLE)) == 0, (text, f.plain())


FAILS = [
    ("", "the answer is empty", None),
    ("   ", "the answer is empty", None),
    ("(1+2", "'(' is never closed", 0),
    ("1+", "the formula ends too early", 2),
    ("1 + * 2", "unexpected '*'", 4),
    ("lr)", "unmatched ')'", 2),
    ("2 3", "two numbers side by side", 2),
    ("x 2", "write the '*' explicitly", 2),
    ("foo + 1", "unknown name 'foo'; this answer may use: lr, beta", 0),
    ("e^x", "unknown name 'e' (for Euler's number write exp(1))", 0),
    ("lrbeta", "unknown name 'lrbeta'", 0),
    (r"\sum_{k=0}^{n} beta^k", "sums are not supported", 0),
    (r"\foo{x}", "unknown LaTeX command \\foo", 0),
    (r"\frac{1}", "\\frac{...} must be followed by {...}", 8),
    ("sqrt(1, 2)", "sqrt takes 1 argument, got 2", 0),
    ("min(1)", "min takes at least 2 arguments", 0),
    ("lr != 2", "'not equal' is not accepted", 3),
    ("a = b = c", "write one equation per line", 0),
    ("1/0", "division by zero", 1),
    ("x_", "a subscript '_' must be followed", 2),
    ("2 @ 3", "unexpected character '@'", 2),
    ("1 < ", "the formula ends too early", 3),
]


@pytest.mark.parametrize("text,message,pos", FAILS)
def test_fails_with_message(text: str, message: str, pos: int | None) -> None:
    table = None if text in ("a = b = c", "x_") else TABLE
    with pytest.raises(FormulaError) as info:
        parse(text, table)
    assert message in str(info.value)
    if pos is not None:
        assert info.value.pos == pos
        # the caret line points at the position
        lines = str(info.value).splitlines()
        assert lines[-1].index("^") - 2 == pos


HOSTILE = [
    ("9**9**9**9", "exponent too large"),
    ("9^9^9", "exponent too large"),
    ("2^10000", "exponent too large"),
    ("(10^100)^999", "number too large"),
    ("1e100^100", "number too large"),
    ("x" * 10_000, "formula too long (10000 characters; at most 500)"),
    ("(" * 100 + "x" + ")" * 100, "nested too deeply"),
    ("(" * 200 + "x" + ")" * 200, "formula too long (more than 300 symbols)"),
    ("-" * 300 + "x", "formula too long"),
    ("1" * 40, "too many digits"),
    ("1e1000", "number exponent out of range"),
    ("__import__('os').system('ls')", "unexpected"),
    ("().__class__", "unexpected"),
    ("x.real", "unexpected character '.'"),
    ("lambda x: x", "unexpected character ':'"),
    ("[y for y in x]", "unknown name 'y'"),
    ("open('/etc/passwd')", "unexpected character"),
    ("exec", "unknown name 'exec'"),
    ("x;1", "unexpected character ';'"),
    ("+".join(["x"] * 240), "formula too long"),
]


@pytest.mark.parametrize("text,message", HOSTILE)
def test_hostile_input_rejected_fast(text: str, message: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(FormulaError) as info:
        parse(text, TABLE)
    assert message in str(info.value)
    assert time.perf_counter() - t0 < 1.0  # generous: the real cost is microseconds


def test_bounded_powers_are_allowed() -> None:
    assert parse("2^1000").to_sympy() == 2**1000
    assert parse("(1+x)^1000", TABLE).kind == "expr"


def test_evaluate_is_exact_when_rational() -> None:
    f = parse("lr/(1-beta)", TABLE)
    assert evaluate(f.node, {"lr": Fraction(1, 10), "beta": Fraction(9, 10)}) == 1
    assert evaluate(parse("sqrt(9/4)").node, {}) == Fraction(3, 2)
    v = evaluate(parse("sqrt(2)").node, {})
    assert isinstance(v, float) and abs(v - 2**0.5) < 1e-15


@pytest.mark.parametrize("text", ["1/(1-beta)", "log(x)", "sqrt(x)", "x^(1/2)", "(x+1)^(-1)"])
def test_evaluate_undefined(text: str) -> None:
    with pytest.raises(Undefined):
        evaluate(parse(text, TABLE).node, {"beta": Fraction(1), "x": Fraction(-1)} if "x" in text
                 else {"beta": Fraction(1)})


def test_importing_formula_does_not_import_sympy() -> None:
    import subprocess
    import sys

    code = ("import sys, grader.formula, grader.equivalence, grader.derivcheck, grader.answer_grading, "
            "grader.assign, problems; "
            "print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- fuzzing
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ALPHABET = st.sampled_from(list("0123456789.+-*/^()[]{}|_=<>,\\ $xgβλ") +
                            ["lr", "beta", "lambda_max", r"\frac", r"\sqrt", r"\left(", r"\right)",
                             "sqrt", "exp", "log", "min", "max", "**", "<=", r"\le", r"\beta",
                             r"\lambda_{\max}", "e", "9", "99"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_fuzz_parse_only_raises_formula_error(text: str) -> None:
    try:
        f = parse(text, TABLE)
    except FormulaError as exc:
        assert exc.message
        return
    # whatever parses re-parses from its plain rendering to a formula with the same values
    again = parse(f.plain(), TABLE)
    assert again.kind == f.kind
    env = {"lr": Fraction(1, 10), "beta": Fraction(1, 2), "lambda_max": Fraction(3),
           "x": Fraction(2), "g": Fraction(-1)}
    if f.kind == "expr":
        try:
            want = evaluate(f.node, env)
        except Undefined:
            return
        got = evaluate(again.node, env)
        assert got == want or abs(float(got) - float(want)) <= 1e-9 * abs(float(want))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_fuzz_arbitrary_unicode(text: str) -> None:
    try:
        parse(text, TABLE)
    except FormulaError:
        pass


def test_abs_is_sympys_spelling_of_abs() -> None:
    assert parse("Abs(1 - lr*beta)", TABLE).plain() == parse("abs(1 - lr*beta)", TABLE).plain()
    assert parse(r"\operatorname{Abs}(x)", TABLE).plain() == "abs(x)"


@pytest.mark.parametrize("text,name", [("sin(x)", "sin"), ("lr(1 - beta)", "lr"), (r"\beta(1-x)", "beta"),
                                        ("v_t(x)", "v_t"), ("Sqrt(x)", "Sqrt")])
def test_a_name_called_like_a_function_is_refused(text: str, name: str) -> None:
    with pytest.raises(FormulaError, match=f"'{name}' is not a known function"):
        parse(text, TABLE.with_open())
    with pytest.raises(FormulaError):
        parse(text)  # without a table too


def test_a_space_or_left_keeps_the_implicit_product() -> None:
    assert parse("lr (1 - beta)", TABLE).plain() == "lr*(1 - beta)"
    assert parse(r"\beta\left(1 - x\right)", TABLE).plain() == "beta*(1 - x)"
