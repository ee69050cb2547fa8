"""Derivation 3: terminal velocity, effective learning rate, effective memory, EMA unrolling."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import rules
from .core import Derivation, Domain, Simulation, SimulationResult, Step
from .derivation_registry import register
from .symbols import beta, g, k, lr, t

__all__ = ["terminal_velocity", "limit_t", "TABLE_BETAS", "simulate_terminal_velocity", "ema_unrolling_steps"]

V = sp.Function("v")
v_inf, dx, lr_eff, memory = sp.symbols("v_inf Delta_x lr_eff memory", real=True)
_a = sp.Symbol("a", positive=True)

TABLE_BETAS = (sp.Integer(0), sp.Rational(1, 2), sp.Rational(9, 10), sp.Rational(95, 100), sp.Rational(99, 100))
N_UNROLL = 6
G = sp.symbols(f"g_0:{N_UNROLL}", real=True)


def limit_t(expr: sp.Expr) -> sp.Expr:
    """lim_{t->oo} for 0 < beta < 1 (SymPy cannot assume beta < 1: write beta = e^{-a}, a > 0)."""
    out = sp.limit(expr.subs(beta, sp.exp(-_a)), t, sp.oo)
    return sp.cancel(out.subs(_a, -sp.log(beta)))


def sum_geometric(expr: sp.Expr) -> sp.Expr:
    """Evaluate the sums in ``expr`` and keep the beta != 1 branch of SymPy's Piecewise."""
    done = expr.doit()
    return done.replace(lambda p: isinstance(p, sp.Piecewise), lambda p: p.args[-1].expr)


def sum_series(expr: sp.Expr) -> sp.Expr:
    """Evaluate infinite sums in ``expr`` and keep SymPy's |beta| < 1 branch (0 <= beta < 1 here)."""
    done = expr.doit()

    def branch(p: sp.Piecewise) -> sp.Expr:
        for e, c in p.args:
            if c == (sp.Abs(beta) < 1) or c == (beta < 1):
                return e
        return p

    return sp.simplify(done.replace(lambda q: isinstance(q, sp.Piecewise), branch))


def simulate_terminal_velocity(*, steps: int = 4000) -> SimulationResult:
    """Heavy ball (solvers.rules.momentum) on f(x) = g x: the step per unit lr*g tends to 1/(1-beta)."""
    grad_const = 0.5
    lr_value = 1e-3
    got = {}
    for b in TABLE_BETAS:
        traj = rules.trajectory("momentum", np.array([0.0]), lambda x: np.array([grad_const]), lr=lr_value,
                                beta=float(b), steps=steps)
        got[f"beta={float(b):g}"] = float((traj[-2, 0] - traj[-1, 0]) / (lr_value * grad_const))
    expected = {f"beta={float(b):g}": 1 / (1 - float(b)) for b in TABLE_BETAS}
    ok = all(abs(got[key] - expected[key]) <= 1e-6 * expected[key] for key in got)
    return SimulationResult(
        ok,
        "step / (lr*g) after " + str(steps) + " steps: "
        + ", ".join(f"{key}: {got[key]:.6g} (1/(1-beta) = {expected[key]:g})" for key in got),
        got,
    )


def ema_unrolling_steps() -> list[Step]:
    """v_t = sum_k beta^(t-1-k) g_k for a generic gradient sequence, expanded for t = 1..N_UNROLL."""

    def recurrence(_: object) -> sp.Matrix:
        v = sp.Integer(0)
        out = []
        for gk in G:
            v = beta * v + gk
            out.append(sp.expand(v))
        return sp.Matrix(out)

    def closed(tt: int) -> sp.Expr:
        return sp.Add(*[beta ** (tt - 1 - j) * G[j] for j in range(tt)])

    gf = sp.Function("g")

    def unrolled(tt: sp.Expr) -> sp.Expr:
        return sp.Sum(beta ** (tt - 1 - k) * gf(k), (k, 0, tt - 1))

    return [
        Step(sp.Eq(V(t + 1), beta * V(t) + gf(t)),
             "generic gradients g_0, g_1, ...: v_{t+1} = beta v_t + g_t, v_0 = 0", rel="given", label="ema-rec"),
        Step(sp.Eq(V(t), unrolled(t)), "claim v_t = sum_{k<t} beta^(t-1-k) g_k; it holds at t = 0 (empty sum, "
             "v_0 = 0). Induction hypothesis:", rel="given", label="hyp"),
        Step(sp.Eq(V(t + 1), beta * unrolled(t) + gf(t)), "insert the hypothesis into the recurrence",
             against="ema-rec", via=lambda e: sp.Eq(e.lhs, e.rhs.subs(V(t), unrolled(t)))),
        Step(sp.Eq(V(t + 1), unrolled(t + 1)), "beta times the sum plus g_t is the same sum one step later: the "
             "claim at t + 1 (induction step)", label="unrolled"),
        Step(sp.Matrix([closed(tt) for tt in range(1, N_UNROLL + 1)]),
             f"cross-check: run the recurrence for t = 1..{N_UNROLL} with symbolic g_0..g_5 and compare with "
             "sum_k beta^(t-1-k) g_k",
             via=recurrence),
        Step(sp.Eq(sp.Symbol("weights_sum"), sp.Sum(beta ** (t - 1 - k), (k, 0, t - 1))),
             "the weights v_t gives g_0..g_{t-1}", rel="given"),
        Step(sp.Eq(sp.Symbol("weights_sum"), (1 - beta**t) / (1 - beta)),
             "sum the geometric series: the weights total (1-beta^t)/(1-beta), so (1-beta) v_t is an exponential "
             "moving average (weights summing to 1 - beta^t -> 1), the EMA form of the lecture",
             via=lambda e: sp.Eq(e.lhs, sum_geometric(e.rhs))),
        Step(sp.Eq(sp.Symbol("w_k"), beta**k), "so the gradient k steps older than the newest (g_{t-k} in v_{t+1}, "
             "the summand at index t - k) enters with weight beta^k", against="unrolled",
             via=lambda e: sp.Eq(sp.Symbol("w_k"), (e.rhs.function / gf(k)).subs(k, t - k))),
    ]


