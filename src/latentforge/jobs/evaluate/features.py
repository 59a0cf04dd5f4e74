"""Feature extractors for sample-quality metrics: a classifier trained once per dataset (``lenet`` for small grey
images, ``resnet`` for natural images; :mod:`.classifiers`), and its cache.

Inception weights cannot be fetched offline, so FID/KID/precision-recall are computed in the penultimate
feature space of a classifier trained on the dataset itself — a common substitute. The metric is named after
the extractor (``fid-lenet``, ``fid-resnet``) because its values are not comparable with Inception FID.

Each classifier is cached under ``$XDG_CACHE_HOME/latentforge/extractors/<dataset>-<extractor>-<C>x<H>x<W>/`` as
``model.safetensors`` + ``info.json`` (test accuracy, recipe, data fingerprint, versions).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...data import ImageDataset, load_dataset
from ...errors import CheckpointError, ConfigError, DataError
from ...io import atomic_write_json, load_tensors, read_json, save_tensors
from .classifiers import (
    DEFAULT_RECIPES,
    FORMAT,
    RECIPES,
    LeNetRecipe,
    Recipe,
    ResNetRecipe,
    build_classifier,
    check_classifier_data,
    data_fingerprint,
    raw_features,
    train_classifier,
)

EXTRACTORS = tuple(RECIPES)
DEFAULT_RECIPE = DEFAULT_RECIPES["lenet"]


class ClassifierExtractor:
    """A trained classifier used as a feature map; ``info`` is the content of its ``info.json``."""

    def __init__(self, net: nn.Module, info: dict[str, Any]):
        self.net = net.eval()
        self.info = info

    @property
    def name(self) -> str:
        return str(self.info.get("extractor", "lenet"))

    @property
    def feature_dim(self) -> int:
        return self.net.embed.out_features

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.info["image_shape"])  # type: ignore[return-value]

    @property
    def accuracy(self) -> float | None:
        return self.info.get("test_accuracy")

    def __call__(self, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Features (N×D float32, CPU) of uint8 or [0, 1] float images N×C×H×W, divided by ``feature_scale``."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise DataError(f"The {self.name} extractor was trained on {self.image_shape} images, "
                            f"got {tuple(images.shape[1:])}.")
        return raw_features(self.net, images, batch_size) / self.info["feature_scale"]


def required_accuracy(num_classes: int) -> float:
    """The test accuracy below which a classifier's features are not trusted for FID/KID/precision/recall:
    halfway between chance (1/K) and perfect, so 0.75 for 2 classes and 0.55 for 10."""
    return 0.5 * (1 + 1 / max(1, num_classes))


def check_extractor_accuracy(extractor: ClassifierExtractor) -> None:
    """Refuse an extractor whose classifier barely beats chance: its feature space says little about the images,
    and FID, KID, precision and recall in it would be figures without meaning."""
    num_classes = int(extractor.info.get("num_classes") or 0)
    accuracy, needed = extractor.accuracy, required_accuracy(num_classes)
    if accuracy is None or not accuracy >= needed:
        shown = "unknown" if accuracy is None else f"{accuracy:.1%}"
        raise DataError(
            f"The {extractor.name} feature extractor for {extractor.info.get('dataset')!r} reaches only {shown} test "
            f"accuracy on its {num_classes} classes (chance {1 / max(1, num_classes):.1%}; at least {needed:.1%} is "
            "needed), so sample-quality figures in its feature space would mean nothing; they are not reported. The "
            "labels may not describe the images, or there are too few images: use a larger labelled dataset, or "
            "standard Inception features (--inception-weights PATH)."
        )


def train_lenet(train: ImageDataset, test: ImageDataset, recipe: LeNetRecipe = DEFAULT_RECIPE, *,
                dataset_name: str | None = None, progress: bool = False) -> ClassifierExtractor:
    """Train the ``lenet`` classifier deterministically (same data, recipe and thread count → same weights)."""
    return ClassifierExtractor(*train_classifier(train, test, recipe, dataset_name=dataset_name, progress=progress))


def train_resnet(train: ImageDataset, test: ImageDataset, recipe: ResNetRecipe = DEFAULT_RECIPES["resnet"], *,
                 dataset_name: str | None = None, progress: bool = False) -> ClassifierExtractor:
    """Train the ``resnet`` classifier deterministically."""
    return ClassifierExtractor(*train_classifier(train, test, recipe, dataset_name=dataset_name, progress=progress))


# -- the cache -------------------------------------------------------------------------------------------

def cache_root() -> Path:
    """``$XDG_CACHE_HOME/latentforge/extractors``, else ``~/.cache/latentforge/extractors``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"  # the XDG spec ignores relative paths
    return base / "latentforge" / "extractors"


