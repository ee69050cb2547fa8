"""The problem bank: specs are consistent, references are right, variants are per student."""

from __future__ import annotations

from fractions import Fraction

import pytest

import problems
from grader.equivalence import compare
from grader.formula import SymbolTable, evaluate, parse
from problems import exercise_registry
from problems.spec import Part, Problem
from problems.variants import draw_params, format_value, render, student_seed

ANSWER_PARTS = [p for p in exercise_registry.parts() if p.graded_by_answers]


def test_registry_lookup() -> None:
    assert problems.get("P1").title.startswith("The largest stable")
    assert problems.part("P1.a").kind == "symbolic"
    with pytest.raises(KeyError, match="no problem 'P9'; known: UR, P1"):
        problems.get("P9")
    with pytest.raises(KeyError, match="no problem part 'P1.z'; known: P1.a, P1.b"):
        problems.part("P1.z")


def test_every_lecture_exercise_is_in_the_bank() -> None:
    assert set(problems.PROBLEMS) == {"UR", "P1", "P2", "P3", "P4", "P5", "P6", "TV", "EM", "PM",
                                      "LS", "RQ", "DT"}
    impl = {p.function for p in exercise_registry.parts(kind="implementation")}
    assert impl == {"sgd_step", "momentum_step", "nesterov_step", "largest_stable_lr",
                    "effective_lr", "classify_critical_point"}
    kinds = {p.kind for p in exercise_registry.parts()}
    assert kinds == {"implementation", "symbolic", "numeric", "choice", "text", "derivation"}


@pytest.mark.parametrize("part", ANSWER_PARTS, ids=lambda p: p.id)
def test_references_and_mistakes_parse_and_differ(part: Part) -> None:
    params = exercise_registry.default_params(part)
    if part.kind in ("symbolic", "derivation"):
        table = SymbolTable.from_dict(part.table_data())
        ref = parse(render(part.reference, params), table)
        for m in part.mistakes:
            v = compare(parse(render(m.matcher, params), table), ref, table)
            assert v.status == "different", (part.id, m.id, v)
    elif part.kind == "numeric":
        ref_v = evaluate(parse(render(part.reference, params)).node, {})
        for m in part.mistakes:
            mv = evaluate(parse(render(m.matcher, params)).node, {})
            assert abs(float(mv) - float(ref_v)) > part.rtol * abs(float(ref_v)), (part.id, m.id)
    elif part.kind == "choice":
        assert part.reference in {c.key for c in part.choices}
    else:
        assert len(part.reference) > 40  # a real model answer for the instructor


def test_implementation_parts_carry_their_exercise() -> None:
    # one registry: the implementation exercises are the payload of the UR parts
    impl = exercise_registry.parts(kind="implementation")
    assert [p.function for p in impl] == list(exercise_registry.FUNCTIONS)
    for p in impl:
        assert exercise_registry.exercise(p.function) is p.exercise
        assert p.points == p.exercise.points
        assert p.prompt.startswith(f"`{p.exercise.signature}`")
    assert exercise_registry.exercise("effective_lr").signature == "effective_lr(lr, beta) -> float"
    with pytest.raises(KeyError, match="no exercise for function 'adam_step'; known: sgd_step"):
        exercise_registry.exercise("adam_step")
    from problems import update_rules  # the old names read the same registry

    assert update_rules.EXERCISES is exercise_registry.EXERCISES


def test_signatures_are_stated_once() -> None:
    # The six signatures live in solvers (rules: rollout.STUDENT_SIGNATURES, helpers:
    # numeric.SIGNATURES); exercises, prompts and notebook stubs read them from there.
    from grader import sandbox
    from grader.assign import stub
    from solvers import numeric, rollout

    one = {**rollout.STUDENT_SIGNATURES, **numeric.SIGNATURES}
    assert {f: exercise_registry.exercise(f).signature for f in exercise_registry.FUNCTIONS} == one
    assert sandbox.SIGNATURES == one  # the sandbox reads them from solvers too
    assert stub("momentum_step").startswith("def momentum_step(x, v, grad_fn, lr, beta):\n")
    assert stub("classify_critical_point").startswith("def classify_critical_point(H):\n")


def test_one_mistake_concept_award_and_tolerance() -> None:
    from problems.spec import Mistake, Tolerance, award

    ms = (Mistake("a", "first", 0.0, matcher="x"), Mistake("b", "second", 0.5, matcher="y"),
          Mistake("c", "third", 0.25, matcher="y"))
    found = award(ms, 4.0, lambda m: m.matcher == "y")
    assert found is not None and (found.mistake.id, found.score, found.status) == ("b", 2.0, "partial")
    found = award(ms, 4.0, lambda m: m.matcher == "x")
    assert found is not None and (found.score, found.status) == (0.0, "failed")
    assert award(ms, 4.0, lambda m: False) is None
    with pytest.raises(ValueError, match="no matcher"):
        Mistake("d", "no way to recognise it")
    tol = Tolerance(rtol=1e-3, atol=1e-6)
    assert tol.accepts(1.0009, 1.0) and not tol.accepts(1.0011, 1.0)
    assert tol.accepts(0.0, 1e-6) and not tol.accepts(0.0, 2e-6)
    assert tol.accepts(1.5e-5, 0.0, scale=20.0) and not tol.accepts(2.5e-5, 0.0, scale=20.0)
    # checks and answer parts share the classes
    assert exercise_registry.exercise("sgd_step").public[0].mistakes[0].__class__ is Mistake
    assert problems.part("P1.a").mistakes[0].__class__ is Mistake
    assert problems.part("P1.c").tolerance == Tolerance(rtol=2e-3, atol=0.0)


