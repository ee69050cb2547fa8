"""The PrairieLearn path: `ravine export prairielearn` and the external grader `ravine prairielearn`.

The exported info.json files and element attributes are validated against PrairieLearn's own
schemas, read from ``../shared/formats/prairielearn/schemas/`` (the reference copy next to the
repository; never copied into it).  The generated server.py files are imported and called with
PrairieLearn-shaped ``data`` dicts.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.export_prairielearn import QUESTION_ROOT, draw_variants, question_uuid
from problems import exercise_registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"
N_VARIANTS = 4


def _schemas_dir() -> Path | None:
    # ../shared/formats/prairielearn/schemas relative to the repository root's parent (for a git
    # worktree the shared folder may sit further up, so every ancestor is tried).
    for base in ROOT.parents:
        d = base / "shared" / "formats" / "prairielearn" / "schemas"
        if (d / "infoQuestion.json").is_file():
            return d
    return None


SCHEMAS = _schemas_dir()
needs_schemas = pytest.mark.skipif(
    SCHEMAS is None, reason="PrairieLearn's schemas (../shared/formats/prairielearn/schemas/) are not "
    "next to this checkout; they are third-party files and are not part of the project")


def cli(*args: str, timeout: float = 300, seed_env: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAVINE_SEED"}
    if seed_env is not None:
        env["RAVINE_SEED"] = seed_env
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def fragment(tmp_path_factory):
    out = tmp_path_factory.mktemp("pl") / "course"
    proc = cli("export", "prairielearn", "--out", str(out), "--variants", str(N_VARIANTS), "--seed", "11")
    assert proc.returncode == 0, proc.stderr
    assert "13 questions" in proc.stdout
    return out


def _server(fragment: Path, problem_id: str):
    path = fragment / QUESTION_ROOT / problem_id / "server.py"
    spec = importlib.util.spec_from_file_location(f"pl_server_{problem_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data() -> dict:
    return {"params": {}, "correct_answers": {}, "submitted_answers": {}, "format_errors": {},
            "partial_scores": {}, "score": 0.0, "feedback": {}, "variant_seed": 1}


def _sympy_json(text: str) -> dict:
    # what pl-symbolic-input stores as the submitted answer
    return {"_type": "sympy", "_value": text, "_variables": []}


def _submit(part: dict, value) -> object:
    return _sympy_json(value) if part["kind"] == "symbolic" else value


ANSWER_PROBLEMS = [p.id for p in exercise_registry.PROBLEMS.values() if p.id != "UR"]


# ------------------------------------------------------------------------------ layout and schemas

def test_one_question_per_problem_with_stable_uuids(fragment):
    qroot = fragment / QUESTION_ROOT
    assert sorted(d.name for d in qroot.iterdir()) == sorted(exercise_registry.PROBLEMS)
    for pid in ANSWER_PROBLEMS:
        assert {"info.json", "question.html", "server.py"} <= {f.name for f in (qroot / pid).iterdir()}
        assert json.loads((qroot / pid / "info.json").read_text())["uuid"] == question_uuid(pid)
    assert len({question_uuid(p) for p in exercise_registry.PROBLEMS}) == len(exercise_registry.PROBLEMS)


@needs_schemas
def test_every_info_json_validates_against_prairielearns_schema(fragment):
    import jsonschema

    schema = json.loads((SCHEMAS / "infoQuestion.json").read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    infos = sorted(fragment.rglob("info.json"))
    assert len(infos) == len(exercise_registry.PROBLEMS)
    for info in infos:
        errors = [e.message for e in validator.iter_errors(json.loads(info.read_text()))]
        assert errors == [], (info, errors)
    # the validator does catch a broken info.json
    bad = json.loads(infos[0].read_text()) | {"gradingMethod": "Robot", "uuid": "nope"}
    paths = {e.path[0] for e in validator.iter_errors(bad)}
    assert paths == {"gradingMethod", "uuid"}


@needs_schemas
def test_the_assessment_validates_and_lists_every_question_with_its_points(fragment):
    import jsonschema

    schema = json.loads((SCHEMAS / "infoAssessment.json").read_text())
    info = json.loads((fragment / "assessments" / "ravine" / "infoAssessment.json").read_text())
    errors = [e.message for e in jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
              .iter_errors(info)]
    assert errors == []
    questions = {q["id"]: q for q in info["zones"][0]["questions"]}
    assert set(questions) == {f"ravine/{p}" for p in exercise_registry.PROBLEMS}
    assert questions["ravine/UR"] == {"id": "ravine/UR", "autoPoints": 51.0}
    assert questions["ravine/P3"] == {"id": "ravine/P3", "manualPoints": 3.0}
    assert questions["ravine/P4"] == {"id": "ravine/P4", "autoPoints": 2.0, "manualPoints": 3.0}
    total = sum(q.get("autoPoints", 0) + q.get("manualPoints", 0) for q in questions.values())
    assert total == sum(p.points for p in exercise_registry.PROBLEMS.values())


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str | None, dict]] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        parent = self.stack[-1] if self.stack else None
        self.found.append((tag, parent, dict(attrs)))
        self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass


@needs_schemas
def test_element_attributes_validate_against_the_element_schemas(fragment):
    import jsonschema

    checked = set()
    for html in sorted(fragment.rglob("question.html")):
        parser = _Elements()
        parser.feed(html.read_text())
        for tag, parent, attrs in parser.found:
            name = f"{parent}__{tag}.json" if tag == "pl-answer" else f"{tag}__{tag}.json"
            schema_file = SCHEMAS / "elements" / name
            if not schema_file.is_file():
                continue
            schema = json.loads(schema_file.read_text())
            errors = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(attrs)]
            assert errors == [], (html, tag, attrs, errors)
            checked.add(tag)
    assert {"pl-symbolic-input", "pl-number-input", "pl-multiple-choice", "pl-answer"} <= checked


def test_elements_per_answer_kind(fragment):
    qroot = fragment / QUESTION_ROOT
    p1 = (qroot / "P1" / "question.html").read_text()
    assert p1.count("<pl-symbolic-input") == 3 and p1.count("<pl-number-input") == 2
    assert "{{params.a}}" in p1  # the per-variant numbers are PrairieLearn parameters
    # symbols whose bank name is not an identifier get one, and the page says which to type
    assert 'variables="g_t, g_tm1, beta"' in (qroot / "P5" / "question.html").read_text()
    assert "<code>g_tm1</code>" in (qroot / "P5" / "question.html").read_text()
    p4 = (qroot / "P4" / "question.html").read_text()
    assert "<pl-multiple-choice" in p4 and "<pl-rich-text-editor" in p4  # free text: manual grading
    assert json.loads((qroot / "P3" / "info.json").read_text())["gradingMethod"] == "Manual"
    assert json.loads((qroot / "P1" / "info.json").read_text())["gradingMethod"] == "Internal"
    # the reference never reaches the page (no correct-answer panel, no reference in the HTML)
    assert json.loads((qroot / "P1" / "info.json").read_text())["showCorrectAnswer"] is False
    assert "2/lambda_max" not in p1


def test_update_rules_question_uses_external_grading(fragment):
    q = fragment / QUESTION_ROOT / "UR"
    info = json.loads((q / "info.json").read_text())
    assert info["gradingMethod"] == "External"
    assert info["externalGradingOptions"]["image"] == "ravine/prairielearn-grader:0.1.0"
    assert isinstance(info["externalGradingOptions"]["timeout"], int)
    # the seed goes to the grader's environment (student processes get a scrubbed one)
    assert info["externalGradingOptions"]["environment"] == {"RAVINE_SEED": "11"}
    assert json.loads((q / "tests" / "ravine-prairielearn.json").read_text()) == {"file": "update_rules.py"}
    assert 'file-name="update_rules.py"' in (q / "question.html").read_text()
    initial = (q / "initial_code.py").read_text()
    compile(initial, "initial_code.py", "exec")
    assert "def momentum_step(x, v, grad_fn, lr, beta):" in initial
    docker = (fragment / "grader-image" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["ravine", "prairielearn", "--root", "/grade"]' in docker
    assert "pip install" in docker and "COPY ravine-src" in docker
    src = fragment / "grader-image" / "ravine-src"
    assert (src / "pyproject.toml").is_file() and (src / "grader" / "prairielearn.py").is_file()
    assert not list(src.rglob("__pycache__"))


# ------------------------------------------------------------------------------ server.py

def test_variants_come_from_ravines_generator(fragment):
    from problems.variants import format_value

    for pid in ("P1", "P6", "EM", "PM", "LS"):
        server = _server(fragment, pid)
        expected = [{k: format_value(v) for k, v in p.items()} for p in draw_variants(exercise_registry.get(pid), N_VARIANTS)]
        assert [v["params"] for v in server.VARIANTS] == expected
        assert len(server.VARIANTS) == N_VARIANTS
        choices = {tuple(c) for param in exercise_registry.get(pid).params for c in param.choices}
        for v in server.VARIANTS:  # each baked set is one of the bank's parameter choices
            assert tuple(v["params"].values()) in choices


@pytest.mark.parametrize("pid", ANSWER_PROBLEMS)
def test_reference_scores_one_and_each_anticipated_answer_gets_its_feedback(fragment, pid):
    server = _server(fragment, pid)
    auto = [p for p in server.QUESTION["parts"] if p["kind"] != "manual"]
    for seed in range(6):
        random.seed(seed)
        data = _data()
        server.generate(data)
        variant = server.VARIANTS[data["params"]["ravine_variant"]]
        if not auto:
            assert data["correct_answers"] == {}
            continue
        data["submitted_answers"] = {p["name"]: _submit(p, variant["answers"][p["name"]]["reference"])
                                     for p in auto}
        server.grade(data)
        assert data["score"] == pytest.approx(1.0), data["feedback"]
        for part in auto:
            for m in variant["answers"][part["name"]]["mistakes"]:
                wrong = dict(data["submitted_answers"], **{part["name"]: _submit(part, m["answer"])})
                d2 = _data() | {"params": data["params"], "submitted_answers": wrong}
                server.grade(d2)
                assert d2["feedback"][part["name"]].startswith(m["feedback"]), (pid, part["name"], m["id"])
                assert d2["partial_scores"][part["name"]]["score"] == m["credit"]
                assert d2["score"] < 1.0


def test_hand_written_answers_on_the_generated_server(fragment):
    p1 = _server(fragment, "P1")
    random.seed(3)
    data = _data()
    p1.generate(data)
    a = float(data["params"]["a"])
    right = {"a": _sympy_json("-2/(-lambda_max)"), "b": _sympy_json("2*lambda_max**(-1)"),
             "c": 2 / a, "d": _sympy_json("lambda_max/lambda_min"), "e": a / float(data["params"]["b"])}
    data["submitted_answers"] = right
    p1.grade(data)
    assert data["score"] == 1.0
    wrong = dict(right, a=_sympy_json("1/lambda_max"), c=1 / a)
    data = _data() | {"params": data["params"], "submitted_answers": wrong}
    p1.grade(data)
    assert "removes the steep direction's error in one step" in data["feedback"]["a"]
    assert data["partial_scores"]["a"]["score"] == 0.25 and data["partial_scores"]["c"]["score"] == 0.25
    assert data["score"] == pytest.approx((4 * 0.25 + 3 + 2 * 0.25 + 3 + 2) / 14)
    # unreadable and hostile text is a message and zero, never a crash or an evaluation
    for junk in ("__import__('os').system('true')", "lambda_max +", "", "x" * 5000):
        d = _data() | {"params": data["params"], "submitted_answers": dict(right, a=_sympy_json(junk))}
        p1.grade(d)
        assert d["partial_scores"]["a"]["score"] == 0.0
        assert d["feedback"]["a"] == "Could not read your answer as a formula."
    # numbers as PrairieLearn may store them: a float, a fraction's text, a serialised numpy value
    for c in (2 / a, f"2/{int(a)}", {"_type": "float", "_value": 2 / a}):
        d = _data() | {"params": data["params"], "submitted_answers": dict(right, c=c)}
        p1.grade(d)
        assert d["partial_scores"]["c"]["score"] == 1.0, c
    # a missing or invalid part scores zero; the others keep their points
    d = _data() | {"params": data["params"], "submitted_answers": dict(right, c=None)}
    p1.grade(d)
    assert d["partial_scores"]["c"]["score"] == 0.0 and d["score"] == pytest.approx(12 / 14)


def test_close_formulas_are_told_apart(fragment):
    pm = _server(fragment, "PM")
    random.seed(0)
    data = _data()
    pm.generate(data)
    n = int(data["params"]["n"])
    data["submitted_answers"] = {"a": _sympy_json("(1/2)**n"), "b": _sympy_json("1 - 2**(-n)"), "c": 2.0 ** -n}
    pm.grade(data)
    assert data["partial_scores"]["a"]["score"] == 1.0
    assert data["partial_scores"]["b"]["score"] == 0.5  # forgot the maxima: 2^-n apart
    assert "subtract both" in data["feedback"]["b"]


def test_choices_grade_with_their_feedback(fragment):
    rq = _server(fragment, "RQ")
    data = _data()
    rq.generate(data)
    data["submitted_answers"] = {"a": "b"}
    rq.grade(data)
    assert data["score"] == 1.0 and "overshoots" in data["feedback"]["a"]
    data["submitted_answers"] = {"a": "d"}
    rq.grade(data)
    assert data["score"] == 0.0 and "plateau" in data["feedback"]["a"]


# ------------------------------------------------------------------------------ ravine prairielearn

def _job(root: Path, submission: Path | None, seed: int = 7, name: str | None = None) -> Path:
    (root / "student").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "data").mkdir()
    (root / "data" / "data.json").write_text("{}")
    (root / "tests" / "ravine-prairielearn.json").write_text(json.dumps({"seed": seed, "timeout": 2}))
    if submission is not None:
        shutil.copy(submission, root / "student" / (name or submission.name))
    return root


def test_external_grader_matches_ravine_grade_on_the_examples(tmp_path):
    graded = tmp_path / "graded"
    proc = cli("grade", str(EXAMPLES), "--out", str(graded), "--seed", "7", "--timeout", "2", "--no-report")
    assert proc.returncode == 0, proc.stderr
    with open(graded / "gradebook.csv", newline="") as fh:
        book = {row["submission"]: row for row in csv.DictReader(fh)}
    files = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".py", ".ipynb"))
    assert len(files) == 8
    for sub in files:
        root = _job(tmp_path / f"job-{sub.stem}", sub)
        proc = cli("prairielearn", "--root", str(root))
        assert proc.returncode == 0, proc.stderr
        pl = json.loads((root / "results" / "results.json").read_text())
        ours = json.loads((graded / sub.stem / "results.json").read_text())
        max_points = sum(t["max_score"] for t in ours["tests"])
        assert pl["gradable"] is True
        assert pl["score"] == pytest.approx(ours["score"] / max_points, abs=1e-6), sub.name
        assert float(book[sub.stem]["total"]) == pytest.approx(ours["score"])
        assert [(t["name"], t["points"], t["max_points"]) for t in pl["tests"]] == \
            [(t["name"], t["score"], t["max_score"]) for t in ours["tests"]], sub.name
        assert all(0 <= t["points"] <= t["max_points"] for t in pl["tests"])
        assert 0.0 <= pl["score"] <= 1.0
    # the examples span the range: a full score, partial scores and zeros
    scores = {json.loads((tmp_path / f"job-{s.stem}" / "results" / "results.json").read_text())["score"]
              for s in files}
    assert 1.0 in scores and 0.0 in scores and any(0 < s < 1 for s in scores)


def test_external_grader_feedback_names_the_mistake(tmp_path):
    root = _job(tmp_path / "job", EXAMPLES / "dave_mistakes.py", name="update_rules.py")
    proc = cli("prairielearn", "--root", str(root))
    assert proc.returncode == 0, proc.stderr
    pl = json.loads((root / "results" / "results.json").read_text())
    assert pl["score"] == pytest.approx(23 / 51, abs=1e-6)
    messages = "\n".join(t["message"] for t in pl["tests"])
    assert "[ema-form]" in messages
    assert {"name", "description", "points", "max_points", "message", "output"} <= set(pl["tests"][0])
    # the sandbox that graded it is recorded, as in ravine grade's results.json
    from grader.sandbox import resolve

    assert pl["ravine"]["isolation"]["mode"] == resolve("auto").mode


def test_printed_hidden_inputs_never_reach_the_student(tmp_path):
    sub = tmp_path / "update_rules.py"
    sub.write_text((EXAMPLES / "alice_correct.py").read_text() + """
