"""Reference answers for the lecture's numeric helpers (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["largest_stable_lr", "effective_lr", "classify_critical_point", "DEGENERATE_RTOL", "SIGNATURES"]

# The published signatures of the three helpers (the rules' are ``solvers.rollout.STUDENT_SIGNATURES``).
SIGNATURES: dict[str, str] = {
    "largest_stable_lr": "largest_stable_lr(H) -> float",
    "effective_lr": "effective_lr(lr, beta) -> float",
    "classify_critical_point": "classify_critical_point(H) -> str",
}

# An eigenvalue counts as zero when |lambda| <= DEGENERATE_RTOL * max|lambda|.
# 1e-8 sits far above float64 round-off of eigvalsh (~1e-15 relative) and far
# below any curvature a check uses on purpose (>= 1e-3 relative).
DEGENERATE_RTOL = 1e-8


def largest_stable_lr(H: np.ndarray) -> float:
    """2 / lambda_max(H) for symmetric positive definite H (gradient descent on 1/2 x^T H x)."""
    H = np.asarray(H, dtype=np.float64)
    return 2.0 / float(np.linalg.eigvalsh(H)[-1])


def effective_lr(lr: float, beta: float) -> float:
    """lr / (1 - beta): the step per unit gradient at terminal velocity."""
    return float(lr) / (1.0 - float(beta))


def classify_critical_point(H: np.ndarray) -> str:
    """'minimum', 'maximum', 'saddle' or 'degenerate' from the Hessian's eigenvalue signs."""
    eigs = np.linalg.eigvalsh(np.asarray(H, dtype=np.float64))
    scale = float(np.max(np.abs(eigs))) if eigs.size else 0.0
    if scale == 0.0 or np.any(np.abs(eigs) <= DEGENERATE_RTOL * scale):
        return "degenerate"
    if np.all(eigs > 0):
        return "minimum"
    if np.all(eigs < 0):
        return "maximum"
    return "saddle"
