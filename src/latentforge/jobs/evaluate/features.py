"""Feature extractors for sample-quality metrics: a small LeNet-style classifier (:mod:`latentforge.nn.lenet`)
trained once per dataset, and its cache.

Inception weights cannot be fetched offline, so FID/KID/precision-recall are computed in the penultimate
(128-d) feature space of a classifier trained on the dataset itself — a common substitute for small
grayscale datasets. The metric is named after the extractor (``fid-lenet``) because its values are not
comparable with Inception FID.

The classifier is trained deterministically (fixed seed, fixed epochs, data order from ``iterate_batches``)
and cached under ``$XDG_CACHE_HOME/latentforge/extractors/<dataset>-lenet-<C>x<H>x<W>/`` as
``model.safetensors`` + ``info.json`` (test accuracy, recipe, data fingerprint, versions).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ...data import ImageDataset, iterate_batches, load_dataset, num_batches, to_float
from ...errors import CheckpointError, ConfigError, DataError
from ...io import atomic_write_json, load_tensors, read_json, save_tensors
from ...nn.lenet import LeNet
from ...nn.schedules import cosine_decay
from ...version import __version__

FORMAT = 1
EXTRACTORS = ("lenet",)
MIN_IMAGES_PER_CLASS = 10  # training images each class needs before the classifier can learn it


@dataclasses.dataclass(frozen=True)
class LeNetRecipe:
    """Architecture and training settings of the ``lenet`` extractor; the defaults reach ≥ 99 % test
    accuracy on MNIST and ≥ 91 % on Fashion-MNIST (see docs/evaluation.md for the measured figures)."""

    widths: tuple[int, int, int] = (32, 64, 128)
    feature_dim: int = 128
    dropout: float = 0.25
    epochs: int = 5
    batch_size: int = 128
    lr: float = 2e-3  # peak learning rate (AdamW, linear warm-up then cosine decay)
    weight_decay: float = 5e-4
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LeNetRecipe:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ConfigError(f"Unknown lenet recipe fields {sorted(unknown)}; known: {sorted(names)}.")
        values = dict(values)
        if "widths" in values:
            values["widths"] = tuple(int(w) for w in values["widths"])
        return cls(**values)


DEFAULT_RECIPE = LeNetRecipe()


class LeNetExtractor:
    """A trained :class:`LeNet` used as a feature map; ``info`` is the content of its ``info.json``."""

    name = "lenet"

    def __init__(self, net: LeNet, info: dict[str, Any]):
        self.net = net.eval()
        self.info = info

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
            raise DataError(f"The lenet extractor was trained on {self.image_shape} images, "
                            f"got {tuple(images.shape[1:])}.")
        return raw_features(self.net, images, batch_size) / self.info["feature_scale"]


@torch.no_grad()
def raw_features(net: LeNet, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    net.eval()
    device = next(net.parameters()).device
    out = [net.features(to_float(images[i:i + batch_size]).to(device)).float().cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0, net.embed.out_features)


def feature_scale(net: LeNet, train: ImageDataset, n: int = 10000) -> float:
    """RMS of the raw features of the first ``n`` training images. Features are divided by it, so a typical
    feature vector has ‖f‖²/d ≈ 1: the regime KID's kernel (xᵀy/d + 1)³ was designed for (Inception pool3
    features), where a few large inner products do not dominate it. FID scales by 1/scale² with it."""
    features = raw_features(net, train.images[:n]).double()
    return float(features.pow(2).mean().sqrt().clamp(min=1e-12))


@torch.no_grad()
def classifier_accuracy(net: nn.Module, dataset: ImageDataset, batch_size: int = 500) -> float:
    net.eval()
    correct = sum(int((net(x).argmax(1) == y).sum()) for x, y in iterate_batches(dataset, batch_size, shuffle=False))
    return correct / len(dataset)


def data_fingerprint(dataset: ImageDataset) -> str:
    """sha256 of a split's images and labels: tells a cached extractor whether its training data changed."""
    h = hashlib.sha256()
    h.update(repr(tuple(dataset.images.shape)).encode())
    h.update(dataset.images.contiguous().numpy().tobytes())
    if dataset.labels is not None:
        h.update(dataset.labels.contiguous().numpy().tobytes())
    return h.hexdigest()


def _num_classes(dataset: ImageDataset) -> int:
    if dataset.labels is None or len(dataset.labels) == 0:
        raise DataError(
            f"The lenet feature extractor is a classifier trained on the dataset's labels, but {dataset.name!r} has "
            "none. Use a labelled dataset, or standard Inception features (--inception-weights PATH)."
        )
    return max(int(dataset.num_classes or 0), int(dataset.labels.max()) + 1)


