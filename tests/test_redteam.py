"""Red-team attacks on the grader, each asserting the SAFE outcome.

Every fixture in tests/fixtures/redteam/ is a hostile submission (its docstring says what it
tries).  The safe outcome: no credit for what was not implemented, the grader neither raises
nor hoards memory, other submissions and the gradebook are unaffected, and no feedback a student
sees carries a hidden check's inputs or expected values.  Attacks that need the grader to run
as another user (the child can read/write the grader's files, signal its process, read
/proc/<ppid>) are documented limits, not tested here (docs/notes-redteam.md).
"""

from __future__ import annotations

import csv
import json
import secrets
from pathlib import Path

import pytest

from grader.engine import build_checks, grade_batch, grade_submission, unique_names
from grader.report import write_gradebook
from grader import results as R
from grader.results import SubmissionResult
from grader.sandbox import Limits, resolve
from grader.submission import MAX_CODE_BYTES, SubmissionError, load_submission
from problems import update_rules as U

RED = Path(__file__).parent / "fixtures" / "redteam"
HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
LIMITS = Limits(function_timeout=1.5, load_timeout=3.0)
MODE = resolve("auto").mode  # the isolation the API-level tests below run in
SEED = 5


@pytest.fixture(scope="module")
def hidden_checks():
    cs = build_checks(seed=SEED)
    for c in cs:
        c.prepare()
    return cs


@pytest.fixture(scope="module")
def public_checks():
    return build_checks(seed=None)


def by_part(result: SubmissionResult) -> dict[str, tuple[float, list[str]]]:
    out: dict[str, tuple[float, list[str]]] = {}
    for part, (score, _) in result.by_part().items():
        tags = sorted({tag for t in result.tests if t.part == part for tag in t.tags[1:]})
        out[part] = (score, tags)
    return out


def _hidden_inputs() -> list[str]:
    """Texts that would give away hidden inputs: lr, beta, x0[0], matrix entries, objective seeds."""
    texts = []
    for function in U.FUNCTIONS:
        for spec in U.exercise(function).checks(seed=SEED):
            if not spec.hidden:
                continue
            for name in ("lr", "beta"):
                v = getattr(spec, name, None)
                if isinstance(v, float) and v not in (0.0,):
                    texts += [repr(v), f"{v:.6g}"]
            x0 = getattr(spec, "x0", None)
            if x0:
                texts.append(repr(float(x0[0])))
            obj = getattr(spec, "objective", None)
            if isinstance(obj, dict) and "seed" in obj:
                texts.append(str(obj["seed"]))
            for arg in getattr(spec, "args", ()) or ():
                if isinstance(arg, dict) and "matrix" in arg:
                    texts.append(repr(float(arg["matrix"][0][0])))
                elif isinstance(arg, float):
                    texts.append(repr(arg))
    return [t for t in texts if len(t) >= 6]  # long enough not to occur by chance


def _visible_text(result: SubmissionResult) -> str:
    """Everything a student can see, now or after publication."""
    return json.dumps(result.to_dict())


# --------------------------------------------------------------------------- (d) leaks


def test_hidden_inputs_do_not_come_back_through_exceptions_values_or_shapes(hidden_checks):
    """leak_via_exception raises/returns the inputs on every call (message, class name, returned
    string, returned number, returned shape).  Public checks show it; hidden ones must not."""
    result = grade_submission(RED / "leak_via_exception.py", hidden_checks, limits=LIMITS)
    hidden = [t for t in result.tests if t.visibility != "visible"]
    public = [t for t in result.tests if t.visibility == "visible"]
    assert len(hidden) == 16
    assert any("LEAK" in t.output for t in public)  # public feedback stays complete
    for t in hidden:
        assert "leak" not in t.output.lower(), t.name
        assert "shape" not in t.output
        assert ("Details of runs on hidden inputs are not shown" in t.output
                or "returned a wrong value; no known mistake matches" in t.output), t.name
    text = _visible_text(result)
    inputs = _hidden_inputs()
    assert len(inputs) > 10
    for value in inputs:
        assert value not in text, value
    assert result.score == 0


def test_the_child_that_produces_visible_feedback_never_holds_hidden_inputs(hidden_checks):
    """leak_plan_at_load walks frames and gc for the child's plan at import and puts what it
    finds in a load message and in a public check's exception."""
    result = grade_submission(RED / "leak_plan_at_load.py", hidden_checks, limits=LIMITS)
    assert any(m.startswith("leak_plan_at_load.py raised RuntimeError: LEAKPLAN []") for m in result.messages)
    text = _visible_text(result)
    assert "hidden random quadratic" not in "\n".join(result.messages)
    assert "spectral" not in text
    for value in _hidden_inputs():
        assert value not in text, value


