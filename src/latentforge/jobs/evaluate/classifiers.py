"""The classifiers whose penultimate features serve sample-quality metrics, and how they are trained.

- ``lenet`` (:class:`latentforge.nn.lenet.LeNet`): small grey images (MNIST, Fashion-MNIST); AdamW, no
  augmentation.
- ``resnet`` (:class:`latentforge.nn.resnet_classifier.ResNetClassifier`, ResNet-9 at half width): natural images
  (CIFAR-10); SGD with Nesterov momentum, label smoothing, random crops and mirrors, as in Page (2018).

Training is deterministic (fixed seed, fixed epochs, data order from ``iterate_batches``, seeded augmentation):
the same data, recipe and thread count give the same weights. Caching is :mod:`.features`' job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from functools import partial
from typing import Any, ClassVar

import torch
from torch import nn
from tqdm.auto import tqdm

from ...data import ImageDataset, iterate_batches, num_batches, to_float
from ...errors import ConfigError, DataError
from ...nn.lenet import LeNet
from ...nn.resnet_classifier import ResNetClassifier
from ...nn.schedules import cosine_decay
from ...nn.views import random_crop_flip
from ...version import __version__

FORMAT = 1
MIN_IMAGES_PER_CLASS = 10  # training images each class needs before the classifier can learn it


class Recipe:
    """Architecture and training settings of a classifier; a frozen dataclass with a ``widths`` tuple."""

    extractor: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Recipe:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ConfigError(f"Unknown {cls.extractor} recipe fields {sorted(unknown)}; known: {sorted(names)}.")
        values = dict(values)
        if "widths" in values:
            values["widths"] = tuple(int(w) for w in values["widths"])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class LeNetRecipe(Recipe):
    """The ``lenet`` extractor; the defaults reach ≥ 99 % test accuracy on MNIST and ≥ 91 % on Fashion-MNIST
    (see docs/evaluation.md for the measured figures)."""

    extractor: ClassVar[str] = "lenet"
    widths: tuple[int, int, int] = (32, 64, 128)
    feature_dim: int = 128
    dropout: float = 0.25
    epochs: int = 5
    batch_size: int = 128
    lr: float = 2e-3  # peak learning rate (AdamW, linear warm-up then cosine decay)
    weight_decay: float = 5e-4
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class ResNetRecipe(Recipe):
    """The ``resnet`` extractor: ResNet-9 (Page, 2018) at half its width, 1.7M parameters, trained with SGD
    (Nesterov momentum 0.9, linear warm-up then cosine decay), label smoothing and random crops and mirrors."""

    extractor: ClassVar[str] = "resnet"
    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    feature_dim: int = 256
    dropout: float = 0.0
    epochs: int = 16
    batch_size: int = 256
    lr: float = 0.2  # peak learning rate of SGD on the mean loss
    weight_decay: float = 5e-4
    label_smoothing: float = 0.2
    crop_pad: int = 4  # random crops from images reflect-padded by this many pixels
    seed: int = 0


RECIPES: dict[str, type[Recipe]] = {"lenet": LeNetRecipe, "resnet": ResNetRecipe}
DEFAULT_RECIPES: dict[str, Recipe] = {name: cls() for name, cls in RECIPES.items()}


def build_classifier(recipe: Recipe, image_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    if isinstance(recipe, LeNetRecipe):
        return LeNet(image_shape, num_classes, recipe.widths, recipe.feature_dim, recipe.dropout)
    return ResNetClassifier(image_shape, num_classes, recipe.widths, recipe.feature_dim, recipe.dropout)


# -- the data a classifier can learn from --------------------------------------------------------------
def num_classes_of(dataset: ImageDataset, extractor: str = "lenet") -> int:
    if dataset.labels is None or len(dataset.labels) == 0:
        raise DataError(
            f"The {extractor} feature extractor is a classifier trained on the dataset's labels, but {dataset.name!r} "
            "has none. Use a labelled dataset, or standard Inception features (--inception-weights PATH)."
        )
    return max(int(dataset.num_classes or 0), int(dataset.labels.max()) + 1)


def check_classifier_data(train: ImageDataset, test: ImageDataset, extractor: str = "lenet") -> None:
    """Refuse data the classifier cannot learn a meaningful feature space from, before any long pass:
    labels in both splits, at least 2 classes, MIN_IMAGES_PER_CLASS training images per class, test images."""
    if len(train) == 0:
        raise DataError(f"The training split of {train.name!r} holds no images; the {extractor} extractor is trained "
                        "on it.")
    num_classes = num_classes_of(train, extractor)
    if len(test) == 0 or test.labels is None:
        raise DataError(f"The test split of {test.name!r} {'holds no images' if len(test) == 0 else 'has no labels'}; "
                        f"the {extractor} extractor's accuracy is measured on it, so FID/KID cannot be trusted "
                        "without it.")
    counts = torch.bincount(train.labels, minlength=num_classes)
    present = int((counts > 0).sum())
    if present < 2:
        raise DataError(f"{train.name!r} has {present} class in its training labels; the {extractor} feature "
                        "extractor is a classifier and needs at least 2. Use a labelled dataset with several classes, "
                        "or standard Inception features (--inception-weights PATH).")
    few = [(c, int(n)) for c, n in enumerate(counts.tolist()) if 0 < n < MIN_IMAGES_PER_CLASS]
    if few:
        shown = ", ".join(f"class {c}: {n}" for c, n in few[:5]) + (" …" if len(few) > 5 else "")
        raise DataError(f"Too few training images per class in {train.name!r} ({shown}) for the {extractor} feature "
                        f"extractor: it needs at least {MIN_IMAGES_PER_CLASS} per class. Use more labelled images, or "
                        "standard Inception features (--inception-weights PATH).")


def data_fingerprint(dataset: ImageDataset) -> str:
    """sha256 of a split's images and labels: tells a cached extractor whether its training data changed."""
    h = hashlib.sha256()
    h.update(repr(tuple(dataset.images.shape)).encode())
    h.update(dataset.images.contiguous().numpy().tobytes())
    if dataset.labels is not None:
        h.update(dataset.labels.contiguous().numpy().tobytes())
    return h.hexdigest()


