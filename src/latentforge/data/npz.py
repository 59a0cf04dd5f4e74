"""``npz:PATH``: image arrays saved with ``numpy.savez``.

Keys (matched case-insensitively), first match wins:

- images: ``x_train``/``train_images``/``images_train`` and ``x_test``/``test_images``/``images_test``;
  or one unsplit array ``images``/``x``, split 90/10 by a fixed seeded permutation;
- labels (optional): ``y_train``/``train_labels``/``labels_train``, ``y_test``/``test_labels``/
  ``labels_test``, or ``labels``/``y`` beside an unsplit array.

Images are N×H×W, N×H×W×C or N×C×H×W with C 1 or 3; uint8 (any integer type within 0..255, or
bool) or float in [0, 1]. Labels are non-negative integers, N or N×1.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import SPLITS, ImageDataset, LoadOptions
from .splits import random_split

IMAGE_KEYS = {
    "train": ("x_train", "train_images", "images_train"),
    "test": ("x_test", "test_images", "images_test"),
}
LABEL_KEYS = {
    "train": ("y_train", "train_labels", "labels_train"),
    "test": ("y_test", "test_labels", "labels_test"),
}
UNSPLIT_IMAGE_KEYS = ("images", "x")
UNSPLIT_LABEL_KEYS = ("labels", "y")
EXPECTED_LAYOUT = "N×H×W, N×H×W×C or N×C×H×W with C = 1 or 3, uint8 or float in [0, 1]"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK"
SAVE_HOW = "save the arrays with numpy.savez(path, x_train=..., x_test=...) or numpy.savez(path, images=...)"


def load_npz(path: str, opts: LoadOptions) -> ImageDataset:
    file = Path(path).expanduser()
    if not file.is_file():
        what = "is not a file" if file.exists() else "does not exist"
        raise DataError(f"Dataset npz:{path}: {file} {what}. Give the path of an .npz file.")
    arrays = read_arrays(file)
    images, labels = select_split(file, arrays, opts.split)
    all_labels = [labels_from(file, arrays, k, None) for k in present_label_keys(arrays)]
    # Counted over every split, so train and test agree even when a class is missing from one.
    num_classes = max((int(y.max()) + 1 for y in all_labels if y.size), default=0) if labels is not None else None
    return ImageDataset(
        images=torch.from_numpy(images),
        labels=None if labels is None else torch.from_numpy(labels),
        name=f"npz:{path}",
        split=opts.split,
        num_classes=num_classes,
        likelihood_hint="logistic",
    )


def read_arrays(file: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, never unpickling; anything else is a DataError saying what it is."""
    check_is_npz(file)
    try:
        with np.load(file, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as e:
        raise DataError(f"Cannot read {file} as an .npz of plain arrays ({e}); {SAVE_HOW}.") from e


def check_is_npz(file: Path) -> None:
    """Tell an .npy array, an empty file and any other non-zip file apart by their first bytes."""
    try:
        with file.open("rb") as fh:
            magic = fh.read(len(NPY_MAGIC))
    except OSError as e:
        raise DataError(f"Cannot read {file}: {e}.") from e
    if magic.startswith(NPY_MAGIC):
        raise DataError(f"{file} is a single .npy array, not an .npz archive; {SAVE_HOW}.")
    if not magic.startswith(ZIP_MAGIC):
        what = "is empty (0 bytes)" if not magic else "is not an .npz (zip) archive"
        raise DataError(f"{file} {what}; {SAVE_HOW}.")


def find_key(arrays: dict[str, np.ndarray], candidates: tuple[str, ...]) -> str | None:
    lower = {k.lower(): k for k in arrays}
    return next((lower[c] for c in candidates if c in lower), None)


def present_label_keys(arrays: dict[str, np.ndarray]) -> list[str]:
    groups = [*LABEL_KEYS.values(), UNSPLIT_LABEL_KEYS]
    return [k for g in groups if (k := find_key(arrays, g)) is not None]


def select_split(file: Path, arrays: dict[str, np.ndarray], split: str) -> tuple[np.ndarray, np.ndarray | None]:
    """This split's images (uint8 N×C×H×W) and labels (int64 N, or None)."""
    image_key = find_key(arrays, IMAGE_KEYS[split])
    if image_key is not None:
        images = images_from(file, arrays, image_key)
        label_key = find_key(arrays, LABEL_KEYS[split])
        return images, None if label_key is None else labels_from(file, arrays, label_key, len(images))
    unsplit_key = find_key(arrays, UNSPLIT_IMAGE_KEYS)
    if unsplit_key is None or any(find_key(arrays, IMAGE_KEYS[s]) for s in SPLITS):
        wanted = " / ".join(IMAGE_KEYS[split])
        if unsplit_key is None:
            wanted += f", or an unsplit {' / '.join(UNSPLIT_IMAGE_KEYS)}"
        raise DataError(
            f"{file} has no {split} images: expected an array named {wanted}; found {sorted(arrays) or 'no arrays'}."
        )
    images = images_from(file, arrays, unsplit_key)
    label_key = find_key(arrays, UNSPLIT_LABEL_KEYS)
    labels = None if label_key is None else labels_from(file, arrays, label_key, len(images))
    idx = random_split(len(images))[SPLITS.index(split)]
    if len(idx) == 0:
        raise DataError(
            f"{file} [{unsplit_key}]: {len(images)} images are too few to split 90/10, so the {split} split is "
            "empty. Add images, or save the splits yourself as x_train and x_test."
        )
    return images[idx], None if labels is None else labels[idx]


def images_from(file: Path, arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    """Validate and convert one image array to contiguous uint8 N×C×H×W."""
    x = arrays[key]
    found = f"{file} [{key}]: found {x.dtype} array of shape {x.shape}"
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] in (1, 3):
        pass
    elif x.ndim == 4 and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    else:
        raise DataError(f"{found}; expected {EXPECTED_LAYOUT}.")
    if len(x) == 0:
        raise DataError(f"{found}: it holds no images. Save at least one image in it.")
    if x.size == 0:
        raise DataError(f"{found}: its images have no pixels (a side of length 0).")
    if x.dtype == np.bool_:
        x = x.astype(np.uint8) * 255
    elif np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise DataError(f"{found} with values in [{x.min()}, {x.max()}]; expected integers in [0, 255].")
    elif np.issubdtype(x.dtype, np.floating):
        require_finite(found, x)
        if x.min() < 0 or x.max() > 1:
            raise DataError(
                f"{found} with values in [{x.min()}, {x.max()}]; expected floats in [0, 1] "
                "(divide by 255, or save uint8)."
            )
        x = np.rint(x * 255)
    else:
        raise DataError(f"{found}; expected {EXPECTED_LAYOUT}.")
    return np.ascontiguousarray(x, dtype=np.uint8)


def require_finite(found: str, x: np.ndarray) -> None:
    """A DataError counting the NaN and infinite values of float images ``x`` (N first) and the images holding them."""
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    n_nan = int(np.isnan(x).sum())
    n_inf = int(bad.sum()) - n_nan
    images = np.flatnonzero(bad.reshape(len(x), -1).any(axis=1))
    raise DataError(
        f"{found} with {n_nan} NaN and {n_inf} infinite values, in {len(images)} of {len(x)} images "
        f"(the first at index {images[0]}). Replace them (e.g. numpy.nan_to_num) or drop those images, then save "
        "again."
    )


def labels_from(file: Path, arrays: dict[str, np.ndarray], key: str, n: int | None) -> np.ndarray:
    """Validate one label array (N or N×1 non-negative integers; N checked when given) as int64 N."""
    y = arrays[key]
    found = f"{file} [{key}]: found {y.dtype} array of shape {y.shape}"
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise DataError(f"{found}; expected a vector of non-negative integer class labels.")
    if n is not None and len(y) != n:
        raise DataError(f"{found}; expected {n} labels, one per image.")
    return y.astype(np.int64)