def test_malformed_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        Part("X.a", "choice", 1, "?", "z")
    with pytest.raises(ValueError, match="names its function"):
        Part("X.a", "implementation", 1, "?")
    sgd = exercise_registry.exercise("sgd_step")
    with pytest.raises(ValueError, match="its exercise has 12"):
        Part("X.a", "implementation", 1, "?", exercise=sgd)
    with pytest.raises(ValueError, match="only implementation parts"):
        Part("X.a", "text", 1, "?", "ref", exercise=sgd)
    with pytest.raises(ValueError, match="does not belong"):
        Problem("X", "t", "s", (Part("Y.a", "text", 1, "?", "ref"),))


# ----------------------------------------------------------------------------- variants

def test_seed_is_hmac_and_stable() -> None:
    import hashlib
    import hmac

    assert student_seed("s3cret", "alice") == hmac.new(b"s3cret", b"alice", hashlib.sha256).digest()
    assert student_seed("s3cret", "alice") != student_seed("s3cret", "bob")
    assert student_seed("s3cret", "alice") != student_seed("other", "alice")
    with pytest.raises(ValueError, match="empty"):
        student_seed("", "alice")


def test_students_get_different_numbers_and_always_the_same() -> None:
    p1 = problems.get("P1")
    draws = {sid: draw_params(p1, student_seed("k", sid)) for sid in (f"s{i}" for i in range(40))}
    assert len({tuple(sorted(d.items())) for d in draws.values()}) >= 6  # 8 choices, 40 students
    assert draws["s3"] == draw_params(p1, student_seed("k", "s3"))
    assert draw_params(p1, None) == {"a": Fraction(100), "b": Fraction(1)}


def test_render_placeholders() -> None:
    assert render("2/{{a}} and {{ b }}", {"a": Fraction(120), "b": Fraction(99, 100)}) == "2/120 and 0.99"
    assert format_value(Fraction(1, 3)) == "1/3"
    with pytest.raises(KeyError, match="no parameter 'c'"):
        render("{{c}}", {})


# ----------------------------------------------------------------------------- solvers.derive
# Each answer is stated once: in a derivation's results.  The bank's references are generated
# from them (problems/references.py) into problems/_references.py, so grading needs no SymPy.

DERIVED_KINDS = ("symbolic", "numeric", "derivation")


def test_references_are_generated_from_the_derivations(request: pytest.FixtureRequest) -> None:
    # No skip: if solvers.derive cannot be imported, this fails.
    from problems import references

    text = references.module_text(references.generate())
    if request.config.getoption("--update-references"):
        references.PATH.write_text(text, encoding="utf-8")
    assert references.PATH.read_text(encoding="utf-8") == text, (
        "problems/_references.py is stale: rewrite it with "
        "`python3 -m pytest tests/test_problem_bank.py --update-references` and review the diff")


def test_every_symbolic_numeric_and_derivation_part_is_derived() -> None:
    from problems._references import REFERENCES

    derived = [p for p in exercise_registry.parts() if p.kind in DERIVED_KINDS]
    assert len(derived) == 21  # 13 symbolic, 7 numeric, 1 derivation
    for p in derived:
        assert p.derived, f"{p.id} states its reference instead of deriving it"
        assert p.reference == REFERENCES[p.derived] != "", p.id
    assert problems.part("RQ.a").reference == REFERENCES["quiz_answer"] == "b"
    assert problems.part("P1.b").reference == "lr < 2/lambda_max"
    assert problems.part("LS.b").reference == "{{B1}}*{{lr0}}/{{B0}}"
    assert problems.part("TV.c").reference == "v = g/(1 - beta)"


def test_a_derived_part_does_not_also_state_its_reference() -> None:
    with pytest.raises(ValueError, match="is generated, not written"):
        Part("X.a", "symbolic", 1, "?", "2/lambda_min", derived="stable_lr")
    assert Part("X.a", "symbolic", 1, "?", derived="stable_lr").reference == "2/lambda_max"


def test_recipes() -> None:
    from problems import references

    known = references.results()
    assert references.to_text(references.evaluate("at(effective_lr, beta={{b}}) * 2", known)) == \
        "2*lr/(1 - {{b}})"
    assert references.to_text(references.evaluate("Eq(v, terminal_velocity)", known)) == "v = g/(1 - beta)"
    with pytest.raises(ValueError, match="kappa not in"):
        references.evaluate("at(stable_lr, kappa=2)", known)
    with pytest.raises(ValueError, match="not part of the recipe language"):
        references.evaluate("__import__('os')", known)


def test_worked_numbers_agree_with_the_generated_references() -> None:
    from problems import references

    known = references.results()
    p1c = problems.part("P1.c")
    assert evaluate(parse(render(p1c.reference, exercise_registry.default_params(p1c))).node, {}) == \
        Fraction(str(known["p1_stable_lr"]))
    p6a = problems.part("P6.a")
    assert evaluate(parse(render(p6a.reference, exercise_registry.default_params(p6a))).node, {}) == \
        int(known["p6_ratio"])


def test_problems_never_import_the_grader() -> None:
    import ast
    from pathlib import Path

    root = Path(problems.__file__).resolve().parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""] if node.level == 0 else []
            else:
                continue
            assert not any(m.split(".")[0] == "grader" for m in mods), (path.name, mods)
