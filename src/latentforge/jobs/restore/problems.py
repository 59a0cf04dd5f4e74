"""Restoration problems: what was observed and how it was degraded, written once for every solver.

A problem holds the observed images ``y`` (N×C×h×w floats in [0, 1]) and the forward operator A of the
degradation (the clean image x, at the output size, is seen as y = A(x) + noise): identity for noise, the
known-pixel mask for inpainting, area downsampling for super-resolution, the BT.601 luma for colourisation.
A dedicated model is given the observation the way it was trained (:meth:`Problem.model_input`,
:meth:`Problem.run_model`); projection onto a generative model (``solvers.py``) fits A(G(z)) to y, starting
from :meth:`Problem.first_guess`; every solver's estimate goes through :meth:`Problem.finish`, which puts
back what the observation fixes exactly (known pixels, the luma).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F

from ...data import to_float
from ...errors import ConfigError, DataError
from ...models import SupportsColorizing, SupportsDenoising, SupportsInpainting, SupportsUpscaling
from ...nn import degradations as ops


def check_observed(images: torch.Tensor, what: str = "image") -> torch.Tensor:
    """N×C×H×W (or C×H×W) floats in [0, 1] (uint8 is converted), finite, with 1 or 3 channels."""
    if not isinstance(images, torch.Tensor) or images.ndim not in (3, 4) or 0 in images.shape:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise DataError(f"Expected the {what} as C×H×W or N×C×H×W, got {shape}.")
    images = to_float(images.reshape(-1, *images.shape[-3:]))
    if images.shape[1] not in (1, 3):
        raise DataError(f"The {what} has {images.shape[1]} channels; give a grey (1) or RGB (3) image.")
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise DataError(f"The {what} must hold finite values in [0, 1] (or uint8); rescale it first.")
    return images


class Problem:
    """Observed images and their degradation (base: nothing lost)."""

    task: ClassVar[str] = ""
    ability: ClassVar[type] = object  # the Protocol of a dedicated model that solves this task
    scale = 1  # output side / observed side

    def __init__(self, observed: torch.Tensor):
        self.observed = check_observed(observed)

    def output_channels(self) -> int:
        return self.observed.shape[1]

    def observed_channels(self, model_channels: int) -> int:
        """The channels of the observation a dedicated model of ``model_channels`` channels takes."""
        return model_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A(x): what clean images ``x`` (output size) look like once observed; differentiable."""
        return x

    def first_guess(self) -> torch.Tensor:
        """A simple estimate of the clean images at the output size (projection starts from its latent)."""
        return self.observed

    def finish(self, estimate: torch.Tensor) -> torch.Tensor:
        """The estimate in [0, 1] with what the observation fixes exactly put back."""
        return estimate.clamp(0, 1)

    def model_input(self) -> torch.Tensor:
        """What a dedicated model's whole-image pass tiles: the observation (and any maps it needs)."""
        return self.observed

    def run_model(self, model, tile: torch.Tensor) -> torch.Tensor:
        """A dedicated model's output for one tile of :meth:`model_input`."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"task": self.task}

    def to(self, device: torch.device) -> Problem:
        self.observed = self.observed.to(device)
        return self


class Noisy(Problem):
    """Gaussian noise of std ``sigma`` ([0, 1] scale; None: estimated from each image)."""

    task, ability = "denoise", SupportsDenoising

    def __init__(self, observed: torch.Tensor, sigma: float | None = None):
        super().__init__(observed)
        if sigma is None:
            self.sigma, self.sigma_estimated = ops.estimate_sigma(self.observed), True
        else:
            if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) \
                    or not 0 <= sigma <= 1:
                raise ConfigError(f"The noise level σ must be a number in [0, 1] on the [0, 1] pixel scale (σ = 25 "
                                  f"on the 0–255 scale is 25/255 ≈ 0.098); got {sigma!r}.")
            self.sigma, self.sigma_estimated = torch.full((self.observed.shape[0],), float(sigma)), False

    def run_model(self, model, tile):
        return model.denoise(tile, self.sigma.to(tile))

    def describe(self):
        return {"task": self.task, "sigma_255": [round(float(s) * 255, 2) for s in self.sigma],
                "sigma_estimated": self.sigma_estimated}

    def to(self, device):
        self.sigma = self.sigma.to(device)
        return super().to(device)


class Masked(Problem):
    """Pixels missing where the boolean ``known`` mask (N×1×H×W or 1×1×H×W) is False; known pixels are kept
    exactly in every output."""

    task, ability = "inpaint", SupportsInpainting

    def __init__(self, observed: torch.Tensor, known: torch.Tensor):
        super().__init__(observed)
        n, _, h, w = self.observed.shape
        if not isinstance(known, torch.Tensor) or known.dtype != torch.bool or known.ndim != 4 \
                or known.shape[1] != 1 or tuple(known.shape[2:]) != (h, w) or known.shape[0] not in (1, n):
            got = f"{known.dtype} {tuple(known.shape)}" if isinstance(known, torch.Tensor) else type(known).__name__
            raise DataError(f"An inpainting mask for {n} image(s) of {w}×{h} is a boolean N×1×{h}×{w} or 1×1×{h}×{w} "
                            f"tensor (True = known), got {got}.")
        if known.all():
            raise DataError("The mask marks every pixel as known: there is nothing to inpaint. Mark the pixels to "
                            "fill as missing (white in a mask file).")
        if not known.flatten(1).any(1).all():
            raise DataError("The mask marks every pixel of an image as missing; inpainting needs some known pixels.")
        self.known = known.expand(n, 1, h, w).to(self.observed.device)

    def forward(self, x):
        return x * self.known.to(x.dtype)

    def first_guess(self):
        """Missing pixels set to the mean of each image's known pixels."""
        keep = self.known.to(self.observed.dtype)
        mean = (self.observed * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True)
        return torch.where(self.known, self.observed, mean.expand_as(self.observed))

    def finish(self, estimate):
        return torch.where(self.known, self.observed, estimate.clamp(0, 1))

    def model_input(self):
        return torch.cat([self.observed, self.known.to(self.observed.dtype)], 1)

    def run_model(self, model, tile):
        return model.inpaint(tile[:, :-1], tile[:, -1:] > 0.5)

    def describe(self):
        return {"task": self.task, "missing_fraction": round(float((~self.known).float().mean()), 6)}

    def to(self, device):
        self.known = self.known.to(device)
        return super().to(device)