def test_a_hidden_pass_does_not_print_the_expected_value(hidden_checks):
    result = grade_submission(HOSTILE / "correct.py", hidden_checks, limits=LIMITS)
    assert result.score == 51
    expected = {c.spec.name: c.spec.expected for c in hidden_checks
                if c.spec.hidden and isinstance(getattr(c.spec, "expected", None), float)}
    assert expected
    for t in result.tests:
        if t.name in expected:
            assert t.passed and "returned the expected value" in t.output
            assert f"{expected[t.name]:.6g}" not in t.output
            assert f"{expected[t.name]:.4g}" not in t.output


# --------------------------------------------------------------------------- (c) the grader


def test_a_forged_result_with_a_huge_int_is_interference_not_a_grader_crash(public_checks):
    result = grade_submission(RED / "forged_huge_int.py", public_checks, limits=LIMITS)
    parts = by_part(result)
    assert parts["effective_lr"] == (0.0, ["crash"])
    assert parts["sgd_step"] == (6.0, [])


def test_a_message_flood_does_not_fill_the_graders_memory(public_checks):
    result = grade_submission(RED / "message_flood.py", public_checks, limits=LIMITS)
    assert len(result.messages) <= 205
    assert sum(len(m) for m in result.messages) < 2_000_000
    assert any("more messages from loading were dropped" in m for m in result.messages)
    assert result.score == 0  # it also forged 'forbidden' at load: that costs only itself


def test_raising_the_memory_limit_back_gains_nothing(public_checks):
    limits = Limits(function_timeout=1.5, load_timeout=3.0, memory_bytes=300 << 20)
    parts = by_part(grade_submission(RED / "raise_rlimit.py", public_checks, limits=limits))
    assert parts["momentum_step"] == (0.0, ["memory"])
    assert parts["sgd_step"] == (6.0, []) and parts["effective_lr"] == (2.0, [])


