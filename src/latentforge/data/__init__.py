"""Datasets held in memory as uint8 tensors, loaded by name, and batched without worker processes.

    ds = load_dataset("mnist-5k", "train")  # the bundled default, works offline
    for x, y in iterate_batches(ds, 128, shuffle=True, seed=0, epoch=epoch): ...
"""

from .batching import epoch_order, iterate_batches, num_batches
from .dataset import ImageDataset, LoadOptions, require_nonempty
from .images import make_grid, read_image, save_grid, save_image, to_float, to_uint8
from .registry import available_datasets, load_dataset, register_dataset

__all__ = [
    "ImageDataset",
    "LoadOptions",
    "available_datasets",
    "epoch_order",
    "iterate_batches",
    "load_dataset",
    "make_grid",
    "num_batches",
    "read_image",
    "register_dataset",
    "require_nonempty",
    "save_grid",
    "save_image",
    "to_float",
    "to_uint8",
]
