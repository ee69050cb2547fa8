"""``ravine export canvas``: a grading directory's totals into a Canvas gradebook CSV.

With ``--template`` (the instructor's own export of the Canvas gradebook) one
assignment column is filled and every other cell and row is written back as it
was: the header, the optional "Muted"/"Manual Posting" row, the
``Points Possible`` row and every student row, matched or not.  Students are
matched by the roster's ``id`` (to Canvas's ``SIS User ID``, ``SIS Login ID``
or a login/e-mail column) or ``email`` (to the login/e-mail columns), compared
without case and, for all-digit ids, without leading zeros.  Without a
template the minimal file Canvas imports is written: ``Student, ID, SIS User
ID, SIS Login ID, Section`` and the assignment, with a ``Points Possible`` row.

The format is summarised in ``../shared/formats/canvas/GRADEBOOK_CSV.md``
(Canvas's importer: header columns 1 and 2 contain ``Student`` and ``ID``;
rows whose first cell contains ``Points Possible`` are not students; an
assignment column is titled ``Title (id)`` or, for a new one, ``Title``).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .input_files import read_input

HELP = "fill one assignment column of a Canvas gradebook CSV (or write Canvas's minimal import file)"

__all__ = ["HELP", "add_arguments", "run", "CanvasError", "Template", "read_template", "fill_template",
           "minimal_csv", "ExportReport"]

# Canvas's identity columns (GRADEBOOK_CSV.md, "Reserved (identity) column names").
_IDENTITY = {"student", "lastname", "firstname", "id", "sis user id", "sis login id", "section",
             "integration id", "root account"}
# Columns holding a login or an e-mail address that the roster's e-mail may match.
_LOGIN_COLUMNS = ("sis login id", "login id", "login", "email", "e-mail", "email address")
_ID_COLUMNS = ("sis user id", "sis login id", "login id", "login")
_MUTED = re.compile(r"^\s*(muted|manual posting.*)?\s*$", re.I)
_TITLE_ID = re.compile(r"\A(.*)\s\((\d+)\)\Z", re.S)


class CanvasError(ValueError):
    """The template or the inputs cannot be used; the message is one line naming the file."""


@dataclass
class Template:
    rows: list[list[str]]
    delimiter: str = ","
    newline: str = "\r\n"
    bom: bool = False

    @property
    def header(self) -> list[str]:
        return self.rows[0]


@dataclass
class ExportReport:
    filled: int = 0
    unmatched_results: list[str] = field(default_factory=list)  # "<submission> (id ...)": no Canvas row
    unmatched_canvas: list[str] = field(default_factory=list)  # Canvas students without a result
    conflicts: list[str] = field(default_factory=list)  # ambiguous or doubled matches, left unchanged
    notes: list[str] = field(default_factory=list)
    column: str = ""


def _norm(value: str) -> str:
    v = value.strip().casefold()
    return v.lstrip("0") or "0" if v.isdigit() else v


def read_template(path: Path) -> Template:
    """Parse a Canvas gradebook export; CanvasError with a one-line reason when it is not one."""
    raw = read_input(path, CanvasError, noun="template", expected="the gradebook CSV exported from Canvas")
    if b"\x00" in raw:
        raise CanvasError(f"{path}: binary file, expected the gradebook CSV exported from Canvas")
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CanvasError(f"{path}: not UTF-8 text (undecodable byte at offset {exc.start}); "
                          "export the gradebook from Canvas again") from None
    if not text.strip():
        raise CanvasError(f"{path}: empty file, expected the gradebook CSV exported from Canvas")
    newline = "\r\n" if "\r\n" in text else "\n"
    # Canvas writes ';' for locales with a decimal comma: the separator that splits the header
    # into more fields wins, as in Canvas's importer.
    first = text.splitlines()[0]
    delimiter = ";" if len(next(csv.reader([first], delimiter=";"))) > \
        len(next(csv.reader([first], delimiter=","))) else ","
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise CanvasError(f"{path}: not a readable CSV ({exc})") from None
    header = rows[0]
    if len(header) <= 3 or "student" not in header[0].casefold() and \
            header[0].strip().casefold() != "lastname" or "id" not in header[1].casefold():
        raise CanvasError(f"{path}: not a Canvas gradebook export: the header must start with "
                          f"'Student,ID,...' (got {','.join(h[:20] for h in header[:3])!r})")
    if not any(h.strip().casefold() == "section" for h in header):
        raise CanvasError(f"{path}: not a Canvas gradebook export: the header has no 'Section' column")
    return Template(rows, delimiter, newline, bom)


def _is_student_row(row: Sequence[str]) -> bool:
    if not any(c.strip() for c in row):
        return False
    if row and "points possible" in row[0].casefold():
        return False
    if all(_MUTED.match(c) for c in row):  # the "Muted" / "Manual Posting" row
        return False
    return True


def _find_column(header: Sequence[str], assignment: str, source: str) -> int | None:
    """The index of the assignment's column: ``NAME`` exactly, or ``NAME (id)``; None if absent."""
    want = assignment.strip()
    hits = []
    for i, h in enumerate(header):
        h = h.strip()
        if h.casefold() in _IDENTITY:
            continue
        m = _TITLE_ID.match(h)
        if h == want or (m and m.group(1).strip() == want):
            hits.append(i)
    if len(hits) > 1:
        raise CanvasError(f"{source}: {len(hits)} columns are titled {want!r} "
                          f"({', '.join(header[i] for i in hits)}): give the one with its id, e.g. "
                          f"--assignment {header[hits[0]]!r}")
    return hits[0] if hits else None


