"""Derivation 2: heavy ball and Nesterov on a quadratic (iteration matrix, stability, Polyak tuning)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .. import objectives, rules
from .core import Derivation, Domain, Simulation, SimulationResult, Step
from .derivation_registry import register
from .symbols import beta, kappa, lam, lambda_max, lambda_min, lr, z

__all__ = [
    "heavy_ball_quadratic",
    "iteration_matrix",
    "lrp_grad",
    "LRP_X0",
    "simulate_stability_regions",
    "simulate_polyak_rate",
    "simulate_polyak_optimal",
    "worst_case_rate",
    "simulate_lrp_cycle",
    "simulate_jury_vs_roots",
]

xt, vt = sp.symbols("x_t v_t", real=True)
s = sp.Symbol("s", positive=True)  # s = sqrt(beta)
z1z2, absz, beta_opt, lr_opt, rate = sp.symbols("z_1*z_2 |z| beta_opt lr_opt rate", positive=True)


def iteration_matrix(momentum: sp.Expr = beta) -> sp.Matrix:
    """Heavy-ball matrix in (x, v) on lam/2 x^2: v' = m v + lam x, x' = x - lr v'."""
    return sp.Matrix([[1 - lr * lam, -lr * momentum], [lam, momentum]])


def _rho_condition(p: sp.Expr) -> sp.Boolean:
    """Both roots of the quadratic p(z) strictly inside the unit circle (quadratic formula)."""
    r = sp.solve(p, z)
    if len(r) == 1:
        r = r * 2
    return sp.Max(sp.Abs(r[0]), sp.Abs(r[1])) < 1


def _jury(p: sp.Expr) -> sp.Boolean:
    """Jury's test for a monic real quadratic: p(1) > 0, p(-1) > 0, |p(0)| < 1."""
    return sp.And(p.subs(z, 1) > 0, p.subs(z, -1) > 0, sp.Abs(p.subs(z, 0)) < 1)


_u = sp.Symbol("u", positive=True)  # u = lr*lam


def _region_in_lr_lam(jury: sp.Boolean) -> sp.Boolean:
    """Jury's conditions as a range of u = lr*lam, proved with SymPy on 0 <= beta < 1.

    The conditions without |.| are linear in u and solved by ``reduce_inequalities``; a
    condition ``beta*|u - 1| < 1`` is then shown to add nothing: the upper bound U on u
    satisfies U <= 2 (SymPy: 2 - U is nonnegative), so |u - 1| < 1 on 0 < u < U and
    beta*|u - 1| < beta < 1.  When a proof obligation fails, ``jury`` is returned unchanged
    (and the step falls back to the numeric check)."""
    parts = list(jury.args) if isinstance(jury, sp.And) else [jury]
    parts = [q.subs(lr, _u / lam) for q in parts if q != (beta < 1)]  # beta < 1: a domain fact
    linear = [q for q in parts if not q.has(sp.Abs)]
    with_abs = [q for q in parts if q.has(sp.Abs)]
    region = sp.reduce_inequalities(linear, _u)
    bounds = [a.rhs for a in (region.args if isinstance(region, sp.And) else (region,))
              if isinstance(a, sp.StrictLessThan) and a.lhs == _u]
    if len(bounds) != 1:
        return jury
    upper = bounds[0]
    for q in with_abs:
        if not (isinstance(q, sp.StrictLessThan) and q.rhs == 1
                and sp.simplify(q.lhs - beta * sp.Abs(_u - 1)) == 0):
            return jury
        if sp.reduce_inequalities([sp.Abs(_u - 1) < 1], _u) != (_u < 2):  # (u > 0 is known)
            return jury
        if not sp.factor(sp.together(2 - upper)).is_nonnegative:
            return jury
    return sp.And(_u > 0, _u < upper).subs(_u, lr * lam)


# --- Lessard, Recht and Packard (2016), section 4.6: Polyak's tuning cycles ----------

LRP_LAMBDA_MIN, LRP_LAMBDA_MAX = 1.0, 25.0
LRP_X0 = 3.3


def lrp_grad(p: np.ndarray) -> np.ndarray:
    """Gradient of the LRP piecewise quadratic: 25x (x<1), x+24 (1<=x<2), 25x-24 (x>=2).

    f is strongly convex with mu = 1 and L = 25 (its second derivative is 1 or 25)."""
    x = float(p[0])
    if x < 1:
        return np.array([25.0 * x])
    if x < 2:
        return np.array([x + 24.0])
    return np.array([25.0 * x - 24.0])


