"""Grade a batch: folder names, results written as they come, ``--resume``, the final pass.

``grade_batch`` grades each file with :func:`grader.engine.grade_submission` and writes
DIR/<name>/results.json and DIR/gradebook.csv after each one.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from . import engine, report
from .engine import FINGERPRINT_NOTE, AnswerKey, _not_graded, build_checks
from .gradescope import from_results_json, results_json
from .results import SubmissionResult
from .sandbox import Limits, resolve

__all__ = ["grade_batch", "BatchResult", "unique_names"]


# Files the batch writes next to the per-submission folders: no submission may be named like them.
_RESERVED_NAMES = frozenset({"gradebook.csv", "grading.json", "report.md", "report.png", "items.csv"})
_UNSAFE_CHARS = re.compile(r"[^\w.+-]")


# A folder name is capped in bytes, not characters: file systems limit a name to 255 bytes, and
# 100 CJK characters are 300 bytes of UTF-8.  100 bytes leave room for "-NNN" and for
# atomic_write's ".results.json.XXXXXXXX" temporary files.
MAX_NAME_BYTES = 100


def _cap_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding (surrogates escaped) fits in ``limit`` bytes."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def _safe_name(stem: str) -> str:
    """A submission's folder name: word characters, '.', '+', '-' only; no leading '.', '+' or
    '-' (so never '.' or '..', nor a spreadsheet formula), at most ``MAX_NAME_BYTES`` bytes of
    UTF-8, never one of the batch's own files."""
    name = _cap_bytes(_UNSAFE_CHARS.sub("_", stem).lstrip(".+-"), MAX_NAME_BYTES) or "submission"
    if name.lower() in _RESERVED_NAMES:
        name = name + "_submission"
    return name


def unique_names(paths: Sequence[Path]) -> list[str]:
    """Folder names for ``DIR/<name>/results.json``: the file name without extension, made
    safe (see ``_safe_name``) and unique with -2, -3, ... in input order, also against names
    that already end in ``-2`` (``a.py``, ``a.ipynb``, ``a-2.py``) and up to case."""
    used: set[str] = set()
    names = []
    for p in paths:
        base = _safe_name(p.stem)
        name, n = base, 1
        while name.lower() in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name.lower())
        names.append(name)
    return names


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _batch_extra(batch: str | None, digest: str | None) -> dict[str, Any]:
    return {"batch": batch, "file_sha256": digest} if batch else {}


