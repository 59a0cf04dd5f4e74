"""Run a fully convolutional network on an image of any width and height: pad, tile, blend, crop back.

:func:`apply_whole_image` pads the image (reflecting it) to the multiple the network needs, runs it in one pass
or, when the image is larger than ``tile``, in overlapping tiles, and crops the result back to the image's
size (times ``scale`` for an upscaler). Any job that maps an image to an image of the same layout (reconstruct,
denoise, inpaint, colourise, upscale) can hand its network to it as ``fn``.

Tiles. Each axis is cut into n nearly equal *cores* whose borders are multiples of ``multiple``; a tile is its
core widened by half the ``overlap`` on each side that has a neighbour. Across each core border the two tiles
are cross-faded linearly over a band of half the overlap, centred on the border, so the weights sum to one
everywhere and every pixel that a tile contributes to has at least a quarter of the overlap of real image
around it in that tile. A network whose output at a pixel depends only on the input within that radius (its
receptive field), and which commutes with shifts by ``multiple``, gives exactly its one-pass output; deeper
networks are close, and a wider overlap brings them closer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data import to_float
from ..errors import DataError
from ..models import GenerativeModel, SupportsAnySize
from ..validation import at_least, check_value

ImageFn = Callable[[torch.Tensor], torch.Tensor]
DEFAULT_TILE = 512  # pixels per side (before padding); a photo up to this size runs in one pass
DEFAULT_OVERLAP = 64


def apply_whole_image(fn: ImageFn, images: torch.Tensor, *, multiple: int = 1, tile: int | None = DEFAULT_TILE,
                      overlap: int = DEFAULT_OVERLAP, scale: int = 1, progress: bool = False,
                      desc: str = "tiles") -> torch.Tensor:
    """``fn`` over N×C×H×W float ``images`` of any H and W, returning N×C'×(H·scale)×(W·scale).

    ``fn`` maps an N×C×h×w batch, h and w multiples of ``multiple``, to N×C'×(h·scale)×(w·scale) (C' may
    differ from C, as for colourisation). ``tile`` None runs one pass whatever the size; otherwise images
    larger than ``tile`` on a side run in overlapping tiles of about that side, with a progress bar if
    ``progress``. ``fn`` is called as it is: wrap it in ``torch.no_grad()`` unless it needs gradients.
    """
    check_value("multiple", multiple, int, at_least(1))
    check_value("scale", scale, int, at_least(1))
    check_value("overlap", overlap, int, at_least(0))
    if tile is not None:
        check_value("tile", tile, int, at_least(1))
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or 0 in images.shape:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise DataError(f"Expected N×C×H×W images, got {shape}.")
    images = to_float(images)
    _, _, h, w = images.shape
    padded = pad_to_multiple(images, multiple)
    half = round_up(math.ceil(overlap / 2), multiple)  # the context each tile adds beyond its core
    rows, cols = (cores(side, tile, half, multiple) for side in padded.shape[2:])
    if len(rows) * len(cols) == 1:
        out = fn(padded)
    else:
        out = run_tiles(fn, padded, rows, cols, half, scale, progress, desc)
    check_output(out, padded, scale)
    return out[:, :, : h * scale, : w * scale]


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom and right edges to multiples of ``multiple`` by reflection (by repetition where the image
    is too small to reflect that far)."""
    h, w = images.shape[2:]
    ph, pw = round_up(h, multiple) - h, round_up(w, multiple) - w
    if not ph and not pw:
        return images
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(images, (0, pw, 0, ph), mode=mode)


