"""``ravine assign``: valid per-student notebooks that, filled with the references, score 100%."""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat
import pytest

import problems
from grader.answer_grading import grade_answers
from grader.assign import RosterError, Student, build_notebook, load_roster, read_roster
from grader.commands import assign as assign_cmd
from problems.variants import draw_params, render, student_seed

SECRET = "correct-horse-battery-staple-42"
ROSTER = "id,name,email\ns001,Ada Lovelace,ada@example.org\ns002,Alan Turing,\ns003,,\n"
TV_DERIVATION = "v - beta*v = g -- collect v\nv*(1 - beta) = g\nv = g/(1 - beta)"


def run_assign(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    assign_cmd.add_arguments(parser)
    code = assign_cmd.run(parser.parse_args(list(argv)))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def generated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    (tmp_path / "roster.csv").write_text(ROSTER)
    (tmp_path / "secret").write_text(SECRET + "\n")
    code, out, err = run_assign(capsys, "--out", str(tmp_path / "nb"), "--roster",
                                str(tmp_path / "roster.csv"), "--secret-file", str(tmp_path / "secret"))
    assert (code, out.strip(), err) == (0, f"wrote 3 notebooks to {tmp_path / 'nb'}", "")
    return tmp_path / "nb"


def fill(nb, student_id: str | None) -> None:  # type: ignore[no-untyped-def]
    seed = student_seed(SECRET, student_id) if student_id else None
    for cell in nb.cells:
        part_id = cell.metadata.get("ravine", {}).get("part")
        if cell.cell_type != "markdown" or not part_id:
            continue
        part = problems.part(part_id)
        params = draw_params(problems.get(part.problem_id), seed)
        answer = TV_DERIVATION if part.kind == "derivation" else render(part.reference, params)
        first = cell.source.splitlines()[0]
        cell.source = f"{first}\n\n{answer}"


def test_notebooks_are_valid_and_personal(generated: Path) -> None:
    files = sorted(p.name for p in generated.iterdir())
    assert files == ["s001.ipynb", "s002.ipynb", "s003.ipynb"]
    texts = {}
    for f in files:
        nb = nbformat.read(str(generated / f), as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["ravine"]["student_id"] == f[:-6]
        texts[f] = (generated / f).read_text()
        assert SECRET not in texts[f] and "horse" not in texts[f]
        assert f"!ravine check {f}" in texts[f]
        for name in ("sgd_step", "momentum_step", "nesterov_step", "largest_stable_lr",
                     "effective_lr", "classify_critical_point"):
            assert f"def {name}(" in texts[f]
    assert "Ada Lovelace" in texts["s001.ipynb"]


def test_answer_cells_for_every_answer_part(generated: Path) -> None:
    nb = nbformat.read(str(generated / "s001.ipynb"), as_version=4)
    parts = [c.metadata["ravine"]["part"] for c in nb.cells
             if c.cell_type == "markdown" and "part" in c.metadata.get("ravine", {})]
    assert parts == [p.id for p in problems.exercise_registry.parts() if p.graded_by_answers]
    # an untouched notebook scores zero and says where to answer
    res = grade_answers(generated / "s001.ipynb", student_id="s001", secret=SECRET)
    assert sum(r.score for r in res) == 0
    assert "No answer found for P1.a" in next(r.output for r in res if r.part == "P1.a")


def test_statements_carry_the_students_numbers(generated: Path) -> None:
    for sid in ("s001", "s002", "s003"):
        a = draw_params(problems.get("P1"), student_seed(SECRET, sid))["a"]
        text = (generated / f"{sid}.ipynb").read_text()
        assert f"{a}\\\\,x^2" in text  # the JSON-escaped LaTeX of the statement


def test_filled_notebook_scores_full_marks(generated: Path, tmp_path: Path) -> None:
    for sid in ("s001", "s002"):
        nb = nbformat.read(str(generated / f"{sid}.ipynb"), as_version=4)
        fill(nb, sid)
        path = tmp_path / f"{sid}-filled.ipynb"
        nbformat.write(nb, str(path))
        res = grade_answers(path, student_id=sid, secret=SECRET)
        graded = [r for r in res if problems.part(r.part).kind != "text"]
        assert graded and all(r.score == r.max_score for r in graded), \
            [(r.part, r.output) for r in graded if r.score != r.max_score]
        assert not any(SECRET in r.output or "horse" in r.output for r in res)
        pending = [r for r in res if problems.part(r.part).kind == "text"]
        assert pending and all(r.status == "pending" and r.score == 0 for r in pending)


def test_metadata_is_not_trusted_for_the_numbers(generated: Path, tmp_path: Path) -> None:
    # a student edits the metadata to another id: grading still uses the id it is given
    nb = nbformat.read(str(generated / "s001.ipynb"), as_version=4)
    fill(nb, "s001")
    nb.metadata["ravine"]["student_id"] = "s002"
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, str(path))
    res = {r.part: r for r in grade_answers(path, student_id="s001", secret=SECRET)}
    assert res["P1.c"].score == res["P1.c"].max_score


def test_generic_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_assign(capsys, "--out", str(tmp_path / "g"))
    assert code == 0 and "1 generic notebook" in out
    nb = nbformat.read(str(tmp_path / "g" / "assignment.ipynb"), as_version=4)
    assert "student_id" not in nb.metadata["ravine"]
    fill(nb, None)
    res = grade_answers(nb, student_id=None, secret=None)
    assert all(r.score == r.max_score for r in res if problems.part(r.part).kind != "text")


@pytest.mark.parametrize("roster,message", [
    ("", "empty roster"),
    ("name,email\nx,y\n", "line 1: the header must name an 'id' column"),
    ("id,phone\n1,2\n", "unknown column(s) phone"),
    ("id,name\ns1\n", "line 2: 1 fields, expected 2"),
    ("id\ns1\ns1\n", "line 3: duplicate id 's1' (first on line 2)"),
    ("id\n../etc/passwd\n", "line 2: bad student id '../etc/passwd'"),
    ("id\n", "a header but no students"),
])
def test_bad_rosters(roster: str, message: str) -> None:
    with pytest.raises(RosterError) as info:
        read_roster(roster)
    assert message in str(info.value)


def test_load_roster_reads_utf8_with_or_without_bom(tmp_path: Path) -> None:
    plain, bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_bytes("id,name\ns001,José\n".encode("utf-8"))
    bom.write_bytes("id,name\ns001,José\n".encode("utf-8-sig"))  # as a spreadsheet exports it
    assert load_roster(plain) == load_roster(str(bom)) == [Student("s001", "José")]


@pytest.mark.parametrize("name, content, message", [
    ("latin1.csv", "id,name\ns001,José\n".encode("latin-1"),
     "latin1.csv: not UTF-8 text (undecodable byte at offset 16)"),
    ("missing.csv", None, "missing.csv: no such roster file"),
    ("adir", b"", "adir: is a directory, expected a CSV file"),
    ("bad.csv", b"name\nx\n", "bad.csv: line 1: the header must name an 'id' column"),
])
def test_load_roster_failures_name_the_file(tmp_path: Path, name: str, content: bytes | None,
                                            message: str) -> None:
    path = tmp_path / name
    if name == "adir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(RosterError) as info:
        load_roster(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_bad_command_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.csv").write_text(ROSTER)
    code, _, err = run_assign(capsys, "--out", str(tmp_path / "o"), "--roster", str(tmp_path / "r.csv"))
    assert code == 2 and "--roster needs --secret-file" in err
    (tmp_path / "short").write_text("abc")
    code, _, err = run_assign(capsys, "--out", str(tmp_path / "o"), "--roster",
                              str(tmp_path / "r.csv"), "--secret-file", str(tmp_path / "short"))
    assert code == 2 and "too short" in err
    code, _, err = run_assign(capsys, "--out", str(tmp_path / "o"), "--roster",
                              str(tmp_path / "missing.csv"))
    assert code == 2 and "no such roster file" in err
    (tmp_path / "file").write_text("x")
    code, _, err = run_assign(capsys, "--out", str(tmp_path / "file"))
    assert code == 2 and "not a directory" in err


def test_build_notebook_validates() -> None:
    nb = build_notebook(None, None, filename="assignment.ipynb")
    nbformat.validate(nb)
    assert nb.nbformat == 4


def test_an_unreadable_secret_is_named_as_the_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a name too long for the file system: an OSError that is neither "missing" nor "a directory"
    # (root reads any file, so a chmod cannot make one unreadable here)
    (tmp_path / "r.csv").write_text(ROSTER)
    unreadable = str(tmp_path / ("s" * 300))
    code, _, err = run_assign(capsys, "--out", str(tmp_path / "o"), "--roster", str(tmp_path / "r.csv"),
                              "--secret-file", unreadable)
    assert code == 2
    assert f"ravine assign: {unreadable}: cannot read the secret: File name too long" in err
    assert "cannot write" not in err  # it used to be reported as a problem with --out
    assert not (tmp_path / "o").exists()
