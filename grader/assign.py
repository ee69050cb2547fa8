"""Building assignment notebooks (``ravine assign``): one nbformat v4 notebook per student.

A notebook holds, in order: a title and how to answer; per problem its
statement with the student's numbers; for the implementation problem one stub
cell per function (the contract's signature and docstring) and a cell that
runs the public checks (``!ravine check <file>``: a shell escape, which the
grader skips); for every other part its prompt and an *answer cell*: a
markdown cell with metadata ``{"ravine": {"part": "P1.a"}}`` whose first line
is the instruction ``> **P1.a** ...`` and whose body is ``TODO`` until the
student replaces it (see :mod:`grader.answer_grading` for how answers are read).

Roster CSV: a header row with the column ``id`` (required) and optionally
``name`` and ``email``; one student per row.  Ids must be unique and made of
letters, digits and ``. _ @ -`` (they name the notebook files ``<id>.ipynb``).
Ids that differ only in case are refused (``S001.ipynb`` and ``s001.ipynb`` are one
file on a case-insensitive file system).  The notebook metadata ``ravine.student_id``
is for convenience only: the grader recomputes every number from the roster id and
the course secret.  ``ravine.secret_fingerprint`` (:func:`secret_fingerprint`) lets
``ravine grade`` warn when it is given another secret than the one the handout was made with.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, Sequence

from .input_files import read_input

__all__ = ["Student", "RosterError", "read_roster", "load_roster", "read_secret", "assign", "build_notebook", "write_notebook",
           "secret_fingerprint", "stub", "ASSIGNMENT"]

ASSIGNMENT = "sgd-momentum-nesterov"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class RosterError(ValueError):
    """The roster file is unusable; the message names the line."""


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    email: str = ""


def read_roster(text: str, *, source: str = "roster") -> list[Student]:
    """Parse a roster CSV (header with ``id``; optional ``name``, ``email``)."""
    if "\x00" in text:
        raise RosterError(f"{source}: binary file, expected CSV text")
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise RosterError(f"{source}: empty roster (expected a header line 'id,name,email')")
    header = [h.strip().lower() for h in rows[0]]
    if "id" not in header:
        raise RosterError(f"{source}: line 1: the header must name an 'id' column "
                          f"(got {', '.join(header) or 'nothing'})")
    unknown = [h for h in header if h not in ("id", "name", "email")]
    if unknown:
        raise RosterError(f"{source}: line 1: unknown column(s) {', '.join(unknown)} "
                          "(allowed: id, name, email)")
    col = {h: i for i, h in enumerate(header)}
    students: list[Student] = []
    seen: dict[str, int] = {}
    folded: dict[str, tuple[str, int]] = {}
    for lineno, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise RosterError(f"{source}: line {lineno}: {len(row)} fields, expected "
                              f"{len(header)} ({', '.join(header)})")
        sid = row[col["id"]].strip()
        if not _ID_RE.match(sid):
            raise RosterError(f"{source}: line {lineno}: bad student id {sid!r} (letters, digits "
                              "and . _ @ - only, at most 64 characters)")
        if sid in seen:
            raise RosterError(f"{source}: line {lineno}: duplicate id {sid!r} (first on line "
                              f"{seen[sid]})")
        if sid.lower() in folded:
            first, line = folded[sid.lower()]
            raise RosterError(f"{source}: line {lineno}: id {sid!r} differs from {first!r} (line {line}) "
                              "only in case; their notebooks would be one file on a case-insensitive "
                              "file system")
        seen[sid] = lineno
        folded[sid.lower()] = (sid, lineno)
        students.append(Student(sid, row[col["name"]].strip() if "name" in col else "",
                                row[col["email"]].strip() if "email" in col else ""))
    if not students:
        raise RosterError(f"{source}: the roster has a header but no students")
    return students


def secret_fingerprint(secret: bytes) -> str:
    """A short public tag of the course secret (8 hex digits), stored in every handout.

    HMAC-SHA256 with a fixed label as the message: it tells two secrets apart and gives
    nothing a student could not already test against their own notebook's numbers (which are
    HMACs of the same secret).  Never the secret itself.
    """
    import hashlib
    import hmac

    return hmac.new(bytes(secret), b"ravine secret fingerprint v1", hashlib.sha256).hexdigest()[:8]


def load_course(roster: str | None, secret_file: str | None) -> tuple[list[Student], bytes]:
    """The roster and the course secret given together on a command line.

    Raises ValueError (RosterError included) with a one-line message naming the file or the option.
    """
    if not (roster and secret_file):
        raise ValueError("--roster and --secret-file go together")
    return load_roster(roster), read_secret(secret_file)


def load_roster(path: str | Path) -> list[Student]:
    """Read and parse the roster file at ``path`` (UTF-8, a byte-order mark allowed).

    Every failure is a :class:`RosterError` naming the file: missing, a directory,
    unreadable, not UTF-8 text, or a bad CSV (see :func:`read_roster`).
    """
    raw = read_input(path, RosterError, noun="roster", expected="a CSV file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError(f"{path}: not UTF-8 text (undecodable byte at offset {exc.start}); "
                          "save the roster as UTF-8 CSV") from None
    return read_roster(text, source=str(path))


def read_secret(path: str | Path) -> bytes:
    """The course secret from a file (surrounding whitespace stripped); ValueError when unusable."""
    secret = read_input(path, ValueError, noun="secret", expected="the secret file").strip()
    if not secret:
        raise ValueError(f"{path}: the secret file is empty")
    if len(secret) < 16:
        raise ValueError(f"{path}: the secret is too short ({len(secret)} bytes; use at least 16)")
    return secret


# The body of each stub (its docstring); the def line comes from the published signature.
_STUB_BODIES: dict[str, str] = {
    "sgd_step": '''    """One step of gradient descent.

    x: 1-D float64 numpy array (the current point); grad_fn(point) returns the
    gradient at point; lr: the learning rate.  Returns x_new = x - lr * grad(x).
    """
    raise NotImplementedError
''',
    "momentum_step": '''    """One step of (heavy-ball) momentum, the lecture's and torch.optim.SGD's convention.

    v <- beta * v + grad(x);  x <- x - lr * v.   v starts at zero.
    Returns (x_new, v_new), both 1-D float64 arrays shaped like x.
    """
    raise NotImplementedError
''',
    "nesterov_step": '''    """One step of Nesterov momentum in the look-ahead form.

    v <- beta * v + grad(x - lr * beta * v);  x <- x - lr * v.   v starts at zero.
    Returns (x_new, v_new).
    """
    raise NotImplementedError
''',
    "largest_stable_lr": '''    """The largest stable learning rate of gradient descent on f(x) = 1/2 x^T H x.

    H: symmetric positive definite 2-D numpy array.  Returns a float.
    """
    raise NotImplementedError
''',
    "effective_lr": '''    """The step per unit gradient at terminal velocity under momentum beta. Returns a float."""
    raise NotImplementedError
''',
    "classify_critical_point": '''    """Classify a critical point from its (symmetric) Hessian H.

    Returns "minimum", "maximum", "saddle", or "degenerate" (some eigenvalue is
    zero, to a tolerance relative to the largest |eigenvalue|).
    """
    raise NotImplementedError
''',
}


def stub(function: str) -> str:
    """The notebook's code cell for a contract function: its def line and docstring."""
    from problems import exercise

    head = exercise(function).signature.split(" -> ")[0]
    return f"def {head}:\n{_STUB_BODIES[function]}"


