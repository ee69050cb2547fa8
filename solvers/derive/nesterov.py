"""Derivation 4: Nesterov as momentum plus a gradient correction; torch's iterates are look-ahead points."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import objectives, rules
from .core import Derivation, Domain, Simulation, SimulationResult, Step
from .derivation_registry import register
from .symbols import beta, lr

__all__ = ["nesterov_correction", "nesterov_steps", "simulate_torch_lookahead", "CORRECTION"]

xt, vt, yt, vnext = sp.symbols("x_t v_t y_t v_{t+1}", real=True)
gt, gprev = sp.symbols("g_t g_{t-1}", real=True)
dt, dprev, d0 = sp.symbols("d_t d_{t-1} d_0", real=True)
ynext = sp.Symbol("y_{t+1}", real=True)
corr, extra = sp.symbols("correction velocity_extra", real=True)
N_UNROLL = 5
G = sp.symbols(f"g_0:{N_UNROLL}", real=True)
x0 = sp.Symbol("x_0", real=True)

# The correction term, in the position update (y-coordinates).
CORRECTION = -lr * beta * (gt - gprev)


def _lookahead_positions(_: object) -> sp.Matrix:
    """Run the look-ahead form with generic gradients g_k (at the look-ahead points); return y_1..y_T."""
    x, v = x0, sp.Integer(0)
    out = []
    for gk in G:
        v = beta * v + gk
        x = x - lr * v
        out.append(sp.expand(x - lr * beta * v))
    return sp.Matrix(out)


def _correction_positions() -> sp.Matrix:
    """Run the momentum-plus-correction form with the same g_k from y_0 = x_0; return y_1..y_T."""
    y, d, g_before = x0, sp.Integer(0), sp.Integer(0)
    out = []
    for gk in G:
        d = beta * d + gk + beta * (gk - g_before)
        y = y - lr * d
        g_before = gk
        out.append(sp.expand(y))
    return sp.Matrix(out)


def nesterov_steps() -> list[Step]:
    """The derivation's steps (shared with exercise P5)."""
    definition = sp.Eq(dt, gt + beta * vnext)
    d_t_expanded = sp.Eq(dt, (1 + beta) * gt + beta**2 * vt)
    d_prev_times_beta = sp.Eq(beta * dprev, beta * gprev + beta**2 * vt)
    return [
        Step(sp.Matrix([beta * vt + gt, xt - lr * (beta * vt + gt)]),
             "Nesterov, look-ahead form: g_t = grad f(x_t - lr beta v_t), v_{t+1} = beta v_t + g_t, "
             "x_{t+1} = x_t - lr v_{t+1}  (entries: v_{t+1}, x_{t+1})", rel="given", label="nag"),
        Step(yt - lr * (gt + beta * (beta * vt + gt)),
             "the look-ahead point y_{t+1} = x_{t+1} - lr beta v_{t+1}; substitute x_t = y_t + lr beta v_t",
             via=lambda m: sp.expand((m[1] - lr * beta * m[0]).subs(xt, yt + lr * beta * vt)), label="y-next"),
        Step(yt - lr * (beta * vt + gt) - lr * beta * ((beta * vt + gt) - vt),
             "= a momentum step y_t - lr v_{t+1} (gradient g_t taken at y_t itself) plus the correction "
             "-lr beta (v_{t+1} - v_t)"),
        Step(definition, "define the step direction d_t := g_t + beta v_{t+1}, so y_{t+1} = y_t - lr d_t",
             rel="given", label="d-def"),
        Step(d_t_expanded, "substitute v_{t+1} = beta v_t + g_t", against="d-def",
             via=lambda e: e.subs(vnext, beta * vt + gt), label="d-t"),
        Step(d_prev_times_beta, "the same definition one step earlier (d_{t-1} = g_{t-1} + beta v_t), times beta",
             against="d-def", via=lambda e: sp.Eq(beta * dprev, beta * e.rhs.subs({gt: gprev, vnext: vt}))),
        Step(sp.Eq(dt - beta * dprev, gt + beta * (gt - gprev)), "subtract: valid for every t >= 1",
             via=lambda e: sp.Eq(dt - beta * dprev, d_t_expanded.rhs - e.rhs), label="recurrence"),
        Step(sp.Eq(d0, G[0] + beta * (G[0] - 0)),
             "base case t = 0: v_0 = 0 gives d_0 = (1 + beta) g_0, the recurrence with d_{-1} = g_{-1} = 0",
             against="d-t", via=lambda e: sp.Eq(d0, e.rhs.subs({vt: 0, gt: G[0]}))),
        Step(sp.Matrix([beta * dprev + gt + beta * (gt - gprev), yt - lr * (beta * dprev + gt + beta * (gt - gprev))]),
             "Nesterov = momentum whose velocity gets the extra beta (g_t - g_{t-1}): d_t = beta d_{t-1} + g_t + "
             "beta (g_t - g_{t-1}), y_{t+1} = y_t - lr d_t; in the position the correction is "
             "-lr beta (g_t - g_{t-1})", against="recurrence",
             via=lambda e: sp.Matrix([sp.solve(e, dt)[0], yt - lr * sp.solve(e, dt)[0]]), label="correction-form"),
        Step(sp.Eq(corr, CORRECTION), "the correction: the position update minus the momentum step "
             "y_t - lr (beta d_{t-1} + g_t)", against="correction-form",
             via=lambda m: sp.Eq(corr, m[1] - (yt - lr * (beta * dprev + gt)))),
        Step(sp.Eq(extra, beta * (gt - gprev)), "the same in the velocity: d_t minus beta d_{t-1} + g_t",
             against="correction-form", via=lambda m: sp.Eq(extra, m[0] - (beta * dprev + gt))),
        Step(_correction_positions(),
             f"expand both forms for t = 1..{N_UNROLL} with a generic gradient sequence g_0..g_{N_UNROLL - 1} "
             "(look-ahead form on the left, correction form on the right): the iterates agree",
             via=_lookahead_positions),
        Step(yt - lr * (gt + beta * (beta * vt + gt)),
             "torch.optim.SGD(nesterov=True) on parameters p: buf <- beta buf + grad(p); p <- p - lr (grad(p) + "
             "beta buf). With p = y_t and buf = v_t this is y_{t+1}; both start at y_0 = x_0, buf = v_0 = 0, so "
             "torch's iterates are the look-ahead points", against="y-next"),
    ]


