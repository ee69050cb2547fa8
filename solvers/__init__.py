"""The textbook: reference update rules (numpy) and the lecture's derivations (SymPy).

Importing this package is cheap: SymPy is imported only by the derivation
modules, so the grader (which needs the numpy rules) never pays for it.
"""

__all__ = ["rollout", "objectives", "rules", "numeric"]
