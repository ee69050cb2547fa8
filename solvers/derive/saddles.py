"""Derivation 5: saddles -- classification by Hessian signs, the 2^-n toy, and the GOE reality."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import numeric, objectives
from .core import Derivation, Domain, Simulation, SimulationResult, Step
from .derivation_registry import register
from .symbols import n, x, y

__all__ = ["saddles", "goe_positive_fraction", "simulate_goe", "integrate_abs", "P_MIN_GOE_2"]

theta = sp.Symbol("theta", real=True)
i = sp.Symbol("i", integer=True, positive=True)
f_sym, p_min, p_goe = sp.symbols("f P_min P_GOE", real=True)
p_max, p_saddle = sp.symbols("P_max P_saddle", real=True)
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


ha, hc, hb = sp.symbols("a c b", real=True)  # the 2x2 GOE matrix [[a, b], [b, c]]
m_pos = sp.Symbol("m", positive=True)
p_disk = sp.Symbol("P(sqrt(d^2 + b^2) < m)", real=True)
rot = sp.Matrix([[sp.Rational(1, 2), sp.Rational(1, 2)], [sp.Rational(1, 2), -sp.Rational(1, 2)]])


def _quadratic_formula_eigs(h: sp.Matrix) -> sp.Matrix:
    """Roots of det(z I - H) = z^2 - tr(H) z + det(H), smaller first."""
    half = h.trace() / 2
    return sp.Matrix([half - sp.sqrt(half**2 - h.det()), half + sp.sqrt(half**2 - h.det())])


@register("saddles")
def saddles() -> Derivation:
    f = x**2 - y**2
    mid, dif = (ha + hc) / 2, (ha - hc) / 2
    steps = [
        Step(sp.Eq(f_sym, f), "the lecture's saddle (the Pringles chip)", rel="given", label="f"),
        Step(sp.Matrix([2 * x, -2 * y]), "gradient", via=lambda e: sp.Matrix([sp.diff(e.rhs, v) for v in (x, y)])),
        Step(sp.Matrix([0, 0]), "the only critical point (solve grad f = 0)",
             via=lambda gr: sp.Matrix([sp.solve(list(gr), [x, y], dict=True)[0][v] for v in (x, y)])),
        Step(sp.diag(2, -2), "Hessian", against="f", via=lambda e: sp.hessian(e.rhs, (x, y))),
        Step(sp.Matrix([-2, 2]), "its eigenvalues: one positive, one negative, none zero -> a saddle. The test "
             "(cited: the second-derivative test) is sufficient: at a critical point with an invertible Hessian, all "
             "eigenvalues > 0 gives a strict minimum, all < 0 a strict maximum, mixed signs a saddle; with a zero "
             "eigenvalue it decides nothing (next steps)",
             via=lambda h: sp.Matrix(sorted(h.eigenvals(multiple=True)))),
        Step(sp.Eq(f_sym, x**4), "degenerate example 1: x^4 has a minimum at 0 (x^4 >= 0)", rel="given",
             label="quartic"),
        Step(sp.Matrix([[0]]), "... but its Hessian there is 0: not 'all eigenvalues > 0'",
             via=lambda e: sp.hessian(e.rhs, (x,)).subs(x, 0)),
        Step(sp.Eq(f_sym, x**2 - y**4), "degenerate example 2: x^2 - y^4 is a saddle at 0 (f(0, y) = -y^4 < 0 "
             "< f(x, 0))", rel="given", label="degenerate-saddle"),
        Step(sp.diag(2, 0), "... but its Hessian there has no negative eigenvalue: not 'mixed signs'",
             via=lambda e: sp.hessian(e.rhs, (x, y)).subs({x: 0, y: 0})),
        Step(sp.Eq(p_min, sp.Product(sp.Rational(1, 2), (i, 1, n))),
             "the lecture's toy: n independent eigenvalue signs (none zero), each positive with probability 1/2",
             rel="given"),
        Step(sp.Eq(p_min, 2**-n), "multiply", via=lambda e: sp.Eq(p_min, e.rhs.doit()), label="toy"),
        Step(sp.Matrix([[ha, hb], [hb, hc]]),
             "reality check, n = 2: a GOE matrix H = (A + A^T)/2, A with iid N(0, 1) entries: a = A_11 and "
             "c = A_22 are N(0, 1), b = (A_12 + A_21)/2 is N(0, 1/2), all independent", rel="given", label="H"),
        Step(sp.Matrix([mid - sp.sqrt(dif**2 + hb**2), mid + sp.sqrt(dif**2 + hb**2)]),
             "its eigenvalues, roots of z^2 - tr(H) z + det(H): m -+ sqrt(d^2 + b^2) with m = (a + c)/2, "
             "d = (a - c)/2", via=_quadratic_formula_eigs),
        Step(mid - sp.sqrt(dif**2 + hb**2) > 0,
             "both are positive iff the smaller one is: m > sqrt(d^2 + b^2)", rel="<=>",
             via=lambda ev: sp.And(ev[0] > 0, ev[1] > 0)),
        Step(sp.diag(sp.Rational(1, 2), sp.Rational(1, 2)),
             "(m, d) = T (a, c) with T = [[1/2, 1/2], [1/2, -1/2]]: their covariance T T^T, since (a, c) has "
             "covariance I. Jointly Gaussian and uncorrelated, so m, d, b are iid N(0, 1/2)",
             rel="=", against="H", via=lambda _: rot * rot.T),
        Step(sp.Eq(p_disk, sp.Integral(sp.exp(-r**2) / sp.pi * r, (r, 0, m_pos), (theta, 0, 2 * sp.pi))),
             "given m > 0, (d, b) has density exp(-(d^2 + b^2))/pi; integrate it over the disk of radius m in "
             "polar coordinates (dA = r dr dtheta)", rel="given", label="disk"),
        Step(sp.Eq(p_disk, 1 - sp.exp(-m_pos**2)), "integrate", via=lambda e: sp.Eq(p_disk, e.rhs.doit())),
        Step(sp.Eq(p_goe, sp.Integral((1 - sp.exp(-m_pos**2)) * sp.exp(-m_pos**2) / sp.sqrt(sp.pi),
                                      (m_pos, 0, sp.oo))),
             "average over m ~ N(0, 1/2) (density exp(-m^2)/sqrt(pi)); m <= 0 never works", rel="given",
             label="average"),
        Step(sp.Eq(p_goe, P_MIN_GOE_2), "integrate: 1/2 - 1/(2 sqrt 2) = (2 - sqrt 2)/4 ~ 0.146 (Monte Carlo "
             "agrees, see the simulation)", via=lambda e: sp.Eq(p_goe, e.rhs.doit()), label="goe"),
        Step(sp.Eq(p_saddle, 1 - p_min - p_max),
             "back to the toy: a saddle is neither a minimum (all signs positive) nor a maximum (all negative)", rel="given"),
        Step(sp.Eq(p_saddle, 1 - 2 ** (1 - n)), "all n signs negative is as likely as all positive: "
             "P_max = P_min = 2^-n", via=lambda e: e.subs({p_min: 2**-n, p_max: 2**-n})),
    ]
    return Derivation(
        name="saddles",
        title="Saddles: classification and how rare minima are",
        summary="Classify a non-degenerate critical point by its Hessian eigenvalue signs (a zero eigenvalue "
        "decides nothing: x^4, x^2 - y^4); the toy P(minimum) = 2^-n; for a 2x2 GOE Hessian P(both > 0) = "
        "(2 - sqrt 2)/4 ~ 0.146, derived from the entries and confirmed by Monte Carlo.",
        steps=steps,
        domain=Domain(boxes={n: (1, 20)}, text=("n >= 1 Hessian dimensions", "a, b, c real")),
        convention="critical point: grad f = 0, non-degenerate when the Hessian is invertible. At a non-degenerate "
        "critical point: minimum iff all Hessian eigenvalues > 0, maximum iff all < 0, saddle iff mixed signs. "
        "With a zero eigenvalue the signs are not enough (x^4: minimum; x^2 - y^4: saddle).",
        answer="At a critical point the Hessian's eigenvalue signs classify it when none is zero (all > 0: strict "
        "minimum; all < 0: strict maximum; mixed: saddle); a zero eigenvalue leaves the question open (x^4 and "
        "x^2 - y^4). The lecture's toy assumes n independent signs, so P(minimum) = 2^-n. That is an assumption, "
        "not a theorem: for a random symmetric (GOE) Hessian the eigenvalues repel, and P(all positive) is much "
        "smaller -- (2 - sqrt 2)/4 ~ 0.146 for n = 2 instead of 0.25 (derived above from the matrix entries; the "
        "Monte Carlo agrees), and it falls like exp(-c n^2) (cited: Dean & Majumdar 2006; the Monte Carlo for "
        "n = 3, 4 is consistent), not 2^-n.",
        results={"p_minimum_toy": 2**-n, "p_saddle_toy": 1 - 2 ** (1 - n), "p_minimum_goe_2": P_MIN_GOE_2},
        simulations=[Simulation("goe-monte-carlo", "Monte Carlo over GOE matrices, n = 1..4", simulate_goe)],
        figures=["goe"],
        sources=["Dauphin et al., 'Identifying and attacking the saddle point problem' (NeurIPS 2014)",
                 "Dean & Majumdar, 'Large deviations of extreme eigenvalues of random matrices' (PRL 2006)",
                 "second-derivative test: e.g. Nocedal & Wright, Numerical Optimization, thm. 2.3-2.4"],
    )
