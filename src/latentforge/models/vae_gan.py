"""VAE-GAN, simplified from Larsen et al. (2016): the conv VAE's ELBO plus λ times an adversarial loss on
its decoder's outputs, so a user can trade likelihood for sharpness with one number.

The discriminator (spectrally normalised, Miyato et al., 2018) sees real images against reconstructions
Dec(z ~ q(z|x)) and prior samples Dec(z ~ N(0, I)), the two kinds of fakes of Larsen et al. (2016).
Unlike the paper, the reconstruction term stays the pixel likelihood (not a discriminator-feature
likelihood), so the ELBO, importance-sampled likelihood and every VAE job keep their meaning; with
``adversarial_weight = 0`` the VAE half optimises exactly the ``vae`` objective. The VAE (encoder +
decoder) is the "generator" player and uses the training config's learning rate; the discriminator has
its own.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import ClassVar

import torch

from ..nn.diffaugment import parse_policy
from ..nn.gan_blocks import Discriminator, discriminator_input, frozen
from ..nn.gan_losses import get_gan_loss
from ..validation import MAX_WEIGHT, MAX_WIDTH, Limit, above, at_least
from .gan import ADAM_BETA, check_adam_betas
from .registry import register
from .vae import VAE, VAEConfig


@dataclasses.dataclass
class VAEGANConfig(VAEConfig):
    # λ, relative to the ELBO in nats per image; 0 gives the plain VAE.
    adversarial_weight: float = 10.0
    adversarial_loss: str = "nonsaturating"  # nonsaturating | hinge | wasserstein
    d_channels: int = 16  # discriminator width at full resolution
    d_lr: float = 4e-4
    d_betas: tuple[float, ...] = (0.5, 0.999)
    diffaugment: str = ""

    limits: ClassVar[dict[str, Limit]] = {
        "adversarial_weight": at_least(0, MAX_WEIGHT), "d_channels": at_least(1, MAX_WIDTH), "d_lr": above(0, 10),
        "d_betas": ADAM_BETA,
    }

    def validate(self) -> None:
        super().validate()
        get_gan_loss(self.adversarial_loss)
        parse_policy(self.diffaugment)
        check_adam_betas("d_betas", self.d_betas)


@register("vae-gan")
class VAEGAN(VAE):
    config_class = VAEGANConfig
    players = ("discriminator", "generator")

    def __init__(self, config: VAEGANConfig):
        super().__init__(config)
        self.discriminator = Discriminator(tuple(config.image_shape), config.d_channels, "spectral")
        self.adversarial = get_gan_loss(config.adversarial_loss)
        self.augmentations = parse_policy(config.diffaugment)

    def player_parameters(self, player: str):
        if player == "discriminator":
            return self.discriminator.parameters()
        self.check_player(player)
        return itertools.chain(self.encoder.parameters(), self.decoder.parameters())

    def optimizer_settings(self, player: str) -> dict:
        if player == "discriminator":
            return {"lr": self.config.d_lr, "betas": tuple(self.config.d_betas)}
        return {}

    def _score(self, images: torch.Tensor) -> torch.Tensor:
        return self.discriminator(discriminator_input(images, self.augmentations))

    def _fakes(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstructions Dec(z ~ q(z|x)) and prior samples Dec(z ~ p(z)), as images in [0, 1]."""
        rec = self.likelihood.mean(self.likelihood_params(self.posterior(batch).rsample(), batch))
        return rec, self.decode(self.prior_sample(batch[0].shape[0], 1.0, None))

    def objective(self, batch, step: int = 0, player: str = "main"):
        self.check_player(player)
        if player == "discriminator":
            with torch.no_grad():
                rec, prior = self._fakes(batch)
            real = self._score(batch[0])
            # Real images against both kinds of fake, each with half the weight.
            loss = 0.5 * (self.adversarial.discriminator(real, self._score(rec))
                          + self.adversarial.discriminator(real, self._score(prior))).mean()
            return {"loss": loss, "real_score": real.detach().mean()}
        out = super().objective(batch, step)  # the VAE's loss (warm-up, free bits) and ELBO parts, unchanged
        if not self.config.adversarial_weight:
            return out
        rec, prior = self._fakes(batch)  # a second posterior sample: the VAE's objective keeps its own
        with frozen(self.discriminator):
            adv = 0.5 * (self.adversarial.generator(self._score(rec)) + self.adversarial.generator(self._score(prior)))
        adv = adv.mean()
        return {**out, "loss": out["loss"] + self.config.adversarial_weight * adv, "adv": adv}
