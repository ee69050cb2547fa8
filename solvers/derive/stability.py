"""Derivation 1: the largest stable learning rate of gradient descent, and what it costs."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import objectives, rules
from .core import Derivation, Domain, Simulation, SimulationResult, Step
from .derivation_registry import register
from .symbols import epsilon, kappa, lam, lambda_max, lambda_min, lr, t, x

__all__ = ["stable_lr", "simulate_gd_edge", "simulate_optimal_fixed_lr"]

X = sp.Function("x")
x0, xt, xnext = sp.symbols("x_0 x_t x_{t+1}", real=True)
f_sym, grad_sym, grad_t, r_slow, K, theta = sp.symbols("f f'(x) f'(x_t) r_slow K theta", real=True)
lr_opt, rate, K_approx, K_e = sp.symbols("lr_opt rate K_approx K_e", positive=True)


def simulate_gd_edge(*, factor_below: float = 0.99, factor_above: float = 1.01, steps: int = 400) -> SimulationResult:
    """GD (solvers.rules.sgd) on the lecture's ravine 1/2(100 x^2 + y^2) just below / above 2/lambda_max."""
    obj = objectives.build({"kind": "ravine"})
    lr_edge = 2.0 / float(obj.spectrum()[-1])
    x_start = np.array([1.0, 1.0])
    below = rules.trajectory("sgd", x_start, obj.grad, lr=factor_below * lr_edge, beta=0.0, steps=steps)
    above = rules.trajectory("sgd", x_start, obj.grad, lr=factor_above * lr_edge, beta=0.0, steps=steps)
    nb, na = float(np.linalg.norm(below[-1])), float(np.linalg.norm(above[-1]))
    ok = nb < 1e-1 and na > 1e1
    return SimulationResult(
        ok,
        f"2/lambda_max = {lr_edge:g}; after {steps} steps |x| = {nb:.3g} at {factor_below}x (converging), "
        f"{na:.3g} at {factor_above}x (diverging)",
        {"lr_edge": lr_edge, "norm_below": nb, "norm_above": na},
    )


def simulate_optimal_fixed_lr(*, steps: int = 200) -> SimulationResult:
    """At lr = 2/(lambda_min+lambda_max) the error shrinks by (kappa-1)/(kappa+1) per step."""
    obj = objectives.build({"kind": "ravine"})
    eigs = obj.spectrum()
    lmin, lmax = float(eigs[0]), float(eigs[-1])
    traj = rules.trajectory("sgd", np.array([1.0, 1.0]), obj.grad, lr=2 / (lmin + lmax), beta=0.0, steps=steps)
    observed = float((np.linalg.norm(traj[-1]) / np.linalg.norm(traj[-101])) ** (1 / 100))
    kap = lmax / lmin
    predicted = (kap - 1) / (kap + 1)
    ok = abs(observed - predicted) < 1e-6
    return SimulationResult(
        ok,
        f"observed contraction per step {observed:.8f}, predicted (kappa-1)/(kappa+1) = {predicted:.8f}",
        {"observed": float(observed), "predicted": predicted},
    )


def _pythagoras(e: sp.Expr) -> sp.Expr:
    """Expand and use sin^2 = 1 - cos^2 (much faster than simplify on the rotated matrix)."""
    return sp.factor(sp.expand(sp.expand(e).subs(sp.sin(theta) ** 2, 1 - sp.cos(theta) ** 2)))


_gap = sp.Symbol("d", positive=True)


def _binding_bound(cond: sp.Boolean) -> sp.Boolean:
    """Keep the smallest of the upper bounds lr < b_i: b_i is dropped when SymPy proves b_i - b_j > 0
    for another bound b_j, writing lambda_max = lambda_min + d with d > 0 (the domain's ordering)."""
    bounds = [a.rhs for a in (cond.args if isinstance(cond, sp.And) else (cond,))
              if isinstance(a, sp.StrictLessThan) and a.lhs == lr]
    keep = [b for b in bounds
            if not any(sp.factor(sp.together((b - o).subs(lambda_max, lambda_min + _gap))).is_positive
                       for o in bounds if o != b)]
    return sp.And(*[lr < b for b in keep])


