"""Time verifying every derivation from a cold start (fresh interpreter, SymPy import included).

    python benchmarks/bench_derivations.py [--repeat N] [--no-simulate]

Each repeat runs a new ``python -c`` subprocess that imports ``solvers.derive``
and verifies all derivations (steps and, by default, simulations); the wall
time of the subprocess is reported, plus the in-process per-derivation split
of the last run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import solvers.derive as D
t_import = time.perf_counter() - t0
simulate = sys.argv[1] == "1"
per = {}
steps = 0
for name in D.names():
    r = D.verify(name, simulate=simulate)
    per[name] = round(r.seconds, 3)
    steps += len(r.steps)
print(json.dumps({"import": round(t_import, 3), "total_in_process": round(time.perf_counter() - t0, 3),
                  "per": per, "steps": steps}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-simulate", action="store_true")
    args = parser.parse_args()
    walls = []
    cpus = []
    last = {}
    for _ in range(args.repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, "0" if args.no_simulate else "1"], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        last = json.loads(proc.stdout)
    print(f"all {len(last['per'])} derivations ({last['steps']} steps) verified from a cold start, "
          f"simulations {'off' if args.no_simulate else 'on'}:")
    print(f"  wall time per run: min {min(walls):.2f} s, median {statistics.median(walls):.2f} s "
          f"over {args.repeat} runs (includes interpreter start and `import sympy`)")
    print(f"  CPU time per run (user+sys): min {min(cpus):.2f} s, median {statistics.median(cpus):.2f} s; "
          f"load average at the end {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"  last run: import solvers.derive {last['import']:.2f} s, in-process total {last['total_in_process']:.2f} s")
    for name, sec in sorted(last["per"].items(), key=lambda kv: -kv[1]):
        print(f"    {name:<20} {sec:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
