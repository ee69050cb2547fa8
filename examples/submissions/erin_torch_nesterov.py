"""Momentum moves x with the stale velocity; Nesterov is torch's re-parameterised form."""
import numpy as np


def sgd_step(x, grad_fn, lr):
    return x - lr * grad_fn(x)


def momentum_step(x, v, grad_fn, lr, beta):
    x_new = x - lr * v
    v = beta * v + grad_fn(x)
    return x_new, v


def nesterov_step(x, v, grad_fn, lr, beta):
    g = grad_fn(x)
    v = beta * v + g
    return x - lr * (g + beta * v), v


def largest_stable_lr(H):
    return 2.0 / np.linalg.eigvalsh(H)[0]


def effective_lr(lr, beta):
    return lr / (1 - beta)
