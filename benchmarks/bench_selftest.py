"""Time `ravine selftest` (the CLI, a fresh interpreter each run) and `ravine export prairielearn`.

    python benchmarks/bench_selftest.py [--variants 50] [--repeat 3]

Reports the wall time of each run (median over the repeats) and the per-section
split the command prints.  Never asserted in tests.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(*args: str) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"ravine {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return wall, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    walls, split = [], ""
    for _ in range(args.repeat):
        wall, out = timed("selftest", "--variants", str(args.variants))
        walls.append(wall)
        split = out.splitlines()[0]
        counts = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    print(f"selftest --variants {args.variants}: median {statistics.median(walls):.1f} s wall "
          f"(runs: {', '.join(f'{w:.1f}' for w in walls)})")
    print(f"  last run: {re.sub(r'^ravine selftest: ', '', split)}")
    print("  " + "; ".join(counts))
    with tempfile.TemporaryDirectory() as tmp:
        walls = [timed("export", "prairielearn", "--out", f"{tmp}/pl{i}", "--variants", "20", "--seed", "1")[0]
                 for i in range(args.repeat)]
        size = sum(p.stat().st_size for p in Path(f"{tmp}/pl0/questions").rglob("*") if p.is_file())
    print(f"export prairielearn --variants 20: median {statistics.median(walls):.1f} s wall, "
          f"questions {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
