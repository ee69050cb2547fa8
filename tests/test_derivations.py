"""The lecture's derivations: each verifies, broken steps are caught and named, answers match."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from solvers import derive, objectives, rules
from solvers.derive import final_formulas as formulas
from solvers.derive.core import Derivation, Domain, Simulation, SimulationResult, Step, check_step
from solvers.derive.render import render
from solvers.derive.symbols import beta, g, lam, lr, t, x
from solvers.rollout import NonFiniteError

EXPECTED = [
    "stable-lr", "heavy-ball", "terminal-velocity", "nesterov-correction", "saddles", "worked-tables",
    "p1", "p2", "p3", "p4", "p5", "p6", "quiz", "linear-scaling",
]


@pytest.fixture(scope="module")
def reports() -> dict[str, derive.Report]:
    return {name: derive.verify(name) for name in derive.names()}


def _is_zero(expr: object) -> bool:
    d = sp.simplify(sp.sympify(expr))
    if isinstance(d, sp.MatrixBase):
        return all(e == 0 for e in d)
    return d == 0


# --- registry and verification ------------------------------------------------------


def test_registry_lists_every_topic_of_the_issue() -> None:
    assert derive.names() == EXPECTED
    assert set(derive.REGISTRY) == set(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_each_derivation_verifies_with_its_checks_recorded(reports: dict[str, derive.Report], name: str) -> None:
    report = reports[name]
    d = report.derivation
    assert len(report.steps) == len(d.steps)
    assert d.steps[0].rel == "given"
    checked = [s for s in report.steps if s.method != "given"]
    assert checked, f"{name} has no checked step"
    for s in report.steps:
        assert s.method in ("given", "symbolic", "numeric")
        assert s.detail
    assert len(report.simulations) == len(d.simulations) >= 1
    assert d.answer and d.summary


def test_derivations_do_not_start_from_their_answers() -> None:
    for name in EXPECTED:
        d = derive.get(name)
        givens = []
        for step in d.steps:
            if step.rel == "given":
                e = step.expr
                givens.append(e.rhs if isinstance(e, sp.Equality) else e)
        for key, value in d.results.items():
            if not isinstance(value, sp.Expr) or not value.free_symbols:
                continue
            for gexpr in givens:
                assert not (isinstance(gexpr, sp.Expr) and sp.expand(gexpr - value) == 0), (
                    f"{name}: result {key} = {value} is stated as a given step")


def test_both_check_methods_are_exercised(reports: dict[str, derive.Report]) -> None:
    methods = {s.method for r in reports.values() for s in r.steps}
    assert methods == {"given", "symbolic", "numeric"}
    # One step is left to the numeric check: "both eigenvalues > 0 iff the smaller one is".
    numeric = [(name, s.index) for name, r in reports.items() for s in r.steps if s.method == "numeric"]
    assert numeric == [("saddles", 14)]
    assert "random points" in reports["saddles"].steps[13].detail


# Steps that SymPy proves directly (issue 9, item 13): none may fall back to the numeric check.
SYMBOLIC_STEPS = [("stable-lr", 13), ("heavy-ball", 4), ("heavy-ball", 5), ("heavy-ball", 16),
                  ("heavy-ball", 17), ("terminal-velocity", 2), ("p2", 2), ("terminal-velocity", 9),
                  ("terminal-velocity", 11), ("saddles", 17), ("saddles", 19)]


@pytest.mark.parametrize("name,index", SYMBOLIC_STEPS)
def test_steps_sympy_proves_are_symbolic(reports: dict[str, derive.Report], name: str, index: int) -> None:
    step = reports[name].steps[index - 1]
    assert step.method == "symbolic", (name, index, step.why, step.detail)


# --- broken steps are caught and named -----------------------------------------------


def _replace_step(d: Derivation, index: int, **changes: object) -> Derivation:
    steps = list(d.steps)
    steps[index - 1] = dataclasses.replace(steps[index - 1], **changes)
    return dataclasses.replace(d, steps=steps)


def test_a_wrong_inequality_step_is_caught_and_named() -> None:
    d = derive.get("stable-lr")
    assert "solve |1 - lr*lam| < 1" in d.steps[7].why
    broken = _replace_step(d, 8, expr=sp.And(0 < lr, lr < 1 / lam))
    with pytest.raises(derive.StepCheckError) as info:
        derive.verify_derivation(broken, simulate=False)
    err = info.value
    assert err.derivation == "stable-lr" and err.index == 8
    msg = str(err)
    assert "'stable-lr', step 8" in msg and "solve |1 - lr*lam| < 1" in msg
    assert "reference is" in msg  # a counterexample point is reported


def test_a_wrong_closed_form_is_caught_and_named() -> None:
    d = derive.get("terminal-velocity")
    bad = sp.Eq(sp.Function("v")(t), g * (1 - beta ** (t + 1)) / (1 - beta))
    broken = _replace_step(d, 3, expr=bad)
    with pytest.raises(derive.StepCheckError, match=r"'terminal-velocity', step 3 \[closed\].*geometric series"):
        derive.verify_derivation(broken, simulate=False)


def test_a_wrong_induction_step_is_caught() -> None:
    d = derive.get("terminal-velocity")
    idx = next(i for i, s in enumerate(d.steps, 1) if s.why.startswith("beta times the sum"))
    gf, k = sp.Function("g"), sp.Symbol("k", integer=True, nonnegative=True)
    wrong = sp.Eq(sp.Function("v")(t + 1), sp.Sum(beta ** (t - k) * gf(k), (k, 0, t + 1)))  # one term too many
    with pytest.raises(derive.StepCheckError, match=f"'terminal-velocity', step {idx} "):
        derive.verify_derivation(_replace_step(d, idx, expr=wrong), simulate=False)


def test_a_wrong_nesterov_correction_is_caught() -> None:
    d = derive.get("nesterov-correction")
    idx = next(i for i, s in enumerate(d.steps, 1) if s.label == "recurrence")
    gt, gprev, dt, dprev = sp.symbols("g_t g_{t-1} d_t d_{t-1}", real=True)
    broken = _replace_step(d, idx, expr=sp.Eq(dt - beta * dprev, gt + (gt - gprev)))  # beta dropped
    with pytest.raises(derive.StepCheckError, match=f"step {idx} \\[recurrence\\]"):
        derive.verify_derivation(broken, simulate=False)


def test_a_reference_to_a_missing_label_is_an_error() -> None:
    d = derive.get("p6")
    broken = _replace_step(d, 3, against="nope")
    with pytest.raises(derive.StepCheckError, match="no earlier step labelled 'nope'"):
        derive.verify_derivation(broken, simulate=False)


def test_a_result_that_no_step_derives_is_refused() -> None:
    d = derive.get("p6")
    d = dataclasses.replace(d, results={**d.results, "made_up": lr / 7})
    with pytest.raises(derive.ResultError, match="'p6', result 'made_up': lr/7 does not appear in any checked step"):
        derive.verify_derivation(d, simulate=False)


def test_a_disagreeing_simulation_is_named() -> None:
    d = derive.get("p6")
    d = dataclasses.replace(d, simulations=[Simulation("always-off", "x", lambda: SimulationResult(False, "off by 3"))])
    with pytest.raises(derive.SimulationError, match="'p6', simulation 'always-off' disagrees: off by 3"):
        derive.verify_derivation(d)


def test_check_step_reports_the_deciding_method() -> None:
    dom = Domain()
    assert check_step(Step(sp.Integer(1), "pythagoras"), sp.sin(x) ** 2 + sp.cos(x) ** 2, dom) == (
        "symbolic", "simplify")
    method, detail = check_step(Step(sp.Abs(x) < 1, "equivalent", rel="<=>"), x**2 < 1, Domain(boxes={x: (-3, 3)}))
    assert method == "numeric" and "agree" in detail
    with pytest.raises(ValueError, match="differs"):
        check_step(Step(x + 1, "wrong"), x, dom)
    with pytest.raises(ValueError, match="reference is"):
        check_step(Step(x < 2, "implies", rel="=>"), x < 3, Domain(boxes={x: (-5, 5)}))
    # Samples that never reach the boundary cannot tell x < 10 from x < 20: refuse, do not pass.
    with pytest.raises(ValueError, match="inconclusive: all 256 random points fall inside"):
        check_step(Step(x < 10, "too narrow", rel="<=>"), x < 20, Domain(boxes={x: (-1, 1)}))


def test_unknown_name_lists_the_names() -> None:
    with pytest.raises(derive.UnknownDerivationError) as info:
        derive.get("stabel-lr")
    msg = str(info.value)
    assert "did you mean 'stable-lr'" in msg and "heavy-ball" in msg and "linear-scaling" in msg


# --- final formulas equal the textbook forms ------------------------------------------


@pytest.mark.parametrize("name", formulas.names())
def test_each_answer_is_what_its_derivation_derives(name: str) -> None:
    # the answer's formula is read from its derivation's results (stated once), and
    # verify() requires every result to appear in one of the derivation's checked steps
    a = formulas.get(name)
    d = derive.get(a.derivation)
    assert name in d.results, f"{a.derivation} does not derive {name}"
    assert _is_zero(sp.sympify(d.results[name]) - sp.sympify(a.expr)), (d.results[name], a.expr)


def test_an_answer_its_derivation_does_not_derive_is_refused() -> None:
    bogus = formulas.Answer("no_such_result", (), "stable-lr", "")
    with pytest.raises(KeyError, match="'stable-lr' does not derive 'no_such_result'"):
        bogus.expr


def test_textbook_values() -> None:
    A = formulas.get
    assert A("stable_lr").evaluate(lambda_max=100) == pytest.approx(0.02)
    assert A("effective_lr").evaluate(lr=0.01, beta=0.9) == pytest.approx(0.1)
    assert A("effective_lr_table").evaluate() == [[1.0], [2.0], [10.0], [20.0], [100.0]]
    assert A("effective_memory").evaluate(beta=0.95) == pytest.approx(20)
    assert A("polyak_beta").evaluate(kappa=100) == pytest.approx((9 / 11) ** 2)
    assert A("polyak_lr").evaluate(lambda_max=100, lambda_min=1) == pytest.approx(4 / 121)
    assert A("polyak_rate").evaluate(kappa=100) == pytest.approx(9 / 11)
    assert A("optimal_fixed_lr").evaluate(lambda_min=1, lambda_max=100) == pytest.approx(2 / 101)
    assert A("optimal_fixed_rate").evaluate(kappa=100) == pytest.approx(99 / 101)
    assert A("nesterov_region_upper").evaluate(beta=0.9) == pytest.approx(3.8 / 2.8)
    assert A("p_minimum_toy").evaluate(n=10) == pytest.approx(1 / 1024)
    assert A("p_minimum_goe_2").evaluate() == pytest.approx(0.146446609, abs=1e-9)
    assert A("p1_iterations").evaluate() == 684
    assert A("iterations_to_epsilon").evaluate(kappa=100, epsilon=1e-6) == pytest.approx(683.8, abs=0.05)
    assert A("p6_new_lr").evaluate(lr=0.01) == pytest.approx(0.001)
    assert A("quiz_answer").expr == sp.Symbol("b")
    assert all(a.assumptions or not a.symbols for a in formulas.ANSWERS.values())
    with pytest.raises(KeyError, match="needs values for beta"):
        A("effective_lr").evaluate(lr=0.1)


# --- numeric simulations agree --------------------------------------------------------


def test_simulations_agree_with_the_formulas(reports: dict[str, derive.Report]) -> None:
    def numbers(name: str, sim: str) -> dict[str, float]:
        return dict(next(s for s in reports[name].simulations if s.name == sim).numbers)

    edge = numbers("stable-lr", "gd-edge")
    assert edge["lr_edge"] == pytest.approx(0.02) and edge["norm_below"] < 0.1 < 10 < edge["norm_above"]
    rate = numbers("heavy-ball", "polyak-rate")
    assert rate["predicted"] == pytest.approx(9 / 11)
    assert rate["observed"] == pytest.approx(rate["predicted"], rel=0.01)
    best = numbers("heavy-ball", "polyak-optimal")
    assert best["rate_at_polyak"] == pytest.approx(9 / 11, abs=1e-6)  # double roots: sqrt loses half the digits
    assert 9 / 11 - 1e-6 <= best["grid_best"] <= 9 / 11 * 1.002
    regions = numbers("heavy-ball", "regions")
    assert regions["hb_edge"] == pytest.approx(3.8) and regions["nag_edge"] == pytest.approx(3.8 / 2.8)
    assert regions["hb_at_1.5"] < 1e-6 < 1e6 < regions["nag_at_1.5"]
    lrp = numbers("heavy-ball", "lrp-cycle")
    assert lrp["cycle_max_abs"] > 1 and lrp["period3_defect"] < 1e-9
    tv = numbers("terminal-velocity", "terminal-velocity")
    assert [round(tv[k], 6) for k in ("beta=0", "beta=0.5", "beta=0.9", "beta=0.95", "beta=0.99")] == [1, 2, 10, 20, 100]
    goe = numbers("saddles", "goe-monte-carlo")
    assert goe["n2"] == pytest.approx((2 - np.sqrt(2)) / 4, abs=0.005) and goe["n3"] < 0.125
    assert numbers("p1", "p1")["steps"] == 684
    nes = numbers("nesterov-correction", "torch-lookahead")
    assert nes["torch_vs_lookahead"] < 1e-12
    p4 = numbers("p4", "p4")
    assert p4["f_momentum"] < 1e-8 and p4["f_sgd"] > 1e-3
    sc = numbers("linear-scaling", "scaling")
    assert sc["B_var_64"] == pytest.approx(1.0, rel=0.1)
    assert sc["var_lr1.6_B32"] > 2 * sc["var_lr0.05_B1"]  # lr/B fixed, yet the variance changes near lr*lam = 2


# --- renderers ------------------------------------------------------------------------


def test_renderers_show_every_step_with_its_check(reports: dict[str, derive.Report]) -> None:
    report = reports["nesterov-correction"]
    text = render(report, "text")
    for step in report.derivation.steps:
        assert step.why in text
    assert "symbolic: expand" in text and "(given)" in text
    data = json.loads(render(report, "json"))
    assert [s["index"] for s in data["steps"]] == list(range(1, len(report.steps) + 1))
    assert data["results"]["nesterov_correction"]["text"] == "-beta*lr*(g_t - g_{t-1})"
    md = render(report, "markdown")
    assert md.count("$$") == 2 * len(report.steps) and "✓ symbolic" in md
    tex = render(report, "latex")
    assert tex.startswith(r"\section{Nesterov") and r"\eta" in tex and tex.count(r"\item") >= len(report.steps)
    with pytest.raises(ValueError, match="unknown format 'html'"):
        render(report, "html")


# --- the stability answers predict the reference rules (property test) -----------------

def _final_abs(variant: str, lr_value: float, beta_value: float, steps: int = 4000) -> float:
    obj = objectives.build({"kind": "quad1d", "a": 1.0})
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            traj = rules.trajectory(variant, np.array([1.0]), obj.grad, lr=lr_value, beta=beta_value, steps=steps)
    except NonFiniteError:
        return float("inf")
    return float(abs(traj[-1, 0]))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(beta_value=st.floats(0.0, 0.95), factor=st.floats(0.02, 2.0))
def test_stability_regions_predict_the_reference_rules(beta_value: float, factor: float) -> None:
    assume(abs(factor - 1.0) > 0.05)  # stay clear of the boundary, where convergence is arbitrarily slow
    for variant, answer in (("momentum", "heavy_ball_region_upper"), ("nesterov", "nesterov_region_upper")):
        edge = formulas.get(answer).evaluate(beta=beta_value)
        x_final = _final_abs(variant, factor * edge, beta_value)
        if factor < 1:
            assert x_final < 1e-2, (variant, beta_value, factor, x_final)
        else:
            assert x_final > 1e2, (variant, beta_value, factor, x_final)


# --- the manual's statements, each checked by an independent computation (issue 9, item 13) -----
# Every number below is computed here with numpy or SymPy directly, not with solvers.* code.

def _text(report: derive.Report) -> str:
    return render(report, "text")


def _hb_modulus(beta_value: float, u: float) -> float:
    """Largest root modulus of z^2 - (1 + beta - u) z + beta (heavy ball at lr*lam = u), by numpy."""
    return float(np.abs(np.roots([1.0, -(1 + beta_value - u), beta_value])).max())


def test_quiz_momentum_damping_condition(reports: dict[str, derive.Report]) -> None:
    threshold = 3 - 2 * np.sqrt(2)
    assert threshold == pytest.approx(0.1716, abs=1e-4)
    assert _hb_modulus(0.1, 2.0) == pytest.approx(0.770, abs=1e-3)
    assert _hb_modulus(0.0, 2.0) == pytest.approx(1.0, abs=1e-12)
    for b in (threshold + 1e-3, 0.5, 0.9):
        assert _hb_modulus(b, 2.0) == pytest.approx(np.sqrt(b), rel=1e-9)
    for b in (0.01, 0.1, threshold - 1e-3):
        assert _hb_modulus(b, 2.0) > np.sqrt(b) + 1e-3
    # a numpy run of heavy ball on lam/2 x^2 at lr*lam = 2, beta = 0.1: per-step shrink factor 0.770
    x, v = 1.0, 0.0
    xs = []
    for _ in range(200):
        v = 0.1 * v + x
        x = x - 2.0 * v
        xs.append(abs(x))
    assert xs[-1] / xs[-2] == pytest.approx(0.770, abs=1e-3)
    text = _text(reports["quiz"])
    assert "3 - 2 sqrt 2" in text and "0.770" in text
    assert "(lr*lam = 2 < 2(1+beta)), so the swing is damped" not in text  # the old, unconditional claim
    step = reports["quiz"].derivation.steps[7]
    assert step.why.startswith("beta > 3 - 2 sqrt 2") and "sqrt(beta)" in step.why


def test_gd_at_the_edge_is_neutrally_stable(reports: dict[str, derive.Report]) -> None:
    lr_edge = 2 / 100.0  # lambda_max = 100
    a, b = 1.0, 1.0 + 1e-3
    for _ in range(500):
        a, b = a - lr_edge * 100 * a, b - lr_edge * 100 * b
    assert abs(a) == pytest.approx(1.0) and abs(b - a) == pytest.approx(1e-3, rel=1e-6)  # no attraction
    everything = "\n".join(_text(r) for r in reports.values())
    assert "stable 2-cycle" not in everything and "a stable oscillation" not in everything
    assert "neutrally stable" in _text(reports["quiz"])


def _np_rosenbrock_momentum(lr_value: float, beta_value: float, steps: int = 3000):  # type: ignore[no-untyped-def]
    p = np.array([-1.2, 1.0])
    v = np.zeros(2)
    first_exit = None
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(1, steps + 1):
            xx, yy = p
            grad = np.array([-2 * (1 - xx) - 400 * xx * (yy - xx * xx), 200 * (yy - xx * xx)])
            v = beta_value * v + grad
            p = p - lr_value * v
            if not np.all(np.isfinite(p)):
                return step, first_exit, p
            h = np.array([[1200 * p[0] ** 2 - 400 * p[1] + 2, -400 * p[0]], [-400 * p[0], 200.0]])
            if first_exit is None and lr_value * np.linalg.eigvalsh(h).max() > 2 * (1 + beta_value):
                first_exit = step
    return None, first_exit, p


def test_p6_explanation_matches_an_independent_run(reports: dict[str, derive.Report]) -> None:
    nan_step, first_exit, _ = _np_rosenbrock_momentum(0.002, 0.99)
    assert (nan_step, first_exit) == (29, 18)
    assert sum(0.99**k for k in range(29)) == pytest.approx(25.28, abs=0.01)
    for lr_value, b in ((0.002, 0.9), (0.0002, 0.99)):
        nan_step, first_exit, p = _np_rosenbrock_momentum(lr_value, b)
        assert nan_step is None and first_exit is None and np.allclose(p, [1, 1], atol=1e-4)
    # the quadratic control: 1/2 (100 x^2 + y^2) at the same lr with beta = 0.99 converges
    q, v = np.array([1.0, 1.0]), np.zeros(2)
    for _ in range(3000):
        v = 0.99 * v + np.array([100.0, 1.0]) * q
        q = q - 0.002 * v
    assert np.linalg.norm(q) < 1e-5
    d = reports["p6"].derivation
    assert "overshoots (and overflows)" not in d.answer
    for phrase in ("step 29", "25.3", "2(1 + beta)", "step 18", "non-quadratic", "control", "Divide lr by 10"):
        assert phrase in d.answer, phrase
    assert "Control, the quadratic ravine" in reports["p6"].simulations[0].detail


def test_lrp_cycles_from_some_starts_only(reports: dict[str, derive.Report]) -> None:
    lr_p, beta_p = 4 / 36, 4 / 9  # Polyak's tuning for mu = 1, L = 25
    x = np.round(np.linspace(-5, 5, 1001), 10)
    v = np.zeros_like(x)
    history = []
    for _ in range(3000):
        grad = np.where(x < 1, 25 * x, np.where(x < 2, x + 24, 25 * x - 24))
        v = beta_p * v + grad
        x = x - lr_p * v
        history.append(x.copy())
    last, back3 = history[-1], history[-4]
    cycling = (np.abs(last) > 1e-3) & (np.abs(last - back3) < 1e-9)
    converged = np.abs(last) < 1e-9
    assert int(cycling.sum()) == 124 and int(converged.sum()) == 877
    answer = reports["heavy-ball"].derivation.answer
    assert "cycle forever" not in answer and "124" in answer and "877" in answer
    assert reports["heavy-ball"].simulations[-1].numbers["grid_cycling"] == 124


def test_second_derivative_test_is_stated_for_nondegenerate_points(reports: dict[str, derive.Report]) -> None:
    xs, ys = sp.symbols("xs ys", real=True)
    quartic = xs**4
    assert sp.hessian(quartic, (xs,)).subs(xs, 0) == sp.Matrix([[0]])  # not "all eigenvalues > 0" ...
    assert sp.solveset(quartic < 0, xs, sp.S.Reals) == sp.S.EmptySet  # ... yet a minimum
    saddle = xs**2 - ys**4
    eig = sp.hessian(saddle, (xs, ys)).subs({xs: 0, ys: 0}).eigenvals(multiple=True)
    assert sorted(eig) == [0, 2]  # no negative eigenvalue ...
    assert saddle.subs({xs: 0, ys: sp.Rational(1, 10)}) < 0 < saddle.subs({xs: sp.Rational(1, 10), ys: 0})
    d = reports["saddles"].derivation
    assert "non-degenerate" in d.convention and "saddle iff mixed signs (degenerate" not in d.convention
    assert "x^4" in d.answer and "x^2 - y^4" in d.answer


def test_goe_value_by_an_independent_quadrature(reports: dict[str, derive.Report]) -> None:
    # the GOE joint eigenvalue density |l1 - l2| exp(-(l1^2 + l2^2)/2), integrated on a grid
    grid = np.linspace(-9, 9, 1801)
    l1, l2 = np.meshgrid(grid, grid, indexing="ij")
    dens = np.abs(l1 - l2) * np.exp(-(l1**2 + l2**2) / 2)
    p = dens[(l1 > 0) & (l2 > 0)].sum() / dens.sum()
    assert p == pytest.approx((2 - np.sqrt(2)) / 4, abs=2e-3)
    goe = next(s for s in reports["saddles"].steps if s.label == "goe")
    assert goe.method == "symbolic"
    assert all(s.method != "given" or "density ~" not in s.why for s in reports["saddles"].steps)


def test_p3_growth_factor_claim_at_beta_zero(reports: dict[str, derive.Report]) -> None:
    zz, b, h, m = sp.symbols("zz b h m", positive=True)  # h = lr, m = mu
    p = zz**2 - (1 + b + h * m) * zz + b
    assert sp.expand(p.subs(zz, 1 + h * m)) == -b * h * m
    assert sp.expand(p.subs({b: 0, zz: 1 + h * m})) == 0  # zero, not negative, at beta = 0
    why = reports["p3"].derivation.steps[2].why
    assert "negative for every beta > 0" in why and "at beta = 0 it is 0" in why


def test_nesterov_correction_sign_matches_an_independent_run(reports: dict[str, derive.Report]) -> None:
    hess = np.array([[3.0, 1.0], [1.0, 2.0]])
    lr_value, b = 0.1, 0.9
    x, v = np.array([1.0, -1.0]), np.zeros(2)
    ys, gs = [], []
    for _ in range(6):  # look-ahead form: g_t at y_t = x_t - lr beta v_t
        y = x - lr_value * b * v
        gr = hess @ y
        ys.append(y)
        gs.append(gr)
        v = b * v + gr
        x = x - lr_value * v
    for t_ in range(1, 5):
        correction = -lr_value * b * (gs[t_] - gs[t_ - 1])
        assert np.allclose(correction, -lr_value * b * hess @ (ys[t_] - ys[t_ - 1]))
    for name in ("nesterov-correction", "p5"):
        answer = reports[name].derivation.answer
        assert "-lr beta H (y_t - y_{t-1})" in answer, name
        assert "~ lr beta H" not in answer


def test_effective_memory_is_a_length_not_the_total_weight(reports: dict[str, derive.Report]) -> None:
    for b in (0.5, 0.9, 0.99):
        k = np.arange(20000)
        w = b**k
        assert w.sum() == pytest.approx(1 / (1 - b), rel=1e-9)  # amplification
        assert ((k + 1) * w / w.sum()).sum() == pytest.approx(1 / (1 - b), rel=1e-9)  # mean age
    text = _text(reports["terminal-velocity"])
    assert "effective memory: the total weight" not in text
    assert "mean age" in text and "amplification" in text
    assert "total weight" not in formulas.get("effective_memory").description
