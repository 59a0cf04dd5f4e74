"""Mini-batches from an in-memory dataset, in an order a resumed run can recompute exactly."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

import torch

from ..errors import ConfigError
from .dataset import ImageDataset
from .images import to_float


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches one epoch over ``n`` items yields."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}.")
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def epoch_seed(seed: int, epoch: int, stream: str = "epoch") -> int:
    """A 63-bit seed that depends on (seed, epoch, stream) only, with no collisions between nearby pairs;
    each ``stream`` (the order, the crops) is its own, so one random draw never shifts another."""
    digest = hashlib.sha256(f"latentforge-{stream}:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def epoch_order(n: int, *, shuffle: bool, seed: int = 0, epoch: int = 0) -> torch.Tensor:
    """The item order of one epoch: a permutation from a generator seeded by (seed, epoch), or 0..n-1."""
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))


def iterate_batches(
    ds: ImageDataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    epoch: int = 0,
    start_batch: int = 0,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (float32 images in [0, 1], labels or None) for one epoch, from batch ``start_batch`` on.

    The order touches no global RNG state, so resuming at (epoch, start_batch) replays the exact batches
    an uninterrupted run would have seen. Arguments are checked at the call, not at the first batch. With
    ``shuffle`` (training), a dataset of photo crops draws the epoch's own crops (``ImageDataset.epoch_images``);
    without it, its fixed crops.
    """
    total = num_batches(len(ds), batch_size, drop_last)
    if not 0 <= start_batch <= total:
        raise ConfigError(
            f"start_batch must be in [0, {total}] for {len(ds)} items in batches of {batch_size}, got {start_batch}."
        )
    order = epoch_order(len(ds), shuffle=shuffle, seed=seed, epoch=epoch)
    return _batches(ds, order, batch_size, range(start_batch, total), shuffle, seed, epoch)


def _batches(
    ds: ImageDataset, order: torch.Tensor, batch_size: int, batch_ids: range, fresh: bool, seed: int, epoch: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    source = ds.epoch_images(seed, epoch) if fresh else ds.images  # drawn at the first batch, not at the call
    for b in batch_ids:
        idx = order[b * batch_size : (b + 1) * batch_size]
        images = to_float(source.index_select(0, idx))
        yield images, None if ds.labels is None else ds.labels.index_select(0, idx)
