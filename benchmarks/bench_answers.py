"""Speed of the answer side of grading: parsing, equivalence, derivations, whole notebooks.

Run from the repository root::

    python benchmarks/bench_answers.py [--notebooks N]

Reports medians in milliseconds and the peak resident memory of this process
(the SymPy worker is a separate process; its start-up is reported on its own).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def median_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notebooks", type=int, default=10)
    args = ap.parse_args()

    t0 = time.perf_counter()
    import nbformat

    import problems
    from grader import equivalence
    from grader.answer_grading import grade_answers
    from grader.assign import Student, build_notebook
    from grader.derivcheck import check_derivation, parse_derivation
    from grader.formula import FormulaError, parse
    from problems.variants import draw_params, render, student_seed
    print(f"imports (no sympy): {(time.perf_counter() - t0) * 1000:.0f} ms; "
          f"sympy imported: {'sympy' in sys.modules}")

    table = equivalence.SymbolTable.from_dict(problems.part("P1.b").table_data())
    print(f"parse '2/lambda_max':                 {median_ms(lambda: parse('2/lambda_max', table), 200):.3f} ms")
    latex = r"\left| 1 - \eta \lambda_{\max} \right| < 1"
    print(f"parse LaTeX condition:                {median_ms(lambda: parse(latex, table), 200):.3f} ms")

    def hostile() -> None:
        for text in ("9**9**9**9", "x" * 10_000, "(" * 100 + "1" + ")" * 100, "+".join(["lr"] * 200)):
            try:
                parse(text, table)
            except FormulaError:
                pass
    print(f"reject 4 hostile inputs:              {median_ms(hostile, 50):.3f} ms")

    t0 = time.perf_counter()
    equivalence.compare("2/L", "2/lambda_max", table)
    print(f"first compare (starts SymPy worker):  {(time.perf_counter() - t0) * 1000:.0f} ms")
    print("compare equal (symbolic):             "
          f"{median_ms(lambda: equivalence.compare('lr*lambda_max < 2', 'lr < 2/lambda_max', table), 20):.1f} ms")
    print("compare different (numeric):          "
          f"{median_ms(lambda: equivalence.compare('lr <= 2/lambda_max', 'lr < 2/lambda_max', table), 20):.1f} ms")
    d = parse_derivation(Path("examples/derivations/terminal-velocity.txt").read_text())
    print(f"derivation, 3 steps + target:         {median_ms(lambda: check_derivation(d), 10):.1f} ms")

    secret = "benchmark-secret-0123456789"
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        t_build = []
        for i in range(args.notebooks):
            sid = f"s{i:03d}"
            t0 = time.perf_counter()
            nb = build_notebook(Student(sid), student_seed(secret, sid), filename=f"{sid}.ipynb")
            t_build.append(time.perf_counter() - t0)
            for cell in nb.cells:
                pid = cell.metadata.get("ravine", {}).get("part")
                if cell.cell_type != "markdown" or not pid:
                    continue
                part = problems.part(pid)
                params = draw_params(problems.get(part.problem_id), student_seed(secret, sid))
                ans = ("v - beta*v = g\nv = g/(1-beta)" if part.kind == "derivation"
                       else render(part.reference, params))
                cell.source = cell.source.splitlines()[0] + "\n\n" + ans
            path = Path(tmp) / f"{sid}.ipynb"
            nbformat.write(nb, str(path))
            paths.append((sid, path))
        print(f"build one notebook (assign):          {statistics.median(t_build) * 1000:.1f} ms")
        times = []
        for sid, path in paths:
            t0 = time.perf_counter()
            res = grade_answers(path, student_id=sid, secret=secret)
            times.append(time.perf_counter() - t0)
            assert all(r.score == r.max_score for r in res if r.status != "pending")
        print(f"grade_answers, filled notebook:       median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms over {len(times)} notebooks ({len(res)} parts each)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process:             {peak:.0f} MB")


if __name__ == "__main__":
    main()
