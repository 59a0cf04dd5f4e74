"""Random square crops of photos of any size, drawn afresh every epoch from (seed, epoch).

Fully convolutional models train on crops and then run on whole photos (``jobs/whole_image.py``). The photos
are decoded once and kept as uint8 at their own size; an epoch's crops are cut from them when the epoch
starts (``ImageDataset.epoch_images``), so memory holds the photos plus one epoch of crops, and a resumed
run redraws exactly the crops an uninterrupted run would have seen. Photos smaller than the crop are refused
rather than padded: padded crops would teach the model borders that real photos do not have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..errors import DataError
from .batching import epoch_seed
from .dataset import ImageDataset

MAX_LISTED = 10
# The crops a crop dataset holds as its ``images`` (evaluation, the test split): fixed, whatever the train seed.
FIXED_STREAM, TRAIN_STREAM = "fixed-crops", "crops"


@dataclass(eq=False)
class PhotoCrops:
    """Photos (uint8 C×H×W, each its own H and W) and how to crop them: ``crops_per_image`` squares of side
    ``crop_size`` per photo and epoch, at uniformly random positions."""

    photos: list[torch.Tensor] = field(repr=False)
    crop_size: int
    crops_per_image: int = 1

    def __post_init__(self) -> None:
        check_crop_sizes(self.photos, self.crop_size)
        if self.crops_per_image < 1:
            raise DataError(f"crops_per_image must be at least 1, got {self.crops_per_image}.")

    def __len__(self) -> int:
        return len(self.photos) * self.crops_per_image

    @property
    def channels(self) -> int:
        return int(self.photos[0].shape[0])

    def draw(self, seed: int, epoch: int, stream: str = TRAIN_STREAM) -> torch.Tensor:
        """The crops of one epoch as uint8 N×C×s×s, photo by photo (``crops_per_image`` each, in photo order);
        the same (seed, epoch) gives the same crops, another gives others."""
        s, k = self.crop_size, self.crops_per_image
        generator = torch.Generator().manual_seed(epoch_seed(seed, epoch, stream))
        out = torch.empty((len(self), self.channels, s, s), dtype=torch.uint8)
        for i, photo in enumerate(self.photos):
            h, w = photo.shape[1:]
            ys = torch.randint(0, h - s + 1, (k,), generator=generator).tolist()
            xs = torch.randint(0, w - s + 1, (k,), generator=generator).tolist()
            for j, (y, x) in enumerate(zip(ys, xs)):
                out[i * k + j] = photo[:, y : y + s, x : x + s]
        return out

    def fixed(self) -> torch.Tensor:
        """Crops that do not depend on the training seed: what evaluation and the test split use."""
        return self.draw(0, 0, FIXED_STREAM)


def check_crop_sizes(photos: Sequence[torch.Tensor], crop_size: int, names: Sequence[str] | None = None) -> None:
    """A DataError naming every photo (the first ``MAX_LISTED``) smaller than the crop in either side."""
    if not photos:
        raise DataError("No photos to crop.")
    if isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size < 1:
        raise DataError(f"crop_size must be a positive integer, got {crop_size!r}.")
    if len({int(p.shape[0]) for p in photos}) != 1:
        raise DataError("Photos to crop must all have the same number of channels; set channels to 1 or 3.")
    small = [i for i, p in enumerate(photos) if min(p.shape[1:]) < crop_size]
    if not small:
        return
    label = (lambda i: names[i]) if names is not None else (lambda i: f"image {i}")
    listed = ", ".join(f"{label(i)} ({photos[i].shape[2]}×{photos[i].shape[1]})" for i in small[:MAX_LISTED])
    more = f" and {len(small) - MAX_LISTED} more" if len(small) > MAX_LISTED else ""
    smallest = min(min(photos[i].shape[1:]) for i in small)
    raise DataError(
        f"{len(small)} of {len(photos)} photos are smaller than the {crop_size}×{crop_size} crop: {listed}{more}. "
        f"Lower crop_size to at most {smallest}, or remove those photos (crops are never padded)."
    )


def crop_labels(labels: torch.Tensor | None, crops_per_image: int) -> torch.Tensor | None:
    """Each photo's label repeated for each of its crops (crops come photo by photo)."""
    return None if labels is None else labels.repeat_interleave(crops_per_image)


def cropped(photos: Sequence[torch.Tensor], labels: torch.Tensor | None, crop_size: int, crops_per_image: int, *,
            names: Sequence[str] | None = None, **fields) -> ImageDataset:
    """An ImageDataset of the photos' crops: its ``images`` are the fixed crops, its ``crops`` draw new ones per
    epoch; ``fields`` are the dataset's other fields (name, split, num_classes, likelihood_hint, class_names)."""
    check_crop_sizes(photos, crop_size, names)
    crops = PhotoCrops(list(photos), crop_size, crops_per_image)
    return ImageDataset(images=crops.fixed(), labels=crop_labels(labels, crops_per_image), crops=crops, **fields)


def with_crops(ds: ImageDataset, crop_size: int, crops_per_image: int) -> ImageDataset:
    """A dataset of equal-sized images as a crop dataset (crops of CIFAR-10 images, say)."""
    return cropped(list(ds.images), ds.labels, crop_size, crops_per_image, name=ds.name, split=ds.split,
                   num_classes=ds.num_classes, likelihood_hint=ds.likelihood_hint, class_names=ds.class_names)
