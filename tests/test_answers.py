"""grade_answers: every reference scores full marks, anticipated mistakes are named, bad input is contained."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

import problems
from grader.answer_grading import answer_text, grade_answers, read_answers
from problems import exercise_registry
from problems.variants import draw_params, render, student_seed

TV_DERIVATION = "v - beta*v = g   -- collect v\nv*(1-beta) = g\nv = g/(1-beta)"


def reference_answers(student_id: str | None = None, secret: str | None = None) -> dict[str, str]:
    seed = student_seed(secret, student_id) if student_id and secret else None
    out = {}
    for p in problems.PROBLEMS.values():
        params = draw_params(p, seed)
        for part in p.parts:
            if part.kind == "derivation":
                out[part.id] = TV_DERIVATION
            elif part.graded_by_answers:
                out[part.id] = render(part.reference, params)
    return out


def by_part(results):  # type: ignore[no-untyped-def]
    return {r.part: r for r in results}


def test_reference_answers_score_full_marks() -> None:
    res = by_part(grade_answers(reference_answers(), student_id=None, secret=None))
    assert set(res) == {p.id for p in exercise_registry.parts() if p.graded_by_answers}
    for pid, r in res.items():
        if problems.part(pid).kind == "text":
            assert (r.status, r.score) == ("pending", 0.0)
            assert "Reference answer:" in r.output
        else:
            assert (r.status, r.score) == ("passed", r.max_score), (pid, r.output)
        assert r.group == problems.part(pid).problem_id


def test_reference_answers_for_a_student_variant() -> None:
    answers = reference_answers("s17", "course-key")
    res = by_part(grade_answers(answers, student_id="s17", secret="course-key"))
    assert all(r.score == r.max_score for r in res.values() if r.status != "pending")
    # the same answers graded as another student with other numbers lose the numeric parts
    other = next(s for s in (f"s{i}" for i in range(100))
                 if draw_params(problems.get("P1"), student_seed("course-key", s))
                 != draw_params(problems.get("P1"), student_seed("course-key", "s17")))
    res2 = by_part(grade_answers(answers, student_id=other, secret="course-key", problems=["P1"]))
    assert res2["P1.c"].score == 0 and res2["P1.a"].score == res2["P1.a"].max_score


MISTAKES = [(part.id, m.id, m.matcher, m.credit) for part in exercise_registry.parts()
            for m in part.mistakes]


@pytest.mark.parametrize("part_id,mistake_id,answer,credit", MISTAKES,
                         ids=[f"{m[0]}-{m[1]}-{i}" for i, m in enumerate(MISTAKES)])
def test_anticipated_mistakes_are_recognised(part_id: str, mistake_id: str, answer: str,
                                             credit: float) -> None:
    part = problems.part(part_id)
    text = render(answer, exercise_registry.default_params(part))
    (r,) = [x for x in grade_answers({part_id: text}, student_id=None, secret=None,
                                     problems=[part.problem_id]) if x.part == part_id]
    assert mistake_id in r.diagnoses
    assert r.score == pytest.approx(credit * part.points)
    assert r.status == ("partial" if credit else "failed")
    assert r.output.startswith(next(m.message for m in part.mistakes if m.id == mistake_id)[:30])


REWRITINGS = [
    ("P1.a", r"\frac{2}{\lambda_{\max}}"), ("P1.a", "2*L^(-1)"), ("P1.a", "4/(2*lambda_1)"),
    ("P1.b", "lr*lambda_max < 2"), ("P1.b", r"0 < \eta < \frac{2}{\lambda_{\max}}"),
    ("P1.b", "2/lambda_max > eta"), ("P1.b", "|1 - lr*lambda_max| < 1"),
    ("P1.c", "0.02"), ("P1.c", "1/50"), ("P1.c", "2/100"), ("P1.c", "0.020001"), ("P1.c", r"\eta_{max} = 0.02"),
    ("P1.d", "lambda_max*lambda_min^(-1)"), ("P1.e", "100"), ("P1.e", "99.5"),
    ("P2.a", r"\beta^{k}"), ("P2.a", "beta**k"),
    ("P2.b", r"g\frac{1-\beta^t}{1-\beta}"), ("P2.b", "(g - g*beta^t)/(1-beta)"),
    ("P5.a", "beta*(beta*v_t + g_t) + g_t"), ("P5.a", r"\beta^2 v_t + (1+\beta) g_t"),
    ("P5.b", "beta*g_t - beta*g_{t-1}"), ("P5.b", r"\beta (g_t - g_{t-1})"),
    ("P6.a", "10"), ("P6.a", "0.1/0.01"), ("P6.b", "1/10"), ("P6.b", "0.1"),
    ("TV.a", r"\frac{g}{1-\beta}"), ("TV.a", "-g/(beta-1)"), ("TV.b", r"\eta/(1-\beta)"),
    ("TV.b", "alpha*(1-beta)^(-1)"),
    ("EM.a", "(1-beta)^-1"), ("EM.b", "10"), ("PM.a", "(1/2)^n"), ("PM.a", "0.5^n"),
    ("PM.a", "1/2^n"), ("PM.b", "1 - 2/2^n"), ("PM.c", "1/1024"), ("PM.c", "2^-10"),
    ("LS.a", "lr k"), ("LS.b", "0.4"), ("RQ.a", "(b)"), ("RQ.a", "B"), ("DT.c", "c)"),
    ("TV.a", r"v_\infty = \frac{g}{1-\beta}"), ("TV.a", "v_inf = g/(1-beta)"),
    ("P1.a", "lr_max = 2/lambda_max"),
    ("TV.c", "v*(1 - beta) = g\nv = g/(1-beta)"),
    ("TV.c", r"v - \beta v = g" + "\n" + r"v = \frac{g}{1-\beta}"),
]


@pytest.mark.parametrize("part_id,text", REWRITINGS)
def test_equivalent_rewritings_accepted(part_id: str, text: str) -> None:
    part = problems.part(part_id)
    (r,) = [x for x in grade_answers({part_id: text}, student_id=None, secret=None,
                                     problems=[part.problem_id]) if x.part == part_id]
    assert (r.status, r.score) == ("passed", part.points), r.output


def test_unparsable_answer_is_zero_with_position_and_rest_is_graded() -> None:
    answers = reference_answers()
    answers["P1.a"] = "2/(lambda_max"
    answers["TV.a"] = "g/(1-beta))"
    res = by_part(grade_answers(answers, student_id=None, secret=None))
    assert (res["P1.a"].status, res["P1.a"].score) == ("error", 0.0)
    assert "'(' is never closed" in res["P1.a"].output and "^" in res["P1.a"].output
    assert "unmatched ')'" in res["TV.a"].output
    assert res["P1.b"].score == res["P1.b"].max_score  # the rest still graded


@pytest.mark.parametrize("text,message", [
    ("", "No answer found for P1.a"),
    ("2/foo", "unknown name 'foo'; this answer may use: lambda_max, lambda_min"),
    ("9^9^9^9", "exponent too large"),
    ("x" * 6000, "too long"),
    ("__import__('os').system('echo hi')", "Could not read your answer"),
])
def test_bad_answers_contained(text: str, message: str) -> None:
    (r,) = [x for x in grade_answers({"P1.a": text}, student_id=None, secret=None, problems=["P1"])
            if x.part == "P1.a"]
    assert r.score == 0 and message in r.output


def test_wrong_answer_shows_counterexample() -> None:
    (r,) = [x for x in grade_answers({"TV.b": "lr*beta"}, student_id=None, secret=None,
                                     problems=["TV"]) if x.part == "TV.b"]
    assert r.status == "failed" and "your formula gives" in r.output


def test_wrong_derivation_names_the_step() -> None:
    (r,) = [x for x in grade_answers({"TV.c": "v + beta*v = g\nv = g/(1+beta)"}, student_id=None,
                                     secret=None, problems=["TV"]) if x.part == "TV.c"]
    assert r.score == 0 and "FAIL step 1" in r.output


def test_derivation_needs_the_work_shown() -> None:
    (r,) = [x for x in grade_answers({"TV.c": "v = g/(1-beta)"}, student_id=None, secret=None,
                                     problems=["TV"]) if x.part == "TV.c"]
    assert r.score == 0 and "at least 2 steps (you gave 1)" in r.output


def test_choice_answers() -> None:
    res = by_part(grade_answers({"RQ.a": "a", "DT.a": "zz"}, student_id=None, secret=None,
                                problems=["RQ", "DT"]))
    assert res["RQ.a"].score == 0 and "Vanishing gradients flatten" in res["RQ.a"].output
    assert res["DT.a"].status == "error" and "one of a, b, c, d, e" in res["DT.a"].output


def test_student_id_and_secret_go_together() -> None:
    with pytest.raises(ValueError, match="go together"):
        grade_answers({}, student_id="s1", secret=None)


# ----------------------------------------------------------------------------- notebook cells

def md(source: str, part: str | None = None):  # type: ignore[no-untyped-def]
    cell = nbformat.v4.new_markdown_cell(source)
    if part:
        cell.metadata["ravine"] = {"part": part}
    return cell


def test_answer_text_rules() -> None:
    assert answer_text(md("> **P1.a** instructions\n\nTODO")) == ""
    assert answer_text(md("> **P1.a** instructions\n\n$\\frac{2}{\\lambda_{\\max}}$")) == \
        "\\frac{2}{\\lambda_{\\max}}"
    assert answer_text(md("`2/lambda_max`")) == "2/lambda_max"
    code = nbformat.v4.new_code_cell('answer = r"2/lambda_max"')
    assert answer_text(code) == "2/lambda_max"
    assert answer_text(nbformat.v4.new_code_cell('"lr/(1-beta)"')) == "lr/(1-beta)"
    assert answer_text(nbformat.v4.new_code_cell("answer = 0.02")) == "0.02"


def test_code_answer_cells_are_never_executed(tmp_path: Path) -> None:
    flag = tmp_path / "pwned"
    cell = nbformat.v4.new_code_cell(f"answer = open({str(flag)!r}, 'w').write('x')")
    cell.metadata["ravine"] = {"part": "P1.a"}
    nb = nbformat.v4.new_notebook(cells=[cell])
    (r,) = [x for x in grade_answers(nb, student_id=None, secret=None, problems=["P1"])
            if x.part == "P1.a"]
    assert r.score == 0 and not flag.exists()


def test_read_answers_from_notebook(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[
        md("> **P1.a** the largest stable lr\n\n2/lambda_max", "P1.a"),
        md("> **TV.a** terminal velocity\n\ng/(1-beta)"),          # marker line, no metadata
        md("> **TV.a** again\n\ng/(1+beta)", "TV.a"),              # duplicate: the last counts
        nbformat.v4.new_code_cell("import os"),
    ])
    path = tmp_path / "s.ipynb"
    nbformat.write(nb, str(path))
    answers, messages = read_answers(path)
    assert answers == {"P1.a": "2/lambda_max", "TV.a": "g/(1+beta)"}
    assert messages == ["several cells answer TV.a; the last one (cell 3) counts"]


def test_malformed_notebook_is_a_message(tmp_path: Path) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text("{not json")
    res = grade_answers(path, student_id=None, secret=None, problems=["TV"])
    assert res and all(r.score == 0 for r in res)
    assert "could not read the notebook bad.ipynb" in res[0].output


def test_a_wrong_answer_shows_its_own_value_but_not_the_references() -> None:
    res = {r.part: r for r in grade_answers({"P1.a": "1/lambda_min"}, student_id=None, secret=None)}
    out = res["P1.a"].output
    assert res["P1.a"].status == "failed" and "your formula gives" in out
    assert "expected answer differs there" in out and ", expected" not in out
