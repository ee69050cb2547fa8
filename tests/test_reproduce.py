"""The numpy MLP, the training loop, the lecture's experiments and ``ravine reproduce``.

The core is tested without scikit-learn (synthetic data); the digits tests are
skipped when the optional extra ``ravine[experiments]`` is not installed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from grader.cli import main

from solvers import rules
from solvers.lab import experiments
from solvers.lab.data import MissingExtra, stratified_split, synthetic_classification
from solvers.lab.mlp import MLP, numerical_grad, train


def cli(argv: list[str]) -> int:
    """The real ``ravine`` entry point."""
    return main(argv)


def _synthetic_split(seed: int):
    X, y = synthetic_classification(300, seed=seed)
    return stratified_split(X, y, val_fraction=0.25, seed=seed)


# --- the MLP ------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(5, 3), (5, 7, 3), (4, 6, 5, 3)])
def test_gradient_matches_finite_differences(sizes: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    model = MLP(sizes)
    theta = model.init(seed=2) + 0.1 * rng.standard_normal(model.n_params)  # nonzero biases too
    X = rng.standard_normal((9, sizes[0]))
    y = rng.integers(0, sizes[-1], size=9)
    loss, g = model.loss_and_grad(theta, X, y)
    assert loss == pytest.approx(model.loss(theta, X, y), rel=1e-12)
    num = numerical_grad(lambda th: model.loss(th, X, y), theta)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


def test_loss_of_uniform_logits_is_log_classes() -> None:
    model = MLP((3, 4))
    theta = np.zeros(model.n_params)
    assert model.loss(theta, np.ones((5, 3)), np.arange(5) % 4) == pytest.approx(math.log(4), rel=1e-12)


def test_mlp_bad_input() -> None:
    with pytest.raises(ValueError, match="MLP sizes must be >= 2 positive ints"):
        MLP((5,))
    with pytest.raises(ValueError, match=r"theta has shape \(3,\), expected \(18,\)"):
        MLP((5, 3)).unpack(np.zeros(3))


def test_training_lowers_the_loss_and_learns() -> None:
    Xtr, ytr, Xv, yv = _synthetic_split(0)
    model = MLP((Xtr.shape[1], 16, 3))
    log = train(model, rules.momentum(0.05, 0.9), Xtr, ytr, X_val=Xv, y_val=yv, epochs=15, batch_size=16, seed=0)
    assert len(log.train_loss) == 16 and log.diverged_at is None
    assert log.train_loss[-1] < 0.5 * log.train_loss[0]
    assert log.val_acc[-1] > 0.8
    assert log.steps == 15 * math.ceil(Xtr.shape[0] / 16) == len(log.step_loss)
    # the first recorded minibatch loss is the loss of the initial parameters on the first batch
    first = np.random.default_rng([0, 7]).permutation(Xtr.shape[0])[:16]
    assert log.step_loss[0] == pytest.approx(model.loss(model.init(0), Xtr[first], ytr[first]), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_momentum_beats_sgd_at_the_same_lr_on_an_ill_conditioned_problem(seed: int) -> None:
    Xtr, ytr, Xv, yv = _synthetic_split(seed)
    model = MLP((Xtr.shape[1], 16, 3))
    kw = dict(X_val=Xv, y_val=yv, epochs=10, batch_size=16, seed=seed)
    sgd = train(model, rules.sgd(0.05), Xtr, ytr, **kw)
    mom = train(model, rules.momentum(0.05, 0.9), Xtr, ytr, **kw)
    assert sgd.train_loss[0] == mom.train_loss[0]  # same initialisation
    assert mom.train_loss[-1] < 0.8 * sgd.train_loss[-1]


def test_same_seed_same_run_and_nesterov_trains() -> None:
    Xtr, ytr, Xv, yv = _synthetic_split(3)
    model = MLP((Xtr.shape[1], 8, 3))
    kw = dict(X_val=Xv, y_val=yv, epochs=3, batch_size=32, seed=4)
    a = train(model, rules.nesterov(0.05, 0.9), Xtr, ytr, **kw)
    b = train(model, rules.nesterov(0.05, 0.9), Xtr, ytr, **kw)
    assert a.train_loss == b.train_loss and a.train_loss[-1] < a.train_loss[0]


def test_divergence_is_recorded_not_raised() -> None:
    Xtr, ytr, Xv, yv = _synthetic_split(0)
    model = MLP((Xtr.shape[1], 16, 3))
    log = train(model, rules.momentum(1e6, 0.99), Xtr, ytr, X_val=Xv, y_val=yv, epochs=5, batch_size=16, seed=0)
    assert log.diverged_at is not None and log.diverged_at >= 1
    assert len(log.train_loss) == 6 and np.isnan(log.train_loss[-1])


def test_stratified_split_keeps_class_shares() -> None:
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    X = np.arange(100.0)[:, None]
    Xtr, ytr, Xv, yv = stratified_split(X, y, val_fraction=0.2, seed=0)
    assert np.bincount(yv).tolist() == [2, 4, 6, 8]
    assert sorted(np.concatenate([Xtr[:, 0], Xv[:, 0]]).tolist()) == list(range(100))
    with pytest.raises(ValueError, match=r"val_fraction must lie in \(0, 1\), got 1.5"):
        stratified_split(X, y, val_fraction=1.5, seed=0)


# --- the experiments ------------------------------------------------------------------


def test_momentum_table_on_synthetic_data() -> None:
    t = experiments.momentum_table(_synthetic_split, seeds=(0, 1, 2), epochs=5, lr=0.05, batch_size=16,
                                   hidden=(16,), dataset="synthetic")
    (name0, sl, ss, sa, _), (name1, ml, _, ma, _) = t.rows()
    assert (name0, name1) == ("SGD", "SGD + momentum")
    assert sl == pytest.approx(np.mean(t.sgd_loss)) and ss == pytest.approx(np.std(t.sgd_loss, ddof=1))
    assert ml < sl and ma >= sa
    assert t.verdicts[0].startswith("direction, train loss: momentum lower in 3/3 seeds (matches")
    assert "not MNIST" in t.verdicts[3]
    d = t.to_dict()
    assert d["lecture"]["SGD"] == {"train_loss": 0.42, "val_acc": 92.1}
    assert len(d["per_seed"]) == 3 and d["config"]["dataset"] == "synthetic"
    assert len(t.curves["sgd"]) == len(t.curves["momentum"]) == t.config["steps"]
    json.dumps(d)


def test_beta_table_measures_the_lectures_memory() -> None:
    rows = experiments.beta_table()
    assert [r.beta for r in rows] == [0.5, 0.9, 0.95, 0.99]
    for r in rows:
        assert r.response_steps == r.lecture_memory  # 2, 10, 20, 100
        assert r.terminal_ratio == pytest.approx(1.0 / (1.0 - r.beta), rel=1e-9)
        # EMA of independent noise: std factor sqrt((1-beta)/(1+beta)); the samples are correlated,
        # about NOISE_STEPS (1-beta)/(1+beta) effective ones: allow 4 relative standard errors
        n_eff = experiments.NOISE_STEPS * (1 - r.beta) / (1 + r.beta)
        expected = math.sqrt((1 - r.beta) / (1 + r.beta))
        assert r.noise_ratio == pytest.approx(expected, rel=4 / math.sqrt(2 * n_eff))
    assert [r.rosenbrock.split(",")[0].split(" at")[0] for r in rows] == ["converges"] * 3 + ["diverges"]


def test_p6_diverges_at_lr_and_converges_at_lr_over_10() -> None:
    res = experiments.p6()
    a, b, c = res.runs
    assert (a.beta, b.beta, c.beta) == (0.9, 0.99, 0.99)
    assert a.diverged_at is None and a.losses[-1] < 1e-10
    assert b.diverged_at is not None and b.diverged_at < 100
    assert c.diverged_at is None and c.losses[-1] < 1e-8
    assert c.lr == pytest.approx(b.lr / 10) and c.effective_lr == pytest.approx(a.effective_lr)
    assert "converges" in res.quadratic_control


# --- digits (optional extra) -------------------------------------------------------------


def test_digits_momentum_table() -> None:
    pytest.importorskip("sklearn", reason="the digits data set needs scikit-learn (extras: test or experiments)")
    from solvers.lab.data import load_digits_split

    Xtr, ytr, Xv, yv = load_digits_split(seed=0)
    assert Xtr.shape == (1438, 64) and Xv.shape == (359, 64) and Xtr.max() == 1.0
    t = experiments.momentum_table(lambda s: load_digits_split(seed=s), seeds=(0, 1))
    (_, sl, _, sa, _), (_, ml, _, ma, _) = t.rows()
    assert ml < 0.5 * sl and ma > sa + 5.0  # the lecture's direction, with room
    assert t.config["steps"] == 450


def test_cli_momentum_table_writes_curves_for_the_doctor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn", reason="the digits data set needs scikit-learn (extras: test or experiments)")
    assert cli(["reproduce", "momentum-table", "--seeds", "1", "--epochs", "2", "--curves", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "SGD + momentum   |       0.13     97.6% |" in out and "direction, train loss" in out
    sgd, mom = tmp_path / "sgd-seed0.csv", tmp_path / "momentum-seed0.csv"
    assert sgd.read_text().startswith("step,loss\n0,") and len(sgd.read_text().splitlines()) == 1 + 90
    assert cli(["doctor", str(sgd), "--reference", str(mom)]) == 1
    assert "likely cause: no momentum" in capsys.readouterr().out


def test_cli_reproduce_momentum_table_without_sklearn(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import solvers.lab.data as data

    def missing(*, seed: int, val_fraction: float = 0.2):
        raise MissingExtra("the digits data set needs scikit-learn: pip install 'ravine[experiments]'")

    monkeypatch.setattr(data, "load_digits_split", missing)
    assert cli(["reproduce", "momentum-table"]) == 2
    assert "pip install 'ravine[experiments]'" in capsys.readouterr().err


def test_cli_reproduce_list_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("momentum-table", "beta-table", "p6"))
    assert cli(["reproduce"]) == 2
    assert cli(["reproduce", "momentum-table", "--seeds", "0"]) == 2
    assert "need --seeds, --epochs and --batch-size >= 1" in capsys.readouterr().err
    assert cli(["reproduce", "momentum-table", "--hidden", "64,x"]) == 2
    assert "--hidden '64,x': expected comma-separated positive integers" in capsys.readouterr().err
    assert cli(["reproduce", "p6", "--out", "fig.txt"]) == 2
    assert "--out fig.txt: use a .png, .svg or .pdf file" in capsys.readouterr().err


def test_cli_reproduce_beta_table_and_p6(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["reproduce", "beta-table"]) == 0
    out = capsys.readouterr().out
    assert "0.99 |      100 steps |    100 |       100.00" in out and out.count("matches:") == 1
    fig = tmp_path / "p6.png"
    assert cli(["reproduce", "p6", "--out", str(fig)]) == 0
    out = capsys.readouterr().out
    assert "diverges (NaN/inf at step" in out and fig.exists() and fig.stat().st_size > 10_000
    assert cli(["reproduce", "p6", "--json", "--no-figure"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [r["diverged_at"] is None for r in d["runs"]] == [True, False, True]
