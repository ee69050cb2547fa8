"""Renderers of results: results.json, gradebook.csv, the student's text report, the class report.

Every renderer reads ``SubmissionResult.to_dict()`` (or the results.json files
written from it); nothing here grades.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Sequence

from .results import SubmissionResult

__all__ = [
    "atomic_write",
    "write_submission",
    "write_gradebook",
    "gradebook_columns",
    "render_text",
    "render_table",
    "load_results",
    "class_report",
]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        # errors="replace": a file name with undecodable bytes (Python's surrogateescape) ends up
        # in messages; it must not make the write fail.
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_submission(out_dir: Path, result: SubmissionResult) -> Path:
    path = out_dir / result.submission / "results.json"
    atomic_write(path, json.dumps(result.to_dict(), indent=2) + "\n")
    return path


def gradebook_columns(results: Sequence[SubmissionResult]) -> list[str]:
    parts: list[str] = []
    for r in results:
        for part in r.by_part():
            if part not in parts:
                parts.append(part)
    return parts


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run: a leading = + - @ (a formula in Excel, LibreOffice,
    Google Sheets) or tab/CR gets a "'" in front (OWASP's advice on CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_gradebook(path: Path, results: Sequence[SubmissionResult]) -> None:
    """A row per submission, a column per function (or problem part), a total."""
    parts = gradebook_columns(results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["submission", *parts, "total", "max_total", "notes"])
    for r in results:
        by = r.by_part()
        notes = "; ".join(m.splitlines()[0] for m in r.messages)[:300]
        w.writerow([_cell(r.submission), *(f"{by[p][0]:g}" if p in by else "" for p in parts),
                    f"{r.score:g}", f"{r.max_score:g}", _cell(notes)])
    atomic_write(path, buf.getvalue())


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def render_text(result: SubmissionResult, *, hints: dict[str, tuple[str, Iterable[str]]] | None = None,
                public_only: bool = False) -> str:
    """The student's report: per part, each check's points, verdict and feedback.

    ``hints``: part -> (hint, the diagnoses it answers); a hint is printed only under a part
    where a check that did not pass carries one of those diagnoses in its tags.
    """
    lines = [f"ravine check: {result.submission}"]
    if public_only:
        lines.append("Public checks only. Hidden checks with randomised inputs also exist and were NOT run;")
        lines.append("they decide most of the grade, so passing here is necessary, not sufficient.")
    for m in result.messages:
        lines.append(f"! {m}")
    by = result.by_part()
    for part, (score, max_score) in by.items():
        lines.append("")
        lines.append(f"{part}: {score:g}/{max_score:g}")
        hint, hint_for = (hints or {}).get(part, ("", ()))
        hint_for = set(hint_for)
        fits = False
        for t in result.tests:
            if t.part != part:
                continue
            mark = {"passed": "PASS", "partial": "PART", "pending": "TODO"}.get(t.status, "FAIL")
            fits = fits or (t.status != "passed" and not hint_for.isdisjoint(t.tags))
            lines.append(f"  {mark}  {t.name}  ({t.score:g}/{t.max_score:g})")
            if t.status != "passed" and t.output:
                lines.append(_indent(t.output, "        "))
        if fits and hint:
            lines.append(f"  hint: {hint}")
    lines.append("")
    label = "Total (public checks)" if public_only else "Total"
    lines.append(f"{label}: {result.score:g}/{result.max_score:g}")
    return "\n".join(lines) + "\n"


def render_table(results: Sequence[SubmissionResult]) -> str:
    """A fixed-width table: a row per submission, a column per part, the total."""
    parts = gradebook_columns(results)
    short = [p.replace("_step", "").replace("classify_critical_point", "classify")
             .replace("largest_stable_lr", "stable_lr") for p in parts]
    name_w = max([len("submission"), *(len(r.submission) for r in results)])
    widths = [max(len(s), 6) for s in short]
    head = "submission".ljust(name_w) + "  " + "  ".join(s.rjust(w) for s, w in zip(short, widths)) + "   total"
    rows = [head, "-" * len(head)]
    for r in results:
        by = r.by_part()
        cells = [(f"{by[p][0]:g}" if p in by else "-").rjust(w) for p, w in zip(parts, widths)]
        rows.append(r.submission.ljust(name_w) + "  " + "  ".join(cells) + f"   {r.score:g}/{r.max_score:g}")
    return "\n".join(rows) + "\n"


class ResultsError(ValueError):
    """A results.json that is not the shape ``ravine grade`` writes (``str(exc)`` names file and key)."""


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf")


def results_problem(data: Any) -> str | None:
    """What keeps ``data`` from being a results.json as ``ravine grade`` writes it, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if not _number(data.get("score")):
        return f"'score' is {data.get('score')!r:.40}, expected a number"
    if not isinstance(data.get("extra_data", {}), dict):
        return "'extra_data' is not an object"
    if not _number(data.get("extra_data", {}).get("max_score", 0) or 0):
        return "'extra_data.max_score' is not a number"
    tests = data.get("tests")
    if not isinstance(tests, list):
        return "'tests' is not a list"
    for i, t in enumerate(tests, 1):
        if not isinstance(t, dict):
            return f"test {i} is not an object"
        if not isinstance(t.get("name"), str):
            return f"test {i}: 'name' is not text"
        for key in ("score", "max_score"):
            if key in t and not _number(t[key]):
                return f"test {i}: {key!r} is {t[key]!r:.40}, expected a number"
        if not isinstance(t.get("tags", []), list) or not all(isinstance(x, str) for x in t.get("tags", [])):
            return f"test {i}: 'tags' is not a list of text"
        if not isinstance(t.get("status", ""), str) or not isinstance(t.get("part", ""), str):
            return f"test {i}: 'status' or 'part' is not text"
    return None


