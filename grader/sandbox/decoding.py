"""Strict decoding of what a child sends on its channel (the grader side).

Anything that is not exactly what the protocol allows raises :class:`_Interference`: the
supervisor then stops reading and reports interference.  JSON must hold finite numbers only,
strings are scrubbed to valid Unicode, trajectories arrive as base64 float64 matrices of a known
shape."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import numpy as np


class _Interference(Exception):
    pass


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("non-finite float")
    return value


def _require(cond: bool) -> None:
    if not cond:
        raise _Interference()


def _matrix(value: Any, rows: int, cols: int) -> np.ndarray:
    """Decode base64 little-endian float64 bytes into a finite (rows, cols) array, strictly."""
    _require(isinstance(value, str) and len(value) == 4 * ((rows * cols * 8 + 2) // 3))
    try:
        data = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _Interference() from None
    _require(len(data) == rows * cols * 8)
    arr = np.frombuffer(data, dtype="<f8").astype(np.float64).reshape(rows, cols)
    _require(bool(np.all(np.isfinite(arr))))
    return arr


def _scrub(value: Any) -> Any:
    """Strings as valid Unicode: JSON's "\\ud800" escapes decode to lone surrogates, which no
    UTF-8 file or terminal accepts; each becomes '?'.  Containers are scrubbed one level deep
    (the protocol's messages are flat, a value is at most a dict of strings)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {k: _scrub(v) if isinstance(v, (str, dict)) else v for k, v in value.items()}
    return value
