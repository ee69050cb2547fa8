"""The shared SymPy symbols of the lecture, with the assumptions SymPy can carry.

Names are fixed (the problem bank imports them): ``lr`` (eta), ``beta``,
``lambda_max``, ``lambda_min``, ``lam``, ``g``, ``kappa``, ``n``, ``t``, ``B``,
``epsilon``.  Assumptions SymPy cannot express (``beta < 1``,
``lambda_min <= lambda_max``, ``epsilon < 1``) are part of each derivation's
:class:`~solvers.derive.core.Domain` and of each answer's stated assumptions.
"""

from __future__ import annotations

import sympy as sp

__all__ = [
    "lr", "beta", "lam", "lambda_max", "lambda_min", "g", "kappa", "n", "t", "k", "B",
    "epsilon", "sigma", "x", "y", "z", "LATEX_NAMES",
]

lr = sp.Symbol("lr", positive=True)
beta = sp.Symbol("beta", nonnegative=True)
lam = sp.Symbol("lam", positive=True)
lambda_max = sp.Symbol("lambda_max", positive=True)
lambda_min = sp.Symbol("lambda_min", positive=True)
g = sp.Symbol("g", real=True)
kappa = sp.Symbol("kappa", positive=True)
n = sp.Symbol("n", integer=True, positive=True)
t = sp.Symbol("t", integer=True, nonnegative=True)
k = sp.Symbol("k", integer=True, nonnegative=True)
B = sp.Symbol("B", integer=True, positive=True)
epsilon = sp.Symbol("epsilon", positive=True)
sigma = sp.Symbol("sigma", positive=True)
x = sp.Symbol("x", real=True)
y = sp.Symbol("y", real=True)
z = sp.Symbol("z")

# How the renderers print them in LaTeX.
LATEX_NAMES: dict[sp.Symbol, str] = {
    lr: r"\eta",
    lam: r"\lambda",
    lambda_max: r"\lambda_{\max}",
    lambda_min: r"\lambda_{\min}",
    epsilon: r"\varepsilon",
}
