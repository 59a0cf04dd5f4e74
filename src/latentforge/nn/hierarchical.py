"""Blocks of a hierarchical (ladder) VAE: Gaussian latent maps, the bottom-up pass and one top-down
stochastic layer, after the Ladder VAE (Sønderby et al., 2016), NVAE (Vahdat & Kautz, 2020) and the
very deep VAE (Child, 2021).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .backbones import ResidualBlock
from .distributions import LOG_2PI

MIN_STD = 1e-3  # floor on every latent scale: keeps log σ and the KL finite
SOFTPLUS_ONE = math.log(math.e - 1)  # softplus(SOFTPLUS_ONE) = 1: zero-initialised heads give N(·, 1)


class GaussianMap:
    """A diagonal Gaussian over latents of any shape N×...; densities are summed per image (shape N)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean, self.std = mean, std

    @property
    def stddev(self) -> torch.Tensor:
        return self.std

    def sample(self, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """mean + temperature·std·ε, differentiable in mean and std (reparameterisation)."""
        if temperature == 0:
            return self.mean
        eps = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + temperature * self.std * eps

    rsample = sample

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return (-0.5 * ((z - self.mean) / self.std) ** 2 - self.std.log() - 0.5 * LOG_2PI).flatten(1).sum(1)

    def kl(self, other: GaussianMap) -> torch.Tensor:
        """KL(self || other) per image: log(σ_o/σ_s) + (σ_s² + (μ_s − μ_o)²) / (2σ_o²) − ½, summed."""
        ratio = (self.std / other.std) ** 2
        diff = ((self.mean - other.mean) / other.std) ** 2
        return (0.5 * (ratio + diff - 1) - 0.5 * ratio.log()).flatten(1).sum(1)


def _zero_init(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def scale_plan(size: int, latent_scales: int) -> tuple[list[int], list[int]]:
    """Resolutions from the image down (28→14→7, 32→16→8, 64→32→16→8) and the latent ones, coarse first.

    Latents never sit at full resolution: the coarsest ``latent_scales`` resolutions carry them.
    """
    if size < 8 or size % 4:
        raise ConfigError(f"hvae needs a square image size that is a multiple of 4 and ≥ 8 (28, 32, 64...), "
                          f"got {size}.")
    sizes = [size]
    while sizes[-1] % 2 == 0 and sizes[-1] > 8:
        sizes.append(sizes[-1] // 2)
    if not 1 <= latent_scales < len(sizes):
        raise ConfigError(
            f"latent_scales must be between 1 and {len(sizes) - 1} for {size}×{size} images "
            f"(resolutions below full size: {sizes[1:]}), got {latent_scales}."
        )
    return sizes, sizes[::-1][:latent_scales]


def layers_per_scale(latent_layers: int, latent_scales: int) -> list[int]:
    """Split the stochastic layers over the scales, coarse first, the extra ones at the coarsest."""
    base, extra = divmod(latent_layers, latent_scales)
    return [base + (1 if i < extra else 0) for i in range(latent_scales)]


class BottomUp(nn.Module):
    """Deterministic encoder pass: image → features at every resolution below full size (fine first)."""

    def __init__(self, in_channels: int, channels: int, levels: int, blocks: int):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.downs = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Conv2d(channels, channels, 4, stride=2, padding=1),
                          *[ResidualBlock(channels) for _ in range(blocks)])
            for _ in range(levels)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, out = self.stem(x * 2 - 1), []
        for down in self.downs:
            h = down(h)
            out.append(h)
        return out


class LatentLayer(nn.Module):
    """One stochastic layer of the top-down pass (NVAE/VDVAE style).

    prior p(z|h) from the top-down state h; posterior q(z|h, e) from h and the bottom-up feature e, as a
    residual on the prior's parameters (NVAE), so q = p at initialisation and the KL starts at zero; then
    h ← cell(h + proj(z)).
    """

    def __init__(self, channels: int, latent_channels: int):
        super().__init__()
        self.prior = nn.Sequential(nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.SiLU(),
                                   _zero_init(nn.Conv2d(channels, 2 * latent_channels, 1)))
        self.posterior = nn.Sequential(nn.SiLU(), nn.Conv2d(2 * channels, channels, 3, padding=1), nn.SiLU(),
                                       _zero_init(nn.Conv2d(channels, 2 * latent_channels, 1)))
        self.proj = nn.Conv2d(latent_channels, channels, 1)
        self.cell = ResidualBlock(channels)

    def distributions(self, h: torch.Tensor, feature: torch.Tensor | None) -> tuple[GaussianMap, GaussianMap | None]:
        mean, raw = self.prior(h).chunk(2, dim=1)
        raw = raw + SOFTPLUS_ONE
        prior = GaussianMap(mean, F.softplus(raw) + MIN_STD)
        if feature is None:
            return prior, None
        d_mean, d_raw = self.posterior(torch.cat([h, feature], dim=1)).chunk(2, dim=1)
        return prior, GaussianMap(mean + d_mean, F.softplus(raw + d_raw) + MIN_STD)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.cell(h + self.proj(z))


class Upsample(nn.Module):
    """×2 transposed conv followed by residual cells."""

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        self.net = nn.Sequential(nn.SiLU(), nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),
                                 *[ResidualBlock(channels) for _ in range(blocks)])

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)
