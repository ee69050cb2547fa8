"""The lecture's derivations in SymPy, every step machine-checked.

Importing ``solvers`` never imports this package (or SymPy); importing
``solvers.derive`` does.

Public surface for the problem bank::

    from solvers.derive import REGISTRY, get, verify, final_formulas
    get("stable-lr")              # a Derivation (data: steps, results, simulations)
    verify("stable-lr")           # a Report; raises StepCheckError naming a failing step
    final_formulas.ANSWERS["stable_lr"]  # Answer(expr, symbols, assumptions, derivation)
"""

from __future__ import annotations

import difflib

from . import final_formulas
from .core import (
    Derivation,
    Domain,
    Report,
    ResultError,
    Simulation,
    SimulationError,
    SimulationResult,
    Step,
    StepCheckError,
    verify_derivation,
)
from .derivation_registry import REGISTRY, register

# Importing a module registers its derivations; the order is the listing order.
from . import stability, heavy_ball, terminal_velocity, nesterov, saddles, tables, exercises, scaling  # noqa: E402,F401

__all__ = [
    "REGISTRY",
    "get",
    "verify",
    "verify_all",
    "names",
    "final_formulas",
    "Derivation",
    "Step",
    "Domain",
    "Simulation",
    "SimulationResult",
    "Report",
    "StepCheckError",
    "ResultError",
    "SimulationError",
    "UnknownDerivationError",
    "register",
]


class UnknownDerivationError(KeyError):
    """No derivation of that name; the message lists the names."""

    def __init__(self, name: str):
        self.name = name
        close = difflib.get_close_matches(name, list(REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(f"unknown derivation {name!r}{hint}; known: {', '.join(REGISTRY)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def names() -> list[str]:
    """Registered derivation names, in listing order."""
    return list(REGISTRY)


def get(name: str) -> Derivation:
    """Build the derivation ``name`` (fresh each call)."""
    try:
        factory = REGISTRY[name]
    except KeyError:
        raise UnknownDerivationError(name) from None
    return factory()


def verify(name: str, *, simulate: bool = True) -> Report:
    """Verify every step of ``name`` (and run its simulations); raises on the first failure."""
    return verify_derivation(get(name), simulate=simulate)


def verify_all(*, simulate: bool = True) -> list[Report]:
    """Verify every registered derivation, in listing order."""
    return [verify(n, simulate=simulate) for n in REGISTRY]
