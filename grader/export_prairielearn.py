"""``ravine export prairielearn``: the problem bank as a PrairieLearn course fragment.

Layout written under ``--out DIR`` (copy ``questions/ravine/`` into a course's ``questions/``)::

    DIR/questions/ravine/<ID>/info.json        one question per problem of the bank
    DIR/questions/ravine/<ID>/question.html
    DIR/questions/ravine/<ID>/server.py        self-contained (numpy/sympy only), variants baked in
    DIR/questions/ravine/UR/...                the update rules: external grading (grader/export_prairielearn_ur.py)
        info.json (gradingMethod External), question.html (pl-file-editor), initial_code.py,
        tests/ravine-prairielearn.json (settings); the hidden checks' seed is RAVINE_SEED in
        info.json's externalGradingOptions.environment: keep the course repository private
    DIR/grader-image/Dockerfile                the image of the UR question (ravine installed,
    DIR/grader-image/ravine-src/...            entrypoint `ravine prairielearn`)
    DIR/assessments/ravine/infoAssessment.json a homework with every question and its auto/manual points
    DIR/README.md                              what was written, points per question, limitations

Answer kinds: symbolic -> ``pl-symbolic-input``; numeric -> ``pl-number-input``; choice ->
``pl-multiple-choice`` (fixed order, so PrairieLearn's keys are the bank's); free text and
derivations -> ``pl-rich-text-editor`` (PrairieLearn's element for manually graded essays; the
assessment gives those parts ``manualPoints``).  A condition part (``lr < 2/lambda_max``) asks for
its bound after the fixed relation: mistakes that change the relation itself (``<=``) cannot be
entered there and are listed in the README as not exported.

Per-variant numbers come from ``problems.variants.draw_params``, the generator of ``ravine assign``,
with one seed per variant; distinct parameter sets only (at most ``--variants``).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import secrets
import sys
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

HELP = "write a PrairieLearn course fragment: one question per problem, UR with external grading"

__all__ = ["export_prairielearn", "ExportReport", "QUESTION_ROOT", "DEFAULT_IMAGE", "question_uuid"]

QUESTION_ROOT = Path("questions") / "ravine"
ASSESSMENT = Path("assessments") / "ravine"
DEFAULT_IMAGE = "ravine/prairielearn-grader:0.1.0"
TOPIC = "SGD, momentum and Nesterov"
_UUID_NAMESPACE = uuid.UUID("6f1b2a52-3c1e-4d0f-9a51-2f7c8e3b9d11")
_N_POINTS = 12
_RESERVED = {"e", "E", "i", "j", "I", "N", "S", "O", "Q", "pi", "oo", "inf", "infty", "sqrt", "exp", "log",
             "ln", "sin", "cos", "tan"}
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def question_uuid(problem_id: str) -> str:
    """A stable UUID per problem: re-exporting keeps PrairieLearn's question identities."""
    return str(uuid.uuid5(_UUID_NAMESPACE, f"ravine/{problem_id}"))


@dataclass
class ExportReport:
    out: Path
    questions: list[str] = field(default_factory=list)
    variants: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    points: dict[str, tuple[float, float]] = field(default_factory=dict)  # qid -> (auto, manual)


# ------------------------------------------------------------------------------ text

def _inline(text: str) -> str:
    """Markdown-ish bank text -> HTML: escaped, `code`, **bold**, {{p}} -> {{params.p}}, $math$ kept."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", r"{{params.\1}}", out)
    return out


def paragraphs_html(text: str) -> str:
    return "\n".join(f"<p>{_inline(p.strip())}</p>" for p in re.split(r"\n\s*\n", text) if p.strip())


def _answer_name(part_id: str) -> str:
    return re.sub(r"\W", "_", part_id.split(".", 1)[1])


def _format_params(params: Mapping[str, Fraction]) -> dict[str, str]:
    from problems.variants import format_value

    return {k: format_value(v) for k, v in params.items()}


# ------------------------------------------------------------------------------ variants

def draw_variants(problem: Any, n: int) -> list[dict[str, Fraction]]:
    """Up to ``n`` distinct parameter sets from ravine's generator (one seed per variant)."""
    from problems.variants import draw_params, student_seed

    if not problem.params:
        return [draw_params(problem, None)]
    total = 1
    for p in problem.params:
        total *= len(p.choices)
    seen: list[dict[str, Fraction]] = []
    i = 0
    while len(seen) < min(n, total) and i < 50 * n + 100:
        params = draw_params(problem, student_seed("ravine-prairielearn", f"variant-{i}"))
        if params not in seen:
            seen.append(params)
        i += 1
    return seen


