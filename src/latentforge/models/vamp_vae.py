"""VAE with a VampPrior (Tomczak & Welling, 2018, "VAE with a VampPrior"): the prior is the mixture of the
variational posteriors of K learned pseudo-inputs, p(z) = (1/K) Σ_k q(z | u_k).

The KL term has no closed form, so it is the one-sample Monte Carlo estimate log q(z|x) − log p(z) at the
z used for the reconstruction (an unbiased ELBO estimate). Pseudo-inputs are stored as logits and
squashed into [0, 1] with a sigmoid, so they stay valid images for the encoder.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..nn import DiagonalGaussian
from ..validation import Limit, at_least
from .registry import register
from .vae import VAE, VAEConfig

_CHUNK_ELEMENTS = 2**22  # bounds the z × component × dim tensor when evaluating the mixture


@dataclasses.dataclass
class VampVAEConfig(VAEConfig):
    pseudo_inputs: int = 100  # mixture components K; the paper uses 500 on MNIST (each costs an encoder pass)

    limits: ClassVar[dict[str, Limit]] = {"pseudo_inputs": at_least(1, 100_000)}

    def validate(self) -> None:
        super().validate()
        if self.free_bits:
            raise ConfigError("vamp-vae's KL is a Monte Carlo estimate with no per-dimension split, so free_bits "
                              "does not apply; leave it at 0 (kl_warmup_steps works).")


def mixture_log_prob(z: torch.Tensor, components: DiagonalGaussian) -> torch.Tensor:
    """log (1/K) Σ_k N(z; μ_k, diag σ_k²) for z of shape M×D and K components: shape M."""
    k, d = components.mean.shape
    chunk = max(1, _CHUNK_ELEMENTS // (k * d))
    parts = [torch.logsumexp(components.log_prob(part.unsqueeze(1)), 1) for part in z.split(chunk)]
    return torch.cat(parts) - math.log(k)


@register("vamp-vae")
class VampVAE(VAE):
    config_class = VampVAEConfig

    def __init__(self, config: VampVAEConfig):
        super().__init__(config)
        self.pseudo_logits = nn.Parameter(torch.randn(config.pseudo_inputs, *config.image_shape))

    def pseudo_inputs(self) -> torch.Tensor:
        return torch.sigmoid(self.pseudo_logits)

    def prior_components(self) -> DiagonalGaussian:
        """q(z | u_k) for every pseudo-input: means and stds of shape K×D."""
        return self.encode(self.pseudo_inputs())

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return mixture_log_prob(z, self.prior_components())

    def kl_terms(self, q: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
        return (q.log_prob(z) - self.prior_log_prob(z)).unsqueeze(1)

    def prior_sample(self, n, temperature=1.0, generator=None):
        components = self.prior_components()
        which = torch.randint(len(components.mean), (n,), generator=generator, device=components.mean.device)
        return components.mean[which] + components.std[which] * super().prior_sample(n, temperature, generator)