class LowResolution(Problem):
    """Images area-downsampled by ``factor`` (2 or 4); the output is ``factor`` times larger."""

    task, ability = "upscale", SupportsUpscaling

    def __init__(self, observed: torch.Tensor, factor: int):
        super().__init__(observed)
        self.factor = ops.check_factor(factor)
        self.scale = self.factor

    def forward(self, x):
        return ops.downsample(x, self.factor)

    def first_guess(self):
        return F.interpolate(self.observed, scale_factor=self.factor, mode="bicubic", align_corners=False).clamp(0, 1)

    def run_model(self, model, tile):
        return model.upscale(tile, self.factor)

    def describe(self):
        return {"task": self.task, "factor": self.factor}


class Grey(Problem):
    """Grey images (RGB input is greyed first) to colour; every output's BT.601 luma equals the input."""

    task, ability = "colorize", SupportsColorizing

    def __init__(self, observed: torch.Tensor):
        observed = check_observed(observed)
        super().__init__(ops.to_grey(observed) if observed.shape[1] == 3 else observed)

    def output_channels(self):
        return 3

    def observed_channels(self, model_channels):
        return 1

    def forward(self, x):
        return ops.to_grey(x)

    def first_guess(self):
        return self.observed.expand(-1, 3, -1, -1)

    def finish(self, estimate):
        return ops.with_luma(estimate.clamp(0, 1), self.observed)

    def run_model(self, model, tile):
        return model.colorize(tile)
