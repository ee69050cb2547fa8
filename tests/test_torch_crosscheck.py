"""The reference rules against torch.optim.SGD (plain, momentum, nesterov).

torch is not a dependency: this test is skipped where it is not installed
(`pip install torch==2.13.0` takes the CPU wheel on this project's machines).
"""

from __future__ import annotations

import numpy as np
import pytest

from solvers import rules
from solvers.objectives import build

torch = pytest.importorskip("torch", reason="torch is not installed (optional cross-check)")

CASES = [
    ({"kind": "ravine"}, [1.0, 1.0], 0.01, 0.9),
    ({"kind": "rosenbrock"}, [-1.2, 1.0], 5e-4, 0.9),
    ({"kind": "spectral", "d": 40, "seed": 5, "lam_min": 0.1, "lam_max": 10.0}, None, 0.05, 0.8),
]


def torch_positions(objective, x0, lr, momentum, nesterov, steps):
    obj = build(objective)
    p = torch.tensor(np.array(x0), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, nesterov=nesterov)
    out = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        p.grad = torch.tensor(obj.grad(p.detach().numpy()), dtype=torch.float64)
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


@pytest.mark.parametrize("objective,x0,lr,beta", CASES)
def test_sgd_and_momentum_equal_torch(objective, x0, lr, beta):
    if x0 is None:
        x0 = list(np.random.default_rng(0).standard_normal(objective["d"]))
    obj = build(objective)
    for variant, mom in (("sgd", 0.0), ("momentum", beta)):
        ours = rules.trajectory(variant, np.array(x0), obj.grad, lr=lr, beta=beta, steps=60)
        theirs = torch_positions(objective, x0, lr, mom, False, 60)
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("objective,x0,lr,beta", CASES)
def test_torch_nesterov_iterates_are_our_lookahead_points(objective, x0, lr, beta):
    """torch's nesterov=True is the re-parameterised form: its p_t = x_t - lr*beta*v_t of the lecture's form."""
    if x0 is None:
        x0 = list(np.random.default_rng(0).standard_normal(objective["d"]))
    obj = build(objective)
    theirs = torch_positions(objective, x0, lr, beta, True, 60)
    ours_reparam = rules.trajectory("nesterov-reparameterized", np.array(x0), obj.grad, lr=lr, beta=beta, steps=60)
    np.testing.assert_allclose(ours_reparam, theirs, rtol=1e-10, atol=1e-12)
    # and the lecture's x_t, mapped to look-ahead points, give the same sequence
    x, v = np.array(x0, dtype=float), np.zeros(len(x0))
    for t in range(60):
        np.testing.assert_allclose(x - lr * beta * v, theirs[t], rtol=1e-9, atol=1e-12)
        v = beta * v + obj.grad(x - lr * beta * v)
        x = x - lr * v
