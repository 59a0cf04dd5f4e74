"""Image I/O at the edges: files and grids are uint8, everything inside is float in [0, 1]."""

from __future__ import annotations

import math
import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from ..io import atomic_write_bytes

# Pillow modes read as one-channel images when no channel count is asked for.
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# Single-channel modes deeper than 8 bits: Pillow's convert("L") clips them at 255, so they are scaled here.
HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# Formats whose decoders give 32-bit "I" images holding 16-bit values (PNM with maxval > 255, old PNG).
SIXTEEN_BIT_I_FORMATS = frozenset({"PNG", "PPM"})
TIFF_BITS_PER_SAMPLE = 258
# What Pillow raises on damaged or hostile input: any of them means a bad file, not a bug here.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, MemoryError)
REPLACE = "Remove or replace the file."
DOWNSCALE = ("Downscale images over the pixel limit first (e.g. `magick in.png -resize 4096x4096 out.png`), or "
             "raise PIL.Image.MAX_IMAGE_PIXELS if you trust them.")


class UnreadableImageError(DataError):
    """One image file that cannot be read: ``reason`` says why, ``advice`` what to do."""

    def __init__(self, path: Path, reason: str, advice: str = REPLACE) -> None:
        super().__init__(f"Cannot read image {path}: {reason}. {advice}")
        self.path, self.reason, self.advice = path, reason, advice


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] (any shape) to uint8, rounding to nearest; the inverse of :func:`to_float`."""
    return images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (any shape) to float32 in [0, 1]; float images pass through as float32."""
    return images.to(torch.float32).div_(255) if images.dtype == torch.uint8 else images.float()


def read_image(path: str | os.PathLike, size: int | None = None, channels: int | None = None) -> torch.Tensor:
    """Read one image file as a uint8 tensor C×H×W, or raise ``UnreadableImageError`` (a DataError).

    ``size`` resizes the shorter side to ``size`` and centre-crops a square; ``channels`` is 1 (grayscale)
    or 3 (RGB); None keeps grayscale files grayscale and turns everything else into RGB. Images deeper than
    8 bits are scaled to 8 bits by their bit depth.
    """
    path = Path(path)
    with opened_image(path) as im:
        im.load()
        mode = {1: "L", 3: "RGB", None: "L" if im.mode in GRAY_MODES else "RGB"}[channels]
        im = to_8bit(im, path).convert(mode)
        if size is not None:
            im = resize_and_crop(im, size)  # inside: Pillow's crop checks for bombs too
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def image_header(path: str | os.PathLike) -> tuple[tuple[int, int], str]:
    """(width, height) and Pillow mode of an image file, reading only its header."""
    with opened_image(Path(path)) as im:
        return im.size, im.mode


@contextmanager
def opened_image(path: Path) -> Iterator[Image.Image]:
    """``Image.open(path)`` where every failure, in opening or in the body, is an ``UnreadableImageError``.

    Images over ``PIL.Image.MAX_IMAGE_PIXELS`` (Pillow only warns below twice that) are refused too.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                yield im
    except UnreadableImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnreadableImageError(path, bomb_reason(e), DOWNSCALE) from e
    except DECODE_ERRORS as e:
        raise UnreadableImageError(path, failure_reason(path, e)) from e


def bomb_reason(error: Exception) -> str:
    """Pillow's decompression-bomb message, shortened to the figures."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    pixels = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    return f"{pixels}, over the safe decoding limit PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS:,}"


def failure_reason(path: Path, error: BaseException) -> str:
    """Why ``path`` could not be decoded, in words a user can act on."""
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(error, PermissionError):
        return "permission denied"
    if path.is_file() and path.stat().st_size == 0:
        return "empty file, 0 bytes"
    if isinstance(error, UnidentifiedImageError):
        return "not an image in any format Pillow reads"
    if isinstance(error, MemoryError):
        return "not enough memory to decode it"
    return f"truncated or corrupt, {type(error).__name__}: {error}"


def to_8bit(im: Image.Image, path: Path) -> Image.Image:
    """A high-bit-depth single-channel image as 8-bit "L", scaled by its bit depth (not by its own maximum)."""
    if im.mode not in HIGH_DEPTH_MODES:
        return im
    arr = np.asarray(im)
    if im.mode == "F":
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise UnreadableImageError(
                path,
                f"float pixels in [{np.nanmin(arr)}, {np.nanmax(arr)}] with {int((~np.isfinite(arr)).sum())} NaN "
                "or inf, but float images must be finite and in [0, 1]",
                "Save float images as 8- or 16-bit images, or scale them to [0, 1].",
            )
        scaled = arr * 255.0
    else:
        depth = bit_depth(im)
        top = 2**depth - 1
        if arr.min() < 0 or arr.max() > top:
            raise UnreadableImageError(
                path,
                f"integer pixels in [{arr.min()}, {arr.max()}] do not fit its bit depth of {depth} (0..{top})",
                "Save such images as unsigned 8- or 16-bit images.",
            )
        scaled = arr.astype(np.float64) * (255 / top)
    return Image.fromarray(np.rint(scaled).astype(np.uint8))


def bit_depth(im: Image.Image) -> int:
    """Bits per sample of an integer image: from the mode, else the TIFF tag, else what its decoder produces."""
    if im.mode.startswith("I;16"):
        return 16
    tags = getattr(im, "tag_v2", None)
    if tags is not None and TIFF_BITS_PER_SAMPLE in tags:
        bits = tags[TIFF_BITS_PER_SAMPLE]
        return int(max(bits) if isinstance(bits, tuple) else bits)
    return 16 if im.format in SIXTEEN_BIT_I_FORMATS else 32


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
