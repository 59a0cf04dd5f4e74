"""The degradations restoration undoes, each with its forward operator A (what a clean image x looks like once
observed: y = A(x) + noise), written once for the dedicated models' training data, the benchmarks and
projection onto a generative model's range (Bora et al., 2017), which needs A to be differentiable.

Images are N×C×H×W floats in [0, 1]. A mask is a boolean tensor N×1×H×W (or 1×1×H×W) that is True where a
pixel is *known* (mask files: :mod:`latentforge.jobs.restore.mask_files`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError

FACTORS = (2, 4)
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as Pillow's convert("L")


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise DataError(f"Expected float images N×C×H×W in [0, 1], got {getattr(images, 'shape', type(images))}.")
    return images


# -- noise ---------------------------------------------------------------------------------------------
def check_sigma(sigma: float | tuple[float, float]) -> tuple[float, float]:
    """σ (on the [0, 1] scale: 25/255 for "σ = 25") or a (low, high) range, as a range."""
    low, high = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low or high > 1:
        raise ConfigError(f"The noise level σ must be a number in [0, 1] on the [0, 1] pixel scale (25/255 ≈ 0.098 "
                          f"for 'σ = 25'), or a range low ≤ high in it; got {sigma!r}.")
    return float(low), float(high)


def gaussian_noise(images: torch.Tensor, sigma: float | tuple[float, float], *,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy images clipped to [0, 1], the σ of each image, N): σ fixed or drawn uniformly from a range."""
    images = _check_images(images)
    low, high = check_sigma(sigma)
    n = images.shape[0]
    sigmas = low + (high - low) * torch.rand(n, generator=generator, dtype=images.dtype) if high > low else \
        torch.full((n,), low, dtype=images.dtype)
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return (images + sigmas.view(n, 1, 1, 1) * noise.to(images.device)).clamp(0, 1), sigmas


