"""Renderers of results: results.json, gradebook.csv, the student's text report, the class report.

Every renderer takes ``SubmissionResult`` objects (``ravine report`` reads them back from the
results.json files with :func:`read_results`); nothing here grades.  results.json itself is
Gradescope's format, built by ``grader.gradescope.results_json``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .gradescope import from_results_json, results_json
from .results import SubmissionResult

__all__ = [
    "atomic_write",
    "write_submission",
    "write_gradebook",
    "gradebook_columns",
    "render_text",
    "render_table",
    "load_results",
    "read_results",
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
    atomic_write(path, json.dumps(results_json(result), indent=2) + "\n")
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


def render_text(result: SubmissionResult, *, hints: Mapping[str, tuple[str, Iterable[str]]] | None = None,
                public_only: bool = False) -> str:
    """The student's report: per part, each check's points, verdict and feedback.

    ``hints``: part -> (hint, the diagnoses it answers); a hint is printed only under a part
    where a check that did not pass has one of those diagnoses.
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
            fits = fits or (t.status != "passed" and not hint_for.isdisjoint(t.diagnoses))
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


def read_results(out_dir: Path, *, strict: bool = False) -> list[SubmissionResult]:
    """:func:`load_results` as ``SubmissionResult`` objects (a test without points counts 0)."""
    out = []
    for data in load_results(out_dir, strict=strict):
        for t in data["tests"]:
            for key in ("score", "max_score"):
                t.setdefault(key, 0.0)
        out.append(from_results_json(data))
    return out


def class_report(results: Iterable[SubmissionResult], *, plot_path: Path | None = None,
                 items_path: Path | None = None) -> str:
    """Markdown class report: score distribution, item analysis per check and answer part, the
    most common diagnoses.

    With ``plot_path`` also writes a PNG (histogram of totals, mean score per function and
    problem, every item's difficulty grouped by function and problem); with ``items_path``
    the item analysis as CSV (see :mod:`grader.items`).
    """
    from .items import GROUP_FRACTION, NEAR_ZERO, item_analysis, items_csv

    results = list(results)
    n = len(results)
    lines = ["# Class report", "", f"{n} submissions graded.", ""]
    items = item_analysis(results)
    if items_path is not None:
        atomic_write(items_path, items_csv(items))
    if not n:
        return "\n".join(lines) + "\n"
    totals = [r.score for r in results]
    max_total = max(r.max_score for r in results)
    mean = sum(totals) / n
    srt = sorted(totals)
    median = srt[n // 2] if n % 2 else 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    lines += [f"Total: mean {mean:.2f}, median {median:.2f}, min {srt[0]:g}, max {srt[-1]:g} "
              f"(out of {max_total:g}).", ""]
    pending_subs = sum(1 for r in results if any(t.status == "pending" for t in r.tests))
    if pending_subs:
        lines += [f"{pending_subs} submission(s) have parts **pending** manual grading (free text, or an "
                  "answer that could not be decided automatically): they count 0 in the totals until "
                  "graded, and are left out of the item statistics below.", ""]
    lines += ["## Items", "",
              "Per check and per answer part: **difficulty** is the mean fraction of the points obtained "
              "(1 = everyone full marks); **r** is the corrected item-total correlation (the item's points "
              "against the total without them); **D** is the mean fraction in the top "
              f"{GROUP_FRACTION:.0%} of submissions by total minus the bottom {GROUP_FRACTION:.0%}. "
              f"Flagged: discrimination (r, else D) below 0 or below {NEAR_ZERO:g}, items everyone passes, "
              "items no one scores on.", ""]
    groups: dict[str, list[Any]] = {}
    for it in items:
        groups.setdefault(it.group, []).append(it)
    for group, its in groups.items():
        lines += [f"### {group}", "",
                  "| item | points | full marks | difficulty | r | D | most frequent diagnoses | flags |",
                  "|---|---|---|---|---|---|---|---|"]
        for it in its:
            diff = "pending" if it.difficulty is None else f"{it.difficulty:.2f}"
            full = (f"{it.full}/{it.n}" if it.n else "") + (f" ({it.pending} pending)" if it.pending else "")
            diags = ", ".join(f"{t} ({c})" for t, c in it.diagnoses)
            r_ = "" if it.r_corrected is None else f"{it.r_corrected:.2f}"
            d_ = "" if it.d_index is None else f"{it.d_index:.2f}"
            lines.append(f"| {it.name} | {it.max_points:g} | {full} | {diff} | {r_} | {d_} | {diags} | "
                         f"{', '.join(it.flags)} |")
        lines.append("")
    flagged = [it for it in items if any(f.endswith("discrimination") for f in it.flags)]
    lines += ["## Flagged items", ""]
    if flagged:
        for it in flagged:
            lines.append(f"- {it.name}: {', '.join(f for f in it.flags if f.endswith('discrimination'))} "
                         f"(r {'n/a' if it.r_corrected is None else f'{it.r_corrected:.2f}'}, "
                         f"D {'n/a' if it.d_index is None else f'{it.d_index:.2f}'})")
    else:
        lines.append("No item with negative or near-zero discrimination.")
    easy = [it.name for it in items if "everyone passes" in it.flags]
    if easy:
        lines.append(f"- everyone passes ({len(easy)}): " + "; ".join(easy))
    diag: Counter[str] = Counter()
    diag_part: dict[str, str] = {}
    for r in results:
        for t in r.tests:
            for d in t.diagnoses:
                diag[d] += 1
                diag_part.setdefault(d, t.part)
    lines += ["", "## Most common diagnoses", "", "| diagnosis | first seen in | checks |", "|---|---|---|"]
    for tag, count in diag.most_common(20):
        lines.append(f"| {tag} | {diag_part[tag]} | {count} |")
    if not diag:
        lines.append("| (none) | | |")
    if plot_path is not None:
        _plot(plot_path, totals, max_total, items)
        lines += ["", f"![scores]({plot_path.name})"]
    return "\n".join(lines) + "\n"


