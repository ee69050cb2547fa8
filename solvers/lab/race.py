"""The optimizer race: SGD, momentum, Nesterov and Adam from one start with one lr.

Trajectories come from the reference rules (``solvers.rules``) and the one
rollout loop (``solvers.rollout.rollout``); Adam is added here in the same
Rule shape, for contrast (the lecture's race has it), not as a reference rule.

Race objectives (2-D, all with minimum value 0 so the loss fits a log axis):

* ``ravine``     -- f = 1/2 (100 x^2 + y^2), the lecture's ravine
* ``rosenbrock`` -- f = (1 - x)^2 + 100 (y - x^2)^2, a curved ravine (exercise P4)
* ``saddle``     -- f = x^2 + (y^2 - 1)^2 / 4: a saddle at the origin (f = 1/4,
  Hessian diag(2, -1)) between two minima at (0, +-1).  The bare x^2 - y^2 of
  ``solvers.objectives`` has no minimum, so its loss cannot go on a log axis.
* ``quadratic``  -- 1/2 x^T H x with H of eigenvalues 50 and 1, rotated by 30 degrees

Conventions: the race's ``beta`` is the momentum coefficient of momentum and
Nesterov and Adam's beta1; Adam's beta2 = 0.999, eps = 1e-8.  The same ``lr``
is used for all racers (Adam's step is about lr per coordinate regardless of
the gradient's size, which is why it looks so different).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np

from ..objectives import Objective, build
from ..rollout import GradFn, NonFiniteError, Rule, Vector, rollout
from .. import rules

__all__ = [
    "AdamState",
    "adam",
    "RaceObjective",
    "RACE_OBJECTIVES",
    "RACERS",
    "RaceResult",
    "race_objective",
    "race",
    "run_rule",
    "safe_value",
]


class AdamState(NamedTuple):
    t: int
    m: Vector
    s: Vector


def adam(lr: float, beta: float = 0.9, *, beta2: float = 0.999, eps: float = 1e-8) -> Rule:
    """Adam (Kingma & Ba 2015) in the Rule shape; ``beta`` is beta1.

    m <- beta m + (1-beta) g;  s <- beta2 s + (1-beta2) g^2;
    x <- x - lr * (m / (1-beta^t)) / (sqrt(s / (1-beta2^t)) + eps),  t = 1, 2, ...
    """
    if not 0.0 <= beta < 1.0 or not 0.0 <= beta2 < 1.0:
        raise ValueError(f"adam: beta1 and beta2 must lie in [0, 1), got {beta}, {beta2}")

    def init(x0: Vector) -> AdamState:
        return AdamState(0, np.zeros_like(x0), np.zeros_like(x0))

    def step(x: Vector, state: AdamState, grad_fn: GradFn) -> tuple[Vector, AdamState]:
        g = grad_fn(x)
        t = state.t + 1
        m = beta * state.m + (1.0 - beta) * g
        s = beta2 * state.s + (1.0 - beta2) * g * g
        m_hat = m / (1.0 - beta**t)
        s_hat = s / (1.0 - beta2**t)
        return x - lr * m_hat / (np.sqrt(s_hat) + eps), AdamState(t, m, s)

    return Rule(init, step)


# name -> factory (lr, beta) -> Rule; the order is the legend's order.
RACERS: dict[str, Callable[[float, float], Rule]] = {
    "sgd": rules.sgd,
    "momentum": rules.momentum,
    "nesterov": rules.nesterov,
    "adam": adam,
}


@dataclass(frozen=True)
class RaceObjective:
    """A 2-D objective with the race's defaults and a plotting window."""

    name: str
    objective: Objective
    start: tuple[float, float]
    lr: float
    beta: float
    steps: int
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    note: str


def _saddle_with_floor() -> Objective:
    def f(p: Vector) -> float:
        x, y = float(p[0]), float(p[1])
        return x * x + 0.25 * (y * y - 1.0) ** 2

    def grad(p: Vector) -> Vector:
        x, y = float(p[0]), float(p[1])
        return np.array([2.0 * x, y * (y * y - 1.0)])

    return Objective("saddle", 2, f, grad)


def _rotated_quadratic() -> list[list[float]]:
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    q = np.array([[c, -s], [s, c]])
    return (q @ np.diag([50.0, 1.0]) @ q.T).tolist()


