"""Dedicated restoration networks: denoiser, inpainter, super-resolver and colouriser.

Each is a fully convolutional residual UNet (:class:`latentforge.nn.unet.UNet`) trained on clean images that it
degrades itself on the fly with the operators of :mod:`latentforge.nn.degradations` (noise, masks,
area downsampling, greying), minimising the pixel MSE of its restoration, so PSNR is what it optimises. The
degradation's parameters (σ, the mask, the factor) are input channels, so one model serves every level:

- ``denoiser``: DnCNN's residual learning (Zhang et al., 2017) with FFDNet's noise-level map as an input
  (Zhang et al., 2018); Gaussian noise of a random σ, optionally mixed with salt-and-pepper noise.
- ``inpainter``: the masked image and its mask as inputs (as in Pathak et al., 2016; Liu et al., 2018), trained
  on boxes, random pixels and free-form strokes (Yu et al., 2019); known pixels are copied to the output.
- ``super-resolver``: VDSR's recipe (Kim et al., 2016): a residual on the bicubic upscaling, one network for
  ×2 and ×4 with the factor as an input map.
- ``colorizer`` (RGB data): the grey image in, colour out (Zhang et al., 2016, predict what the grey image
  lacks); the output keeps the input as its luma (the chroma is scaled back where it would leave [0, 1]), so
  only the colour is invented.

Restorers declare the ``restore`` capability only: they do not sample, encode or give likelihoods.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..metrics.reconstruction import mse_per_image, psnr
from ..nn.degradations import gaussian_noise, random_training_masks, salt_and_pepper, to_grey, with_luma
from ..nn.unet import UNet
from ..validation import MAX_DEPTH, MAX_WIDTH, Limit, at_least, fraction
from .base import GenerativeModel, ModelConfig
from .capabilities import Capability
from .registry import register


@dataclasses.dataclass
class RestorerConfig(ModelConfig):
    width: int = 32  # channels at full resolution; doubles per level up to 4×
    levels: int = 2  # stride-2 levels (image sides must be multiples of 2**levels; other sizes are padded)
    blocks: int = 2  # residual blocks per level, on the way down and on the way up
    # > 1: the UNet runs on the s×s sub-images of a pixel unshuffle (FFDNet, Zhang et al. 2018), s² times fewer
    # positions at full resolution for the same width: what makes a photo denoiser fast.
    unshuffle: int = 1

    limits: ClassVar[dict[str, Limit]] = {
        "width": at_least(1, MAX_WIDTH), "levels": at_least(1, 8), "blocks": at_least(0, MAX_DEPTH),
        "unshuffle": at_least(1, 8),
    }

    def training_multiple(self) -> int:
        """What the sides of training images must be multiples of (restoring pads images of any size)."""
        return 2 ** self.levels * self.unshuffle

    def check_image_shape(self, shape):
        super().check_image_shape(shape)
        multiple = self.training_multiple()
        if any(side % multiple for side in shape[1:]):
            raise ConfigError(f"This restorer ({self.levels} levels, unshuffle {self.unshuffle}"
                              f"{self.factors_note()}) trains on images whose sides are multiples of {multiple}, got "
                              f"{shape[1]}×{shape[2]}; set data.crop_size or image_size, or use fewer levels (whole "
                              "images of any size are padded when restored).")

    def factors_note(self) -> str:
        return ""


class Restorer(GenerativeModel):
    """Base: a UNet from ``input_channels`` to ``output_channels``; subclasses define a random degradation
    (:meth:`degrade_and_restore`, used in training and evaluation) and their public restoring method."""

    capabilities = frozenset({Capability.RESTORE})
    task: ClassVar[str] = ""

    def __init__(self, config: RestorerConfig):
        super().__init__(config)
        c, s = self.image_shape[0], config.unshuffle
        self.net = UNet(self.input_channels(c) * s * s, self.output_channels(c) * s * s, config.width, config.levels,
                        config.blocks)

    def input_channels(self, c: int) -> int:
        return c

    def output_channels(self, c: int) -> int:
        return c

    @property
    def size_multiple(self) -> int:
        return self.net.size_multiple * self.config.unshuffle

    def run_net(self, x: torch.Tensor) -> torch.Tensor:
        """The UNet at full resolution, or on the sub-images of a pixel unshuffle."""
        s = self.config.unshuffle
        return self.net(x) if s == 1 else F.pixel_shuffle(self.net(F.pixel_unshuffle(x, s)), s)

    def degrade_and_restore(self, x: torch.Tensor) -> torch.Tensor:
        """The restoration of a random degradation of clean images ``x`` (global RNG)."""
        raise NotImplementedError

    def objective(self, batch, step=0, player="main"):
        x, _ = batch
        mse = mse_per_image(self.degrade_and_restore(x), x)
        return {"loss": mse.mean(), "mse": mse.mean().detach()}

    def evaluate_batch(self, batch):
        x, _ = batch
        restored = self.degrade_and_restore(x).clamp(0, 1)
        return {"restore_mse": mse_per_image(restored, x), "restore_psnr": psnr(restored, x)}


def _level_map(values: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """An N×1×H×W map holding one value per image (a float applies to all)."""
    n, _, h, w = like.shape
    values = torch.as_tensor(values, dtype=like.dtype, device=like.device).reshape(-1)
    if values.numel() not in (1, n):
        raise ConfigError(f"Expected one level per image ({n}) or one for all, got {values.numel()}.")
    return values.expand(n).view(n, 1, 1, 1).expand(n, 1, h, w)


# -- denoising ------------------------------------------------------------------------------------------
@dataclasses.dataclass
class DenoiserConfig(RestorerConfig):
    sigma_range: tuple[float, float] = (0.0, 75 / 255)  # training σ drawn uniformly in this range ([0, 1] scale)
    salt_pepper: float = 0.0  # > 0: half the training images also get salt-and-pepper noise up to this fraction
    noise_map: bool = True  # give the network σ (and the salt-and-pepper amount) as input maps (FFDNet)

    limits: ClassVar[dict[str, Limit]] = {"sigma_range": fraction(), "salt_pepper": fraction()}

    def validate(self) -> None:
        super().validate()
        low, high = self.sigma_range
        if low > high:
            raise ConfigError(f"sigma_range must be (low, high) with low ≤ high, got {tuple(self.sigma_range)}.")


@register("denoiser")
class Denoiser(Restorer):
    config_class = DenoiserConfig
    task = "denoise"

    def input_channels(self, c):
        return c + (1 + (self.config.salt_pepper > 0)) * self.config.noise_map

    def denoise(self, noisy: torch.Tensor, sigma: torch.Tensor | float, amount: torch.Tensor | float = 0.0
                ) -> torch.Tensor:
        """Clean estimates of ``noisy`` images (N×C×H×W in [0, 1]) with Gaussian noise of std ``sigma`` (one
        per image or one for all, [0, 1] scale) and a salt-and-pepper ``amount`` (a fraction of pixels)."""
        inputs = [noisy]
        if self.config.noise_map:
            inputs.append(_level_map(sigma, noisy))
            if self.config.salt_pepper > 0:
                inputs.append(_level_map(amount, noisy))
        return noisy + self.run_net(torch.cat(inputs, 1))

    def degrade_and_restore(self, x):
        noisy, sigma = gaussian_noise(x, tuple(self.config.sigma_range))
        amount = torch.zeros_like(sigma)
        if self.config.salt_pepper > 0:
            n = x.shape[0]
            amount = torch.where(torch.rand(n) < 0.5, self.config.salt_pepper * torch.rand(n), amount)
            noisy = salt_and_pepper(noisy, amount)
        return self.denoise(noisy, sigma.to(x.device), amount.to(x.device))


# -- inpainting -----------------------------------------------------------------------------------------
@dataclasses.dataclass
class InpainterConfig(RestorerConfig):
    box_sides: tuple[float, float] = (0.2, 0.6)  # random boxes' sides, as fractions of the image's
    missing_range: tuple[float, float] = (0.1, 0.9)  # random-pixel masks: fraction missing, drawn in this range
    strokes: int = 4  # free-form masks: random walks of thick lines per image

    limits: ClassVar[dict[str, Limit]] = {"box_sides": fraction(), "missing_range": fraction(),
                                          "strokes": at_least(1, 64)}


@register("inpainter")
class Inpainter(Restorer):
    config_class = InpainterConfig
    task = "inpaint"

    def input_channels(self, c):
        return c + 1

    def inpaint(self, images: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """``images`` (N×C×H×W) with the pixels where the boolean ``known`` (N×1×H×W or 1×1×H×W) is False
        filled in; known pixels are returned exactly as given."""
        keep = known.to(images.dtype).expand(images.shape[0], 1, *images.shape[2:])
        filled = self.run_net(torch.cat([images * keep, keep], 1)).add(images * keep).clamp(0, 1)
        return torch.where(keep.bool(), images, filled)

    def degrade_and_restore(self, x):
        c = self.config
        known = random_training_masks(x.shape[0], *x.shape[2:], box_sides=c.box_sides, missing_range=c.missing_range,
                                      strokes=c.strokes)
        return self.inpaint(x, known.to(x.device))


# -- super-resolution -----------------------------------------------------------------------------------
@dataclasses.dataclass
class SuperResolverConfig(RestorerConfig):
    factors: tuple[int, ...] = (2, 4)  # the upscaling factors it learns (each training batch draws one)

    limits: ClassVar[dict[str, Limit]] = {"factors": at_least(2, 4)}

    def validate(self) -> None:
        super().validate()
        if not self.factors or any(f not in (2, 4) for f in self.factors):
            raise ConfigError(f"factors must be a non-empty list of 2 and/or 4, got {list(self.factors)}.")

    def training_multiple(self) -> int:
        return math.lcm(super().training_multiple(), max(self.factors))

    def factors_note(self) -> str:
        return f", ×{max(self.factors)}"


@register("super-resolver")
class SuperResolver(Restorer):
    config_class = SuperResolverConfig
    task = "upscale"

    def input_channels(self, c):
        return c + 1

    def upscale(self, low: torch.Tensor, factor: int) -> torch.Tensor:
        """``low`` (N×C×h×w in [0, 1]) upscaled ×``factor`` to N×C×(h·factor)×(w·factor)."""
        if factor not in self.config.factors:
            raise ConfigError(f"This super-resolver was trained for ×{', ×'.join(map(str, self.config.factors))}, "
                              f"not ×{factor}.")
        up = F.interpolate(low, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)
        return up + self.run_net(torch.cat([up, _level_map(factor / 4, up)], 1))

    def degrade_and_restore(self, x):
        factors = self.config.factors
        factor = factors[int(torch.randint(len(factors), (1,)))]
        return self.upscale(F.avg_pool2d(x, factor), factor)


# -- colourisation --------------------------------------------------------------------------------------
@dataclasses.dataclass
class ColorizerConfig(RestorerConfig):
    image_shape: tuple[int, ...] | None = (3, 32, 32)

    def check_image_shape(self, shape):
        super().check_image_shape(shape)
        if shape[0] != 3:
            raise ConfigError(f"A colorizer learns colour, so it trains on RGB images; got image_shape {shape}. "
                              "Use a colour data set (e.g. cifar10).")


@register("colorizer")
class Colorizer(Restorer):
    config_class = ColorizerConfig
    task = "colorize"

    def input_channels(self, c):
        return 1

    def colorize(self, grey: torch.Tensor) -> torch.Tensor:
        """RGB images N×3×H×W in [0, 1] whose luma is ``grey`` (N×1×H×W in [0, 1])."""
        return with_luma(grey.expand(-1, 3, -1, -1) + self.run_net(grey), grey)

    def degrade_and_restore(self, x):
        return self.colorize(to_grey(x))
