"""Probes of a representation: linear (logistic regression) and k-NN accuracy with scikit-learn.

Hyper-parameters (C; k and the distance) are chosen on a held-out part of the training features, never on
the test set; the chosen probe is then refitted on all training features and scored once on the test features.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

LINEAR_CS = (0.01, 0.1, 1.0, 10.0)
KNN_KS = (1, 5, 10, 20)
# Euclidean, and the cosine distance of self-supervised learning's k-NN evaluations (Wu et al., 2018), which
# ignores a code's length; both on standardised features.
KNN_METRICS = ("euclidean", "cosine")


@dataclasses.dataclass
class ProbeResult:
    accuracy: float  # test accuracy
    validation_accuracy: float  # of the chosen setting, on the held-out training features
    setting: float  # the chosen C (linear) or k (k-NN)
    metric: str | None = None  # the chosen distance (k-NN only)


def _check(features: np.ndarray, labels: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).ravel()
    if features.ndim != 2 or features.shape[0] != labels.shape[0] or features.shape[0] == 0:
        raise ValueError(f"{what}: features must be N×D with one label per row, got {features.shape} and "
                         f"{labels.shape[0]} labels.")
    if not np.isfinite(features).all():
        raise ValueError(f"{what}: some features are NaN or infinite.")
    return features, labels


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, validation) of a seeded random split of n rows."""
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, int(round(n * fraction)))
    return order[cut:], order[:cut]


def _linear(c: float, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=300, random_state=seed)


def _knn(k: int, metric: str) -> KNeighborsClassifier:
    return KNeighborsClassifier(n_neighbors=k, metric=metric)


def _select_and_score(make, settings, train_x, train_y, test_x, test_y, *, fraction: float,
                      seed: int) -> tuple[float, float, object]:
    """(test accuracy, held-out accuracy, setting) of the setting that scores best on the held-out part."""
    train_x, train_y = _check(train_x, train_y, "training features")
    test_x, test_y = _check(test_x, test_y, "test features")
    fit, held = validation_split(len(train_y), fraction, seed)
    best, best_acc = settings[0], -1.0
    scaler = StandardScaler().fit(train_x[fit])
    fit_x, held_x = scaler.transform(train_x[fit]), scaler.transform(train_x[held])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for s in settings:
            acc = make(s).fit(fit_x, train_y[fit]).score(held_x, train_y[held])
            if acc > best_acc:
                best, best_acc = s, acc
        scaler = StandardScaler().fit(train_x)
        final = make(best).fit(scaler.transform(train_x), train_y)
    return float(final.score(scaler.transform(test_x), test_y)), float(best_acc), best


def linear_probe(train_x, train_y, test_x, test_y, *, cs: Sequence[float] = LINEAR_CS, fraction: float = 0.1,
                 seed: int = 0) -> ProbeResult:
    """Logistic regression on standardised features, C chosen on a held-out ``fraction`` of the training set."""
    accuracy, held, c = _select_and_score(lambda c: _linear(c, seed), list(cs), train_x, train_y, test_x, test_y,
                                          fraction=fraction, seed=seed)
    return ProbeResult(accuracy, held, float(c))


def knn_probe(train_x, train_y, test_x, test_y, *, ks: Sequence[int] = KNN_KS, fraction: float = 0.1,
              metrics: Sequence[str] = KNN_METRICS, seed: int = 0) -> ProbeResult:
    """k-nearest-neighbour vote on standardised features, k and the distance chosen on a held-out training part."""
    settings = [(int(k), metric) for metric in metrics for k in ks]
    accuracy, held, (k, metric) = _select_and_score(lambda s: _knn(*s), settings, train_x, train_y, test_x,
                                                    test_y, fraction=fraction, seed=seed)
    return ProbeResult(accuracy, held, float(k), metric)


def fit_linear(features, labels, *, c: float, seed: int = 0) -> tuple[StandardScaler, LogisticRegression]:
    """The fitted scaler and logistic regression, to be saved as arrays (see jobs/represent.py)."""
    features, labels = _check(features, labels, "training features")
    scaler = StandardScaler().fit(features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return scaler, _linear(c, seed).fit(scaler.transform(features), labels)