def lrp_f(x: float) -> float:
    if x < 1:
        return 12.5 * x * x
    if x < 2:
        return 0.5 * x * x + 24.0 * x - 12.0
    return 12.5 * x * x - 24.0 * x + 36.0


def polyak_params(lmin: float, lmax: float) -> tuple[float, float, float]:
    """(lr, beta, rate) of Polyak's tuning, numerically."""
    sk = np.sqrt(lmax / lmin)
    return 4.0 / (np.sqrt(lmax) + np.sqrt(lmin)) ** 2, ((sk - 1) / (sk + 1)) ** 2, (sk - 1) / (sk + 1)


def lrp_grad_each(p: np.ndarray) -> np.ndarray:
    """``lrp_grad`` on every coordinate: one independent 1-D run per coordinate (heavy ball is coordinate-wise)."""
    return np.where(p < 1, 25.0 * p, np.where(p < 2, p + 24.0, 25.0 * p - 24.0))


LRP_GRID = (-5.0, 5.0, 1001)  # starts x0 = -5, -4.99, ..., 5 (v0 = 0)


def lrp_grid_outcomes(*, steps: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, cycling, converged) for Polyak's tuning from every start of LRP_GRID."""
    lr_p, beta_p, _ = polyak_params(LRP_LAMBDA_MIN, LRP_LAMBDA_MAX)
    starts = np.round(np.linspace(*LRP_GRID), 10)
    traj = rules.trajectory("momentum", starts, lrp_grad_each, lr=lr_p, beta=beta_p, steps=steps)
    last, three_back = traj[-1], traj[-4]
    converged = np.abs(last) < 1e-9
    cycling = (np.abs(last) > 1e-3) & (np.abs(last - three_back) < 1e-9)
    return starts, cycling, converged


def simulate_lrp_cycle(*, steps: int = 3000) -> SimulationResult:
    lr_p, beta_p, _ = polyak_params(LRP_LAMBDA_MIN, LRP_LAMBDA_MAX)
    traj = rules.trajectory("momentum", np.array([LRP_X0]), lrp_grad, lr=lr_p, beta=beta_p, steps=steps)[:, 0]
    tail = traj[-9:]
    period3 = float(np.max(np.abs(tail[3:] - tail[:-3])))
    amplitude = float(np.max(np.abs(tail)))
    starts, cycling, converged = lrp_grid_outcomes(steps=steps)
    n_cyc, n_conv = int(cycling.sum()), int(converged.sum())
    ok = period3 < 1e-9 and amplitude > 1.0 and n_cyc + n_conv == len(starts) and n_cyc == LRP_CYCLING_STARTS
    return SimulationResult(
        ok,
        f"heavy ball with lr = {lr_p:.4g}, beta = {beta_p:.4g} from x0 = {LRP_X0}: after {steps} steps the iterates "
        f"repeat with period 3 ({', '.join(f'{v:.4f}' for v in tail[-3:])}), |x| up to {amplitude:.3f}: no "
        f"convergence. From the {len(starts)} starts -5, -4.99, ..., 5 (v0 = 0): {n_cyc} end in this cycle, "
        f"{n_conv} converge to the minimum 0",
        {"lr": lr_p, "beta": beta_p, "cycle_max_abs": amplitude, "period3_defect": period3,
         "grid_cycling": float(n_cyc), "grid_converged": float(n_conv)},
    )


LRP_CYCLING_STARTS = 124  # stated in the answer; the simulation must reproduce it


