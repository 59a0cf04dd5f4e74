"""x → encode → decode, with the error per image."""

from __future__ import annotations

import torch

from ..metrics.reconstruction import mse_per_image, psnr
from ..models import GenerativeModel, latent_of
from .common import check_images, require


@torch.no_grad()
def reconstruct(model: GenerativeModel, images: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, dict]:
    """Reconstructions from the posterior mean, and ``{"mse": ..., "psnr": ...}`` per image."""
    require(model, "reconstruct")
    images = check_images(model, images)
    model.eval()
    out = torch.cat([model.decode(latent_of(model.encode(chunk))) for chunk in images.split(batch_size)])
    return out.cpu(), {"mse": mse_per_image(out, images).cpu(), "psnr": psnr(out, images).cpu()}
