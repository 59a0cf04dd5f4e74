"""The in-memory dataset every loader returns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..errors import DataError

if TYPE_CHECKING:
    from .crops import PhotoCrops

SPLITS = ("train", "test")
LIKELIHOOD_HINTS = ("bernoulli", "logistic")


@dataclass(eq=False)
class ImageDataset:
    """A small image dataset held in memory as uint8 N×C×H×W (converted to float per batch).

    ``likelihood_hint`` tells models which decoder likelihood suits the data: "bernoulli" for
    near-binary digit images, "logistic" (discretised logistic) for everything else.

    ``crops`` (photos of any size, ``data/crops.py``): ``images`` then holds fixed crops (for evaluation and
    the test split) and training draws an epoch's own crops with :meth:`epoch_images`.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str
    split: str
    num_classes: int | None
    likelihood_hint: str
    class_names: list[str] | None = None
    crops: PhotoCrops | None = None

    def __post_init__(self) -> None:
        # Loaders are checked here once, so batching and models can trust the layout.
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DataError(
                f"Dataset {self.name!r}: images must be a uint8 N×C×H×W tensor, "
                f"got {self.images.dtype} with shape {tuple(self.images.shape)}."
            )
        if self.images.shape[1] not in (1, 3):
            raise DataError(f"Dataset {self.name!r}: images must have 1 or 3 channels, got {self.images.shape[1]}.")
        if 0 in self.images.shape[2:]:
            raise DataError(
                f"Dataset {self.name!r}: images must be at least 1×1 pixels, got shape {tuple(self.images.shape)}."
            )
        self.images = self.images.contiguous()
        if self.labels is not None:
            if self.labels.ndim != 1 or len(self.labels) != len(self.images):
                raise DataError(
                    f"Dataset {self.name!r}: labels must be a vector of {len(self.images)} entries, "
                    f"got shape {tuple(self.labels.shape)}."
                )
            self.labels = self.labels.to(torch.int64).contiguous()
        if self.crops is not None and (len(self.crops), self.crops.crop_size) != (len(self), self.images.shape[2]):
            raise DataError(f"Dataset {self.name!r}: its {len(self)} images are not the {len(self.crops)} crops of "
                            f"side {self.crops.crop_size} its photos give.")
        if self.split not in SPLITS:
            raise DataError(f"Dataset {self.name!r}: split must be one of {SPLITS}, got {self.split!r}.")
        if self.likelihood_hint not in LIKELIHOOD_HINTS:
            raise DataError(
                f"Dataset {self.name!r}: likelihood_hint must be one of {LIKELIHOOD_HINTS}, "
                f"got {self.likelihood_hint!r}."
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def epoch_images(self, seed: int, epoch: int) -> torch.Tensor:
        """The images one training epoch sees: fresh crops for (seed, epoch) when the dataset crops photos,
        else ``images`` itself. The count and the labels' order are the same every epoch."""
        return self.images if self.crops is None else self.crops.draw(seed, epoch)

    def __repr__(self) -> str:
        c, h, w = self.shape
        labels = f"{self.num_classes} classes" if self.labels is not None else "unlabeled"
        return f"ImageDataset({self.name!r}, split={self.split!r}, n={len(self)}, shape={c}×{h}×{w}, {labels})"


@dataclass(frozen=True)
class LoadOptions:
    """What the caller of ``load_dataset`` asked for, handed to every loader."""

    split: str = "train"
    data_dir: str | os.PathLike | None = None
    image_size: int | None = None
    channels: int | None = None
    download: bool = True
    crop_size: int | None = None  # random square crops of this side (data/crops.py); None: whole images
    crops_per_image: int = 1


def require_nonempty(ds: ImageDataset, spec: str) -> ImageDataset:
    """``ds`` itself, or a DataError when it holds no images: nothing can be trained on or measured from none."""
    if len(ds) == 0:
        raise DataError(
            f"The {ds.split} split of dataset {spec!r} holds no images. Add images to the dataset, give that split "
            "its own images (a test/ folder, an x_test array), or choose another dataset."
        )
    return ds
