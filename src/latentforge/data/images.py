"""Image I/O at the edges: files and grids are uint8, everything inside is float in [0, 1]."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from ..io import atomic_write_bytes

# Pillow modes read as one-channel images when no channel count is asked for.
GRAY_MODES = frozenset({"1", "L", "I;16", "I", "LA"})


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] (any shape) to uint8, rounding to nearest."""
    return images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)


def read_image(path: str | os.PathLike, size: int | None = None, channels: int | None = None) -> torch.Tensor:
    """Read one image file as a uint8 tensor C×H×W.

    ``size`` resizes the shorter side to ``size`` and centre-crops a square; ``channels`` is 1 (grayscale)
    or 3 (RGB); None keeps grayscale files grayscale and turns everything else into RGB.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = {1: "L", 3: "RGB", None: "L" if im.mode in GRAY_MODES else "RGB"}[channels]
            im = im.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"Cannot read image {path}: {e}. Remove or replace the file.") from e
    if size is not None:
        im = resize_and_crop(im, size)
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def resize_and_crop(im: Image.Image, size: int) -> Image.Image:
    w, h = im.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    im = im.resize((nw, nh), Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS)
    left, top = (nw - size) // 2, (nh - size) // 2
    return im.crop((left, top, left + size, top + size))


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile N×C×H×W float images into one H'×W'×C uint8 array (C is 1 or 3)."""
    if images.ndim != 4:
        raise ValueError(f"make_grid expects N×C×H×W images, got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), float(pad_value))
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, y : y + h, x : x + w] = images[i].detach().float().cpu()
    return to_uint8(grid).permute(1, 2, 0).numpy()


def array_to_png_bytes(arr: np.ndarray, scale: int = 1) -> bytes:
    import io

    im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def save_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int | None = None, scale: int = 1) -> Path:
    """Save a grid of float images in [0, 1] to a PNG file (written atomically)."""
    path = Path(path)
    atomic_write_bytes(path, array_to_png_bytes(make_grid(images, nrow=nrow), scale=scale))
    return path


def save_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Save one C×H×W float image in [0, 1] as PNG."""
    return save_grid(image.unsqueeze(0), path, nrow=1)