@register("stable-lr")
def stable_lr() -> Derivation:
    I2 = sp.eye(2)
    Q = sp.Matrix([[sp.cos(theta), -sp.sin(theta)], [sp.sin(theta), sp.cos(theta)]])
    H = Q * sp.diag(lambda_min, lambda_max) * Q.T
    steps = [
        Step(sp.Eq(f_sym, lam * x**2 / 2), "the 1-D model: a quadratic with curvature lam > 0", rel="given"),
        Step(sp.Eq(grad_sym, lam * x), "differentiate", via=lambda e: sp.Eq(grad_sym, sp.diff(e.rhs, x))),
        Step(sp.Eq(xnext, xt - lr * grad_t), "gradient descent: x_{t+1} = x_t - lr f'(x_t)",
             rel="given", label="gd"),
        Step(sp.Eq(xnext, xt - lr * lam * xt), "substitute f'(x_t) = lam x_t",
             via=lambda e: e.subs(grad_t, lam * xt)),
        Step(sp.Eq(xnext, (1 - lr * lam) * xt), "factor out x_t", label="recurrence"),
        Step(sp.Eq(X(t), x0 * (1 - lr * lam) ** t), "solve the linear recurrence with x(0) = x_0 (rsolve)",
             via=lambda e: sp.Eq(X(t), sp.rsolve(X(t + 1) - (1 - lr * lam) * X(t), X(t), {X(0): x0}))),
        Step(sp.Abs(1 - lr * lam) < 1, "r^t x_0 -> 0 for every x_0 iff |r| < 1 (r = 1 - lr*lam)", rel="given",
             label="abs-condition"),
        Step(sp.And(0 < lr, lr < 2 / lam), "solve |1 - lr*lam| < 1 for lr > 0 (reduce_inequalities)", rel="<=>",
             via=lambda e: sp.reduce_inequalities([e], lr), label="1d"),
        Step(sp.Matrix(H), "the quadratic 1/2 x^T H x with H = Q diag(lambda_min, lambda_max) Q^T, Q a rotation",
             rel="given", label="H"),
        Step(sp.diag(1 - lr * lambda_min, 1 - lr * lambda_max),
             "in the eigenbasis z = Q^T x the GD matrix I - lr H is diagonal: one 1-D problem per eigen-direction",
             via=lambda h: (Q.T * (I2 - lr * h) * Q).applyfunc(_pythagoras)),
        Step(sp.And(sp.Abs(1 - lr * lambda_min) < 1, sp.Abs(1 - lr * lambda_max) < 1),
             "stable iff every eigen-direction is stable (each diagonal factor has modulus < 1)", rel="<=>",
             via=lambda m: sp.And(*[sp.Abs(m[i, i]) < 1 for i in range(m.rows)])),
        Step(sp.And(lr < 2 / lambda_min, lr < 2 / lambda_max), "solve each |1 - lr*lambda_i| < 1", rel="<=>",
             via=lambda e: sp.reduce_inequalities(list(e.args), lr)),
        Step(lr < 2 / lambda_max, "2/lambda is decreasing, so the binding bound is the largest eigenvalue: "
             "2/lambda_min - 2/lambda_max = 2 d/(lambda_min (lambda_min + d)) > 0 with lambda_max = lambda_min + d",
             rel="<=>", via=_binding_bound, label="stable"),
        Step(sp.Eq(r_slow, 1 - lr * lambda_min), "the slow direction's contraction factor", rel="given",
             label="r-slow"),
        Step(sp.Eq(r_slow, 1 - 2 * lambda_min / lambda_max), "at the largest stable lr = 2/lambda_max",
             via=lambda e: e.subs(lr, 2 / lambda_max)),
        Step(sp.Eq(r_slow, 1 - 2 / kappa), "condition number kappa = lambda_max/lambda_min",
             via=lambda e: e.subs(lambda_max, kappa * lambda_min), label="slow-factor"),
        Step(sp.Eq((1 - 2 / kappa) ** K, epsilon), "K steps shrink the slow error by the factor epsilon",
             rel="given"),
        Step(sp.Eq(K, sp.log(epsilon) / sp.log(1 - 2 / kappa)), "solve for K (take logarithms)",
             via=lambda e: sp.Eq(K, sp.solve(e, K)[0]), label="K"),
        Step(sp.Eq(K_approx, kappa / 2 * sp.log(1 / epsilon)),
             "large kappa: keep the leading term of the series -ln(1 - 2/kappa) = 2/kappa + 2/kappa^2 + ...",
             via=lambda e: sp.Eq(K_approx, sp.log(epsilon) / sp.series(sp.log(1 - 2 / kappa), kappa, sp.oo, 2)
                                 .removeO())),
        Step(sp.Eq(sp.Limit(K / (kappa / 2 * sp.log(1 / epsilon)), kappa, sp.oo), 1),
             "and the ratio of the exact count to the estimate tends to 1", against="K",
             via=lambda e: sp.Eq(sp.Limit(K / (kappa / 2 * sp.log(1 / epsilon)), kappa, sp.oo),
                                 sp.expand_log(sp.limit(e.rhs / (kappa / 2 * sp.log(1 / epsilon)), kappa, sp.oo),
                                               force=True))),
        Step(sp.Eq(1 - lr * lambda_min, -(1 - lr * lambda_max)),
             "optimal fixed lr: max |1 - lr*lambda| over [lambda_min, lambda_max] sits at an end; "
             "it is smallest where the two ends balance", rel="given"),
        Step(sp.Eq(lr_opt, 2 / (lambda_min + lambda_max)), "solve for lr",
             via=lambda e: sp.Eq(lr_opt, sp.solve(e, lr)[0]), label="lr-opt"),
        Step(sp.Eq(rate, 1 - lr_opt * lambda_min), "its contraction factor, from the slow end", rel="given"),
        Step(sp.Eq(rate, (lambda_max - lambda_min) / (lambda_max + lambda_min)), "substitute lr_opt",
             via=lambda e: e.subs(lr_opt, 2 / (lambda_min + lambda_max))),
        Step(sp.Eq(rate, (kappa - 1) / (kappa + 1)), "divide by lambda_min (kappa = lambda_max/lambda_min)",
             via=lambda e: e.subs(lambda_max, kappa * lambda_min), label="rate-opt"),
        Step(sp.Eq(r_slow, 1 - lambda_min / lambda_max), "the cautious step lr = 1/lambda_max instead",
             against="r-slow", via=lambda e: e.subs(lr, 1 / lambda_max)),
        Step(sp.Eq((1 - lambda_min / lambda_max) ** K_e, sp.exp(-1)),
             "K_e steps shrink the slow error by the factor e", rel="given"),
        Step(sp.Eq(K_e, lambda_max / lambda_min),
             "take logarithms with ln(1 - x) ~ -x for x = lambda_min/lambda_max: about kappa steps per factor e",
             via=lambda e: sp.Eq(K_e, sp.log(e.rhs) / sp.series(sp.log(e.lhs.base), lambda_min, 0, 2).removeO())),
    ]
    return Derivation(
        name="stable-lr",
        title="Stable learning rate of gradient descent",
        summary="GD on 1/2 lam x^2 is stable iff 0 < lr < 2/lam; on 1/2 x^T H x iff lr < 2/lambda_max; "
        "slow-direction factor 1 - 2/kappa, K ~ kappa/2 ln(1/epsilon) steps; optimal fixed lr 2/(lambda_min+lambda_max).",
        steps=steps,
        domain=Domain(
            boxes={lr: (1e-3, 3.0), lam: (0.05, 5.0), lambda_min: (0.05, 3.0), lambda_max: (0.05, 6.0),
                   kappa: (2.5, 1e3), epsilon: (1e-9, 0.5), theta: (-3.2, 3.2)},
            constraints=(lambda_min < lambda_max,),
            text=("lr > 0", "lam > 0", "0 < lambda_min <= lambda_max", "kappa = lambda_max/lambda_min > 2",
                  "0 < epsilon < 1"),
        ),
        convention="x_{t+1} = x_t - lr * grad f(x_t); lambda are the Hessian eigenvalues.",
        answer="Stable iff 0 < lr < 2/lambda_max. At lr = 2/lambda_max the slow direction contracts by "
        "1 - 2/kappa per step, so shrinking its error by epsilon takes K = ln(epsilon)/ln(1 - 2/kappa) ~ "
        "kappa/2 ln(1/epsilon) steps (in practice lr must sit just below 2/lambda_max: at the edge the steep "
        "direction flips sign without shrinking). The best fixed lr balances both ends: 2/(lambda_min+lambda_max), "
        "contraction (kappa-1)/(kappa+1).",
        results={
            "stable_lr": 2 / lambda_max,
            "slow_contraction": 1 - 2 / kappa,
            "iterations_to_epsilon": sp.log(epsilon) / sp.log(1 - 2 / kappa),
            "iterations_to_epsilon_approx": kappa / 2 * sp.log(1 / epsilon),
            "optimal_fixed_lr": 2 / (lambda_min + lambda_max),
            "optimal_fixed_rate": (kappa - 1) / (kappa + 1),
            "steps_per_efold": lambda_max / lambda_min,
        },
        simulations=[
            Simulation("gd-edge", "GD on 1/2(100x^2 + y^2) at 0.99 and 1.01 times 2/lambda_max", simulate_gd_edge),
            Simulation("optimal-fixed-lr", "GD at lr = 2/(lambda_min+lambda_max) on the ravine",
                       simulate_optimal_fixed_lr),
        ],
        figures=["stability"],
        sources=["Goh, 'Why Momentum Really Works' (2017), section 'Gradient descent'",
                 "Nocedal & Wright, Numerical Optimization, ch. 3"],
    )
