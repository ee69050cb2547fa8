"""Renderers of a verified derivation: one ``to_dict`` and four formats built on it.

``to_dict(report)`` is the single serialisation; ``text``, ``markdown`` (with
LaTeX in ``$$``), ``latex`` (a ``\\section``, no preamble) and ``json`` all
render that dict, so they cannot disagree.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import sympy as sp

from .core import Report
from .symbols import LATEX_NAMES

__all__ = ["to_dict", "render", "render_text", "render_markdown", "render_latex", "render_json", "FORMATS",
           "latex_of", "text_of"]

# LaTeX for symbol names SymPy would mangle.
_LATEX_BY_NAME = {
    "p(1+lr*mu)": r"p(1+\eta\mu)",
    "lim_(z_+ - 1)/(lr*mu)": r"\lim_{\eta\to 0}\frac{z_+-1}{\eta\mu}",
    "z_1*z_2": r"z_1 z_2",
    "|z|": r"|z|",
    "f'(x)": r"f'(x)",
    "f'(x_t)": r"f'(x_t)",
    "Delta_x": r"\Delta x",
    "Var_g_B": r"\operatorname{Var}(g_B)",
    "v_across_inf": r"v^{\mathrm{across}}_\infty",
    "v_along_inf": r"v^{\mathrm{along}}_\infty",
    "lr_opt": r"\eta^\star",
    "lr_max": r"\eta_{\max}",
    "lr_eff": r"\eta_{\mathrm{eff}}",
    "lr_new": r"\eta_{\mathrm{new}}",
    "beta_opt": r"\beta^\star",
    "weights_sum": r"\sum_k w_k",
    "P_min": r"P(\mathrm{min})",
    "P_GOE": r"P_{\mathrm{GOE}}(\mathrm{min})",
    "P(sqrt(d^2 + b^2) < m)": r"P\left(\sqrt{d^2 + b^2} < m\right)",
    "total_weight": r"\sum_k \beta^k",
    "S_29": r"S_{29}",
    "beta_0": r"\beta_0",
    "discriminant": r"\Delta",
    "K_steps": r"\lceil K \rceil",
    "K_approx": r"K_{\approx}",
    "r_slow": r"r_{\mathrm{slow}}",
    "v_inf": r"v_\infty",
    "g_momentum": r"g_{\mathrm{mom}}",
    "g_nesterov": r"g_{\mathrm{nag}}",
    "V_inf": r"V_\infty",
    "mu": r"\mu",
    "z_+": r"z_+",
    "correction": r"\text{correction}",
    "velocity_extra": r"\text{extra}_t",
}


def latex_of(expr: Any) -> str:
    names = dict(LATEX_NAMES)
    for s in getattr(expr, "free_symbols", set()):
        if isinstance(s, sp.Symbol) and s.name in _LATEX_BY_NAME:
            names[s] = _LATEX_BY_NAME[s.name]
    return sp.latex(expr, symbol_names=names)


def text_of(expr: Any) -> str:
    if isinstance(expr, sp.MatrixBase):
        return str(expr.tolist())
    return sp.sstr(expr)


def to_dict(report: Report) -> dict[str, Any]:
    """Everything a renderer may show, as plain JSON-able data."""
    d = report.derivation
    by_index = {s.index: s for s in report.steps}
    steps = []
    for i, step in enumerate(d.steps, start=1):
        r = by_index[i]
        steps.append({
            "index": i,
            "label": step.label,
            "why": step.why,
            "relation": step.rel,
            "against": step.against,
            "text": text_of(step.expr),
            "latex": latex_of(step.expr),
            "check": r.method,
            "detail": r.detail,
        })
    return {
        "name": d.name,
        "title": d.title,
        "summary": d.summary,
        "statement": d.statement,
        "convention": d.convention,
        "assumptions": list(d.domain.text),
        "steps": steps,
        "answer": d.answer,
        "results": {k: {"text": text_of(v), "latex": latex_of(v)} for k, v in d.results.items()},
        "simulations": [{"name": s.name, "description": s.description, "detail": s.detail,
                         "numbers": {k: float(v) for k, v in s.numbers.items()}} for s in report.simulations],
        "figures": list(d.figures),
        "sources": list(d.sources),
        "checks": report.methods(),
        "seconds": round(report.seconds, 3),
    }


def _check_text(s: dict[str, Any]) -> str:
    if s["check"] == "given":
        return "given"
    return f"{s['check']}: {s['detail']}"


def render_text(report: Report) -> str:
    d = to_dict(report)
    out = [f"{d['name']}: {d['title']}", "=" * (len(d["name"]) + len(d["title"]) + 2)]
    if d["statement"]:
        out += ["", d["statement"]]
    if d["convention"]:
        out += ["", f"Convention: {d['convention']}"]
    if d["assumptions"]:
        out += [f"Assumptions: {'; '.join(d['assumptions'])}"]
    out.append("")
    for s in d["steps"]:
        ref = f", against [{s['against']}]" if s["against"] else ""
        out.append(f"[{s['index']}] {s['why']}")
        out.append(f"    {s['text']}")
        if s["check"] == "given":
            out.append("    (given)")
        else:
            out.append(f"    ({s['relation']}{ref}; {_check_text(s)})")
    out += ["", "Answer: " + d["answer"]]
    if d["simulations"]:
        out += ["", "Simulations (reference rules):"]
        out += [f"  - {s['name']}: {s['detail']}" for s in d["simulations"]]
    checks = ", ".join(f"{k} {v}" for k, v in d["checks"].items())
    n_sims = len(d["simulations"])
    out += ["", f"Verified: {len(d['steps'])} steps ({checks}), {n_sims} simulation{'' if n_sims == 1 else 's'}, "
                f"{d['seconds']:.2f} s"]
    return "\n".join(out) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("*", r"\*").replace("_", r"\_")


def render_markdown(report: Report, *, heading: str = "##", figure_dir: str | None = None) -> str:
    d = to_dict(report)
    out = [f"{heading} {d['title']} (`{d['name']}`)", ""]
    if d["statement"]:
        out += [f"> {_md_escape(d['statement'])}", ""]
    out += [_md_escape(d["summary"]), ""]
    if d["convention"]:
        out += [f"*Convention.* {_md_escape(d['convention'])}", ""]
    if d["assumptions"]:
        out += ["*Assumptions.* " + "; ".join(f"`{a}`" for a in d["assumptions"]), ""]
    for s in d["steps"]:
        mark = "given" if s["check"] == "given" else f"✓ {s['check']} ({_md_escape(s['detail'])})"
        out.append(f"**{s['index']}.** {_md_escape(s['why'])} — *{mark}*")
        out += ["", f"$$ {s['latex']} $$", ""]
    out += [f"**Answer.** {_md_escape(d['answer'])}", ""]
    if d["results"]:
        out.append("**Results.**")
        out.append("")
        out += [f"- `{k}`: ${v['latex']}$" for k, v in d["results"].items()]
        out.append("")
    if d["simulations"]:
        out.append("**Numeric checks (reference rules).**")
        out.append("")
        out += [f"- *{s['name']}*: {_md_escape(s['detail'])}" for s in d["simulations"]]
        out.append("")
    if figure_dir is not None:
        for f in d["figures"]:
            out += [f"![{f}]({figure_dir}/{f}.png)", ""]
    if d["sources"]:
        out += ["*Sources.* " + "; ".join(_md_escape(s) for s in d["sources"]), ""]
    return "\n".join(out)


def _tex_escape(text: str) -> str:
    repl = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(repl.get(ch, ch) for ch in text)


def render_latex(report: Report) -> str:
    d = to_dict(report)
    out = [rf"\section{{{_tex_escape(d['title'])}}}", rf"\label{{deriv:{d['name']}}}"]
    if d["statement"]:
        out += [rf"\paragraph{{Problem.}} {_tex_escape(d['statement'])}"]
    if d["convention"]:
        out += [rf"\paragraph{{Convention.}} {_tex_escape(d['convention'])}"]
    if d["assumptions"]:
        out += [rf"\paragraph{{Assumptions.}} {_tex_escape('; '.join(d['assumptions']))}"]
    out.append(r"\begin{enumerate}")
    for s in d["steps"]:
        check = "given" if s["check"] == "given" else f"{s['check']}: {s['detail']}"
        out.append(rf"  \item {_tex_escape(s['why'])} \hfill \emph{{{_tex_escape(check)}}}")
        out.append(rf"  \[ {s['latex']} \]")
    out.append(r"\end{enumerate}")
    out.append(rf"\paragraph{{Answer.}} {_tex_escape(d['answer'])}")
    if d["simulations"]:
        out.append(r"\paragraph{Numeric checks.}")
        out.append(r"\begin{itemize}")
        out += [rf"  \item {_tex_escape(s['name'])}: {_tex_escape(s['detail'])}" for s in d["simulations"]]
        out.append(r"\end{itemize}")
    return "\n".join(out) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"


FORMATS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "latex": render_latex,
    "json": render_json,
}


def render(report: Report, fmt: str = "text") -> str:
    try:
        fn = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    return fn(report)