def simulate_stability_regions(*, beta_value: float = 0.9, steps: int = 600) -> SimulationResult:
    """Heavy ball and Nesterov (reference rules) on lam/2 x^2 inside / outside their regions."""
    obj = objectives.build({"kind": "quad1d", "a": 1.0})
    hb_edge = 2 * (1 + beta_value)
    nag_edge = 2 * (1 + beta_value) / (1 + 2 * beta_value)
    x0 = np.array([1.0])

    def final(variant: str, h: float) -> float:
        traj = rules.trajectory(variant, x0, obj.grad, lr=h, beta=beta_value, steps=steps)
        return float(abs(traj[-1, 0]))

    got = {
        "hb_below": final("momentum", 0.98 * hb_edge),
        "hb_above": final("momentum", 1.02 * hb_edge),
        "nag_below": final("nesterov", 0.98 * nag_edge),
        "nag_above": final("nesterov", 1.02 * nag_edge),
        "hb_at_1.5": final("momentum", 1.5),
        "nag_at_1.5": final("nesterov", 1.5),
    }
    ok = (got["hb_below"] < 1e-2 and got["hb_above"] > 1e2 and got["nag_below"] < 1e-2 and got["nag_above"] > 1e2
          and got["hb_at_1.5"] < 1e-6 and got["nag_at_1.5"] > 1e6)
    return SimulationResult(
        ok,
        f"beta = {beta_value}: heavy ball edge lr*lam = {hb_edge:.4g} (|x_{steps}| = {got['hb_below']:.2g} at 0.98x, "
        f"{got['hb_above']:.2g} at 1.02x); Nesterov edge {nag_edge:.4g} ({got['nag_below']:.2g} / "
        f"{got['nag_above']:.2g}); at lr*lam = 1.5 heavy ball {got['hb_at_1.5']:.2g}, Nesterov {got['nag_at_1.5']:.2g}",
        {"hb_edge": hb_edge, "nag_edge": nag_edge, **got},
    )


def simulate_jury_vs_roots(*, samples: int = 20_000, seed: int = 3) -> SimulationResult:
    """Jury's conditions against the roots (quadratic formula in numpy) of the heavy-ball and Nesterov
    polynomials z^2 + c1 z + c0."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.0, 8.0, samples)  # lr*lam
    b = rng.uniform(0.0, 0.999, samples)
    disagree = 0
    for bn, label in ((b, "heavy ball"), (b * (1 - u), "Nesterov")):
        c1 = -(1 + bn - u)  # z^2 + c1 z + c0
        c0 = bn
        disc = np.sqrt((c1 * c1 - 4 * c0).astype(complex))
        modulus = np.maximum(np.abs((-c1 + disc) / 2), np.abs((-c1 - disc) / 2))
        stable = modulus < 1
        jury = (1 + c1 + c0 > 0) & (1 - c1 + c0 > 0) & (np.abs(c0) < 1)
        # points within 1e-9 of the boundary are ties of floating point, not disagreements
        margin = np.abs(modulus - 1) > 1e-9
        disagree += int(np.sum((stable != jury) & margin))
    return SimulationResult(
        disagree == 0,
        f"{samples} random (lr*lam in [0, 8], beta in [0, 0.999)) per polynomial: Jury's test and the root "
        f"moduli disagree at {disagree} points",
        {"disagreements": float(disagree)},
    )


def simulate_polyak_rate(*, lmin: float = 1.0, lmax: float = 100.0, steps: int = 400) -> SimulationResult:
    lr_p, beta_p, rate_p = polyak_params(lmin, lmax)
    obj = objectives.build({"kind": "quadratic", "H": [[lmin, 0.0], [0.0, lmax]]})
    traj = rules.trajectory("momentum", np.array([1.0, 1.0]), obj.grad, lr=lr_p, beta=beta_p, steps=steps)
    half = steps // 2
    observed = float((np.linalg.norm(traj[-1]) / np.linalg.norm(traj[half])) ** (1 / (steps - half)))
    # At the two ends the roots are double, so the error is ~ t * rate^t: allow that polynomial factor.
    poly = (steps / half) ** (1 / (steps - half))
    ok = rate_p <= observed <= rate_p * poly * 1.001
    return SimulationResult(
        ok,
        f"kappa = {lmax / lmin:g}: observed rate {observed:.5f}, predicted (sqrt(kappa)-1)/(sqrt(kappa)+1) = "
        f"{rate_p:.5f} (times the double-root factor <= {poly:.4f}); plain GD at best gets "
        f"{(lmax - lmin) / (lmax + lmin):.5f}",
        {"observed": observed, "predicted": rate_p},
    )


def worst_case_rate(lr_value: np.ndarray, beta_value: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """max over lams of the heavy-ball root modulus, vectorised over (lr, beta) arrays."""
    lr_b, beta_b, lam_b = np.broadcast_arrays(lr_value[..., None], beta_value[..., None], lams)
    b = 1 + beta_b - lr_b * lam_b
    root = np.sqrt((b * b - 4 * beta_b).astype(complex))
    return np.maximum(np.abs((b + root) / 2), np.abs((b - root) / 2)).max(axis=-1)


def simulate_polyak_optimal(*, lmin: float = 1.0, lmax: float = 100.0) -> SimulationResult:
    """Grid search over (lr, beta): no tuning beats Polyak's worst-case rate on the spectrum [lmin, lmax]."""
    lr_p, beta_p, rate_p = polyak_params(lmin, lmax)
    lams = np.linspace(lmin, lmax, 41)
    at_polyak = float(worst_case_rate(np.array(lr_p), np.array(beta_p), lams))
    lrs = np.linspace(1e-4, 2 * (1 + 0.99) / lmax, 120)  # up to the stability edge at beta = 0.99
    betas = np.linspace(0.0, 0.99, 120)
    grid_lr, grid_beta = np.meshgrid(lrs, betas, indexing="ij")
    rho = worst_case_rate(grid_lr, grid_beta, lams)
    i, j = (int(v) for v in np.unravel_index(int(rho.argmin()), rho.shape))
    # refine around the coarse optimum
    fine_lr, fine_beta = np.meshgrid(np.linspace(lrs[max(i - 2, 0)], lrs[min(i + 2, len(lrs) - 1)], 60),
                                     np.linspace(betas[max(j - 2, 0)], betas[min(j + 2, len(betas) - 1)], 60),
                                     indexing="ij")
    fine = worst_case_rate(fine_lr, fine_beta, lams)
    k = np.unravel_index(int(fine.argmin()), fine.shape)
    best = float(fine[k])
    ok = abs(at_polyak - rate_p) < 1e-6 and best >= rate_p - 1e-6 and best <= rate_p * 1.002
    return SimulationResult(
        ok,
        f"kappa = {lmax / lmin:g}: worst-case root modulus at Polyak's (lr, beta) = ({lr_p:.5f}, {beta_p:.5f}) is "
        f"{at_polyak:.6f}; the best of a {120 * 120} + {60 * 60} point grid is {best:.6f} at "
        f"({float(fine_lr[k]):.5f}, {float(fine_beta[k]):.5f}): nothing beats (sqrt(kappa)-1)/(sqrt(kappa)+1) = "
        f"{rate_p:.6f}",
        {"rate_at_polyak": at_polyak, "grid_best": best, "predicted": rate_p},
    )


