"""Improved precision and recall (Kynkäänniemi et al., 2019, "Improved Precision and Recall Metric for
Assessing Generative Models").

Each set's manifold is the union of balls around its samples, each with the radius of the distance to its
k-th nearest neighbour within the set (k = 3). Precision is the fraction of generated samples inside the
real manifold (fidelity); recall is the fraction of real samples inside the generated manifold (coverage).
Pairwise distances are computed in row blocks, so memory stays at block × N.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError, DataError

BLOCK = 1024


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = (a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)
    return d.clamp_(min=0)


def knn_radii(features: torch.Tensor, k: int = 3, block: int = BLOCK) -> torch.Tensor:
    """Squared distance from each row to its k-th nearest other row (the row itself is skipped)."""
    n = features.shape[0]
    if not 1 <= k < n:
        raise ConfigError(f"k must be in [1, {n - 1}] for {n} samples, got {k}.")
    radii = torch.empty(n, dtype=features.dtype)
    for start in range(0, n, block):
        d = _squared_distances(features[start:start + block], features)
        # k + 1 smallest: the sample itself (distance 0) is one of them
        radii[start:start + block] = d.kthvalue(k + 1, dim=1).values
    return radii


def coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, block: int = BLOCK) -> float:
    """Fraction of ``points`` inside at least one ball (centre, squared radius)."""
    inside = torch.zeros(points.shape[0], dtype=torch.bool)
    for start in range(0, points.shape[0], block):
        d = _squared_distances(points[start:start + block], centres)
        inside[start:start + block] = (d <= radii).any(dim=1)
    return float(inside.double().mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3, block: int = BLOCK) -> tuple[float, float]:
    """(precision, recall) of the fake features against the real ones."""
    real_t, fake_t = torch.as_tensor(np.asarray(real, np.float64)), torch.as_tensor(np.asarray(fake, np.float64))
    if real_t.ndim != 2 or fake_t.ndim != 2 or real_t.shape[1] != fake_t.shape[1]:
        raise DataError(f"Precision/recall need two N×D feature matrices with the same D, got "
                        f"{tuple(real_t.shape)} and {tuple(fake_t.shape)}.")
    precision = coverage(fake_t, real_t, knn_radii(real_t, k, block), block)
    recall = coverage(real_t, fake_t, knn_radii(fake_t, k, block), block)
    return precision, recall
