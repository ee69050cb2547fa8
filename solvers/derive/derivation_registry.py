"""The registry of derivations, keyed by name (like SymPy's ODE hints)."""

from __future__ import annotations

from typing import Callable

from .core import Derivation

__all__ = ["REGISTRY", "register"]

REGISTRY: dict[str, Callable[[], Derivation]] = {}


def register(name: str) -> Callable[[Callable[[], Derivation]], Callable[[], Derivation]]:
    """Decorator: register a zero-argument factory returning the derivation ``name``."""

    def deco(factory: Callable[[], Derivation]) -> Callable[[], Derivation]:
        if name in REGISTRY:
            raise ValueError(f"derivation {name!r} registered twice")
        REGISTRY[name] = factory
        return factory

    return deco
