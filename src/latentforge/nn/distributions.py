"""Diagonal Gaussian posterior with the reparameterisation trick (Kingma & Welling, 2014)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


class DiagonalGaussian:
    """q(z|x) = N(mean, diag(std²)); ``params`` holds mean and an unconstrained scale, split on dim 1."""

    def __init__(self, params: torch.Tensor):
        self.mean, raw = params.chunk(2, dim=1)
        # softplus keeps std positive without exp's overflow; the floor avoids log(0).
        self.std = F.softplus(raw) + 1e-5

    @property
    def stddev(self) -> torch.Tensor:
        return self.std

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + self.std * eps

    rsample = sample

    def sample_k(self, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """k samples per posterior: shape k×N×D."""
        eps = torch.randn((k, *self.mean.shape), generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + self.std * eps

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) summed over latent dimensions, shape N (or broadcast shape without the last dim)."""
        return (-0.5 * ((z - self.mean) / self.std) ** 2 - self.std.log() - 0.5 * LOG_2PI).sum(-1)

    def kl_standard_normal(self) -> torch.Tensor:
        """KL(q || N(0, I)) per dimension, shape N×D: ½(μ² + σ² − 1) − log σ."""
        return 0.5 * (self.mean**2 + self.std**2 - 1) - self.std.log()


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    return (-0.5 * z**2 - 0.5 * LOG_2PI).sum(-1)