def check_classifier_data(train: ImageDataset, test: ImageDataset) -> None:
    """Refuse data the classifier cannot learn a meaningful feature space from, before any long pass:
    labels in both splits, at least 2 classes, MIN_IMAGES_PER_CLASS training images per class, test images."""
    if len(train) == 0:
        raise DataError(f"The training split of {train.name!r} holds no images; the lenet extractor is trained on it.")
    num_classes = _num_classes(train)
    if len(test) == 0 or test.labels is None:
        raise DataError(f"The test split of {test.name!r} {'holds no images' if len(test) == 0 else 'has no labels'}; "
                        "the lenet extractor's accuracy is measured on it, so FID/KID cannot be trusted without it.")
    counts = torch.bincount(train.labels, minlength=num_classes)
    present = int((counts > 0).sum())
    if present < 2:
        raise DataError(f"{train.name!r} has {present} class in its training labels; the lenet feature extractor is "
                        "a classifier and needs at least 2. Use a labelled dataset with several classes, or standard "
                        "Inception features (--inception-weights PATH).")
    few = [(c, int(n)) for c, n in enumerate(counts.tolist()) if 0 < n < MIN_IMAGES_PER_CLASS]
    if few:
        shown = ", ".join(f"class {c}: {n}" for c, n in few[:5]) + (" …" if len(few) > 5 else "")
        raise DataError(f"Too few training images per class in {train.name!r} ({shown}) for the lenet feature "
                        f"extractor: it needs at least {MIN_IMAGES_PER_CLASS} per class. Use more labelled images, or "
                        "standard Inception features (--inception-weights PATH).")


def required_accuracy(num_classes: int) -> float:
    """The test accuracy below which a classifier's features are not trusted for FID/KID/precision/recall:
    halfway between chance (1/K) and perfect, so 0.75 for 2 classes and 0.55 for 10."""
    return 0.5 * (1 + 1 / max(1, num_classes))


def check_extractor_accuracy(extractor: LeNetExtractor) -> None:
    """Refuse an extractor whose classifier barely beats chance: its feature space says little about the images,
    and FID, KID, precision and recall in it would be figures without meaning."""
    num_classes = int(extractor.info.get("num_classes") or 0)
    accuracy, needed = extractor.accuracy, required_accuracy(num_classes)
    if accuracy is None or not accuracy >= needed:
        shown = "unknown" if accuracy is None else f"{accuracy:.1%}"
        raise DataError(
            f"The lenet feature extractor for {extractor.info.get('dataset')!r} reaches only {shown} test accuracy "
            f"on its {num_classes} classes (chance {1 / max(1, num_classes):.1%}; at least {needed:.1%} is needed), so "
            "sample-quality figures in its feature space would mean nothing; they are not reported. The labels may "
            "not describe the images, or there are too few images: use a larger labelled dataset, or standard "
            "Inception features (--inception-weights PATH)."
        )


def _warmup_cosine(step: int, total: int) -> float:
    """Learning-rate factor: linear warm-up over the first 20 % of the steps, then cosine decay to 0."""
    warm = max(1, round(0.2 * total))
    if step < warm:
        return (step + 1) / warm
    return cosine_decay(step - warm, total - warm)


def train_lenet(train: ImageDataset, test: ImageDataset, recipe: LeNetRecipe = DEFAULT_RECIPE, *,
                dataset_name: str | None = None, progress: bool = False) -> LeNetExtractor:
    """Train the classifier deterministically (same data, recipe and thread count → same weights)."""
    num_classes = _num_classes(train)
    drop_last = len(train) >= recipe.batch_size  # equal batches, unless the data is smaller than one batch
    steps_per_epoch = num_batches(len(train), recipe.batch_size, drop_last=drop_last)
    if steps_per_epoch < 1 or recipe.epochs < 1:
        raise ConfigError(f"Cannot train the lenet extractor: {len(train)} images, recipe {recipe}.")
    start = time.perf_counter()
    # Not the Trainer: a plain classifier (cross-entropy, AdamW, dropout) trained to a fixed recipe and cached
    # beside the data; the Trainer's runs, checkpoints and generative-model contract would not fit it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)  # initial weights and dropout masks
        net = LeNet(train.shape, num_classes, recipe.widths, recipe.feature_dim, recipe.dropout)
        opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, partial(_warmup_cosine, total=recipe.epochs * steps_per_epoch))
        bar = tqdm(total=recipe.epochs * steps_per_epoch,
                   desc=f"training lenet extractor ({dataset_name or train.name})",
                   disable=not progress, dynamic_ncols=True, leave=False)
        net.train()
        for epoch in range(recipe.epochs):
            for x, y in iterate_batches(train, recipe.batch_size, shuffle=True, seed=recipe.seed, epoch=epoch,
                                        drop_last=drop_last):
                loss = nn.functional.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)
        bar.close()
    seconds = time.perf_counter() - start
    accuracy = classifier_accuracy(net, test)
    info = {
        "format": FORMAT,
        "extractor": "lenet",
        "dataset": dataset_name or train.name,
        "image_shape": list(train.shape),
        "num_classes": num_classes,
        "feature_dim": recipe.feature_dim,
        "recipe": recipe.to_dict(),
        "augmentation": "none",
        "test_accuracy": accuracy,
        "feature_scale": feature_scale(net, train),
        "train_images": len(train),
        "test_images": len(test),
        "train_fingerprint": data_fingerprint(train),
        "train_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "latentforge_version": __version__,
        "torch_version": torch.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return LeNetExtractor(net.eval(), info)


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
                  recipe: LeNetRecipe = DEFAULT_RECIPE, root: str | os.PathLike | None = None) -> Path:
    """Where the extractor for (dataset, image shape) is cached; a non-default recipe gets its own folder."""
    name = f"{_safe_dataset_name(dataset)}-{extractor}-{'x'.join(str(int(s)) for s in image_shape)}"
    if recipe != DEFAULT_RECIPE:
        name += "-" + hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return Path(root or cache_root()) / name