def simulate_torch_lookahead(*, steps: int = 60) -> SimulationResult:
    """torch's form (rules 'nesterov-reparameterized') equals x_t + beta (x_t - x_{t-1}) of the look-ahead form."""
    worst = 0.0
    worst_ref = 0.0
    cases = [({"kind": "ravine"}, 0.015, 0.9, np.array([1.0, 1.0])),
             ({"kind": "rosenbrock"}, 1e-4, 0.9, np.array([-1.0, 1.0]))]
    for spec, lr_value, beta_value, start in cases:
        obj = objectives.build(spec)
        look = rules.trajectory("nesterov-lookahead", start, obj.grad, lr=lr_value, beta=beta_value, steps=steps)
        torch_like = rules.trajectory("nesterov-reparameterized", start, obj.grad, lr=lr_value, beta=beta_value,
                                      steps=steps)
        ref = rules.trajectory("nesterov", start, obj.grad, lr=lr_value, beta=beta_value, steps=steps)
        ahead = look.copy()
        ahead[1:] = look[1:] + beta_value * (look[1:] - look[:-1])  # y_t = x_t - lr beta v_t, v_t = (x_{t-1}-x_t)/lr
        scale = 1.0 + np.abs(look).max()
        worst = max(worst, float(np.abs(torch_like - ahead).max() / scale))
        worst_ref = max(worst_ref, float(np.abs(ref - look).max() / scale))
    ok = worst < 1e-12 and worst_ref < 1e-12
    return SimulationResult(
        ok,
        f"on the ravine and on Rosenbrock, {steps} steps: torch-form iterates vs look-ahead points max rel. "
        f"difference {worst:.1e}; momentum-plus-correction reference vs look-ahead form {worst_ref:.1e}",
        {"torch_vs_lookahead": worst, "correction_vs_lookahead": worst_ref},
    )


@register("nesterov-correction")
def nesterov_correction() -> Derivation:
    return Derivation(
        name="nesterov-correction",
        title="Nesterov as momentum plus a gradient correction",
        summary="In the look-ahead point y = x - lr beta v, Nesterov is momentum at y plus the correction "
        "-lr beta (g_t - g_{t-1}); torch.optim.SGD(nesterov=True) iterates are the look-ahead points.",
        steps=nesterov_steps(),
        domain=Domain(boxes={lr: (1e-3, 2.0), beta: (0.0, 0.999)},
                      text=("lr > 0", "0 <= beta < 1", "g_t: any gradient sequence (g_t is taken at y_t)")),
        convention="lecture (Sutskever et al. 2013): v_{t+1} = beta v_t + grad f(x_t - lr beta v_t), "
        "x_{t+1} = x_t - lr v_{t+1}, v_0 = 0; torch.optim.SGD(nesterov=True) updates the look-ahead point.",
        answer="With y_t = x_t - lr beta v_t and g_t = grad f(y_t): y_{t+1} = y_t - lr d_t with "
        "d_t = beta d_{t-1} + g_t + beta (g_t - g_{t-1}) (d_{-1} = g_{-1} = 0). That is classical momentum at y "
        "plus the gradient-correction term beta (g_t - g_{t-1}) in the velocity, i.e. -lr beta (g_t - g_{t-1}) in "
        "the position: a finite-difference curvature term, -lr beta H (y_t - y_{t-1}) on a quadratic with Hessian H "
        "(where g_t - g_{t-1} = H (y_t - y_{t-1}) exactly), that brakes when the gradient grows. torch's nesterov=True runs exactly this on p = y_t.",
        results={
            "nesterov_correction": CORRECTION,
            "nesterov_velocity_extra": beta * (gt - gprev),
            "nesterov_direction": beta * dprev + gt + beta * (gt - gprev),
            "nesterov_direction_from_velocity": beta**2 * vt + (1 + beta) * gt,
        },
        simulations=[Simulation("torch-lookahead", "torch form vs look-ahead points vs the reference rule",
                                simulate_torch_lookahead)],
        sources=["Sutskever, Martens, Dahl, Hinton, 'On the importance of initialization and momentum' (ICML 2013)",
                 "PyTorch torch.optim.SGD documentation (nesterov=True)", "optax trace(nesterov=True)"],
    )
