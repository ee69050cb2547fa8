"""Wall-clock timings of the lab's commands, end to end (a fresh Python process each run).

    python benchmarks/bench_lab.py [--repeat 3]

Runs ``ravine <command>`` through ``grader.cli.main`` of this checkout (with the
command modules that exist here), so imports and file writing are included.
Prints min / median seconds per command.  Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUNNER = (
    "import importlib.util, sys; from grader import cli; "
    "cli.COMMANDS = {k: v for k, v in cli.COMMANDS.items() if importlib.util.find_spec(v) is not None}; "
    "sys.exit(cli.main(sys.argv[1:]))"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        curve = t / "curve.csv"
        sys.path.insert(0, str(ROOT))
        from solvers.lab.curves import symptom_curves

        c = next(c for c in symptom_curves() if c.name == "oscillation-sgd-rosenbrock")
        curve.write_text("loss\n" + "\n".join(repr(float(v)) for v in c.loss) + "\n")
        cases = {
            "reproduce momentum-table (5 seeds x 2 optimizers, 10 epochs)": ["reproduce", "momentum-table"],
            "reproduce beta-table": ["reproduce", "beta-table"],
            "reproduce p6 (table + png)": ["reproduce", "p6", "--out", str(t / "p6.png")],
            "race ravine -> png (150 steps)": ["race", "--out", str(t / "r.png")],
            "race ravine -> gif (150 steps, 50 frames)": ["race", "--out", str(t / "r.gif")],
            "race rosenbrock -> gif (1000 steps, 50 frames)": ["race", "--objective", "rosenbrock", "--out", str(t / "ro.gif")],
            "doctor (3001-point curve)": ["doctor", str(curve)],
            "python -c 'import grader.cli' (baseline)": None,
        }
        print(f"{'command':62s} {'min s':>7s} {'median s':>9s}")
        for label, argv in cases.items():
            times = []
            for _ in range(args.repeat):
                cmd = [sys.executable, "-c", "import grader.cli"] if argv is None else [sys.executable, "-c", RUNNER, *argv]
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
                times.append(time.perf_counter() - t0)
                if proc.returncode not in (0, 1):
                    print(f"{label}: exit {proc.returncode}\n{proc.stderr}", file=sys.stderr)
                    return 1
            print(f"{label:62s} {min(times):7.2f} {statistics.median(times):9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
