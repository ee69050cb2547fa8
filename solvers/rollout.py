"""The one rollout loop, shared by the reference rules and student code.

This module is a *leaf*: it imports only the standard library and numpy, and
nothing of ravine.  The grader's child process loads it by file path (not as
``solvers.rollout``) so that student code running beside it cannot reach the
reference rules through our own imports.

An update rule is a pair of pure functions (the optax shape)::

    init(x0)                  -> state
    step(x, state, grad_fn)   -> (x_new, state_new)

Hyper-parameters (lr, beta) are bound by a factory.  ``rollout`` runs a rule
for a number of steps and records the *positions* x_0, x_1, ..., x_T, which is
what the grader compares: any velocity convention that yields the same
positions is correct.

Conventions of the student contract (the lecture's, = ``torch.optim.SGD``):

* ``sgd_step(x, grad_fn, lr) -> x_new``
* ``momentum_step(x, v, grad_fn, lr, beta) -> (x_new, v_new)`` with
  v <- beta*v + grad(x); x <- x - lr*v; v starts at zero.
* ``nesterov_step(x, v, grad_fn, lr, beta) -> (x_new, v_new)`` with
  v <- beta*v + grad(x - lr*beta*v); x <- x - lr*v.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple


def a_or_an(name: str) -> str:
    """A type name with its article, as said aloud: 'an ndarray', 'an int', 'a tuple', 'a uint8'."""
    low = name.lower()
    vowel = low[:1] in ("a", "e", "i", "o") or (low[:1] == "u" and not low.startswith(("uint", "uni", "use")))
    return f"{'an' if vowel or low.startswith('nd') else 'a'} {name}"

import numpy as np

__all__ = [
    "Vector",
    "GradFn",
    "Rule",
    "ContractError",
    "NonFiniteError",
    "rollout",
    "student_rule",
    "STUDENT_SIGNATURES",
]

Vector = np.ndarray
GradFn = Callable[[Vector], Vector]


class Rule(NamedTuple):
    """An update rule: ``init(x0) -> state`` and ``step(x, state, grad_fn) -> (x, state)``."""

    init: Callable[[Vector], Any]
    step: Callable[[Vector, Any, GradFn], tuple[Vector, Any]]


class ContractError(Exception):
    """The function broke the published contract (arity, shape, type)."""


class NonFiniteError(Exception):
    """The trajectory produced NaN or inf.

    ``step`` is the first bad step (1-based); ``partial`` holds the finite
    positions x_0 .. x_{step-1}.
    """

    def __init__(self, step: int, message: str, partial: np.ndarray | None = None):
        super().__init__(message)
        self.step = step
        self.partial = partial


# The published student signatures, used by the adapter and by the contract
# messages.  Names of the functions map to (kind, signature text).
STUDENT_SIGNATURES: dict[str, str] = {
    "sgd_step": "sgd_step(x, grad_fn, lr) -> x_new",
    "momentum_step": "momentum_step(x, v, grad_fn, lr, beta) -> (x_new, v_new)",
    "nesterov_step": "nesterov_step(x, v, grad_fn, lr, beta) -> (x_new, v_new)",
}


def _as_vector(value: Any, *, like: Vector, what: str) -> Vector:
    """Convert a returned value to a float64 vector shaped like ``like`` or raise ContractError."""
    if value is None:
        raise ContractError(f"{what} is None (did you forget `return`?)")
    if isinstance(value, (str, bytes, dict, set)):
        raise ContractError(f"{what} has type {type(value).__name__}, expected a numpy array")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ContractError(
            f"{what} has type {type(value).__name__} that is not a numeric array ({exc})"
        ) from None
    if arr.shape != like.shape:
        raise ContractError(f"{what} has shape {arr.shape}, expected {like.shape}")
    return arr.copy()


def student_rule(function: str, fn: Callable[..., Any], *, lr: float, beta: float = 0.0) -> Rule:
    """Wrap a student function with a published signature into the rule shape.

    The adapter hands the student *copies* of x and v, so a function that updates
    its arguments in place cannot corrupt the recorded trajectory.
    """
    if function == "sgd_step":

        def init(x0: Vector) -> None:
            return None

        def step(x: Vector, state: None, grad_fn: GradFn) -> tuple[Vector, None]:
            out = fn(x.copy(), grad_fn, lr)
            return _as_vector(out, like=x, what="sgd_step's return value"), None

        return Rule(init, step)

    if function in ("momentum_step", "nesterov_step"):

        def init_v(x0: Vector) -> Vector:
            return np.zeros_like(x0)

        def step_v(x: Vector, v: Vector, grad_fn: GradFn) -> tuple[Vector, Vector]:
            out = fn(x.copy(), v.copy(), grad_fn, lr, beta)
            if not isinstance(out, (tuple, list)):
                raise ContractError(
                    f"{function} returned {a_or_an(type(out).__name__)}, expected a tuple (x_new, v_new)"
                )
            if len(out) != 2:
                raise ContractError(
                    f"{function} returned {len(out)} values, expected 2: (x_new, v_new)"
                )
            x_new = _as_vector(out[0], like=x, what=f"{function}'s x_new")
            v_new = _as_vector(out[1], like=v, what=f"{function}'s v_new")
            return x_new, v_new

        return Rule(init_v, step_v)

    raise KeyError(f"no student signature for {function!r}")


def rollout(rule: Rule, x0: Vector, grad_fn: GradFn, steps: int) -> np.ndarray:
    """Run ``rule`` for ``steps`` steps from ``x0``; return positions, shape (steps+1, d).

    Raises NonFiniteError at the first step whose position is NaN or inf.
    """
    x = np.array(x0, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x0 must be 1-D, got shape {x.shape}")
    traj = np.empty((steps + 1, x.size), dtype=np.float64)
    traj[0] = x
    state = rule.init(x.copy())
    for t in range(1, steps + 1):
        x, state = rule.step(x.copy(), state, grad_fn)
        x = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise NonFiniteError(
                t, f"the position became non-finite (NaN or inf) at step {t}", traj[:t].copy()
            )
        traj[t] = x
    return traj
