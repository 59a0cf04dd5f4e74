"""Separation of in-distribution and out-of-distribution scores: AUROC and AUPRC.

Convention: a score is an *anomaly* score (higher = more unusual) and the OOD set is the positive class.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def _labelled(in_scores, out_scores) -> tuple[np.ndarray, np.ndarray]:
    inside = np.asarray(in_scores, dtype=np.float64).ravel()
    outside = np.asarray(out_scores, dtype=np.float64).ravel()
    if inside.size == 0 or outside.size == 0:
        raise ValueError("AUROC/AUPRC need at least one in-distribution and one out-of-distribution score.")
    if not (np.isfinite(inside).all() and np.isfinite(outside).all()):
        raise ValueError("AUROC/AUPRC need finite scores; some are NaN or infinite.")
    scores = np.concatenate([inside, outside])
    truth = np.concatenate([np.zeros(inside.size), np.ones(outside.size)])
    return truth, scores


def auroc(in_scores, out_scores) -> float:
    """Probability that a random OOD image scores higher than a random in-distribution one (ties count ½)."""
    truth, scores = _labelled(in_scores, out_scores)
    return float(roc_auc_score(truth, scores))


def auprc(in_scores, out_scores) -> float:
    """Average precision of finding the OOD images by ranking on the score (OOD = positive)."""
    truth, scores = _labelled(in_scores, out_scores)
    return float(average_precision_score(truth, scores))


def knn_distance(reference, queries, k: int = 1) -> np.ndarray:
    """Anomaly score of each query: the Euclidean distance from its L2-normalised feature vector to the k-th
    nearest of the normalised ``reference`` vectors (in-distribution training features), as in Sun et al.
    (2022), "Out-of-distribution detection with deep nearest neighbors"."""
    from sklearn.neighbors import NearestNeighbors

    reference = np.asarray(reference, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.float64)
    if reference.ndim != 2 or queries.ndim != 2 or reference.shape[1] != queries.shape[1]:
        raise ValueError(f"knn_distance needs N×D reference and M×D query features, got {reference.shape} and "
                         f"{queries.shape}.")
    if not 1 <= k <= len(reference):
        raise ValueError(f"k must be between 1 and the {len(reference)} reference features, got {k}.")
    unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    distances, _ = NearestNeighbors(n_neighbors=k).fit(unit(reference)).kneighbors(unit(queries))
    return distances[:, -1]