_orig = largest_stable_lr
def largest_stable_lr(H):
    print("LEAK", repr(H.tolist()))
    return _orig(H)
""")
    root = _job(tmp_path / "job", sub)
    proc = cli("prairielearn", "--root", str(root))
    assert proc.returncode == 0, proc.stderr
    text = (root / "results" / "results.json").read_text()
    assert json.loads(text)["score"] == 1.0
    assert "LEAK" not in text and "LEAK" not in proc.stdout


def test_the_example_job_directory(tmp_path):
    example = ROOT / "examples" / "prairielearn" / "grade"
    assert (example / "student" / "update_rules.py").read_bytes() == (EXAMPLES / "dave_mistakes.py").read_bytes()
    root = tmp_path / "grade"
    shutil.copytree(example, root, ignore=shutil.ignore_patterns("results"))
    proc = cli("prairielearn", "--root", str(root))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "update_rules: 23/51 (score 0.45098)"
    pl = json.loads((root / "results" / "results.json").read_text())
    assert pl["score"] == pytest.approx(23 / 51, abs=1e-5) and len(pl["tests"]) == 33


def test_seed_from_the_environment_as_info_json_sets_it(tmp_path):
    with_file = _job(tmp_path / "a", EXAMPLES / "erin_torch_nesterov.py", seed=5)
    proc = cli("prairielearn", "--root", str(with_file))
    assert proc.returncode == 0, proc.stderr
    with_env = _job(tmp_path / "b", EXAMPLES / "erin_torch_nesterov.py")
    (with_env / "tests" / "ravine-prairielearn.json").write_text('{"file": "erin_torch_nesterov.py"}')
    proc = cli("prairielearn", "--root", str(with_env), seed_env="5")
    assert proc.returncode == 0, proc.stderr
    a = json.loads((with_file / "results" / "results.json").read_text())
    b = json.loads((with_env / "results" / "results.json").read_text())
    assert a["tests"] == b["tests"] and a["score"] == b["score"] == pytest.approx(22 / 51, abs=1e-5)
    proc = cli("prairielearn", "--root", str(with_env))  # no seed anywhere: a course setup error
    assert proc.returncode == 2 and "no seed" in proc.stderr


def test_no_submission_is_not_gradable_and_keeps_the_attempt(tmp_path):
    root = _job(tmp_path / "job", None)
    proc = cli("prairielearn", "--root", str(root))
    assert proc.returncode == 0
    pl = json.loads((root / "results" / "results.json").read_text())
    assert pl["gradable"] is False and "no .py or .ipynb file was submitted" in pl["format_errors"][0]


def test_external_grader_usage_errors(tmp_path):
    proc = cli("prairielearn", "--root", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "is not a directory" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "job" / "student").mkdir(parents=True)
    proc = cli("prairielearn", "--root", str(tmp_path / "job"))
    assert proc.returncode == 2 and "cannot read settings" in proc.stderr and "Traceback" not in proc.stderr
    job = _job(tmp_path / "job2", EXAMPLES / "alice_correct.py")
    for args, message in [(["--timeout", "0"], "argument --timeout: must be a positive number of seconds"),
                          (["--isolation", "chroot"], "argument --isolation: invalid choice: 'chroot'")]:
        proc = cli("prairielearn", "--root", str(job), *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    (job / "tests" / "ravine-prairielearn.json").write_text(json.dumps({"seed": -1}))
    proc = cli("prairielearn", "--root", str(job))
    assert proc.returncode == 2 and "seed must be a whole number from 0" in proc.stderr
    assert not (job / "results").exists()


def test_export_usage_errors(tmp_path):
    proc = cli("export", "prairielearn", "--out", str(tmp_path / "x"), "--variants", "0")
    assert proc.returncode == 2 and "--variants" in proc.stderr
    proc = cli("export", "prairielearn", "--out", str(tmp_path / "x"), "--timeout", "601")
    assert proc.returncode == 2 and "600" in proc.stderr
    (tmp_path / "file").write_text("")
    proc = cli("export", "prairielearn", "--out", str(tmp_path / "file"))
    assert proc.returncode == 2 and "not a directory" in proc.stderr
    proc = cli("export")
    assert proc.returncode == 2 and "prairielearn" in proc.stderr