def save_extractor(extractor: LeNetExtractor, folder: str | os.PathLike) -> Path:
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


def load_extractor(folder: str | os.PathLike) -> LeNetExtractor:
    """Load a cached extractor; any inconsistency raises CheckpointError saying what is wrong."""
    folder = Path(folder)
    info = read_json(folder / "info.json", "Feature extractor info")
    if not isinstance(info, dict) or info.get("format") != FORMAT or info.get("extractor") != "lenet":
        raise CheckpointError(f"{folder / 'info.json'} is not a lenet feature extractor record (format {FORMAT}).")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"Feature extractor weights not found: {weights} does not exist.")
    if info.get("weights_sha256") != _sha256_file(weights):
        raise CheckpointError(f"{weights} does not match the checksum in info.json: the file is corrupt or was "
                              "replaced.")
    state = load_tensors(weights, "Feature extractor weights")
    try:
        recipe = LeNetRecipe.from_dict(info["recipe"])
        net = LeNet(tuple(info["image_shape"]), int(info["num_classes"]), recipe.widths, recipe.feature_dim,
                    recipe.dropout)
        net.load_state_dict(state)
        if not float(info["feature_scale"]) > 0:
            raise ValueError(f"feature_scale must be positive, got {info['feature_scale']}")
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"The feature extractor in {folder} does not fit its info.json ({e}).") from e
    return LeNetExtractor(net, info)


def get_extractor(dataset: str, image_shape: tuple[int, ...], *, extractor: str = "lenet",
                  data_dir: str | os.PathLike | None = None, recipe: LeNetRecipe | None = None,
                  train: ImageDataset | None = None, test: ImageDataset | None = None,
                  cache_dir: str | os.PathLike | None = None, progress: bool = False) -> LeNetExtractor:
    """The cached extractor for (dataset, image shape), trained and cached first if there is none.

    A cache entry that cannot be read, or whose training data (fingerprint of ``train``, when given) or
    recipe differs, is replaced by a fresh training run, with a warning that says why.
    """
    if extractor not in EXTRACTORS:
        raise ConfigError(f"Unknown feature extractor {extractor!r}; available: {', '.join(EXTRACTORS)} "
                          "(standard Inception features need --inception-weights PATH).")
    recipe = recipe or DEFAULT_RECIPE
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
            warnings.warn(f"The cached lenet feature extractor in {folder} is stale ({problem}); retraining it.",
                          stacklevel=2)
        except CheckpointError as e:
            warnings.warn(f"The cached lenet feature extractor in {folder} is unusable ({e}); retraining it.",
                          stacklevel=2)
    if train is None:
        train = load_dataset(dataset, "train", data_dir=data_dir, image_size=h, channels=c)
    if test is None:
        test = load_dataset(dataset, "test", data_dir=data_dir, image_size=h, channels=c)
    if train.shape != (c, h, w):
        raise DataError(f"Training images for the extractor have shape {train.shape}, expected {(c, h, w)}.")
    check_classifier_data(train, test)
    trained = train_lenet(train, test, recipe, dataset_name=dataset, progress=progress)
    save_extractor(trained, folder)
    return trained


def feature_array(features: torch.Tensor) -> np.ndarray:
    """Features as a float64 numpy array (what the metrics compute in)."""
    array = features.detach().cpu().double().numpy()
    if not np.isfinite(array).all():
        raise DataError("Non-finite features: the images or the extractor weights contain NaN/inf.")
    return array


__all__ = ["DEFAULT_RECIPE", "LeNetExtractor", "LeNetRecipe", "cache_root", "check_classifier_data",
           "check_extractor_accuracy", "extractor_dir", "get_extractor", "load_extractor", "required_accuracy",
           "save_extractor", "train_lenet"]
