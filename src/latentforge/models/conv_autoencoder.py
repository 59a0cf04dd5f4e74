"""The shared body of the conv autoencoder family: residual conv encoder, decoder and pixel likelihood."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from ..errors import ConfigError
from ..nn import ConvDecoder, ConvEncoder, get_likelihood
from ..validation import MAX_DEPTH, MAX_LATENT, MAX_WIDTH, Limit, at_least
from .base import GaussianLatentModel, ModelConfig


@dataclasses.dataclass
class ConvAutoencoderConfig(ModelConfig):
    latent_dim: int = 32
    channels: int = 16  # width of the first stage; doubles per stage up to 4×
    blocks: int = 1  # residual blocks per stage
    likelihood: str = "bernoulli"  # bernoulli | logistic | gaussian

    limits: ClassVar[dict[str, Limit]] = {
        "latent_dim": at_least(1, MAX_LATENT), "channels": at_least(1, MAX_WIDTH), "blocks": at_least(0, MAX_DEPTH),
    }

    def validate(self) -> None:
        super().validate()
        get_likelihood(self.likelihood)


class ConvAutoencoderBase(GaussianLatentModel):
    """Encoder producing ``encoder_outputs`` features and a decoder into likelihood parameter maps."""

    config_class = ConvAutoencoderConfig
    encoder_outputs_per_latent = 1

    def __init__(self, config: ConvAutoencoderConfig):
        super().__init__(config)
        shape = tuple(config.image_shape)
        self.likelihood = get_likelihood(config.likelihood)
        options = self.backbone_options()
        self.encoder = ConvEncoder(shape, config.latent_dim * self.encoder_outputs_per_latent,
                                   config.channels, config.blocks, **options)
        self.decoder = ConvDecoder(shape, config.latent_dim, self.likelihood.param_channels(shape[0]),
                                   config.channels, config.blocks, **options)

    def backbone_options(self) -> dict:
        """Extra ConvEncoder/ConvDecoder options (``cond_dim``, ``spatial``, ``smallest``) a subclass needs."""
        return {}

    def decode_params(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.decoder(z))

    @torch.no_grad()
    def sample(self, n, *, labels=None, temperature=1.0, generator=None):
        if labels is not None:
            raise ConfigError(f"{self.name} is not class-conditional; sample without labels.")
        return self.decode(self.prior_sample(n, temperature, generator))
