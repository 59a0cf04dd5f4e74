"""Deterministic conv autoencoder (Hinton & Salakhutdinov, 2006) with an ex-post Gaussian prior.

It samples by fitting a full-covariance Gaussian to the training latents after training, as in
"From Variational to Deterministic Autoencoders" (Ghosh et al., 2020).
"""

from __future__ import annotations

import torch

from .capabilities import Capability
from .conv_autoencoder import ConvAutoencoderBase, ConvAutoencoderConfig
from .registry import register


@register("ae")
class Autoencoder(ConvAutoencoderBase):
    capabilities = frozenset({Capability.GENERATE, Capability.RECONSTRUCT, Capability.EDIT, Capability.REPRESENT})
    fits_prior = True

    def __init__(self, config: ConvAutoencoderConfig):
        super().__init__(config)
        d = config.latent_dim
        self.register_buffer("prior_mean", torch.zeros(d))
        self.register_buffer("prior_scale_tril", torch.eye(d))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def objective(self, batch, step=0, player="main"):
        x = batch[0]
        log_px = self.likelihood.log_prob(self.decode_params(self.encode(x)), x)
        return {"loss": -log_px.mean(), "rec": -log_px.mean()}

    def evaluate_batch(self, batch):
        x = batch[0]
        return {"loss": -self.likelihood.log_prob(self.decode_params(self.encode(x)), x)}

    @torch.no_grad()
    def fit_prior(self, latents: torch.Tensor) -> None:
        latents = latents.double()
        mean = latents.mean(0)
        cov = torch.cov(latents.T) + 1e-4 * torch.eye(latents.shape[1], dtype=latents.dtype)
        self.prior_mean.copy_(mean.float())
        self.prior_scale_tril.copy_(torch.linalg.cholesky(cov).float())

    def prior_sample(self, n, temperature=1.0, generator=None):
        eps = super().prior_sample(n, temperature, generator)
        return self.prior_mean + eps @ self.prior_scale_tril.T
