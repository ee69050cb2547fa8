"""Measure the sandbox: child start-to-done and one submission's full run.

    python benchmarks/bench_sandbox.py [--repeats 20]

Prints median / p90 wall-clock seconds of ``run_submission`` for
  * a trivial plan (a one-line submission, no tasks): the floor cost of one child;
  * the correct .py and .ipynb fixtures with a plan of 24 tasks like the checks use
    (3 trajectory functions x 6 settings incl. d=1000 and float32, 3 numeric x 2);
  * the notebook with magics and a matplotlib plot;
and the peak RSS of any child.  Numbers go in docs/notes-sandbox.md.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.sandbox import Limits, Task, run_submission  # noqa: E402
from grader.submission import load_submission  # noqa: E402

HOSTILE = ROOT / "tests" / "fixtures" / "hostile"


def plan() -> list[Task]:
    tasks = []
    settings = [
        ({"kind": "ravine"}, [1.0, 1.0], 0.015, 0.9, 50, "float64"),
        ({"kind": "isotropic", "d": 3}, [1.0, -2.0, 0.5], 0.1, 0.5, 30, "float64"),
        ({"kind": "quad1d", "a": 2.0}, [3.0], 0.2, 0.8, 40, "float64"),
        ({"kind": "rosenbrock"}, [-1.2, 1.0], 1e-4, 0.9, 100, "float64"),
        ({"kind": "spectral", "d": 1000, "seed": 3, "lam_min": 0.1, "lam_max": 10.0},
         [1.0] * 1000, 0.05, 0.9, 50, "float64"),
        ({"kind": "ravine"}, [1.0, 1.0], 0.015, 0.9, 50, "float32"),
    ]
    for function in ("sgd_step", "momentum_step", "nesterov_step"):
        for i, (obj, x0, lr, beta, steps, dtype) in enumerate(settings):
            tasks.append(Task(f"{function}-{i}", function, "trajectory",
                              {"objective": obj, "x0": x0, "lr": lr, "beta": beta,
                               "steps": steps, "dtype": dtype}))
    for i, m in enumerate(([[100.0, 0.0], [0.0, 1.0]], [[2.0, 1.0], [1.0, 3.0]])):
        tasks.append(Task(f"lsl-{i}", "largest_stable_lr", "call", {"args": [{"matrix": m}]}))
        tasks.append(Task(f"cls-{i}", "classify_critical_point", "call", {"args": [{"matrix": m}]}))
    tasks.append(Task("eff-0", "effective_lr", "call", {"args": [0.1, 0.9]}))
    tasks.append(Task("eff-1", "effective_lr", "call", {"args": [0.01, 0.5]}))
    return tasks


def measure(label: str, path: Path, tasks: list[Task], repeats: int) -> None:
    sub = load_submission(path)
    run_submission(sub, tasks, Limits())  # warm-up (page cache, font cache template)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        report = run_submission(sub, tasks, Limits())
        times.append(time.perf_counter() - t0)
        bad = {k: o.status for k, o in report.outcomes.items() if o.status != "ok"}
        assert not bad, bad
    times.sort()
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    print(f"{label:<44} median {statistics.median(times):.3f} s   p90 {p90:.3f} s   "
          f"(n={repeats}, {len(tasks)} tasks)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trivial = Path(tmp) / "trivial.py"
        trivial.write_text("x = 1\n")
        nb_dir = Path(tmp)
        import importlib.util

        spec = importlib.util.spec_from_file_location("mk", HOSTILE / "make_notebooks.py")
        mk = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mk)
        nbs = mk.write_all(nb_dir)
        measure("trivial submission, no tasks (child floor)", trivial, [], args.repeats)
        measure("correct.py, full plan", HOSTILE / "correct.py", plan(), args.repeats)
        measure("correct.ipynb, full plan", nbs["correct.ipynb"], plan(), args.repeats)
        measure("magics.ipynb (matplotlib), full plan", nbs["magics.ipynb"], plan(), args.repeats)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak RSS of a child: {peak / 1024:.0f} MiB; "
          f"parent: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