def _safe_dataset_name(dataset: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", dataset.strip().lower()).strip("_") or "data"
    if safe != dataset.strip().lower():  # folder:PATH and npz:PATH: keep distinct paths apart
        safe = f"{safe[:40]}-{hashlib.sha256(dataset.encode()).hexdigest()[:8]}"
    return safe


def extractor_dir(dataset: str, image_shape: tuple[int, ...], extractor: str = "lenet",
                  recipe: Recipe | None = None, root: str | os.PathLike | None = None) -> Path:
    """Where the extractor for (dataset, image shape) is cached; a non-default recipe gets its own folder."""
    name = f"{_safe_dataset_name(dataset)}-{extractor}-{'x'.join(str(int(s)) for s in image_shape)}"
    if recipe is not None and recipe != DEFAULT_RECIPES[extractor]:
        name += "-" + hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return Path(root or cache_root()) / name


def save_extractor(extractor: ClassifierExtractor, folder: str | os.PathLike) -> Path:
    """Write ``model.safetensors`` then ``info.json`` (which records the weights' sha256), both atomically."""
    folder = Path(folder)
    save_tensors(folder / "model.safetensors", extractor.net.state_dict())
    info = {**extractor.info, "weights_sha256": _sha256_file(folder / "model.safetensors")}
    atomic_write_json(folder / "info.json", info)
    extractor.info = info
    return folder


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_extractor(folder: str | os.PathLike) -> ClassifierExtractor:
    """Load a cached extractor; any inconsistency raises CheckpointError saying what is wrong."""
    folder = Path(folder)
    info = read_json(folder / "info.json", "Feature extractor info")
    if not isinstance(info, dict) or info.get("format") != FORMAT or info.get("extractor") not in RECIPES:
        raise CheckpointError(f"{folder / 'info.json'} is not a feature extractor record (format {FORMAT}, extractor "
                              f"one of {', '.join(RECIPES)}).")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"Feature extractor weights not found: {weights} does not exist.")
    if info.get("weights_sha256") != _sha256_file(weights):
        raise CheckpointError(f"{weights} does not match the checksum in info.json: the file is corrupt or was "
                              "replaced.")
    state = load_tensors(weights, "Feature extractor weights")
    try:
        recipe = RECIPES[info["extractor"]].from_dict(info["recipe"])
        net = build_classifier(recipe, tuple(info["image_shape"]), int(info["num_classes"]))
        net.load_state_dict(state)
        if not float(info["feature_scale"]) > 0:
            raise ValueError(f"feature_scale must be positive, got {info['feature_scale']}")
    except (KeyError, TypeError, ValueError, RuntimeError, ConfigError) as e:
        raise CheckpointError(f"The feature extractor in {folder} does not fit its info.json ({e}).") from e
    return ClassifierExtractor(net, info)


def get_extractor(dataset: str, image_shape: tuple[int, ...], *, extractor: str = "lenet",
                  data_dir: str | os.PathLike | None = None, recipe: Recipe | None = None,
                  train: ImageDataset | None = None, test: ImageDataset | None = None,
                  cache_dir: str | os.PathLike | None = None, progress: bool = False) -> ClassifierExtractor:
    """The cached extractor for (dataset, image shape), trained and cached first if there is none.

    A cache entry that cannot be read, or whose training data (fingerprint of ``train``, when given) or
    recipe differs, is replaced by a fresh training run, with a warning that says why.
    """
    if extractor not in EXTRACTORS:
        raise ConfigError(f"Unknown feature extractor {extractor!r}; available: {', '.join(EXTRACTORS)} "
                          "(standard Inception features need --inception-weights PATH).")
    recipe = recipe or DEFAULT_RECIPES[extractor]
    if not isinstance(recipe, RECIPES[extractor]):
        raise ConfigError(f"A {type(recipe).__name__} is not a recipe for the {extractor} extractor; use "
                          f"{RECIPES[extractor].__name__}.")
    c, h, w = (int(s) for s in image_shape)
    folder = extractor_dir(dataset, (c, h, w), extractor, recipe, cache_dir)
    if (folder / "info.json").exists() or (folder / "model.safetensors").exists():
        try:
            cached = load_extractor(folder)
            problem = None
            if cached.info.get("recipe") != recipe.to_dict():
                problem = "it was trained with a different recipe"
            elif tuple(cached.info.get("image_shape", ())) != (c, h, w):
                problem = f"it is for {cached.info.get('image_shape')} images"
            elif train is not None and cached.info.get("train_fingerprint") != data_fingerprint(train):
                problem = "the training data has changed since"
            if problem is None:
                return cached
            warnings.warn(f"The cached {extractor} feature extractor in {folder} is stale ({problem}); retraining "
                          "it.", stacklevel=2)
        except CheckpointError as e:
            warnings.warn(f"The cached {extractor} feature extractor in {folder} is unusable ({e}); retraining it.",
                          stacklevel=2)
    if train is None:
        train = load_dataset(dataset, "train", data_dir=data_dir, image_size=h, channels=c)
    if test is None:
        test = load_dataset(dataset, "test", data_dir=data_dir, image_size=h, channels=c)
    if train.shape != (c, h, w):
        raise DataError(f"Training images for the extractor have shape {train.shape}, expected {(c, h, w)}.")
    check_classifier_data(train, test, extractor)
    trainer = train_lenet if extractor == "lenet" else train_resnet  # looked up here: tests replace them
    trained = trainer(train, test, recipe, dataset_name=dataset, progress=progress)
    save_extractor(trained, folder)
    return trained


def feature_array(features: torch.Tensor) -> np.ndarray:
    """Features as a float64 numpy array (what the metrics compute in)."""
    array = features.detach().cpu().double().numpy()
    if not np.isfinite(array).all():
        raise DataError("Non-finite features: the images or the extractor weights contain NaN/inf.")
    return array


__all__ = ["DEFAULT_RECIPE", "DEFAULT_RECIPES", "EXTRACTORS", "ClassifierExtractor", "LeNetRecipe",
           "ResNetRecipe", "cache_root", "check_classifier_data", "check_extractor_accuracy", "extractor_dir",
           "get_extractor", "load_extractor", "required_accuracy", "save_extractor", "train_lenet", "train_resnet"]
