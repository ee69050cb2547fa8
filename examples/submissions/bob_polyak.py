"""Also correct: Polyak's velocity convention (v <- beta*v - lr*g; x <- x + v) gives the same positions,
and the arithmetic is done in float32 and in place on copies."""
import numpy as np


def sgd_step(x, grad_fn, lr):
    x = x.astype(np.float32)
    x -= np.float32(lr) * grad_fn(x).astype(np.float32)
    return x


def momentum_step(x, v, grad_fn, lr, beta):
    v = beta * v - lr * grad_fn(x)
    return x + v, v


def nesterov_step(x, v, grad_fn, lr, beta):
    v = beta * v - lr * grad_fn(x + beta * v)
    return x + v, v


def largest_stable_lr(H):
    return float(2 / max(np.linalg.eigvals(H).real))


def effective_lr(lr, beta):
    return lr * sum(beta ** k for k in range(10_000))


def classify_critical_point(H):
    eigs = np.linalg.eigvalsh(H)
    scale = abs(eigs).max()
    if min(abs(eigs)) < 1e-9 * scale:
        return "degenerate"
    return "minimum" if eigs.min() > 0 else "maximum" if eigs.max() < 0 else "saddle"
