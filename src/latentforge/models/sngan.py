"""SNGAN (Miyato et al., 2018): spectrally normalised discriminator trained with the hinge loss
(Lim & Ye, 2017; as in Miyato et al., 2018, and Zhang et al., 2019).

Every discriminator weight is divided by its largest singular value, estimated by one power iteration
per forward pass (``torch.nn.utils.parametrizations.spectral_norm``; the iteration's u/v vectors are
buffers, saved with the model). Adam with lr 2e-4 for both players, betas (0.5, 0.999) and one D step per
G step: setting C of Miyato et al. (2018, Table 1), their best for the standard CNN. The paper's ResNet for
CIFAR-10 (``arch: resnet``) used betas (0, 0.9) and five D steps per G step instead: the preset
``gan-cifar10``.
"""

from __future__ import annotations

import dataclasses

from .gan import GAN, GANConfig
from .registry import register


@dataclasses.dataclass
class SNGANConfig(GANConfig):
    loss: str = "hinge"
    d_norm: str = "spectral"
    betas: tuple[float, ...] = (0.5, 0.999)


@register("sngan")
class SNGAN(GAN):
    config_class = SNGANConfig
