"""`ravine selftest`: passes on the shipped bank, and catches deliberately broken problems and checks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli, selftest as st
from problems import exercise_registry
from problems.spec import Choice, Mistake, Param, Part, Problem, Sym

ROOT = Path(__file__).resolve().parents[1]

BETA = Sym("beta", ("mu",), "nonnegative", "0", "0.99")
V = Sym("v", (), "real", "-5", "5")
G = Sym("g", (), "real", "-3", "3")

BROKEN = Problem(
    "BR", "A deliberately broken problem", "Test data for the selftest.",
    (
        # the anticipated 2x coincides with the reference x^2 when x = 2 (but not when x = 3)
        Part("BR.a", "numeric", 2, "x^2 for x = {{x}}?", "{{x}}^2",
             mistakes=(Mistake("double", "That is 2x, not x^2.", matcher="2*{{x}}"),)),
        # an "anticipated wrong answer" that is the reference in another form
        Part("BR.b", "symbolic", 2, "Memory?", "1/(1-beta)", (BETA,), ("beta < 1",),
             mistakes=(Mistake("same-thing", "Not really wrong.", matcher="-1/(beta-1)"),
                       Mistake("one-over-beta", "The memory is 1/(1-beta).", matcher="1/beta"))),
        # a healthy part: no failure
        Part("BR.c", "choice", 1, "Pick one.", "a", choices=(Choice("a", "right"), Choice("b", "wrong", "No."))),
        # a derivation whose target does not follow from its given
        Part("BR.d", "derivation", 2, "Derive.", "v = g/(1+beta)", (V, G, BETA), ("beta < 1",),
             designated="v", given="v = beta*v + g", min_steps=2),
    ),
    params=(Param(("x",), (("2",), ("3",))),),
)


def test_shipped_bank_passes_through_the_cli():
    proc = subprocess.run([sys.executable, "-m", "grader", "selftest", "--variants", "5", "--no-simulate"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: everything holds" in proc.stdout
    counts = dict(line.strip().rsplit(": ", 1) for line in proc.stdout.splitlines()
                  if line.startswith("  ") and ": " in line)
    # every part of the bank, every anticipated answer, every rule mutant of every check was looked at
    from problems import exercise_registry

    answer_parts = [p for p in exercise_registry.parts() if p.kind != "implementation"]
    assert int(counts["reference answers"]) + int(counts["derivation parts"]) >= len(answer_parts)
    assert int(counts["anticipated answers"]) >= sum(len(p.mistakes) for p in answer_parts)
    n_mutants = sum(len(s.mistakes) for e in exercise_registry.EXERCISES.values() for s in e.public
                    if s.mistakes and isinstance(s.mistakes[0].matcher, str))
    assert int(counts["mutant runs"]) > n_mutants * 5
    assert int(counts["derivations"]) >= 10


def test_broken_problem_is_caught_and_named(monkeypatch, capsys):
    monkeypatch.setattr(st, "bank_problems", lambda: [BROKEN])
    code = cli.main(["selftest", "--variants", "8", "--only", "answers"])
    out = capsys.readouterr().out
    assert code == 1, out
    lines = [line.strip() for line in out.splitlines()]
    double = [line for line in lines if line.startswith("BR.a") and "'double'" in line]
    # named with its variant: only the students who drew x = 2
    assert double and all("(x=2)" in line and "not told apart" in line for line in double)
    assert not any(line.startswith("BR.a") and "(x=3)" in line for line in lines)
    assert any(line.startswith("BR.b") and "'same-thing'" in line and "not told apart" in line for line in lines)
    assert not any("'one-over-beta'" in line for line in lines)  # a real mistake passes
    assert not any(line.startswith("BR.c") for line in lines)
    assert any(line.startswith("BR.d") and "does not follow from the given" in line for line in lines)


def test_an_answer_recognised_under_another_id_is_caught():
    # two anticipated answers that are the same formula: the second is never named
    part = dataclasses.replace(BROKEN.parts[1], mistakes=(
        Mistake("first", "The memory is 1/(1-beta).", matcher="1/beta"),
        Mistake("second", "Another text.", matcher="1/(beta)")))
    report = st.selftest(variants=2, problems=[dataclasses.replace(BROKEN, parts=(part,))], sections=("answers",))
    assert [(f.where, f.answer.split(" (")[0]) for f in report.failures] == [("BR.b", "anticipated 'second'")]
    assert "not recognised" in report.failures[0].message and "first" in report.failures[0].message
    # credit is checked too: x = 3 makes 3x equal x^2 (not told apart), x = 2 is fine
    part = dataclasses.replace(BROKEN.parts[0], mistakes=(Mistake("triple", "That is 3x.", 0.5, matcher="3*{{x}}"),))
    report = st.selftest(variants=8, problems=[dataclasses.replace(BROKEN, parts=(part,))], sections=("answers",))
    assert report.failures and all("(x=3)" in f.variant for f in report.failures)


def test_broken_update_rule_check_is_caught():
    ex = exercise_registry.EXERCISES["momentum_step"]
    spec = ex.public[0]
    # a "mutant" that is the reference itself, and a mutant listed twice under two ids
    twin = Mistake("ema-again", "same positions as ema-form", matcher="momentum-ema")
    fake = Mistake("not-a-mistake", "identical to the reference", matcher="momentum")
    broken = dataclasses.replace(ex, public=(dataclasses.replace(spec, mistakes=spec.mistakes + (twin, fake)),),
                                 hidden=lambda seed: ())
    report = st.selftest(variants=1, exercises=[broken], sections=("rules",))
    by_answer = {f.answer.split(" (")[0]: f for f in report.failures}
    assert set(by_answer) == {"mutant 'ema-again'", "mutant 'not-a-mistake'"}
    assert "named ['ema-form']" in by_answer["mutant 'ema-again'"].message
    assert "passes" in by_answer["mutant 'not-a-mistake'"].message
    assert by_answer["mutant 'not-a-mistake'"].where == spec.name


def test_selftest_usage_error():
    proc = subprocess.run([sys.executable, "-m", "grader", "selftest", "--variants", "0"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "--variants" in proc.stderr


@pytest.mark.parametrize("section", st.SECTIONS)
def test_each_section_runs_alone(section, monkeypatch):
    monkeypatch.setattr(st, "check_derivations", lambda report, simulate=True: report.counts.update(derivations=1))
    report = st.selftest(variants=1, sections=(section,))
    assert report.ok, report.failures[:3]
    assert set(report.seconds) == {section}
