"""Item analysis of a graded class: per check and per answer part (an *item*).

For each item, over the submissions where it was graded (pending ones left out):

* **difficulty**: the mean fraction of the item's points obtained (1 = everyone got full marks);
* **item-total correlation** (corrected): Pearson's r between the item's points and the
  total *minus that item's points*, so the item is not correlated with itself;
* **upper-lower index** D: the mean fraction of points in the top 27% of submissions by
  total minus that in the bottom 27% (Kelley's groups; at least one submission each);
* the most frequent diagnoses (implementation checks) and anticipated wrong answers
  (answer parts), with counts: each test's ``diagnoses``.

Flags: discrimination (r, or D when r is undefined) below ``NEAR_ZERO`` is "near-zero",
below 0 "negative"; an item everyone got full marks on is "everyone passes"; one no one
scored on is "no one scores".  An item with zero variance has no r (its flag says why).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from .results import SubmissionResult

__all__ = ["Item", "item_analysis", "items_csv", "NEAR_ZERO", "GROUP_FRACTION"]

NEAR_ZERO = 0.1  # |discrimination| below this tells good and weak students apart barely at all
GROUP_FRACTION = 0.27  # Kelley's upper and lower groups


@dataclass
class Item:
    name: str
    part: str  # the function or the answer part (P1.a)
    group: str  # the function, or the problem (P1) of an answer part
    kind: str  # "check" or "answer"
    max_points: float
    n: int = 0  # submissions where it was graded
    full: int = 0  # of those, with full marks
    pending: int = 0  # submissions where it waits for the instructor
    difficulty: float | None = None
    r_corrected: float | None = None
    d_index: float | None = None
    diagnoses: list[tuple[str, int]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def short(self) -> str:
        """The name without its function prefix ("sgd_step: Rosenbrock" -> "Rosenbrock")."""
        head, sep, rest = self.name.partition(": ")
        return rest if sep and head == self.group else self.name


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


def _pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-15 or syy <= 1e-15:
        return None
    return sxy / math.sqrt(sxx * syy)


def item_analysis(results: Iterable[SubmissionResult]) -> list[Item]:
    """Items in first-seen order (an item is a test name), over the submissions' results."""
    results = list(results)
    totals = [sum(_num(t.score) for t in r.tests) for r in results]
    items: dict[str, Item] = {}
    # item name -> list of (submission index, points, fraction)
    scores: dict[str, list[tuple[int, float, float]]] = {}
    diag: dict[str, Counter[str]] = {}
    for i, r in enumerate(results):
        for t in r.tests:
            name = t.name
            part = t.part or name
            if name not in items:
                answer = "." in part
                items[name] = Item(name, part, t.group or part, "answer" if answer else "check",
                                   _num(t.max_score))
                scores[name] = []
                diag[name] = Counter()
            it = items[name]
            if t.status == "pending":
                it.pending += 1
                continue
            pts = _num(t.score)
            mx = _num(t.max_score)
            scores[name].append((i, pts, pts / mx if mx > 0 else 0.0))
            diag[name].update(t.diagnoses)
    order = sorted(range(len(results)), key=lambda k: totals[k])
    for name, it in items.items():
        rows = scores[name]
        it.n = len(rows)
        it.diagnoses = diag[name].most_common(3)
        if not rows:
            it.flags.append("pending")
            continue
        fr = [f for _, _, f in rows]
        it.difficulty = sum(fr) / len(fr)
        it.full = sum(1 for f in fr if f >= 1.0 - 1e-9)
        it.r_corrected = _pearson([p for _, p, _ in rows], [totals[k] - p for k, p, _ in rows])
        graded = {k: f for k, _, f in rows}
        ranked = [k for k in order if k in graded]
        g = max(1, round(GROUP_FRACTION * len(ranked)))
        if len(ranked) >= 2:
            g = min(g, len(ranked) // 2)
            low, high = ranked[:g], ranked[-g:]
            it.d_index = sum(graded[k] for k in high) / g - sum(graded[k] for k in low) / g
        if min(fr) >= 1.0 - 1e-9:
            it.flags.append("everyone passes")
        elif max(fr) <= 1e-9:
            it.flags.append("no one scores")
        else:
            disc = it.r_corrected if it.r_corrected is not None else it.d_index
            if disc is not None and disc < 0:
                it.flags.append("negative discrimination")
            elif disc is not None and disc < NEAR_ZERO:
                it.flags.append("near-zero discrimination")
        if it.pending:
            it.flags.append(f"{it.pending} pending")
    return list(items.values())


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "" if x is None else format(x, fmt)


def items_csv(items: Sequence[Item]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["item", "part", "group", "kind", "max_points", "n", "full_marks", "pending", "difficulty",
                "item_total_r", "upper_lower_d", "top_diagnoses", "flags"])
    for it in items:
        w.writerow([it.name, it.part, it.group, it.kind, f"{it.max_points:g}", it.n, it.full, it.pending,
                    _f(it.difficulty), _f(it.r_corrected), _f(it.d_index),
                    "; ".join(f"{t} ({c})" for t, c in it.diagnoses), "; ".join(it.flags)])
    return buf.getvalue()
