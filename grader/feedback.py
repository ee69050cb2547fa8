"""The student's feedback page: ``<out>/<name>/feedback.html``, one self-contained file.

It shows what ``results.json`` shows, from the same ``SubmissionResult`` (each check's
name, points, verdict and output; hidden checks keep their redacted output), grouped by function and
answer part, and for a public trajectory check that missed, the student's path
against the reference over the objective's contours (the ``ravine check
--plot`` figure), inlined as a base64 PNG.  It leaves out the model answer of
free-text parts (``Reference answer:``): results.json holds it for the
instructor, marked ``after_published``.

Every piece of text is HTML-escaped: check outputs quote the student's own
exception text and values, so they are hostile.  A Content-Security-Policy
``<meta>`` also forbids scripts and any resource but inline images, so even a
missed escape could not run code or fetch anything.  The page needs no network
(system fonts, no external files), reads on a phone (viewport meta, fluid
layout) and prints cleanly (print CSS: no backgrounds, checks not split).
"""

from __future__ import annotations

import base64
import html
import tempfile
from pathlib import Path
from typing import Any, Mapping

from .results import SubmissionResult, TestResult, score_round

__all__ = ["render_feedback", "trajectory_png"]

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1b1b1b; background: #f6f6f4; }
main { max-width: 52rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.45rem; margin: 0.2rem 0 0.4rem; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 0; display: flex; justify-content: space-between; gap: 0.5rem;
     flex-wrap: wrap; }
.total { font-size: 1.15rem; margin: 0.2rem 0 0.8rem; }
.note { background: #fff8e1; border-left: 4px solid #e0a800; padding: 0.5rem 0.8rem; margin: 0.5rem 0;
        overflow-wrap: anywhere; }