def test_huge_sources_are_refused_before_parsing(tmp_path):
    big = tmp_path / "big.py"
    big.write_text("a = 1\n" * (MAX_CODE_BYTES // 6 + 10))
    with pytest.raises(SubmissionError, match=r"big\.py is too large to grade \(\d+ KiB; the limit is 512 KiB\)"):
        load_submission(big)
    cell = {"cell_type": "code", "id": "c0", "metadata": {}, "execution_count": None, "outputs": [],
            "source": "a = 1\n" * (MAX_CODE_BYTES // 6 + 10)}
    nb = tmp_path / "big.ipynb"
    nb.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}))
    with pytest.raises(SubmissionError, match=r"the code in the notebook is too large to grade"):
        load_submission(nb)


@pytest.mark.parametrize("name,message", [
    ("nb_nonstring_source", "malformed notebook: TypeError"),
    ("nb_deep_metadata", "malformed notebook: RecursionError"),
])
def test_malformed_notebooks_get_a_zero_and_a_message(public_checks, name, message):
    result = grade_submission(RED / f"{name}.ipynb", public_checks, limits=LIMITS)
    assert result.score == 0
    assert len(result.messages) == 1 and message in result.messages[0]
    assert result.messages[0].startswith(f"{name}.ipynb: malformed")


def test_two_thousand_broken_cells_keep_200_messages_and_grade_the_rest(public_checks):
    result = grade_submission(RED / "nb_many_bad_cells.ipynb", public_checks, limits=LIMITS)
    assert by_part(result)["effective_lr"] == (2.0, [])
    assert len(result.messages) == 201
    assert result.messages[-1] == "[... 1800 more messages from loading were dropped]"


# --------------------------------------------------------------------------- (a) credit


def test_forged_channel_messages_earn_nothing(public_checks):
    parts = by_part(grade_submission(RED / "forged_channel.py", public_checks, limits=LIMITS))
    assert parts["sgd_step"] == (0.0, ["crash"])
    assert parts["effective_lr"] == (2.0, [])


def test_objects_that_fight_the_encoder_earn_nothing_and_crash_nothing(public_checks):
    result = grade_submission(RED / "nasty_objects.py", public_checks, limits=LIMITS)
    parts = by_part(result)
    assert parts["sgd_step"][0] == 0 and parts["momentum_step"] == (0.0, ["exception"])
    assert parts["nesterov_step"] == (0.0, ["crash"])
    assert parts["largest_stable_lr"] == (0.0, ["timeout"])
    momentum = next(t for t in result.tests if t.part == "momentum_step")
    assert "BadStr: <unprintable message>" in momentum.output
    # Liar(1.0) converts to the first public answer in the child: scored on that number, once
    assert parts["effective_lr"][0] <= 1.0


def test_a_lingering_thread_costs_only_its_own_submission(public_checks):
    parts = by_part(grade_submission(RED / "lingering_thread.py", public_checks, limits=LIMITS))
    assert parts["sgd_step"] == (6.0, [])
    assert parts["effective_lr"] == (0.0, ["forbidden"])  # its own thread's forged reports
    after = grade_submission(HOSTILE / "correct.py", public_checks, limits=LIMITS)
    assert after.score == after.max_score == 26


# --------------------------------------------------------------------------- (b) the batch


def test_unique_names_are_safe_folder_names():
    names = unique_names([Path(p) for p in (
        "a.py", "a.ipynb", "a-2.py", "x/a.py", "...py", "gradebook.csv.py", "A.py", "=cmd|x.py",
        "-1+1.py", "y" * 300 + ".py")])
    assert names[:4] == ["a", "a-2", "a-2-2", "a-3"]
    assert names[4] == "submission" and names[5] == "gradebook.csv_submission"
    assert names[6] == "A-4"  # unique up to case too
    assert names[7] == "_cmd_x" and names[8] == "1+1" and names[9] == "y" * 100
    assert len({n.lower() for n in names}) == len(names)


def test_a_hostile_batch_cannot_escape_collide_or_break_the_gradebook(tmp_path):
    subs = tmp_path / "subs"
    (subs / "x").mkdir(parents=True)
    correct = (HOSTILE / "correct.py").read_text()
    for name in ("a.py", "a-2.py", "gradebook.csv.py", "...py", "=HYPERLINK(1).py"):
        (subs / name).write_text(correct)
    (subs / "x" / "a.py").write_text((RED / "forged_channel.py").read_text())
    paths = sorted(p for p in subs.rglob("*.py"))
    out = tmp_path / "out"
    batch = grade_batch(paths, out, seed=SEED, jobs=2, limits=LIMITS, progress=lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "subs"]  # nothing written beside out/
    assert (out / "gradebook.csv").is_file()
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 6 and "gradebook.csv" not in folders and "submission" in folders
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert len(rows) == 6
    scores = {r["submission"]: float(r["total"]) for r in rows}
    assert scores["_HYPERLINK_1_"] == 51
    assert scores["gradebook.csv_submission"] == 51 and scores["submission"] == 51
    assert sorted(scores.values()).count(51) == 5  # every correct copy, whatever its name
    for r in batch.results:
        saved = json.loads((out / r.submission / "results.json").read_text())
        assert saved["score"] == r.score


def test_gradebook_text_cells_never_start_a_formula(tmp_path):
    result = SubmissionResult("+cmd", [R.TestResult("t", "sgd_step", 1.0, 1.0, status="passed")],
                              ["=HYPERLINK(\"http://x\") raised ValueError"])
    write_gradebook(tmp_path / "g.csv", [result])
    row = next(csv.DictReader((tmp_path / "g.csv").open()))
    assert row["submission"] == "'+cmd"
    assert row["notes"].startswith("'=HYPERLINK")


def test_the_child_cannot_read_the_graders_environment_nor_write_to_its_stdout(public_checks, capfd,
                                                                              monkeypatch):
    """read_parent_proc opens /proc/<ppid>/environ and /proc/<ppid>/fd/1.  namespaces: its parent
    is the sandbox's own init (scrubbed environment, its own stdout pipe); the grader is not in
    its PID namespace.  uid/process: the grader is non-dumpable and the child has no
    capabilities (another uid, in uid mode), so both are refused."""
    monkeypatch.setenv("RAVINE_REDTEAM_CANARY", "canary-" + secrets.token_hex(8))
    result = grade_submission(RED / "read_parent_proc.py", public_checks, limits=LIMITS)
    text = next(t for t in result.tests if t.part == "sgd_step").output
    assert "canary-" not in _visible_text(result) + result.stdout
    if MODE == "namespaces":
        assert "environ=PATH=/usr/bin:/bin LANG=C.UTF-8" in text  # the sandbox init's own, scrubbed
    else:
        assert "environ: Permission denied" in text
        assert "stdout: Permission denied" in text
    assert "FAKE" not in capfd.readouterr().out


def test_another_process_of_the_same_user_cannot_read_a_childs_memory(public_checks):
    result = grade_submission(RED / "read_sibling.py", public_checks, limits=LIMITS)
    text = next(t for t in result.tests if t.part == "sgd_step").output
    assert "probe: environ: Permission denied | mem: Permission denied" in text


def test_on_gradescope_a_submission_cannot_read_the_seed_or_the_secret(tmp_path, monkeypatch):
    from grader.cli import main as cli
    from grader.commands import gradescope as command

    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    (root / "submission" / "hw.py").write_text((RED / "read_settings.py").read_text())
    config = root / "source" / "ravine-gradescope.json"
    seed, secret = 10**8 + secrets.randbelow(10**8), secrets.token_hex(16)  # this run's own, not a stale file's
    config.write_text(json.dumps({"seed": seed, "timeout": 1.5, "secret": secret}))
    monkeypatch.setattr(command, "GRADESCOPE_ROOT", str(root) + "/")
    results = root / "results" / "results.json"
    assert cli(["gradescope", "--config", str(config), "--submission-dir", str(root / "submission"),
                "--results", str(results)]) == 0
    text = results.read_text()
    if MODE == "namespaces":  # the settings do not exist inside the sandbox (its glob finds nothing)
        assert "settings: /autograder/source/ravine-gradescope.json: No such file or directory" in text
        assert str(config) not in text
    else:  # mode 000 + no capabilities (uid mode: another uid, too)
        assert f"{config}: Permission denied" in text
    assert str(seed) not in text and secret not in text


def test_answer_cells_too_deep_for_pythons_parser_are_refused_not_fatal(public_checks):
    """nb_answer_parser_bomb: answer cells (code) of 9000 unary minus signs (ast.parse raises
    MemoryError) and 4000 chained additions (RecursionError): a message per part, grading goes on."""
    result = grade_submission(RED / "nb_answer_parser_bomb.ipynb", public_checks, limits=LIMITS)
    assert by_part(result)["effective_lr"] == (2.0, [])
    answers = {t.part: t for t in result.tests if t.part in ("P1.a", "TV.b")}
    assert answers["P1.a"].score == 0 and "The answer is too long (9010 characters)" in answers["P1.a"].output
    assert answers["TV.b"].score == 0 and "The answer is too long" in answers["TV.b"].output


def test_lone_surrogates_and_undecodable_file_names_do_not_stop_the_batch(tmp_path):
    """lone_surrogate puts '\\ud800' (valid JSON, not encodable as UTF-8) in a load message, an
    exception and a returned string; a file name with a non-UTF-8 byte ends up in messages."""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "lone_surrogate.py").write_text((RED / "lone_surrogate.py").read_text())
    (subs / "correct.py").write_text((HOSTILE / "correct.py").read_text())
    odd = subs / ("bad" + b"\xff".decode("utf-8", "surrogateescape") + "name.py")
    odd.write_text("def sgd_step(x, g, lr):\n    return x - lr * g(x)\nraise RuntimeError('boom')\n")
    out = tmp_path / "out"
    grade_batch(sorted(subs.iterdir()), out, seed=SEED, jobs=1, limits=LIMITS, progress=lambda _: None)
    rows = {r["submission"]: r for r in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    assert set(rows) == {"bad_name", "correct", "lone_surrogate"}
    assert rows["correct"]["total"] == "51"
    assert rows["lone_surrogate"]["notes"] == "lone_surrogate.py raised RuntimeError: at load ? (lone_surrogate.py, line 17)"
    assert rows["bad_name"]["notes"].startswith("bad?name.py raised RuntimeError: boom")
    saved = json.loads((out / "lone_surrogate" / "results.json").read_text(encoding="utf-8"))
    assert any("bad ? text" in t["output"] for t in saved["tests"])


def test_a_submission_cannot_signal_the_grader_nor_every_process(public_checks):
    """signal_the_grader sends signal 0 (a permission probe) to the grader, to -1 (every process
    of the user) and, from a setsid'd grandchild, to both; the child's seccomp filter refuses."""
    import platform
    import sys

    if not (sys.platform.startswith("linux") and platform.machine() == "x86_64"):
        pytest.skip("the seccomp filter is installed on x86_64 Linux only")
    result = grade_submission(RED / "signal_the_grader.py", public_checks,
                              limits=Limits(function_timeout=3.0, load_timeout=3.0))
    text = next(t for t in result.tests if t.part == "sgd_step").output
    assert "own group: allowed; own thread: allowed" in text  # its own processes stay reachable
    if MODE == "namespaces":  # its "parent" is the sandbox's init; -1 reaches only its own namespace
        assert "grader: Operation not permitted; all: No such process" in text
        return
    assert "grader: Operation not permitted; all: Operation not permitted" in text
    assert text.count("Operation not permitted") == 4  # the grandchild too
