"""Synthetic training curves of each symptom, made by running the reference rules.

Used by the doctor's tests and by ``ravine doctor --demo``.  Each entry is
``Curve(name, expected, loss, val, how)``: ``expected`` is the doctor's key
that should fire (``None`` = a clean curve, "no symptom").
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import rules
from ..objectives import build
from .race import race_objective, run_rule, safe_value

__all__ = ["Curve", "symptom_curves", "write_csvs"]


class Curve(NamedTuple):
    name: str
    expected: str | None
    loss: np.ndarray
    val: np.ndarray | None
    how: str


def _losses(rule_name: str, objective: str, start: tuple[float, float], *, lr: float, beta: float, steps: int) -> np.ndarray:
    """f along the reference rule's path; NaN from the first non-finite step on."""
    if objective == "saddle":
        ob = race_objective("saddle").objective
    else:
        ob = build({"kind": objective})
    with np.errstate(over="ignore", invalid="ignore"):
        path, bad = run_rule(rules.VARIANTS[rule_name].factory(lr, beta), np.array(start, dtype=float), ob.grad, steps)
    loss = np.array([safe_value(ob.f, p) for p in path])
    if bad is not None:
        loss = np.concatenate([loss, np.full(steps + 1 - loss.size, np.nan)])
    return loss


