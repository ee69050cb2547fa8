"""Loading a submission (parent side): read, check, split into cells, scan imports.

Nothing here executes student code.  ``compile`` is used only to find syntax
errors; ``ast`` is used for the static scan of forbidden imports.

Conventions
-----------
* A ``.py`` file is one cell (index 0, label = the file name).  It is used as
  written: IPython magics are *not* stripped from ``.py`` files (a ``%`` line
  there is a syntax error, which is fatal for a ``.py`` file).
* A ``.ipynb`` notebook is read with nbformat (converted to v4 and validated).
  Every code cell becomes a :class:`Cell`; ``index`` counts code cells from 0
  and ``label`` is ``"cell N"`` with N = index + 1 (markdown cells are not
  counted).  Empty code cells are kept so the numbering is stable.
* Magics in notebook cells.  A cell that is already valid Python is left
  untouched.  Otherwise each line whose first non-blank character is ``%`` or
  ``!``, each ``x = !cmd`` / ``x = %magic`` assignment and each help line
  (``np.zeros?``) is replaced by ``pass`` at the same indentation (line
  numbers stay right).  A cell magic ``%%name`` on the first line drops the
  whole cell, except ``%%time``, ``%%timeit`` and ``%%capture`` whose body
  runs once (the magic line becomes blank).
* A syntax error in one notebook cell is not fatal: the cell keeps its source,
  ``Cell.syntax_error`` says what is wrong, and the run reports and skips it.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "Cell",
    "Submission",
    "SubmissionError",
    "FORBIDDEN_PACKAGES",
    "load_submission",
    "collect_submissions",
    "strip_magics",
    "scan_forbidden",
]

# The grader's own packages; a submission importing them gets no credit.
FORBIDDEN_PACKAGES: frozenset[str] = frozenset({"grader", "solvers", "problems"})

EXTENSIONS = (".py", ".ipynb")
# Size caps, checked before parsing: the grader parses every submission in its own process,
# and ast/compile take ~400 bytes of memory per byte of source (a 36 MB .py took 14 GB and
# 2 minutes).  Real solutions are a few KiB; notebooks may carry figures in their outputs.
MAX_CODE_BYTES = 512 << 10  # a .py file, or all code cells of a notebook together
MAX_NOTEBOOK_BYTES = 32 << 20  # the .ipynb file, outputs included
_RUNNABLE_CELL_MAGICS = frozenset({"time", "timeit", "capture"})
_SKIP_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class Cell:
    """One unit of code to execute in order."""

    index: int  # 0-based code-cell index (py file: 0)
    source: str  # with IPython magics / shell escapes removed
    label: str  # "cell 3" for notebooks (1-based), the file name for .py
    syntax_error: str = ""  # non-empty: this notebook cell is reported and skipped


@dataclass(frozen=True)
class Submission:
    name: str  # file name without extension
    path: Path
    kind: str  # "py" | "ipynb"
    cells: tuple[Cell, ...]
    notebook: Any | None  # the nbformat NotebookNode for .ipynb, else None
    # static scan: (module, where), where = "" for top level or the top-level function name
    forbidden: tuple[tuple[str, str], ...]


class SubmissionError(Exception):
    """A submission that cannot be graded; the message is a one-line, student-facing reason."""


# --------------------------------------------------------------------------- magics

_ASSIGN_MAGIC = re.compile(r"^[\w.\[\]\s,()*]+=\s*[!%]")
_HELP_LINE = re.compile(r"^[\w.\[\]()]*\?\??$|^\?\??[\w.]+$")


def strip_magics(source: str) -> str:
    """Remove IPython magics and shell escapes from one notebook cell (see module docstring)."""
    try:
        ast.parse(source)
        return source  # already Python: never touch it (a '%' line may be inside a string)
    except SyntaxError:
        pass
    except (ValueError, RecursionError, MemoryError):
        return source
    lines = source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name = lines[first].lstrip()[2:].split(maxsplit=1)
        if name and name[0] in _RUNNABLE_CELL_MAGICS:
            lines[first] = ""
            source = "\n".join(lines)
            return strip_magics(source) if source.strip() else ""
        return ""
    out = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if (
            stripped.startswith(("%", "!"))
            or _ASSIGN_MAGIC.match(stripped)
            or (stripped and _HELP_LINE.match(stripped.rstrip()))
        ):
            out.append(indent + "pass")
        else:
            out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------- static scan


def _forbidden_name(module: str) -> bool:
    return module.split(".", 1)[0] in FORBIDDEN_PACKAGES


def _constant_str(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _imports_in(node: ast.AST) -> Iterable[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            for alias in sub.names:
                yield alias.name
        elif isinstance(sub, ast.ImportFrom):
            if sub.level == 0 and sub.module:
                yield sub.module
        elif isinstance(sub, ast.Call) and sub.args:
            func = sub.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else None
            )
            if name in ("__import__", "import_module"):
                text = _constant_str(sub.args[0])
                if text is not None:
                    yield text


def scan_forbidden(tree: ast.Module) -> list[tuple[str, str]]:
    """(module, where) for imports of the grader's packages in a parsed cell.

    ``where`` is the name of the enclosing top-level function, or "" for code
    that runs at module level (including class bodies and their methods).
    """
    found: list[tuple[str, str]] = []
    for stmt in tree.body:
        where = stmt.name if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) else ""
        for module in _imports_in(stmt):
            if _forbidden_name(module) and (module, where) not in found:
                found.append((module, where))
    return found


# --------------------------------------------------------------------------- loading


def _too_big(what: str, size: int, limit: int) -> SubmissionError:
    return SubmissionError(f"{what} is too large to grade ({size / 1024:.0f} KiB; the limit is "
                           f"{limit / 1024:.0f} KiB)")


def _read_text(path: Path, limit: int, *, python: bool = False) -> str:
    try:
        size = path.stat().st_size
        if size > limit:
            raise _too_big(path.name, size, limit)
        data = path.read_bytes()
    except IsADirectoryError:
        raise SubmissionError(f"{path}: is a directory, expected a .py file or a .ipynb notebook")
    except OSError as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:  # grew since stat
        raise _too_big(path.name, len(data), limit)
    if not data.strip():
        raise SubmissionError(f"{path.name}: the file is empty")
    if b"\x00" in data:
        raise SubmissionError(
            f"{path.name}: binary file (it contains NUL bytes), expected Python source text"
        )
    encoding = "utf-8-sig"
    if python:
        # As Python reads source (PEP 263): a UTF-8 BOM, or a `# -*- coding: NAME -*-` line in
        # the first two lines, else UTF-8.
        import io
        import tokenize

        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:
            why = str(exc.msg)
            if why.startswith("invalid or missing encoding declaration"):
                encoding = "utf-8"  # no coding line and not UTF-8: the decode below says where
            elif why.startswith("encoding problem: utf-8"):
                raise SubmissionError(f"{path.name}: the file starts with a UTF-8 byte order mark but its "
                                      "coding line names another encoding; remove one of them") from None
            else:  # "unknown encoding: NAME", "unknown encoding for ...: NAME"
                raise SubmissionError(f"{path.name}: its coding line declares an encoding Python does not "
                                      f"know ({_one_line(why, 100)}); save the file as UTF-8 and remove "
                                      "the coding line") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if encoding.startswith("utf-8") else encoding
        raise SubmissionError(
            f"{path.name}: not {name} text (undecodable byte at offset {exc.start}); "
            "save the file as UTF-8" + ("" if name == "UTF-8" else " or fix its coding line")
        ) from None


def _syntax_message(exc: SyntaxError, where: str) -> str:
    line = f", line {exc.lineno}" if exc.lineno else ""
    return f"syntax error in {where}{line}: {exc.msg}"


def _parse(source: str, label: str) -> ast.Module:
    """Parse and compile (compile also finds e.g. 'return' outside a function); never runs it."""
    tree = ast.parse(source, filename=label)
    compile(tree, label, "exec", dont_inherit=True)
    return tree


def _load_py(path: Path) -> Submission:
    text = _read_text(path, MAX_CODE_BYTES, python=True)
    label = path.name
    try:
        tree = _parse(text, label)
    except SyntaxError as exc:
        raise SubmissionError(_syntax_message(exc, label)) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SubmissionError(f"{label}: cannot be parsed ({type(exc).__name__})") from None
    return Submission(
        name=path.stem,
        path=path,
        kind="py",
        cells=(Cell(0, text, label),),
        notebook=None,
        forbidden=tuple(scan_forbidden(tree)),
    )


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _lone_surrogate(text: str) -> int | None:
    """Index of the first lone UTF-16 surrogate (JSON's "\\ud800") in ``text``, or None."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as exc:
        return exc.start


def _shape_problem(data: Any) -> str | None:
    """What is wrong with the *shape* of a notebook's JSON, in words, or None.

    nbformat's own errors on JSON of the wrong shape are Python's (``TypeError: 'int'
    object is not iterable``); this names the key and the cell instead.  The full
    schema is still checked by nbformat afterwards.
    """
    if not isinstance(data, dict):
        return f"the file holds {_json_kind(data)}, expected a JSON object with 'cells'"
    version = data.get("nbformat")
    if "nbformat" not in data:
        return "no 'nbformat' key (the notebook format version, 4 for Jupyter notebooks)"
    if isinstance(version, bool) or not isinstance(version, int):
        return f"'nbformat' is {_json_kind(version)}, expected the format version 4"
    if version not in (3, 4):
        return f"notebook format {version} is not supported (expected 4)"
    if not isinstance(data.get("metadata", {}), dict):
        return f"the notebook's 'metadata' is {_json_kind(data['metadata'])}, expected an object"
    if version == 3:
        sheets = data.get("worksheets")
        if not isinstance(sheets, list) or not all(isinstance(w, dict) for w in sheets):
            return f"'worksheets' is {_json_kind(sheets)}, expected a list of objects (format 3)"
        cells = [c for w in sheets for c in (w.get("cells") if isinstance(w.get("cells"), list) else [None])]
        where = "worksheet cell"
    else:
        if "cells" not in data:
            return "no 'cells' key (the list of the notebook's cells)"
        cells = data["cells"]
        if not isinstance(cells, list):
            return f"'cells' is {_json_kind(cells)}, expected a list of cells"
        where = "cell"
    for i, cell in enumerate(cells, 1):
        label = f"{where} {i} (counting every cell from 1)"
        if not isinstance(cell, dict):
            return f"{label} is {_json_kind(cell)}, expected an object"
        kind = cell.get("cell_type")
        if kind not in ("code", "markdown", "raw", "heading"):
            shown = repr(kind[:40]) if isinstance(kind, str) else _json_kind(kind)
            return f"{label} has cell_type {shown}, expected 'code', 'markdown' or 'raw'"
        key = "input" if version == 3 and kind == "code" else "source"
        src = cell.get(key, "")
        if not (isinstance(src, str) or (isinstance(src, list) and all(isinstance(x, str) for x in src))):
            return f"{label}: '{key}' is {_json_kind(src)}" + \
                (" holding something other than text" if isinstance(src, list) else "") + \
                ", expected text or a list of lines"
        text = src if isinstance(src, str) else "".join(src)
        bad = _lone_surrogate(text)
        if bad is not None:
            return (f"{label}: its text holds an invalid character at position {bad + 1} (a lone "
                    "surrogate, which no text file can store); delete it and save again")
        if not isinstance(cell.get("metadata", {}), dict):
            return f"{label}: 'metadata' is {_json_kind(cell['metadata'])}, expected an object"
        if kind == "code" and not isinstance(cell.get("outputs", []), list):
            return f"{label}: 'outputs' is {_json_kind(cell['outputs'])}, expected a list"
    return None


def _load_ipynb(path: Path) -> Submission:
    text = _read_text(path, MAX_NOTEBOOK_BYTES)
    try:
        problem = _shape_problem(json.loads(text))
    except ValueError:
        raise SubmissionError(f"{path.name}: malformed notebook: not valid JSON") from None
    except RecursionError:
        raise SubmissionError(f"{path.name}: malformed notebook: its JSON is nested too deeply to read "
                              "(thousands of levels)") from None
    if problem:
        raise SubmissionError(f"{path.name}: malformed notebook: {_one_line(problem)}")
    import nbformat  # heavy-ish (jsonschema): only for notebooks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # reader.reads + convert: like nbformat.reads, without logging validation errors
            nb = nbformat.convert(nbformat.reader.reads(text), 4)
        except nbformat.reader.NotJSONError:
            raise SubmissionError(f"{path.name}: malformed notebook: not valid JSON") from None
        except Exception as exc:  # nbformat raises assorted errors on JSON of the wrong shape
            raise SubmissionError(
                f"{path.name}: malformed notebook: {_one_line(f'{type(exc).__name__}: {exc}')}"
            ) from None
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as exc:
            where = "/".join(str(p) for p in getattr(exc, "absolute_path", ()) or ())
            where = f" (at {where})" if where else ""
            message = getattr(exc, "message", None) or str(exc).splitlines()[0]
            raise SubmissionError(
                f"{path.name}: malformed notebook: nbformat says {_one_line(message)}{where}"
            ) from None
        except Exception as exc:
            raise SubmissionError(
                f"{path.name}: malformed notebook: {_one_line(f'{type(exc).__name__}: {exc}')}"
            ) from None

    cells: list[Cell] = []
    forbidden: list[tuple[str, str]] = []
    code = [c for c in nb.cells if c.get("cell_type") == "code"]
    code_bytes = sum(len(str(c.get("source", "")).encode("utf-8", "surrogatepass")) for c in code)
    if code_bytes > MAX_CODE_BYTES:
        raise _too_big(f"{path.name}: the code in the notebook", code_bytes, MAX_CODE_BYTES)
    for index, raw in enumerate(code):
        label = f"cell {index + 1}"
        source = strip_magics(str(raw.get("source", "")))
        error = ""
        try:
            tree = _parse(source, label)
        except SyntaxError as exc:
            error = _syntax_message(exc, label) + "; the cell was skipped"
        except (ValueError, RecursionError, MemoryError) as exc:
            error = f"{label} cannot be parsed ({type(exc).__name__}); the cell was skipped"
        else:
            for item in scan_forbidden(tree):
                if item not in forbidden:
                    forbidden.append(item)
        cells.append(Cell(index, source, label, error))
    if not any(c.source.strip() for c in cells):
        raise SubmissionError(f"{path.name}: the notebook has no code cells (or only empty ones)")
    return Submission(
        name=path.stem,
        path=path,
        kind="ipynb",
        cells=tuple(cells),
        notebook=nb,
        forbidden=tuple(forbidden),
    )


def load_submission(path: str | Path) -> Submission:
    """Read and check one submission file; raises :class:`SubmissionError` with a one-line reason."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file")
    if path.is_dir():
        raise SubmissionError(f"{path}: is a directory, expected a .py file or a .ipynb notebook")
    suffix = path.suffix.lower()
    if suffix == ".py":
        return _load_py(path)
    if suffix == ".ipynb":
        return _load_ipynb(path)
    shown = f"'{path.suffix}'" if path.suffix else "no extension"
    raise SubmissionError(
        f"{path.name}: unsupported file type ({shown}); expected a .py file or a .ipynb notebook"
    )


def _walk(directory: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
            continue
        if entry.is_dir():
            found.extend(_walk(entry))
        elif entry.is_file() and entry.suffix.lower() in EXTENSIONS:
            found.append(entry)
    return found


def collect_submissions(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand the given paths into submission files, and list the paths that are not usable.

    A directory contributes its ``.py`` and ``.ipynb`` files, sorted, recursing
    into sub-directories except hidden ones (``.git``, ``.ipynb_checkpoints``)
    and ``__pycache__``; hidden files are skipped.  A file given explicitly is
    kept if its extension is supported (its content is checked later by
    :func:`load_submission`).  Returns ``(files, bad)`` with ``bad`` a list of
    ``(path, reason)``; duplicates are dropped.
    """
    files: list[Path] = []
    bad: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            files.append(p)

    for raw in paths:
        path = Path(raw)
        if not path.exists():
            bad.append((path, "no such file or directory"))
        elif path.is_dir():
            inside = _walk(path)
            if not inside:
                bad.append((path, "the directory contains no .py or .ipynb files"))
            for p in inside:
                add(p)
        elif path.suffix.lower() in EXTENSIONS:
            add(path)
        else:
            shown = f"'{path.suffix}'" if path.suffix else "no extension"
            bad.append(
                (path, f"unsupported file type ({shown}); expected a .py file or a .ipynb notebook")
            )
    return files, bad
