"""Differentiable augmentation (DiffAugment; Zhao et al., 2020), pure torch.

The same random transformations are applied to real and generated images before the discriminator, in
both players' steps, so the discriminator cannot overfit a small training set while the generator still
receives gradients through them. Images are expected in [-1, 1], as in the reference implementation
(cutout and translation fill with 0, mid-grey). Every image in a batch draws its own parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import ConfigError


def _rand(x: torch.Tensor, *shape: int) -> torch.Tensor:
    return torch.rand(x.shape[0], *shape, dtype=x.dtype, device=x.device)


def color(x: torch.Tensor) -> torch.Tensor:
    """Random brightness (±0.5), saturation (×[0, 2]) and contrast (×[0.5, 1.5])."""
    x = x + (_rand(x, 1, 1, 1) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, 1, 1, 1) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, 1, 1, 1) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size in each direction, filling with zeros."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # Index into a copy padded by one zero pixel on every side; clamping lands out-of-range reads there.
    src_rows = (rows + dy + 1).clamp(0, h + 1).expand(n, h, w)
    src_cols = (cols + dx + 1).clamp(0, w + 1).expand(n, h, w)
    padded = F.pad(x, [1, 1, 1, 1])
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, src_rows, src_cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` × the image size at a random centre (DeVries & Taylor, 2017)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows - (cy - ch // 2)) >= 0) & ((rows - (cy - ch // 2)) < ch) \
        & ((cols - (cx - cw // 2)) >= 0) & ((cols - (cx - cw // 2)) < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENTATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "color": color, "translation": translation, "cutout": cutout,
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation,cutout"`` → names, validated; ``""`` → no augmentation."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in names if p not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(f"Unknown DiffAugment transform(s) {unknown}; choose from {sorted(AUGMENTATIONS)} "
                          "as a comma-separated list, e.g. 'color,translation,cutout'.")
    return names


def diff_augment(x: torch.Tensor, policy: str | tuple[str, ...]) -> torch.Tensor:
    """Apply the transforms of ``policy`` in order; shapes are preserved and gradients flow to ``x``."""
    for name in parse_policy(policy) if isinstance(policy, str) else policy:
        x = AUGMENTATIONS[name](x)
    return x
