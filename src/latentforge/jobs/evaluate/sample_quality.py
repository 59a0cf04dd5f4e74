"""How good a model's samples are, against a dataset's test split: FID, KID and precision/recall in the
feature space of an extractor, plus the real-vs-real FID floor (train split vs test split).

Keys are named after the extractor (``fid-lenet``, ``kid-lenet``; ``fid-inception`` with Inception
weights) so a figure is never mistaken for standard Inception FID. Generated images are rounded to 8 bits,
like the real images (and like samples saved as PNG), before features are taken.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ...data import ImageDataset, load_dataset, to_uint8
from ...errors import ConfigError, DataError
from ...metrics.fid import fid_from_features
from ...metrics.kid import kid
from ...metrics.precision_recall import precision_recall
from ...models.base import GenerativeModel
from ..generate import generate
from .features import (
    Recipe,
    check_classifier_data,
    check_extractor_accuracy,
    feature_array,
    get_extractor,
)
from .inception import InceptionExtractor

# A model, a tensor of images N×C×H×W (uint8 or floats in [0, 1]), or sampler(count, seed) -> images.
Source = GenerativeModel | torch.Tensor | Callable[[int, int], torch.Tensor]


def _batch_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def generated_images(source: Source, n: int, *, seed: int = 0, batch_size: int = 500, temperature: float = 1.0,
                     progress: bool = False) -> torch.Tensor:
    """``n`` generated images as uint8 N×C×H×W, in batches with seeds derived from (seed, batch index)."""
    if isinstance(source, torch.Tensor):
        if source.ndim != 4 or source.shape[0] < n:
            raise DataError(f"Expected at least {n} images N×C×H×W, got a tensor of shape {tuple(source.shape)}.")
        images = source[:n]
        return images if images.dtype == torch.uint8 else to_uint8(images)
    batches = []
    bar = tqdm(total=n, desc="generating", unit="img", disable=not progress, dynamic_ncols=True, leave=False)
    for index, start in enumerate(range(0, n, batch_size)):
        count = min(batch_size, n - start)
        if isinstance(source, GenerativeModel):
            images = generate(source, count, temperature=temperature, seed=_batch_seed(seed, index))
        else:
            images = source(count, _batch_seed(seed, index))
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] != count:
            raise DataError(f"The sampler returned {type(images).__name__} {getattr(images, 'shape', '')}; expected "
                            f"{count} images N×C×H×W in [0, 1].")
        batches.append(images.cpu() if images.dtype == torch.uint8 else to_uint8(images.cpu()))
        bar.update(count)
    bar.close()
    return torch.cat(batches)


def _source_shape(source: Source) -> tuple[int, int, int] | None:
    """(C, H, W) of the images a model or tensor gives; None for a sampler function (known once it has run)."""
    if isinstance(source, GenerativeModel):
        return tuple(int(s) for s in source.image_shape)  # type: ignore[return-value]
    if isinstance(source, torch.Tensor) and source.ndim == 4:
        return tuple(int(s) for s in source.shape[1:])  # type: ignore[return-value]
    return None


def _subset(dataset: ImageDataset, m: int, seed: int) -> torch.Tensor:
    """``m`` images of the split: all of them in order, or a fixed random subset."""
    if m >= len(dataset):
        return dataset.images
    idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:m]
    return dataset.images.index_select(0, idx.sort().values)


def sample_quality(model_or_sampler: Source, dataset_name: str, *, n: int = 10000, extractor: str = "auto",
                   data_dir: str | os.PathLike | None = None, seed: int = 0,
                   inception_weights: str | os.PathLike | None = None, batch_size: int = 500,
                   temperature: float = 1.0, k: int = 3, kid_subsets: int = 100, kid_subset_size: int = 1000,
                   recipe: Recipe | None = None, cache_dir: str | os.PathLike | None = None,
                   progress: bool = False) -> dict[str, Any]:
    """FID, KID (mean and std over subsets), precision/recall (k-NN, k=3) of ``n`` samples against the test
    split, with ``fid_floor``: the FID between equally many training images and the same test images.

    With ``inception_weights`` (a FID Inception-v3 state dict, see :mod:`latentforge.jobs.evaluate.inception`) the
    features are standard Inception pool3 features and the keys read ``fid-inception``/``kid-inception``;
    otherwise a classifier trained on the dataset once (cached) gives them: ``extractor`` ``lenet`` (small grey
    images, ``fid-lenet``), ``resnet`` (natural images, ``fid-resnet``) or ``auto`` (the recipe's, else resnet
    for RGB and lenet for grey images); ``recipe`` changes its architecture or training (a non-default recipe is
    cached separately).
    """
    if n < 2:
        raise ConfigError(f"Sample quality needs n ≥ 2 samples, got {n}.")
    if inception_weights is None and extractor == "inception":
        raise ConfigError("Inception features need the FID Inception weights: pass inception_weights= "
                          "(CLI: --inception-weights PATH); they cannot be downloaded here.")
    generate_all = partial(generated_images, model_or_sampler, n, seed=seed, batch_size=batch_size,
                           temperature=temperature, progress=progress)
    shape = _source_shape(model_or_sampler)
    fake = generate_all() if shape is None else None  # a sampler's image shape is known once it has sampled
    c, h, w = shape or tuple(int(s) for s in fake.shape[1:])
    train = load_dataset(dataset_name, "train", data_dir=data_dir, image_size=h, channels=c)
    test = load_dataset(dataset_name, "test", data_dir=data_dir, image_size=h, channels=c)
    if test.shape != (c, h, w):
        raise DataError(f"Samples have shape {(c, h, w)} but {dataset_name!r} loads as {test.shape}; "
                        "non-square data cannot be compared with these samples.")
    device = next(model_or_sampler.parameters()).device if isinstance(model_or_sampler, GenerativeModel) else "cpu"
    if extractor == "auto":
        extractor = recipe.extractor if recipe is not None else ("resnet" if c == 3 else "lenet")
    if inception_weights is not None:
        features = InceptionExtractor.from_file(inception_weights, device)
    else:
        check_classifier_data(train, test, extractor)  # before the long passes: training the extractor, generating
        features = get_extractor(dataset_name, (c, h, w), extractor=extractor, data_dir=data_dir, recipe=recipe,
                                 train=train, test=test, cache_dir=cache_dir, progress=progress)
        check_extractor_accuracy(features)
        features.net.to(device)
    if fake is None:
        fake = generate_all()
    m = min(n, len(test))
    f_fake = feature_array(features(fake))
    f_real = feature_array(features(_subset(test, m, seed)))
    f_train = feature_array(features(_subset(train, n, seed)))
    kid_mean, kid_std = kid(f_real, f_fake, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
    precision, recall = precision_recall(f_real, f_fake, k=k)
    name = features.name
    return {
        f"fid-{name}": fid_from_features(f_real, f_fake),
        f"kid-{name}": kid_mean,
        f"kid-{name}_std": kid_std,
        "precision": precision,
        "recall": recall,
        "fid_floor": fid_from_features(f_real, f_train),
        "extractor": name,
        "extractor_accuracy": features.accuracy,
        "n": n,
        "n_real": m,
    }
