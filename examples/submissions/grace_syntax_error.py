def sgd_step(x, grad_fn, lr)
    return x - lr * grad_fn(x)
