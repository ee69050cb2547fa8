"""Figures of the solution manual: a registry name -> function writing one PNG.

``FIGURES: dict[str, Callable[[Path], Path]]``: each function takes the output
directory, writes ``<dir>/<name>.png`` and returns its path.  Other modules may
add entries (``FIGURES["race"] = ...``); the manual writer draws every entry.

Matplotlib is imported inside the functions with the non-interactive Agg
backend, so importing this module costs nothing.  The trajectories come from
the reference rules (``solvers.rules``) and objectives (``solvers.objectives``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import objectives, rules

__all__ = ["FIGURES", "register_figure", "draw_all"]

FIGURES: dict[str, Callable[[Path], Path]] = {}


def register_figure(name: str) -> Callable[[Callable[[Path], Path]], Callable[[Path], Path]]:
    def deco(fn: Callable[[Path], Path]) -> Callable[[Path], Path]:
        FIGURES[name] = fn
        return fn

    return deco


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


@register_figure("stability")
def stability(out_dir: Path) -> Path:
    """GD on the ravine 1/2(100x^2 + y^2) just below / at / above 2/lambda_max."""
    plt = _pyplot()
    obj = objectives.build({"kind": "ravine"})
    edge = 2.0 / float(obj.spectrum()[-1])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for factor, style in ((0.95, "-"), (1.0, ":"), (1.02, "--")):
        traj = rules.trajectory("sgd", np.array([1.0, 1.0]), obj.grad, lr=factor * edge, beta=0.0, steps=150)
        ax1.semilogy(np.abs(traj[:, 0]) + 1e-300, style, label=f"lr = {factor:g} x 2/lambda_max")
        ax2.plot(traj[:25, 1], traj[:25, 0], style + "o", ms=3, label=f"{factor:g} x")
    ax1.set_xlabel("step t")
    ax1.set_ylabel("|x_t| along the steep direction")
    ax1.set_title("GD on 1/2(100 x^2 + y^2): stable iff lr < 2/lambda_max = 0.02")
    ax1.legend()
    ax2.set_xlabel("y (slow)")
    ax2.set_ylabel("x (steep)")
    ax2.set_title("first 25 iterates")
    ax2.set_ylim(-3, 3)
    return _save(fig, out_dir, "stability")


@register_figure("p4-rosenbrock")
def p4_rosenbrock(out_dir: Path) -> Path:
    """P4: SGD vs momentum on Rosenbrock: paths over contours and loss vs step."""
    from .derive.exercises import P4_SETUP, run_p4

    plt = _pyplot()
    obj = objectives.build({"kind": "rosenbrock"})
    runs = run_p4()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs, ys = np.meshgrid(np.linspace(-1.6, 1.6, 300), np.linspace(-0.5, 2.0, 300))
    zs = (1 - xs) ** 2 + 100 * (ys - xs**2) ** 2
    ax1.contour(xs, ys, np.log10(zs + 1e-3), levels=25, cmap="Greys", linewidths=0.6)
    for name, color in (("sgd", "tab:red"), ("momentum", "tab:blue")):
        tr = runs[name]
        ax1.plot(tr[:, 0], tr[:, 1], color=color, lw=1.2, label=name)
        ax2.semilogy([obj.f(p) + 1e-300 for p in tr], color=color, label=name)
    ax1.plot([1], [1], "k*", ms=12)
    ax1.set_title(f"Rosenbrock from {P4_SETUP['start']}, lr = {P4_SETUP['lr']}")
    ax1.legend()
    ax2.set_xlabel("step")
    ax2.set_ylabel("f")
    ax2.set_title("loss vs step (momentum beta = 0.9)")
    ax2.legend()
    return _save(fig, out_dir, "p4-rosenbrock")


@register_figure("lrp-cycle")
def lrp_cycle(out_dir: Path) -> Path:
    """Polyak's tuning cycles on Lessard-Recht-Packard's strongly convex function, from some starts."""
    from .derive.heavy_ball import LRP_X0, lrp_f, lrp_grad, lrp_grid_outcomes, polyak_params

    plt = _pyplot()
    lr_p, beta_p, _ = polyak_params(1.0, 25.0)
    traj = rules.trajectory("momentum", np.array([LRP_X0]), lrp_grad, lr=lr_p, beta=beta_p, steps=60)[:, 0]
    quad = rules.trajectory("momentum", np.array([LRP_X0]), lambda p: 25.0 * p, lr=lr_p, beta=beta_p, steps=60)[:, 0]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4))
    grid = np.linspace(-2.5, 3.5, 400)
    ax1.plot(grid, [lrp_f(v) for v in grid], "k-", lw=1)
    tail = traj[-3:]
    ax1.plot(tail, [lrp_f(v) for v in tail], "ro", label="limit cycle (period 3)")
    ax1.set_title("LRP function: mu = 1, L = 25")
    ax1.legend()
    ax2.plot(traj, "r.-", label=f"LRP function from x0 = {LRP_X0}: cycles")
    ax2.plot(quad, "b.-", label="quadratic 25/2 x^2: converges")
    ax2.set_xlabel("step")
    ax2.set_ylabel("x_t")
    ax2.set_title(f"heavy ball, Polyak's tuning lr = {lr_p:.3f}, beta = {beta_p:.3f}")
    ax2.legend()
    starts, cycling, _ = lrp_grid_outcomes()
    ax3.plot(starts[~cycling], np.zeros(int((~cycling).sum())), "b|", ms=14, label="converges to 0")
    ax3.plot(starts[cycling], np.ones(int(cycling.sum())), "r|", ms=14, label="ends in the cycle")
    ax3.set_ylim(-0.6, 1.8)
    ax3.set_yticks([0, 1], ["converges", "cycles"])
    ax3.set_xlabel("start x0 (v0 = 0), grid step 0.01")
    ax3.set_title(f"{int(cycling.sum())} of {len(starts)} starts in [-5, 5] end in the cycle")
    ax3.legend(loc="upper left")
    fig.tight_layout()
    return _save(fig, out_dir, "lrp-cycle")


@register_figure("goe")
def goe(out_dir: Path) -> Path:
    """P(all Hessian eigenvalues > 0): the 2^-n toy vs GOE Monte Carlo."""
    from .derive.saddles import goe_positive_fraction

    plt = _pyplot()
    dims = np.arange(1, 7)
    samples = 200_000
    mc = np.array([goe_positive_fraction(int(d), samples) for d in dims])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(dims, 2.0 ** -dims, "ko-", label="toy: independent signs, 2^-n")
    shown = mc > 0
    ax.semilogy(dims[shown], mc[shown], "rs-", label=f"GOE Monte Carlo ({samples} samples)")
    ax.semilogy([2], [(2 - np.sqrt(2)) / 4], "b*", ms=12, label="(2 - sqrt 2)/4 exact, n = 2")
    ax.set_xlabel("n (Hessian dimension)")
    ax.set_ylabel("P(minimum)")
    ax.set_title("How rare are minima?")
    ax.legend()
    return _save(fig, out_dir, "goe")


@register_figure("terminal-velocity")
def terminal_velocity(out_dir: Path) -> Path:
    """Velocity under a constant gradient approaches g/(1-beta)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    lr_value, g = 1e-3, 1.0
    for b in (0.0, 0.5, 0.9, 0.95, 0.99):
        traj = rules.trajectory("momentum", np.array([0.0]), lambda x: np.array([g]), lr=lr_value, beta=b,
                                steps=400)
        v = (traj[:-1, 0] - traj[1:, 0]) / lr_value
        ax.plot(np.arange(1, len(v) + 1), v, label=f"beta = {b:g} -> {1 / (1 - b):g}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("velocity / g")
    ax.set_title("terminal velocity g/(1 - beta)")
    ax.legend()
    return _save(fig, out_dir, "terminal-velocity")


def _lab_figure(name: str, function: str) -> None:
    """Register a figure of the lab (``solvers/lab/experiment_figures.py``) under ``name`` (written as name.png)."""

    def draw(out_dir: Path) -> Path:
        from .lab import experiment_figures as lab

        path = Path(getattr(lab, function)(Path(out_dir)))
        target = Path(out_dir) / f"{name}.png"
        if path != target:
            path.replace(target)
        return target

    FIGURES[name] = draw


_lab_figure("race", "race_figure")  # SGD, momentum, Nesterov and Adam on the ravine
_lab_figure("saddle-plateau", "saddle_figure")  # P3: momentum carries through, SGD crawls
_lab_figure("p6-divergence", "p6_figure")  # P6: beta 0.99 diverges at lr, converges at lr/10


def draw_all(out_dir: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Draw the named figures (all by default); return name -> path."""
    chosen = list(FIGURES) if names is None else names
    unknown = [n for n in chosen if n not in FIGURES]
    if unknown:
        raise KeyError(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    return {n: FIGURES[n](out_dir) for n in chosen}

