"""The optimizer race: Adam in the Rule shape, race results, figures, ``ravine race``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader.cli import main

from solvers import rules
from solvers.lab.race import RACE_OBJECTIVES, adam, race, race_objective, run_rule
from solvers.rollout import rollout

ROOT = Path(__file__).resolve().parents[1]


def cli(argv: list[str]) -> int:
    """The real ``ravine`` entry point."""
    return main(argv)


def _adam_by_hand(x0: np.ndarray, grad, lr: float, b1: float, b2: float, eps: float, steps: int) -> np.ndarray:
    # an independent, loop-form Adam (as written in Kingma & Ba, Algorithm 1)
    x = x0.astype(float).copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    out = [x.copy()]
    for t in range(1, steps + 1):
        g = grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        out.append(x.copy())
    return np.array(out)


def test_adam_first_step_moves_lr_against_the_gradient_sign() -> None:
    x0 = np.array([3.0, -0.5])
    path = rollout(adam(0.1, 0.9), x0, lambda x: np.array([10.0, 2.0]) * x, 1)
    # bias correction makes the first step lr * g/(|g| + eps), i.e. lr against the sign of g
    g = np.array([30.0, -1.0])
    np.testing.assert_allclose(path[1], x0 - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-14)
    np.testing.assert_allclose(path[1], x0 - 0.1 * np.sign(x0), rtol=1e-7)


def test_adam_agrees_with_an_independent_loop() -> None:
    ob = race_objective("rosenbrock").objective
    x0 = np.array([-1.2, 1.0])
    ours = rollout(adam(0.01, 0.8, beta2=0.99, eps=1e-6), x0, ob.grad, 200)
    ref = _adam_by_hand(x0, ob.grad, 0.01, 0.8, 0.99, 1e-6, 200)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_adam_rejects_bad_beta(bad: float) -> None:
    with pytest.raises(ValueError, match="beta1 and beta2 must lie in"):
        adam(0.1, bad)


@pytest.mark.parametrize("name", RACE_OBJECTIVES)
def test_race_uses_the_reference_rules_from_one_start(name: str) -> None:
    r = race(name, steps=40)
    ro = race_objective(name)
    x0 = np.array(ro.start)
    for racer, factory in (("sgd", rules.sgd), ("momentum", rules.momentum), ("nesterov", rules.nesterov)):
        path = r.paths[racer]
        assert path.shape == (41, 2)
        np.testing.assert_array_equal(path[0], x0)
        np.testing.assert_array_equal(path, rollout(factory(ro.lr, ro.beta), x0, ro.objective.grad, 40))
        np.testing.assert_allclose(r.losses[racer], [ro.objective.f(p) for p in path])
    assert set(r.paths) == {"sgd", "momentum", "nesterov", "adam"}


def test_ravine_race_tells_the_lectures_story() -> None:
    r = race("ravine")
    assert r.diverged_at == {"sgd": None, "momentum": None, "nesterov": None, "adam": None}
    sgd = r.losses["sgd"][-1]
    assert r.losses["momentum"][-1] < sgd / 1e4
    assert r.losses["nesterov"][-1] < sgd / 1e4
    # SGD: the stiff x settles, the flat y crawls at (1 - lr) per step
    assert r.paths["sgd"][-1][1] == pytest.approx(10.0 * (1 - 0.012) ** 150, rel=1e-9)


def test_saddle_momentum_carries_through_sgd_crawls() -> None:
    r = race("saddle", start=(1.0, 1e-6), steps=400, racers=("sgd", "momentum"))
    escape = {k: int(np.argmax(v < 0.1)) for k, v in r.losses.items()}
    assert 0 < escape["momentum"] < 100
    assert escape["sgd"] > 2 * escape["momentum"]
    # while on the plateau, f sits at the saddle value 1/4
    assert r.losses["sgd"][150] == pytest.approx(0.25, abs=1e-3)


def test_divergence_keeps_the_finite_part_of_the_path() -> None:
    r = race("ravine", lr=0.5, steps=300, racers=("sgd", "momentum"))
    bad = r.diverged_at["sgd"]
    assert bad is not None and 1 < bad <= 300
    assert r.paths["sgd"].shape == (bad, 2)
    assert np.all(np.isfinite(r.paths["sgd"]))
    assert "diverged" in r.summary()[0]


def test_run_rule_without_divergence_is_rollout() -> None:
    g = lambda x: 2.0 * x  # noqa: E731
    path, bad = run_rule(rules.momentum(0.1, 0.5), np.array([1.0, 2.0]), g, 20)
    assert bad is None
    np.testing.assert_array_equal(path, rollout(rules.momentum(0.1, 0.5), np.array([1.0, 2.0]), g, 20))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"objective": "bowl"}, "unknown race objective 'bowl'; choose one of ravine"),
        ({"lr": 0.0}, "lr must be a positive number, got 0.0"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"beta": 1.0}, r"beta must lie in \[0, 1\), got 1.0"),
        ({"steps": 0}, "steps must be at least 1, got 0"),
        ({"start": (1.0, 2.0, 3.0)}, "start must be two finite numbers"),
        ({"racers": ("sgd", "lion")}, r"unknown racer\(s\) \['lion'\]"),
    ],
)
def test_race_bad_input(kwargs: dict, message: str) -> None:
    args = {"objective": "ravine", **kwargs}
    with pytest.raises(ValueError, match=message):
        race(args.pop("objective"), **args)


def test_png_and_gif(tmp_path: Path) -> None:
    from PIL import Image

    from solvers.lab.plots import plot_race

    r = race("quadratic", steps=30)
    png = plot_race(r, tmp_path / "q.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as im:
        assert im.size[0] > 800 and im.size[1] > 300
    gif = plot_race(r, tmp_path / "q.gif", frames=6)
    with Image.open(gif) as im:
        assert im.format == "GIF"
        assert im.n_frames == 6
        im.seek(0)
        first = np.asarray(im.convert("RGB"), dtype=int)
        im.seek(5)
        last = np.asarray(im.convert("RGB"), dtype=int)
    assert np.abs(first - last).sum() > 0  # the paths grow between frames


def test_gif_needs_no_matplotlib_animation_internals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The GIF used to be written by a PillowWriter subclass appending to its private _frames list;
    # now frames come from the public FigureCanvasAgg API and Pillow saves them. Any use of
    # PillowWriter fails here, as a matplotlib that renamed its internals would have.
    import matplotlib.animation
    from PIL import Image

    from solvers.lab.plots import plot_race

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("plot_race used matplotlib.animation.PillowWriter")

    for name in ("__init__", "setup", "grab_frame", "finish"):
        monkeypatch.setattr(matplotlib.animation.PillowWriter, name, refuse)
    gif = plot_race(race("saddle", steps=40), tmp_path / "s.gif", frames=5, fps=4, dpi=60)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 5
        assert im.size == (630, 264)  # figsize (10.5, 4.4) inches at dpi 60
        assert im.info["loop"] == 0 and im.info["duration"] == 250  # 1000 ms / 4 fps


def test_manual_figures(tmp_path: Path) -> None:
    from solvers.lab.experiment_figures import FIGURES

    assert set(FIGURES) == {"race", "p4", "saddle", "p6"}
    names = set()
    for fn in FIGURES.values():
        out = fn(tmp_path)
        assert out.parent == tmp_path and out.suffix == ".png" and out.stat().st_size > 10_000
        names.add(out.name)
    assert len(names) == 4


def test_cli_race_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.png"
    code = cli(["race", "--objective", "saddle", "--steps", "60", "--lr", "0.05", "--beta", "0.8",
                "--start", "1", "0.001", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and out.exists()
    assert "lr=0.05 beta=0.8 steps=60 start=(1, 0.001)" in text
    assert f"wrote {out}" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--out", "x.bmpx"], "unsupported file type '.bmpx'"),
        (["--racers", "sgd,lion"], "unknown racer 'lion'"),
        (["--lr", "-1"], "lr must be a positive number, got -1.0"),
        (["--steps", "50000"], "--steps 50000 is more than 20000"),
        (["--frames", "1", "--out", "a.gif"], "need --frames >= 2"),
    ],
)
def test_cli_race_bad_input(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["race", *argv]) == 2
    assert message in capsys.readouterr().err


def test_imports_stay_light_and_point_one_way() -> None:
    code = (
        "import sys, solvers.lab, solvers.lab.race, solvers.lab.mlp, solvers.lab.data, solvers.lab.curve_doctor, "
        "solvers.lab.curves, solvers.lab.experiments, solvers.lab.experiment_figures, solvers.commands.race, "
        "solvers.commands.reproduce, solvers.commands.doctor; "
        "print(sorted(m for m in ('matplotlib', 'sklearn', 'sympy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for path in (ROOT / "solvers" / "lab").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("grader", "problems")), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(("grader", "problems")), f"{path.name} imports {alias.name}"
