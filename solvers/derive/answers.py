"""The lecture's final formulas in their textbook form, with symbols and assumptions.

These are the reference answers the problem bank imports.  Each one names the
derivation (and the key in its ``results``) that derives it; the test suite
holds every entry equal to what its derivation produces, so an answer here
is never a bare claim.

Usage::

    from solvers.derive.answers import ANSWERS, get
    a = get("effective_lr")       # Answer
    a.expr                        # lr/(1 - beta)
    a.symbols                     # (lr, beta)
    a.assumptions                 # ("lr > 0", "0 <= beta < 1")
    a.evaluate(lr=0.01, beta=0.9) # 0.1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy as sp

from .symbols import B, beta, epsilon, g, kappa, lam, lambda_max, lambda_min, lr, n, sigma, t

__all__ = ["Answer", "ANSWERS", "get", "names"]

g_t, g_prev = sp.symbols("g_t g_{t-1}", real=True)
_a, _b = sp.symbols("a b", positive=True)

_LR = "lr > 0"
_BETA = "0 <= beta < 1"
_SPEC = "0 < lambda_min <= lambda_max (Hessian eigenvalues), kappa = lambda_max/lambda_min"


@dataclass(frozen=True)
class Answer:
    name: str
    expr: Any
    assumptions: tuple[str, ...]
    derivation: str
    description: str

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        free: set[sp.Symbol] = getattr(self.expr, "free_symbols", set())
        return tuple(sorted(free, key=str))

    def evaluate(self, **values: float) -> Any:
        """Numeric value with the given symbol values (by symbol name); a float, or a matrix as nested lists."""
        subs = {s: values[s.name] for s in self.symbols if s.name in values}
        missing = [s.name for s in self.symbols if s.name not in values]
        if missing:
            raise KeyError(f"answer {self.name!r} needs values for {', '.join(missing)}")
        value = sp.sympify(self.expr).subs(subs)
        if isinstance(value, sp.MatrixBase):
            return [[float(v) for v in row] for row in value.tolist()]
        return float(value)


def _ans(name: str, expr: Any, derivation: str, description: str, *assumptions: str) -> Answer:
    return Answer(name, expr, tuple(assumptions), derivation, description)


_SQK = (sp.sqrt(kappa) - 1) / (sp.sqrt(kappa) + 1)

ANSWERS: dict[str, Answer] = {
    a.name: a
    for a in [
        _ans("stable_lr", 2 / lambda_max, "stable-lr", "largest stable lr of GD on 1/2 x^T H x (lr < this)",
             _LR, _SPEC),
        _ans("slow_contraction", 1 - 2 / kappa, "stable-lr", "slow direction's factor at lr = 2/lambda_max", _SPEC),
        _ans("iterations_to_epsilon", sp.log(epsilon) / sp.log(1 - 2 / kappa), "stable-lr",
             "steps to shrink the slow error by epsilon at lr = 2/lambda_max", _SPEC, "0 < epsilon < 1", "kappa > 2"),
        _ans("iterations_to_epsilon_approx", kappa / 2 * sp.log(1 / epsilon), "stable-lr",
             "large-kappa estimate of the step count", _SPEC, "0 < epsilon < 1"),
        _ans("optimal_fixed_lr", 2 / (lambda_min + lambda_max), "stable-lr", "best fixed lr of GD", _SPEC),
        _ans("optimal_fixed_rate", (kappa - 1) / (kappa + 1), "stable-lr", "GD's rate at the optimal fixed lr",
             _SPEC),
        _ans("heavy_ball_region_upper", 2 * (1 + beta), "heavy-ball",
             "heavy ball on a quadratic is stable iff 0 < lr*lam < this", _LR, _BETA, "lam > 0"),
        _ans("heavy_ball_root_modulus", sp.sqrt(beta), "heavy-ball", "root modulus in the oscillating regime",
             _BETA),
        _ans("polyak_beta", _SQK**2, "heavy-ball", "Polyak's optimal momentum", _SPEC),
        _ans("polyak_lr", 4 / (sp.sqrt(lambda_max) + sp.sqrt(lambda_min)) ** 2, "heavy-ball", "Polyak's optimal lr",
             _SPEC),
        _ans("polyak_rate", _SQK, "heavy-ball", "heavy ball's rate with Polyak's tuning (quadratics only)", _SPEC),
        _ans("nesterov_effective_momentum", beta * (1 - lr * lam), "heavy-ball",
             "Nesterov on a quadratic = heavy ball with this momentum, per eigen-direction", _LR, _BETA),
        _ans("nesterov_region_upper", 2 * (1 + beta) / (1 + 2 * beta), "heavy-ball",
             "Nesterov on a quadratic is stable iff 0 < lr*lam < this", _LR, _BETA, "lam > 0"),
        _ans("velocity_t", g * (1 - beta**t) / (1 - beta), "terminal-velocity", "velocity after t steps of constant g",
             _BETA, "v_0 = 0"),
        _ans("terminal_velocity", g / (1 - beta), "terminal-velocity", "limit of the velocity under constant g",
             _BETA),
        _ans("effective_lr", lr / (1 - beta), "terminal-velocity", "step per unit gradient at terminal velocity",
             _LR, _BETA),
        _ans("effective_memory", 1 / (1 - beta), "terminal-velocity", "mean age in steps of the gradients in the velocity (weights beta^k normalized, newest = 1); numerically "
             "equal to the amplification 1/(1-beta), a different quantity", _BETA),
        _ans("effective_lr_table", sp.Matrix([1, 2, 10, 20, 100]), "terminal-velocity",
             "lr multiplier for beta = 0, 0.5, 0.9, 0.95, 0.99"),
        _ans("nesterov_correction", -lr * beta * (g_t - g_prev), "nesterov-correction",
             "Nesterov's position correction on top of momentum at the look-ahead point", _LR, _BETA,
             "g_t = grad f(y_t), y_t = x_t - lr beta v_t, g_{-1} = 0"),
        _ans("nesterov_velocity_extra", beta * (g_t - g_prev), "nesterov-correction",
             "the extra term in the velocity: d_t = beta d_{t-1} + g_t + beta (g_t - g_{t-1})", _BETA),
        _ans("p_minimum_toy", 2**-n, "saddles", "P(minimum) with n independent eigenvalue signs (lecture's toy)",
             "n >= 1"),
        _ans("p_minimum_goe_2", (2 - sp.sqrt(2)) / 4, "saddles", "P(both eigenvalues > 0) for a 2x2 GOE matrix"),
        _ans("across_amplitude", _a / (1 + beta), "worked-tables",
             "long-run velocity swing from a gradient flipping between +-a", _BETA),
        _ans("along_velocity", _b / (1 - beta), "worked-tables", "long-run velocity from a steady gradient b", _BETA),
        _ans("minibatch_variance", sigma**2 / B, "linear-scaling", "variance of a size-B minibatch mean", "B >= 1"),
        _ans("noise_scale", lr * sigma**2 / B, "linear-scaling", "SGD noise per unit time (keep lr/B fixed)", _LR),
        _ans("sgd_stationary_variance", lr * sigma**2 / (B * lam * (2 - lr * lam)), "linear-scaling",
             "SGD's stationary variance on lam/2 x^2 with minibatch noise", "0 < lr*lam < 2"),
        _ans("p1_stable_lr", sp.Rational(1, 50), "p1", "P1 (lambda_max = 100): lr < 0.02"),
        _ans("p1_iterations", sp.Integer(684), "p1", "P1: steps to shrink the slow error by 1e-6 at lr = 0.02"),
        _ans("p3_escape_factor", 1 / (1 - beta), "p3", "momentum's speed-up escaping a saddle (small lr)", _BETA),
        _ans("p6_ratio", sp.Integer(10), "p6", "effective-lr factor when beta goes 0.9 -> 0.99"),
        _ans("p6_new_lr", lr / 10, "p6", "the lr that keeps the effective lr at beta = 0.99", _LR),
        _ans("quiz_answer", sp.Symbol("b"), "quiz", "the oscillating ResNet: (b) ravine + step too large",
             "b is the option label of a multiple-choice question"),
    ]
}


def names() -> list[str]:
    return list(ANSWERS)


def get(name: str) -> Answer:
    try:
        return ANSWERS[name]
    except KeyError:
        raise KeyError(f"unknown answer {name!r}; known: {', '.join(ANSWERS)}") from None
