"""The lecture's experiments, reproduced honestly (numpy; digits need scikit-learn).

* :func:`momentum_table` -- "Same model, same LR, after 10 epochs": SGD vs SGD +
  momentum (lecture, MNIST: 0.42 / 92.1 % vs 0.13 / 97.6 %), measured with the
  numpy MLP of ``solvers.lab.mlp`` on 8x8 digits (or any data split given),
  several seeds, mean +- sample std, and verdict lines saying what matches.
* :func:`beta_table` -- the lecture's beta table (effective memory 2, 10, 20,
  100 steps), each column measured by running the momentum rule.
* :func:`p6` -- exercise P6: momentum 0.99 diverges at lr where 0.9 converges,
  and converges again at lr/10 (Rosenbrock from (-1.2, 1), lr = 0.002).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .. import rules
from ..objectives import build
from .mlp import MLP, TrainLog, train
from .race import run_rule, safe_value

__all__ = [
    "LECTURE_MOMENTUM_TABLE",
    "LECTURE_BETA_TABLE",
    "NOISE_STEPS",
    "MomentumTable",
    "momentum_table",
    "BetaRow",
    "beta_table",
    "P6Run",
    "P6Result",
    "p6",
]

Progress = Callable[[str], None]

# optimizer -> (train loss, val accuracy in %), after 10 epochs on MNIST, lr = 0.01, beta = 0.9.
LECTURE_MOMENTUM_TABLE: dict[str, tuple[float, float]] = {"SGD": (0.42, 92.1), "SGD + momentum": (0.13, 97.6)}

# beta -> (effective memory in steps, behaviour), as printed in the lecture.
LECTURE_BETA_TABLE: dict[float, tuple[int, str]] = {
    0.5: (2, "barely smooths"),
    0.9: (10, "sensible default"),
    0.95: (20, "slower to respond to curvature changes"),
    0.99: (100, "heavy; needs gradient clipping"),
}


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


@dataclass(frozen=True)
class MomentumTable:
    """Measured table: per seed and aggregated (accuracies in %)."""

    config: dict[str, object]
    seeds: tuple[int, ...]
    sgd_loss: tuple[float, ...]
    sgd_acc: tuple[float, ...]
    mom_loss: tuple[float, ...]
    mom_acc: tuple[float, ...]
    verdicts: tuple[str, ...] = field(default=())
    # per-step minibatch losses of the first seed's runs, {"sgd": ..., "momentum": ...} (for the doctor)
    curves: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, float, float, float, float]]:
        """(optimizer, loss mean, loss std, acc mean, acc std)."""
        out = []
        for name, loss, acc in (("SGD", self.sgd_loss, self.sgd_acc), ("SGD + momentum", self.mom_loss, self.mom_acc)):
            out.append((name, *_mean_std(loss), *_mean_std(acc)))
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "config": self.config,
            "seeds": list(self.seeds),
            "per_seed": [
                {"seed": s, "sgd": {"train_loss": a, "val_acc": b}, "momentum": {"train_loss": c, "val_acc": d}}
                for s, a, b, c, d in zip(self.seeds, self.sgd_loss, self.sgd_acc, self.mom_loss, self.mom_acc)
            ],
            "measured": {
                name: {"train_loss_mean": lm, "train_loss_std": ls, "val_acc_mean": am, "val_acc_std": as_}
                for name, lm, ls, am, as_ in self.rows()
            },
            "lecture": {k: {"train_loss": v[0], "val_acc": v[1]} for k, v in LECTURE_MOMENTUM_TABLE.items()},
            "verdicts": list(self.verdicts),
        }


def _verdicts(t: MomentumTable, steps_per_run: int) -> tuple[str, ...]:
    n = len(t.seeds)
    lower = sum(m < s for m, s in zip(t.mom_loss, t.sgd_loss))
    higher = sum(m > s for m, s in zip(t.mom_acc, t.sgd_acc))
    (_, sl, _, sa, _), (_, ml, _, ma, _) = t.rows()
    lec_sgd, lec_mom = LECTURE_MOMENTUM_TABLE["SGD"], LECTURE_MOMENTUM_TABLE["SGD + momentum"]
    gap = ma - sa
    lec_gap = lec_mom[1] - lec_sgd[1]
    ratio = sl / ml if ml > 0 else math.inf
    lec_ratio = lec_sgd[0] / lec_mom[0]
    out = [
        f"direction, train loss: momentum lower in {lower}/{n} {'seed' if n == 1 else 'seeds'} "
        f"({'matches' if lower == n else 'does NOT fully match'} the lecture: 0.13 < 0.42)",
        f"direction, val accuracy: momentum higher in {higher}/{n} {'seed' if n == 1 else 'seeds'} "
        f"({'matches' if higher == n else 'does NOT fully match'} the lecture: 97.6% > 92.1%)",
        f"size: SGD/momentum train-loss ratio {ratio:.1f} here vs {lec_ratio:.1f} in the lecture; "
        f"accuracy gap {gap:+.1f} points here vs {lec_gap:+.1f} in the lecture",
        f"not comparable: absolute numbers. This is 8x8 digits ({t.config.get('n_train')} training images, "
        f"{steps_per_run} minibatch steps in {t.config.get('epochs')} epoch{'' if t.config.get('epochs') == 1 else 's'}), not MNIST (60000 images of 28x28, "
        f"~9400 steps in 10 epochs at batch 64); the lecture's model and batch size are not stated.",
    ]
    return tuple(out)


def momentum_table(
    split_for_seed: Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    epochs: int = 10,
    lr: float = 0.01,
    beta: float = 0.9,
    batch_size: int = 32,
    hidden: Sequence[int] = (64,),
    dataset: str = "digits",
    progress: Progress | None = None,
) -> MomentumTable:
    """Train SGD and SGD + momentum (the reference rules) per seed, same init and batches.

    ``split_for_seed(seed) -> (X_train, y_train, X_val, y_val)``; the seed also
    fixes the initialisation and the minibatch order, shared by both optimizers.
    """
    if not seeds:
        raise ValueError("need at least one seed")
    sl, sa, ml, ma = [], [], [], []
    n_train = 0
    steps = 0
    curves: dict[str, tuple[float, ...]] = {}
    for i, seed in enumerate(seeds):
        Xtr, ytr, Xv, yv = split_for_seed(seed)
        n_train = Xtr.shape[0]
        model = MLP((Xtr.shape[1], *hidden, int(max(ytr.max(), yv.max())) + 1))
        logs: list[TrainLog] = []
        for rule in (rules.sgd(lr), rules.momentum(lr, beta)):
            logs.append(train(model, rule, Xtr, ytr, X_val=Xv, y_val=yv, epochs=epochs, batch_size=batch_size, seed=seed))
        steps = logs[0].steps
        if not curves:
            curves = {"sgd": tuple(logs[0].step_loss), "momentum": tuple(logs[1].step_loss)}
        sl.append(logs[0].train_loss[-1])
        sa.append(100.0 * logs[0].val_acc[-1])
        ml.append(logs[1].train_loss[-1])
        ma.append(100.0 * logs[1].val_acc[-1])
        if progress:
            progress(
                f"seed {seed} ({i + 1}/{len(seeds)}): SGD {sl[-1]:.3f} / {sa[-1]:.1f}%, "
                f"momentum {ml[-1]:.3f} / {ma[-1]:.1f}%"
            )
    config: dict[str, object] = {
        "dataset": dataset,
        "model": f"MLP {'-'.join(str(s) for s in model.sizes)} (ReLU, softmax cross-entropy)",
        "epochs": epochs,
        "lr": lr,
        "beta": beta,
        "batch_size": batch_size,
        "n_train": n_train,
        "steps": steps,
    }
    t = MomentumTable(config, tuple(seeds), tuple(sl), tuple(sa), tuple(ml), tuple(ma))
    return MomentumTable(t.config, t.seeds, t.sgd_loss, t.sgd_acc, t.mom_loss, t.mom_acc, _verdicts(t, steps), curves)


# --- beta table --------------------------------------------------------------------


@dataclass(frozen=True)
class BetaRow:
    beta: float
    lecture_memory: int
    lecture_behaviour: str
    response_steps: int  # steps until the velocity reaches 1 - 1/e of terminal under a constant gradient
    terminal_ratio: float  # terminal velocity / gradient = sum of the EMA weights = 1/(1-beta)
    noise_ratio: float  # std of (1-beta) v under iid unit gradient noise (1 = no smoothing);
    # theory sqrt((1-beta)/(1+beta)); measured over NOISE_STEPS correlated samples
    rosenbrock: str  # outcome at lr = 0.002 from (-1.2, 1), 3000 steps


def _velocities(beta: float, grads: np.ndarray) -> np.ndarray:
    """Velocity after each step of the reference momentum rule (lr = 1) fed the given 1-D gradients.

    With lr = 1 the rule moves x by -v, so v_t = x_{t-1} - x_t is read off the
    rollout positions; the gradient is replayed from ``grads`` one per call.
    """
    it = iter(grads)
    path, _ = run_rule(rules.momentum(1.0, beta), np.zeros(1), lambda x: np.array([next(it)]), len(grads))
    return -np.diff(path[:, 0])


NOISE_STEPS = 50_000  # samples of the velocity under noise, after a 2000-step warm-up


def beta_table(betas: Sequence[float] = (0.5, 0.9, 0.95, 0.99), *, seed: int = 0) -> list[BetaRow]:
    """Measure the lecture's beta table by running the momentum rule (see BetaRow's fields)."""
    rows = []
    ros = build({"kind": "rosenbrock"})
    for beta in betas:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must lie in [0, 1), got {beta}")
        v = _velocities(beta, np.ones(3000))
        terminal = float(v[-1])
        response = int(np.argmax(v >= (1.0 - math.exp(-1.0)) * terminal)) + 1
        noise = np.random.default_rng([seed, 11]).standard_normal(NOISE_STEPS + 2000)
        vn = _velocities(beta, noise)[2000:]  # past the warm-up
        path, bad = run_rule(rules.momentum(0.002, beta), np.array([-1.2, 1.0]), ros.grad, 3000)
        outcome = f"diverges at step {bad}" if bad is not None else f"converges, f = {ros.f(path[-1]):.1e}"
        lec = LECTURE_BETA_TABLE.get(beta, (round(1.0 / (1.0 - beta)), "-"))
        rows.append(BetaRow(beta, lec[0], lec[1], response, terminal, float(np.std((1.0 - beta) * vn)), outcome))
    return rows


# --- P6 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class P6Run:
    label: str
    beta: float
    lr: float
    losses: np.ndarray
    diverged_at: int | None

    @property
    def effective_lr(self) -> float:
        return self.lr / (1.0 - self.beta)

    @property
    def outcome(self) -> str:
        if self.diverged_at is not None:
            return f"diverges (NaN/inf at step {self.diverged_at})"
        return f"converges, f = {self.losses[-1]:.1e}"


@dataclass(frozen=True)
class P6Result:
    problem: str
    start: tuple[float, float]
    steps: int
    runs: tuple[P6Run, ...]
    quadratic_control: str
    control_losses: np.ndarray | None = None  # the control's loss per step (for the figure)


def p6(*, lr: float = 0.002, steps: int = 3000, start: tuple[float, float] = (-1.2, 1.0)) -> P6Result:
    """Momentum 0.9 at lr, 0.99 at lr, 0.99 at lr/10 on Rosenbrock (the reference momentum rule).

    Control: on the quadratic ravine f = (100 x^2 + y^2)/2, momentum 0.99 at the
    same lr does *not* diverge (heavy ball is stable for lr*lambda < 2(1+beta),
    a bound that grows with beta); the blow-up needs a landscape whose walls
    steepen: the slowly damped swings of beta = 0.99 carry the iterate to where
    lr times the local curvature leaves that region (the derivation 'p6').
    """
    ros = build({"kind": "rosenbrock"})
    x0 = np.array(start, dtype=np.float64)
    runs = []
    for label, beta, eta in (("beta=0.9, lr", 0.9, lr), ("beta=0.99, lr", 0.99, lr), ("beta=0.99, lr/10", 0.99, lr / 10)):
        path, bad = run_rule(rules.momentum(eta, beta), x0, ros.grad, steps)
        losses = np.array([safe_value(ros.f, p) for p in path])
        runs.append(P6Run(label, beta, eta, losses, bad))
    rav = build({"kind": "ravine"})
    path, bad = run_rule(rules.momentum(lr, 0.99), np.array([1.0, 1.0]), rav.grad, steps)
    control = (
        f"control: quadratic ravine (100x^2+y^2)/2 from (1, 1), beta=0.99, lr={lr:g}: "
        + (f"diverges at step {bad}" if bad is not None else f"converges, f = {rav.f(path[-1]):.1e} after {steps} steps")
    )
    control_losses = np.array([safe_value(rav.f, p) for p in path])
    return P6Result("rosenbrock (1-x)^2 + 100(y-x^2)^2", (float(x0[0]), float(x0[1])), steps, tuple(runs), control,
                    control_losses)