# ------------------------------------------------------------------------------ symbols

def _pl_names(part: Any) -> dict[str, str]:
    """ravine symbol name -> a PrairieLearn variable name (an identifier, not a reserved name)."""
    names: dict[str, str] = {}
    for s in part.symbols:
        for cand in (s.name, *s.aliases):
            if _IDENT.match(cand) and cand not in _RESERVED and cand not in names.values():
                names[s.name] = cand
                break
        else:
            raise ValueError(f"{part.id}: symbol {s.name} has no name PrairieLearn accepts")
    return names


class _Converter:
    """ravine formula text (with {{params}}) -> sympy text in PrairieLearn's variable names."""

    def __init__(self, part: Any):
        import sympy

        from grader.formula import SymbolTable, sympy_symbol

        self.part = part
        self.table = SymbolTable.from_dict(part.table_data())
        self.names = _pl_names(part)
        self.swap = {sympy_symbol(k, self.table): sympy.Symbol(v) for k, v in self.names.items()}
        self.relation: tuple[str, str] | None = None  # (designated PL name, op) for condition parts
        if part.kind == "symbolic":
            from grader.formula import parse

            ref = parse(part.reference, self.table).node
            if ref.kind == "rel" and ref.value != "=" and ref.args[0].kind == "sym":
                self.relation = (self.names[ref.args[0].value], ref.value)
            elif ref.kind in ("rel", "and"):
                raise ValueError(f"{part.id}: only expressions and 'symbol < bound' conditions export")

    def expr(self, text: str, params: Mapping[str, Fraction]) -> str | None:
        """The sympy text, or None when the formula is a condition of another shape."""
        from grader.formula import parse, to_sympy
        from problems.variants import render

        node = parse(render(text, params), self.table).node
        if self.relation is not None:
            if node.kind != "rel" or node.args[0].kind != "sym" or \
                    self.names.get(node.args[0].value) != self.relation[0] or node.value != self.relation[1]:
                return None
            node = node.args[1]
        elif node.kind in ("rel", "and"):
            return None
        return str(to_sympy(node, self.table).xreplace(self.swap))

    def points_at(self) -> list[dict[str, str]]:
        from grader.equivalence import sample_points

        pts = sample_points(self.table, [s.name for s in self.part.symbols], n=_N_POINTS, seed=0)
        return [{self.names[k]: str(Fraction(v)) for k, v in p.items()} for p in pts]

    def kinds(self) -> dict[str, str]:
        return {self.names[s.name]: s.kind for s in self.part.symbols}


def _numeric(text: str, params: Mapping[str, Fraction]) -> float:
    from grader.formula import SymbolTable, evaluate, parse
    from problems.variants import render

    return float(evaluate(parse(render(text, params), SymbolTable()).node, {}))


# ------------------------------------------------------------------------------ one question

