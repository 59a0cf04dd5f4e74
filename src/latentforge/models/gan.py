"""GANs: the shared adversarial model and DCGAN.

DCGAN (Radford et al., 2016): conv generator with batch norm and ReLU, conv discriminator with batch norm
and LeakyReLU, Adam with β₁ = 0.5, trained with the non-saturating loss (Goodfellow et al., 2014). All
GAN families here share this class and differ in their config: the loss, the discriminator's norm, the
number of critic steps, a gradient penalty, conditioning. Common to all of them:

- two players with their own Adam optimisers and learning rates (``d_lr``, ``g_lr``; unequal rates give
  the two time-scale update rule of Heusel et al., 2017). The defaults are each paper's: 2e-4 for both
  with β₁ = 0.5 (DCGAN; SNGAN's setting C), 1e-4 with betas (0, 0.9) for WGAN-GP. TTUR's 4e-4/1e-4
  let the batch-norm discriminator of DCGAN win outright on Fashion-MNIST within an epoch (its loss
  fell to 0.04 and the samples collapsed to tops), so it is not the default;
- an exponential moving average of the generator's weights (Yazıcı et al., 2019), updated after every
  generator step, used by ``sample`` and saved with the model;
- optional DiffAugment (Zhao et al., 2020) on real and generated images before the discriminator;
- two network bodies (``arch``): ``dcgan``, the strided-conv pair of :mod:`latentforge.nn.gan_blocks`, and
  ``resnet``, the residual pair of SNGAN for CIFAR-10 (:mod:`latentforge.nn.gan_resnet`).

A GAN has no encoder; ``latentforge.jobs.invert`` finds latents for images by optimisation.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import ClassVar

import torch

from ..errors import ConfigError
from ..nn.diffaugment import parse_policy
from ..nn.ema import ema_decay, update_ema
from ..nn.gan_blocks import (
    D_NORMS,
    Discriminator,
    Generator,
    discriminator_input,
    frozen,
)
from ..nn.gan_losses import get_gan_loss, gradient_penalty
from ..nn.gan_resnet import RESNET_D_NORMS, ResNetDiscriminator, ResNetGenerator
from ..validation import (
    MAX_LATENT,
    MAX_WEIGHT,
    MAX_WIDTH,
    Limit,
    above,
    at_least,
    fraction,
)
from .base import GaussianLatentModel, ModelConfig
from .capabilities import Capability
from .registry import register

ADAM_BETA = fraction(high_open=True)  # each of Adam's two betas lies in [0, 1)
ARCHS = {"dcgan": (Generator, Discriminator), "resnet": (ResNetGenerator, ResNetDiscriminator)}


def check_adam_betas(name: str, betas: tuple[float, ...]) -> None:
    if len(betas) != 2:
        raise ConfigError(f"model.{name} must be two numbers in [0, 1) (Adam's β₁ and β₂), got {list(betas)}")


@dataclasses.dataclass
class GANConfig(ModelConfig):
    latent_dim: int = 64
    arch: str = "dcgan"  # network bodies: dcgan | resnet (SNGAN's ResNet for CIFAR-10)
    channels: int = 32  # dcgan: width of G's and D's full-resolution stage, doubling per stage up to 4×;
    #                     resnet: the width of every block
    loss: str = "nonsaturating"  # nonsaturating | hinge | wasserstein
    d_norm: str = "batch"  # discriminator normalisation: batch | spectral | none
    n_critic: int = 1  # discriminator steps per generator step
    gp_weight: float = 0.0  # λ of the gradient penalty (WGAN-GP); 0 disables it
    d_lr: float = 2e-4  # Radford et al., 2016; set them unequal for TTUR (Heusel et al., 2017)
    g_lr: float = 2e-4
    betas: tuple[float, ...] = (0.5, 0.999)  # Adam betas for both players (DCGAN: β₁ = 0.5)
    ema_decay: float = 0.999  # generator weight average; 0 samples from the raw generator
    diffaugment: str = ""  # e.g. "color,translation,cutout"; empty = none

    limits: ClassVar[dict[str, Limit]] = {
        "latent_dim": at_least(1, MAX_LATENT), "channels": at_least(1, MAX_WIDTH), "n_critic": at_least(1, 1000),
        "gp_weight": at_least(0, MAX_WEIGHT), "d_lr": above(0, 10), "g_lr": above(0, 10),
        "betas": ADAM_BETA, "ema_decay": fraction(high_open=True),
    }

    def validate(self) -> None:
        super().validate()
        get_gan_loss(self.loss)
        parse_policy(self.diffaugment)
        if self.arch not in ARCHS:
            raise ConfigError(f"Unknown GAN arch {self.arch!r}; choose one of {sorted(ARCHS)}.")
        if self.d_norm not in D_NORMS:
            raise ConfigError(f"Unknown d_norm {self.d_norm!r}; choose one of {D_NORMS}.")
        if self.arch == "resnet" and self.d_norm not in RESNET_D_NORMS:
            raise ConfigError(f"The resnet discriminator takes d_norm {RESNET_D_NORMS}, got {self.d_norm!r}; "
                              "batch norm is the dcgan discriminator's (arch: dcgan).")
        if self.gp_weight > 0 and self.d_norm == "batch":
            raise ConfigError("The gradient penalty is per example, which batch norm in the discriminator breaks "
                              "(Gulrajani et al., 2017, §4); use d_norm 'none' or 'spectral'.")
        check_adam_betas("betas", self.betas)


class GAN(GaussianLatentModel):
    """Generator + discriminator trained adversarially; the per-family behaviour comes from the config."""

    config_class = GANConfig
    capabilities = frozenset({Capability.GENERATE})
    players = ("discriminator", "generator")

    def __init__(self, config: GANConfig):
        super().__init__(config)
        shape = tuple(config.image_shape)
        classes = self.num_classes
        generator, discriminator = ARCHS[config.arch]
        self.generator = generator(shape, config.latent_dim, config.channels, classes)
        self.discriminator = discriminator(shape, config.channels, config.d_norm, classes)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False).eval()
        self.adversarial = get_gan_loss(config.loss)
        self.augmentations = parse_policy(config.diffaugment)

    # -- what subclasses change ------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Classes the networks are conditioned on; 0 for unconditional GANs."""
        return 0

    def train(self, mode: bool = True):
        super().train(mode)
        self.generator_ema.eval()  # the average is only ever used for inference
        return self

    # -- players ----------------------------------------------------------------------------------
    def player_parameters(self, player: str):
        return self._player(player).parameters()

    def optimizer_settings(self, player: str) -> dict:
        self._player(player)  # rejects unknown players
        lr = self.config.d_lr if player == "discriminator" else self.config.g_lr
        return {"lr": lr, "betas": tuple(self.config.betas)}

    def _player(self, player: str) -> torch.nn.Module:
        if player == "discriminator":
            return self.discriminator
        self.check_player(player)
        return self.generator

    def trains_generator(self, step: int) -> bool:
        """One generator step after every ``n_critic`` discriminator steps."""
        return step % self.config.n_critic == self.config.n_critic - 1

    # -- training --------------------------------------------------------------------------------
    def discriminator_input(self, x: torch.Tensor) -> torch.Tensor:
        return discriminator_input(x, self.augmentations)

    def _conditioning_labels(self, y: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """The labels both players condition on: the real batch's (fakes are drawn for the same classes),
        none for unconditional GANs."""
        return None

    def objective(self, batch, step: int = 0, player: str = "main"):
        x, y = batch
        self.check_player(player)
        y = self._conditioning_labels(y, x.shape[0])
        if player == "discriminator":
            return self._discriminator_objective(x, y)
        return self._generator_objective(x.shape[0], y) if self.trains_generator(step) else None

    def _discriminator_objective(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self.generator(self.prior_sample(x.shape[0]), y)
        real_in, fake_in = self.discriminator_input(x), self.discriminator_input(fake)
        real, fake_scores = self.discriminator(real_in, y), self.discriminator(fake_in, y)
        adv = self.adversarial.discriminator(real, fake_scores).mean()
        out = {"loss": adv, "adv": adv, "real_score": real.detach().mean(), "fake_score": fake_scores.detach().mean()}
        if self.config.gp_weight:
            gp = gradient_penalty(self.discriminator, real_in, fake_in, y).mean()
            out["gp"] = gp
            out["loss"] = adv + self.config.gp_weight * gp
        return out

    def _generator_objective(self, n: int, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        fake = self.generator(self.prior_sample(n), y)
        with frozen(self.discriminator):
            scores = self.discriminator(self.discriminator_input(fake), y)
        loss = self.adversarial.generator(scores).mean()
        return {"loss": loss, "fake_score": scores.detach().mean()}

    def after_step(self, step: int) -> None:
        if self.trains_generator(step):
            updates = step // self.config.n_critic
            update_ema(self.generator_ema, self.generator, ema_decay(self.config.ema_decay, updates))

    # -- inference -------------------------------------------------------------------------------
    def generate_from_latent(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The averaged generator's image for each latent (differentiable in ``z``)."""
        return self.generator_ema(z, self._check_labels(labels, z.shape[0]))

    def _check_labels(self, labels, n: int) -> torch.Tensor | None:
        if labels is not None:
            raise ConfigError(f"{self.name} is not class-conditional; sample without labels (try cgan).")
        return None

    def sample_labels(self, n: int, labels=None, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """The labels ``sample`` conditions on: none for unconditional GANs."""
        return self._check_labels(labels, n)

    @torch.no_grad()
    def sample(self, n, *, labels=None, temperature=1.0, generator=None):
        z = self.prior_sample(n, temperature, generator)
        return self.generate_from_latent(z, self.sample_labels(n, labels, generator))

    @torch.no_grad()
    def evaluate_batch(self, batch):
        """Cheap per-image figures on test images: the discriminator's scores for them and for as many
        samples of the averaged generator, and its loss on the pair. Not a quality measure on its own."""
        x, y = batch
        y = self._conditioning_labels(y, x.shape[0])
        real = self.discriminator(x * 2 - 1, y)
        fake = self.discriminator(self.generate_from_latent(self.prior_sample(x.shape[0]), y) * 2 - 1, y)
        return {"d_loss": self.adversarial.discriminator(real, fake), "d_real": real, "d_fake": fake}


@register("dcgan")
class DCGAN(GAN):
    """DCGAN with the non-saturating loss and the paper's Adam settings (lr 2e-4, β₁ = 0.5; the GANConfig defaults)."""


__all__ = ["DCGAN", "GAN", "GANConfig"]
