"""The loss-curve doctor: the lecture's debugging table as simple, documented statistics.

Input: a training-loss curve ``loss[0..n-1]`` (one value per step or epoch) and
optionally a validation-loss curve of the same length.  Each symptom of the
lecture's table has one test; all thresholds live in ``Thresholds``.

``nan``          loss -> NaN.  Fires when a value is NaN/inf, or when the loss
                 explodes: the last value is >= ``explode_factor`` x the first
                 (the run is heading for NaN).
``oscillation``  loss oscillates (+-), a stable zig-zag.  On the last half of the
                 curve, with d_t = L_{t+1} - L_t (zeros dropped): the share of
                 successive changes that flip sign (up-down-up...) is >= ``osc_flips``
                 and at least 2/3 + 4 standard errors (independent noise on a
                 smooth trend flips 2/3 of the time; the standard error of that
                 share over m pairs is sqrt(2/9/m)); the median |d| is >=
                 ``osc_amplitude`` x the median loss of that half; and the half
                 has not converged to ~0 (median >= ``zero_level`` x max |loss|).
``plateau``      loss plateaus for hundreds of steps.  The longest stretch whose
                 values stay within ``plateau_tol`` x (max - min of the whole
                 curve) lasts >= ``plateau_steps`` points, and *afterwards* the
                 loss falls by >= ``plateau_drop`` x that range below the
                 stretch (a flat end with no later drop is convergence).
``overfitting``  loss drops then climbs.  Checked on the validation curve when
                 given (else on the single curve), after a moving average over
                 n/50 points: the minimum lies before the last ``climb_tail``
                 fraction of the curve, the curve first fell by >= ``climb_drop``
                 x its range, and at the end it is >= ``climb_rise`` (10 %) above
                 its minimum (and the rise is >= 2 % of the fall).
``slow``         training slower than expected.  On the last quarter: >= 90 %
                 of the steps go down (it is still improving steadily), its
                 decrease in log(loss) is >= half that of the quarter before
                 (not flattening out), and at that pace one more factor of 10
                 would take more steps than the whole run so far.  With a
                 reference curve (a run known to be fine, the lecture's "Keras
                 example"), both after a moving average over n/50 points: the
                 reference first reaches this run's final loss within
                 ``slow_ref_fraction`` (half) of the steps this run needed to
                 first reach it.  Not reported
                 together with ``overfitting`` (there, a training loss that keeps
                 falling is part of the overfitting picture).

Causes and fixes are the lecture's table.  Several symptoms can fire; they
are listed in the order above (the first is the likeliest culprit).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

__all__ = ["LECTURE_TABLE", "Thresholds", "Finding", "Diagnosis", "diagnose"]

# key -> (symptom, likely cause, fix), from the lecture's "Common symptoms and fixes".
LECTURE_TABLE: dict[str, tuple[str, str, str]] = {
    "nan": (
        "Loss -> NaN (or explodes)",
        "LR too high, fp16 overflow",
        "halve the learning rate until the loss stays finite; in fp16, use loss scaling / gradient clipping",
    ),
    "oscillation": (
        "Loss oscillates (+-)",
        "ravine + momentum too low",
        "raise momentum (beta = 0.9); if it still zig-zags, lower the learning rate",
    ),
    "plateau": (
        "Loss plateaus for hundreds of steps",
        "stuck near a saddle",
        "raise momentum (beta = 0.9): its memory carries the iterate through flat saddle regions",
    ),
    "overfitting": (
        "Loss drops then climbs",
        "overfitting (not the optimizer)",
        "add weight decay, lower the learning rate, stop early at the best validation step",
    ),
    "slow": (
        "Training slower than expected (than a Keras example)",
        "no momentum",
        "add momentum=0.9 (effective step lr/(1-beta) = 10 lr; lower lr if it then oscillates)",
    ),
}


@dataclass(frozen=True)
class Thresholds:
    explode_factor: float = 10.0
    osc_flips: float = 0.8
    osc_amplitude: float = 0.01
    zero_level: float = 1e-8
    plateau_tol: float = 0.01
    plateau_steps: int = 100
    plateau_drop: float = 0.1
    climb_tail: float = 0.1
    climb_drop: float = 0.1
    climb_rise: float = 0.1
    slow_down_fraction: float = 0.9
    slow_ref_fraction: float = 0.5
    min_points: int = 8


@dataclass(frozen=True)
class Finding:
    key: str
    symptom: str
    cause: str
    fix: str
    evidence: str
    curve: str


@dataclass(frozen=True)
class Diagnosis:
    n: int
    findings: tuple[Finding, ...]
    stats: dict[str, float | int | None] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, object]:
        return {"n": self.n, "healthy": self.healthy, "findings": [asdict(f) for f in self.findings], "stats": self.stats}

    def render(self) -> str:
        lines = [f"{self.n} points read."]
        if self.healthy:
            lines.append("no symptom: none of the lecture's symptoms was found.")
        for i, f in enumerate(self.findings, 1):
            lines += [
                f"{i}. symptom: {f.symptom}  [{f.curve}]",
                f"   evidence: {f.evidence}",
                f"   likely cause: {f.cause}",
                f"   fix: {f.fix}",
            ]
        return "\n".join(lines)


def _finding(key: str, evidence: str, curve: str) -> Finding:
    s, c, f = LECTURE_TABLE[key]
    return Finding(key, s, c, f, evidence, curve)


def _check_nan(loss: np.ndarray, th: Thresholds) -> str | None:
    bad = np.flatnonzero(~np.isfinite(loss))
    if bad.size:
        return f"first non-finite value ({loss[bad[0]]}) at index {bad[0]} (0-based) of {loss.size}"
    first, last = float(loss[0]), float(loss[-1])
    if first > 0 and last >= th.explode_factor * first:
        return f"the loss grew from {first:.3g} to {last:.3g} (x{last / first:.3g} >= x{th.explode_factor:g})"
    return None


def _check_oscillation(loss: np.ndarray, th: Thresholds) -> tuple[str | None, float | None]:
    half = loss[loss.size // 2 :]
    d = np.diff(half)
    d = d[d != 0]
    level = float(np.median(np.abs(half)))
    if d.size < th.min_points or level < th.zero_level * float(np.max(np.abs(loss))):
        return None, None
    m = d.size - 1
    flips = float(np.mean(d[1:] * d[:-1] < 0))
    needed = max(th.osc_flips, 2.0 / 3.0 + 4.0 * math.sqrt(2.0 / 9.0 / m))
    amp = float(np.median(np.abs(d))) / level
    if flips >= needed and amp >= th.osc_amplitude:
        return (
            f"last half: {100 * flips:.0f}% of successive changes flip sign (noise alone gives ~67%; "
            f"needed {100 * needed:.0f}%), typical swing {100 * amp:.1f}% of the loss",
            flips,
        )
    return None, flips


def _check_plateau(loss: np.ndarray, th: Thresholds) -> tuple[str | None, int]:
    """Longest window [a, b) with max - min <= tol that is followed by a drop (two pointers + deques)."""
    rng = float(loss.max() - loss.min())
    if rng <= 0:
        return None, 0
    tol = th.plateau_tol * rng
    suffix_min = np.minimum.accumulate(loss[::-1])[::-1]  # suffix_min[i] = min(loss[i:])
    lo: deque[int] = deque()
    hi: deque[int] = deque()
    a = 0
    best: tuple[int, int] | None = None
    for b, v in enumerate(loss):
        while lo and loss[lo[-1]] >= v:
            lo.pop()
        lo.append(b)
        while hi and loss[hi[-1]] <= v:
            hi.pop()
        hi.append(b)
        while loss[hi[0]] - loss[lo[0]] > tol:
            a += 1
            if lo[0] < a:
                lo.popleft()
            if hi[0] < a:
                hi.popleft()
        end = b + 1
        if end < loss.size and loss[lo[0]] - suffix_min[end] >= th.plateau_drop * rng:
            if best is None or end - a > best[1] - best[0]:
                best = (a, end)
    if best is None:
        return None, 0
    a, b = best
    length = b - a
    if length < th.plateau_steps:
        return None, length
    level = float(np.mean(loss[a:b]))
    return (
        f"flat for {length} points (index {a} to {b - 1}, within {100 * th.plateau_tol:g}% of the curve's range) "
        f"at {level:.3g}, then falls to {float(suffix_min[b]):.3g}",
        length,
    )


def _moving_average(c: np.ndarray, w: int) -> np.ndarray:
    if w <= 1:
        return c
    return np.convolve(c, np.ones(w) / w, mode="valid")


def _check_climb(curve: np.ndarray, th: Thresholds) -> str | None:
    n = curve.size
    w = max(1, n // 50)
    c = _moving_average(curve, w)
    i = int(np.argmin(c))
    if i >= (1.0 - th.climb_tail) * (c.size - 1):
        return None
    rng = float(c.max() - c.min())
    fall = float(c[: i + 1].max() - c[i])
    rise = float(c[-1] - c[i])
    if rng > 0 and fall >= th.climb_drop * rng and rise >= th.climb_rise * abs(float(c[i])) and rise >= 0.02 * fall:
        where = i + (w - 1) // 2
        return (
            f"minimum {c[i]:.3g} near index {where} of {n}, then climbs to {c[-1]:.3g} "
            f"(+{100 * rise / abs(float(c[i])):.0f}%)" + (f"; moving average of {w} points" if w > 1 else "")
        )
    return None


def _check_slow(loss: np.ndarray, th: Thresholds) -> tuple[str | None, float | None]:
    q = loss.size // 4
    if q < th.min_points or np.any(loss[-2 * q :] <= 0):
        return None, None
    q3, q4 = loss[-2 * q - 1 : -q], loss[-q - 1 :]
    down = float(np.mean(np.diff(q4) < 0))
    drop4 = math.log(q4[0] / q4[-1])
    drop3 = math.log(q3[0] / q3[-1])
    if drop4 <= 0:
        return None, None
    per_decade = math.log(10.0) * q / drop4
    if down >= th.slow_down_fraction and drop4 >= 0.5 * drop3 and per_decade > loss.size:
        return (
            f"still falling steadily at the end ({100 * down:.0f}% of the last quarter's steps go down, "
            f"not flattening), but one more factor of 10 would take ~{per_decade:.0f} more points "
            f"(the run has {loss.size})",
            per_decade,
        )
    return None, per_decade


def _check_slow_vs_reference(loss: np.ndarray, ref: np.ndarray, th: Thresholds) -> tuple[str | None, int | None]:
    """Slow if the reference first reaches this run's final level in <= slow_ref_fraction of the steps this run took.

    Both curves are smoothed (moving average over n/50 points); the level is the
    run's final smoothed loss, and "took" is the run's own first step at that level
    (so a run compared with itself is never slow, even if it converged early).
    """
    w, wr = max(1, loss.size // 50), max(1, ref.size // 50)
    sm, sr = _moving_average(loss, w), _moving_average(ref, wr)
    target = float(sm[-1])
    t_run = int(np.flatnonzero(sm <= target)[0]) + (w - 1) // 2
    hit = np.flatnonzero(sr <= target)
    if not hit.size:
        return None, None
    t_ref = int(hit[0]) + (wr - 1) // 2
    if t_run > 0 and t_ref <= th.slow_ref_fraction * t_run:
        return (
            f"the reference curve reaches this run's final loss {target:.3g} at step {t_ref}; this run got there "
            f"at step {t_run} ({t_run / max(t_ref, 1):.1f}x as many; moving averages over n/50 points)",
            t_ref,
        )
    return None, t_ref


def diagnose(
    loss: Sequence[float],
    *,
    val: Sequence[float] | None = None,
    reference: Sequence[float] | None = None,
    thresholds: Thresholds = Thresholds(),
    names: tuple[str, str] = ("loss", "validation"),
) -> Diagnosis:
    """Recognise the lecture's symptoms in a loss curve (and an optional validation curve).

    ``reference``: a loss curve of a run known to train well (the "Keras
    example"); when given, "slow" compares against it instead of judging the
    curve's shape alone.
    """
    L = np.asarray(loss, dtype=np.float64)
    th = thresholds
    if L.ndim != 1 or L.size < th.min_points:
        raise ValueError(f"need at least {th.min_points} loss values, got {L.size}")
    V = None if val is None else np.asarray(val, dtype=np.float64)
    if V is not None and V.shape != L.shape:
        raise ValueError(f"validation curve has {V.size} values, the loss curve {L.size}")
    R = None if reference is None else np.asarray(reference, dtype=np.float64)
    if R is not None and (R.ndim != 1 or R.size < th.min_points or not np.all(np.isfinite(R))):
        raise ValueError(f"the reference curve needs at least {th.min_points} finite values")
    findings: list[Finding] = []
    stats: dict[str, float | int | None] = {}
    name, vname = names

    curves = [(name, L)] + ([(vname, V)] if V is not None else [])
    broken = False
    for cname, c in curves:
        ev = _check_nan(c, th)
        if ev:
            findings.append(_finding("nan", ev, cname))
            broken = broken or cname == name
    if broken:  # the other statistics mean nothing on an exploding curve
        return Diagnosis(L.size, tuple(findings), stats)

    with np.errstate(over="ignore", invalid="ignore"):  # losses near the float limit: inf ranges, no warnings
        return _diagnose_finite(L, V, R, th, findings, stats, name, vname)


def _diagnose_finite(
    L: np.ndarray,
    V: np.ndarray | None,
    R: np.ndarray | None,
    th: Thresholds,
    findings: list[Finding],
    stats: dict[str, float | int | None],
    name: str,
    vname: str,
) -> Diagnosis:
    ev, stats["flip_fraction"] = _check_oscillation(L, th)
    if ev:
        findings.append(_finding("oscillation", ev, name))
    ev, stats["plateau_points"] = _check_plateau(L, th)
    if ev:
        findings.append(_finding("plateau", ev, name))
    target_name, target = (vname, V) if V is not None and np.all(np.isfinite(V)) else (name, L)
    ev = _check_climb(target, th)
    if ev:
        if target is V:
            i = int(np.argmin(_moving_average(V, max(1, V.size // 50)))) + (max(1, V.size // 50) - 1) // 2
            if L[-1] < L[i]:
                ev += f"; meanwhile the {name} keeps falling ({L[i]:.3g} -> {L[-1]:.3g})"
        else:
            ev += " (a training loss that climbs is not overfitting: suspect the learning rate)"
        findings.append(_finding("overfitting", ev, target_name))
    if R is not None:
        ev, stats["reference_steps"] = _check_slow_vs_reference(L, R, th)
    else:
        ev, stats["points_per_decade"] = _check_slow(L, th)
    # a training loss still falling while validation climbs is overfitting's signature, not slowness
    if ev and not any(f.key == "overfitting" for f in findings):
        findings.append(_finding("slow", ev, name))
    return Diagnosis(L.size, tuple(findings), stats)
