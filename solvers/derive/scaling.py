"""Derivation 8: the linear scaling rule (minibatch noise ~ 1/B, keep lr/B) and where it stops."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import objectives, rules
from .core import Derivation, Domain, Simulation, SimulationResult, Step
from .derivation_registry import register
from .symbols import B, lam, lr, sigma

__all__ = ["linear_scaling", "stationary_variance", "simulate_scaling"]

i = sp.Symbol("i", integer=True, positive=True)
m = sp.Symbol("m", integer=True, positive=True)
c = sp.Symbol("c", positive=True)
var_gB, temp, V, ratio = sp.symbols("Var_g_B T V_inf ratio", positive=True)
k_batch = sp.Symbol("k", positive=True)  # the batch-size multiplier of the rule
lr_new = sp.Symbol("lr_new", positive=True)


def stationary_variance(lr_value: float, batch: int, lam_value: float, sigma_value: float = 1.0) -> float:
    """lr sigma^2 / (B lam (2 - lr lam)): SGD's stationary variance on lam/2 x^2 with minibatch noise."""
    return lr_value * sigma_value**2 / (batch * lam_value * (2 - lr_value * lam_value))


def simulate_scaling(*, d: int = 200, steps: int = 1500, burn: int = 300, seed: int = 3) -> SimulationResult:
    """(1) B * Var(minibatch mean) ~ sigma^2; (2) SGD's stationary variance, with lr/B fixed, grows as lr*lam -> 2."""
    rng = np.random.default_rng(seed)
    var_ratio = {}
    for batch in (1, 4, 16, 64):
        means = rng.standard_normal((4000, batch)).mean(axis=1)
        var_ratio[batch] = float(batch * means.var())
    obj = objectives.build({"kind": "isotropic", "d": d, "c": 1.0})
    measured = {}
    for lr_value, batch in ((0.05, 1), (0.2, 4), (0.8, 16), (1.6, 32)):
        noise_rng = np.random.default_rng([seed, batch])

        def noisy(xv: np.ndarray, b: int = batch, r: np.random.Generator = noise_rng) -> np.ndarray:
            return obj.grad(xv) + r.standard_normal((b, d)).mean(axis=0)

        traj = rules.trajectory("sgd", np.zeros(d), noisy, lr=lr_value, beta=0.0, steps=steps)
        measured[(lr_value, batch)] = float(traj[burn:].var())
    rows = []
    ok = all(abs(v - 1.0) < 0.1 for v in var_ratio.values())
    for (lr_value, batch), got in measured.items():
        want = stationary_variance(lr_value, batch, 1.0)
        rows.append(f"lr={lr_value:g}, B={batch}: {got:.4f} (formula {want:.4f})")
        ok &= abs(got - want) < 0.1 * want
    return SimulationResult(
        ok,
        "B*Var(minibatch mean) = " + ", ".join(f"{v:.3f} (B={b_})" for b_, v in var_ratio.items())
        + "; SGD stationary variance with lr/B = 0.05 fixed: " + "; ".join(rows),
        {**{f"B_var_{b_}": v for b_, v in var_ratio.items()},
         **{f"var_lr{lr_v:g}_B{b_}": v for (lr_v, b_), v in measured.items()}},
    )


