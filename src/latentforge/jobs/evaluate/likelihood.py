"""Importance-sampled log-likelihood (Burda et al., 2016, "Importance Weighted Autoencoders").

log p(x) ≈ log (1/k) Σ_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x): a stochastic lower bound that tightens
monotonically in k and is consistent as k → ∞. The k weights of an image are drawn in chunks and merged
with a running logsumexp in float64, so memory stays bounded for any k.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import torch
from tqdm.auto import tqdm

from ...data import ImageDataset
from ...errors import ConfigError
from ...metrics.likelihood import (
    ACTIVE_UNIT_THRESHOLD,
    active_units,
    active_units_from_moments,
    bits_per_dim,
    log_mean_exp,
)
from ...models.base import GenerativeModel, seeded_eval
from ...models.capabilities import SupportsImportanceWeights, SupportsPosterior
from ...validation import at_least, check_value
from .loss import evaluation_batches

# Default batch_size × chunk, images per model pass (the measurement behind it: docs/benchmarks.md, "Notes
# behind the defaults").
SAMPLES_PER_PASS = 512
# The posterior-mean moments a result carries so that shards can be merged (merge_shards): accumulators, not
# figures to report.
SHARD_MOMENTS = ("posterior_mean_sum", "posterior_mean_sqsum")


@torch.no_grad()
def importance_sampled_nll(model: GenerativeModel, dataset: ImageDataset, *, k: int = 1000, batch_size: int = 32,
                           max_images: int | None = None, seed: int = 0, binarize: bool = False,
                           chunk: int | None = None, progress: bool = False, start: int = 0,
                           channels_last: bool = True) -> dict[str, Any]:
    """Test-set NLL (nats/image and bits/dim) from k importance samples per image, plus the ELBO parts.

    ``chunk`` samples per image are drawn per call of ``model.log_importance_weights`` (default: as many as
    keep ``batch_size × chunk ≤ SAMPLES_PER_PASS``). ``binarize`` draws the same binary test set as
    :func:`~latentforge.jobs.evaluate.evaluate_model` with the same ``seed`` (one generator, pixels in data order),
    so NLL and ELBO figures from both refer to the same images. Runs under its own RNG seed: repeatable,
    and the caller's random state is untouched.

    ``channels_last`` runs the model in NHWC memory format for the estimate (faster on CPUs; see
    docs/benchmarks.md) and leaves it in the contiguous format afterwards. ``start`` skips the first images
    (of the first ``max_images``): a shard of a long estimate. Its importance samples are drawn under
    ``seed + start``, so shards are independent and the shard at 0 equals the unsharded run; the result's
    ``posterior_mean_sum``/``posterior_mean_sqsum`` let shards be merged, active units included
    (:func:`merge_shards`).
    """
    if not isinstance(model, SupportsImportanceWeights):
        raise ConfigError(
            f"A {model.name or type(model).__name__} model has no likelihood to estimate (no "
            "log_importance_weights); importance-sampled NLL works for VAE-family models such as vae or hvae."
        )
    if k < 1 or batch_size < 1 or (chunk is not None and chunk < 1):
        raise ConfigError(f"k, batch_size and chunk must be ≥ 1, got k={k}, batch_size={batch_size}, chunk={chunk}.")
    if max_images is not None:
        check_value("max_images", max_images, int, at_least(1))
    chunk = min(k, chunk or max(1, SAMPLES_PER_PASS // batch_size))
    total = len(dataset) if max_images is None else min(max_images, len(dataset))
    if not 0 <= start < total:
        raise ConfigError(f"start must be in [0, {total}) (the images evaluated), got {start}.")
    began = time.perf_counter()
    sums: dict[str, float] = defaultdict(float)
    means: list[torch.Tensor] = []
    count = 0
    bar = tqdm(total=total - start, desc=f"NLL (k={k})", unit="img", disable=not progress, dynamic_ncols=True,
               leave=False)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        with seeded_eval(model, seed + start) as device:
            for batch in evaluation_batches(dataset, batch_size, device, seed=seed, max_images=total,
                                            binarize=binarize, start=start, channels_last=channels_last):
                for key, values in model.evaluate_batch(batch).items():
                    sums[key] += float(values.double().sum())
                sums["log_px"] += float(_log_likelihood(model, batch, k, chunk).sum())
                mean = _posterior_mean(model, batch)
                if mean is not None:
                    means.append(mean)
                count += batch[0].shape[0]
                bar.update(batch[0].shape[0])
    finally:
        bar.close()
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
    if count == 0:
        raise ConfigError("No images to evaluate: the split is empty or max_images is 0.")
    result: dict[str, Any] = {key: value / count for key, value in sums.items() if key != "log_px"}
    result["nll"] = -sums["log_px"] / count
    result["nll_bits_per_dim"] = bits_per_dim(result["nll"], dataset.shape)
    if means:
        stacked = torch.cat(means)
        result["active_units"] = active_units(stacked)
        result["latent_dims"] = int(stacked.shape[1])
        result[SHARD_MOMENTS[0]] = stacked.sum(0).tolist()
        result[SHARD_MOMENTS[1]] = stacked.pow(2).sum(0).tolist()
    result.update(k=k, images=count, seconds=time.perf_counter() - began)
    return result


def merge_shards(shards: list[dict[str, Any]], image_shape: tuple[int, ...],
                 threshold: float = ACTIVE_UNIT_THRESHOLD) -> dict[str, Any]:
    """One result from :func:`importance_sampled_nll` results over disjoint image ranges: image-weighted
    means, summed seconds, and the active units of all images from the shards' posterior-mean moments."""
    if not shards:
        raise ConfigError("No shards to merge.")
    images = sum(int(s["images"]) for s in shards)
    averaged = {key for s in shards for key, v in s.items() if isinstance(v, float)} - {"seconds", "nll_bits_per_dim"}
    result: dict[str, Any] = {key: sum(float(s[key]) * s["images"] for s in shards) / images for key in averaged
                              if all(key in s for s in shards)}
    result["nll_bits_per_dim"] = bits_per_dim(result["nll"], image_shape)
    result.update(k=shards[0]["k"], images=images, seconds=sum(float(s["seconds"]) for s in shards))
    if all("posterior_mean_sum" in s for s in shards) and images > 1:
        total = torch.tensor([s["posterior_mean_sum"] for s in shards], dtype=torch.float64).sum(0)
        squares = torch.tensor([s["posterior_mean_sqsum"] for s in shards], dtype=torch.float64).sum(0)
        result["active_units"] = active_units_from_moments(total, squares, images, threshold)
        result["latent_dims"] = int(total.shape[0])
    return result


def _log_likelihood(model: GenerativeModel, batch, k: int, chunk: int) -> torch.Tensor:
    """log (1/k) Σ_i w_i per image (float64, CPU), the k weights drawn ``chunk`` at a time."""
    sizes = [min(chunk, k - done) for done in range(0, k, chunk)]
    return log_mean_exp((model.log_importance_weights(batch, n) for n in sizes), k).cpu()


def _posterior_mean(model: GenerativeModel, batch) -> torch.Tensor | None:
    """E_q[z|x] flattened to N×D (float64, CPU), or None when ``encode`` gives no distribution.

    Models with ``posterior(batch)`` (the VAE family) get the labels too, as conditional models need them.
    """
    x = batch[0]
    try:
        encoded = model.posterior(batch) if isinstance(model, SupportsPosterior) else model.encode(x)
    except NotImplementedError:
        return None
    if isinstance(encoded, torch.Tensor) or not hasattr(encoded, "mean"):
        return None
    return encoded.mean.detach().reshape(x.shape[0], -1).double().cpu()
