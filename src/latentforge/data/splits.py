"""Deterministic train/test splits. Changing any rule here changes which images are test images,
so results stop being comparable across versions: don't, without a very good reason."""

from __future__ import annotations

import hashlib

import numpy as np

SPLIT_SEED = 0


def stratified_split(labels: np.ndarray, n_test: int, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test), each in a seeded shuffled order, with exactly ``n_test`` test items.

    Each class gives test items in proportion to its size (largest remainder rounding), so the test
    split is class-balanced whatever the order of the source file.
    """
    n = len(labels)
    rng = np.random.default_rng(seed)
    pick, order = rng.permutation(n), rng.permutation(n)  # a second permutation: picking skews the first
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n_test / n
    take = np.floor(quota).astype(np.int64)
    take[np.argsort(take - quota, kind="stable")[: n_test - int(take.sum())]] += 1
    is_test = np.zeros(n, dtype=bool)
    for c, k in zip(classes, take):
        is_test[pick[labels[pick] == c][:k]] = True
    return order[~is_test[order]], order[is_test[order]]


def random_split(n: int, test_fraction: float = 0.1, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) from one seeded permutation; the last ``test_fraction`` are the test items."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = round(n * test_fraction)
    return order[: n - n_test], order[n - n_test :]


def hash_is_test(key: str, test_fraction: float = 0.1) -> bool:
    """Whether ``key`` (a relative path) falls in the test split: stable when other keys come and go."""
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return h < test_fraction * 2**64
