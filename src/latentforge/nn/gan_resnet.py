"""The ResNet generator and discriminator of SNGAN for CIFAR-10 (Miyato et al., 2018, appendix B.4, Table 4),
also the WGAN-GP ResNet (Gulrajani et al., 2017) without its normalisation.

Generator: z → linear to 4×4×ch → one up-block per stride-2 stage (BN, ReLU, nearest ×2, conv3×3, BN, ReLU,
conv3×3; 1×1 conv shortcut on the upsampled input) → BN, ReLU, conv3×3 → tanh. At 32×32 that is the paper's
4×4 → three up-blocks. Discriminator: an "optimised" first block (conv, ReLU, conv, avg-pool; shortcut
avg-pool then 1×1 conv), down-blocks (ReLU, conv, ReLU, conv, avg-pool; shortcut 1×1 conv then avg-pool)
until twice the generator's start size, two blocks without resampling, ReLU, global sum pooling and a
linear head. Spectral norm on every discriminator weight when asked. The width ``ch`` is the same in every
block, as in the paper (G 256, D 128 there; the presets here say what they use). Given ``num_classes`` the
generator's batch norms become conditional and the discriminator adds the projection term (Miyato & Koyama,
2018), as in :mod:`latentforge.nn.gan_blocks`. Weights are initialised Xavier-uniform, gain √2 in the residual
branches and 1 in shortcuts and heads, as in the authors' Chainer code.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ConfigError
from .backbones import stage_plan
from .gan_blocks import conditional_norm, projection, projection_score

RESNET_D_NORMS = ("spectral", "none")


def _init(module: nn.Module, gain: float = 1.0) -> nn.Module:
    nn.init.xavier_uniform_(module.weight, gain)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def _conv(c_in: int, c_out: int, kernel: int = 3, gain: float = math.sqrt(2)) -> nn.Conv2d:
    return _init(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), gain)


def _square_plan(image_shape: tuple[int, int, int]) -> tuple[int, int]:
    _, h, w = image_shape
    if h != w:
        raise ConfigError(f"GAN backbones expect square images, got {h}×{w}; set data.image_size to crop them.")
    return stage_plan(h)


class GenBlock(nn.Module):
    """Pre-activation residual block that doubles the spatial size."""

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0):
        super().__init__()
        self.norm1, self.norm2 = conditional_norm(c_in, num_classes), conditional_norm(c_out, num_classes)
        self.conv1, self.conv2 = _conv(c_in, c_out), _conv(c_out, c_out)
        self.shortcut = _conv(c_in, c_out, 1, gain=1.0)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.norm1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResNetGenerator(nn.Module):
    """Latent z (N×latent_dim) [+ labels] → images N×C×H×W in [0, 1]."""

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, channels: int = 128,
                 num_classes: int = 0):
        super().__init__()
        stages, final = _square_plan(image_shape)
        self.start = (channels, final, final)
        self.fc = _init(nn.Linear(latent_dim, channels * final * final))
        self.blocks = nn.ModuleList([GenBlock(channels, channels, num_classes) for _ in range(stages)])
        self.norm = conditional_norm(channels, num_classes)
        self.out = _conv(channels, image_shape[0], gain=1.0)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], *self.start)
        for block in self.blocks:
            h = block(h, y)
        return (torch.tanh(self.out(F.relu(self.norm(h, y)))) + 1) / 2


class DisBlock(nn.Module):
    """Residual block of the discriminator, optionally halving the spatial size.

    ``first`` is the paper's optimised input block: no activation before its first conv (the input is an
    image) and a shortcut that pools before its 1×1 conv.
    """

    def __init__(self, c_in: int, c_out: int, sn: Callable[[nn.Module], nn.Module], *, down: bool,
                 first: bool = False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = sn(_conv(c_in, c_out)), sn(_conv(c_out, c_out))
        self.shortcut = sn(_conv(c_in, c_out, 1, gain=1.0)) if (c_in != c_out or down) else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x if self.first else F.relu(x))
        h = self._pool(self.conv2(F.relu(h)))
        if self.shortcut is None:
            return h + x
        skip = self.shortcut(self._pool(x)) if self.first else self._pool(self.shortcut(x))
        return h + skip


class ResNetDiscriminator(nn.Module):
    """Images in [-1, 1] (N×C×H×W) [+ labels] → one real-valued score per image."""

    def __init__(self, image_shape: tuple[int, int, int], channels: int = 128, norm: str = "spectral",
                 num_classes: int = 0):
        super().__init__()
        if norm not in RESNET_D_NORMS:
            raise ConfigError(f"The ResNet discriminator takes d_norm {RESNET_D_NORMS}, got {norm!r} "
                              "(batch norm is the DCGAN discriminator's; use arch 'dcgan' for it).")
        stages, _ = _square_plan(image_shape)
        sn = spectral_norm if norm == "spectral" else (lambda m: m)
        downs = max(stages - 1, 1)  # 32 → 16 → 8 at CIFAR-10 size, one stage above the generator's 4×4
        blocks = [DisBlock(image_shape[0], channels, sn, down=True, first=True)]
        blocks += [DisBlock(channels, channels, sn, down=True) for _ in range(downs - 1)]
        blocks += [DisBlock(channels, channels, sn, down=False) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.head = sn(_init(nn.Linear(channels, 1)))
        self.embed = projection(num_classes, channels, sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        phi = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        return projection_score(self.head, self.embed, phi, y)
