"""Contrastive VAE: the conv VAE's ELBO plus SimCLR's contrastive loss on its posterior means.

A plain VAE's latents keep whatever explains the most pixels (pose, size, brightness), which a linear probe
then has to untangle from the class. Here each training image is also seen as two random views (a resized
crop, a shift and a mirror: :func:`latentforge.nn.views.random_views`), and the posterior means of the two
views, through a small projection head, must recognise each other among the batch (NT-Xent, Chen et al., 2020).
The ELBO is trained on the un-augmented image, the data the likelihood is for (a zero-filled shifted view is
not); the views serve the contrastive term only. The latent space then keeps what views of one image share,
and the model stays a VAE: it samples, reconstructs, and its test ELBO and importance-sampled NLL are exact
bounds. This is the contrastive regularisation of VAEs of e.g. Lygerakis & Rueckert (2023, CR-VAE); no label
is used.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from torch import nn

from ..nn.views import nt_xent, random_views
from ..validation import MAX_WEIGHT, MAX_WIDTH, Limit, above, at_least, fraction
from .registry import register
from .vae import KL_LIMITS, VAE, VAEConfig


@dataclasses.dataclass
class ContrastiveVAEConfig(VAEConfig):
    contrastive_weight: float = 300.0  # nats per image that one unit of NT-Xent costs (the ELBO is ~2,000 nats)
    temperature: float = 0.5  # NT-Xent temperature (SimCLR's for small images)
    head_width: int = 256  # hidden width of the projection head (latent → width → 64)
    zoom: float = 0.2  # views are zoomed by a factor in [1 − zoom, 1 + zoom]
    shift: float = 0.15  # and shifted by up to this fraction of the image size
    flip: bool = True  # and mirrored left–right half of the time

    limits: ClassVar[dict[str, Limit]] = {
        **KL_LIMITS, "contrastive_weight": at_least(0, MAX_WEIGHT), "temperature": above(0, 10),
        "head_width": at_least(1, MAX_WIDTH), "zoom": fraction(), "shift": fraction(),
    }


@register("contrastive-vae")
class ContrastiveVAE(VAE):
    config_class = ContrastiveVAEConfig
    PROJECTION = 64

    def __init__(self, config: ContrastiveVAEConfig):
        super().__init__(config)
        self.head = nn.Sequential(nn.Linear(config.latent_dim, config.head_width), nn.ReLU(),
                                  nn.Linear(config.head_width, self.PROJECTION))

    def view(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        return random_views(x, zoom=c.zoom, shift=c.shift, flip=c.flip)

    def objective(self, batch, step=0, player="main"):
        x, labels = batch
        first, second = self.view(x), self.view(x)
        log_px, kl_dims, _ = self._elbo_parts((x, labels))
        out = self.elbo_objective(log_px, kl_dims, step)
        means = [self.posterior((view, labels)).mean for view in (first, second)]
        contrastive = nt_xent(self.head(means[0]), self.head(means[1]), self.config.temperature).mean()
        out["loss"] = out["loss"] + self.config.contrastive_weight * contrastive
        out["contrastive"] = contrastive
        return out
