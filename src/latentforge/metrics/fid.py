"""Fréchet distance between Gaussians fitted to features (Heusel et al., 2017, "GANs Trained by a Two
Time-Scale Update Rule Converge to a Local Nash Equilibrium").

    FID = ‖μ₁ − μ₂‖² + tr(Σ₁) + tr(Σ₂) − 2 tr((Σ₁ Σ₂)^½)

The trace of the matrix square root is computed in float64 from a symmetric eigen-decomposition:
tr((Σ₁Σ₂)^½) = Σ √λᵢ(Σ₁^½ Σ₂ Σ₁^½), the eigenvalues of a symmetric PSD matrix (clipped at 0), so no
complex parts and no failed ``sqrtm`` on near-singular covariances.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, N−1) covariance of N×D features, in float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise DataError(f"FID needs an N×D feature matrix with N ≥ 2, got shape {x.shape}.")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((Σ₁Σ₂)^½) for symmetric PSD Σ₁, Σ₂."""
    root1 = _psd_sqrt(np.asarray(sigma1, dtype=np.float64))
    middle = root1 @ np.asarray(sigma2, dtype=np.float64) @ root1
    values = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(values, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between N(μ₁, Σ₁) and N(μ₂, Σ₂); ≥ 0 up to rounding."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise DataError(f"Mismatched Gaussian statistics: μ {mu1.shape} vs {mu2.shape}, "
                        f"Σ {sigma1.shape} vs {sigma2.shape}.")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2)
    return float(max(value, 0.0))


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two feature sets (rows are samples)."""
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(x.shape[0], y.shape[0]) < 2:
        raise DataError(f"FID needs two N×D feature matrices with N ≥ 2 and the same D, got {x.shape} and {y.shape}.")
    if min(x.shape[0], y.shape[0]) <= x.shape[1]:
        return _low_rank_fid(x, y)
    return frechet_distance(*gaussian_stats(x), *gaussian_stats(y))


def _low_rank_fid(x: np.ndarray, y: np.ndarray) -> float:
    """The same FID when a set has no more samples than dimensions (e.g. 2048-d Inception features of a few
    thousand images): with Σ₁ = AᵀA and Σ₂ = BᵀB (A, B the centred samples / √(N−1)), tr((Σ₁Σ₂)^½) is the
    sum of the singular values of the small N₁×N₂ matrix ABᵀ, so no D×D decomposition is needed."""
    a = (x - x.mean(0)) / np.sqrt(x.shape[0] - 1)
    b = (y - y.mean(0)) / np.sqrt(y.shape[0] - 1)
    diff = x.mean(0) - y.mean(0)
    trace_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(max(diff @ diff + (a * a).sum() + (b * b).sum() - 2 * trace_sqrt, 0.0))
