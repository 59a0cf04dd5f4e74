"""Dataset names and ``scheme:PATH`` forms mapped to their loaders, and the one entry point over them."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable
from functools import partial

from ..errors import ConfigError, DataError
from .builtin import load_digits_dataset, load_mnist_5k
from .canonical import FASHION_MNIST, MNIST, load_canonical
from .cifar import load_cifar10
from .crops import with_crops
from .dataset import SPLITS, ImageDataset, LoadOptions, require_nonempty
from .folder import load_folder
from .npz import load_npz
from .transforms import convert_images

NamedLoader = Callable[[LoadOptions], ImageDataset]
PathLoader = Callable[[str, LoadOptions], ImageDataset]

DATASETS: dict[str, NamedLoader] = {
    "mnist": partial(load_canonical, MNIST),
    "fashion-mnist": partial(load_canonical, FASHION_MNIST),
    "cifar10": load_cifar10,
    "mnist-5k": load_mnist_5k,
    "digits": load_digits_dataset,
}
PATH_SCHEMES: dict[str, PathLoader] = {
    "folder": load_folder,
    "npz": load_npz,
}


def register_dataset(name: str, loader: NamedLoader) -> None:
    """Make ``load_dataset(name)`` call ``loader(options)``; names are lower case."""
    if name != name.lower() or ":" in name or not name:
        raise ConfigError(f"Dataset names are non-empty, lower case and without ':', got {name!r}.")
    DATASETS[name] = loader


def available_datasets() -> list[str]:
    """Registered names, then the path forms (``folder:PATH``, ``npz:PATH``)."""
    return [*DATASETS, *(f"{scheme}:PATH" for scheme in PATH_SCHEMES)]


def load_dataset(
    spec: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    image_size: int | None = None,
    channels: int | None = None,
    download: bool = True,
    crop_size: int | None = None,
    crops_per_image: int = 1,
) -> ImageDataset:
    """Load one split of a dataset into memory as uint8 N×C×H×W.

    ``spec`` is a registered name (see ``available_datasets``) or ``folder:PATH`` / ``npz:PATH``.
    ``image_size`` (square side) and ``channels`` (1 or 3) convert any dataset; None keeps its own.
    ``crop_size`` cuts ``crops_per_image`` random square crops of that side from every image, new ones each
    training epoch (``data/crops.py``); ``folder:`` photos then keep their own size unless ``image_size`` is set.
    ``data_dir`` and ``download`` only matter for datasets read from canonical files (mnist, fashion-mnist, cifar10).
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ConfigError(f"image_size must be a positive integer or None, got {image_size!r}.")
    if channels not in (None, 1, 3):
        raise ConfigError(f"channels must be 1, 3 or None, got {channels!r}.")
    check_crop_options(crop_size, crops_per_image, image_size)
    opts = LoadOptions(split=split, data_dir=data_dir, image_size=image_size, channels=channels, download=download,
                       crop_size=crop_size, crops_per_image=crops_per_image)
    ds = require_nonempty(resolve(spec)(opts), spec)
    if ds.crops is not None:  # the loader cropped its photos itself, after converting them
        return ds
    images = convert_images(ds.images, image_size, channels)
    ds = ds if images is ds.images else dataclasses.replace(ds, images=images)
    return ds if crop_size is None else with_crops(ds, crop_size, crops_per_image)


def check_crop_options(crop_size: int | None, crops_per_image: int, image_size: int | None) -> None:
    for name, value in (("crop_size", crop_size), ("crops_per_image", crops_per_image)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    if crop_size is not None and image_size is not None and crop_size > image_size:
        raise ConfigError(f"crop_size {crop_size} is larger than image_size {image_size}, the images it is cut from. "
                          "Lower crop_size, or leave image_size unset to crop photos at their own size.")


def resolve(spec: str) -> NamedLoader:
    """The loader for ``spec``, or a DataError that lists what exists and suggests the closest name."""
    scheme, sep, path = spec.partition(":")
    if sep and scheme.strip().lower() in PATH_SCHEMES:
        if not path.strip():
            raise DataError(f"Dataset {spec!r} needs a path after the colon, e.g. {scheme}:/data/images.")
        return partial(PATH_SCHEMES[scheme.strip().lower()], path.strip())
    name = spec.strip().lower()
    if name in DATASETS:
        return DATASETS[name]
    close = difflib.get_close_matches(name, [*DATASETS, *(f"{s}:" for s in PATH_SCHEMES)], n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise DataError(f"Unknown dataset {spec!r}.{hint} Available: {', '.join(available_datasets())}.")