@register("terminal-velocity")
def terminal_velocity() -> Derivation:
    table = sp.Matrix([1, 2, 10, 20, 100])
    steps = [
        Step(sp.Eq(V(t + 1), beta * V(t) + g), "constant gradient g: v_{t+1} = beta v_t + g, v_0 = 0", rel="given",
             label="rec"),
        Step(sp.Eq(V(t), g * sp.Sum(beta**k, (k, 0, t - 1))),
             "unroll: v_t = g + beta g + ... + beta^(t-1) g (checked against the recurrence's solution)",
             via=lambda e: sp.Eq(V(t), sp.rsolve(V(t + 1) - beta * V(t) - g, V(t), {V(0): 0}))),
        Step(sp.Eq(V(t), g * (1 - beta**t) / (1 - beta)), "sum the geometric series (beta != 1)",
             via=lambda e: sp.Eq(e.lhs, sum_geometric(e.rhs)), label="closed"),
        Step(sp.Eq(v_inf, g / (1 - beta)), "beta^t -> 0 for 0 <= beta < 1: terminal velocity",
             via=lambda e: sp.Eq(v_inf, limit_t(e.rhs)), label="v-inf"),
        Step(sp.Eq(dx, -lr * g / (1 - beta)), "the update at terminal velocity: x <- x - lr v",
             via=lambda e: sp.Eq(dx, -lr * e.rhs)),
        Step(sp.Eq(lr_eff, lr / (1 - beta)), "compare with plain SGD's step -lr g: the effective learning rate",
             via=lambda e: sp.Eq(lr_eff, e.rhs / (-g)), label="lr-eff"),
        Step(table, "the lecture's table: beta = 0, 0.5, 0.9, 0.95, 0.99 multiplies lr by",
             via=lambda e: sp.Matrix([(e.rhs / lr).subs(beta, b) for b in TABLE_BETAS])),
        Step(sp.Eq(sp.Symbol("total_weight"), sp.Sum(beta**k, (k, 0, sp.oo))),
             "the total weight the velocity gives past gradients, beta^k to the gradient k steps old: this is the "
             "amplification (the effective lr above), not a length of memory", rel="given"),
        Step(sp.Eq(sp.Symbol("total_weight"), 1 / (1 - beta)), "sum the series (0 <= beta < 1)",
             via=lambda e: sp.Eq(e.lhs, sum_series(e.rhs))),
        Step(sp.Eq(memory, sp.Sum((k + 1) * (1 - beta) * beta**k, (k, 0, sp.oo))),
             "effective memory, a length: the mean age of the gradients in the velocity, with the weights beta^k "
             "normalized to sum 1 ((1 - beta) beta^k) and the newest gradient counted as age 1", rel="given"),
        Step(sp.Eq(memory, 1 / (1 - beta)), "sum the series: 1/(1 - beta) steps (beta = 0.9: 10 steps, 0.99: 100), "
             "the same number as the amplification but a different quantity (counting the newest gradient as "
             "age 0 gives beta/(1 - beta), 9 steps at beta = 0.9)",
             via=lambda e: sp.Eq(memory, sum_series(e.rhs))),
        *ema_unrolling_steps(),
    ]
    return Derivation(
        name="terminal-velocity",
        title="Terminal velocity and the effective learning rate",
        summary="v_t = g(1-beta^t)/(1-beta) -> g/(1-beta); effective lr lr/(1-beta) (1, 2, 10, 20, 100); "
        "memory 1/(1-beta); v_t = sum_k beta^(t-1-k) g_k.",
        steps=steps,
        domain=Domain(boxes={beta: (0.0, 0.999), t: (1, 30), lr: (1e-3, 1.0)}, constraints=(beta < 1,),
                      text=("0 <= beta < 1", "lr > 0", "g constant (first part)", "v_0 = 0")),
        convention="lecture = torch.optim.SGD: v <- beta v + g, x <- x - lr v, v_0 = 0. In the EMA form "
        "v <- beta v + (1-beta) g the terminal velocity is g itself and lr is not amplified.",
        answer="Under a constant gradient the velocity sums a geometric series, v_t = g(1-beta^t)/(1-beta), and "
        "tends to g/(1-beta); each step then moves lr*g/(1-beta), so the effective learning rate is lr/(1-beta): "
        "x1, x2, x10, x20, x100 for beta = 0, 0.5, 0.9, 0.95, 0.99: the weights beta^k sum to 1/(1-beta), and that "
        "total is an amplification. The memory is a length: normalized to sum 1, the weights give the gradients a "
        "mean age of 1/(1-beta) steps (newest = age 1), so the velocity remembers about 1/(1-beta) steps -- the "
        "same number for a different reason.",
        results={
            "terminal_velocity": g / (1 - beta),
            "velocity_t": g * (1 - beta**t) / (1 - beta),
            "effective_lr": lr / (1 - beta),
            "effective_memory": 1 / (1 - beta),
            "effective_lr_table": table,
            "momentum_weight": beta**k,
        },
        simulations=[Simulation("terminal-velocity", "heavy ball on a constant gradient for the table's betas",
                                simulate_terminal_velocity)],
        figures=["terminal-velocity"],
        sources=["PyTorch torch.optim.SGD documentation", "Goh, 'Why Momentum Really Works' (2017)"],
    )
