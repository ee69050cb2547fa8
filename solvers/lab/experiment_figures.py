"""Ready-made figures for the solution manual: ``(out_dir: Path) -> Path`` each.

``FIGURES`` maps a stable name to its function, for the manual's registry
(``solvers/manual_figures.py``).  matplotlib is imported inside the plotting code only.

* ``race``   -- SGD, momentum, Nesterov, Adam on the ravine (lr 0.012, beta 0.9)
* ``p4``     -- exercise P4: SGD vs momentum on Rosenbrock's curved ravine
* ``saddle`` -- the saddle plateau: momentum carries through, SGD crawls
* ``p6``     -- exercise P6: momentum 0.99 diverges at lr, converges at lr/10
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .experiments import P6Result

__all__ = ["FIGURES", "race_figure", "p4_figure", "saddle_figure", "p6_figure", "plot_p6"]


def race_figure(out_dir: Path) -> Path:
    """The optimizer race on the lecture's ravine f = (100 x^2 + y^2)/2."""
    from .plots import plot_race
    from .race import race

    return plot_race(race("ravine"), Path(out_dir) / "race-ravine.png")


def p4_figure(out_dir: Path) -> Path:
    """P4: SGD and momentum (beta 0.9), same lr 0.001, 1000 steps from (-1.2, 1) on Rosenbrock."""
    from .plots import plot_race
    from .race import race

    return plot_race(race("rosenbrock", racers=("sgd", "momentum")), Path(out_dir) / "p4-rosenbrock.png")


def saddle_figure(out_dir: Path) -> Path:
    """Saddle plateau: SGD and momentum from (1, 1e-6) next to the saddle of x^2 + (y^2-1)^2/4, lr 0.05."""
    from .plots import plot_race
    from .race import race

    result = race("saddle", racers=("sgd", "momentum"), start=(1.0, 1e-6), steps=400)
    return plot_race(result, Path(out_dir) / "saddle-plateau.png")


def plot_p6(res: "P6Result", out: Path) -> Path:
    """Loss curves of a P6 result (see ``solvers.lab.experiments.p6``) into ``out``."""
    from .plots import plot_curves

    curves: dict[str, object] = {}
    if res.control_losses is not None:  # drawn first, underneath
        lr0 = res.runs[0].lr
        curves[f"control: quadratic (100x^2+y^2)/2, beta=0.99, lr = {lr0:g}: converges"] = res.control_losses
    curves.update({f"{r.label} = {r.lr:g}: {r.outcome}": r.losses for r in res.runs})
    marks = {f"{r.label} = {r.lr:g}: {r.outcome}": r.diverged_at for r in res.runs}
    return plot_curves(
        curves,  # type: ignore[arg-type]
        Path(out),
        title=f"P6, Rosenbrock from {res.start}: beta 0.99 overflows at lr = 0.002,\n"
        "the quadratic control at that lr and beta converges (x: overflow)",
        marks=marks,
    )


def p6_figure(out_dir: Path) -> Path:
    """P6: loss of momentum 0.9 at lr, 0.99 at lr (diverges), 0.99 at lr/10, on Rosenbrock (lr 0.002)."""
    from .experiments import p6

    return plot_p6(p6(), Path(out_dir) / "p6-momentum-099.png")


FIGURES: dict[str, Callable[[Path], Path]] = {
    "race": race_figure,
    "p4": p4_figure,
    "saddle": saddle_figure,
    "p6": p6_figure,
}