# -- features and accuracy -----------------------------------------------------------------------------
@torch.no_grad()
def raw_features(net: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    net.eval()
    device = next(net.parameters()).device
    out = [net.features(to_float(images[i:i + batch_size]).to(device)).float().cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0, net.embed.out_features)


def feature_scale(net: nn.Module, train: ImageDataset, n: int = 10000) -> float:
    """RMS of the raw features of the first ``n`` training images. Features are divided by it, so a typical
    feature vector has ‖f‖²/d ≈ 1: the regime KID's kernel (xᵀy/d + 1)³ was designed for (Inception pool3
    features), where a few large inner products do not dominate it. FID scales by 1/scale² with it."""
    features = raw_features(net, train.images[:n]).double()
    return float(features.pow(2).mean().sqrt().clamp(min=1e-12))


@torch.no_grad()
def classifier_accuracy(net: nn.Module, dataset: ImageDataset, batch_size: int = 500) -> float:
    net.eval()
    device = next(net.parameters()).device
    correct = sum(int((net(x.to(device)).argmax(1) == y.to(device)).sum())
                  for x, y in iterate_batches(dataset, batch_size, shuffle=False))
    return correct / len(dataset)


# -- training --------------------------------------------------------------------------------------------
def _warmup_cosine(step: int, total: int) -> float:
    """Learning-rate factor: linear warm-up over the first 20 % of the steps, then cosine decay to 0."""
    warm = max(1, round(0.2 * total))
    if step < warm:
        return (step + 1) / warm
    return cosine_decay(step - warm, total - warm)


def train_classifier(train: ImageDataset, test: ImageDataset, recipe: Recipe, *, dataset_name: str | None = None,
                     progress: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """Train the classifier of ``recipe`` deterministically; returns it (eval mode) and its info record."""
    num_classes = num_classes_of(train, recipe.extractor)
    drop_last = len(train) >= recipe.batch_size  # equal batches, unless the data is smaller than one batch
    steps_per_epoch = num_batches(len(train), recipe.batch_size, drop_last=drop_last)
    if steps_per_epoch < 1 or recipe.epochs < 1:
        raise ConfigError(f"Cannot train the {recipe.extractor} extractor: {len(train)} images, recipe {recipe}.")
    resnet = isinstance(recipe, ResNetRecipe)
    start = time.perf_counter()
    # Not the Trainer: a plain classifier (cross-entropy) trained to a fixed recipe and cached beside the data;
    # the Trainer's runs, checkpoints and generative-model contract would not fit it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)  # initial weights, dropout masks and augmentation
        net = build_classifier(recipe, train.shape, num_classes)
        if resnet:
            net = net.to(memory_format=torch.channels_last)
            opt = torch.optim.SGD(net.parameters(), lr=recipe.lr, momentum=0.9, nesterov=True,
                                  weight_decay=recipe.weight_decay)
        else:
            opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, partial(_warmup_cosine, total=recipe.epochs * steps_per_epoch))
        smoothing = recipe.label_smoothing if resnet else 0.0
        bar = tqdm(total=recipe.epochs * steps_per_epoch,
                   desc=f"training {recipe.extractor} extractor ({dataset_name or train.name})",
                   disable=not progress, dynamic_ncols=True, leave=False)
        net.train()
        for epoch in range(recipe.epochs):
            for x, y in iterate_batches(train, recipe.batch_size, shuffle=True, seed=recipe.seed, epoch=epoch,
                                        drop_last=drop_last):
                if resnet:
                    # channels_last: 2.03 against 2.49 s per batch of 256 on 2 CPU threads (torch 2.13)
                    x = random_crop_flip(x, recipe.crop_pad).contiguous(memory_format=torch.channels_last)
                loss = nn.functional.cross_entropy(net(x), y, label_smoothing=smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)
        bar.close()
    seconds = time.perf_counter() - start
    info = {
        "format": FORMAT,
        "extractor": recipe.extractor,
        "dataset": dataset_name or train.name,
        "image_shape": list(train.shape),
        "num_classes": num_classes,
        "feature_dim": recipe.feature_dim,
        "recipe": recipe.to_dict(),
        "augmentation": f"random crops (reflect pad {recipe.crop_pad}) and mirrors" if resnet else "none",
        "test_accuracy": classifier_accuracy(net, test),
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
    return net.eval(), info