@dataclass(frozen=True)
class Result:
    """One graded submission: its folder name, the roster student it belongs to, its points."""

    submission: str
    score: float
    max_score: float
    student_id: str | None = None
    email: str = ""
    name: str = ""
    pending: int = 0  # tests still to be graded by the instructor (free text)


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def _cell(text: str) -> str:
    # Text we write (roster names) must not become a spreadsheet formula (OWASP CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def fill_template(tpl: Template, results: Sequence[Result], assignment: str, *,
                  source: str = "template") -> tuple[Template, ExportReport]:
    """Fill the assignment's column (adding it if the template lacks it); every row is kept."""
    rep = ExportReport()
    rows = [list(r) for r in tpl.rows]
    header = rows[0]
    col = _find_column(header, assignment, source)
    max_score = max((r.max_score for r in results), default=0.0)
    if col is None:
        col = len(header)
        for row in rows[1:]:  # every row keeps the header's width: an empty cell in the new column
            if len(row) == col:
                row.append("")
        header.append(assignment.strip())
        rep.notes.append(f"column {assignment.strip()!r} is not in the template: added (Canvas creates "
                         "a new assignment for it on import)")
    rep.column = header[col]
    for row in rows[1:]:
        if row and "points possible" in row[0].casefold():
            while len(row) <= col:
                row.append("")
            if not row[col].strip():
                row[col] = _fmt(max_score)
            else:
                try:
                    pp = float(row[col].replace(",", "."))
                except ValueError:
                    pp = None
                if pp is not None and abs(pp - max_score) > 0.005:
                    rep.notes.append(f"Canvas's points possible for {header[col]!r} is {row[col]}, ravine's "
                                     f"maximum is {max_score:g}: raw points were written, not rescaled")
    lower = [h.strip().casefold() for h in header]
    id_cols = [i for i, h in enumerate(lower) if h in _ID_COLUMNS]
    login_cols = [i for i, h in enumerate(lower) if h in _LOGIN_COLUMNS]
    if not id_cols and not login_cols:
        raise CanvasError(f"{source}: the header has no 'SIS User ID' or 'SIS Login ID' column to match "
                          "students by: export the gradebook with SIS ids")
    student_rows = [i for i in range(1, len(rows)) if _is_student_row(rows[i])]
    by_key: dict[tuple[str, str], set[int]] = {}
    for i in student_rows:
        row = rows[i]
        for c in id_cols:
            if c < len(row) and row[c].strip():
                by_key.setdefault(("id", _norm(row[c])), set()).add(i)
        for c in login_cols:
            if c < len(row) and row[c].strip():
                by_key.setdefault(("login", _norm(row[c])), set()).add(i)
    claims: dict[int, list[Result]] = {}
    for r in results:
        who = f"{r.submission}" + (f" (id {r.student_id})" if r.student_id and r.student_id != r.submission
                                   else "")
        if r.student_id is None:
            rep.unmatched_results.append(f"{r.submission} (not on the roster)")
            continue
        found = set(by_key.get(("id", _norm(r.student_id)), set()))
        found |= by_key.get(("login", _norm(r.student_id)), set())
        if r.email:
            found |= by_key.get(("login", _norm(r.email)), set())
        if not found:
            rep.unmatched_results.append(who)
        elif len(found) > 1:
            rep.conflicts.append(f"{who} matches {len(found)} Canvas rows (lines "
                                 f"{', '.join(str(i + 1) for i in sorted(found))}): left unchanged")
        else:
            claims.setdefault(found.pop(), []).append(r)
    for i in student_rows:
        row = rows[i]
        got = claims.get(i)
        if not got:
            rep.unmatched_canvas.append(f"line {i + 1}: {row[0].strip() or '(no name)'}"
                                        + (f" ({', '.join(row[c] for c in id_cols if c < len(row) and row[c])})"
                                           if any(c < len(row) and row[c] for c in id_cols) else ""))
            continue
        if len(got) > 1:
            rep.conflicts.append(f"line {i + 1} ({row[0].strip()}) is matched by "
                                 f"{', '.join(r.submission for r in got)}: left unchanged")
            continue
        while len(row) <= col:
            row.append("")
        row[col] = _fmt(got[0].score)
        rep.filled += 1
    return Template(rows, tpl.delimiter, tpl.newline, tpl.bom), rep


