"""Images at a model's shape (dataset splits, image files) and their reconstructions, whole photos included."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..data import ImageDataset, load_dataset, read_image, to_float
from ..errors import ConfigError
from ..jobs import reconstruct
from ..jobs.output import (
    check_image_output,
    write_grid,
    write_image,
)
from ..jobs.reconstruct import comparison_grid, reconstruct_whole
from ..jobs.restore.files import file_targets
from ..jobs.whole_image import DEFAULT_OVERLAP, DEFAULT_TILE
from ..models import GenerativeModel
from ..validation import at_least, check_value
from .runs import _record_of, load


def dataset_images(model: GenerativeModel | str | os.PathLike, data: str | None = None, *, split: str = "test",
                   n: int = 16, data_dir: str | None = None) -> torch.Tensor:
    """The first ``n`` images (fewer if the split is smaller) of ``data`` at the model's image shape, floats in
    [0, 1]; ``data`` defaults to the data the model was trained on (for a path or a model from :func:`load`)."""
    check_value("n (the number of images)", n, int, at_least(1))
    record = _record_of(model)
    name, data_dir = _data_source(record, data, data_dir,
                                  unknown="Which images? The model's training data is unknown: give image files or "
                                          "--data.")
    if not isinstance(model, GenerativeModel):
        model = load(model)
    return to_float(_dataset_at_model_shape(model, name, split, data_dir, record).images[:n])


def _data_source(record: dict[str, Any] | None, data: str | None, data_dir: str | None, *,
                 unknown: str) -> tuple[str, str | None]:
    """The dataset name and folder: those given, else the ones in the model's training record; ConfigError
    ``unknown`` when neither names the data."""
    spec = (record or {}).get("data") or {}
    name = data or spec.get("name")
    if not name:
        raise ConfigError(unknown)
    return name, data_dir or spec.get("data_dir")


def _dataset_at_model_shape(model: GenerativeModel, name: str, split: str, data_dir: str | None,
                            record: dict[str, Any] | None = None) -> ImageDataset:
    """``split`` of dataset ``name`` resized to the model's image shape (load_dataset refuses an empty split); a
    model trained on crops of that dataset (its ``record``) gets the fixed crops it was tested on in training."""
    c, h, _ = model.image_shape
    spec = (record or {}).get("data") or {}
    if spec.get("crop_size") and spec.get("name") == name:
        return load_dataset(name, split, data_dir=data_dir, image_size=spec.get("image_size"), channels=c,
                            crop_size=spec["crop_size"], crops_per_image=spec.get("crops_per_image") or 1)
    return load_dataset(name, split, data_dir=data_dir, image_size=h, channels=c)


def images_for_reconstruction(model: GenerativeModel, files: Sequence[str | os.PathLike] = (), data: str | None = None,
                              *, split: str = "test", n: int = 16, data_dir: str | None = None) -> torch.Tensor:
    """The images to reconstruct, floats in [0, 1] at the model's image shape: the image ``files`` when there are
    any, else the first ``n`` images of a dataset split (:func:`dataset_images`)."""
    if not files:
        return dataset_images(model, data, split=split, n=n, data_dir=data_dir)
    c, h, _ = model.image_shape
    return to_float(torch.stack([read_image(p, size=h, channels=c) for p in files]))


def reconstruct_to_grid(model: GenerativeModel, images: torch.Tensor, out: str | os.PathLike, *,
                        nrow: int | None = None, scale: int = 1) -> dict[str, Any]:
    """Reconstruct ``images`` and write originals above reconstructions as a grid image to ``out``; returns the
    mean errors: ``{"out", "images", "mse", "psnr"}``."""
    recon, err = reconstruct(model, images)
    grid, per_row = comparison_grid(images, recon, nrow)
    write_grid(grid, out, nrow=per_row, scale=scale)
    return {"out": str(out), "images": images.shape[0], "mse": float(err["mse"].mean()),
            "psnr": float(err["psnr"].mean())}


def reconstruct_whole_image(model: GenerativeModel | str | os.PathLike, image: torch.Tensor, *,
                            tile: int | None = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                            progress: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
    """One image (C×H×W, floats in [0, 1] or uint8) of any height and width through a fully convolutional model
    (``fcvae``; ``isinstance(model, SupportsAnySize)``): padded to the model's multiple, in overlapping tiles
    when a side exceeds ``tile`` (None: one pass), cropped back. Returns the C×H×W reconstruction and
    ``{"mse", "psnr"}``. Other models take only images of their own shape (else a DataError saying what to do)."""
    if not isinstance(model, GenerativeModel):
        model = load(model)
    return reconstruct_whole(model, image, tile=tile, overlap=overlap, progress=progress)


def reconstruct_files(model: GenerativeModel | str | os.PathLike, files: Sequence[str | os.PathLike],
                      out: str | os.PathLike, *, tile: int | None = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                      progress: bool = False) -> dict[str, Any]:
    """Reconstruct each image file at its own size (:func:`reconstruct_whole_image`) and write it to ``out``
    (one file) or ``OUT-NAME.EXT`` per file, NAME the input's file name without extension (several files).
    Returns ``{"out": [...], "images", "mse", "psnr"}`` (means) and ``"per_image"`` rows."""
    if not isinstance(model, GenerativeModel):
        model = load(model)
    files = [Path(f) for f in files]
    targets = file_targets(out, files)
    for target in targets:
        check_image_output(target)  # every bad target fails before the work
    c = model.image_shape[0]
    rows = []
    for source, target in zip(files, targets):
        image = to_float(read_image(source, channels=c))
        recon, err = reconstruct_whole(model, image, tile=tile, overlap=overlap, progress=progress)
        write_image(recon, target)
        rows.append({"file": str(source), "out": str(target), "height": image.shape[1], "width": image.shape[2],
                     **err})
    return {"out": [r["out"] for r in rows], "images": len(rows), "mse": sum(r["mse"] for r in rows) / len(rows),
            "psnr": sum(r["psnr"] for r in rows) / len(rows), "per_image": rows}


# What a demo run writes into its folder; a later demo replaces these and nothing else.




def read_images(model: GenerativeModel, files: Sequence[str | os.PathLike]) -> torch.Tensor:
    """Image files as floats in [0, 1] at the model's image shape (resized and converted)."""
    return images_for_reconstruction(model, files) if files else torch.empty(0, *model.image_shape)
