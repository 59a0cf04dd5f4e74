"""What a model can do: the typed capabilities and the Protocols for its optional abilities.

A capability names a job the model serves (``require_capability`` is the one check); an optional ability
that a job or an evaluation loop uses when present is a runtime-checkable Protocol, found with
``isinstance`` rather than ``hasattr``.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from ..errors import ConfigError

if TYPE_CHECKING:
    from .base import GenerativeModel

Batch = tuple[torch.Tensor, "torch.Tensor | None"]


class Capability(str, enum.Enum):
    """A job a model serves; the string values are what saved JSON and ``info`` show."""

    GENERATE = "generate"
    RECONSTRUCT = "reconstruct"
    EDIT = "edit"
    REPRESENT = "represent"
    LIKELIHOOD = "likelihood"
    RESTORE = "restore"

    def __str__(self) -> str:
        return self.value


@runtime_checkable
class SupportsImportanceWeights(Protocol):
    """Models whose negative log-likelihood can be estimated by importance sampling."""

    def log_importance_weights(self, batch: Batch, k: int) -> torch.Tensor:
        """log p(x, z_i) − log q(z_i | x) for k posterior draws per image: shape k × N."""


@runtime_checkable
class SupportsPosterior(Protocol):
    """Models with an approximate posterior q(z|x) (a distribution object) to draw latents from."""

    def posterior(self, batch: Batch) -> Any:
        """q(z | x) for a batch (x, labels), a distribution object with ``.mean`` and ``.sample()``."""


@runtime_checkable
class SupportsLatentGeneration(Protocol):
    """Generators that map a latent vector straight to an image (used to invert images into latents)."""

    def generate_from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from latents z (N × latent_dim)."""


@runtime_checkable
class SupportsContinuousCode(Protocol):
    """Codecs whose ``encode`` gives discrete codes, with a continuous pre-quantisation space that edits
    interpolate in (the VQ-VAE's z_e(x))."""

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        """The continuous code z_e(x) of images, before quantisation."""

    def decode_continuous(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from continuous codes, quantised first (so z_e(x) decodes to the reconstruction)."""


@runtime_checkable
class SupportsAnySize(Protocol):
    """Fully convolutional models: ``encode``/``decode`` take images of any height and width that are multiples
    of ``size_multiple`` (the whole-image job, ``jobs/whole_image.py``, pads other sizes and crops back)."""

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this."""


@runtime_checkable
class SupportsDenoising(Protocol):
    """Dedicated denoisers (``models/restorer.py``)."""

    def denoise(self, noisy: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        """Clean estimates of N×C×H×W images with Gaussian noise of std ``sigma`` ([0, 1] scale)."""


@runtime_checkable
class SupportsInpainting(Protocol):
    """Dedicated inpainters."""

    def inpaint(self, images: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """``images`` with the pixels where the boolean mask ``known`` (N×1×H×W) is False filled in."""


@runtime_checkable
class SupportsUpscaling(Protocol):
    """Dedicated super-resolvers."""

    def upscale(self, low: torch.Tensor, factor: int) -> torch.Tensor:
        """N×C×h×w images upscaled ×``factor``."""


@runtime_checkable
class SupportsColorizing(Protocol):
    """Dedicated colourisers."""

    def colorize(self, grey: torch.Tensor) -> torch.Tensor:
        """N×3×H×W colour images whose luma is the N×1×H×W ``grey``."""


def require_capability(model: GenerativeModel, capability: Capability) -> None:
    """Raise a ConfigError naming what the model supports when it cannot do ``capability``."""
    if capability not in model.capabilities:
        supported = ", ".join(sorted(c.value for c in model.capabilities))
        raise ConfigError(f"A {model.name} model cannot {capability.value}; it supports: {supported}.")
