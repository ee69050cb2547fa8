"""Matplotlib renderers for the lab (imported lazily, never at package import).

Figures are drawn on their own Agg canvas (``matplotlib.figure.Figure`` +
``FigureCanvasAgg``), not through pyplot: no global backend switch and no figure
registry, so the functions are safe to call from a notebook or a server.

Every function takes results (plain data) and an output path, writes the file
and returns its path.  ``plot_race`` writes a still PNG (or any still format
matplotlib knows) or, for a ``.gif`` path, an animation: frames blitted on the
Agg canvas, read with the public ``FigureCanvasAgg.buffer_rgba()`` and saved by
Pillow (no private matplotlib attribute, so no dependence on the internals of
``matplotlib.animation.PillowWriter``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL.Image import Image

from .race import RaceResult

__all__ = ["plot_race", "plot_curves", "COLORS"]

COLORS: dict[str, str] = {
    "sgd": "#d62728",
    "momentum": "#1f77b4",
    "nesterov": "#2ca02c",
    "adam": "#9467bd",
}


def _figure(figsize: tuple[float, float]) -> Any:
    """A Figure on its own Agg canvas: no pyplot, no global backend switch, nothing to close."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _for_log_axis(values: np.ndarray) -> np.ndarray:
    v = np.array(values, dtype=np.float64)
    v[~np.isfinite(v) | (v <= 0)] = np.nan
    return v


def _contour_grid(result: RaceResult, n: int = 160) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ro = result.objective
    xs = np.linspace(*ro.xlim, n)
    ys = np.linspace(*ro.ylim, n)
    X, Y = np.meshgrid(xs, ys)
    f = ro.objective.f
    Z = np.array([[f(np.array([x, y])) for x, y in zip(rx, ry)] for rx, ry in zip(X, Y)])
    return X, Y, Z