_FLAG_COLOR = {"negative discrimination": "#c0392b", "near-zero discrimination": "#e69f00",
               "everyone passes": "#9ecae1", "no one scores": "#9ecae1"}


def _plot(path: Path, totals: list[float], max_total: float, items: Sequence[Any]) -> None:
    """Left: the score histogram and the mean score per function/problem. Right: one bar per item
    (difficulty), grouped under a heading per function (checks) and per problem (answer parts),
    pending items as hatched grey bars, flagged items coloured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    panels = [[it for it in items if it.kind == "check"], [it for it in items if it.kind == "answer"]]
    panels = [p for p in panels if p]
    row_in = 0.2  # inches per bar: room for an 8 pt label
    heights = [len(p) + 1.6 * len({it.group for it in p}) for p in panels] or [1]
    fig_h = max(6.0, row_in * max(heights) + 1.6)
    fig = plt.figure(figsize=(6.2 + 6.6 * len(panels), fig_h))
    gs = fig.add_gridspec(2, 1 + len(panels), width_ratios=[1.0] + [1.15] * len(panels),
                          height_ratios=[1, 1.3])
    a = fig.add_subplot(gs[0, 0])
    a.hist(totals, bins=min(20, max(5, len(totals))), range=(0, max_total) if max_total else None, color="#4477aa")
    a.set_xlabel("total score")
    a.set_ylabel("submissions")
    a.yaxis.set_major_locator(MaxNLocator(integer=True))
    a.set_title(f"Score distribution ({len(totals)} submissions)")
    # mean fraction of points per group (function or problem), pending items left out
    g = fig.add_subplot(gs[1, 0])
    groups: dict[str, list[float]] = {}
    for it in items:
        if it.difficulty is not None:
            groups.setdefault(it.group, []).append(it.difficulty * it.max_points)
            groups.setdefault(it.group + "\0max", []).append(it.max_points)
    names = [k for k in groups if not k.endswith("\0max")]
    fracs = [100 * sum(groups[k]) / max(sum(groups[k + "\0max"]), 1e-12) for k in names]
    g.barh(range(len(names)), fracs, color="#4477aa")
    g.set_yticks(range(len(names)))
    g.set_yticklabels([_clip(k, 28) for k in names], fontsize=8)
    g.invert_yaxis()
    g.set_xlim(0, 100)
    g.set_xlabel("mean % of points (graded items)")
    g.set_title("Per function and problem")
    for col, its in enumerate(panels, start=1):
        ax = fig.add_subplot(gs[:, col])
        ys, labels, bold = [], [], []
        y = 0.0
        last = None
        for it in its:
            if it.group != last:
                y += 0.6 if last is not None else 0.0
                ys.append(y)
                labels.append(it.group)
                bold.append(True)
                y += 1.0
                last = it.group
            ax_y = y
            if it.difficulty is None:
                ax.barh(ax_y, 100, color="#dddddd", hatch="//", edgecolor="#999999", linewidth=0.4)
                ax.text(2, ax_y, f"pending ({it.pending})", va="center", fontsize=7, color="#333333",
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
            else:
                color = next((_FLAG_COLOR[f] for f in it.flags if f in _FLAG_COLOR), "#66aa55")
                ax.barh(ax_y, 100 * it.difficulty, color=color)
                extra = (f"r={it.r_corrected:+.2f}" if it.r_corrected is not None else
                         "all full marks" if "everyone passes" in it.flags else
                         "no one scores" if "no one scores" in it.flags else "")
                if it.pending:
                    extra += f"  {it.pending} pending"
                if extra:
                    ax.text(100 * it.difficulty + 1.5, ax_y, extra, va="center", fontsize=6.5, color="#444444")
            ys.append(ax_y)
            labels.append("  " + _clip(it.short, 38))
            bold.append(False)
            y += 1.0
        ax.set_yticks(ys)
        ax.set_yticklabels(labels, fontsize=8)
        for tick, b in zip(ax.get_yticklabels(), bold):
            if b:
                tick.set_fontweight("bold")
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(y - 0.4, -0.8)
        ax.set_xlim(0, 118)
        ax.set_xticks([0, 20, 40, 60, 80, 100])
        ax.set_xlabel("difficulty: mean % of points")
        ax.set_title("Implementation checks" if its[0].kind == "check" else "Answer parts")
    if panels:
        fig.legend(handles=[Patch(color="#66aa55", label="ok"),
                            Patch(color=_FLAG_COLOR["near-zero discrimination"], label="near-zero discrimination"),
                            Patch(color=_FLAG_COLOR["negative discrimination"], label="negative discrimination"),
                            Patch(color=_FLAG_COLOR["everyone passes"], label="everyone (no one) scores: no information"),
                            Patch(facecolor="#dddddd", hatch="//", edgecolor="#999999",
                                  label="pending (graded by hand)")],
                   loc="lower left", fontsize=8, ncol=3, frameon=False, bbox_to_anchor=(0.01, 0.0))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
