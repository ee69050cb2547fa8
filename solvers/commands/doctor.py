"""``ravine doctor LOSSES.csv``: recognise the lecture's loss-curve symptoms; print cause and fix.

Input formats (comma- or tab-separated; blank lines and lines starting with
``#`` are skipped; ``nan``/``inf`` are read as values -- they are a symptom):

* one loss per line, no header;
* a CSV with a header row: ``--column NAME`` picks the training loss (default:
  the only column, else a column named ``loss`` or ``train_loss``), and
  ``--val NAME`` optionally a validation-loss column, used for the "drops then
  climbs" (overfitting) symptom.  Without a header, ``--column``/``--val`` may
  be 1-based column numbers.

``--reference REF.csv``: the loss curve of a run known to train well (the
lecture's "Keras example"); "slower than expected" then compares against it.
``FILE`` may be ``-`` for standard input.  Exit status: 0 no symptom,
1 symptom(s) found, 2 bad input (the message names the file, line and value).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

HELP = "read a training-loss curve (one loss per line, or a CSV column) and name the lecture's symptom, cause and fix"

DEFAULT_COLUMNS = ("loss", "train_loss")


class CurveFileError(ValueError):
    """The curve file cannot be read as losses; the message is for the user."""


class Curves(NamedTuple):
    loss: list[float]
    val: list[float] | None
    names: tuple[str, str]


def _number(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def _pick(spec: str | None, header: list[str] | None, ncols: int, source: str, what: str) -> int:
    """Column index for ``spec`` (a header name, or a 1-based number)."""
    if header is not None and spec is not None and spec in header:
        return header.index(spec)
    if spec is not None and spec.isdigit() and 1 <= int(spec) <= ncols:
        return int(spec) - 1
    if spec is not None:
        have = f"columns {', '.join(header)}" if header else f"{ncols} unnamed column(s)"
        raise CurveFileError(f"{source}: no {what} column {spec!r}; the file has {have}")
    raise AssertionError("unreachable")


def read_curves(text: str, *, source: str, column: str | None = None, val: str | None = None) -> Curves:
    """Parse the curve file's text (see the module docstring); raises CurveFileError."""
    rows: list[tuple[int, list[str]]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        sep = "\t" if "\t" in line else ","
        rows.append((lineno, [t.strip() for t in line.split(sep)]))
    if not rows:
        raise CurveFileError(f"{source}: no loss values (the file is empty)")
    first_line, first = rows[0]
    header: list[str] | None = None
    if any(_number(t) is None for t in first):
        header = first
        rows = rows[1:]
        if len(set(header)) != len(header):
            raise CurveFileError(f"{source} line {first_line}: repeated column names in the header {header}")
        if not rows:
            raise CurveFileError(f"{source}: a header ({', '.join(header)}) but no loss values")
    ncols = len(header) if header is not None else len(first)
    if column is None:
        if ncols == 1:
            col = 0
        elif header is not None and any(c in header for c in DEFAULT_COLUMNS):
            col = next(header.index(c) for c in DEFAULT_COLUMNS if c in header)
        else:
            have = f"columns {', '.join(header)}" if header else f"{ncols} columns and no header"
            raise CurveFileError(f"{source}: the file has {have}; choose the loss with --column NAME")
    else:
        col = _pick(column, header, ncols, source, "loss")
    vcol = None if val is None else _pick(val, header, ncols, source, "validation")
    names = (header[col] if header else "loss", (header[vcol] if header and vcol is not None else "validation"))
    loss: list[float] = []
    vals: list[float] = []
    for lineno, tokens in rows:
        if len(tokens) != ncols:
            raise CurveFileError(f"{source} line {lineno}: {len(tokens)} field(s), expected {ncols}")
        for idx, out in ((col, loss), (vcol, vals)):
            if idx is None:
                continue
            v = _number(tokens[idx])
            if v is None:
                where = f", column {header[idx]!r}" if header else (f", column {idx + 1}" if ncols > 1 else "")
                raise CurveFileError(f"{source} line {lineno}{where}: {tokens[idx]!r} is not a number")
            out.append(v)
    return Curves(loss, vals if vcol is not None else None, names)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="LOSSES.csv", help="curve file (one loss per line, or CSV with a header); - = stdin")
    parser.add_argument("--column", default=None, help="training-loss column (header name or 1-based number)")
    parser.add_argument("--val", default=None, help="validation-loss column, for the 'drops then climbs' symptom")
    parser.add_argument("--reference", metavar="REF.csv", default=None,
                        help="loss curve of a run known to train well (e.g. the Keras example): "
                             "'slow' then compares against it")
    parser.add_argument("--reference-column", default=None, help="loss column of REF.csv (default: as for FILE)")
    parser.add_argument("--plateau-steps", type=int, default=100,
                        help="a plateau must last at least this many points (default 100)")
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON")


def _read_text(file: str, source: str) -> str | None:
    """The file's text, or None after printing why it cannot be read."""
    try:
        if file == "-":
            return sys.stdin.read()
        return Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        print(f"ravine doctor: {source}: no such file", file=sys.stderr)
    except IsADirectoryError:
        print(f"ravine doctor: {source}: is a directory, expected a CSV file", file=sys.stderr)
    except UnicodeDecodeError:
        print(f"ravine doctor: {source}: not a text file (not UTF-8)", file=sys.stderr)
    except OSError as exc:
        print(f"ravine doctor: {source}: cannot read: {exc.strerror or exc}", file=sys.stderr)
    return None


def run(args: argparse.Namespace) -> int:
    from solvers.lab.curve_doctor import Thresholds, diagnose

    source = "<stdin>" if args.file == "-" else args.file
    text = _read_text(args.file, source)
    if text is None:
        return 2
    if args.plateau_steps < 2:
        print(f"ravine doctor: --plateau-steps must be >= 2, got {args.plateau_steps}", file=sys.stderr)
        return 2
    try:
        curves = read_curves(text, source=source, column=args.column, val=args.val)
    except CurveFileError as exc:
        print(f"ravine doctor: {exc}", file=sys.stderr)
        return 2
    reference = None
    if args.reference is not None:
        ref_text = _read_text(args.reference, args.reference)
        if ref_text is None:
            return 2
        try:
            reference = read_curves(ref_text, source=args.reference, column=args.reference_column).loss
        except CurveFileError as exc:
            print(f"ravine doctor: {exc}", file=sys.stderr)
            return 2
        bad = [i for i, v in enumerate(reference) if not math.isfinite(v)]
        if len(reference) < 8 or bad:
            print(f"ravine doctor: {args.reference}: the reference needs at least 8 finite losses "
                  f"(got {len(reference)} value(s){', first non-finite at value ' + str(bad[0] + 1) if bad else ''})",
                  file=sys.stderr)
            return 2
    th = replace(Thresholds(), plateau_steps=args.plateau_steps)
    if len(curves.loss) < th.min_points:
        print(f"ravine doctor: {source}: {len(curves.loss)} loss value(s); need at least {th.min_points}",
              file=sys.stderr)
        return 2
    diagnosis = diagnose(curves.loss, val=curves.val, reference=reference, thresholds=th, names=curves.names)
    if args.json:
        d = diagnosis.to_dict()
        d["stats"] = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in diagnosis.stats.items()}
        print(json.dumps({"file": source, **d}, indent=2))
    else:
        print(f"{source}: {diagnosis.render()}")
    return 0 if diagnosis.healthy else 1
