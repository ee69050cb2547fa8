"""A correct submission in the lecture's convention (v <- beta*v + g; x <- x - lr*v)."""
import numpy as np


def sgd_step(x, grad_fn, lr):
    return x - lr * grad_fn(x)


def momentum_step(x, v, grad_fn, lr, beta):
    v = beta * v + grad_fn(x)
    return x - lr * v, v


def nesterov_step(x, v, grad_fn, lr, beta):
    v = beta * v + grad_fn(x - lr * beta * v)
    return x - lr * v, v


def largest_stable_lr(H):
    return 2.0 / np.linalg.eigvalsh(H)[-1]


def effective_lr(lr, beta):
    return lr / (1.0 - beta)


def classify_critical_point(H):
    eigs = np.linalg.eigvalsh(H)
    tol = 1e-8 * np.max(np.abs(eigs))
    if np.any(np.abs(eigs) <= tol):
        return "degenerate"
    if np.all(eigs > 0):
        return "minimum"
    if np.all(eigs < 0):
        return "maximum"
    return "saddle"


if __name__ == "__main__":
    # demo code: the grader does not run this
    print(sgd_step(np.array([1.0]), lambda p: 2 * p, 0.1))