def _choices_md(part: Any) -> str:
    return "\n".join(f"- **({c.key})** {c.text}" for c in part.choices)


_HOW = {
    "symbolic": "a formula: plain (`2/lambda_max`, `lr/(1-beta)`, `beta^2`) or LaTeX "
                "(`$\\frac{2}{\\lambda_{\\max}}$`)",
    "numeric": "a number or a numeric formula (`0.02`, `2/100`)",
    "choice": "the letter of one choice",
    "text": "free text (graded by the instructor)",
    "derivation": "one equation per line; a reason may follow ` -- `",
}


def _symbols_md(part: Any) -> str:
    names = [s.name for s in part.symbols]
    return f" Names: {', '.join(f'`{n}`' for n in names)}." if names else ""


def build_notebook(student: Student | None, seed: bytes | None, *, filename: str,
                   fingerprint: str | None = None) -> Any:
    """The notebook (an ``nbformat`` node, validated) for one student (None: generic)."""
    import nbformat
    from nbformat import v4

    from problems import PROBLEMS
    from problems.variants import draw_params, render

    who = f" — {student.name or student.id}" if student else ""
    cells = [v4.new_markdown_cell(
        f"# SGD, momentum and Nesterov: exercises{who}\n\n"
        "Implement the functions in the code cells, and answer the other parts in the cells "
        "marked **Answer** (replace `TODO`; keep the first line that starts with `>`). "
        "Formulas may be plain (`2/lambda_max`) or LaTeX (`$\\frac{2}{\\lambda_{\\max}}$`); "
        "Greek letters are spelled out (`beta`, `eta`). Answer cells are read, never run.\n\n"
        "Your numbers are personal: do not copy a classmate's.")]
    cells.append(v4.new_code_cell("import numpy as np"))
    for problem in PROBLEMS.values():
        params: Mapping[str, Fraction] = draw_params(problem, seed)
        pts = f"{problem.points:g} points"
        cells.append(v4.new_markdown_cell(
            f"## {problem.id}. {problem.title} ({pts})\n\n{render(problem.statement, params)}",
            metadata={"ravine": {"problem": problem.id}}))
        impl = [p for p in problem.parts if p.kind == "implementation"]
        for part in impl:
            cells.append(v4.new_code_cell(stub(part.function),
                                          metadata={"ravine": {"function": part.function,
                                                               "part": part.id}}))
        if impl:
            cells.append(v4.new_markdown_cell(
                "Run the public checks (hidden checks exist too and are run at grading):"))
            cells.append(v4.new_code_cell(f"!ravine check {filename}",
                                          metadata={"ravine": {"role": "public-checks"}}))
        for part in problem.parts:
            if part.kind == "implementation":
                continue
            prompt = render(part.prompt, params)
            if part.kind == "choice":
                prompt += "\n\n" + _choices_md(part)
            cells.append(v4.new_markdown_cell(
                f"**{part.id}** ({part.points:g} point{'s' if part.points != 1 else ''}) {prompt}"))
            body = "TODO"
            how = _HOW[part.kind]
            if part.kind == "symbolic" and any(op in part.reference for op in "<>"):
                how = "a condition (an inequality such as `lr < ...`), plain or LaTeX"
            instr = f"> **{part.id}** Answer: {how}.{_symbols_md(part)}"
            if part.kind == "derivation":
                instr += f" Start from `{part.given}`, end with `{part.reference.split('=')[0].strip()} = ...`."
            cells.append(v4.new_markdown_cell(f"{instr}\n\n{body}",
                                              metadata={"ravine": {"part": part.id,
                                                                   "kind": part.kind}}))
    meta: dict[str, Any] = {"assignment": ASSIGNMENT, "format": 1}
    if student is not None:
        meta["student_id"] = student.id  # convenience only; the grader uses the roster
    if fingerprint is not None:
        meta["secret_fingerprint"] = fingerprint  # `grade` warns when its secret has another one
    nb = v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "ravine": meta,
    })
    # Cell ids from the position and content, not nbformat's random ones: the same roster and
    # secret give byte-identical notebooks on every run (diffable, reproducible handouts).
    for index, cell in enumerate(nb.cells):
        digest = hashlib.sha256(f"{index}\0{cell.cell_type}\0{cell.source}".encode("utf-8"))
        cell["id"] = digest.hexdigest()[:16]
    nbformat.validate(nb)
    return nb


def write_notebook(nb: Any, path: Path) -> None:
    """Write atomically (temporary file in the same directory, then rename)."""
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            nbformat.write(nb, fh)
        os.replace(tmp, path)  # mode 0600 from mkstemp, as every file ravine writes
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def assign(out: Path, students: Sequence[Student] | None, secret: bytes | None) -> list[Path]:
    """Write one notebook per student (or the generic ``assignment.ipynb``); return the paths."""
    from problems.variants import student_seed

    paths: list[Path] = []
    if not students:
        path = out / "assignment.ipynb"
        write_notebook(build_notebook(None, None, filename=path.name), path)
        return [path]
    if not secret:
        raise ValueError("a roster needs the course secret (--secret-file)")
    fingerprint = secret_fingerprint(secret)
    for st in students:
        path = out / f"{st.id}.ipynb"
        nb = build_notebook(st, student_seed(secret, st.id), filename=path.name, fingerprint=fingerprint)
        write_notebook(nb, path)
        paths.append(path)
    return paths
