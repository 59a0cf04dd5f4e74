"""Importance weighted autoencoder (Burda, Grosse & Salakhutdinov, 2016): the VAE trained on the k-sample
bound L_k = E[log (1/k) Σ_i p(x, z_i) / q(z_i | x)], z_i ~ q(z | x), which tightens as k grows (L_1 is the ELBO).

Same networks as ``vae``; only the objective differs, so a trained ``vae`` can start an ``iwae`` run
(``train.init_from``). ``loss`` is −L_k in nats per image, also when evaluating.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from ..validation import Limit, at_least
from .conv_autoencoder import ConvAutoencoderConfig
from .registry import register
from .vae import VAE


def importance_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """L_k = log (1/k) Σ_i w_i per image, from the k×N log importance weights (Burda et al., 2016)."""
    return torch.logsumexp(log_weights, 0) - math.log(log_weights.shape[0])


def importance_objective(log_weights: torch.Tensor) -> dict[str, torch.Tensor]:
    """Training outputs for the bound: ``loss`` −L_k (batch mean), ``elbo_k``, and ``elbo``, the mean weight:
    an unbiased ELBO estimate from the same samples (≤ elbo_k by Jensen)."""
    elbo_k = importance_bound(log_weights).mean()
    return {"loss": -elbo_k, "elbo_k": elbo_k, "elbo": log_weights.mean()}


IMPORTANCE_SAMPLES = at_least(1, 100_000)  # k of the training bound (iwae, hvae)


@dataclasses.dataclass
class IWAEConfig(ConvAutoencoderConfig):
    k: int = 5  # importance samples per image in the training bound (Burda et al. report k = 5 and 50)

    limits: ClassVar[dict[str, Limit]] = {"k": IMPORTANCE_SAMPLES}


@register("iwae")
class IWAE(VAE):
    config_class = IWAEConfig

    def bound(self, batch, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(L_k per image, shape N; the k×N log importance weights it came from)."""
        weights = self.log_importance_weights(batch, k or self.config.k)
        return importance_bound(weights), weights

    def objective(self, batch, step=0, player="main"):
        return importance_objective(self.log_importance_weights(batch, self.config.k))

    def evaluate_batch(self, batch):
        """−L_k as the loss, beside the VAE's single-sample ELBO split into reconstruction and KL."""
        bound, _ = self.bound(batch)
        return {**super().evaluate_batch(batch), "loss": -bound, "elbo_k": bound}
