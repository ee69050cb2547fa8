"""Reference update rules and their named variants (conventions and mistakes).

Every rule is a factory ``(lr, beta) -> Rule`` (see ``solvers.rollout``).  The
registry ``VARIANTS`` holds each convention and each recognisable mistake as
a named entry, so the grader matches a student trajectory against data, never
against an ad-hoc ``if``.

Conventions (positions x are what is recorded):

* ``sgd``:       x <- x - lr * g(x)
* ``momentum``:  v <- beta v + g(x);  x <- x - lr v      (lecture = torch.optim.SGD)
* ``nesterov``:  computed optax-style as momentum plus one correction, in the
  look-ahead coordinates y = x - lr beta v:
  b <- beta b + g(y);  y <- y - lr (g(y) + beta b), and x = y + lr beta b.
  ``nesterov-lookahead`` is the lecture's literal form
  v <- beta v + g(x - lr beta v);  x <- x - lr v.  A test holds them equal.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .rollout import GradFn, Rule, Vector, rollout

__all__ = [
    "sgd",
    "momentum",
    "nesterov",
    "nesterov_lookahead",
    "Variant",
    "VARIANTS",
    "trajectory",
]


def sgd(lr: float, beta: float = 0.0) -> Rule:
    """Plain gradient descent; ``beta`` is ignored (accepted so every factory has one shape)."""

    def step(x: Vector, state: None, grad_fn: GradFn) -> tuple[Vector, None]:
        return x - lr * grad_fn(x), None

    return Rule(lambda x0: None, step)


def _zeros(x0: Vector) -> Vector:
    return np.zeros_like(x0)


def momentum(lr: float, beta: float) -> Rule:
    """Heavy ball, the lecture's (and torch's) convention: v <- beta v + g; x <- x - lr v."""

    def step(x: Vector, v: Vector, grad_fn: GradFn) -> tuple[Vector, Vector]:
        v = beta * v + grad_fn(x)
        return x - lr * v, v

    return Rule(_zeros, step)


def nesterov(lr: float, beta: float) -> Rule:
    """Nesterov as momentum plus a correction (optax ``trace(nesterov=True)``).

    Internally the iterate is the look-ahead point y and the buffer b; the
    returned position is x = y + lr*beta*b, the lecture's x.
    """

    def step(x: Vector, b: Vector, grad_fn: GradFn) -> tuple[Vector, Vector]:
        y = x - lr * beta * b
        g = grad_fn(y)
        b = beta * b + g
        y = y - lr * (g + beta * b)  # momentum step on y plus the correction lr*beta*g
        return y + lr * beta * b, b

    return Rule(_zeros, step)


def nesterov_lookahead(lr: float, beta: float) -> Rule:
    """The lecture's literal Nesterov: gradient at the look-ahead point x - lr beta v."""

    def step(x: Vector, v: Vector, grad_fn: GradFn) -> tuple[Vector, Vector]:
        v = beta * v + grad_fn(x - lr * beta * v)
        return x - lr * v, v

    return Rule(_zeros, step)


# --- mistakes -------------------------------------------------------------------


def _sgd_ascent(lr: float, beta: float = 0.0) -> Rule:
    return Rule(lambda x0: None, lambda x, s, g: (x + lr * g(x), None))


def _momentum_ema(lr: float, beta: float) -> Rule:
    def step(x: Vector, v: Vector, g: GradFn) -> tuple[Vector, Vector]:
        v = beta * v + (1.0 - beta) * g(x)
        return x - lr * v, v

    return Rule(_zeros, step)


def _momentum_stale(lr: float, beta: float) -> Rule:
    def step(x: Vector, v: Vector, g: GradFn) -> tuple[Vector, Vector]:
        x_new = x - lr * v  # moved with the *old* velocity
        return x_new, beta * v + g(x)

    return Rule(_zeros, step)


def _momentum_ascent(lr: float, beta: float) -> Rule:
    def step(x: Vector, v: Vector, g: GradFn) -> tuple[Vector, Vector]:
        v = beta * v + g(x)
        return x + lr * v, v

    return Rule(_zeros, step)


def _nesterov_lookahead_sign(lr: float, beta: float) -> Rule:
    def step(x: Vector, v: Vector, g: GradFn) -> tuple[Vector, Vector]:
        v = beta * v + g(x + lr * beta * v)
        return x - lr * v, v

    return Rule(_zeros, step)


def _nesterov_reparameterized(lr: float, beta: float) -> Rule:
    """torch.optim.SGD(nesterov=True) applied to x: its iterates are the look-ahead points."""

    def step(x: Vector, b: Vector, g: GradFn) -> tuple[Vector, Vector]:
        gx = g(x)
        b = beta * b + gx
        return x - lr * (gx + beta * b), b

    return Rule(_zeros, step)


def _nesterov_ema(lr: float, beta: float) -> Rule:
    def step(x: Vector, v: Vector, g: GradFn) -> tuple[Vector, Vector]:
        v = beta * v + (1.0 - beta) * g(x - lr * beta * v)
        return x - lr * v, v

    return Rule(_zeros, step)


def _nesterov_ascent(lr: float, beta: float) -> Rule:
    def step(x: Vector, v: Vector, g: GradFn) -> tuple[Vector, Vector]:
        v = beta * v + g(x - lr * beta * v)
        return x + lr * v, v

    return Rule(_zeros, step)


def _nesterov_stale(lr: float, beta: float) -> Rule:
    def step(x: Vector, v: Vector, g: GradFn) -> tuple[Vector, Vector]:
        return x - lr * v, beta * v + g(x - lr * beta * v)

    return Rule(_zeros, step)


class Variant(NamedTuple):
    name: str
    factory: Callable[[float, float], Rule]
    summary: str


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in [
        Variant("sgd", sgd, "x <- x - lr*g(x)"),
        Variant("momentum", momentum, "v <- beta*v + g(x); x <- x - lr*v"),
        Variant("nesterov", nesterov, "momentum plus correction, in look-ahead coordinates"),
        Variant("nesterov-lookahead", nesterov_lookahead, "v <- beta*v + g(x - lr*beta*v); x <- x - lr*v"),
        Variant("sgd-ascent", _sgd_ascent, "x <- x + lr*g(x)"),
        Variant("momentum-ema", _momentum_ema, "v <- beta*v + (1-beta)*g(x); x <- x - lr*v"),
        Variant("momentum-stale", _momentum_stale, "x <- x - lr*v; then v <- beta*v + g(x)"),
        Variant("momentum-ascent", _momentum_ascent, "v <- beta*v + g(x); x <- x + lr*v"),
        Variant("nesterov-lookahead-sign", _nesterov_lookahead_sign, "v <- beta*v + g(x + lr*beta*v); x <- x - lr*v"),
        Variant("nesterov-reparameterized", _nesterov_reparameterized, "b <- beta*b + g(x); x <- x - lr*(g(x) + beta*b)"),
        Variant("nesterov-ema", _nesterov_ema, "v <- beta*v + (1-beta)*g(x - lr*beta*v); x <- x - lr*v"),
        Variant("nesterov-ascent", _nesterov_ascent, "v <- beta*v + g(x - lr*beta*v); x <- x + lr*v"),
        Variant("nesterov-stale", _nesterov_stale, "x <- x - lr*v; then v <- beta*v + g(x - lr*beta*v)"),
    ]
}


def trajectory(variant: str, x0: Vector, grad_fn: GradFn, *, lr: float, beta: float, steps: int) -> np.ndarray:
    """Positions of the named variant, shape (steps+1, d)."""
    return rollout(VARIANTS[variant].factory(lr, beta), x0, grad_fn, steps)
