"""Objectives the checks and the figures use, built from small JSON-able specs.

A *leaf* module (stdlib and numpy only), loaded by file path in the grader's
child process: the child rebuilds the same objective from the same spec
instead of receiving a 1000 x 1000 matrix over a pipe.

Spec kinds (``{"kind": ..., ...}``):

* ``ravine``      -- the lecture's ravine f = 1/2 (100 x^2 + y^2)
* ``isotropic``   -- f = c/2 |x|^2 in ``d`` dimensions
* ``quad1d``      -- f = a/2 x^2
* ``saddle``      -- f = x^2 - y^2
* ``rosenbrock``  -- f = (a - x)^2 + b (y - x^2)^2
* ``quadratic``   -- f = 1/2 x^T H x with an explicit (small) matrix ``H``
* ``spectral``    -- f = 1/2 x^T H x, H = Q diag(eigs) Q^T, Q a product of
  random Householder reflections drawn from ``seed``.  Exact spectrum, O(d k)
  per gradient, so d = 1000 costs nothing; ``eigs`` may be given, or drawn
  log-uniformly in [lam_min, lam_max] from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

__all__ = ["Objective", "build", "spectral_eigs"]

Vector = np.ndarray


@dataclass(frozen=True)
class Objective:
    name: str
    dim: int
    f: Callable[[Vector], float]
    grad: Callable[[Vector], Vector]
    # Eigenvalues of the Hessian when it is constant (quadratics), else None.
    eigs: np.ndarray | None = None
    hessian: Callable[[], np.ndarray] | None = None

    def spectrum(self) -> np.ndarray:
        """``eigs`` (ascending), for a caller that knows the objective is quadratic.

        ValueError, naming the objective, when its Hessian is not constant.
        """
        if self.eigs is None:
            raise ValueError(f"objective {self.name!r} has no constant Hessian, so no fixed eigenvalues")
        return self.eigs


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _quadratic(name: str, H: np.ndarray) -> Objective:
    H = _readonly(np.array(H, dtype=np.float64))
    eigs = np.linalg.eigvalsh(H)
    return Objective(
        name=name,
        dim=H.shape[0],
        f=lambda x: 0.5 * float(x @ H @ x),
        grad=lambda x: H @ np.asarray(x, dtype=np.float64),
        eigs=_readonly(eigs),
        hessian=lambda: H.copy(),
    )


def spectral_eigs(d: int, seed: int, lam_min: float, lam_max: float) -> np.ndarray:
    """Eigenvalues drawn log-uniformly in [lam_min, lam_max], with both ends present."""
    rng = np.random.default_rng([seed, 1])
    eigs = np.exp(rng.uniform(np.log(lam_min), np.log(lam_max), size=d))
    if d >= 2:
        eigs[0], eigs[-1] = lam_min, lam_max
    return eigs


def _spectral(spec: Mapping[str, Any]) -> Objective:
    d = int(spec["d"])
    seed = int(spec["seed"])
    if "eigs" in spec:
        eigs = np.array(spec["eigs"], dtype=np.float64)
        if eigs.shape != (d,):
            raise ValueError(f"spectral: eigs has shape {eigs.shape}, expected ({d},)")
    else:
        eigs = spectral_eigs(d, seed, float(spec["lam_min"]), float(spec["lam_max"]))
    k = int(spec.get("reflections", 3))
    rng = np.random.default_rng([seed, 2])
    us = rng.standard_normal((k, d))
    us /= np.linalg.norm(us, axis=1, keepdims=True)
    eigs = _readonly(eigs)
    us = _readonly(us)

    def q(x: Vector) -> Vector:  # Q x, Q = R_1 R_2 ... R_k
        y = np.array(x, dtype=np.float64)
        for u in us[::-1]:
            y -= 2.0 * u * (u @ y)
        return y

    def qt(x: Vector) -> Vector:  # Q^T x = R_k ... R_1 x
        y = np.array(x, dtype=np.float64)
        for u in us:
            y -= 2.0 * u * (u @ y)
        return y

    def grad(x: Vector) -> Vector:
        return q(eigs * qt(x))

    def hessian() -> np.ndarray:
        cols = [grad(e) for e in np.eye(d)]
        H = np.array(cols).T
        return 0.5 * (H + H.T)

    return Objective(
        name=str(spec.get("name", f"spectral-d{d}")),
        dim=d,
        f=lambda x: 0.5 * float(np.asarray(x) @ grad(x)),
        grad=grad,
        eigs=np.sort(eigs),
        hessian=hessian,
    )


def build(spec: Mapping[str, Any]) -> Objective:
    """Build an objective from its spec; raises ValueError on an unknown kind."""
    kind = spec.get("kind")
    if kind == "ravine":
        return _quadratic("ravine", np.diag([100.0, 1.0]))
    if kind == "isotropic":
        d = int(spec.get("d", 2))
        return _quadratic("isotropic", float(spec.get("c", 1.0)) * np.eye(d))
    if kind == "quad1d":
        return _quadratic("quad1d", np.array([[float(spec.get("a", 1.0))]]))
    if kind == "quadratic":
        return _quadratic(str(spec.get("name", "quadratic")), np.array(spec["H"], dtype=float))
    if kind == "saddle":
        return _quadratic("saddle", np.diag([2.0, -2.0]))
    if kind == "rosenbrock":
        a = float(spec.get("a", 1.0))
        b = float(spec.get("b", 100.0))

        def f(p: Vector) -> float:
            x, y = float(p[0]), float(p[1])
            return (a - x) ** 2 + b * (y - x * x) ** 2

        def grad(p: Vector) -> Vector:
            x, y = float(p[0]), float(p[1])
            return np.array([-2.0 * (a - x) - 4.0 * b * x * (y - x * x), 2.0 * b * (y - x * x)])

        return Objective("rosenbrock", 2, f, grad)
    if kind == "spectral":
        return _spectral(spec)
    raise ValueError(f"unknown objective kind {kind!r}")
