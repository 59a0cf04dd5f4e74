"""x → encode → decode, with the error per image."""

from __future__ import annotations

import torch

from ..metrics.reconstruction import mse_per_image, psnr
from ..models import Capability, GenerativeModel, latent_of, require_capability
from ..validation import at_least, check_value
from .common import check_images


@torch.no_grad()
def reconstruct(model: GenerativeModel, images: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, dict]:
    """Reconstructions from the posterior mean, and ``{"mse": ..., "psnr": ...}`` per image."""
    require_capability(model, Capability.RECONSTRUCT)
    check_value("batch_size", batch_size, int, at_least(1))
    images = check_images(model, images)
    model.eval()
    out = torch.cat([model.decode(latent_of(model.encode(chunk))) for chunk in images.split(batch_size)])
    return out.cpu(), {"mse": mse_per_image(out, images).cpu(), "psnr": psnr(out, images).cpu()}


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
