"""Typical mistakes: the EMA form of momentum, Nesterov without the look-ahead, 1/lambda_max,
lr*(1-beta), and a determinant-only classification."""
import numpy as np


def sgd_step(x, grad_fn, lr):
    return x - lr * grad_fn(x)


def momentum_step(x, v, grad_fn, lr, beta):
    v = beta * v + (1 - beta) * grad_fn(x)
    return x - lr * v, v


def nesterov_step(x, v, grad_fn, lr, beta):
    v = beta * v + grad_fn(x)
    return x - lr * v, v


def largest_stable_lr(H):
    return 1.0 / np.linalg.eigvalsh(H)[-1]


def effective_lr(lr, beta):
    return lr * (1 - beta)


def classify_critical_point(H):
    d = np.linalg.det(H)
    if abs(d) < 1e-12:
        return "degenerate"
    return "minimum" if d > 0 else "saddle"
