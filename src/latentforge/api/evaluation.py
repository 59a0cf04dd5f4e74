"""Evaluation of a saved model on a dataset split: bits/dim, NLL, reconstruction and sample quality."""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch

from ..devices import resolve_device
from ..errors import ConfigError
from ..jobs.evaluate import SHARD_MOMENTS, evaluate_model, importance_sampled_nll, sample_quality
from ..models import GenerativeModel
from ..validation import MAX_SEED, at_least, check_value
from .images import _data_source, _dataset_at_model_shape
from .runs import _record_of, load


def evaluate(model: GenerativeModel | str | os.PathLike, data: str | None = None, *, split: str = "test",
             data_dir: str | None = None, max_images: int | None = None, batch_size: int = 500,
             seed: int = 0, binarize: bool | None = None, fid: bool = False, samples: int = 10000,
             inception_weights: str | os.PathLike | None = None, extractor: str = "auto", nll: bool = False,
             k: int = 1000, device: str | torch.device | None = None, progress: bool = True) -> dict[str, Any]:
    """Test-split figures: loss (−ELBO for VAEs) in nats/image, bits/dim, reconstruction MSE/PSNR.

    ``model`` is a saved model's path or a model object. ``data`` defaults to the data the model was trained on
    (known for a path or a model from :func:`load`). ``binarize`` defaults to how the model was trained
    (dynamically binarised MNIST is evaluated on a test set binarised once with ``seed``); for a model object
    whose training is unknown it is False, with a warning when the model has a Bernoulli likelihood, as its
    figures on grey levels are not comparable with those on binarised images. ``fid=True`` adds sample
    quality from ``samples`` generated images (``fid-lenet`` or, with ``extractor`` ``resnet`` (the ``auto``
    choice for RGB data), ``fid-resnet``, the matching ``kid-``, precision, recall, ``fid_floor``; ``fid-inception``
    with ``inception_weights``): see docs/evaluation.md. ``nll=True`` adds the
    importance-sampled NLL from ``k`` samples per image (``nll``, ``nll_bits_per_dim``, ``active_units``,
    ``latent_dims``, ``k``, ``nll_seconds``) on the same (binarised) test images. ``device`` (auto, cpu, cuda,
    cuda:N, mps) is where a path is loaded (default auto) or a model object is moved (default: where it is).
    Bad arguments raise ConfigError before any work.
    """
    check_evaluate_arguments(split=split, max_images=max_images, batch_size=batch_size, seed=seed, k=k,
                             samples=samples)
    record = _record_of(model)
    if not isinstance(model, GenerativeModel):
        model = load(model, device=device or "auto")
    elif device is not None:
        model = model.to(resolve_device(device))
    name, data_dir = _data_source(record, data, data_dir, unknown=(
        "Which data should the model be evaluated on? Pass data= (CLI: --data); it is known by itself only for a "
        "model path or a model from lf.load."))
    binarize = _binarize_for(model, record, binarize)
    dataset = _dataset_at_model_shape(model, name, split, data_dir, record)
    result = evaluate_model(model, dataset, batch_size=batch_size, seed=seed, max_images=max_images,
                            binarize=binarize, progress=progress)
    if nll:
        found = importance_sampled_nll(model, dataset, k=k, max_images=max_images, seed=seed, binarize=binarize,
                                       progress=progress)
        found["nll_seconds"] = found.pop("seconds")
        result.update({key: value for key, value in found.items() if key not in result and key not in SHARD_MOMENTS})
    if fid:
        result.update(sample_quality(model, name, n=samples, data_dir=data_dir, seed=seed, extractor=extractor,
                                     inception_weights=inception_weights, progress=progress))
    return result


def check_evaluate_arguments(*, split: str, max_images: int | None, batch_size: int, seed: int, k: int,
                             samples: int) -> None:
    """ConfigError for an argument of :func:`evaluate` out of its range (checked before the long passes)."""
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}.")
    if max_images is not None:
        check_value("max_images", max_images, int, at_least(1))
    check_value("batch_size", batch_size, int, at_least(1))
    check_value("seed", seed, int, at_least(0, MAX_SEED))
    check_value("k (importance samples per image)", k, int, at_least(1))
    check_value("samples (generated images for FID)", samples, int, at_least(2))


def _binarize_for(model: GenerativeModel, record: dict[str, Any] | None, binarize: bool | None) -> bool:
    """``binarize`` if given, else how the model was trained; unknown training of a Bernoulli model warns."""
    if binarize is not None:
        return bool(binarize)
    if record is not None:
        return (record.get("train") or {}).get("binarize", "none") != "none"
    if getattr(getattr(model, "config", None), "likelihood", None) == "bernoulli":
        warnings.warn(
            f"evaluate: how this {model.name} model was trained is unknown (a model object not from lf.load), so "
            "it is evaluated on grey levels. If it was trained with dynamic binarisation (train.binarize=dynamic), "
            "pass binarize=True: its ELBO and NLL on grey levels are not comparable with published figures.",
            UserWarning, stacklevel=3)
    return False
