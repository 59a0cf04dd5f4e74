"""Generator and discriminator bodies shared by every GAN family (and the VAE-GAN's discriminator).

Both adapt to the image size through :func:`stage_plan` like the conv autoencoder backbones
(28→14→7, 32→…→4, 64→…→4) and take 1 or 3 channels. The generator is the DCGAN body (Radford et al.,
2016): a linear layer to the smallest feature map, then stride-2 transposed convolutions with batch norm
and ReLU. Given ``num_classes`` its batch norms become conditional (de Vries et al., 2017; Miyato &
Koyama, 2018). The discriminator mirrors it with stride-2 convolutions and LeakyReLU(0.2); its
normalisation is batch norm (DCGAN), spectral norm (Miyato et al., 2018) or none (the WGAN-GP critic),
and with ``num_classes`` it adds the projection term ⟨embed(y), φ(x)⟩ (Miyato & Koyama, 2018).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ConfigError
from .backbones import stage_plan, stage_widths
from .diffaugment import diff_augment

D_NORMS = ("batch", "spectral", "none")


def projection_score(head: nn.Module, embed: nn.Module | None, phi: torch.Tensor,
                     y: torch.Tensor | None) -> torch.Tensor:
    """ψ(φ(x)) [+ ⟨V_y, φ(x)⟩ when ``embed`` is given]: one score per image from the features φ (N×D)."""
    out = head(phi).squeeze(1)
    if embed is None:
        return out
    if y is None:
        raise ConfigError("This discriminator is class-conditional: pass labels.")
    return out + (embed(y) * phi).sum(1)


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up per class: γ_y · BN(x) + β_y.

    γ starts at 1 and β at 0, so before training it is plain batch norm (de Vries et al., 2017).
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ConfigError("This generator is class-conditional: pass labels.")
        return self.gamma(y)[:, :, None, None] * self.norm(x) + self.beta(y)[:, :, None, None]


class _BatchNorm2d(nn.BatchNorm2d):
    """Batch norm with the conditional norm's call signature (labels are ignored)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)


def conditional_norm(channels: int, num_classes: int) -> nn.Module:
    """Batch norm called as ``norm(x, y)``: class-conditional given ``num_classes``, plain otherwise."""
    return ConditionalBatchNorm2d(channels, num_classes) if num_classes else _BatchNorm2d(channels)


def projection(num_classes: int, features: int, sn: Callable[[nn.Module], nn.Module]) -> nn.Module | None:
    """The class embedding V of a projection discriminator, f(x, y) = ψ(φ(x)) + ⟨V_y, φ(x)⟩ (Miyato &
    Koyama, 2018, eq. 3); None for unconditional discriminators."""
    if not num_classes:
        return None
    embed = nn.Embedding(num_classes, features)
    nn.init.normal_(embed.weight, std=0.02)  # N(0, 1) would swamp ψ without spectral norm
    return sn(embed)


class Generator(nn.Module):
    """Latent z (N×latent_dim) [+ labels] → images N×C×H×W in [0, 1]."""

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, channels: int = 32,
                 num_classes: int = 0):
        super().__init__()
        c, h, w = image_shape
        if h != w:
            raise ConfigError(f"GAN backbones expect square images, got {h}×{w}; set data.image_size to crop them.")
        stages, final = stage_plan(h)
        widths = stage_widths(channels, stages)
        self.start = (widths[-1], final, final)
        self.fc = nn.Linear(latent_dim, widths[-1] * final * final)
        self.norms = nn.ModuleList([conditional_norm(widths[-1], num_classes)])
        self.ups = nn.ModuleList()
        for i in reversed(range(stages)):
            self.ups.append(nn.ConvTranspose2d(widths[i + 1], widths[i], 4, stride=2, padding=1))
            self.norms.append(conditional_norm(widths[i], num_classes))
        self.out = nn.Conv2d(widths[0], c, 3, padding=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.norms[0](self.fc(z).view(z.shape[0], *self.start), y))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = torch.relu(norm(up(h), y))
        return (torch.tanh(self.out(h)) + 1) / 2  # tanh output (DCGAN) mapped to [0, 1]


class Discriminator(nn.Module):
    """Images in [-1, 1] (N×C×H×W) [+ labels] → one real-valued score per image (a logit or critic value)."""

    def __init__(self, image_shape: tuple[int, int, int], channels: int = 32, norm: str = "batch",
                 num_classes: int = 0):
        super().__init__()
        if norm not in D_NORMS:
            raise ConfigError(f"Unknown discriminator norm {norm!r}; choose one of {D_NORMS}.")
        c, h, w = image_shape
        if h != w:
            raise ConfigError(f"GAN backbones expect square images, got {h}×{w}; set data.image_size to crop them.")
        stages, final = stage_plan(h)
        widths = stage_widths(channels, stages)
        sn = spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = [sn(nn.Conv2d(c, widths[0], 3, padding=1)), nn.LeakyReLU(0.2)]
        for i in range(stages):
            layers.append(sn(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1)))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(widths[i + 1]))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        features = widths[-1] * final * final
        self.head = sn(nn.Linear(features, 1))
        self.embed = projection(num_classes, features, sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return projection_score(self.head, self.embed, self.features(x), y)


def discriminator_input(x: torch.Tensor, augmentations: tuple[str, ...] = ()) -> torch.Tensor:
    """Images in [0, 1] → the discriminator's [-1, 1] scale, DiffAugmented (Zhao et al., 2020) if asked."""
    x = x * 2 - 1
    return diff_augment(x, augmentations) if augmentations else x


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Build the graph without gradients for ``module``'s parameters (the other player's step).

    Autograd records which leaves need gradients while the forward pass runs, so the losses built
    inside this block never write ``.grad`` into ``module`` even though ``backward`` runs later.
    """
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)