def salt_and_pepper(images: torch.Tensor, amount: float | torch.Tensor, *,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """A fraction ``amount`` (one for all images, or one per image) of the pixels (all channels of a pixel
    together) set to 0 or 1 at random."""
    images = _check_images(images)
    amounts = torch.as_tensor(amount, dtype=torch.float64).reshape(-1)
    if amounts.numel() not in (1, images.shape[0]) or not ((amounts >= 0) & (amounts <= 1)).all():
        raise ConfigError(f"The salt-and-pepper amount is a fraction of the pixels in [0, 1] (one for all images or "
                          f"one per image), got {amount!r}.")
    n, _, h, w = images.shape
    hit = torch.rand(n, 1, h, w, generator=generator) < amounts.view(-1, 1, 1, 1).to(torch.float32)
    salt = torch.rand(n, 1, h, w, generator=generator) < 0.5
    return torch.where(hit.to(images.device), salt.to(images.dtype).to(images.device), images)


# -- masks ---------------------------------------------------------------------------------------------
def box_mask(height: int, width: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    """1×1×H×W known-pixel mask with the box (x, y, w, h) missing; the box must lie inside the image."""
    x, y, w, h = (int(v) for v in box)
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ConfigError(f"The box x,y,w,h = {x},{y},{w},{h} must have a positive size and lie inside the "
                          f"{width}×{height} image.")
    known = torch.ones(1, 1, height, width, dtype=torch.bool)
    known[..., y: y + h, x: x + w] = False
    return known


def centred_box_mask(height: int, width: int, size: int) -> torch.Tensor:
    """The centred size×size box missing (the benchmark's 14×14 box on 28×28 images)."""
    return box_mask(height, width, ((width - size) // 2, (height - size) // 2, size, size))


def random_pixel_mask(n: int, height: int, width: int, missing: float, *,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """N×1×H×W masks with each pixel missing independently with probability ``missing``."""
    if not 0 <= missing < 1:
        raise ConfigError(f"The fraction of missing pixels must be in [0, 1), got {missing!r}.")
    return torch.rand(n, 1, height, width, generator=generator) >= missing


def stroke_mask(n: int, height: int, width: int, *, strokes: int = 4, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """Free-form masks: ``strokes`` random walks of thick line segments per image (as in Yu et al., 2019)."""
    g = generator
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    known = torch.ones(n, 1, height, width, dtype=torch.bool)
    scale = min(height, width)
    for i in range(n):
        for _ in range(strokes):
            y, x = float(torch.rand(1, generator=g)) * height, float(torch.rand(1, generator=g)) * width
            radius = max(1.0, scale * (0.03 + 0.05 * float(torch.rand(1, generator=g))))
            for _ in range(1 + int(torch.randint(2, 6, (1,), generator=g))):
                angle = float(torch.rand(1, generator=g)) * 2 * math.pi
                length = scale * (0.1 + 0.2 * float(torch.rand(1, generator=g)))
                for t in np.linspace(0, 1, max(2, int(length))):
                    cy, cx = y + t * length * math.sin(angle), x + t * length * math.cos(angle)
                    known[i, 0] &= (yy - cy) ** 2 + (xx - cx) ** 2 > radius ** 2
                y = min(max(y + length * math.sin(angle), 0), height - 1)
                x = min(max(x + length * math.cos(angle), 0), width - 1)
    return known


def random_training_masks(n: int, height: int, width: int, *, box_sides: tuple[float, float] = (0.2, 0.6),
                          missing_range: tuple[float, float] = (0.1, 0.9), strokes: int = 4,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """N×1×H×W known-pixel masks of mixed kinds, about a third each: one box anywhere (sides a random fraction
    in ``box_sides`` of the image's), random pixels (a fraction in ``missing_range`` missing), free-form strokes."""
    g = generator
    kind = torch.randint(3, (n,), generator=g)
    known = torch.ones(n, 1, height, width, dtype=torch.bool)
    for i in torch.nonzero(kind == 0).flatten().tolist():
        lo, hi = box_sides
        bh, bw = (max(1, round(side * (lo + (hi - lo) * float(torch.rand(1, generator=g)))))
                  for side in (height, width))
        y, x = (int(torch.randint(side - b + 1, (1,), generator=g))
                for side, b in ((height, bh), (width, bw)))
        known[i, :, y: y + bh, x: x + bw] = False
    pixels = torch.nonzero(kind == 1).flatten()
    if len(pixels):
        missing = missing_range[0] + (missing_range[1] - missing_range[0]) * torch.rand(len(pixels), 1, 1, 1,
                                                                                        generator=g)
        known[pixels] = torch.rand(len(pixels), 1, height, width, generator=g) >= missing
    drawn = torch.nonzero(kind == 2).flatten()
    if len(drawn):
        known[drawn] = stroke_mask(len(drawn), height, width, strokes=strokes, generator=g)
    return known


def apply_mask(images: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Missing pixels set to 0 (what an inpainting model sees, with the mask as an extra channel)."""
    images = _check_images(images)
    if known.dtype != torch.bool or known.ndim != 4 or known.shape[1] != 1 or known.shape[-2:] != images.shape[-2:] \
            or known.shape[0] not in (1, images.shape[0]):
        raise DataError(f"A mask for images of shape {tuple(images.shape)} is a boolean 1×1×H×W or N×1×H×W tensor, "
                        f"got {known.dtype} {tuple(known.shape)}.")
    return images * known.to(images.device, images.dtype)


# -- resolution and colour -----------------------------------------------------------------------------
def check_factor(factor: int) -> int:
    if factor not in FACTORS:
        raise ConfigError(f"Super-resolution factor {factor!r} is not supported; choose one of {FACTORS}.")
    return factor


def downsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Area (box-filter) downsampling by ``factor``: each output pixel the mean of a factor×factor block. Height
    and width must be multiples of the factor (crop or pad first)."""
    images = _check_images(images)
    check_factor(factor)
    h, w = images.shape[-2:]
    if h % factor or w % factor:
        raise DataError(f"Images of {w}×{h} cannot be downsampled ×{factor}: height and width must be multiples of "
                        f"{factor}; crop or pad them first.")
    return F.avg_pool2d(images, factor)


def to_grey(images: torch.Tensor) -> torch.Tensor:
    """N×1×H×W luma of RGB images (ITU-R BT.601 weights)."""
    images = _check_images(images)
    if images.shape[1] != 3:
        raise DataError(f"Greying needs RGB images (3 channels), got {images.shape[1]}.")
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def estimate_sigma(images: torch.Tensor) -> torch.Tensor:
    """The Gaussian noise std of each image (N, [0, 1] scale), from the median absolute Haar diagonal detail
    coefficient divided by 0.6745 (Donoho & Johnstone, 1994), as scikit-image's ``estimate_sigma``.

    Blocks touching 0 or 1 are left out where enough others remain: noise clipped at black or white (the
    background of a digit) has a smaller spread there and would bias the estimate low.
    """
    images = _check_images(images)
    n, c, h, w = images.shape
    if h < 2 or w < 2:
        raise DataError(f"Estimating the noise level needs images of at least 2×2 pixels, got {w}×{h}.")
    x = images[..., : h // 2 * 2, : w // 2 * 2].float()
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    d, e = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    detail = ((a - b - d + e) / 2).abs().reshape(n, -1)
    blocks = torch.stack([a, b, d, e]).reshape(4, n, -1)
    inside = ((blocks > 0) & (blocks < 1)).all(0)
    sigmas = []
    for coefficients, keep in zip(detail, inside):
        chosen = coefficients[keep] if keep.sum() >= max(16, keep.numel() // 10) else coefficients
        sigmas.append(chosen.median() / 0.6745)
    return torch.stack(sigmas).to(images.dtype)


def with_luma(colour: torch.Tensor, grey: torch.Tensor) -> torch.Tensor:
    """RGB images in [0, 1] whose BT.601 luma is exactly ``grey`` (N×1×H×W in [0, 1]), with the chroma of
    ``colour`` (N×3×H×W): grey + t·(colour − its luma), t ≤ 1 the largest that stays inside [0, 1] per pixel
    (the weights sum to one, so the chroma adds no luma and t = 0 is the grey pixel itself)."""
    chroma = colour - to_grey(colour)
    room = torch.where(chroma > 0, (1 - grey) / chroma.clamp(min=1e-12), grey / (-chroma).clamp(min=1e-12))
    t = torch.where(chroma == 0, torch.ones_like(room), room).amin(1, keepdim=True).clamp(0, 1)
    return grey + t * chroma
