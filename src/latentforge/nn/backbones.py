"""Residual conv encoder/decoder that adapt to the image size instead of hard-coding one.

The number of stride-2 stages is chosen from the resolution (28→14→7, 32→…→4, 64→…→4), so the same
config trains on 28×28, 32×32 and 64×64 images with 1 or 3 channels.

Options shared by both: ``cond_dim`` adds a conditioning vector (e.g. a one-hot class, Sohn et al., 2015)
as extra input channels (encoder) or extra input features (decoder); ``spatial=True`` keeps the latent a
feature map (D×h×w, e.g. for VQ-VAE) instead of a vector; ``smallest`` bounds the final map size.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


def stage_plan(size: int, smallest: int = 7) -> tuple[int, int]:
    """Number of stride-2 stages and the final spatial size for a square image of ``size`` pixels."""
    if size < 4 or size % 4:
        raise ConfigError(
            f"Image size {size} is not supported by the conv backbones: use a multiple of 4 "
            "(28, 32, 64, ...), e.g. set data.image_size to 32."
        )
    stages = 0
    while size % 2 == 0 and size > smallest:
        size //= 2
        stages += 1
    return stages, size


class ResidualBlock(nn.Module):
    """x + conv(act(conv(act(x)))); the last conv starts at zero so every block starts as identity."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def stage_widths(base: int, stages: int, max_mult: int = 4) -> list[int]:
    return [base * min(2**i, max_mult) for i in range(stages + 1)]


def with_condition(x: torch.Tensor, cond: torch.Tensor | None, cond_dim: int) -> torch.Tensor:
    """Concatenate the N×cond_dim conditioning vector to ``x`` on dim 1, broadcast over any spatial dims."""
    if not cond_dim:
        if cond is not None:
            raise ValueError("this network was built without a conditioning input (cond_dim=0)")
        return x
    if cond is None or cond.shape != (x.shape[0], cond_dim):
        got = None if cond is None else tuple(cond.shape)
        raise ValueError(f"expected a conditioning tensor of shape ({x.shape[0]}, {cond_dim}), got {got}")
    cond = cond.to(x.dtype).view(*cond.shape, *[1] * (x.ndim - 2)).expand(-1, -1, *x.shape[2:])
    return torch.cat([x, cond], 1)


class ConvEncoder(nn.Module):
    """Image C×H×W → feature vector of size ``out_features`` (or an ``out_features``×h×w map if ``spatial``)."""

    def __init__(self, image_shape: tuple[int, int, int], out_features: int, channels: int = 32, blocks: int = 1,
                 *, cond_dim: int = 0, spatial: bool = False, smallest: int = 7):
        super().__init__()
        c, h, w = image_shape
        if h != w:
            raise ConfigError(f"Conv backbones expect square images, got {h}×{w}; set data.image_size to crop them.")
        self.cond_dim = cond_dim
        stages, final = stage_plan(h, smallest)
        widths = stage_widths(channels, stages)
        layers: list[nn.Module] = [nn.Conv2d(c + cond_dim, widths[0], 3, padding=1)]
        for i in range(stages):
            # Blocks at full resolution would cost most of the compute; they start one stage down.
            layers += [ResidualBlock(widths[i]) for _ in range(blocks if i > 0 else 0)]
            layers += [nn.SiLU(), nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1)]
        layers += [ResidualBlock(widths[-1]) for _ in range(blocks)]
        if spatial:
            layers += [nn.SiLU(), nn.Conv2d(widths[-1], out_features, 1)]
        else:
            layers += [nn.SiLU(), nn.Flatten(), nn.Linear(widths[-1] * final * final, out_features)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(with_condition(x, cond, self.cond_dim))


class ConvDecoder(nn.Module):
    """Latent vector (or ``in_features``×h×w map if ``spatial``) → per-pixel parameter maps
    (``out_channels`` of them) at the image resolution."""

    def __init__(self, image_shape: tuple[int, int, int], in_features: int, out_channels: int,
                 channels: int = 32, blocks: int = 1, *, cond_dim: int = 0, spatial: bool = False,
                 smallest: int = 7):
        super().__init__()
        _, h, _ = image_shape
        self.cond_dim, self.spatial = cond_dim, spatial
        stages, final = stage_plan(h, smallest)
        widths = stage_widths(channels, stages)
        self.start = (widths[-1], final, final)
        if spatial:
            self.fc: nn.Module = nn.Conv2d(in_features + cond_dim, widths[-1], 1)
        else:
            self.fc = nn.Linear(in_features + cond_dim, widths[-1] * final * final)
        layers: list[nn.Module] = [ResidualBlock(widths[-1]) for _ in range(blocks)]
        for i in reversed(range(stages)):
            layers += [nn.SiLU(), nn.ConvTranspose2d(widths[i + 1], widths[i], 4, stride=2, padding=1)]
            layers += [ResidualBlock(widths[i]) for _ in range(blocks if i > 0 else 0)]
        layers += [nn.SiLU(), nn.Conv2d(widths[0], out_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(with_condition(z, cond, self.cond_dim))
        return self.net(h if self.spatial else h.view(z.shape[0], *self.start))
