"""Where a job's files go: output targets checked before the work starts, image grids bounded in size and
encoded by the file's extension."""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..data import make_grid
from ..errors import ConfigError, OutputError
from ..io import atomic_write_bytes, check_writable_target
from ..validation import at_least, check_value

# A grid larger than this (after --scale) is refused: 100 megapixels is already a 300 MB image, and a
# typo such as --scale 2000 would otherwise spend minutes building a picture of terapixels.
MAX_GRID_PIXELS = 100_000_000
GRID_PADDING = 2  # pixels between the images of a grid (make_grid's default)
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF"}


def check_output_target(path: str | os.PathLike) -> Path:
    """Refuse, before any long work, an output path that cannot become a regular file: an empty name, an
    existing directory or device (see :func:`~latentforge.io.check_writable_target`), a parent that is a
    file, or a folder that is not writable."""
    path = check_writable_target(path)
    folder = _nearest_existing(path.parent)
    if not folder.is_dir():
        raise OutputError(f"Cannot write {path}: {folder} is a file, not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write {path}: the folder {folder} is not writable. Choose another place.")
    return path


def _nearest_existing(folder: Path) -> Path:
    """``folder`` or its closest existing ancestor (missing folders are created when the file is written)."""
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def image_format(path: str | os.PathLike) -> str:
    """The Pillow format for an image file name, from its extension; a ConfigError lists the known ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise ConfigError(f"Cannot tell the image format of {str(path)!r} from its extension; use one of "
                          f"{', '.join(IMAGE_FORMATS)} (e.g. samples.png).")
    return IMAGE_FORMATS[suffix]


def grid_shape(n: int, image_shape: tuple[int, ...], nrow: int | None = None, scale: int = 1) -> tuple[int, int, int]:
    """(images per row, height, width) in pixels of the grid of ``n`` images, after checking every argument:
    ``n``, ``nrow`` and ``scale`` are integers ≥ 1 and the grid stays under :data:`MAX_GRID_PIXELS`."""
    check_value("n (the number of images)", n, int, at_least(1))
    check_value("scale", scale, int, at_least(1))
    if nrow is not None:
        check_value("nrow (images per row)", nrow, int, at_least(1))
    per_row = min(nrow or max(1, math.ceil(math.sqrt(n))), n)
    _, h, w = image_shape
    rows = math.ceil(n / per_row)
    height = (rows * (h + GRID_PADDING) + GRID_PADDING) * scale
    width = (per_row * (w + GRID_PADDING) + GRID_PADDING) * scale
    if height * width > MAX_GRID_PIXELS:
        raise ConfigError(f"A grid of {n} images, {per_row} per row, at scale {scale} would be {width}×{height} "
                          f"pixels, over the limit of {MAX_GRID_PIXELS // 1_000_000} megapixels; lower -n, --scale "
                          "or change --nrow.")
    return per_row, height, width


def check_grid_output(path: str | os.PathLike, n: int, image_shape: tuple[int, ...], nrow: int | None = None,
                      scale: int = 1) -> Path:
    """Every check of :func:`write_grid` that can run before the images exist (so a bad -o fails at once)."""
    grid_shape(n, image_shape, nrow, scale)
    return check_image_output(path)


def check_image_output(path: str | os.PathLike) -> Path:
    """An image output path with a known extension that can become a regular file."""
    path = check_output_target(path)
    image_format(path)
    return path


def write_grid(images: torch.Tensor, path: str | os.PathLike, nrow: int | None = None, scale: int = 1) -> Path:
    """Write N×C×H×W float images in [0, 1] as one grid image, its format from the extension (PNG, JPEG,
    WebP, BMP, TIFF), atomically; refuses bad targets and grids over :data:`MAX_GRID_PIXELS`."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ConfigError(f"write_grid expects N×C×H×W image tensors, got {getattr(images, 'shape', type(images))}.")
    per_row, _, _ = grid_shape(images.shape[0], tuple(images.shape[1:]), nrow, scale)
    path = check_image_output(path)
    return write_array(make_grid(images, nrow=per_row, padding=GRID_PADDING), path, scale)


def write_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write one C×H×W float image in [0, 1] at its own size (no grid border), its format from the extension."""
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        raise ConfigError(f"write_image expects a C×H×W image tensor, got {getattr(image, 'shape', type(image))}.")
    path = check_image_output(path)
    return write_array(make_grid(image[None], nrow=1, padding=0), path)


def write_array(arr, path: Path, scale: int = 1) -> Path:
    """An H×W×C uint8 array as an image file at ``path`` (checked by the caller), atomically."""
    im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format=image_format(path))
    return write_output(path, buf.getvalue())


def write_output(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically after :func:`check_output_target`; failures are OutputErrors."""
    path = check_output_target(path)
    atomic_write_bytes(path, data)
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """``obj`` as indented JSON (strict: NaN and infinities are refused; see non_finite_to_none)."""
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    except ValueError as e:
        raise ConfigError(f"Cannot write {path} as JSON: {e}; replace NaN and infinities by None first.") from e
    return write_output(path, (text + "\n").encode())


def non_finite_to_none(figures: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``figures`` with every NaN or infinite number (nested in lists and dicts too) replaced by None, which
    JSON writes as null, and the names of the figures that held one."""
    bad: list[str] = []

    def clean(value: Any, name: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            bad.append(name)
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{name}.{k}" if name else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v, name) for v in value]
        return value

    cleaned = clean(figures, "")
    return cleaned, sorted(set(bad))
