"""The lecture's final formulas, with their assumptions and a description.

Each answer names the derivation whose ``results`` hold it under the same key;
the formula itself is read from there (stated once, in the derivation, where
every step is checked), so an answer here is never a bare claim.  The problem
bank's reference texts are generated from the same results
(``problems/_references.py``).

Usage::

    from solvers.derive.final_formulas import ANSWERS, get
    a = get("effective_lr")       # Answer
    a.expr                        # lr/(1 - beta)
    a.symbols                     # (lr, beta)
    a.assumptions                 # ("lr > 0", "0 <= beta < 1")
    a.evaluate(lr=0.01, beta=0.9) # 0.1
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sympy as sp

__all__ = ["Answer", "ANSWERS", "get", "names"]

_LR = "lr > 0"
_BETA = "0 <= beta < 1"
_SPEC = "0 < lambda_min <= lambda_max (Hessian eigenvalues), kappa = lambda_max/lambda_min"


@dataclass(frozen=True)
class Answer:
    name: str
    assumptions: tuple[str, ...]
    derivation: str
    description: str

    @property
    def expr(self) -> Any:
        """The formula, as the derivation ``derivation`` derives it under the key ``name``."""
        results = _results(self.derivation)
        if self.name not in results:
            raise KeyError(f"derivation {self.derivation!r} does not derive {self.name!r}")
        return results[self.name]

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


@functools.lru_cache(maxsize=None)
def _results(derivation: str) -> dict[str, Any]:
    from . import get  # the derivation modules register themselves when the package is imported

    return get(derivation).results


def _ans(name: str, derivation: str, description: str, *assumptions: str) -> Answer:
    return Answer(name, tuple(assumptions), derivation, description)


ANSWERS: dict[str, Answer] = {
    a.name: a
    for a in [
        _ans("stable_lr", "stable-lr", "largest stable lr of GD on 1/2 x^T H x (lr < this)",
             _LR, _SPEC),
        _ans("slow_contraction", "stable-lr", "slow direction's factor at lr = 2/lambda_max", _SPEC),
        _ans("iterations_to_epsilon", "stable-lr",
             "steps to shrink the slow error by epsilon at lr = 2/lambda_max", _SPEC, "0 < epsilon < 1", "kappa > 2"),
        _ans("iterations_to_epsilon_approx", "stable-lr",
             "large-kappa estimate of the step count", _SPEC, "0 < epsilon < 1"),
        _ans("steps_per_efold", "stable-lr", "steps per factor e of the slow error at lr = 1/lambda_max "
             "(ln(1 - x) ~ -x)", _SPEC),
        _ans("optimal_fixed_lr", "stable-lr", "best fixed lr of GD", _SPEC),
        _ans("optimal_fixed_rate", "stable-lr", "GD's rate at the optimal fixed lr",
             _SPEC),
        _ans("heavy_ball_region_upper", "heavy-ball",
             "heavy ball on a quadratic is stable iff 0 < lr*lam < this", _LR, _BETA, "lam > 0"),
        _ans("heavy_ball_root_modulus", "heavy-ball", "root modulus in the oscillating regime",
             _BETA),
        _ans("polyak_beta", "heavy-ball", "Polyak's optimal momentum", _SPEC),
        _ans("polyak_lr", "heavy-ball", "Polyak's optimal lr",
             _SPEC),
        _ans("polyak_rate", "heavy-ball", "heavy ball's rate with Polyak's tuning (quadratics only)", _SPEC),
        _ans("nesterov_effective_momentum", "heavy-ball",
             "Nesterov on a quadratic = heavy ball with this momentum, per eigen-direction", _LR, _BETA),
        _ans("nesterov_region_upper", "heavy-ball",
             "Nesterov on a quadratic is stable iff 0 < lr*lam < this", _LR, _BETA, "lam > 0"),
        _ans("velocity_t", "terminal-velocity", "velocity after t steps of constant g",
             _BETA, "v_0 = 0"),
        _ans("terminal_velocity", "terminal-velocity", "limit of the velocity under constant g",
             _BETA),
        _ans("effective_lr", "terminal-velocity", "step per unit gradient at terminal velocity",
             _LR, _BETA),
        _ans("effective_memory", "terminal-velocity", "mean age in steps of the gradients in the velocity (weights beta^k normalized, newest = 1); numerically "
             "equal to the amplification 1/(1-beta), a different quantity", _BETA),
        _ans("effective_lr_table", "terminal-velocity",
             "lr multiplier for beta = 0, 0.5, 0.9, 0.95, 0.99"),
        _ans("momentum_weight", "terminal-velocity", "weight of the gradient k steps old in the velocity",
             _BETA, "k >= 0"),
        _ans("nesterov_correction", "nesterov-correction",
             "Nesterov's position correction on top of momentum at the look-ahead point", _LR, _BETA,
             "g_t = grad f(y_t), y_t = x_t - lr beta v_t, g_{-1} = 0"),
        _ans("nesterov_velocity_extra", "nesterov-correction",
             "the extra term in the velocity: d_t = beta d_{t-1} + g_t + beta (g_t - g_{t-1})", _BETA),
        _ans("nesterov_direction_from_velocity", "nesterov-correction",
             "the update direction g_t + beta b_{t+1} in terms of b_t (written v_t)", _BETA),
        _ans("p_minimum_toy", "saddles", "P(minimum) with n independent eigenvalue signs (lecture's toy)",
             "n >= 1"),
        _ans("p_saddle_toy", "saddles", "P(saddle) with n independent eigenvalue signs (lecture's toy)",
             "n >= 1"),
        _ans("p_minimum_goe_2", "saddles", "P(both eigenvalues > 0) for a 2x2 GOE matrix"),
        _ans("across_amplitude", "worked-tables",
             "long-run velocity swing from a gradient flipping between +-a", _BETA),
        _ans("along_velocity", "worked-tables", "long-run velocity from a steady gradient b", _BETA),
        _ans("minibatch_variance", "linear-scaling", "variance of a size-B minibatch mean", "B >= 1"),
        _ans("noise_scale", "linear-scaling", "SGD noise per unit time (keep lr/B fixed)", _LR),
        _ans("scaled_lr", "linear-scaling", "the linear scaling rule: lr for a k times larger batch", _LR, "k > 0"),
        _ans("sgd_stationary_variance", "linear-scaling",
             "SGD's stationary variance on lam/2 x^2 with minibatch noise", "0 < lr*lam < 2"),
        _ans("p1_stable_lr", "p1", "P1 (lambda_max = 100): lr < 0.02"),
        _ans("p1_iterations", "p1", "P1: steps to shrink the slow error by 1e-6 at lr = 0.02"),
        _ans("p3_escape_factor", "p3", "momentum's speed-up escaping a saddle (small lr)", _BETA),
        _ans("p6_ratio", "p6", "effective-lr factor when beta goes 0.9 -> 0.99"),
        _ans("p6_new_lr", "p6", "the lr that keeps the effective lr at beta = 0.99", _LR),
        _ans("quiz_answer", "quiz", "the oscillating ResNet: (b) ravine + step too large",
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
