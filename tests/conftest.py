"""Shared fixtures: tiny synthetic image data so model and trainer tests run in seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentforge.data import ImageDataset, locate

# One thread: the tiny test models gain nothing from more, and on a busy 2-core machine OpenMP threads that
# compete with other processes made small convolutions 10–50× slower.
torch.set_num_threads(1)


def blob_images(n: int, size: int = 28, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """Soft blobs at random positions: structured enough that an autoencoder can learn them."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    out = np.zeros((n, channels, size, size), dtype=np.float32)
    for i in range(n):
        for c in range(channels):
            cy, cx = g.uniform(size * 0.25, size * 0.75, 2)
            r = g.uniform(size * 0.1, size * 0.25)
            out[i, c] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
    return torch.from_numpy(np.round(out * 255).astype(np.uint8))


def tiny_dataset(n: int = 64, split: str = "train", size: int = 28, channels: int = 1, seed: int = 0,
                 hint: str = "bernoulli") -> ImageDataset:
    images = blob_images(n, size, channels, seed)
    labels = torch.arange(n) % 4
    return ImageDataset(images=images, labels=labels, name="blobs", split=split, num_classes=4, likelihood_hint=hint)


@pytest.fixture
def tiny_train() -> ImageDataset:
    return tiny_dataset(64, "train", seed=0)


@pytest.fixture
def tiny_test() -> ImageDataset:
    return tiny_dataset(32, "test", seed=1)


TINY_MODEL = {"latent_dim": 4, "channels": 4}


@pytest.fixture
def tiny_npz(tmp_path):
    """A tiny dataset file usable as ``npz:PATH`` by the CLI."""
    path = tmp_path / "blobs.npz"
    np.savez(path, x_train=blob_images(64, seed=0)[:, 0].numpy(), x_test=blob_images(32, seed=1)[:, 0].numpy(),
             y_train=np.arange(64) % 4, y_test=np.arange(32) % 4)
    return path


def isolate_dataset_search(monkeypatch, tmp_path) -> None:
    """Point every place a canonical dataset is looked for (home, cache, $LATENTFORGE_DATA, the system
    folder) into ``tmp_path``, so that a test sees only the files it writes."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    monkeypatch.delenv("LATENTFORGE_DATA", raising=False)
    monkeypatch.setattr(locate, "SYSTEM_DATASET_DIR", tmp_path / "system-datasets")
