"""Reading an instructor's input file (roster, course secret, Canvas template) with one-line errors."""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_input"]


def read_input(path: str | Path, error: type[Exception], *, noun: str, expected: str) -> bytes:
    """The bytes of ``path``; a missing file, a directory or an unreadable file raises ``error``
    with ``PATH: no such NOUN file`` / ``PATH: is a directory, expected EXPECTED`` /
    ``PATH: cannot read the NOUN: REASON``."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such {noun} file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected {expected}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {noun}: {exc.strerror or exc}") from None