def _polyak_solution(system: sp.Matrix) -> sp.Matrix:
    """Solve Polyak's two equations for (s, lr) and keep the root with 0 < s < 1."""
    sols = sp.solve(list(system.subs(lambda_max, kappa * lambda_min)), [s, lr], dict=True)
    probe = {kappa: 4, lambda_min: 1}
    (good,) = [d for d in sols if 0 < float(d[s].subs(probe)) < 1]
    return sp.Matrix([good[s], good[lr].subs(kappa, lambda_max / lambda_min)])


@register("heavy-ball")
def heavy_ball_quadratic() -> Derivation:
    M = iteration_matrix(beta)
    p_hb = z**2 - (1 + beta - lr * lam) * z + beta
    beta_n = beta * (1 - lr * lam)
    p_nag = z**2 - (1 + beta_n - lr * lam) * z + beta_n
    s_star = (sp.sqrt(kappa) - 1) / (sp.sqrt(kappa) + 1)
    steps = [
        Step(sp.Matrix([xt - lr * (beta * vt + lam * xt), beta * vt + lam * xt]),
             "heavy ball on lam/2 x^2: v_{t+1} = beta v_t + lam x_t, x_{t+1} = x_t - lr v_{t+1}", rel="given",
             label="hb-map"),
        Step(M, "the map is linear in (x_t, v_t): its Jacobian is the iteration matrix",
             via=lambda m: m.jacobian([xt, vt]), label="M"),
        Step(p_hb, "characteristic polynomial det(z I - M)", via=lambda m: sp.expand((z * sp.eye(2) - m).det()),
             label="p-hb"),
        Step(_jury(p_hb), "Jury's test (cited: Jury 1964; for a monic real quadratic both roots lie inside the "
             "unit circle iff p(1) > 0, p(-1) > 0, |p(0)| < 1; the 'jury-vs-roots' simulation compares it with the "
             "roots on random points): its three conditions for p", rel="<=>", via=_jury),
        Step(sp.And(lr * lam > 0, lr * lam < 2 * (1 + beta)),
             "p(1) = lr*lam, p(-1) = 2(1 + beta) - lr*lam, p(0) = beta < 1", rel="<=>", via=_region_in_lr_lam,
             label="hb-region"),
        Step(sp.Eq(z1z2, beta), "Vieta: the product of the roots is p(0)", against="p-hb",
             via=lambda p: sp.Eq(z1z2, p.subs(z, 0))),
        Step(sp.Eq(absz, sp.sqrt(beta)),
             "oscillating regime ((1+beta-lr*lam)^2 < 4 beta): the roots are conjugate, |z|^2 = z z* = beta",
             via=lambda e: sp.Eq(absz, sp.sqrt(e.rhs)), label="modulus"),
        Step(sp.Matrix([1 + s**2 - lr * lambda_min - 2 * s, 1 + s**2 - lr * lambda_max + 2 * s]),
             "Polyak's tuning (s = sqrt(beta)): put lambda_min and lambda_max exactly on the edge of the oscillating "
             "regime, 1 + beta - lr*lambda = +-2 sqrt(beta); every lambda in between then has modulus sqrt(beta) "
             "(that no other (lr, beta) does better is checked by the 'polyak-optimal' grid search)",
             rel="given", label="polyak"),
        Step(sp.Matrix([(1 - s) ** 2 - lr * lambda_min, (1 + s) ** 2 - lr * lambda_max]), "complete the squares"),
        Step(sp.Matrix([s_star, 4 / (sp.sqrt(lambda_max) + sp.sqrt(lambda_min)) ** 2]),
             "solve for (s, lr) with 0 < s < 1 (kappa = lambda_max/lambda_min)", via=_polyak_solution,
             label="polyak-solution"),
        Step(sp.Eq(beta_opt, s_star**2), "beta = s^2", via=lambda m: sp.Eq(beta_opt, m[0] ** 2)),
        Step(sp.Eq(rate, s_star), "the rate is the root modulus sqrt(beta) = s", against="polyak-solution",
             via=lambda m: sp.Eq(rate, m[0])),
        Step(sp.Matrix([xt - lr * (beta * vt + lam * (xt - lr * beta * vt)), beta * vt + lam * (xt - lr * beta * vt)]),
             "Nesterov on lam/2 x^2: the gradient is taken at the look-ahead point x_t - lr beta v_t", rel="given"),
        Step(iteration_matrix(beta_n), "its Jacobian is the heavy-ball matrix with momentum beta(1 - lr*lam)",
             via=lambda m: m.jacobian([xt, vt])),
        Step(p_nag, "characteristic polynomial det(z I - M_N)", via=lambda m: sp.expand((z * sp.eye(2) - m).det()),
             label="p-nag"),
        Step(_jury(p_nag), "Jury's test (cited, as above): its three conditions for p_N", rel="<=>", via=_jury),
        Step(sp.And(lr * lam > 0, lr * lam < 2 * (1 + beta) / (1 + 2 * beta)),
             "p(1) = lr*lam > 0; p(-1) = 2(1+beta) - (1+2 beta) lr*lam > 0 solves to the bound, which is at most 2; "
             "so |1 - lr*lam| < 1 and |p(0)| = beta |1 - lr*lam| < 1 holds too", rel="<=>", via=_region_in_lr_lam,
             label="nag-region"),
        Step(sp.Eq(sp.Symbol("ratio"), 1 + 2 * beta),
             "heavy ball's edge over Nesterov's: 1 + 2 beta (2.8 at beta = 0.9, so Nesterov diverges at step sizes "
             "where heavy ball is fine)",
             against="nag-region",
             via=lambda c: sp.Eq(sp.Symbol("ratio"), 2 * (1 + beta) / _upper_bound(c))),
    ]
    return Derivation(
        name="heavy-ball",
        title="Heavy ball and Nesterov on a quadratic",
        summary="Iteration matrix, characteristic polynomial, stability 0 < lr*lam < 2(1+beta) (Nesterov: "
        "2(1+beta)/(1+2beta)), modulus sqrt(beta), Polyak's optimal beta, lr and rate; on LRP's function it cycles "
        "from some starts (124 of 1001 grid starts).",
        steps=steps,
        domain=Domain(
            boxes={lr: (1e-3, 4.0), lam: (0.05, 3.0), beta: (0.0, 0.999), s: (0.01, 0.99), kappa: (1.5, 1e3),
                   lambda_min: (0.05, 3.0), lambda_max: (0.05, 8.0), xt: (-2, 2), vt: (-2, 2)},
            constraints=(lambda_min < lambda_max, beta < 1),
            text=("lr > 0", "lam > 0", "0 <= beta < 1", "0 < lambda_min < lambda_max", "kappa = lambda_max/lambda_min"),
        ),
        convention="heavy ball v_{t+1} = beta v_t + grad f(x_t), x_{t+1} = x_t - lr v_{t+1} (lecture = torch); "
        "Nesterov v_{t+1} = beta v_t + grad f(x_t - lr beta v_t). Polyak (1964) writes the same iteration as "
        "x_{t+1} = x_t - lr grad f(x_t) + beta (x_t - x_{t-1}).",
        answer="Heavy ball is stable iff 0 < lr*lam < 2(1+beta); in the oscillating regime every root has modulus "
        "sqrt(beta). Polyak's tuning beta = ((sqrt(kappa)-1)/(sqrt(kappa)+1))^2, lr = 4/(sqrt(lambda_max)+"
        "sqrt(lambda_min))^2 gives the rate (sqrt(kappa)-1)/(sqrt(kappa)+1); that no (lr, beta) does better on "
        "quadratics with spectrum in [lambda_min, lambda_max] is cited (Polyak 1964) and confirmed by the "
        "'polyak-optimal' grid search, not proved here. The guarantee is for quadratics only: "
        "on Lessard, Recht and Packard's strongly convex piecewise quadratic (mu = 1, L = 25) it need not converge: "
        "from x0 = 3.3 it ends in a period-3 cycle, and of the 1001 starts -5, -4.99, ..., 5 (v0 = 0) 124 end in "
        "that cycle while the other 877 converge (simulation 'lrp-cycle'). "
        "Nesterov on a quadratic is heavy ball with momentum beta(1 - lr*lam), stable iff 0 < lr*lam < "
        "2(1+beta)/(1+2beta): a smaller region.",
        results={
            "heavy_ball_region_upper": 2 * (1 + beta),
            "heavy_ball_root_modulus": sp.sqrt(beta),
            "polyak_beta": s_star**2,
            "polyak_lr": 4 / (sp.sqrt(lambda_max) + sp.sqrt(lambda_min)) ** 2,
            "polyak_rate": s_star,
            "nesterov_effective_momentum": beta_n,
            "nesterov_region_upper": 2 * (1 + beta) / (1 + 2 * beta),
        },
        simulations=[
            Simulation("jury-vs-roots", "Jury's test against numpy's roots (the cited theorem, checked)",
                       simulate_jury_vs_roots),
            Simulation("regions", "heavy ball and Nesterov on 1/2 x^2 just inside / outside their regions",
                       simulate_stability_regions),
            Simulation("polyak-rate", "heavy ball with Polyak's tuning on diag(1, 100)", simulate_polyak_rate),
            Simulation("polyak-optimal", "grid search over (lr, beta) of the worst-case root modulus, kappa = 100",
                       simulate_polyak_optimal),
            Simulation("lrp-cycle", "Polyak's tuning on Lessard-Recht-Packard's function (mu=1, L=25)",
                       simulate_lrp_cycle),
        ],
        figures=["lrp-cycle"],
        sources=["Polyak (1964)", "Goh, 'Why Momentum Really Works' (2017)",
                 "Lessard, Recht, Packard, 'Analysis and design of optimization algorithms via integral quadratic "
                 "constraints', SIAM J. Optim. 26 (2016), sec. 4.6"],
    )


def _upper_bound(cond: sp.Boolean) -> sp.Expr:
    """The upper bound c in And(lr*lam > 0, lr*lam < c)."""
    args = cond.args if isinstance(cond, sp.And) else (cond,)
    for arg in args:
        if isinstance(arg, sp.StrictLessThan) and arg.lhs == lr * lam:
            return arg.rhs
        if isinstance(arg, sp.StrictGreaterThan) and arg.rhs == lr * lam:
            return arg.lhs
    raise ValueError(f"no upper bound on lr*lam in {cond}")
