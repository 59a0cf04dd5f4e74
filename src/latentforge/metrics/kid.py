"""Kernel Inception Distance (Bińkowski et al., 2018, "Demystifying MMD GANs"): the unbiased estimate of
the squared MMD between two feature sets under the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³,
averaged over random subsets. Unlike FID it has an unbiased estimator, so small sample sizes do not shift it.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """k(x, y) = (xᵀy / d + coef0)^degree for all pairs of rows (float64)."""
    return (np.asarray(x, np.float64) @ np.asarray(y, np.float64).T / x.shape[1] + coef0) ** degree


def mmd2(x: np.ndarray, y: np.ndarray, *, unbiased: bool = True) -> float:
    """Squared MMD between the samples ``x`` (m×d) and ``y`` (n×d) under the cubic polynomial kernel.

    Unbiased (U-statistic): within-set sums leave out the diagonal,
        MMD²_u = Σ_{i≠j} k(xᵢ,xⱼ)/(m(m−1)) + Σ_{i≠j} k(yᵢ,yⱼ)/(n(n−1)) − 2 Σ_{i,j} k(xᵢ,yⱼ)/(mn);
    biased (V-statistic, ``unbiased=False``): the plain means, which are > 0 even for identical distributions.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise DataError(f"MMD needs two N×D feature matrices with the same D, got {x.shape} and {y.shape}.")
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise DataError(f"MMD needs at least 2 samples per set, got {m} and {n}.")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    if unbiased:
        xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    else:
        xx, yy = kxx.mean(), kyy.mean()
    return float(xx + yy - 2 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, *, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the unbiased MMD² over ``subsets`` random subsets (drawn without
    replacement, ``subset_size`` or the smaller set's size) — the protocol of Bińkowski et al."""
    if subsets < 1 or subset_size < 2:
        raise ConfigError(f"KID needs subsets ≥ 1 and subset_size ≥ 2, got {subsets} and {subset_size}.")
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    size = min(subset_size, real.shape[0], fake.shape[0])
    rng = np.random.default_rng(seed)
    values = np.array([
        mmd2(real[rng.choice(real.shape[0], size, replace=False)], fake[rng.choice(fake.shape[0], size, replace=False)])
        for _ in range(subsets)
    ])
    return float(values.mean()), float(values.std(ddof=1)) if subsets > 1 else 0.0
