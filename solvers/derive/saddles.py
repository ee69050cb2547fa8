"""Derivation 5: saddles -- classification by Hessian signs, the 2^-n toy, and the GOE reality."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import numeric, objectives
from .core import Derivation, Domain, Simulation, SimulationResult, Step
from .registry import register
from .symbols import n, x, y

__all__ = ["saddles", "goe_positive_fraction", "simulate_goe", "integrate_abs", "P_MIN_GOE_2"]

theta = sp.Symbol("theta", real=True)
i = sp.Symbol("i", integer=True, positive=True)
f_sym, p_min, p_goe = sp.symbols("f P_min P_GOE", real=True)
l1, l2 = sp.symbols("lambda_1 lambda_2", real=True)
r = sp.Symbol("r", positive=True)

P_MIN_GOE_2 = (2 - sp.sqrt(2)) / 4


def integrate_abs(expr: sp.Expr, var: sp.Symbol, a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """Integral of |expr| over [a, b]: split at the zeros of expr, where its sign can change."""
    zeros = sorted(sp.solveset(expr, var, sp.Interval.open(a, b)), key=float)
    cuts = [a, *zeros, b]
    total = sp.Integer(0)
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        total += sp.Abs(sp.integrate(expr, (var, lo, hi)))
    return sp.nsimplify(sp.simplify(total))


def goe_positive_fraction(dim: int, samples: int, seed: int = 0) -> float:
    """Monte Carlo P(all eigenvalues > 0) for H = (A + A^T)/2, A with iid N(0, 1) entries (GOE)."""
    rng = np.random.default_rng([seed, dim])
    a = rng.standard_normal((samples, dim, dim))
    h = 0.5 * (a + np.swapaxes(a, 1, 2))
    eigs = np.linalg.eigvalsh(h)
    return float(np.mean(np.all(eigs > 0, axis=1)))


def simulate_goe(*, samples: int = 200_000) -> SimulationResult:
    p2 = goe_positive_fraction(2, samples)
    exact = float(P_MIN_GOE_2)
    se = np.sqrt(exact * (1 - exact) / samples)
    fractions = {d: goe_positive_fraction(d, samples // 4) for d in (1, 3, 4)}
    # The reference classifier agrees with the eigenvalue-sign count on a few matrices.
    rng = np.random.default_rng(7)
    agree = True
    for _ in range(50):
        a = rng.standard_normal((3, 3))
        h = 0.5 * (a + a.T)
        e = np.linalg.eigvalsh(h)
        want = "minimum" if np.all(e > 0) else "maximum" if np.all(e < 0) else "saddle"
        agree &= numeric.classify_critical_point(h) == want
    saddle_hessian = objectives.build({"kind": "saddle"}).hessian
    ok = abs(p2 - exact) < 4 * se and abs(fractions[1] - 0.5) < 0.01 and fractions[3] < 0.125 / 2 and \
        fractions[4] < 0.0625 / 4 and agree and saddle_hessian is not None and \
        numeric.classify_critical_point(saddle_hessian()) == "saddle"
    return SimulationResult(
        ok,
        f"GOE n=2: {p2:.4f} from {samples} samples vs (2 - sqrt 2)/4 = {exact:.4f} (toy 0.25); "
        f"n=3: {fractions[3]:.4f} (toy 0.125); n=4: {fractions[4]:.5f} (toy 0.0625)",
        {"n2": p2, "n2_exact": exact, "n3": fractions[3], "n4": fractions[4]},
    )


@register("saddles")
def saddles() -> Derivation:
    f = x**2 - y**2
    density = sp.Abs(l1 - l2) * sp.exp(-(l1**2 + l2**2) / 2)
    steps = [
        Step(sp.Eq(f_sym, f), "the lecture's saddle (the Pringles chip)", rel="given", label="f"),
        Step(sp.Matrix([2 * x, -2 * y]), "gradient", via=lambda e: sp.Matrix([sp.diff(e.rhs, v) for v in (x, y)])),
        Step(sp.Matrix([0, 0]), "the only critical point (solve grad f = 0)",
             via=lambda gr: sp.Matrix([sp.solve(list(gr), [x, y], dict=True)[0][v] for v in (x, y)])),
        Step(sp.diag(2, -2), "Hessian", against="f", via=lambda e: sp.hessian(e.rhs, (x, y))),
        Step(sp.Matrix([-2, 2]), "its eigenvalues: one positive, one negative -> saddle (all > 0: minimum, "
             "all < 0: maximum)", via=lambda h: sp.Matrix(sorted(h.eigenvals(multiple=True)))),
        Step(sp.Eq(p_min, sp.Product(sp.Rational(1, 2), (i, 1, n))),
             "the lecture's toy: n independent eigenvalue signs, each positive with probability 1/2", rel="given"),
        Step(sp.Eq(p_min, 2**-n), "multiply", via=lambda e: sp.Eq(p_min, e.rhs.doit()), label="toy"),
        Step(sp.Eq(p_goe, sp.Integral(density, (l1, 0, sp.oo), (l2, 0, sp.oo))
                   / sp.Integral(density, (l1, -sp.oo, sp.oo), (l2, -sp.oo, sp.oo))),
             "reality check (n = 2, GOE H = (A + A^T)/2): the eigenvalues have joint density ~ "
             "|l1 - l2| exp(-(l1^2 + l2^2)/2); they repel, so their signs are not independent", rel="given"),
        Step(sp.Eq(p_goe, sp.Integral(r**2 * sp.exp(-r**2 / 2), (r, 0, sp.oo))
                   * sp.Integral(sp.Abs(sp.cos(theta) - sp.sin(theta)), (theta, 0, sp.pi / 2))
                   / (sp.Integral(r**2 * sp.exp(-r**2 / 2), (r, 0, sp.oo))
                      * sp.Integral(sp.Abs(sp.cos(theta) - sp.sin(theta)), (theta, 0, 2 * sp.pi)))),
             "polar coordinates l1 = r cos(theta), l2 = r sin(theta): |l1 - l2| = r |cos - sin|, dA = r dr dtheta; "
             "the radial factor cancels", rel="given"),
        Step(sp.Eq(p_goe, P_MIN_GOE_2),
             "integrate |cos(theta) - sin(theta)|, splitting where it changes sign: (2 sqrt 2 - 2)/(4 sqrt 2)",
             via=lambda e: sp.Eq(p_goe, integrate_abs(sp.cos(theta) - sp.sin(theta), theta, 0, sp.pi / 2)
                                 / integrate_abs(sp.cos(theta) - sp.sin(theta), theta, 0, 2 * sp.pi)),
             label="goe"),
    ]
    return Derivation(
        name="saddles",
        title="Saddles: classification and how rare minima are",
        summary="Classify by Hessian eigenvalue signs; the toy P(minimum) = 2^-n; for a GOE Hessian the "
        "eigenvalues repel and P(all > 0) is far smaller: (2 - sqrt 2)/4 ~ 0.146 at n = 2 (Monte Carlo).",
        steps=steps,
        domain=Domain(boxes={n: (1, 20)}, text=("n >= 1 Hessian dimensions",)),
        convention="critical point: grad f = 0; minimum iff all Hessian eigenvalues > 0, maximum iff all < 0, "
        "saddle iff mixed signs (degenerate if one is 0).",
        answer="At a critical point the Hessian's eigenvalue signs classify it. The lecture's toy assumes n "
        "independent signs, so P(minimum) = 2^-n. That is an assumption, not a theorem: for a random symmetric "
        "(GOE) Hessian the eigenvalues repel, and P(all positive) is much smaller -- (2 - sqrt 2)/4 ~ 0.146 for "
        "n = 2 instead of 0.25, and it falls like exp(-c n^2) (Dean & Majumdar 2006), not 2^-n.",
        results={"p_minimum_toy": 2**-n, "p_minimum_goe_2": P_MIN_GOE_2},
        simulations=[Simulation("goe-monte-carlo", "Monte Carlo over GOE matrices, n = 1..4", simulate_goe)],
        figures=["goe"],
        sources=["Dauphin et al., 'Identifying and attacking the saddle point problem' (NeurIPS 2014)",
                 "Dean & Majumdar, 'Large deviations of extreme eigenvalues of random matrices' (PRL 2006)",
                 "Mehta, Random Matrices (GOE joint eigenvalue density)"],
    )
