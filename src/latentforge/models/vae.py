"""Conv VAE (Kingma & Welling, 2014) with β weighting (Higgins et al., 2017) and KL warm-up
(Sønderby et al., 2016). ELBO = E_q[log p(x|z)] − KL(q(z|x) || N(0, I)), in nats per image.
"""

from __future__ import annotations

import dataclasses

import torch

from ..errors import ConfigError
from ..nn import DiagonalGaussian
from ..nn.distributions import standard_normal_log_prob
from .conv_autoencoder import ConvAutoencoderBase, ConvAutoencoderConfig
from .registry import register


@dataclasses.dataclass
class VAEConfig(ConvAutoencoderConfig):
    beta: float = 1.0  # weight on the KL term; 1 gives the ELBO
    kl_warmup_steps: int = 0  # linear ramp of the KL weight from 0 to beta over these steps

    def validate(self) -> None:
        super().validate()
        if self.beta < 0 or self.kl_warmup_steps < 0:
            raise ConfigError("beta and kl_warmup_steps must be ≥ 0")


@register("vae")
class VAE(ConvAutoencoderBase):
    config_class = VAEConfig
    capabilities = frozenset({"generate", "reconstruct", "edit", "represent", "likelihood"})
    encoder_outputs_per_latent = 2

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.encoder(x))

    def kl_weight(self, step: int) -> float:
        warm = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, step / warm) if warm else 1.0)

    def _terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.encode(x)
        log_px = self.likelihood.log_prob(self.decode_params(q.rsample()), x)
        return log_px, q.kl_standard_normal().sum(1)

    def objective(self, batch, step=0):
        log_px, kl = self._terms(batch[0])
        rec, kl = -log_px.mean(), kl.mean()
        return {"loss": rec + self.kl_weight(step) * kl, "rec": rec, "kl": kl, "elbo": -(rec + kl)}

    def log_importance_weights(self, batch, k: int) -> torch.Tensor:
        """log p(x, z_i) − log q(z_i | x) for k posterior samples z_i: shape k×N (nats).

        logsumexp over the k rows minus log k is the importance-sampled log-likelihood (Burda et al., 2016).
        """
        x = batch[0]
        q = self.encode(x)
        z = q.sample_k(k)  # k×N×D
        flat = z.flatten(0, 1)
        log_px = self.likelihood.log_prob(self.decode_params(flat), x.repeat(k, *[1] * (x.ndim - 1)))
        log_pz = standard_normal_log_prob(flat)
        return (log_px + log_pz).view(k, -1) - q.log_prob(z)

    def evaluate_batch(self, batch):
        log_px, kl = self._terms(batch[0])
        return {"loss": -(log_px - kl), "elbo": log_px - kl, "rec": -log_px, "kl": kl}
