"""The loss-curve doctor: symptoms on curves made by the reference rules, file reading, ``ravine doctor``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from grader.cli import main

from solvers.commands.doctor import CurveFileError, read_curves
from solvers.lab.curves import symptom_curves
from solvers.lab.curve_doctor import LECTURE_TABLE, Thresholds, diagnose

CURVES = {c.name: c for c in symptom_curves(seed=0)}


def cli(argv: list[str]) -> int:
    return main(argv)


def test_every_symptom_and_clean_kind_is_covered() -> None:
    expected = {c.expected for c in CURVES.values()}
    assert expected == {None, *LECTURE_TABLE}
    assert sum(c.expected is None for c in CURVES.values()) >= 5


@pytest.mark.parametrize("name", sorted(CURVES))
def test_symptom_curves(name: str) -> None:
    c = CURVES[name]
    d = diagnose(c.loss, val=c.val)
    keys = [f.key for f in d.findings]
    if c.expected is None:
        assert keys == [], d.render()
        assert d.healthy and "no symptom" in d.render()
    else:
        assert keys[0] == c.expected, d.render()
        f = d.findings[0]
        assert (f.symptom, f.cause, f.fix) == LECTURE_TABLE[c.expected]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_overfitting_curves_other_seeds(seed: int) -> None:
    c = next(c for c in symptom_curves(seed=seed) if c.expected == "overfitting")
    d = diagnose(c.loss, val=c.val, names=("train_loss", "val_loss"))
    assert d.findings[0].key == "overfitting" and d.findings[0].curve == "val_loss"
    assert "meanwhile the train_loss keeps falling" in d.findings[0].evidence
    assert [f.key for f in d.findings] == ["overfitting"]  # not also "slow -> no momentum"


def test_fixes_are_the_lectures() -> None:
    d = diagnose(CURVES["oscillation-sgd-rosenbrock"].loss)
    assert "raise momentum" in d.findings[0].fix and d.findings[0].cause == "ravine + momentum too low"
    d = diagnose(CURVES["plateau-sgd-saddle"].loss)
    assert "stuck near a saddle" == d.findings[0].cause
    assert "flat for 216 points" in d.findings[0].evidence
    d = diagnose(CURVES["nan-sgd-lr-too-high"].loss)
    assert "halve the learning rate" in d.findings[0].fix
    assert "first non-finite value" in d.findings[0].evidence
    d = diagnose(CURVES["slow-sgd-ravine"].loss)
    assert d.findings[0].fix.startswith("add momentum=0.9")


def test_oscillation_statistic_separates_zigzag_from_noise() -> None:
    t = np.arange(400)
    zigzag = 1.0 + 0.1 * (-1.0) ** t
    assert [f.key for f in diagnose(zigzag).findings] == ["oscillation"]
    rng = np.random.default_rng(0)
    for _ in range(20):  # independent noise on a flat level flips ~2/3 of the time: never flagged
        noise = 1.0 + 0.05 * rng.standard_normal(400)
        assert "oscillation" not in [f.key for f in diagnose(noise).findings]


def test_plateau_needs_a_later_drop_and_enough_points() -> None:
    converged = np.concatenate([np.geomspace(10.0, 1.0, 50), np.ones(300)])
    assert diagnose(converged).healthy  # flat at the end = converged, not a plateau
    stuck = np.concatenate([np.linspace(3.0, 1.0, 20), np.full(150, 1.0), np.linspace(1.0, 0.0, 30)])
    assert [f.key for f in diagnose(stuck).findings] == ["plateau"]
    assert diagnose(stuck, thresholds=Thresholds(plateau_steps=200)).healthy


def test_single_curve_that_climbs_warns_about_lr() -> None:
    curve = np.concatenate([np.linspace(2.0, 0.5, 100), np.linspace(0.5, 0.9, 100)])
    d = diagnose(curve)
    assert d.findings[0].key == "overfitting"
    assert "not overfitting: suspect the learning rate" in d.findings[0].evidence


def _noisy_training_curves(seed: int) -> dict[str, list[float]]:
    """Per-step minibatch losses of the numpy MLP on the ill-conditioned synthetic problem."""
    from solvers import rules
    from solvers.lab.data import stratified_split, synthetic_classification
    from solvers.lab.mlp import MLP, train

    X, y = synthetic_classification(400, seed=seed)
    Xtr, ytr, Xv, yv = stratified_split(X, y, val_fraction=0.25, seed=seed)
    model = MLP((Xtr.shape[1], 16, 3))
    kw = dict(X_val=Xv, y_val=yv, epochs=12, batch_size=16, seed=seed)
    return {
        "sgd": train(model, rules.sgd(0.05), Xtr, ytr, **kw).step_loss,
        "momentum": train(model, rules.momentum(0.05, 0.9), Xtr, ytr, **kw).step_loss,
    }


@pytest.mark.parametrize("seed", [0, 1])
def test_slow_against_a_reference_on_noisy_minibatch_curves(seed: int) -> None:
    c = _noisy_training_curves(seed)
    assert len(c["sgd"]) == len(c["momentum"]) == 12 * 19
    d = diagnose(c["sgd"], reference=c["momentum"])
    assert [f.key for f in d.findings] == ["slow"], d.render()
    assert "the reference curve reaches this run's final loss" in d.findings[0].evidence
    assert diagnose(c["momentum"], reference=c["momentum"]).healthy
    assert diagnose(c["momentum"], reference=c["sgd"]).healthy
    # without a reference, noisy minibatch curves of healthy training get no false alarm
    assert diagnose(c["momentum"]).healthy


def test_diagnose_bad_input() -> None:
    with pytest.raises(ValueError, match="need at least 8 loss values, got 3"):
        diagnose([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="validation curve has 9 values, the loss curve 10"):
        diagnose(np.ones(10), val=np.ones(9))
    with pytest.raises(ValueError, match="the reference curve needs at least 8 finite values"):
        diagnose(np.ones(10), reference=[1.0, float("nan")] * 5)


# --- reading files --------------------------------------------------------------------


def test_read_one_loss_per_line_with_comments_and_nan() -> None:
    c = read_curves("# run 1\n1.5\n\n1.25\nnan\ninf\n", source="f")
    assert c.loss[:2] == [1.5, 1.25] and np.isnan(c.loss[2]) and np.isinf(c.loss[3])
    assert c.val is None and c.names == ("loss", "validation")


def test_read_csv_with_header_default_and_named_columns() -> None:
    text = "step,train_loss,val_loss\n0,2.0,2.1\n1,1.5,1.9\n"
    c = read_curves(text, source="f")
    assert c.loss == [2.0, 1.5] and c.val is None and c.names[0] == "train_loss"
    c = read_curves(text, source="f", column="val_loss", val="train_loss")
    assert c.loss == [2.1, 1.9] and c.val == [2.0, 1.5] and c.names == ("val_loss", "train_loss")
    c = read_curves("0\t3.0\n1\t2.0\n", source="f", column="2")
    assert c.loss == [3.0, 2.0]


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("", {}, "f: no loss values (the file is empty)"),
        ("# only a comment\n\n", {}, "f: no loss values"),
        ("loss\n", {}, "f: a header (loss) but no loss values"),
        ("1.0\n0.9\nabc\n0.7\n", {}, "f line 3: 'abc' is not a number"),
        ("step,loss\n0,1.0\n1,x\n", {}, "f line 3, column 'loss': 'x' is not a number"),
        ("step,loss\n0,1.0\n1\n", {}, "f line 3: 1 field(s), expected 2"),
        ("a,b\n1,2\n", {}, "f: the file has columns a, b; choose the loss with --column NAME"),
        ("1,2\n3,4\n", {}, "f: the file has 2 columns and no header"),
        ("a,b\n1,2\n", {"column": "c"}, "f: no loss column 'c'; the file has columns a, b"),
        ("loss,val\n1,2\n", {"val": "v"}, "f: no validation column 'v'"),
        ("loss,loss\n1,2\n", {}, "repeated column names"),
    ],
)
def test_read_bad_files(text: str, kwargs: dict, message: str) -> None:
    with pytest.raises(CurveFileError) as info:
        read_curves(text, source="f", **kwargs)
    assert message in str(info.value)


# --- the command ----------------------------------------------------------------------


def _write(path: Path, values, header: str | None = None) -> Path:
    lines = ([header] if header else []) + [repr(float(v)) for v in values]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_symptom_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _write(tmp_path / "osc.csv", CURVES["oscillation-sgd-rosenbrock"].loss)
    assert cli(["doctor", str(f)]) == 1
    out = capsys.readouterr().out
    assert "symptom: Loss oscillates (+-)" in out and "likely cause: ravine + momentum too low" in out
    assert "fix: raise momentum" in out


def test_cli_clean_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _write(tmp_path / "ok.csv", CURVES["clean-momentum-rosenbrock"].loss, header="loss")
    assert cli(["doctor", str(f)]) == 0
    assert "no symptom" in capsys.readouterr().out


def test_cli_validation_column_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = CURVES["overfitting-least-squares"]
    f = tmp_path / "run.csv"
    f.write_text("step,train_loss,val_loss\n" + "".join(f"{i},{float(a)!r},{float(b)!r}\n" for i, (a, b) in enumerate(zip(c.loss, c.val))))
    assert cli(["doctor", str(f), "--val", "val_loss", "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["file"] == str(f) and d["healthy"] is False and d["n"] == len(c.loss)
    assert d["findings"][0]["key"] == "overfitting" and d["findings"][0]["curve"] == "val_loss"
    # without --val only the training column is read: no overfitting to see there
    assert cli(["doctor", str(f)]) in (0, 1)
    assert "overfitting" not in capsys.readouterr().out


def test_cli_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = _noisy_training_curves(0)
    run = _write(tmp_path / "sgd.csv", c["sgd"], header="loss")
    ref = _write(tmp_path / "keras.csv", c["momentum"])
    assert cli(["doctor", str(run), "--reference", str(ref)]) == 1
    out = capsys.readouterr().out
    assert "symptom: Training slower than expected" in out and "likely cause: no momentum" in out
    assert cli(["doctor", str(run), "--reference", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err
    bad = _write(tmp_path / "bad.csv", [1.0, 2.0, float("inf")] * 4)
    assert cli(["doctor", str(run), "--reference", str(bad)]) == 2
    assert "the reference needs at least 8 finite losses (got 12 value(s), first non-finite at value 3)" in \
        capsys.readouterr().err


@pytest.mark.parametrize(
    "content, argv, message",
    [
        (None, [], "no such file"),
        ("", [], "no loss values (the file is empty)"),
        ("1.0\n0.5\nhello\n", [], "line 3: 'hello' is not a number"),
        ("1\n2\n3\n", [], "3 loss value(s); need at least 8"),
        (b"\xff\xfe\x00\x01", [], "not a text file"),
        ("1\n" * 20, ["--plateau-steps", "1"], "--plateau-steps must be >= 2"),
    ],
)
def test_cli_bad_input_exit_2(tmp_path: Path, content, argv: list[str], message: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "losses.csv"
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content)
    assert cli(["doctor", str(f), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ravine doctor: ") and message in err
    assert str(f) in err or "--plateau-steps" in err


# --- robustness (hypothesis) ------------------------------------------------------------

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=150, deadline=None)
@given(st.lists(_values, min_size=8, max_size=300), st.booleans(), st.booleans())
@example([1e308, -1e308] * 5, True, True)
@example(list(range(-5, 4)), False, True)
def test_diagnose_never_crashes(loss: list[float], with_val: bool, with_ref: bool) -> None:
    val = list(reversed(loss)) if with_val else None
    d = diagnose(loss, val=val, reference=[1.0] * 8 if with_ref else None)
    assert d.n == len(loss)
    assert all(f.key in LECTURE_TABLE for f in d.findings)
    if any(not math.isfinite(v) for v in loss):
        assert d.findings[0].key == "nan"
    json.dumps(d.to_dict(), allow_nan=True)


def test_a_rising_curve_is_not_slow_against_a_reference() -> None:
    assert "slow" not in [f.key for f in diagnose(list(range(-5, 4)), reference=[1.0] * 8).findings]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789.,-e\t\n #nafiNloss_x")), max_size=200))
def test_read_curves_fails_only_with_a_user_message(text: str) -> None:
    try:
        c = read_curves(text, source="f")
    except CurveFileError as exc:
        assert str(exc).startswith("f")
    else:
        assert len(c.loss) >= 1 and all(isinstance(v, float) for v in c.loss)
