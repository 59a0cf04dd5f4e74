"""WGAN-GP (Gulrajani et al., 2017): Wasserstein critic with a per-example gradient penalty.

The critic has no batch norm (the penalty is per example), takes n_critic = 5 steps per generator step
and both players use Adam with lr 1e-4 and betas (0.0, 0.9), λ = 10 (the paper's Algorithm 1).
"""

from __future__ import annotations

import dataclasses

from .gan import GAN, GANConfig
from .registry import register


@dataclasses.dataclass
class WGANGPConfig(GANConfig):
    loss: str = "wasserstein"
    d_norm: str = "none"
    n_critic: int = 5
    gp_weight: float = 10.0
    betas: tuple[float, ...] = (0.0, 0.9)
    d_lr: float = 1e-4
    g_lr: float = 1e-4


@register("wgan-gp")
class WGANGP(GAN):
    config_class = WGANGPConfig
