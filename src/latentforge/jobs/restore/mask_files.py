"""Inpainting mask files: white = missing (to fill), black = known, the convention of OpenCV and most
inpainting tools; read into the boolean known-pixel masks of :mod:`latentforge.nn.degradations`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ...data.images import opened_image
from ...errors import DataError


def read_mask(path: str | os.PathLike, height: int, width: int) -> torch.Tensor:
    """A mask image (white = missing, black = known; grey or 1-bit, values 0 and 255 only) as a 1×1×H×W
    known-pixel mask for an image of height × width."""
    with opened_image(Path(path)) as im:
        im.load()
        if im.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            raise DataError(f"The mask {path} has mode {im.mode}; save it as a black-and-white PNG (white = missing).")
        if im.size != (width, height):
            raise DataError(f"The mask {path} is {im.size[0]}×{im.size[1]} but the image is {width}×{height}; "
                            "they must be the same size.")
        values = np.asarray(im.convert("L"))
        if im.mode in ("RGB", "RGBA"):
            rgb = np.asarray(im.convert("RGB"))
            if not (rgb == rgb[..., :1]).all():
                raise DataError(f"The mask {path} has colours; a mask is black (known) and white (missing) only.")
    unexpected = ~np.isin(values, (0, 255))
    if unexpected.any():
        raise DataError(f"The mask {path} has {int(unexpected.sum())} pixels that are neither black (0) nor white "
                        "(255); a mask is black (known) and white (missing) only — threshold it first.")
    return torch.from_numpy(values == 0).view(1, 1, height, width)


def write_mask(known: torch.Tensor, path: str | os.PathLike) -> None:
    """The inverse of :func:`read_mask` for one mask (1×1×H×W or H×W)."""
    Image.fromarray(np.where(known.reshape(known.shape[-2:]).numpy(), 0, 255).astype(np.uint8)).save(path)
