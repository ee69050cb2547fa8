"""Data for the lab's experiments.

* :func:`load_digits_split` -- scikit-learn's bundled 8x8 handwritten digits
  (1797 images, 10 classes; the files ship inside scikit-learn, nothing is
  downloaded).  scikit-learn is the optional extra ``ravine[experiments]``;
  it is imported only inside this function.
* :func:`synthetic_classification` -- a numpy-only stand-in (Gaussian classes
  with features on very different scales, i.e. an ill-conditioned problem)
  so the training code is tested without scikit-learn.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Split", "MissingExtra", "load_digits_split", "stratified_split", "synthetic_classification"]

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # X_train, y_train, X_val, y_val


class MissingExtra(RuntimeError):
    """An optional dependency is not installed."""


def stratified_split(X: np.ndarray, y: np.ndarray, *, val_fraction: float, seed: int) -> Split:
    """Random split keeping class proportions: round(val_fraction * n_c) of each class to validation."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    rng = np.random.default_rng([seed, 3])
    val_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        val_idx.append(idx[: int(round(val_fraction * idx.size))])
    val = np.sort(np.concatenate(val_idx))
    mask = np.ones(y.size, dtype=bool)
    mask[val] = False
    return X[mask], y[mask], X[val], y[val]


def load_digits_split(*, seed: int, val_fraction: float = 0.2) -> Split:
    """The 8x8 digits, pixels scaled to [0, 1] (divided by 16), split stratified by ``seed``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise MissingExtra(
            "the digits data set needs scikit-learn: pip install 'ravine[experiments]' "
            "(or pip install scikit-learn)"
        ) from None
    digits = load_digits()
    X = np.asarray(digits.data, dtype=np.float64) / 16.0
    y = np.asarray(digits.target, dtype=np.int64)
    return stratified_split(X, y, val_fraction=val_fraction, seed=seed)


def synthetic_classification(
    n: int,
    *,
    seed: int,
    d: int = 8,
    classes: int = 3,
    scale_range: tuple[float, float] = (0.05, 1.0),
    separation: float = 2.5,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of ``classes`` Gaussian classes in ``d`` dimensions.

    Class means are drawn N(0, separation^2) per coordinate; then feature j is
    multiplied by a scale log-spaced over ``scale_range`` -- small scales make
    the loss a ravine (curvature ~ scale^2), the setting where momentum helps.
    """
    rng = np.random.default_rng([seed, 5])
    means = rng.normal(0.0, separation, size=(classes, d))
    y = rng.integers(0, classes, size=n)
    X = means[y] + rng.normal(size=(n, d))
    X *= np.geomspace(scale_range[0], scale_range[1], d)
    return X, y
