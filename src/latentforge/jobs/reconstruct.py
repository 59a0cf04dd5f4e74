"""x → encode → decode, with the error per image."""

from __future__ import annotations

import torch

from ..data import to_float
from ..errors import DataError
from ..metrics.reconstruction import mse_per_image, psnr
from ..models import Capability, GenerativeModel, latent_of, require_capability
from ..validation import at_least, check_value
from .common import check_images
from .whole_image import DEFAULT_OVERLAP, DEFAULT_TILE, apply_whole_image, model_multiple


@torch.no_grad()
def reconstruct(model: GenerativeModel, images: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, dict]:
    """Reconstructions from the posterior mean, and ``{"mse": ..., "psnr": ...}`` per image."""
    require_capability(model, Capability.RECONSTRUCT)
    check_value("batch_size", batch_size, int, at_least(1))
    images = check_images(model, images)
    model.eval()
    out = torch.cat([model.decode(latent_of(model.encode(chunk))) for chunk in images.split(batch_size)])
    return out.cpu(), {"mse": mse_per_image(out, images).cpu(), "psnr": psnr(out, images).cpu()}


@torch.no_grad()
def reconstruct_whole(model: GenerativeModel, image: torch.Tensor, *, tile: int | None = DEFAULT_TILE,
                      overlap: int = DEFAULT_OVERLAP, progress: bool = False) -> tuple[torch.Tensor, dict]:
    """One image C×H×W (or 1×C×H×W) of any size through a fully convolutional model (padded, tiled above
    ``tile`` pixels a side, cropped back; ``jobs/whole_image.py``): the C×H×W reconstruction from the posterior
    mean and ``{"mse", "psnr"}``. Other models take only images of their own shape (else a DataError)."""
    require_capability(model, Capability.RECONSTRUCT)
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4) or (image.ndim == 4 and image.shape[0] != 1):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise DataError(f"reconstruct_whole takes one image, C×H×W, got {shape}.")
    x = to_float(image.reshape(1, *image.shape[-3:]))
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise DataError("Images must be finite floats in [0, 1] (or uint8); rescale them first.")
    multiple = model_multiple(model, x)
    model.eval()
    x = x.to(next(model.parameters()).device)
    out = apply_whole_image(lambda t: model.decode(latent_of(model.encode(t))), x, multiple=multiple, tile=tile,
                            overlap=overlap, progress=progress, desc="reconstruct")
    return out[0].cpu(), {"mse": float(mse_per_image(out, x)[0]), "psnr": float(psnr(out, x)[0])}


def comparison_grid(originals: torch.Tensor, reconstructions: torch.Tensor,
                    nrow: int | None = None) -> tuple[torch.Tensor, int]:
    """The images of a comparison grid, each row of up to ``nrow`` originals (default: all) above a row of their
    reconstructions, the last pair of rows padded with white; and the images per row to lay it out with."""
    n = originals.shape[0]
    if nrow is not None:
        check_value("nrow (images per row)", nrow, int, at_least(1))
    per_row = min(nrow or n, n)
    rows = []
    for start in range(0, n, per_row):
        for images in (originals, reconstructions):
            row = images[start : start + per_row].cpu()
            blank = torch.ones((per_row - row.shape[0], *row.shape[1:]), dtype=row.dtype)
            rows.append(torch.cat([row, blank]))
    return torch.cat(rows), per_row
