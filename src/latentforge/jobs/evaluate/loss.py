"""Deterministic evaluation of a model on a dataset split."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import partial

import torch
from tqdm.auto import tqdm

from ...data import ImageDataset, iterate_batches
from ...metrics.likelihood import bits_per_dim
from ...metrics.reconstruction import mse_per_image, psnr
from ...models.base import GenerativeModel, latent_of, seeded_eval
from ...models.capabilities import Capability
from ...training.train_config import TrainConfig
from ...validation import at_least, check_value


def evaluation_batches(dataset: ImageDataset, batch_size: int, device: torch.device, *, seed: int = 0,
                       max_images: int | None = None, binarize: bool = False, channels_last: bool = False,
                       start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """The first ``max_images`` images of the split in order, on ``device``, less the first ``start`` of them
    (a shard of a long evaluation: the skipped images are still binarised, so every image gets the same bits).

    ``binarize`` samples each pixel as Bernoulli(grey level) from one generator seeded by ``seed``, in data
    order: the same binary test set for every evaluation with that seed (whatever the batch size), which is
    what makes the ELBO and NLL figures refer to the same images.
    """
    binarizer = torch.Generator().manual_seed(seed)
    count = 0
    for x, y in iterate_batches(dataset, batch_size, shuffle=False):
        if max_images is not None:
            if count >= max_images:
                return
            x, y = x[: max_images - count], None if y is None else y[: max_images - count]
        if binarize:
            x = torch.bernoulli(x, generator=binarizer)
        count += x.shape[0]
        if count <= start:
            continue
        if count - x.shape[0] < start:  # the shard starts inside this batch
            skip = start - (count - x.shape[0])
            x, y = x[skip:], None if y is None else y[skip:]
        x = x.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, None if y is None else y.to(device)


@torch.no_grad()
def evaluate_model(model: GenerativeModel, dataset: ImageDataset, *, batch_size: int = 500, seed: int = 0,
                   max_images: int | None = None, channels_last: bool = False,
                   binarize: bool = False, progress: bool = False) -> dict[str, float]:
    """Mean of the model's per-image figures over the split, plus reconstruction MSE and PSNR.

    Runs under its own RNG seed so results are repeatable and training randomness is untouched.
    Likelihood figures are in nats per image; ``bits_per_dim`` converts the loss (−ELBO for a VAE).
    ``binarize``: see :func:`evaluation_batches` (the dynamically-binarised MNIST protocol). ``progress``
    shows a bar on stderr.
    """
    if max_images is not None:
        check_value("max_images", max_images, int, at_least(1))
    check_value("batch_size", batch_size, int, at_least(1))
    sums: dict[str, float] = defaultdict(float)
    count = 0
    total = len(dataset) if max_images is None else min(max_images, len(dataset))
    with seeded_eval(model, seed) as device, tqdm(total=total, desc="evaluate", unit="img", disable=not progress,
                                                   dynamic_ncols=True, leave=False) as bar:
        for x, y in evaluation_batches(dataset, batch_size, device, seed=seed, max_images=max_images,
                                       binarize=binarize, channels_last=channels_last):
            for key, values in model.evaluate_batch((x, y)).items():
                sums[key] += float(values.double().sum())
            if Capability.RECONSTRUCT in model.capabilities:
                rec = model.decode(latent_of(model.encode(x)))
                sums["mse"] += float(mse_per_image(rec, x).double().sum())
                sums["psnr"] += float(psnr(rec, x).double().sum())
            count += x.shape[0]
            bar.update(x.shape[0])
    result = {key: value / count for key, value in sums.items()}
    if "loss" in result:
        result["bits_per_dim"] = bits_per_dim(result["loss"], dataset.shape)
    result["images"] = count
    return result


def evaluator(config: TrainConfig) -> Callable[[GenerativeModel, ImageDataset], dict[str, float]]:
    """:func:`evaluate_model` with a training run's evaluation settings: what the Trainer is given to evaluate
    with (the Trainer sits below jobs and so cannot import this loop itself)."""
    return partial(evaluate_model, batch_size=config.eval_batch_size, seed=config.seed,
                   channels_last=config.channels_last, binarize=config.binarize != "none")
