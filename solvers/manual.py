"""The solution manual writer: DIR/manual.md, DIR/manual.ipynb and DIR/figures/*.png.

Every derivation is verified (steps and simulations) before it is written, so
the manual cannot contain an unchecked step.  The notebook is nbformat v4 and
is validated with ``nbformat.validate`` before it is saved.  SymPy, nbformat
and matplotlib are imported inside ``write_manual``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ManualResult", "write_manual"]

INTRO = (
    "Solution manual for the lecture *SGD, momentum and Nesterov momentum*. Every step below was checked by "
    "machine: **symbolic** means SymPy reduced the difference to zero (or matched the solved form), **numeric** "
    "means SymPy could not decide and randomized points inside the stated domain agreed, **given** marks a "
    "definition, a model or a cited fact. Final results are also compared with simulations of the reference "
    "update rules (`solvers.rules`). Where the lecture's text lost a formula, the convention used is stated "
    "(default: the lecture's = `torch.optim.SGD`: v <- beta v + g, x <- x - lr v)."
)


@dataclass
class ManualResult:
    markdown: Path
    notebook: Path
    figures: dict[str, Path] = field(default_factory=dict)
    derivations: list[str] = field(default_factory=list)
    seconds: float = 0.0


def write_manual(out_dir: Path | str, *, names: list[str] | None = None, figures: bool = True) -> ManualResult:
    """Verify and write the manual into ``out_dir``; returns the written paths."""
    import nbformat
    from nbformat import v4

    from . import derive
    from .derive.render import render_markdown
    from .manual_figures import draw_all

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = derive.names() if names is None else list(names)
    reports = [derive.verify(n) for n in chosen]
    drawn: dict[str, Path] = draw_all(out / "figures") if figures else {}

    sections = [render_markdown(r, heading="##", figure_dir="figures" if figures else None) for r in reports]
    extra = [n for n in drawn if not any(n in r.derivation.figures for r in reports)]
    contents = "\n".join(f"- [{r.derivation.title}](#{r.name})" for r in reports)
    md_parts = ["# ravine: solution manual", "", INTRO, "", "## Contents", "", contents, ""]
    for r, sec in zip(reports, sections):
        md_parts += [f'<a id="{r.name}"></a>', "", sec]
    if extra:
        md_parts += ["## More figures", ""] + [f"![{n}](figures/{n}.png)\n" for n in extra]
    md_path = out / "manual.md"
    md_path.write_text("\n".join(md_parts), encoding="utf-8")

    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    cells = [v4.new_markdown_cell(f"# ravine: solution manual\n\n{INTRO}")]
    for r, sec in zip(reports, sections):
        cells.append(v4.new_markdown_cell(sec))
        cells.append(v4.new_code_cell(
            f"from solvers.derive import verify\nreport = verify({r.name!r})\nreport.methods()"))
    for n in extra:
        cells.append(v4.new_markdown_cell(f"![{n}](figures/{n}.png)"))
    nb.cells = cells
    nbformat.validate(nb)
    nb_path = out / "manual.ipynb"
    nbformat.write(nb, str(nb_path))
    return ManualResult(md_path, nb_path, drawn, chosen, time.perf_counter() - t0)
