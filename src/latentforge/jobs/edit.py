"""Latent-space edits: interpolation between two images (lerp or slerp)."""

from __future__ import annotations

import torch

from ..models import Capability, GenerativeModel, latent_of, require_capability
from .common import check_images


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake, 1985), suited to Gaussian latents (White, 2016)."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


@torch.no_grad()
def interpolate(model: GenerativeModel, start: torch.Tensor, end: torch.Tensor, steps: int = 8,
                method: str = "slerp") -> torch.Tensor:
    """``steps`` images going from ``start`` to ``end`` (single images C×H×W) through the latent space."""
    require_capability(model, Capability.EDIT)
    if method not in ("lerp", "slerp"):
        raise ValueError(f"method must be 'lerp' or 'slerp', got {method!r}")
    model.eval()
    pair = check_images(model, torch.stack([start, end]))
    z = latent_of(model.encode(pair))
    t = torch.linspace(0, 1, steps, device=z.device).unsqueeze(1)
    path = slerp(z[:1], z[1:], t) if method == "slerp" else torch.lerp(z[:1], z[1:], t)
    return model.decode(path).cpu()
