"""The PrairieLearn question ``ravine/UR`` (the update rules, graded externally by ``ravine
prairielearn`` in a grader image): its question files, its settings and the image's Dockerfile and
source copy.  Written by :func:`grader.export_prairielearn.export_prairielearn`.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from grader.export_prairielearn import ExportReport, paragraphs_html, question_info, write_file

__all__ = ["write_ur_question", "DOCKERFILE"]


DOCKERFILE = """# The grader image of the PrairieLearn question ravine/UR (external grading).
# Build and publish it (PrairieLearn pulls images from Docker Hub), with the tag info.json names:
#   docker build -t {image} .  &&  docker push {image}
FROM python:3.12-slim
COPY ravine-src /opt/ravine-src
RUN python3 -m pip install --no-cache-dir /opt/ravine-src \\
 && ravine prairielearn --help > /dev/null
# PrairieLearn mounts the job at /grade: student/ (the submission), tests/ (the question's tests/
# folder with ravine-prairielearn.json) and writes nothing else; results/results.json is ours.
ENTRYPOINT ["ravine", "prairielearn", "--root", "/grade"]
"""


def _initial_code() -> str:
    from problems.exercise_registry import EXERCISES

    lines = ['"""The update rules and helpers (see the question for the contract)."""', "",
             "import numpy as np", ""]
    for e in EXERCISES.values():
        m = re.match(r"^(\w+)\(([^)]*)\)", e.signature)
        assert m is not None, e.signature
        lines += ["", f"def {m.group(1)}({m.group(2)}):", f'    """{e.statement}"""',
                  "    raise NotImplementedError", ""]
    return "\n".join(lines).rstrip() + "\n"


def _copy_source(dest: Path) -> None:
    from grader import __version__
    from grader.gradescope import PYPROJECT

    for name in ("grader", "problems", "solvers"):
        module = __import__(name)
        if module.__file__ is None:
            raise RuntimeError(f"cannot locate ravine's package {name!r}")
        root = Path(module.__file__).resolve().parent
        for p in sorted(root.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".json", ".md", ".txt"):
                write_file(dest / name / p.relative_to(root), p.read_text(encoding="utf-8"))
    write_file(dest / "pyproject.toml", PYPROJECT.format(version=__version__))


def write_ur_question(out: Path, qdir: Path, *, image: str, seed: int, timeout: int,
                       report: ExportReport) -> None:
    from problems import exercise_registry
    from problems.exercise_registry import EXERCISES

    from grader.prairielearn import SETTINGS_NAME

    problem = exercise_registry.get("UR")
    info = question_info(problem, grading="External", single=True,
                 externalGradingOptions={"image": image, "timeout": int(timeout),
                                         # the hidden checks' seed: in the grader's environment, which
                                         # the student's process never sees (its own is scrubbed)
                                         "environment": {"RAVINE_SEED": str(int(seed))}})
    write_file(qdir / "info.json", json.dumps(info, indent=2) + "\n")
    items = "\n".join(f"  <li><code>{html.escape(e.signature)}</code> ({e.points:g} points): "
                      f"{html.escape(e.statement)}</li>" for e in EXERCISES.values())
    write_file(qdir / "question.html",
           "<pl-question-panel>\n" + paragraphs_html(problem.statement)
           + f"\n<ul>\n{items}\n</ul>\n<p>Public and hidden checks grade each function; hidden checks do "
           "not show their inputs.</p>\n"
           '<pl-file-editor file-name="update_rules.py" ace-mode="ace/mode/python" '
           'source-file-name="initial_code.py"></pl-file-editor>\n</pl-question-panel>\n\n'
           "<pl-submission-panel>\n  <pl-external-grader-results></pl-external-grader-results>\n"
           "  <pl-file-preview></pl-file-preview>\n</pl-submission-panel>\n")
    write_file(qdir / "initial_code.py", _initial_code())
    settings = {"file": "update_rules.py"}
    write_file(qdir / "tests" / SETTINGS_NAME, json.dumps(settings, indent=2) + "\n")
    (qdir / "tests" / SETTINGS_NAME).chmod(0o600)
    write_file(out / "grader-image" / "Dockerfile", DOCKERFILE.format(image=image))
    _copy_source(out / "grader-image" / "ravine-src")
    report.points["ravine/UR"] = (problem.points, 0.0)
