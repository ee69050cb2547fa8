"""The scorer: every exercise's reference passes (also in float32), every mistake is named.

These tests produce outcomes in-process from *our own* rule variants (trusted
code), to test the comparison and diagnosis logic alone; the isolated runner
is tested in test_sandbox_*.py and end to end in test_grade.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from grader.checks import compare_positions, compile_check
from grader.gradescope import tags
from grader.sandbox import Outcome
from problems import exercise_registry as U
from problems.checkspec import Tolerance, TrajectoryCheck
from solvers import rules
from solvers.objectives import build
from solvers.rollout import NonFiniteError, Rule, rollout

RULE_FUNCTIONS = ["sgd_step", "momentum_step", "nesterov_step"]
SEEDS = range(12)


def float32_rule(variant: str, lr: float, beta: float) -> Rule:
    """The named variant computed entirely in float32 (the student's arithmetic)."""
    r = rules.VARIANTS[variant].factory(np.float32(lr), np.float32(beta))

    def step(x, s, g):
        g32 = lambda p: np.asarray(g(np.asarray(p, np.float64)), np.float32)  # noqa: E731
        xs, ss = r.step(np.asarray(x, np.float32), None if s is None else np.asarray(s, np.float32), g32)
        return np.asarray(xs, np.float32), ss

    return Rule(lambda x0: r.init(np.asarray(x0, np.float32)), step)


def outcome_of(spec: TrajectoryCheck, rule: Rule) -> Outcome:
    obj = build(spec.objective)
    try:
        with np.errstate(all="ignore"):
            return Outcome(spec.name, "ok", rollout(rule, np.array(spec.x0), obj.grad, spec.steps))
    except NonFiniteError as exc:
        return Outcome(spec.name, "non-finite", step=exc.step, partial=exc.partial)


def all_trajectory_specs():
    for seed in SEEDS:
        for f in RULE_FUNCTIONS:
            for spec in U.EXERCISES[f].checks(seed=seed):
                if seed == 0 or spec.hidden:  # public checks once, hidden ones for every seed
                    yield spec


@pytest.mark.parametrize("function", RULE_FUNCTIONS)
def test_float32_reference_passes_every_check(function):
    n = 0
    for spec in all_trajectory_specs():
        if spec.function != function:
            continue
        check = compile_check(spec)
        result = check.score(outcome_of(spec, float32_rule(spec.reference, spec.lr, spec.beta)))
        assert result.status == "passed", (spec.name, result.output)
        assert result.score == spec.points
        n += 1
    assert n == 3 + 3 * len(SEEDS)


@pytest.mark.parametrize("function", RULE_FUNCTIONS)
def test_every_mistake_is_named_on_every_check(function):
    for spec in all_trajectory_specs():
        if spec.function != function:
            continue
        check = compile_check(spec)
        for mistake in spec.mistakes:
            rule = rules.VARIANTS[mistake.matcher].factory(spec.lr, spec.beta)
            result = check.score(outcome_of(spec, rule))
            assert mistake.id in result.diagnoses, (spec.name, mistake.id, result.diagnoses, result.output)
            assert result.score == pytest.approx(mistake.credit * spec.points)
            assert result.status != "passed"


def test_nesterov_reference_equals_lookahead_form_step_by_step():
    obj = build({"kind": "spectral", "d": 50, "seed": 7, "lam_min": 0.1, "lam_max": 10.0})
    x0 = np.random.default_rng(0).standard_normal(50)
    a = rules.trajectory("nesterov", x0, obj.grad, lr=0.05, beta=0.9, steps=100)
    b = rules.trajectory("nesterov-lookahead", x0, obj.grad, lr=0.05, beta=0.9, steps=100)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert np.linalg.norm(a[-1]) < 0.5 * np.linalg.norm(x0)  # and it converges


def test_reparameterized_iterates_are_the_lookahead_points():
    obj = build({"kind": "rosenbrock"})
    lr, beta = 5e-4, 0.9
    x, v = np.array([-1.2, 1.0]), np.zeros(2)
    y = rules.trajectory("nesterov-reparameterized", x, obj.grad, lr=lr, beta=beta, steps=30)
    for t in range(30):
        np.testing.assert_allclose(y[t], x - lr * beta * v, rtol=1e-12, atol=1e-14)
        v = beta * v + obj.grad(x - lr * beta * v)
        x = x - lr * v


def test_ema_form_equals_reference_at_scaled_lr():
    obj = build({"kind": "ravine"})
    x0 = np.array([1.0, 1.0])
    ema = rules.trajectory("momentum-ema", x0, obj.grad, lr=0.01, beta=0.9, steps=40)
    ref = rules.trajectory("momentum", x0, obj.grad, lr=0.01 * (1 - 0.9), beta=0.9, steps=40)
    np.testing.assert_allclose(ema, ref, rtol=1e-12)


def test_gradient_descent_matches_closed_form():
    # x_t = (I - lr H)^t x_0 on f = 1/2 x^T H x
    obj = build({"kind": "spectral", "d": 30, "seed": 3, "lam_min": 0.2, "lam_max": 5.0})
    H = obj.hessian()
    x0 = np.random.default_rng(1).standard_normal(30)
    traj = rules.trajectory("sgd", x0, obj.grad, lr=0.3, beta=0.0, steps=25)
    M = np.eye(30) - 0.3 * H
    for t in (1, 10, 25):
        np.testing.assert_allclose(traj[t], np.linalg.matrix_power(M, t) @ x0, rtol=1e-9, atol=1e-12)


def test_deviation_report_names_first_step_and_tolerance():
    spec = U.EXERCISES["momentum_step"].public[0]
    check = compile_check(spec)
    exp = check.expected().copy()
    exp[5:] += 0.01  # an unknown mistake from step 5 on
    result = check.score(Outcome(spec.name, "ok", exp))
    assert result.status == "failed" and result.score == 0
    assert "wrong-trajectory" in result.diagnoses
    assert "first differ from the reference at step 5 of 40" in result.output
    assert "tolerance |got - expected| <=" in result.output


def test_hidden_feedback_never_shows_inputs_or_expected_values():
    spec = next(s for s in U.EXERCISES["sgd_step"].checks(seed=3) if s.hidden)
    check = compile_check(spec)
    exp = check.expected()
    got = exp.copy()
    got[3:] *= 1.5
    result = check.score(Outcome(spec.name, "ok", got))
    assert result.visibility == "after_published"
    assert "step 3" in result.output
    for value in list(exp[1, :3]) + [spec.lr, spec.x0[0]]:
        assert f"{value:.6g}" not in result.output
        assert f"{value:.4g}" not in result.output


def test_non_finite_names_the_step():
    spec = U.EXERCISES["sgd_step"].public[0]
    check = compile_check(spec)
    result = check.score(Outcome(spec.name, "non-finite", step=7, partial=None))
    assert (result.group, result.diagnoses) == ("sgd_step", ["non-finite"])
    assert tags(result) == ["sgd_step", "non-finite"]  # results.json's tags, built at the edge
    assert "at step 7" in result.output


@pytest.mark.parametrize(
    "status,diag",
    [("exception", "exception"), ("timeout", "timeout"), ("memory", "memory"), ("crash", "crash"),
     ("contract", "contract"), ("missing", "contract"), ("forbidden", "forbidden")],
)
def test_run_failures_score_zero_with_their_diagnosis(status, diag):
    spec = U.EXERCISES["nesterov_step"].public[1]
    result = compile_check(spec).score(Outcome(spec.name, status, message="details here"))
    assert result.score == 0 and tags(result) == ["nesterov_step", diag]
    assert "details here" in result.output


def value_spec(function: str, index: int):
    return U.EXERCISES[function].public[index]


@pytest.mark.parametrize(
    "function,index,value,expect_tag,expect_score",
    [
        ("largest_stable_lr", 0, 0.02, None, 1.0),
        ("largest_stable_lr", 0, 0.01, "one-over-lambda-max", 0.0),
        ("largest_stable_lr", 0, 2.0, "two-over-lambda-min", 0.0),
        ("largest_stable_lr", 1, 0.5, "diagonal-only", 0.0),
        ("largest_stable_lr", 1, 0.123, "wrong-value", 0.0),
        ("largest_stable_lr", 1, "0.4", "contract", 0.0),
        ("largest_stable_lr", 1, float("nan"), "non-finite", 0.0),
        ("effective_lr", 0, 0.1, None, 1.0),
        ("effective_lr", 0, 0.001, "lr-times-one-minus-beta", 0.0),
        ("effective_lr", 0, 0.01 / 1.9, "one-plus-beta", 0.0),
        ("effective_lr", 0, 10.0, "missing-lr", 0.0),
        ("classify_critical_point", 0, "saddle", None, 1.0),
        ("classify_critical_point", 0, " Saddle ", None, 1.0),
        ("classify_critical_point", 2, "minimum", "determinant-only", 0.0),
        ("classify_critical_point", 3, "saddle", "exact-zero", 0.0),
        ("classify_critical_point", 3, 3.0, "contract", 0.0),
    ],
)
def test_value_checks(function, index, value, expect_tag, expect_score):
    spec = value_spec(function, index)
    result = compile_check(spec).score(Outcome(spec.name, "ok", value))
    assert result.score == expect_score
    if expect_tag is None:
        assert result.status == "passed" and tags(result) == [function] and result.diagnoses == []
    else:
        assert expect_tag in result.diagnoses, result.output


def test_largest_stable_lr_ratio_is_positive_on_hidden_checks():
    # The 3x3 public check and the hidden matrices have off-diagonal terms, so
    # diagonal-only is distinguishable from the answer there.
    for seed in range(5):
        for spec in U.EXERCISES["largest_stable_lr"].checks(seed=seed)[1:]:
            H = np.array(spec.args[0]["matrix"])
            assert abs(2 / np.max(np.diag(H)) - spec.expected) > 1e-3 * spec.expected


def test_compare_positions_tolerance_is_relative_to_scale():
    exp = np.array([[1000.0, 0.0], [500.0, 0.0]])
    got = exp + np.array([[0.0, 0.005], [0.04, 0.0]])
    cmp = compare_positions(got, exp, Tolerance(rtol=1e-4, atol=1e-5))
    assert cmp.ok  # 0.005 <= 1e-5 * 1000 and 0.04 <= 0.01 + 0.05
    bad = compare_positions(exp + np.array([[0.0, 0.0], [0.0, 0.02]]), exp, Tolerance(rtol=1e-4, atol=1e-5))
    assert not bad.ok and bad.first_bad_step == 1


def test_hidden_checks_depend_on_the_seed_and_only_on_it():
    a = [s.name + repr(getattr(s, "lr", None)) + repr(getattr(s, "args", None)) for s in
         U.EXERCISES["momentum_step"].checks(seed=1) + U.EXERCISES["largest_stable_lr"].checks(seed=1)]
    b = [s.name + repr(getattr(s, "lr", None)) + repr(getattr(s, "args", None)) for s in
         U.EXERCISES["momentum_step"].checks(seed=1) + U.EXERCISES["largest_stable_lr"].checks(seed=1)]
    c = [s.name + repr(getattr(s, "lr", None)) + repr(getattr(s, "args", None)) for s in
         U.EXERCISES["momentum_step"].checks(seed=2) + U.EXERCISES["largest_stable_lr"].checks(seed=2)]
    assert a == b and a != c


def test_hidden_value_checks_do_not_echo_a_right_answer_nor_name_it():
    for function in ("largest_stable_lr", "effective_lr", "classify_critical_point"):
        for spec in U.EXERCISES[function].checks(seed=4):
            if not spec.hidden:
                continue
            result = compile_check(spec).score(Outcome(spec.name, "ok", spec.expected))
            assert result.status == "passed" and result.output.endswith("returned the expected value.")
            if isinstance(spec.expected, str):
                assert spec.expected not in result.output and spec.expected not in spec.name
            else:
                assert f"{spec.expected:.6g}" not in result.output


def test_objective_spectrum_is_for_quadratics_only():
    np.testing.assert_array_equal(build({"kind": "ravine"}).spectrum(), [1.0, 100.0])
    with pytest.raises(ValueError, match="objective 'rosenbrock' has no constant Hessian"):
        build({"kind": "rosenbrock"}).spectrum()