def _draw_contours(ax: Any, result: RaceResult) -> None:
    X, Y, Z = _contour_grid(result)
    positive = Z[Z > 0]
    lo = max(float(positive.min()), float(positive.max()) * 1e-6)
    levels = np.geomspace(lo, float(positive.max()), 18)
    ax.contour(X, Y, Z, levels=levels, colors="0.6", linewidths=0.6)
    for m in result.objective.minima:
        ax.plot(*m, marker="*", color="k", markersize=11, zorder=5)
    ax.plot(*result.start, marker="o", color="k", markersize=6, zorder=5)
    ax.set_xlim(result.objective.xlim)
    ax.set_ylim(result.objective.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _title(result: RaceResult) -> str:
    return (
        f"{result.objective.name}: lr={result.lr:g}, beta={result.beta:g}, "
        f"start=({result.start[0]:g}, {result.start[1]:g})"
    )


def _label(result: RaceResult, name: str) -> str:
    bad = result.diverged_at.get(name)
    if bad is not None:
        return f"{name} (diverged at step {bad})"
    loss = result.losses[name]
    if loss[0] > 0 and not loss[-1] < 1e4 * loss[0]:
        return f"{name} (diverging: {loss[-1]:.1e})"
    return f"{name} ({loss[-1]:.1e})"


def _agg_canvas(fig: Any) -> "FigureCanvasAgg":
    """The figure's Agg canvas (``_figure`` attaches one); TypeError for any other canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        raise TypeError(f"expected a figure on an Agg canvas, got {type(canvas).__name__}")
    return canvas


def _grab_rgb(canvas: "FigureCanvasAgg") -> "Image":
    """The canvas as drawn so far (blitting included), copied into an RGB image."""
    from PIL import Image

    rgba = np.asarray(canvas.buffer_rgba())  # (height, width, 4) uint8, a view of the renderer's buffer
    height, width = rgba.shape[:2]
    # frombuffer shares the renderer's memory: convert() copies before the next frame draws over it
    return Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1).convert("RGB")


def _save_gif(frames: Sequence["Image"], out: Path, *, fps: int) -> None:
    """An animated GIF looping forever, ``fps`` frames per second (what PillowWriter writes)."""
    frames[0].save(out, format="GIF", save_all=True, append_images=list(frames[1:]),
                   duration=int(1000 / fps), loop=0)


def plot_race(result: RaceResult, out: Path, *, frames: int = 50, fps: int = 12, dpi: int = 90) -> Path:
    """Paths over the contour plot (left) and loss against step, log scale (right).

    A ``.gif`` path gives an animation of ``frames`` frames (the paths grow);
    any other suffix a still image.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = _figure((10.5, 4.4))
    ax_path, ax_loss = fig.subplots(1, 2)
    fig.suptitle(_title(result), fontsize=11)
    _draw_contours(ax_path, result)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss f(x)")
    ax_loss.set_xlim(0, result.steps)
    finite = np.concatenate([_for_log_axis(l) for l in result.losses.values()])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        # a diverging racer would squash the others: cap the axis at 1e4 x the start loss
        start_loss = max(float(l[0]) for l in result.losses.values() if np.isfinite(l[0]) and l[0] > 0) \
            if any(np.isfinite(l[0]) and l[0] > 0 for l in result.losses.values()) else float(finite.max())
        top = min(float(finite.max()) * 2.0, start_loss * 1e4)
        ax_loss.set_ylim(max(float(finite.min()) * 0.5, 1e-30), top)
    ax_loss.grid(True, which="major", alpha=0.3)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    # Plain-text tick labels: mathtext labels (10^k) cost most of a GIF frame's time.
    ax_loss.yaxis.set_major_locator(LogLocator(base=10.0, numticks=8))
    ax_loss.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.0e}"))
    ax_loss.yaxis.set_minor_locator(NullLocator())
    ax_loss.yaxis.set_minor_formatter(NullFormatter())
    path_lines, loss_lines, heads = {}, {}, {}  # heads: each racer's current position
    for i, name in enumerate(result.paths):
        c = COLORS.get(name, None)
        # earlier racers drawn wider, underneath: paths that share the valley floor stay visible
        lw = max(1.0, 3.2 - 0.7 * i)
        (path_lines[name],) = ax_path.plot([], [], "-", color=c, lw=lw, marker=".", ms=2.5, label=_label(result, name))
        (heads[name],) = ax_path.plot([], [], "o", color=c, ms=7, mec="k", mew=0.8, zorder=6)
        (loss_lines[name],) = ax_loss.plot([], [], "-", color=c, lw=1.5, label=name)
    ax_path.legend(loc="upper left", fontsize=8, framealpha=0.85)
    fig.tight_layout()

    def draw(k: int) -> list[Any]:
        for name, path in result.paths.items():
            n = min(k + 1, len(path))
            path_lines[name].set_data(path[:n, 0], path[:n, 1])
            heads[name].set_data(path[n - 1 : n, 0], path[n - 1 : n, 1])
            loss = _for_log_axis(result.losses[name][:n])
            loss_lines[name].set_data(np.arange(n), loss)
        return [*path_lines.values(), *heads.values(), *loss_lines.values()]

    if out.suffix.lower() == ".gif":
        # Blitting: the contours, axes and labels are drawn once; each frame only
        # redraws the growing lines (a full redraw per frame costs ~10x more).
        for line in [*path_lines.values(), *heads.values(), *loss_lines.values()]:
            line.set_animated(True)
        fig.set_dpi(dpi)
        canvas = _agg_canvas(fig)
        canvas.draw()
        background = canvas.copy_from_bbox(fig.bbox)
        ks = np.unique(np.linspace(0, result.steps, max(2, frames)).round().astype(int))
        images = []
        for k in ks:
            canvas.restore_region(background)
            for artist in draw(int(k)):
                artist.axes.draw_artist(artist)
            images.append(_grab_rgb(canvas))
        _save_gif(images, out, fps=fps)
    else:
        draw(result.steps)
        fig.savefig(out, dpi=max(dpi, 110))
    return out


def plot_curves(
    curves: Mapping[str, Sequence[float] | np.ndarray],
    out: Path,
    *,
    title: str,
    ylabel: str = "loss",
    xlabel: str = "step",
    logy: bool = True,
    marks: Mapping[str, int | None] | None = None,
) -> Path:
    """Several curves on one axis (e.g. P6's runs); ``marks[name]`` = step to mark with an x."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = _figure((7.0, 4.2))
    ax = fig.subplots()
    starts = [float(np.asarray(v, dtype=float)[0]) for v in curves.values() if len(v)]
    top = 1e4 * max([abs(x) for x in starts if np.isfinite(x)] or [1.0])
    for name, values in curves.items():
        v = _for_log_axis(np.asarray(values)) if logy else np.asarray(values, dtype=float)
        (line,) = ax.plot(np.arange(len(v)), np.minimum(v, top), lw=1.5, label=name)
        step = (marks or {}).get(name)
        if step is not None:
            # a diverged run: an x where it leaves the plot (values above `top` are clipped)
            above = np.flatnonzero(~(v <= top))
            last = int(above[0]) if above.size else len(v) - 1
            ax.plot(last, top, "x", color=line.get_color(), ms=10, mew=2, clip_on=False)
    if logy:
        ax.set_yscale("log")
        lows = [np.nanmin(_for_log_axis(np.asarray(v))) for v in curves.values() if np.any(np.asarray(v) > 0)]
        ax.set_ylim(max(min(lows), 1e-300) * 0.3, top * 3.0)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out