@register("linear-scaling")
def linear_scaling() -> Derivation:
    steps = [
        Step(sp.Eq(var_gB, sp.Sum(sigma**2, (i, 1, B)) / B**2),
             "minibatch gradient g_B = (1/B) sum_i g_i with independent per-example gradients of variance sigma^2: "
             "variances of independent terms add", rel="given"),
        Step(sp.Eq(var_gB, sigma**2 / B), "sum", via=lambda e: sp.Eq(var_gB, e.rhs.doit()), label="var"),
        Step(sp.Eq(temp, (m * lr**2 * var_gB) / (m * lr)),
             "m SGD steps x <- x - lr g_B move the parameters for 'time' m*lr and add noise of variance "
             "m lr^2 Var(g_B): the noise per unit time (temperature)", rel="given"),
        Step(sp.Eq(temp, lr * sigma**2 / B), "substitute Var(g_B) = sigma^2/B: the noise scale depends on lr/B",
             via=lambda e: sp.Eq(temp, sp.cancel(e.rhs.subs(var_gB, sigma**2 / B))), label="T"),
        Step(sp.Eq(temp, lr * sigma**2 / B), "linear scaling: B -> c B with lr -> c lr leaves it unchanged",
             via=lambda e: sp.Eq(temp, e.rhs.subs({lr: c * lr, B: c * B}, simultaneous=True))),
        Step(sp.Eq(V, (1 - lr * lam) ** 2 * V + lr**2 * sigma**2 / B),
             "where it stops: SGD on lam/2 x^2 with this noise, x <- (1 - lr lam) x - lr xi; at stationarity the "
             "variance reproduces itself", rel="given"),
        Step(sp.Eq(V, lr * sigma**2 / (B * lam * (2 - lr * lam))), "solve for V_inf",
             via=lambda e: sp.Eq(V, sp.solve(e, V)[0]), label="V"),
        Step(sp.Eq(ratio, (2 - lr * lam) / (2 - c * lr * lam)),
             "scale lr and B by c: the variance is a function of lr/B only up to the factor 1/(1 - lr lam/2); it "
             "changes once c lr lam is not small, and blows up at c lr lam = 2 (the stability edge)",
             via=lambda e: sp.Eq(ratio, sp.cancel(e.rhs.subs({lr: c * lr, B: c * B}, simultaneous=True) / e.rhs))),
        Step(sp.Eq(lr_new * sigma**2 / (k_batch * B), lr * sigma**2 / B),
             "the rule: batch size B -> k B, and the new lr keeps the noise scale", against="T",
             via=lambda e: sp.Eq(e.rhs.subs({lr: lr_new, B: k_batch * B}, simultaneous=True), e.rhs)),
        Step(sp.Eq(lr_new, k_batch * lr), "solve for the new lr: multiply it by k",
             via=lambda e: sp.Eq(lr_new, sp.solve(e, lr_new)[0])),
    ]
    return Derivation(
        name="linear-scaling",
        title="The linear scaling rule",
        summary="Var(g_B) = sigma^2/B, SGD's noise scale ~ lr sigma^2/B: keep lr/B fixed; fails when lr*lambda_max "
        "is no longer small (stability edge 2), beyond the critical batch size, and early in training.",
        steps=steps,
        domain=Domain(boxes={lr: (1e-3, 1.5), lam: (0.05, 1.2), c: (0.1, 1.0), B: (1, 512)},
                      text=("lr > 0", "lam > 0 and c lr lam < 2 (stable)", "B >= 1", "independent per-example noise")),
        convention="plain SGD x <- x - lr g_B; with momentum, replace lr by the effective lr/(1-beta).",
        answer="Averaging B independent per-example gradients divides the noise variance by B, and SGD's noise per "
        "unit of progress is lr sigma^2/B, so doubling B and doubling lr keeps it: the linear scaling rule "
        "(Goyal et al. 2017). It stops holding (1) when the scaled lr approaches the stability edge "
        "2/lambda_max -- the exact stationary variance lr sigma^2/(B lam (2 - lr lam)) is not a function of lr/B "
        "alone, and diverges there; (2) beyond the critical batch size, where the gradient noise is already small "
        "compared with the gradient (McCandlish et al. 2018) and larger B stops helping; (3) early in training "
        "(large curvature), which is why it needs warm-up; (4) adaptive methods (Adam) scale closer to sqrt(B).",
        results={"minibatch_variance": sigma**2 / B, "noise_scale": lr * sigma**2 / B,
                 "scaled_lr": k_batch * lr,
                 "sgd_stationary_variance": lr * sigma**2 / (B * lam * (2 - lr * lam))},
        simulations=[Simulation("scaling", "minibatch variance and SGD stationary variance (reference sgd rule)",
                                simulate_scaling)],
        sources=["Goyal et al., 'Accurate, large minibatch SGD' (2017)",
                 "Smith & Le, 'A Bayesian perspective on generalization and SGD' (ICLR 2018)",
                 "McCandlish et al., 'An empirical model of large-batch training' (2018)"],
    )
