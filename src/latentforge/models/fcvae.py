"""Fully convolutional VAE: the conv VAE's encoder and decoder with a spatial latent map instead of a vector.

The latent is a ``latent_dim``×(H/f)×(W/f) map, f = 2^``downsamples``, with a standard-normal prior on every
element. No layer depends on the image size, so a model trained on crops (``data.crop_size``) encodes and
decodes images of any height and width that are multiples of f; ``jobs/whole_image.py`` pads other sizes and
crops back, and tiles large photos. Its samples are stationary textures (the prior has no spatial structure);
its strength is reconstruction, and it is the body restoration models build on. The objective is the conv
VAE's (β, KL warm-up, free bits per latent element), so its ELBO and importance-sampled NLL are exact bounds.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from ..errors import ConfigError
from ..nn import DiagonalGaussian
from ..nn.distributions import LOG_2PI
from ..validation import Limit, at_least
from .capabilities import Capability
from .registry import register
from .vae import KL_LIMITS, VAE, VAEConfig

MAX_DOWNSAMPLES = 6


class MapGaussian(DiagonalGaussian):
    """q(z|x) over an N×D×h×w latent map: densities sum over every latent element, KL comes flat (N×D·h·w)."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return (-0.5 * ((z - self.mean) / self.std) ** 2 - self.std.log() - 0.5 * LOG_2PI).flatten(-3).sum(-1)

    def kl_standard_normal(self) -> torch.Tensor:
        return super().kl_standard_normal().flatten(1)


@dataclasses.dataclass
class FCVAEConfig(VAEConfig):
    latent_dim: int = 8  # channels of the latent map
    channels: int = 32
    downsamples: int = 2  # stride-2 stages: the latent map is (H/2^d)×(W/2^d)
    likelihood: str = "logistic"

    limits: ClassVar[dict[str, Limit]] = {**KL_LIMITS, "downsamples": at_least(1, MAX_DOWNSAMPLES)}

    def check_image_shape(self, shape: tuple[int, ...]) -> None:
        super().check_image_shape(shape)
        f = 2**self.downsamples
        if any(side % f or side < max(f, 4) for side in shape[1:]):
            raise ConfigError(
                f"fcvae with downsamples={self.downsamples} trains on images whose sides are multiples of {f} "
                f"(at least {max(f, 4)}), got {shape[1]}×{shape[2]}; set data.crop_size (or data.image_size) to "
                f"a multiple of {f}, e.g. {max(4 * f, 32)}, or lower model.downsamples."
            )


@register("fcvae")
class FCVAE(VAE):
    config_class = FCVAEConfig
    capabilities = frozenset({Capability.GENERATE, Capability.RECONSTRUCT, Capability.LIKELIHOOD})

    def backbone_options(self) -> dict:
        # The conv backbones halve the size while it exceeds ``smallest``: exactly ``downsamples`` times here.
        return {"spatial": True, "smallest": self.image_shape[1] // self.size_multiple}

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (the whole-image job pads to it)."""
        return 2**self.config.downsamples

    def encode(self, x: torch.Tensor) -> MapGaussian:
        return MapGaussian(self.encoder(x))

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return (-0.5 * z**2 - 0.5 * LOG_2PI).flatten(1).sum(1)

    def kl_terms(self, q: MapGaussian, z: torch.Tensor) -> torch.Tensor:
        return q.kl_standard_normal()

    def prior_sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latent maps for the training image size."""
        _, h, w = self.image_shape
        f, device = self.size_multiple, next(self.parameters()).device
        return torch.randn(n, self.config.latent_dim, h // f, w // f, generator=generator, device=device) * temperature
