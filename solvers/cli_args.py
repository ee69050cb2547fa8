"""The argparse types for files and directories a command will write, shared by every ``ravine``
command: the grader's (``grader/commands``) and the textbook's (``solvers/commands``).

A bad value is refused when the command line is parsed, before anything runs, with
``ravine COMMAND: argument --X: why`` on one line and exit status 2 (see ``grader.cli``).
It lives in ``solvers`` because the import direction is solvers <- problems <- grader:
the lab commands may not import ``grader``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Callable

__all__ = ["output_file", "output_dir", "probe_writable"]


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """A file the command will write: one of ``suffixes``, in an existing directory, writable.

    Checked at parse time by creating the file if it is missing (and removing it again), so a
    long run does not end in "cannot write" after the work is done.
    """

    def parse(text: str) -> Path:
        path = Path(text)
        if suffixes and path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(
                f"{text}: unsupported file type {path.suffix or '(none)'!r}; use {' or '.join(suffixes)}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: is a directory, expected a file name")
        probe_writable(path)
        return path

    parse.__name__ = "file name"
    return parse


def probe_writable(path: Path) -> None:
    """Raise ArgumentTypeError with the system's reason when ``path`` cannot be written."""
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{path}: cannot write ({exc.strerror or exc})") from None
    if not existed:
        try:
            path.unlink()
        except OSError:
            pass


def output_dir(text: str) -> Path:
    """A directory the command will create or fill: not an existing file; its nearest existing
    ancestor is a directory that can be written."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: exists and is not a directory")
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: {ancestor} is not writable")
    return path