def _question_data(problem: Any, variants: list[dict[str, Fraction]], report: ExportReport
                   ) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """QUESTION and VARIANTS of server.py, and the body of question.html."""
    from problems.variants import render

    parts: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = [{} for _ in variants]
    body: list[str] = []
    for part in problem.parts:
        name = _answer_name(part.id)
        letter = part.id.split(".", 1)[1]
        pts = f"{part.points:g} point{'s' if part.points != 1 else ''}"
        body.append(f'<p><strong>({html.escape(letter)})</strong> {_inline(part.prompt)} <em>({pts})</em></p>')
        if part.kind in ("text", "derivation"):
            parts.append({"name": name, "kind": "manual", "points": part.points})
            hint = "Write one step per line." if part.kind == "derivation" else ""
            body.append(f'<pl-rich-text-editor file-name="{name}.html" format="markdown" '
                        f'placeholder="{html.escape(hint or "Your answer", quote=True)}"></pl-rich-text-editor>')
            body.append(f'<pl-answer-panel><p>Model answer ({html.escape(letter)}): '
                        f'{_inline(part.reference)}</p></pl-answer-panel>')
            if part.kind == "derivation":
                report.notes.append(f"{part.id}: a derivation; PrairieLearn cannot run ravine's step checker "
                                    f"in server.py, so it is manually graded ({part.points:g} manual points)")
            continue
        entry: dict[str, Any] = {"name": name, "kind": part.kind, "points": part.points}
        if part.kind == "choice":
            keys = [c.key for c in part.choices]
            if keys != [chr(ord("a") + i) for i in range(len(keys))]:
                raise ValueError(f"{part.id}: choice keys must be a, b, c, ... (PrairieLearn's fixed-order keys)")
            answers_html = "\n".join(
                f'  <pl-answer correct="{"true" if c.key == part.reference else "false"}"'
                + (f' feedback="{html.escape(c.feedback, quote=True)}"' if c.feedback else "")
                + f">{_inline(c.text)}</pl-answer>" for c in part.choices)
            body.append(f'<pl-multiple-choice answers-name="{name}" order="fixed">\n{answers_html}\n'
                        "</pl-multiple-choice>")
            for i, params in enumerate(variants):
                answers[i][name] = {"reference": part.reference,
                                    "choice_feedback": {c.key: render(c.feedback, params) for c in part.choices},
                                    "mistakes": []}
        elif part.kind == "numeric":
            entry.update(rtol=part.rtol, atol=part.atol)
            body.append(f'<pl-number-input answers-name="{name}" rtol="{part.rtol:g}" '
                        f'atol="{max(part.atol, 1e-12):g}"></pl-number-input>')
            for i, params in enumerate(variants):
                ref = _numeric(part.reference, params)
                answers[i][name] = {
                    "reference": ref, "correct": ref,
                    "explanation": render(part.explanation, params),
                    "mistakes": [{"id": m.id, "answer": _numeric(m.matcher, params),
                                  "feedback": render(m.message, params), "credit": m.credit}
                                 for m in part.mistakes]}
        elif part.kind == "symbolic":
            conv = _Converter(part)
            entry.update(symbols=conv.kinds(), points_at=conv.points_at())
            label = ""
            if conv.relation is not None:
                sym = next(s for s in part.symbols if conv.names[s.name] == conv.relation[0])
                op = {"<": "<", "<=": r"\le", ">": ">", ">=": r"\ge"}[conv.relation[1]]
                label = f' label="${html.escape(sym.latex or sym.name, quote=True)} {html.escape(op)}$"'
                body.append("<p>Enter the bound only: the relation is given.</p>")
            body.append(f'<pl-symbolic-input answers-name="{name}" variables="{", ".join(conv.kinds())}"'
                        f'{label}></pl-symbolic-input>')
            names = ", ".join(f"<code>{conv.names[sym.name]}</code>"
                              + (f" for ${html.escape(sym.latex, quote=False)}$" if sym.latex else "")
                              for sym in part.symbols)
            body.append(f"<p><small>Variables: {names}.</small></p>")
            for i, params in enumerate(variants):
                ref_expr = conv.expr(part.reference, params)
                assert ref_expr is not None
                mistakes = []
                for m in part.mistakes:
                    text = conv.expr(m.matcher, params)
                    if text is None:
                        if i == 0:
                            report.notes.append(f"{part.id}: anticipated answer {m.id!r} ({m.matcher}) changes "
                                                "the relation itself, which the bound-only input cannot "
                                                "express; not exported")
                        continue
                    mistakes.append({"id": m.id, "answer": text, "feedback": render(m.message, params),
                                     "credit": m.credit})
                answers[i][name] = {"reference": ref_expr, "correct": ref_expr, "mistakes": mistakes,
                                    "explanation": render(part.explanation, params)}
        else:  # pragma: no cover - implementation parts live in the UR question
            raise ValueError(f"{part.id}: {part.kind} parts are not exported as answer inputs")
        body.append(f"<pl-submission-panel>{{{{#feedback.{name}}}}}<p>({html.escape(letter)}) "
                    f"{{{{feedback.{name}}}}}</p>{{{{/feedback.{name}}}}}</pl-submission-panel>")
        parts.append(entry)
    question = {"problem": problem.id, "parts": parts}
    variants_data = [{"params": _format_params(params), "answers": answers[i]}
                     for i, params in enumerate(variants)]
    html_text = ("<pl-question-panel>\n" + paragraphs_html(problem.statement) + "\n</pl-question-panel>\n\n"
                 + "\n".join(body) + "\n")
    return question, variants_data, html_text