def _graded_before(folder: Path, batch: str | None, digest: str | None) -> SubmissionResult | None:
    """The result in ``folder``/results.json if this batch wrote it for this very file, else None."""
    if not batch or digest is None:
        return None
    try:
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        extra = data.get("extra_data") or {}
        if extra.get("batch") != batch or extra.get("file_sha256") != digest \
                or extra.get("submission") != folder.name:
            return None
        return from_results_json(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _shared_roster_ids(paths: Sequence[Path], answers: AnswerKey | None) -> dict[Path, str]:
    """Files that map to the same roster id as another file, each with a one-line note.

    ``s001.ipynb`` and ``s001_final.ipynb`` both get s001's numbers: one of them may be another
    student's work under a borrowed name, so the instructor is told instead of grading silently.
    """
    if answers is None or not answers.roster:
        return {}
    by_id: dict[str, list[Path]] = {}
    for p in paths:
        sid = answers.student_for(p.stem)
        if sid is not None:
            by_id.setdefault(sid, []).append(p)
    out: dict[Path, str] = {}
    for sid, group in by_id.items():
        if len(group) > 1:
            names = ", ".join(p.name for p in group)
            note = (f"several files map to roster id {sid} ({names}); each was graded with {sid}'s "
                    "numbers: check whose work each one is")
            for p in group:
                out[p] = note
    return out


@dataclass
class BatchResult:
    results: list[SubmissionResult]
    out_dir: Path


def grade_batch(paths: Sequence[Path], out_dir: Path, *, seed: int, jobs: int = 1,
                limits: Limits = Limits(), rejected: Iterable[tuple[Path, str]] = (),
                answers: AnswerKey | None = None,
                progress: Callable[[str], None] | None = None,
                answer_budget: float | None = None, batch: str | None = None,
                resume: bool = False, feedback: bool = False) -> BatchResult:
    """Grade every path, writing DIR/<name>/results.json and DIR/gradebook.csv as results arrive.

    The gradebook is rewritten atomically after each submission, so an
    interrupted batch keeps everything graded so far.  Each results.json records
    ``batch`` (an id of the batch's settings, kept in grading.json) and the SHA-256
    of the submitted file; with ``resume``, a submission whose results.json has
    both the same is not graded again.  With ``feedback`` each submission also
    gets DIR/<name>/feedback.html (see :mod:`grader.feedback`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    checks = build_checks(seed=seed)
    for c in checks:  # reference runs once per batch, before any thread starts
        c.prepare()
    rejected = list(rejected)
    all_paths = list(paths) + [p for p, _ in rejected]
    names = unique_names(all_paths)
    name_of = dict(zip(map(str, all_paths), names))
    say = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    done: list[SubmissionResult] = []
    # name -> (sha256 of feedback.html as written, the figures' data): the final pass checks the
    # page and redraws it if it changed, without holding every page (~0.5 MB each) in memory
    pages: dict[str, tuple[str, dict[str, Any] | None]] = {}

    def write_page(result: SubmissionResult, trajectories: dict[str, Any] | None) -> None:
        from .feedback import render_feedback  # in the main thread only: matplotlib is not thread-safe

        page = render_feedback(result, trajectories=trajectories)
        try:
            report.atomic_write(out_dir / result.submission / "feedback.html", page)
        except OSError:
            return  # the unwritable folder is reported with its results.json
        pages[result.submission] = (hashlib.sha256(page.encode("utf-8", "replace")).hexdigest(), trajectories)

    shared = _shared_roster_ids(paths, answers)
    notes = {name_of[str(p)]: note for p, note in shared.items()}
    for note in dict.fromkeys(shared.values()):
        say(f"ravine grade: warning: {note}")

    def record(result: SubmissionResult, trajectories: dict[str, Any] | None = None) -> None:
        if result.submission in notes:
            result.messages.insert(0, notes[result.submission])
        for m in result.messages:
            if m.startswith(FINGERPRINT_NOTE):
                say(f"ravine grade: warning: {result.submission}: {m}")
        done.append(result)
        try:
            report.write_submission(out_dir, result)
        except OSError as exc:  # one unwritable folder must not end the batch
            note = f"results.json not written: {exc.strerror or exc}"
            result.messages.append(note)
            say(f"ravine grade: {result.submission}: {note}")
        if feedback:
            write_page(result, trajectories)
        report.write_gradebook(out_dir / "gradebook.csv", done)
        say(f"[{len(done)}/{len(all_paths)}] {result.submission}: "
            f"{result.score:g}/{result.max_score:g} ({result.seconds:.2f} s)")

    digests = {str(p): _file_digest(p) for p in all_paths}

    def grade_one(p: Path) -> tuple[SubmissionResult, dict[str, Any] | None]:
        trajectories: dict[str, Any] | None = {} if feedback else None
        r = engine.grade_submission(p, checks, limits=limits, name=name_of[str(p)], answers=answers,
                             answer_budget=answer_budget, trajectories=trajectories)
        r.extra.update(_batch_extra(batch, digests[str(p)]))
        return r, trajectories

    isolation = resolve(limits.isolation).record()
    for p, reason in rejected:
        r = SubmissionResult(name_of[str(p)], _not_graded(checks, reason), [f"{p}: {reason}"],
                             isolation=isolation)
        r.extra.update(_batch_extra(batch, digests[str(p)]))
        record(r)

    todo = []
    for p in paths:
        before = _graded_before(out_dir / name_of[str(p)], batch, digests[str(p)]) if resume else None
        if before is None:
            todo.append(p)
            continue
        done.append(before)
        say(f"[{len(done)}/{len(all_paths)}] {before.submission}: {before.score:g}/{before.max_score:g} "
            "(graded before, same file and settings: kept)")

    if jobs <= 1:
        for p in todo:
            record(*grade_one(p))
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(grade_one, p) for p in todo]
            for fut in as_completed(futures):
                record(*fut.result())

    # Final pass from memory: whatever a submission's process may have written into the
    # output directory meanwhile, the files on disk end up equal to the grader's verdicts.
    order = {n: i for i, n in enumerate(names)}
    # As written to results.json (scores to 6 decimals): the gradebook is then the same whether a
    # result was graded now or kept from an interrupted run (--resume).
    done = [from_results_json(results_json(r)) for r in done]
    done.sort(key=lambda r: order.get(r.submission, len(order)))
    for r in done:
        try:
            report.write_submission(out_dir, r)
        except OSError:
            pass  # already reported by record()
        if r.submission in pages:
            digest, trajectories = pages[r.submission]
            try:
                ok = hashlib.sha256((out_dir / r.submission / "feedback.html").read_bytes()).hexdigest() == digest
            except OSError:
                ok = False
            if not ok:
                write_page(r, trajectories)
    report.write_gradebook(out_dir / "gradebook.csv", done)
    return BatchResult(done, out_dir)
