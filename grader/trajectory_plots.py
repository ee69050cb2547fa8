"""Figures of a student's trajectories against the reference (for `ravine check --plot`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["plot_trajectories"]


def _clip_to_frame(got: np.ndarray, x0: float, x1: float, y0: float | None = None,
                   y1: float | None = None) -> tuple[np.ndarray, str]:
    """The student's positions clipped to the drawn frame (NaN/inf left out), and the legend label.

    Values far outside (1e307) would make matplotlib's tick locator fail; a clipped point
    sits on the frame's edge and the label says so.
    """
    shown = np.array(got, dtype=float, copy=True)
    shown[~np.isfinite(shown)] = np.nan
    bounds = [(x0, x1)] + ([(y0, y1)] if y0 is not None and y1 is not None else [])
    clipped = False
    with np.errstate(invalid="ignore"):
        for k, (a, b) in enumerate(bounds):
            col = shown[:, k]
            clipped = clipped or bool(np.any((col < a) | (col > b)))
            shown[:, k] = np.clip(col, a, b)
    return shown, "yours (clipped to the frame)" if clipped else "yours"


def plot_trajectories(panels: Sequence[dict[str, Any]], path: Path) -> Path:
    """One panel per public trajectory check: the reference path, the student's, and the loss.

    Each panel dict has ``title``, ``objective`` (spec), ``expected`` (T+1, d) and
    ``got`` ((T'+1, d) or None).  2-D problems are drawn as paths over the loss
    contours, others as the distance to the start against the step.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from solvers.objectives import build

    n = max(1, len(panels))
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.4 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        exp = np.asarray(panel["expected"], dtype=float)
        got = None if panel.get("got") is None else np.asarray(panel["got"], dtype=float)
        obj = build(panel["objective"])
        if exp.shape[1] == 2:
            # Frame the reference run; a diverging student path may leave the frame (clipped).
            lo, hi = exp.min(axis=0), exp.max(axis=0)
            pad = 0.25 * np.maximum(hi - lo, 1e-3)
            if got is not None:
                fin = got[np.all(np.isfinite(got), axis=1)]
                if fin.size:
                    lo = np.maximum(np.minimum(lo, fin.min(axis=0)), lo - 3 * (hi - lo + pad))
                    hi = np.minimum(np.maximum(hi, fin.max(axis=0)), hi + 3 * (hi - lo + pad))
            xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 120)
            ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 120)
            X, Y = np.meshgrid(xs, ys)
            def f(a: float, b: float) -> float:
                try:
                    return obj.f(np.array([a, b]))
                except (OverflowError, FloatingPointError):
                    return float("nan")

            with np.errstate(all="ignore"):
                Z = np.vectorize(f)(X, Y)
                Zs = np.log1p(Z - np.nanmin(Z))
            ax.contour(X, Y, Zs, levels=20, cmap="Greys", linewidths=0.6)
            ax.plot(exp[:, 0], exp[:, 1], "o-", color="#2166ac", ms=3, lw=1.2, label="reference")
            if got is not None:
                shown, label = _clip_to_frame(got, xs[0], xs[-1], ys[0], ys[-1])
                ax.plot(shown[:, 0], shown[:, 1], "x--", color="#d6604d", ms=4, lw=1.2, label=label)
            ax.set_xlim(xs[0], xs[-1])
            ax.set_ylim(ys[0], ys[-1])
            ax.set_xlabel("x")
            ax.set_ylabel("y")
        else:
            ax.plot(exp[:, 0], "o-", color="#2166ac", ms=3, label="reference")
            if got is not None:
                # Frame the reference as in 2-D: a student's 1e307 would break the axis ticks.
                lo1, hi1 = float(exp[:, 0].min()), float(exp[:, 0].max())
                pad1 = 0.25 * max(hi1 - lo1, 1e-3)
                shown, label = _clip_to_frame(got[:, :1], lo1 - 3 * (hi1 - lo1 + pad1) - pad1,
                                              hi1 + 3 * (hi1 - lo1 + pad1) + pad1)
                ax.plot(shown[:, 0], "x--", color="#d6604d", ms=4, label=label)
            ax.set_xlabel("step")
            ax.set_ylabel("x[0]")
        ax.set_title(panel["title"], fontsize=9)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
