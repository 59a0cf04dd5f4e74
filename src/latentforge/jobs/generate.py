"""Generate new images from a model's prior or generator."""

from __future__ import annotations

import torch

from ..models import GenerativeModel
from .common import require


@torch.no_grad()
def generate(model: GenerativeModel, n: int, *, labels: torch.Tensor | None = None, temperature: float = 1.0,
             seed: int | None = 0) -> torch.Tensor:
    """``n`` images in [0, 1]; the same seed gives the same images."""
    require(model, "generate")
    if n < 1:
        raise ValueError("n must be ≥ 1")
    generator = None
    if seed is not None:
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    model.eval()
    return model.sample(n, labels=labels, temperature=temperature, generator=generator).cpu()
