"""A small multilayer perceptron in numpy, trained by the reference update rules.

Model: ``sizes = (d_in, h_1, ..., h_k, classes)``; hidden layers are affine +
ReLU, the last layer is affine, the loss is the mean softmax cross-entropy
(natural log) over the batch.  Weights use He initialisation N(0, 2/fan_in),
biases start at zero.  All parameters live in one flat float64 vector, so any
``Rule`` of ``solvers.rules`` (or Adam from ``solvers.lab.race``) trains it
unchanged: one step of minibatch SGD is ``rule.step(theta, state, grad_fn)``
with ``grad_fn`` the gradient on the current minibatch.

Training conventions (``train``): each epoch visits a fresh random permutation
of the training set in minibatches of ``batch_size`` (the last, smaller batch
included); after every epoch the *full-pass* training loss and the validation
loss and accuracy are recorded with the current parameters.  ``step_loss``
records, per step, the minibatch loss at the point where the rule first asked
for a gradient (x for SGD and momentum, the look-ahead point for Nesterov) --
the noisy curve a training script would log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..rollout import Rule

__all__ = ["MLP", "TrainLog", "train", "numerical_grad"]


@dataclass(frozen=True)
class MLP:
    """Layer sizes, input first and number of classes last."""

    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(s) < 1 for s in self.sizes):
            raise ValueError(f"MLP sizes must be >= 2 positive ints, got {self.sizes}")
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))

    @property
    def shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        return [((a, b), (b,)) for a, b in zip(self.sizes[:-1], self.sizes[1:])]

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def init(self, seed: int) -> np.ndarray:
        """He-initialised flat parameter vector."""
        rng = np.random.default_rng(seed)
        parts = []
        for (a, b), _ in self.shapes:
            parts.append(rng.normal(0.0, np.sqrt(2.0 / a), size=a * b))
            parts.append(np.zeros(b))
        return np.concatenate(parts)

    def unpack(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Views (W, b) per layer into ``theta``."""
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta has shape {theta.shape}, expected ({self.n_params},)")
        out, i = [], 0
        for (a, b), _ in self.shapes:
            W = theta[i : i + a * b].reshape(a, b)
            i += a * b
            out.append((W, theta[i : i + b]))
            i += b
        return out

    def logits(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        h = X
        layers = self.unpack(theta)
        for k, (W, b) in enumerate(layers):
            h = h @ W + b
            if k < len(layers) - 1:
                h = np.maximum(h, 0.0)
        return h

    def loss_and_grad(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean cross-entropy on (X, y) and its gradient with respect to ``theta``."""
        layers = self.unpack(theta)
        acts = [X]
        h = X
        for k, (W, b) in enumerate(layers):
            h = h @ W + b
            if k < len(layers) - 1:
                h = np.maximum(h, 0.0)
            acts.append(h)
        z = acts[-1]
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        n = X.shape[0]
        loss = -float(logp[np.arange(n), y].mean())
        delta = np.exp(logp)
        delta[np.arange(n), y] -= 1.0
        delta /= n
        grads: list[np.ndarray] = []
        for k in range(len(layers) - 1, -1, -1):
            W, _ = layers[k]
            grads.append(delta.sum(axis=0))
            grads.append((acts[k].T @ delta).ravel())
            if k > 0:
                delta = (delta @ W.T) * (acts[k] > 0.0)
        return loss, np.concatenate(grads[::-1])

    def loss(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        z = self.logits(theta, X)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -float(logp[np.arange(X.shape[0]), y].mean())

    def accuracy(self, theta: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(self.logits(theta, X), axis=1) == y))


def numerical_grad(fn: Callable[[np.ndarray], float], theta: np.ndarray, *, eps: float = 1e-6,
                   indices: Sequence[int] | None = None) -> np.ndarray:
    """Central finite differences of ``fn`` at ``theta`` (only at ``indices`` if given; others 0)."""
    g = np.zeros_like(theta)
    for i in range(theta.size) if indices is None else indices:
        e = np.zeros_like(theta)
        e[i] = eps
        g[i] = (fn(theta + e) - fn(theta - e)) / (2.0 * eps)
    return g


@dataclass
class TrainLog:
    """Per-epoch record of one training run (index 0 = before training)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)  # minibatch loss at each step (before the update)
    diverged_at: int | None = None  # 1-based step whose parameters became non-finite
    steps: int = 0
    theta: np.ndarray | None = None


def train(
    model: MLP,
    rule: Rule,
    X: np.ndarray,
    y: np.ndarray,
    *,
    X_val: np.ndarray,
    y_val: np.ndarray,
    epochs: int,
    batch_size: int,
    seed: int,
    theta0: np.ndarray | None = None,
) -> TrainLog:
    """Minibatch training of ``model`` with ``rule``; see the module docstring for conventions.

    The initial parameters come from ``model.init(seed)`` unless ``theta0`` is
    given; minibatch order comes from ``seed`` too, so two rules trained with
    the same seed see the same initialisation and the same batches.
    On non-finite parameters training stops and ``diverged_at`` is set; the
    remaining epochs are recorded as NaN.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    theta = model.init(seed) if theta0 is None else np.array(theta0, dtype=np.float64)
    rng = np.random.default_rng([seed, 7])
    log = TrainLog()

    def record(th: np.ndarray) -> None:
        log.train_loss.append(model.loss(th, X, y))
        log.val_loss.append(model.loss(th, X_val, y_val))
        log.val_acc.append(model.accuracy(th, X_val, y_val))

    record(theta)
    state = rule.init(theta.copy())
    n = X.shape[0]
    for epoch in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            Xb, yb = X[idx], y[idx]
            calls: list[float] = []

            def grad_fn(th: np.ndarray) -> np.ndarray:
                value, g = model.loss_and_grad(th, Xb, yb)
                calls.append(value)
                return g

            with np.errstate(over="ignore", invalid="ignore"):
                theta, state = rule.step(theta, state, grad_fn)
            log.step_loss.append(calls[0] if calls else float("nan"))
            log.steps += 1
            if not np.all(np.isfinite(theta)):
                log.diverged_at = log.steps
                pad = epochs - epoch
                log.train_loss += [float("nan")] * pad
                log.val_loss += [float("nan")] * pad
                log.val_acc += [float("nan")] * pad
                return log
        with np.errstate(over="ignore", invalid="ignore"):
            record(theta)
    log.theta = theta
    return log
