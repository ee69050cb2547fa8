"""Batch hardening through the real CLI: long Unicode names, duplicate roster ids, timing, budgets."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "submissions"


def ravine(*args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, **kw)


def gradebook(out: Path) -> list[dict[str, str]]:
    with open(out / "gradebook.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_long_multibyte_names_get_folders_capped_in_bytes(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    # 80 CJK characters are 240 bytes (+ ".py" = 243, just under the 255-byte limit of a file name);
    # 120 "é" are 240 bytes.  Character-capped folder names (100 characters = 300 bytes) crashed.
    names = ["学" * 80, "学" * 80 + "x", "é" * 120]
    shutil.copy(EXAMPLES / "alice_correct.py", subs / f"{names[0]}.py")
    shutil.copy(EXAMPLES / "dave_mistakes.py", subs / f"{names[1]}.py")
    shutil.copy(EXAMPLES / "alice_correct.py", subs / f"{names[2]}.py")
    out = tmp_path / "out"
    proc = ravine("grade", str(subs), "--out", str(out), "--seed", "3", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 3
    assert all(len(f.encode()) <= 104 for f in folders), folders
    for f in folders:
        assert json.loads((out / f / "results.json").read_text(encoding="utf-8"))["score"] in (51, 23)
    rows = gradebook(out)
    assert sorted(float(r["total"]) for r in rows) == [23.0, 51.0, 51.0]
    assert {r["submission"] for r in rows} == set(folders)
