"""A hostile submission: nesterov_step never returns and momentum_step crashes the process;
the other functions are still graded."""
import os
import numpy as np


def sgd_step(x, grad_fn, lr):
    return x - lr * grad_fn(x)


def momentum_step(x, v, grad_fn, lr, beta):
    os._exit(3)


def nesterov_step(x, v, grad_fn, lr, beta):
    while True:
        pass


def largest_stable_lr(H):
    return 2.0 / np.linalg.eigvalsh(H)[-1]


def effective_lr(lr, beta):
    return lr / (1 - beta)


def classify_critical_point(H):
    raise NotImplementedError("todo")