def cores(length: int, tile: int | None, half: int, multiple: int) -> list[tuple[int, int]]:
    """The cores [start, end) one axis is cut into: one when it fits a tile, else nearly equal parts of at most
    ``tile − 2·half`` (at least ``multiple``), with borders on multiples of ``multiple``."""
    if tile is None or length <= tile:
        return [(0, length)]
    core = max(tile - 2 * half, multiple, 2 * half)  # a core at least as wide as the blend bands on its two sides
    n = math.ceil(length / core)
    bounds = [0, *(round(i * length / n / multiple) * multiple for i in range(1, n)), length]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def blend_weights(core: tuple[int, int], window: tuple[int, int], length: int, band: int) -> torch.Tensor:
    """A tile's weights along one axis over its window: 1 inside its core, a linear cross-fade of width
    ``2·band`` centred on each core border that has a neighbour (the neighbour's ramp is its complement)."""
    p = torch.arange(window[0], window[1], dtype=torch.float32) + 0.5
    w = torch.ones_like(p)
    if band == 0:  # no overlap: each pixel from its own core only
        return ((p >= core[0]) & (p < core[1])).float()
    if core[0] > 0:
        w = w * ((p - (core[0] - band)) / (2 * band)).clamp(0, 1)
    if core[1] < length:
        w = w * (1 - ((p - (core[1] - band)) / (2 * band)).clamp(0, 1))
    return w


def run_tiles(fn: ImageFn, padded: torch.Tensor, rows: list[tuple[int, int]], cols: list[tuple[int, int]],
              half: int, scale: int, progress: bool, desc: str) -> torch.Tensor:
    """Run ``fn`` tile by tile and blend the outputs (see the module's docstring)."""
    height, width = padded.shape[2:]
    band = half // 2
    out = weight = None
    with tqdm(total=len(rows) * len(cols), desc=desc, unit="tile", disable=not progress, leave=False) as bar:
        for core_y in rows:
            win_y = (max(0, core_y[0] - half), min(height, core_y[1] + half))
            wy = blend_weights(core_y, win_y, height, band)
            for core_x in cols:
                win_x = (max(0, core_x[0] - half), min(width, core_x[1] + half))
                wx = blend_weights(core_x, win_x, width, band)
                part = fn(padded[:, :, win_y[0] : win_y[1], win_x[0] : win_x[1]])
                check_output(part, padded[:, :, win_y[0] : win_y[1], win_x[0] : win_x[1]], scale)
                if out is None:
                    out = part.new_zeros((*part.shape[:2], height * scale, width * scale))
                    weight = part.new_zeros((height * scale, width * scale))
                tile_weight = torch.outer(wy, wx).to(part)
                if scale > 1:
                    tile_weight = tile_weight.repeat_interleave(scale, 0).repeat_interleave(scale, 1)
                ys, xs = slice(win_y[0] * scale, win_y[1] * scale), slice(win_x[0] * scale, win_x[1] * scale)
                out[:, :, ys, xs] += part * tile_weight
                weight[ys, xs] += tile_weight
                bar.update()
    return out / weight.clamp(min=1e-12)


def check_output(out: torch.Tensor, given: torch.Tensor, scale: int) -> None:
    n, _, h, w = given.shape
    if not isinstance(out, torch.Tensor) or out.ndim != 4 or (out.shape[0], *out.shape[2:]) != (n, h * scale,
                                                                                                 w * scale):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise DataError(f"The network gave {got} for an input of {tuple(given.shape)}; a whole-image network must "
                        f"give N×C'×{h * scale}×{w * scale} (fully convolutional, scale {scale}).")


def model_multiple(model: GenerativeModel, images: torch.Tensor) -> int:
    """The multiple to pad ``images`` (N×C×H×W) to for ``model``: its ``size_multiple`` when it is fully
    convolutional; 1 for any other model when the images have its exact shape; else a DataError saying what to do."""
    c, h, w = model.image_shape
    if images.ndim != 4 or images.shape[1] != c:
        raise DataError(f"Images of shape {tuple(images.shape)} do not fit this {model.name} model, which expects "
                        f"{c} channel{'s' if c > 1 else ''} (N×{c}×H×W); convert them to "
                        f"{'RGB' if c == 3 else 'grayscale'} first.")
    if isinstance(model, SupportsAnySize):
        return int(model.size_multiple)
    if tuple(images.shape[2:]) != (h, w):
        raise DataError(
            f"A {model.name} model works on {h}×{w} images only (it is not fully convolutional), but this image is "
            f"{images.shape[2]}×{images.shape[3]}. Resize it to {h}×{w} first (reconstruct without a whole-image "
            "model resizes image files for you), or train a fully convolutional model such as fcvae on crops "
            "(data.crop_size) to run on whole images of any size."
        )
    return 1