def minimal_csv(results: Sequence[Result], assignment: str) -> tuple[Template, ExportReport]:
    """Canvas's minimal import file: the roster id as SIS User ID, the e-mail as SIS Login ID."""
    rep = ExportReport(column=assignment.strip())
    max_score = max((r.max_score for r in results), default=0.0)
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment.strip()],
            ["    Points Possible", "", "", "", "", _fmt(max_score)]]
    for r in results:
        if r.student_id is None:
            rep.unmatched_results.append(f"{r.submission} (not on the roster)")
            continue
        rows.append([_cell(r.name), "", _cell(r.student_id), _cell(r.email), "", _fmt(r.score)])
        rep.filled += 1
    return Template(rows, ",", "\r\n", False), rep


def render(tpl: Template) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=tpl.delimiter, lineterminator=tpl.newline)
    w.writerows(tpl.rows)
    return ("\ufeff" if tpl.bom else "") + buf.getvalue()


def load_results_for_canvas(results_dir: Path, roster: Any | None) -> list[Result]:
    """One Result per DIR/<name>/results.json; with a roster, the student is the roster id equal
    to the folder name or its part before ``_``/``-``/``.`` (as ``ravine grade`` matches files)."""
    from .engine import AnswerKey
    from .report import load_results

    if not results_dir.is_dir():
        raise CanvasError(f"{results_dir}: no such directory (give the --out directory of `ravine grade`)")
    data = load_results(results_dir)
    if not data:
        raise CanvasError(f"{results_dir}: no */results.json (give the --out directory of `ravine grade`)")
    students = {s.id: s for s in roster} if roster else {}
    key = AnswerKey(frozenset(students)) if roster else None
    out = []
    for d in data:
        name = d["extra_data"]["submission"]
        try:
            score = float(d["score"])
            max_score = float(d.get("extra_data", {}).get("max_score") or
                              sum(float(t["max_score"]) for t in d.get("tests", [])))
        except (TypeError, ValueError, KeyError):
            raise CanvasError(f"{results_dir / name / 'results.json'}: unreadable score") from None
        pending = sum(1 for t in d.get("tests", []) if t.get("status") == "pending")
        if key is None:
            out.append(Result(name, score, max_score, name, pending=pending))
            continue
        sid = key.student_for(name)
        st = students.get(sid) if sid else None
        out.append(Result(name, score, max_score, sid, st.email if st else "", st.name if st else "",
                          pending))
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", metavar="RESULTS_DIR", help="the --out directory of `ravine grade`")
    p.add_argument("--assignment", required=True, metavar="NAME",
                   help="the Canvas column to fill: its title ('Homework 3') or title with id "
                        "('Homework 3 (12345)'); a title the template lacks is added as a new column")
    p.add_argument("--out", required=True, metavar="FILE", help="the CSV to write (import it in Canvas)")
    p.add_argument("--template", metavar="CSV",
                   help="your gradebook exported from Canvas; every row and column is kept. Without it "
                        "the minimal import file is written (roster id as SIS User ID)")
    p.add_argument("--roster", metavar="CSV",
                   help="the course roster (id, name, email): submissions are matched to roster ids as "
                        "`ravine grade` does, then to Canvas by id or e-mail. Without it the "
                        "submission name is the id")


def run(args: argparse.Namespace) -> int:
    from .assign import RosterError, load_roster
    from .report import atomic_write

    prog = "ravine export canvas"
    if not args.assignment.strip() or any(c in args.assignment for c in "\r\n"):
        print(f"{prog}: --assignment must be a non-empty one-line title", file=sys.stderr)
        return 2
    try:
        roster = load_roster(args.roster) if args.roster else None
        results = load_results_for_canvas(Path(args.results), roster)
        if args.template:
            tpl, rep = fill_template(read_template(Path(args.template)), results, args.assignment,
                                     source=args.template)
        else:
            tpl, rep = minimal_csv(results, args.assignment)
    except (CanvasError, RosterError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.is_dir():
        print(f"{prog}: {out}: is a directory, expected a file name", file=sys.stderr)
        return 2
    try:
        atomic_write(out, render(tpl))
    except OSError as exc:
        print(f"{prog}: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for note in rep.notes:
        print(f"note: {note}", file=sys.stderr)
    for c in rep.conflicts:
        print(f"conflict: {c}", file=sys.stderr)
    if rep.unmatched_results:
        print(f"{len(rep.unmatched_results)} result(s) with no Canvas row (not written): "
              + "; ".join(rep.unmatched_results), file=sys.stderr)
    if rep.unmatched_canvas:
        print(f"{len(rep.unmatched_canvas)} Canvas student(s) with no result (cell left as it was): "
              + "; ".join(rep.unmatched_canvas), file=sys.stderr)
    if roster:
        graded = {r.student_id for r in results}
        missing = [s.id for s in roster if s.id not in graded]
        if missing:
            print(f"{len(missing)} roster student(s) with no result: {', '.join(missing)}", file=sys.stderr)
    pending = sum(1 for r in results if r.pending)
    if pending:
        print(f"note: {pending} result(s) have parts pending manual grading; their totals count those "
              "parts as 0", file=sys.stderr)
    print(f"wrote {out}: {rep.filled} score(s) in column {rep.column!r}")
    return 0