def race_objective(name: str) -> RaceObjective:
    """The race objective called ``name`` (one of ``RACE_OBJECTIVES``)."""
    if name == "ravine":
        return RaceObjective(
            "ravine", build({"kind": "ravine"}), (1.0, 10.0), 0.012, 0.9, 150,
            (-1.6, 1.6), (-4.0, 11.0), ((0.0, 0.0),),
            "f = (100 x^2 + y^2)/2; the stiff x caps lr (SGD: 2/100, Nesterov beta=0.9: 0.0136), so SGD crawls along y",
        )
    if name == "rosenbrock":
        return RaceObjective(
            "rosenbrock", build({"kind": "rosenbrock"}), (-1.2, 1.0), 0.001, 0.9, 1000,
            (-2.0, 2.0), (-1.0, 3.0), ((1.0, 1.0),),
            "f = (1-x)^2 + 100 (y-x^2)^2; a curved ravine, minimum at (1, 1)",
        )
    if name == "saddle":
        return RaceObjective(
            "saddle", _saddle_with_floor(), (1.0, 1e-4), 0.05, 0.9, 300,
            (-1.2, 1.2), (-1.5, 1.5), ((0.0, 1.0), (0.0, -1.0)),
            "f = x^2 + (y^2-1)^2/4; saddle at the origin, minima at (0, +-1)",
        )
    if name == "quadratic":
        return RaceObjective(
            "quadratic", build({"kind": "quadratic", "name": "quadratic", "H": _rotated_quadratic()}),
            (2.0, 1.5), 0.025, 0.9, 150,
            (-2.5, 2.5), (-2.5, 2.5), ((0.0, 0.0),),
            "f = x^T H x / 2, eigenvalues 50 and 1, axes rotated by 30 degrees",
        )
    raise ValueError(f"unknown race objective {name!r}; choose one of {', '.join(RACE_OBJECTIVES)}")


RACE_OBJECTIVES: tuple[str, ...] = ("ravine", "rosenbrock", "saddle", "quadratic")


def run_rule(rule: Rule, x0: Vector, grad_fn: GradFn, steps: int) -> tuple[np.ndarray, int | None]:
    """Positions from the one rollout loop, and the first non-finite step (or None).

    On divergence the finite part of the path is returned: the rollout is
    deterministic, so it is rerun for the steps before the first bad one.
    """
    try:
        return rollout(rule, x0, grad_fn, steps), None
    except NonFiniteError as exc:
        return rollout(rule, x0, grad_fn, exc.step - 1), exc.step


def safe_value(f: Callable[[Vector], float], x: Vector) -> float:
    """f(x), with inf where float arithmetic overflows (a far-diverged but finite x)."""
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            v = float(f(x))
        except OverflowError:
            return float("inf")
    return v if np.isfinite(v) else float("inf")


@dataclass(frozen=True)
class RaceResult:
    objective: RaceObjective
    lr: float
    beta: float
    steps: int
    start: tuple[float, float]
    paths: Mapping[str, np.ndarray]
    losses: Mapping[str, np.ndarray]
    diverged_at: Mapping[str, int | None] = field(default_factory=dict)

    def summary(self) -> list[str]:
        """One line per racer: final loss, or the step it diverged at."""
        lines = []
        for name, loss in self.losses.items():
            bad = self.diverged_at.get(name)
            if bad is not None:
                lines.append(f"{name:9s} diverged (non-finite position at step {bad})")
            else:
                lines.append(f"{name:9s} final loss {loss[-1]:.3e} after {len(loss) - 1} steps")
        return lines


def race(
    objective: str = "ravine",
    *,
    lr: float | None = None,
    beta: float | None = None,
    steps: int | None = None,
    start: Sequence[float] | None = None,
    racers: Sequence[str] = tuple(RACERS),
) -> RaceResult:
    """Run each racer from the same start with the same lr; None means the objective's default."""
    ro = race_objective(objective)
    lr = ro.lr if lr is None else float(lr)
    beta = ro.beta if beta is None else float(beta)
    steps = ro.steps if steps is None else int(steps)
    x0 = np.array(ro.start if start is None else start, dtype=np.float64)
    if not lr > 0 or not np.isfinite(lr):
        raise ValueError(f"lr must be a positive number, got {lr}")
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must lie in [0, 1), got {beta}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if x0.shape != (2,) or not np.all(np.isfinite(x0)):
        raise ValueError("start must be two finite numbers, got " + " ".join(f"{float(v):g}" for v in np.ravel(x0)))
    unknown = [r for r in racers if r not in RACERS]
    if unknown:
        raise ValueError(f"unknown racer(s) {unknown}; choose from {', '.join(RACERS)}")
    paths: dict[str, np.ndarray] = {}
    losses: dict[str, np.ndarray] = {}
    diverged: dict[str, int | None] = {}
    f = ro.objective.f
    for name in racers:
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported, not warned
            path, bad = run_rule(RACERS[name](lr, beta), x0, ro.objective.grad, steps)
        loss = np.array([safe_value(f, p) for p in path])
        paths[name], losses[name], diverged[name] = path, loss, bad
    return RaceResult(ro, lr, beta, steps, (float(x0[0]), float(x0[1])), paths, losses, diverged)
