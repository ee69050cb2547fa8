"""Grade N copies of the bundled examples and report seconds per submission and peak memory.

    python benchmarks/bench_grade.py --copies 10 --jobs 1 2 --isolation namespaces uid process

Two sets: the well-behaved examples (every function returns), and all examples
(including frank_hangs.py, whose hanging function costs its full timeout), for each
isolation mode asked for (modes this machine cannot provide are reported and skipped).
Timings are wall-clock on whatever else the machine is doing: compare the
numbers of one run with each other, not across machines.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.batch import grade_batch  # noqa: E402
from grader.engine import build_checks, grade_submission  # noqa: E402
from grader.sandbox import IsolationError, Limits, resolve  # noqa: E402
from grader.submission import collect_submissions  # noqa: E402

EXAMPLES = ROOT / "examples" / "submissions"
WELL_BEHAVED = ["alice_correct.py", "bob_polyak.py", "carol_notebook.ipynb", "dave_mistakes.py",
                "erin_torch_nesterov.py"]


def copies(tmp: Path, names: list[str], n: int) -> list[Path]:
    out = []
    for i in range(n):
        for name in names:
            src = EXAMPLES / name
            dst = tmp / f"{src.stem}_{i:03d}{src.suffix}"
            shutil.copy(src, dst)
            out.append(dst)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=6)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--timeout", type=float, default=Limits().function_timeout)
    ap.add_argument("--isolation", nargs="+", default=["auto"],
                    choices=["auto", "namespaces", "uid", "process"])
    ap.add_argument("--well-behaved-only", action="store_true", help="skip the set with a hang and a crash")
    args = ap.parse_args()
    for mode in args.isolation:
        try:
            iso = resolve(mode)
        except IsolationError as exc:
            print(f"== isolation {mode}: skipped ({exc})")
            continue
        print(f"== isolation {mode} -> {iso.mode} (bwrap {iso.bwrap_version or 'none'})")
        run(args, Limits(function_timeout=args.timeout, isolation=mode))


def run(args: argparse.Namespace, limits: Limits) -> None:
    # one submission, all checks (public + hidden), one job: the latency a student or Gradescope sees
    checks = build_checks(seed=1)
    for c in checks:
        c.prepare()
    per = []
    for name in WELL_BEHAVED:
        for _ in range(3):
            t = time.perf_counter()
            grade_submission(EXAMPLES / name, checks, limits=limits)
            per.append(time.perf_counter() - t)
    print(f"single submission, all {len(checks)} checks, 1 job: median {statistics.median(per):.3f} s, "
          f"max {max(per):.3f} s over {len(per)} runs")

    sets = [("well-behaved examples", WELL_BEHAVED)]
    if not args.well_behaved_only:
        sets.append(("all examples (incl. a hang and a crash)", sorted(p.name for p in EXAMPLES.iterdir())))
    for label, names in sets:
        for jobs in args.jobs:
            with tempfile.TemporaryDirectory() as tmp:
                src = Path(tmp) / "subs"
                src.mkdir()
                paths = copies(src, names, args.copies)
                good, bad = collect_submissions([src])
                t = time.perf_counter()
                batch = grade_batch(good, Path(tmp) / "out", seed=1, jobs=jobs, limits=limits, rejected=bad,
                                    progress=lambda m: None)
                wall = time.perf_counter() - t
                secs = [r.seconds for r in batch.results]
                print(f"{label}: {len(paths)} submissions, jobs={jobs}: wall {wall:.2f} s, "
                      f"{wall / len(paths):.3f} s/submission, median per-submission latency "
                      f"{statistics.median(secs):.3f} s")
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: grader process {me:.0f} MiB, largest student process {kids:.0f} MiB")


if __name__ == "__main__":
    main()