def load_results(out_dir: Path, *, strict: bool = False) -> list[dict[str, Any]]:
    """Every DIR/<name>/results.json, with the submission name added.

    Unreadable or malformed ones are skipped, or with ``strict`` raise :class:`ResultsError`
    naming the file and what is wrong (``ravine report`` refuses to average a wrong score).
    """
    out = []
    for p in sorted(out_dir.glob("*/results.json")):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            why = results_problem(data)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            why = f"cannot be read ({exc.strerror if isinstance(exc, OSError) else 'not valid JSON'})"
        if why is not None:
            if strict:
                raise ResultsError(f"{p}: {why}")
            continue
        data.setdefault("extra_data", {})["submission"] = p.parent.name
        out.append(data)
    return out


def class_report(results: Iterable[dict[str, Any]], *, plot_path: Path | None = None) -> str:
    """Markdown class report: score distribution, per-check pass rate, most common diagnoses.

    With ``plot_path`` also writes a PNG (histogram of totals, pass rate per check).
    """
    results = list(results)
    n = len(results)
    lines = ["# Class report", "", f"{n} submissions graded.", ""]
    if not n:
        return "\n".join(lines) + "\n"
    totals = [float(r["score"]) for r in results]
    max_total = max(float(r.get("extra_data", {}).get("max_score", 0) or 0) for r in results)
    mean = sum(totals) / n
    srt = sorted(totals)
    median = srt[n // 2] if n % 2 else 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    lines += [f"Total: mean {mean:.2f}, median {median:.2f}, min {srt[0]:g}, max {srt[-1]:g} "
              f"(out of {max_total:g}).", ""]
    per_check: dict[str, list[float]] = {}
    diag: Counter[str] = Counter()
    diag_part: dict[str, str] = {}
    for r in results:
        for t in r["tests"]:
            per_check.setdefault(t["name"], []).append(1.0 if t.get("status") == "passed" else 0.0)
            for tag in t.get("tags", [])[1:]:
                diag[tag] += 1
                diag_part.setdefault(tag, t.get("part", ""))
    lines += ["## Pass rate per check", "", "| check | passed |", "|---|---|"]
    for name, xs in per_check.items():
        lines.append(f"| {name} | {sum(xs):g}/{len(xs)} ({100 * sum(xs) / len(xs):.0f}%) |")
    lines += ["", "## Most common diagnoses", "", "| diagnosis | first seen in | checks |", "|---|---|---|"]
    for tag, count in diag.most_common(20):
        lines.append(f"| {tag} | {diag_part[tag]} | {count} |")
    if not diag:
        lines.append("| (none) | | |")
    if plot_path is not None:
        _plot(plot_path, totals, max_total, per_check)
        lines += ["", f"![scores]({plot_path.name})"]
    return "\n".join(lines) + "\n"


def _plot(path: Path, totals: list[float], max_total: float, per_check: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1, 1.6]})
    a.hist(totals, bins=min(20, max(5, len(totals))), range=(0, max_total or None), color="#4477aa")
    a.set_xlabel("total score")
    a.set_ylabel("submissions")
    from matplotlib.ticker import MaxNLocator

    a.yaxis.set_major_locator(MaxNLocator(integer=True))
    a.set_title("Score distribution")
    names = list(per_check)
    rates = [100 * sum(per_check[k]) / len(per_check[k]) for k in names]
    b.barh(range(len(names)), rates, color="#66aa55")
    b.set_yticks(range(len(names)))
    b.set_yticklabels([k if len(k) < 48 else k[:45] + "..." for k in names], fontsize=6)
    b.invert_yaxis()
    b.set_xlim(0, 100)
    b.set_xlabel("% of submissions passing")
    b.set_title("Pass rate per check")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