def _least_squares_curves(rule_name: str, *, lr: float, beta: float, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch GD on noisy over-parameterised least squares: train and validation MSE per step.

    40 training points, 60 features whose scales decay geometrically, targets =
    a sparse signal + noise.  Early steps fit the large-scale signal (both curves
    fall); later steps fit the training noise in the small-scale directions
    (validation climbs).  The training loss is 1/2n |Xw - y|^2.
    """
    rng = np.random.default_rng([seed, 13])
    n, n_val, d = 40, 400, 60
    scales = np.geomspace(1.0, 0.05, d)
    w_true = np.zeros(d)
    w_true[:5] = rng.normal(size=5)
    X = rng.normal(size=(n, d)) * scales
    Xv = rng.normal(size=(n_val, d)) * scales
    y = X @ w_true + 0.5 * rng.normal(size=n)
    yv = Xv @ w_true + 0.5 * rng.normal(size=n_val)

    def grad(w: np.ndarray) -> np.ndarray:
        return X.T @ (X @ w - y) / n

    path, _ = run_rule(rules.VARIANTS[rule_name].factory(lr, beta), np.zeros(d), grad, steps)
    train = 0.5 * np.mean((path @ X.T - y) ** 2, axis=1)
    val = 0.5 * np.mean((path @ Xv.T - yv) ** 2, axis=1)
    return train, val


def symptom_curves(*, seed: int = 0) -> list[Curve]:
    """One or more curves per symptom, plus clean curves; all deterministic given ``seed``."""
    out: list[Curve] = []
    add = out.append
    add(Curve("nan-sgd-lr-too-high", "nan",
              _losses("sgd", "ravine", (1.0, 1.0), lr=0.5, beta=0.0, steps=300), None,
              "SGD, lr=0.5 on the ravine (lr*lambda_max = 50 >> 2): overflows to inf/NaN"))
    add(Curve("explode-sgd-lr-just-too-high", "nan",
              _losses("sgd", "ravine", (1.0, 1.0), lr=0.021, beta=0.0, steps=200), None,
              "SGD, lr=0.021 on the ravine (just above 2/100): finite but exploding"))
    add(Curve("oscillation-sgd-rosenbrock", "oscillation",
              _losses("sgd", "rosenbrock", (-1.2, 1.0), lr=0.003, beta=0.0, steps=3000), None,
              "SGD (no momentum), lr=0.003 on Rosenbrock's curved ravine: settles into a 2-cycle"))
    add(Curve("oscillation-low-momentum-rosenbrock", "oscillation",
              _losses("momentum", "rosenbrock", (-1.2, 1.0), lr=0.003, beta=0.1, steps=3000), None,
              "momentum beta=0.1 (too low), lr=0.003 on Rosenbrock"))
    add(Curve("plateau-sgd-saddle", "plateau",
              _losses("sgd", "saddle", (1.0, 1e-6), lr=0.05, beta=0.0, steps=600), None,
              "SGD, lr=0.05 from next to the saddle of x^2 + (y^2-1)^2/4: crawls off it"))
    tr, va = _least_squares_curves("momentum", lr=0.02, beta=0.9, steps=1500, seed=seed)
    add(Curve("overfitting-least-squares", "overfitting", tr, va,
              "momentum 0.9, lr=0.02, full-batch GD on over-parameterised noisy least squares (train, val)"))
    add(Curve("slow-sgd-ravine", "slow",
              _losses("sgd", "ravine", (1.0, 10.0), lr=0.002, beta=0.0, steps=300), None,
              "SGD (no momentum), lr=0.002 on the ravine: the flat y direction decays 0.4% per step"))
    # clean curves: the fixes of the lecture applied to the same problems
    add(Curve("clean-momentum-saddle", None,
              _losses("momentum", "saddle", (1.0, 1e-6), lr=0.05, beta=0.9, steps=600), None,
              "the plateau fixed: momentum beta=0.9, same lr=0.05, same start next to the saddle"))
    add(Curve("clean-momentum-rosenbrock", None,
              _losses("momentum", "rosenbrock", (-1.2, 1.0), lr=0.003, beta=0.9, steps=3000), None,
              "the oscillations fixed: momentum raised to beta=0.9, same lr=0.003, converges"))
    add(Curve("clean-momentum-ravine", None,
              _losses("momentum", "ravine", (1.0, 10.0), lr=0.002, beta=0.9, steps=300), None,
              "the slow run fixed: momentum beta=0.9, same lr=0.002"))
    add(Curve("clean-nesterov-ravine", None,
              _losses("nesterov", "ravine", (1.0, 10.0), lr=0.012, beta=0.9, steps=300), None,
              "Nesterov beta=0.9, lr=0.012 on the ravine"))
    add(Curve("clean-sgd-isotropic", None,
              _losses("sgd", "isotropic", (1.0, -2.0), lr=0.3, beta=0.0, steps=100), None,
              "SGD lr=0.3 on a round bowl: the easy case"))
    tr, va = _least_squares_curves("momentum", lr=0.02, beta=0.9, steps=25, seed=seed)
    add(Curve("clean-least-squares-stopped-early", None, tr, va,
              "the overfitting run stopped early (25 steps): train and val both still falling"))
    rng = np.random.default_rng([seed, 17])
    t = np.arange(400)
    noisy = 0.3 + 2.0 * np.exp(-t / 60.0)
    add(Curve("clean-noisy-decay", None, noisy * (1.0 + 0.02 * rng.standard_normal(t.size)), None,
              "exponential decay to a floor of 0.3 with 2% multiplicative noise (a minibatch-like curve)"))
    return out


def write_csvs(out_dir: Path, *, seed: int = 0) -> list[Path]:
    """Write each curve as ``NAME.csv`` (header ``step,loss`` or ``step,train_loss,val_loss``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for c in symptom_curves(seed=seed):
        if c.val is None:
            lines = ["step,loss"] + [f"{i},{float(v)!r}" for i, v in enumerate(c.loss)]
        else:
            lines = ["step,train_loss,val_loss"] + [
                f"{i},{float(a)!r},{float(b)!r}" for i, (a, b) in enumerate(zip(c.loss, c.val))
            ]
        path = out_dir / f"{c.name}.csv"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":  # python -m solvers.lab.curves OUT_DIR
    if len(sys.argv) != 2:
        print("usage: python -m solvers.lab.curves OUT_DIR", file=sys.stderr)
        raise SystemExit(2)
    for p in write_csvs(Path(sys.argv[1])):
        print(p)
