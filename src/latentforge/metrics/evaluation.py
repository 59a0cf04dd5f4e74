"""Deterministic evaluation of a model on a dataset split."""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from ..data import ImageDataset, iterate_batches
from ..models.base import GenerativeModel, latent_of
from .reconstruction import mse_per_image, psnr


@torch.no_grad()
def evaluate_model(model: GenerativeModel, dataset: ImageDataset, *, batch_size: int = 500, seed: int = 0,
                   max_images: int | None = None, channels_last: bool = False,
                   binarize: bool = False) -> dict[str, float]:
    """Mean of the model's per-image figures over the split, plus reconstruction MSE and PSNR.

    Runs under its own RNG seed so results are repeatable and training randomness is untouched.
    Likelihood figures are in nats per image; ``bits_per_dim`` converts the loss (−ELBO for a VAE).
    ``binarize`` samples each pixel as Bernoulli(grey level) with a generator seeded by ``seed``: the same
    binary test set every time (the dynamically-binarised MNIST protocol).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums: dict[str, float] = defaultdict(float)
    count = 0
    binarizer = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for x, y in iterate_batches(dataset, batch_size, shuffle=False):
            if max_images is not None and count >= max_images:
                break
            if max_images is not None:
                x = x[: max_images - count]
                y = None if y is None else y[: max_images - count]
            if binarize:
                x = torch.bernoulli(x, generator=binarizer)
            x = x.to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = None if y is None else y.to(device)
            for key, values in model.evaluate_batch((x, y)).items():
                sums[key] += float(values.double().sum())
            if "reconstruct" in model.capabilities:
                rec = model.decode(latent_of(model.encode(x)))
                sums["mse"] += float(mse_per_image(rec, x).double().sum())
                sums["psnr"] += float(psnr(rec, x).double().sum())
            count += x.shape[0]
    model.train(was_training)
    result = {key: value / count for key, value in sums.items()}
    if "loss" in result:
        result["bits_per_dim"] = result["loss"] / (math.prod(dataset.shape) * math.log(2))
    result["images"] = count
    return result
