"""Derivation checking and ``ravine verify``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from grader.commands import verify
from grader.derivcheck import DerivationError, check_derivation, parse_derivation

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "derivations"


def run_verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    verify.add_arguments(parser)
    code = verify.run(parser.parse_args(list(argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


def check(text: str):  # type: ignore[no-untyped-def]
    return check_derivation(parse_derivation(text))


def test_text_format_headers_and_reasons() -> None:
    d = parse_derivation((EXAMPLES / "terminal-velocity.txt").read_text())
    assert d.target == "v = g/(1 - beta)" and d.given == "v = beta*v + g"
    assert d.assume == ["0 < beta < 1"]
    assert [s.text for s in d.steps] == ["v - beta*v = g", "v*(1 - beta) = g",
                                         r"v = \frac{g}{1-\beta}"]
    assert d.steps[0].reason == "move beta*v to the left" and d.steps[0].line == 5


def test_equation_chain_checks() -> None:
    r = check((EXAMPLES / "terminal-velocity.txt").read_text())
    assert r.ok and r.target_status == "ok"
    assert [s.status for s in r.steps] == ["ok", "ok", "ok"]


def test_first_wrong_step_is_reported_with_counterexample() -> None:
    r = check((EXAMPLES / "terminal-velocity-wrong.txt").read_text())
    assert not r.ok
    bad = r.first_failure
    assert bad is not None and bad.index == 1 and bad.status == "fails"
    assert bad.verdict is not None and bad.verdict.counterexample
    assert set(bad.verdict.counterexample) == {"beta", "g", "v"}
    assert "does not follow from the given" in bad.verdict.evidence
    assert len(r.steps) == 1  # checking stops at the first failure


def test_wrong_final_step_fails_target() -> None:
    r = check("target: v = g/(1+beta)\ngiven: v = beta*v + g\nassume: 0 < beta < 1\nv - beta*v = g\n"
              "v = g/(1-beta)\n")
    assert not r.ok and r.target_status == "fails"
    assert "not the target" in r.message


def test_last_step_must_be_solved_for_the_target_variable() -> None:
    # v*(1-beta) = g has the same solutions as the target, but it does not state v = ...
    r = check("target: v = g/(1-beta)\nassume: 0 < beta < 1\nv = beta*v + g\nv*(1-beta) = g\n")
    assert not r.ok and r.target_status == "fails"
    assert "v = ..." in r.target_verdict.evidence


def test_inequality_chain() -> None:
    r = check((EXAMPLES / "stability.txt").read_text())
    assert r.ok, r.render()


def test_inequality_chain_le_slip() -> None:
    # <= is weaker, so step 3 still follows; the conclusion lr < 2/lambda then does not
    text = (EXAMPLES / "stability.txt").read_text().replace("0 < lr*lambda < 2", "0 < lr*lambda <= 2")
    r = check(text)
    assert not r.ok and r.first_failure is not None and r.first_failure.index == 4
    lam = r.first_failure.verdict.counterexample["lambda"]
    lr = r.first_failure.verdict.counterexample["lr"]
    from fractions import Fraction

    assert Fraction(lam.split()[0]) * Fraction(lr.split()[0]) == 2  # on the boundary


def test_inequality_chain_too_strong_step() -> None:
    text = (EXAMPLES / "stability.txt").read_text().replace("0 < lr*lambda < 2", "0 < lr*lambda < 1")
    r = check(text)
    assert r.first_failure is not None and r.first_failure.index == 3


def test_expression_chain_json() -> None:
    r = check((EXAMPLES / "effective-lr.json").read_text())
    assert r.ok and all(s.status == "ok" for s in r.steps)


def test_expression_chain_wrong_step() -> None:
    r = check("target: lr/(1-beta)\nassume: 0<beta<1\nlr*(1+beta+beta^2+beta^3/(1-beta))\n"
              "lr*(1+beta)/(1-beta)\nlr/(1-beta)\n")
    bad = r.first_failure
    assert bad is not None and bad.index == 2 and "is not equal to step 1" in bad.verdict.evidence


@pytest.mark.parametrize("text,message", [
    ("", "the derivation has no steps"),
    ("target: v = 1\n", "the derivation has no steps"),
    ("v = 1 +\n", "line 1: the formula ends too early"),
    ("target: v = (1\nv = 1\n", "target: '(' is never closed"),
    ("v = 1\nv + 1\n", "not a mix"),
    ("given: a = 1\ngiven: a = 2\na = 1\n", "only one 'given:' line"),
    ('{"steps": 3}', 'must be an object with a "steps" list'),
    ('{"steps": [1]}', "step 1: expected a string"),
    ("{not json", "not valid JSON"),
])
def test_bad_derivations(text: str, message: str) -> None:
    with pytest.raises(DerivationError) as info:
        check(text)
    assert message in str(info.value)


def test_verify_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_verify(capsys, str(EXAMPLES / "terminal-velocity.txt"))
    assert code == 0 and "the derivation checks" in out
    code, out, _ = run_verify(capsys, str(EXAMPLES / "terminal-velocity-wrong.txt"))
    assert code == 1 and "FAIL step 1" in out
    code, _, err = run_verify(capsys, str(tmp_path / "missing.txt"))
    assert code == 2 and "no such file" in err
    bad = tmp_path / "bad.txt"
    bad.write_text("v = = 2\n")
    code, _, err = run_verify(capsys, str(bad))
    assert code == 2 and "line 1" in err
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\x00\x01")
    code, _, err = run_verify(capsys, str(binary))
    assert code == 2 and "binary" in err
    code, _, err = run_verify(capsys, str(tmp_path))
    assert code == 2 and "directory" in err


def test_verify_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_verify(capsys, "--json", str(EXAMPLES / "terminal-velocity-wrong.txt"))
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert data["steps"][0]["status"] == "fails" and data["steps"][0]["verdict"]["counterexample"]


def test_verify_against_a_problem_part(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "tv.txt"
    f.write_text("v - beta*v = g\nv = g/(1 - beta)\n")  # target and given come from TV.c
    code, out, _ = run_verify(capsys, "--problem", "TV.c", str(f))
    assert code == 0 and "the derivation checks" in out
    f.write_text("v = g/(1 + beta)\n")
    code, out, _ = run_verify(capsys, "--problem", "TV.c", str(f))
    assert code == 1 and "does not follow from the given" in out
    code, _, err = run_verify(capsys, "--problem", "TV.z", str(f))
    assert code == 2 and "no problem part 'TV.z'" in err
    code, _, err = run_verify(capsys, "--problem", "TV.a", str(f))
    assert code == 2 and "not a derivation" in err


def test_commands_are_registered_and_light() -> None:
    import subprocess
    import sys

    from grader.cli import COMMANDS

    assert COMMANDS["verify"] == "grader.commands.verify"
    assert COMMANDS["assign"] == "grader.commands.assign"
    code = ("import sys, grader.commands.verify as v, grader.commands.assign as a; "
            "print(bool(v.HELP and a.HELP), 'sympy' in sys.modules, 'nbformat' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


def test_derivation_budget_and_size_limits() -> None:
    text = "target: v = g/(1-beta)\nassume: 0<beta<1\n" + "v = beta*v + g\n" * 5
    r = check_derivation(parse_derivation(text), budget=0.0)
    assert not r.ok and r.first_failure is not None and r.first_failure.index == 2
    assert "time limit" in r.first_failure.verdict.evidence
    with pytest.raises(DerivationError, match="too many steps"):
        check("v = 1\n" * 61)


def cli_verify(*argv: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    p = subprocess.run([sys.executable, "-m", "grader", "verify", *argv], cwd=root,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


# (derivation text for TV.c, does `verify --problem TV.c` pass, grade's points out of 3)
ONE_RULE_CASES = [
    ("v = g/(1-beta)\n", False, 0.0),  # right, but one step: show the work
    ("v - beta*v = g\nv = g/(1 - beta)\n", True, 3.0),
    ("v - beta*v = g\nv = g/(1 + beta)\n", False, 0.0),
]


@pytest.mark.parametrize("text,passes,points", ONE_RULE_CASES)
def test_verify_problem_and_grade_apply_one_rule(tmp_path: Path, text: str, passes: bool,
                                                 points: float) -> None:
    from grader.answer_grading import grade_answers

    f = tmp_path / "tv.txt"
    f.write_text(text)
    code, out, err = cli_verify("--problem", "TV.c", str(f))
    assert code == (0 if passes else 1), out + err
    (graded,) = [r for r in grade_answers({"TV.c": text}, student_id=None, secret=None,
                                          problems=["TV"]) if r.part == "TV.c"]
    assert graded.score == points
    if text.count("\n") == 1:
        assert "show your work: at least 2 steps are required (you gave 1)" in out
        assert "show your work: at least 2 steps (you gave 1)" in graded.output


def test_problem_fixes_target_and_domain(tmp_path: Path) -> None:
    f = tmp_path / "tv.txt"
    f.write_text("target: v = 0\nv - beta*v = g\nv = 0\n")
    code, _, err = cli_verify("--problem", "TV.c", str(f))
    assert code == 2 and "TV.c fixes its target as 'v = g/(1 - beta)'" in err
    f.write_text("assume: g = 0\nv - beta*v = g\nv = g/(1 - beta)\n")
    code, _, err = cli_verify("--problem", "TV.c", str(f))
    assert code == 2 and "'g = 0' narrows the domain of TV.c" in err
    f.write_text("assume: beta < 1\nv - beta*v = g\nv = g/(1 - beta)\n")  # restates the domain: fine
    code, out, _ = cli_verify("--problem", "TV.c", str(f))
    assert code == 0 and "the derivation checks" in out


# Each file goes through the real CLI: (file text, exit code, a phrase of the output or message)
VERIFY_FILES = [
    # SymPy's Abs is abs, so this correct derivation checks (it was read as the product Abs*(...))
    ("target: lr < 2/lam\nassume: lr > 0\nassume: lam > 0\nAbs(1 - lr*lam) < 1\n"
     "-1 < 1 - lr*lam < 1\n0 < lr*lam < 2\nlr < 2/lam\n", 0, "the derivation checks"),
    # a name directly followed by "(" that is not a function is refused, naming it
    ("given: sin(x) = sin(x)\nsin(x) = x*sin\n", 2, "'sin' is not a known function"),
    ("target: v = g/(1-beta)\nv(1 - beta) = g\nv = g/(1 - beta)\n", 2,
     "'v' is not a known function (known: abs, exp, ln, log, max, min, sqrt); for a product write v*(...)"),
    # ... while a space keeps the product
    ("target: v = g/(1-beta)\ngiven: v = beta*v + g\nassume: 0 < beta < 1\nv (1 - beta) = g\n"
     "v = g/(1 - beta)\n", 0, "the derivation checks"),
    # no relation, nothing compared: not "every step follows"
    ("hello\n", 2, "nothing to check: line 1 ('hello') is the only step"),
    ("# only a comment\n", 2, "the derivation has no steps"),
    # given of another kind than the steps: say what to write
    ("given: v\nv - beta*v = g\nv = g/(1-beta)\n", 2,
     "given: 'v' is an expression, but the steps are equations/conditions: write the given as an "
     "equation or condition"),
    ("given: v = beta*v + g\nv*(1 - beta)\ng\n", 2,
     "is an equation/condition, but the steps are expressions: write every step as an equation or "
     "condition that follows from it"),
    ("v = beta*v + g\nv*(1 - beta)\n", 2, "line 2: 'v*(1 - beta)' is an expression, but step 1 is an "
     "equation or condition"),
]


@pytest.mark.parametrize("text,code,phrase", VERIFY_FILES)
def test_verify_files_through_the_cli(tmp_path: Path, text: str, code: int, phrase: str) -> None:
    f = tmp_path / "d.txt"
    f.write_text(text)
    got, out, err = cli_verify(str(f))
    assert got == code, out + err
    assert phrase in (out if code != 2 else err)
    assert "Traceback" not in out + err


def test_verify_without_target_says_what_was_checked(tmp_path: Path) -> None:
    f = tmp_path / "d.txt"
    f.write_text("a*(b + c)\na*b + a*c\n")
    code, out, _ = cli_verify(str(f))
    assert code == 0 and "every step equals the previous one (no target given" in out
    f.write_text("a*(b + c)\na*b + c\n")
    code, out, _ = cli_verify(str(f))
    assert code == 1 and "step 2 is not equal to step 1" in out
