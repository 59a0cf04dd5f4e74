"""Conv VAE (Kingma & Welling, 2014) with β weighting (Higgins et al., 2017), KL warm-up
(Sønderby et al., 2016) and free bits (Kingma et al., 2016).
ELBO = E_q[log p(x|z)] − KL(q(z|x) || p(z)), in nats per image.

Variants (cvae, iwae, vamp-vae) subclass :class:`VAE` and override its hooks: ``posterior``,
``likelihood_params``, ``prior_log_prob``, ``kl_terms`` and ``prior_sample``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from ..nn import DiagonalGaussian
from ..nn.distributions import standard_normal_log_prob
from ..validation import MAX_STEPS, MAX_WEIGHT, Limit, at_least
from .capabilities import Capability
from .conv_autoencoder import ConvAutoencoderBase, ConvAutoencoderConfig
from .registry import register

Batch = tuple[torch.Tensor, "torch.Tensor | None"]


# The KL weighting options the VAE and the hvae share (free bits: nats per latent dimension or layer).
KL_LIMITS: dict[str, Limit] = {
    "beta": at_least(0, MAX_WEIGHT), "kl_warmup_steps": at_least(0, MAX_STEPS), "free_bits": at_least(0, 1000),
}


@dataclasses.dataclass
class VAEConfig(ConvAutoencoderConfig):
    beta: float = 1.0  # weight on the KL term; 1 gives the ELBO
    kl_warmup_steps: int = 0  # linear ramp of the KL weight from 0 to beta over these steps
    free_bits: float = 0.0  # nats per latent dimension below which the KL is not penalised in training; 0 = off

    limits: ClassVar[dict[str, Limit]] = KL_LIMITS


def repeat_batch(batch: Batch, k: int) -> Batch:
    """The batch k times over (k-major, matching ``z.flatten(0, 1)`` of k×N×D samples)."""
    x, y = batch
    return x.repeat(k, *[1] * (x.ndim - 1)), (None if y is None else y.repeat(k))


@register("vae")
class VAE(ConvAutoencoderBase):
    config_class = VAEConfig
    capabilities = frozenset({Capability.GENERATE, Capability.RECONSTRUCT, Capability.EDIT, Capability.REPRESENT,
                              Capability.LIKELIHOOD})
    encoder_outputs_per_latent = 2

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(self.encoder(x))

    # -- hooks the variants override --------------------------------------------------------------
    def posterior(self, batch: Batch) -> DiagonalGaussian:
        """q(z | x) (q(z | x, y) for conditional models)."""
        return self.encode(batch[0])

    def likelihood_params(self, z: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Decoder output for p(x | z) (p(x | z, y) for conditional models)."""
        return self.decode_params(z)

    def prior_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) summed over latent dimensions: shape N."""
        return standard_normal_log_prob(z)

    def kl_terms(self, q: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
        """KL(q || p) per image, N×D per latent dimension where it has a closed form (N×1 if not)."""
        return q.kl_standard_normal()

    # -- objective and evaluation ------------------------------------------------------------------
    def kl_weight(self, step: int) -> float:
        warm = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, step / warm) if warm else 1.0)

    def _elbo_terms(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return self._elbo_parts(batch)[:2]

    def _elbo_parts(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, DiagonalGaussian]:
        """(log p(x|z) per image, KL per image and dimension, the posterior q) for one reparameterised draw."""
        q = self.posterior(batch)
        z = q.rsample()
        log_px = self.likelihood.log_prob(self.likelihood_params(z, batch), batch[0])
        return log_px, self.kl_terms(q, z), q

    def objective(self, batch, step=0, player="main"):
        return self.elbo_objective(*self._elbo_terms(batch), step)

    def elbo_objective(self, log_px: torch.Tensor, kl_dims: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """The training loss (β, warm-up and free bits applied) and the exact ELBO's parts, batch means."""
        rec, kl = -log_px.mean(), kl_dims.sum(1).mean()
        kl_trained, extra = kl, {}
        if self.config.free_bits:
            # Free bits (Kingma et al., 2016, eq. 15): Σ_d max(λ, E_batch[KL_d]); the ELBO reported stays exact.
            kl_trained = kl_dims.mean(0).clamp(min=self.config.free_bits).sum()
            extra = {"kl_free_bits": kl_trained}
        return {"loss": rec + self.kl_weight(step) * kl_trained, "rec": rec, "kl": kl, "elbo": -(rec + kl), **extra}

    def log_importance_weights(self, batch, k: int) -> torch.Tensor:
        """log p(x, z_i) − log q(z_i | x) for k posterior samples z_i: shape k×N (nats).

        logsumexp over the k rows minus log k is the importance-sampled log-likelihood (Burda et al., 2016).
        """
        q = self.posterior(batch)
        z = q.sample_k(k)  # k×N×D
        flat = z.flatten(0, 1)
        repeated = repeat_batch(batch, k)
        log_px = self.likelihood.log_prob(self.likelihood_params(flat, repeated), repeated[0])
        return (log_px + self.prior_log_prob(flat)).view(k, -1) - q.log_prob(z)

    def evaluate_batch(self, batch):
        log_px, kl_dims = self._elbo_terms(batch)
        kl = kl_dims.sum(1)
        return {"loss": -(log_px - kl), "elbo": log_px - kl, "rec": -log_px, "kl": kl}


@dataclasses.dataclass
class BetaVAEConfig(VAEConfig):
    beta: float = 4.0  # Higgins et al., 2017 use β > 1 (4 on dSprites) for disentangled latents


@register("beta-vae")
class BetaVAE(VAE):
    """β-VAE (Higgins et al., 2017, "β-VAE: Learning basic visual concepts with a constrained variational
    framework"): the VAE objective with the KL weighted by β = 4 by default. A class, not an alias, so that a
    saved model records its own name and default."""

    config_class = BetaVAEConfig
