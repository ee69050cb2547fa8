"""Batch hardening through the real CLI: long Unicode names, duplicate roster ids, timing, budgets."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"


def ravine(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, **kw)


def gradebook(out: Path) -> list[dict[str, str]]:
    with open(out / "gradebook.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_long_multibyte_names_get_folders_capped_in_bytes(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    # 80 CJK characters are 240 bytes (+ ".py" = 243, just under the 255-byte limit of a file name);
    # 120 "é" are 240 bytes.  A cap of 100 *characters* kept such names at 240+ bytes, and a "-NN"
    # suffix or a longer character pushed them past the limit (`File name too long`).
    names = ["学" * 80, "学" * 80 + "x", "é" * 120]
    shutil.copy(EXAMPLES / "alice_correct.py", subs / f"{names[0]}.py")
    shutil.copy(EXAMPLES / "dave_mistakes.py", subs / f"{names[1]}.py")
    shutil.copy(EXAMPLES / "alice_correct.py", subs / f"{names[2]}.py")
    out = tmp_path / "out"
    proc = ravine("grade", str(subs), "--out", str(out), "--seed", "3", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 3
    assert all(len(f.encode()) <= 104 for f in folders), folders
    for f in folders:
        assert json.loads((out / f / "results.json").read_text(encoding="utf-8"))["score"] in (51, 23)
    rows = gradebook(out)
    assert sorted(float(r["total"]) for r in rows) == [23.0, 51.0, 51.0]
    assert {r["submission"] for r in rows} == set(folders)




def test_execution_time_is_whole_seconds_and_leaves_out_the_hidden_run(tmp_path):
    # The hidden child sleeps: public lrs are round (0.01, 0.1, ...), hidden ones are not.  That sleep
    # could carry a hidden input out through execution_time; it must not show there.
    src = (EXAMPLES / "alice_correct.py").read_text(encoding="utf-8")
    src += '''

_slept = [False]
_eff = effective_lr


def effective_lr(lr, beta):
    import time
    if not _slept[0] and round(lr, 3) != lr:
        _slept[0] = True
        time.sleep(4.0)
    return _eff(lr, beta)
'''
    sub = tmp_path / "sleepy.py"
    sub.write_text(src, encoding="utf-8")
    out = tmp_path / "out"
    proc = ravine("grade", str(sub), "--out", str(out), "--seed", "5", "--no-report", "--timeout", "15")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "sleepy" / "results.json").read_text())
    assert data["score"] == 51  # the sleep stayed inside the function's budget
    assert isinstance(data["execution_time"], int)
    # The instructor's progress line has the whole wall clock, the sleep included.
    total = float(proc.stderr.split("51/51 (")[1].split(" s)")[0])
    assert total >= 4.0
    assert data["execution_time"] <= total - 3.0


def test_execution_time_rounding_in_the_results_schema():
    from grader.gradescope import results_json
    from grader.results import SubmissionResult

    assert results_json(SubmissionResult("a", seconds=9.7, visible_seconds=1.4))["execution_time"] == 1
    assert results_json(SubmissionResult("a", seconds=2.6))["execution_time"] == 3


SECRET = "a-course-secret-of-enough-length"


def make_course(tmp_path: Path, roster: str = "id,name,email\ns001,Ada,ada@example.org\ns002,Alan,alan@example.org\n",
                secret: bytes = SECRET.encode()) -> tuple[Path, Path, Path]:
    (tmp_path / "roster.csv").write_text(roster, encoding="utf-8")
    (tmp_path / "secret").write_bytes(secret)
    nb = tmp_path / "nb"
    proc = ravine("assign", "--out", str(nb), "--roster", str(tmp_path / "roster.csv"),
                  "--secret-file", str(tmp_path / "secret"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "roster.csv", tmp_path / "secret", nb


def test_two_files_for_one_roster_id_are_both_flagged(tmp_path):
    roster, secret, nb = make_course(tmp_path)
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(nb / "s001.ipynb", subs / "s001.ipynb")
    shutil.copy(nb / "s002.ipynb", subs / "s001_final.ipynb")  # s002's work under s001's name
    shutil.copy(nb / "s002.ipynb", subs / "s002.ipynb")
    out = tmp_path / "out"
    proc = ravine("grade", str(subs), "--out", str(out), "--seed", "1", "--no-report",
                  "--roster", str(roster), "--secret-file", str(secret))
    assert proc.returncode == 0, proc.stderr
    note = "several files map to roster id s001 (s001.ipynb, s001_final.ipynb)"
    assert proc.stderr.count(note) == 1 and "warning" in proc.stderr
    rows = {r["submission"]: r["notes"] for r in gradebook(out)}
    assert set(rows) == {"s001", "s001_final", "s002"}
    assert note in rows["s001"] and note in rows["s001_final"]
    assert "several files" not in rows["s002"]
    assert note in json.loads((out / "s001_final" / "results.json").read_text())["output"]


LATE_IMPORTS = r'''
import sys
import grader.engine as engine
late, started = [], []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if started and name.split(".")[0] in ("grader", "problems", "solvers"):
            late.append(name)
        return None
sys.meta_path.insert(0, Spy())
real = engine.grade_submission
def first(*a, **k):
    started.append(1)
    return real(*a, **k)
engine.grade_submission = first
from grader.cli import main
code = main(sys.argv[1:])
from grader import equivalence
print("LATE", sorted(set(late)), "CODE", code)
'''


def test_no_grader_module_is_imported_after_student_code_ran(tmp_path):
    # A child running as the grader's user could rewrite a module the grader imports lazily
    # afterwards; so every module is imported (and the SymPy worker started) before the first child.
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", LATE_IMPORTS, "grade",
                           str(EXAMPLES / "carol_notebook.ipynb"), str(EXAMPLES / "dave_mistakes.py"),
                           "--out", str(out), "--seed", "4"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "LATE [] CODE 0" in proc.stdout, proc.stdout


def slow_formula_notebook(path: Path) -> list[str]:
    """The generic notebook with every formula answer = reference + sqrt(2)*(A^20 - B^20).

    The numbers disagree in floating point, so each comparison (with the reference and with
    every anticipated mistake) asks SymPy to confirm, and SymPy cannot simplify the difference
    of the two 20th powers in its timeout: 163 s for one notebook before the budget.
    """
    import nbformat

    import problems
    from grader.assign import build_notebook
    from problems.variants import draw_params, render

    nb = build_notebook(None, None, filename=path.name)
    slow = []
    for cell in nb.cells:
        pid = cell.metadata.get("ravine", {}).get("part")
        if cell.cell_type != "markdown" or not pid:
            continue
        part = problems.part(pid)
        params = draw_params(problems.get(part.problem_id), None)
        if part.kind == "symbolic" and not any(op in part.reference for op in "<>"):
            names = [s.name for s in part.symbols]
            a = "(" + "+".join(names) + "+1)^20"
            answer = f"{render(part.reference, params)} + sqrt(2)*({a} - {a.replace('+1)', '+2)')})"
            slow.append(pid)
        elif part.kind == "derivation":
            answer = "v - beta*v = g -- collect v\nv*(1 - beta) = g\nv = g/(1 - beta)"
        else:
            answer = render(part.reference, params)
        cell.source = cell.source.splitlines()[0] + "\n\n" + answer
    nbformat.write(nb, str(path))
    return slow


def test_answer_budget_leaves_undecided_parts_pending_not_zero(tmp_path):
    sub = tmp_path / "crafted.ipynb"
    slow = slow_formula_notebook(sub)
    assert len(slow) >= 8
    out = tmp_path / "out"
    proc = ravine("grade", str(sub), "--out", str(out), "--seed", "1", "--no-report", "--answer-budget", "6")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads((out / "crafted" / "results.json").read_text())
    tests = {t["part"]: t for t in data["tests"]}
    over = [p for p, t in tests.items() if "over-budget" in t["tags"]]
    # 6 s cannot decide 8+ parts that each need several 4 s SymPy requests
    assert len(over) >= 3
    for p in over:
        assert tests[p]["status"] == "pending" and tests[p]["score"] == 0
        assert "instructor will check this part by hand" in tests[p]["output"]
    # the cheap parts are still graded after the budget ran out: choice and numeric parts pass
    import problems
    cheap = [p for p, t in tests.items() if p in {x.id for x in problems.exercise_registry.parts()}
             and problems.part(p).kind in ("choice", "numeric")]
    assert cheap and all(tests[p]["status"] == "passed" for p in cheap)
    # a right formula reached after the budget still passes on the numbers alone (P1.b, a condition)
    assert tests["P1.b"]["status"] == "passed" and "P1.b" not in slow
    assert "need manual review" in data["output"]
    notes = gradebook(out)[0]["notes"]
    assert f"{len(over)} answer part(s)" in notes and "need manual review" in notes


def test_answer_budget_is_validated(tmp_path):
    proc = ravine("grade", str(EXAMPLES / "alice_correct.py"), "--out", str(tmp_path / "o"),
                  "--answer-budget", "nan")
    assert proc.returncode == 2 and proc.stderr.strip().startswith(
        "ravine grade: argument --answer-budget: must be a positive number of seconds")
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_handouts_carry_a_secret_fingerprint_and_grade_flags_another_secret(tmp_path):
    import nbformat

    roster, secret, nb = make_course(tmp_path)
    meta = nbformat.read(str(nb / "s001.ipynb"), as_version=4).metadata["ravine"]
    fp = meta["secret_fingerprint"]
    assert len(fp) == 8 and int(fp, 16) >= 0
    text = (nb / "s001.ipynb").read_text(encoding="utf-8")
    assert SECRET not in text and "course-secret" not in text
    other = tmp_path / "other-secret"
    other.write_bytes(b"another-secret-of-enough-length!")
    out = tmp_path / "out"
    proc = ravine("grade", str(nb / "s001.ipynb"), str(nb / "s002.ipynb"), "--out", str(out), "--seed", "1",
                  "--no-report", "--roster", str(roster), "--secret-file", str(other))
    assert proc.returncode == 0, proc.stderr
    for sid in ("s001", "s002"):
        assert f"ravine grade: warning: {sid}: secret mismatch" in proc.stderr
    rows = gradebook(out)
    assert len(rows) == 2 and all("secret mismatch" in r["notes"] and fp in r["notes"] for r in rows)
    # the right secret: no warning, no flag
    good = ravine("grade", str(nb / "s001.ipynb"), "--out", str(tmp_path / "good"), "--seed", "1", "--no-report",
                  "--roster", str(roster), "--secret-file", str(secret))
    assert good.returncode == 0 and "secret mismatch" not in good.stderr
    assert "secret mismatch" not in gradebook(tmp_path / "good")[0]["notes"]


def test_assign_secret_without_roster_says_what_it_does(tmp_path):
    (tmp_path / "secret").write_text(SECRET)
    proc = ravine("assign", "--out", str(tmp_path / "nb"), "--secret-file", str(tmp_path / "secret"))
    assert proc.returncode == 0
    assert proc.stderr.strip() == ("ravine assign: --secret-file without --roster: writing the generic notebook, "
                                   "which uses no secret (give --roster for per-student numbers)")
    assert (tmp_path / "nb" / "assignment.ipynb").exists()


def test_roster_ids_differing_only_in_case_are_refused(tmp_path):
    (tmp_path / "r.csv").write_text("id\ns001\nS001\n")
    (tmp_path / "secret").write_text(SECRET)
    proc = ravine("assign", "--out", str(tmp_path / "nb"), "--roster", str(tmp_path / "r.csv"),
                  "--secret-file", str(tmp_path / "secret"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"ravine assign: {tmp_path / 'r.csv'}: line 3: id 'S001' differs from 's001' "
                                   "(line 2) only in case; their notebooks would be one file on a "
                                   "case-insensitive file system")
    assert not (tmp_path / "nb").exists()


def fill_answers(path: Path, secret: bytes, sid: str) -> None:
    """Fill a handout's answer cells with the references for ``sid``'s numbers."""
    import nbformat

    import problems
    from problems.variants import draw_params, render, student_seed

    nb = nbformat.read(str(path), as_version=4)
    seed = student_seed(secret, sid)
    for cell in nb.cells:
        pid = cell.metadata.get("ravine", {}).get("part")
        if cell.cell_type != "markdown" or not pid:
            continue
        part = problems.part(pid)
        params = draw_params(problems.get(part.problem_id), seed)
        answer = ("v - beta*v = g -- collect v\nv*(1 - beta) = g\nv = g/(1 - beta)" if part.kind == "derivation"
                  else render(part.reference, params))
        cell.source = cell.source.splitlines()[0] + "\n\n" + answer
    nbformat.write(nb, str(path))


def test_gradescope_zip_with_a_binary_secret_runs_its_run_autograder(tmp_path):
    import os
    import zipfile

    secret = bytes(range(256))[::7] + b"\xff\xfe\x00\x80"  # not UTF-8, NUL included
    assert secret.strip() == secret and len(secret) >= 16
    roster, secret_file, nb = make_course(tmp_path, secret=secret)
    zip_path = tmp_path / "ag.zip"
    made = ravine("gradescope", "--make-zip", str(zip_path), "--seed", "11", "--file", "hw.ipynb",
                  "--timeout", "3", "--roster", str(roster), "--secret-file", str(secret_file))
    assert made.returncode == 0, made.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
        settings = json.loads(zf.read("ravine-gradescope.json"))
    assert settings["seed"] == 11 and "secret" not in settings and settings["secret_b64"]
    run_autograder = root / "source" / "run_autograder"
    # the submission: s002's handout, answers filled with s002's numbers; Gradescope's metadata names her
    (root / "submission").mkdir()
    shutil.copy(nb / "s002.ipynb", root / "submission" / "hw.ipynb")
    fill_answers(root / "submission" / "hw.ipynb", secret, "s002")
    (root / "submission_metadata.json").write_text(json.dumps({"users": [{"email": "Alan@Example.org"}]}))
    # `ravine` as setup.sh would install it: the zip's own copy of the source
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ravine").write_text(f"#!/bin/sh\nexec {sys.executable} -m grader \"$@\"\n")
    (bin_dir / "ravine").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "PYTHONPATH": str(root / "source" / "ravine-src")}
    proc = subprocess.run(["bash", str(run_autograder), str(root)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    tests = {t["part"]: t for t in data["tests"]}
    import problems
    graded = [p for p in tests if "." in p and problems.part(p).kind not in ("text", "implementation")]
    assert len(graded) >= 20
    assert all(tests[p]["status"] == "passed" for p in graded), \
        [(p, tests[p]["output"]) for p in graded if tests[p]["status"] != "passed"]
    assert "secret mismatch" not in data["output"]
    # the stubs raise NotImplementedError: no implementation points
    assert tests["sgd_step"]["score"] == 0


def test_gradescope_refuses_bad_settings_with_one_line(tmp_path):
    zip_path = tmp_path / "a.zip"
    for args, message in [
        (["--seed", "-1"], "--seed must be a whole number from 0 to 9223372036854775807, got -1"),
        (["--seed", "1", "--timeout", "-5"], "--timeout must be a positive, finite number of seconds, got -5.0"),
        (["--seed", "1", "--timeout", "inf"], "--timeout must be a positive, finite number of seconds, got inf"),
        (["--seed", "1", "--timeout", "nan"], "--timeout must be a positive, finite number of seconds, got nan"),
        (["--seed", "1", "--file", "hw.txt"],
         "--file must name a .py or .ipynb file (what students submit), got 'hw.txt'"),
        (["--seed", "1", "--file", "sub/hw.py"],
         "--file must be a file name such as hw.py or hw.ipynb (no directory), got 'sub/hw.py'"),
    ]:
        proc = ravine("gradescope", "--make-zip", str(zip_path), *args, timeout=60)
        assert (proc.returncode, proc.stderr) == (2, f"ravine gradescope: {message}\n"), args
        assert not zip_path.exists()
    # settings edited by hand after the build: refused at the run, and the student gets a message
    root = tmp_path / "root"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    shutil.copy(EXAMPLES / "alice_correct.py", root / "submission" / "hw.py")
    (root / "source" / "ravine-gradescope.json").write_text('{"seed": -1}')
    proc = ravine("gradescope", "--root", str(root), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "seed must be a whole number" in proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0 and "misconfigured" in data["output"]
    assert "seed must be a whole number" in data["extra_data"]["grader_error"]


BATCH = ["alice_correct.py", "dave_mistakes.py", "erin_torch_nesterov.py", "bob_polyak.py",
         "grace_syntax_error.py", "heidi_broken.ipynb", "carol_notebook.ipynb"]


def test_a_killed_batch_resumes_to_the_same_gradebook(tmp_path):
    import os
    import signal

    env = {k: v for k, v in os.environ.items() if k != "RAVINE_SEED"}
    files = [str(EXAMPLES / f) for f in BATCH]
    out = tmp_path / "killed"
    # no --seed: the seed must survive the kill in grading.json
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", *files, "--out", str(out), "--no-report"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("[2/"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, seen
    manifest = json.loads((out / "grading.json").read_text())
    assert manifest["state"] == "grading" and isinstance(manifest["seed"], int)
    graded_before = sorted(p.parent.name for p in out.glob("*/results.json"))
    assert 2 <= len(graded_before) < len(BATCH)
    # the killed run's scratch folder is still there (SIGKILL cannot be caught) ...
    leftover = list(Path(tempfile_dir()).glob(f"ravine-batch-{proc.pid}-*"))

    again = ravine("grade", *files, "--out", str(out), "--no-report", env=env)
    assert again.returncode == 2 and "holds another batch" in again.stderr  # neither --resume nor --force
    resumed = ravine("grade", *files, "--out", str(out), "--no-report", "--resume", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("graded before, same file and settings: kept") == len(graded_before)
    # ... and the next batch removed it, and ended any sandbox the killed run left in its start
    assert leftover and not any(p.exists() for p in leftover)
    running = _cmdlines()
    assert [pid for pid, cmd in running.items() if any(str(p).encode() in cmd for p in leftover)] == []

    fresh = tmp_path / "fresh"
    whole = ravine("grade", *files, "--out", str(fresh), "--no-report", "--seed", str(manifest["seed"]), env=env)
    assert whole.returncode == 0, whole.stderr
    assert (out / "gradebook.csv").read_bytes() == (fresh / "gradebook.csv").read_bytes()
    assert json.loads((out / "grading.json").read_text())["state"] == "complete"


def _cmdlines() -> dict[int, bytes]:
    out = {}
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and "\nState:\tZ" not in Path(f"/proc/{entry}/status").read_text():
                out[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            pass
    return out


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


def test_resume_refuses_other_settings_and_a_changed_file_is_regraded(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(EXAMPLES / "alice_correct.py", subs / "a.py")
    shutil.copy(EXAMPLES / "dave_mistakes.py", subs / "b.py")
    out = tmp_path / "out"
    first = ravine("grade", str(subs), "--out", str(out), "--no-report", "--seed", "8")
    assert first.returncode == 0, first.stderr
    other = ravine("grade", str(subs), "--out", str(out), "--no-report", "--resume", "--seed", "9")
    assert other.returncode == 2
    assert other.stderr == (f"ravine grade: the batch in {out} was graded with other settings (seed); give the "
                            "same ones to --resume, or --force to grade from scratch\n")
    shutil.copy(EXAMPLES / "alice_correct.py", subs / "b.py")  # b.py changed since
    again = ravine("grade", str(subs), "--out", str(out), "--no-report", "--resume")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("kept") == 1 and "[1/2] a: 51/51 (graded before" in again.stderr
    assert [r["total"] for r in gradebook(out)] == ["51", "51"]


def test_regrading_fewer_files_with_force_keeps_no_old_folder(tmp_path):
    out = tmp_path / "out"
    two = ravine("grade", str(EXAMPLES / "alice_correct.py"), str(EXAMPLES / "dave_mistakes.py"),
                 "--out", str(out), "--seed", "3")
    assert two.returncode == 0, two.stderr
    one = ravine("grade", str(EXAMPLES / "alice_correct.py"), "--out", str(out), "--seed", "3", "--force")
    assert one.returncode == 0, one.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["alice_correct"]
    assert [r["submission"] for r in gradebook(out)] == ["alice_correct"]
    report = ravine("report", str(out))
    assert report.returncode == 0 and "1 submission" in report.stdout, report.stdout
    # --force never deletes what ravine did not write
    (out / "notes.txt").write_text("mine")
    refused = ravine("grade", str(EXAMPLES / "alice_correct.py"), "--out", str(out), "--force")
    assert refused.returncode == 2 and "ravine did not write (such as notes.txt)" in refused.stderr
    assert (out / "notes.txt").read_text() == "mine"
    # a non-empty directory without a batch is refused
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "x").write_text("")
    proc = ravine("grade", str(EXAMPLES / "alice_correct.py"), "--out", str(plain))
    assert proc.returncode == 2 and proc.stderr == f"ravine grade: {plain} is not empty: choose a new or empty directory\n"


def test_grade_refuses_bad_seeds_and_limits_with_one_line(tmp_path):
    import os

    alice = str(EXAMPLES / "alice_correct.py")
    for args, env, message in [
        (["--seed", "-1"], {}, "argument --seed: must be a whole number from 0 to 2**63 - 1, got '-1'"),
        ([], {"RAVINE_SEED": "-1"}, "RAVINE_SEED: must be a whole number from 0 to 2**63 - 1, got '-1'"),
        (["--timeout", "inf"], {}, "argument --timeout: must be a positive number of seconds, at most 86400, got 'inf'"),
        (["--timeout", "nan"], {}, "argument --timeout: must be a positive number of seconds, at most 86400, got 'nan'"),
        (["--load-timeout", "0"], {}, "argument --load-timeout: must be a positive number of seconds, at most 86400, "
                                      "got '0'"),
        (["--resume", "--force"], {}, None),
    ]:
        out = tmp_path / "o"
        proc = ravine("grade", alice, "--out", str(out), *args, timeout=60,
                      env={**{k: v for k, v in os.environ.items() if k != "RAVINE_SEED"}, **env})
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (args, proc.stderr)
        if message:
            assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"ravine grade: {message}")
        else:
            assert "not allowed with argument" in proc.stderr
        assert not out.exists() or not any(out.iterdir())


def test_sigterm_removes_the_scratch_folder_and_keeps_the_results(tmp_path):
    import os
    import signal

    files = [str(EXAMPLES / f) for f in BATCH]
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", *files, "--out", str(out), "--no-report",
                             "--seed", "6"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("[1/"):
            assert list(Path(tempfile_dir()).glob(f"ravine-batch-{proc.pid}-*"))  # in use
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in rest, rest
    assert "terminated; the results written so far are kept" in rest
    assert not list(Path(tempfile_dir()).glob(f"ravine-batch-{proc.pid}-*"))
    assert json.loads((out / "grading.json").read_text())["seed"] == 6
    assert len(list(out.glob("*/results.json"))) >= 1
    assert os.path.exists(out / "gradebook.csv")