def question_info(problem: Any, *, grading: str, single: bool, **extra: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "uuid": question_uuid(problem.id),
        "type": "v3",
        "title": f"{problem.id}: {problem.title}",
        "topic": TOPIC,
        "tags": ["ravine", problem.id],
        "gradingMethod": grading,
        "singleVariant": single,
        # No correct-answer panel: a student never sees a reference answer (ravine's rule);
        # per-part feedback comes from server.py's grade().
        "showCorrectAnswer": False,
    }
    info.update(extra)
    return info


def write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _write_answer_question(qdir: Path, problem: Any, n_variants: int, report: ExportReport) -> None:
    from .pl_server_template import SERVER_PY

    variants = draw_variants(problem, n_variants)
    question, variants_data, body = _question_data(problem, variants, report)
    auto = sum(p["points"] for p in question["parts"] if p["kind"] != "manual")
    manual = sum(p["points"] for p in question["parts"] if p["kind"] == "manual")
    grading = "Manual" if auto == 0 else "Internal"
    write_file(qdir / "info.json", json.dumps(question_info(problem, grading=grading, single=len(variants) == 1),
                                          indent=2) + "\n")
    write_file(qdir / "question.html", body)
    write_file(qdir / "server.py", SERVER_PY.format(problem_id=problem.id,
                                                question_json=json.dumps(question, separators=(",", ":")),
                                                variants_json=json.dumps(variants_data, separators=(",", ":"))))
    report.variants[problem.id] = len(variants)
    report.points[f"ravine/{problem.id}"] = (auto, manual)


# ------------------------------------------------------------------------------ all

def export_prairielearn(out: Path, *, variants: int = 20, image: str = DEFAULT_IMAGE,
                        seed: int | None = None, timeout: int = 120,
                        problems: list[Any] | None = None) -> ExportReport:
    """Write the fragment under ``out`` (see the module docstring); returns what was written."""
    from problems import exercise_registry

    from .export_prairielearn_ur import write_ur_question

    report = ExportReport(out)
    seed = secrets.randbelow(2**31) if seed is None else seed
    for problem in problems if problems is not None else list(exercise_registry.PROBLEMS.values()):
        qdir = out / QUESTION_ROOT / problem.id
        if any(p.kind == "implementation" for p in problem.parts):
            if not all(p.kind == "implementation" for p in problem.parts):
                raise ValueError(f"{problem.id}: mixes implementation and answer parts")
            write_ur_question(out, qdir, image=image, seed=seed, timeout=timeout, report=report)
            report.variants[problem.id] = 1
        else:
            _write_answer_question(qdir, problem, variants, report)
        report.questions.append(f"ravine/{problem.id}")
    numeric = [p.id for problem in (problems if problems is not None else exercise_registry.PROBLEMS.values())
               for p in problem.parts if p.kind == "numeric"]
    if numeric:
        report.notes.append(f"numeric parts ({', '.join(numeric)}) take a number or a fraction a/b "
                            "(pl-number-input), not a numeric formula such as 1/(1-0.9) as in ravine")
    write_file(out / ASSESSMENT / "infoAssessment.json", json.dumps(_assessment(report), indent=2) + "\n")
    write_file(out / "README.md", _readme(report, image))
    return report


