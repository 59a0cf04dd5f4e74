"""Hierarchical VAE: a ladder of Gaussian latent maps at several resolutions with bidirectional inference.

Ladder VAE (Sønderby et al., 2016): a deterministic bottom-up pass, then a top-down pass that draws
z_0 (coarsest) … z_{L-1} in turn, each with a prior p(z_l | z_<l) and a posterior q(z_l | z_<l, x)
that combines the top-down state with the bottom-up features. Residual cells, the posterior as a residual
on the prior's parameters and zero-initialised heads follow NVAE (Vahdat & Kautz, 2020) and the very deep
VAE (Child, 2021).

ELBO = E_q[log p(x | z)] − Σ_l E_q[KL(q(z_l | z_<l, x) || p(z_l | z_<l))], analytic KL per layer, in nats
per image. Training can weight the KL (``beta``), ramp it up (``kl_warmup_steps``, Sønderby et al., 2016),
give each layer free bits (``free_bits`` nats per layer and image, batch-averaged; Kingma et al., 2016)
and, during the warm-up, balance the layers' KL weights (``kl_balance``, NVAE) so that the coarse layers
are not left unused; evaluation always reports the true ELBO. With ``k`` > 1 training maximises the
importance weighted bound L_k over k ancestral posterior samples instead (Burda et al., 2016, who train
two stochastic layers so), typically as a fine-tuning stage started from an ELBO-trained run
(``train.init_from``): the networks are the same.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, NamedTuple

import torch
from torch import nn

from ..errors import ConfigError
from ..nn import get_likelihood
from ..nn.hierarchical import (
    BottomUp,
    GaussianMap,
    LatentLayer,
    Upsample,
    layers_per_scale,
    scale_plan,
)
from ..validation import MAX_DEPTH, MAX_WIDTH, Limit, at_least
from .base import GenerativeModel, ModelConfig
from .capabilities import Capability
from .iwae import IMPORTANCE_SAMPLES, importance_bound, importance_objective
from .registry import register
from .vae import KL_LIMITS, VAE


@dataclasses.dataclass
class HVAEConfig(ModelConfig):
    channels: int = 32  # width of every deterministic feature map
    blocks: int = 1  # residual cells per resolution, in each direction (none at full resolution)
    latent_layers: int = 4  # stochastic layers, spread over the latent scales (extra ones at the coarsest)
    latent_channels: int = 4  # channels of each latent map
    latent_scales: int = 2  # how many of the coarsest resolutions carry latents (28×28: 7×7 and 14×14)
    likelihood: str = "bernoulli"  # bernoulli | logistic | gaussian
    beta: float = 1.0  # weight on the KL terms; 1 gives the ELBO
    kl_warmup_steps: int = 0  # linear ramp of the KL weight from 0 to beta over these steps
    free_bits: float = 0.0  # per-layer KL floor in nats (batch mean) during training; 0 disables
    kl_balance: bool = True  # during the KL warm-up, weight each layer's KL by its share (NVAE)
    k: int = 1  # importance samples in the training bound L_k (IWAE); 1 trains on the ELBO

    limits: ClassVar[dict[str, Limit]] = {
        "channels": at_least(1, MAX_WIDTH), "blocks": at_least(0, MAX_DEPTH), "latent_layers": at_least(1, MAX_DEPTH),
        "latent_channels": at_least(1, MAX_WIDTH), "latent_scales": at_least(1, 16), "k": IMPORTANCE_SAMPLES,
        **KL_LIMITS,
    }

    def validate(self) -> None:
        super().validate()
        get_likelihood(self.likelihood)
        if self.latent_layers < self.latent_scales:
            raise ConfigError(
                f"model.latent_layers ({self.latent_layers}) must be at least "
                f"model.latent_scales ({self.latent_scales})"
            )
        if self.k > 1 and (self.beta != 1 or self.kl_warmup_steps or self.free_bits):
            raise ConfigError(
                "k > 1 trains on the importance weighted bound, which has no separate KL term to weight: "
                "leave beta at 1 and kl_warmup_steps and free_bits at 0 (or train with k = 1)."
            )

    def check_image_shape(self, shape: tuple[int, ...]) -> None:
        super().check_image_shape(shape)
        _, h, w = shape
        if h != w:
            raise ConfigError(f"hvae expects square images, got {h}×{w}; set data.image_size to crop them.")
        scale_plan(h, self.latent_scales)


class LayerDraw(NamedTuple):
    z: torch.Tensor
    prior: GaussianMap
    posterior: GaussianMap | None


class HierarchicalPosterior:
    """What ``HVAE.encode`` returns: the posterior along the path z_l = E_q[z_l | z_<l, x] of every layer.

    ``mean`` is the flat N×D vector of all layers' posterior means (coarsest first), which ``decode``
    turns back into the reconstruction; ``layers`` the per-layer conditional posteriors on that path;
    ``top`` the exact q(z_0 | x).
    """

    def __init__(self, layers: list[GaussianMap]):
        self.layers = layers
        self.top = layers[0]
        self.mean = torch.cat([q.mean.flatten(1) for q in layers], dim=1)
        self.stddev = torch.cat([q.std.flatten(1) for q in layers], dim=1)


@register("hvae")
class HVAE(GenerativeModel):
    config_class = HVAEConfig
    capabilities = frozenset({Capability.GENERATE, Capability.RECONSTRUCT, Capability.EDIT, Capability.REPRESENT,
                              Capability.LIKELIHOOD})
    kl_weight = VAE.kl_weight  # beta with a linear warm-up, the VAE's schedule

    def __init__(self, config: HVAEConfig):
        super().__init__(config)
        c, size, _ = config.image_shape
        sizes, latent_sizes = scale_plan(size, config.latent_scales)
        width = config.channels
        self.likelihood = get_likelihood(config.likelihood)
        self.bottom_up = BottomUp(c, width, len(sizes) - 1, config.blocks)
        self.h_top = nn.Parameter(torch.zeros(1, width, sizes[-1], sizes[-1]))
        # Top-down, coarse to fine: the latent layers of each resolution, then an upsampling to the next.
        counts = dict(zip(latent_sizes, layers_per_scale(config.latent_layers, config.latent_scales)))
        self.plan = [(s, counts.get(s, 0)) for s in reversed(sizes[1:])]  # (resolution, latent layers)
        self.layers = nn.ModuleList(LatentLayer(width, config.latent_channels)
                                    for _, n in self.plan for _ in range(n))
        self.ups = nn.ModuleList(Upsample(width, config.blocks if s < size else 0)
                                 for s in reversed(sizes[:-1]))
        self.head = nn.Sequential(nn.SiLU(), nn.Conv2d(width, self.likelihood.param_channels(c), 3, padding=1))
        self.latent_shapes = [(config.latent_channels, s, s) for s, n in self.plan for _ in range(n)]

    @property
    def latent_dim(self) -> int:
        """Size of the flat latent vector ``encode(x).mean``: every layer's map, coarsest first."""
        return sum(math.prod(s) for s in self.latent_shapes)

    # -- the two passes ---------------------------------------------------------------------------
    def _features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        return {f.shape[-1]: f for f in self.bottom_up(x)}

    def _top_down(self, n: int, features: dict[int, torch.Tensor] | None = None,
                  zs: list[torch.Tensor | None] | None = None, temperature: float = 1.0,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[LayerDraw]]:
        """Likelihood parameters and each layer's (z, prior, posterior).

        With ``features`` z is drawn from the posterior, otherwise from the prior, at ``temperature``;
        a layer whose entry in ``zs`` is given uses that z instead.
        """
        h = self.h_top.expand(n, -1, -1, -1)
        draws: list[LayerDraw] = []
        layers = iter(self.layers)
        for (size, count), up in zip(self.plan, self.ups):
            for _ in range(count):
                layer = next(layers)
                prior, posterior = layer.distributions(h, None if features is None else features[size])
                z = zs[len(draws)] if zs is not None else None
                if z is None:
                    z = (posterior or prior).sample(temperature, generator)
                draws.append(LayerDraw(z, prior, posterior))
                h = layer(h, z)
            h = up(h)
        return self.head(h), draws

    def _elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """log p(x | z) for one posterior sample and the analytic KL of every layer, each of shape N."""
        params, draws = self._top_down(x.shape[0], self._features(x))
        return self.likelihood.log_prob(params, x), [d.posterior.kl(d.prior) for d in draws]

    # -- the contract -----------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> HierarchicalPosterior:
        _, draws = self._top_down(x.shape[0], self._features(x), temperature=0.0)
        return HierarchicalPosterior([d.posterior for d in draws])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images from a flat latent of every layer (``encode(x).mean``), or from the top layer alone
        (N × its size, or its N×C×h×w map), the lower layers then at their prior means."""
        n, top = z.shape[0], self.latent_shapes[0]
        if z.ndim == 4 or z.shape[1] == math.prod(top):
            zs: list[torch.Tensor | None] = [z.reshape(n, *top)] + [None] * (len(self.latent_shapes) - 1)
        elif z.ndim == 2 and z.shape[1] == self.latent_dim:
            sizes = [math.prod(s) for s in self.latent_shapes]
            zs = [part.reshape(n, *s) for part, s in zip(z.split(sizes, dim=1), self.latent_shapes)]
        else:
            raise ConfigError(
                f"hvae.decode takes N×{self.latent_dim} (all layers) or N×{math.prod(top)} (top layer) latents, "
                f"got {tuple(z.shape)}."
            )
        params, _ = self._top_down(n, zs=zs, temperature=0.0)
        return self.likelihood.mean(params)

    @torch.no_grad()
    def sample(self, n, *, labels=None, temperature=1.0, generator=None):
        """Ancestral sampling; ``temperature`` scales every layer's prior standard deviation."""
        if labels is not None:
            raise ConfigError("hvae is not class-conditional; sample without labels.")
        params, _ = self._top_down(n, temperature=temperature, generator=generator)
        return self.likelihood.mean(params)

    def objective(self, batch, step=0, player="main"):
        if self.config.k > 1:
            return importance_objective(self.log_importance_weights(batch, self.config.k))
        log_px, kls = self._elbo_terms(batch[0])
        rec = -log_px.mean()
        layer_kl = torch.stack([kl.mean() for kl in kls])
        kl, weight = layer_kl.sum(), self.kl_weight(step)
        penalty = layer_kl.clamp(min=self.config.free_bits) if self.config.free_bits else layer_kl
        if self.config.kl_balance and weight < self.config.beta:
            penalty = penalty * self._balance(layer_kl.detach())
        out = {"loss": rec + weight * penalty.sum(), "rec": rec, "kl": kl, "elbo": -(rec + kl)}
        out.update({f"kl_{i}": v for i, v in enumerate(layer_kl)})
        return out

    def _balance(self, layer_kl: torch.Tensor) -> torch.Tensor:
        """KL balancing as in NVAE (Vahdat & Kautz, 2020): coefficients ∝ a layer's KL per
        latent dimension, mean 1, so layers that carry little information are penalised little and get used."""
        sizes = torch.tensor([math.prod(s) for s in self.latent_shapes], dtype=layer_kl.dtype, device=layer_kl.device)
        coeff = (layer_kl.abs() + 0.01) / (sizes / sizes.min())
        return coeff / coeff.mean()

    def evaluate_batch(self, batch):
        log_px, kls = self._elbo_terms(batch[0])
        kl = torch.stack(kls).sum(0)
        out = {"loss": kl - log_px, "elbo": log_px - kl, "rec": -log_px, "kl": kl}
        out.update({f"kl_{i}": v for i, v in enumerate(kls)})
        if self.config.k > 1:  # the bound being trained, as the IWAE reports it
            out["elbo_k"] = importance_bound(self.log_importance_weights(batch, self.config.k))
            out["loss"] = -out["elbo_k"]
        return out

    def log_importance_weights(self, batch, k: int) -> torch.Tensor:
        """log p(x | z) + Σ_l log p(z_l | z_<l) − Σ_l log q(z_l | z_<l, x) for k ancestral posterior
        samples per image: shape k×N (nats). The bottom-up pass runs once and is shared by the k samples."""
        x = batch[0]
        n = x.shape[0]
        features = {s: f.repeat(k, 1, 1, 1) for s, f in self._features(x).items()}
        params, draws = self._top_down(k * n, features)
        log_w = self.likelihood.log_prob(params, x.repeat(k, 1, 1, 1))
        for d in draws:
            log_w = log_w + d.prior.log_prob(d.z) - d.posterior.log_prob(d.z)
        return log_w.view(k, n)