table.summary { border-collapse: collapse; width: 100%; margin: 0.6rem 0 1rem; background: #fff; }
table.summary td, table.summary th { padding: 0.3rem 0.5rem; border-bottom: 1px solid #ddd; text-align: left; }
table.summary .pts { text-align: right; white-space: nowrap; }
section.part { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 0.8rem; margin: 0.8rem 0; }
article.check { border-top: 1px solid #eee; padding: 0.6rem 0 0.2rem; break-inside: avoid; }
article.check:first-of-type { border-top: none; }
.head { display: flex; gap: 0.5rem; align-items: baseline; flex-wrap: wrap; }
.name { font-weight: 600; overflow-wrap: anywhere; flex: 1 1 12rem; }
.pts { white-space: nowrap; color: #444; }
.badge { display: inline-block; min-width: 4.2rem; text-align: center; font-size: 0.8rem; font-weight: 700;
         border-radius: 3px; padding: 0.05rem 0.35rem; border: 1px solid currentColor; }
.passed .badge { color: #1e7b34; } .partial .badge { color: #9a6400; }
.failed .badge, .error .badge { color: #b3261e; } .pending .badge { color: #555; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font: 0.88rem/1.4 ui-monospace, "DejaVu Sans Mono", monospace;
      background: #f3f3f3; padding: 0.5rem 0.6rem; margin: 0.4rem 0; border-radius: 4px; }
figure { margin: 0.5rem 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #ddd; background: #fff; }
figcaption { font-size: 0.85rem; color: #555; }
footer { font-size: 0.8rem; color: #666; margin: 1.5rem 0 0.5rem; }
@media (max-width: 600px) {
  body { font-size: 15px; } main { padding: 0.5rem; } section.part { padding: 0.6rem; }
}
@media print {
  body { background: #fff; font-size: 11pt; } main { max-width: none; padding: 0; }
  section.part { border: none; border-top: 2px solid #000; border-radius: 0; padding: 0.4rem 0; }
  pre { background: none; border-left: 2px solid #999; }
  .note { background: none; }
  figure img { max-width: 14cm; }
  article.check, figure { break-inside: avoid; }
}
"""

_VERDICT = {"passed": "PASS", "partial": "PARTIAL", "failed": "FAIL", "error": "ERROR", "pending": "PENDING"}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _pts(x: Any) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return "?"


def _visible_output(test: TestResult) -> str:
    """The test's output as results.json has it, less a free-text part's model answer."""
    lines = test.output.splitlines()
    return "\n".join(line for line in lines if not line.startswith("Reference answer:"))


def trajectory_png(panel: Mapping[str, Any]) -> bytes:
    """The ``check --plot`` figure of one trajectory check, as PNG bytes."""
    from .trajectory_plots import plot_trajectories

    with tempfile.TemporaryDirectory(prefix="ravine-fig-") as d:
        path = plot_trajectories([dict(panel)], Path(d) / "figure.png")
        return path.read_bytes()


def render_feedback(result: SubmissionResult, *, trajectories: Mapping[str, Mapping[str, Any]] | None = None,
                    title: str = "ravine feedback") -> str:
    """The page for one submission's result; ``trajectories`` maps a public trajectory check's
    name to its panel (see ``grade_submission``); failing ones get their figure.  Points are
    shown as results.json has them (6 decimals)."""
    trajectories = trajectories or {}
    name = result.submission
    tests = result.tests
    parts: dict[str, list[TestResult]] = {}
    for t in tests:
        parts.setdefault(t.part, []).append(t)
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
           '<meta name="referrer" content="no-referrer">',
           f"<title>{_e(title)}: {_e(name)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>", "<main>",
           f"<h1>{_e(title)}: {_e(name)}</h1>"]
    out.append(f'<p class="total">Total: <strong>{_pts(result.score)}</strong> / {_pts(result.max_score)} points</p>')
    pending = [t for t in tests if t.status == "pending"]
    if pending:
        pts = sum(score_round(t.max_score) for t in pending)
        out.append(f'<p class="note">{len(pending)} part(s) ({pts:g} points) are pending: your instructor '
                   "grades them by hand, and they count 0 until then.</p>")
    for line in "\n".join(result.messages).splitlines():
        if line.strip():
            out.append(f'<p class="note">{_e(line)}</p>')
    out.append('<table class="summary"><thead><tr><th>part</th><th class="pts">points</th></tr></thead><tbody>')
    for part, ts in parts.items():
        got = sum(score_round(t.score) for t in ts)
        mx = sum(score_round(t.max_score) for t in ts)
        wait = " (pending)" if any(t.status == "pending" for t in ts) else ""
        out.append(f'<tr><td><a href="#part-{_e(_anchor(part))}">{_e(part)}</a></td>'
                   f'<td class="pts">{got:g} / {mx:g}{wait}</td></tr>')
    out.append("</tbody></table>")
    figures = 0
    for part, ts in parts.items():
        got = sum(score_round(t.score) for t in ts)
        mx = sum(score_round(t.max_score) for t in ts)
        out.append(f'<section class="part" id="part-{_e(_anchor(part))}">')
        out.append(f'<h2><span>{_e(part)}</span><span class="pts">{got:g} / {mx:g}</span></h2>')
        for t in ts:
            status = t.status if t.status in _VERDICT else "failed"
            out.append(f'<article class="check {status}">')
            out.append(f'<div class="head"><span class="badge">{_VERDICT[status]}</span>'
                       f'<span class="name">{_e(t.name)}</span>'
                       f'<span class="pts">{_pts(score_round(t.score))} / {_pts(score_round(t.max_score))}</span></div>')
            text = _visible_output(t)
            if text.strip():
                out.append(f"<pre>{_e(text)}</pre>")
            panel = trajectories.get(t.name)
            if panel is not None and status != "passed" and t.visibility != "after_published":
                try:
                    png = trajectory_png(panel)
                except Exception as exc:  # noqa: BLE001 - a figure must never cost the page
                    out.append(f'<p class="note">The figure could not be drawn ({_e(type(exc).__name__)}).</p>')
                else:
                    figures += 1
                    alt = f"your path against the reference for {t.name}"
                    out.append(f'<figure><img data-figure="{figures}" alt="{_e(alt)}" width="520" height="440" '
                               f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
                               f"<figcaption>{_caption(panel)}</figcaption></figure>")
            out.append("</article>")
        out.append("</section>")
    out.append("<footer>Written by ravine grade. Hidden checks use inputs that are not shown; their "
               "verdicts and diagnoses are.</footer>")
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _caption(panel: Mapping[str, Any]) -> str:
    try:
        two_d = len(panel["expected"][0]) == 2
    except (KeyError, IndexError, TypeError):
        two_d = False
    if two_d:
        return "Blue dots: the reference path; red crosses: yours, over the objective's contours."
    return "Blue dots: the reference's x[0] at each step; red crosses: yours."


def _anchor(part: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in part)