def _assessment(report: ExportReport) -> dict[str, Any]:
    """A homework listing every exported question with its auto and manual points."""
    questions = []
    for qid, (auto, manual) in report.points.items():
        q: dict[str, Any] = {"id": qid}
        if auto:
            q["autoPoints"] = auto
        if manual:
            q["manualPoints"] = manual
        questions.append(q)
    return {
        "uuid": str(uuid.uuid5(_UUID_NAMESPACE, "ravine/assessment")),
        "type": "Homework",
        "title": "SGD, momentum and Nesterov (ravine)",
        "set": "Homework",
        "number": "1",
        "zones": [{"title": "ravine", "questions": questions}],
    }


def _readme(report: ExportReport, image: str) -> str:
    rows = "\n".join(f"| `{q}` | {report.variants.get(q.split('/', 1)[1], 1)} | {a:g} | {m:g} |"
                     for q, (a, m) in report.points.items())
    notes = "\n".join(f"- {n}" for n in report.notes) or "- none"
    return f"""# ravine questions for PrairieLearn (generated by `ravine export prairielearn`)

Copy `questions/ravine/` into your course's `questions/` folder, and `assessments/ravine/` into a
course instance's `assessments/` (a homework listing every question with the points below: `autoPoints`,
and `manualPoints` for free-text and derivation parts, graded by hand in PrairieLearn's manual grading;
add your own `accessControl`).  Re-exporting keeps each question's UUID.

| question | variants | auto points | manual points |
|---|---|---|---|
{rows}

`ravine/UR` is graded externally by the image `{image}`: build it from `grader-image/`
(`docker build -t {image} grader-image && docker push {image}`).  Its `info.json` holds the seed of the
hidden checks (`RAVINE_SEED` in `externalGradingOptions.environment`): keep the course repository private.

Not exported as in ravine:
{notes}
"""


# ------------------------------------------------------------------------------ command

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (the course fragment)")
    p.add_argument("--variants", type=int, default=20, metavar="N",
                   help="distinct parameter sets baked into each server.py (default 20; fewer when a "
                        "problem has fewer)")
    p.add_argument("--image", default=DEFAULT_IMAGE, help=f"grader image of ravine/UR (default {DEFAULT_IMAGE})")
    p.add_argument("--seed", type=int, help="seed of the hidden checks of ravine/UR (default: a fresh random one)")
    p.add_argument("--timeout", type=int, default=120, metavar="SECONDS",
                   help="PrairieLearn's time limit for one external grading job (default 120, at most 600)")


def run(args: argparse.Namespace) -> int:
    if args.variants < 1:
        print("ravine export prairielearn: --variants must be at least 1", file=sys.stderr)
        return 2
    if not 1 <= args.timeout <= 600:
        print("ravine export prairielearn: --timeout must be between 1 and 600 (PrairieLearn's maximum)",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"ravine export prairielearn: {out} exists and is not a directory", file=sys.stderr)
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
        report = export_prairielearn(out, variants=args.variants, image=args.image, seed=args.seed,
                                     timeout=args.timeout)
    except OSError as exc:
        print(f"ravine export prairielearn: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(report.questions)} questions under {out / QUESTION_ROOT} "
          f"and the grader image under {out / 'grader-image'}")
    for note in report.notes:
        print(f"note: {note}")
    print(f"{out / QUESTION_ROOT / 'UR' / 'info.json'} holds the hidden checks' seed: keep it private")
    return 0
