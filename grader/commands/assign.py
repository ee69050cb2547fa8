"""``ravine assign --out DIR [--roster roster.csv] [--secret-file F]``: per-student notebooks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write the assignment notebooks: one per student of a roster, or one generic notebook"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the notebooks")
    parser.add_argument("--roster", metavar="CSV",
                        help="roster CSV with a header 'id' (and optionally 'name', 'email'); "
                             "without it one generic notebook is written")
    parser.add_argument("--secret-file", metavar="F",
                        help="file holding the course secret (needed with --roster); the secret "
                             "never appears in any notebook")


def run(args: argparse.Namespace) -> int:
    from grader.assign import RosterError, assign, load_roster, read_secret

    out = Path(args.out)
    try:
        students = None
        secret = None
        if args.roster:
            students = load_roster(args.roster)
            if not args.secret_file:
                raise RosterError("--roster needs --secret-file (the course secret that derives "
                                  "each student's numbers)")
            secret = read_secret(args.secret_file)
        elif args.secret_file:
            print("ravine assign: --secret-file without --roster: writing the generic notebook, which "
                  "uses no secret (give --roster for per-student numbers)", file=sys.stderr)
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out}: exists and is not a directory")
        paths = assign(out, students, secret)
    except (RosterError, ValueError) as exc:
        print(f"ravine assign: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"ravine assign: cannot write to {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    what = "generic notebook" if students is None else f"notebook{'s' if len(paths) != 1 else ''}"
    print(f"wrote {len(paths)} {what} to {out}")
    return 0
