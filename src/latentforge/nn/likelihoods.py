"""Pixel likelihoods p(x|z) whose log-probabilities are honest: in nats over the data the model sees.

- ``bernoulli``: for binary or binarised data (MNIST protocol); on grey levels it is the usual
  cross-entropy surrogate, not a likelihood of 8-bit data.
- ``logistic``: discretised logistic over 256 levels (Salimans et al., 2017, PixelCNN++), a proper
  probability mass for 8-bit images.
- ``gaussian``: discretised Gaussian over 256 levels, the same construction with a normal CDF.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import ConfigError

BIN_HALF_WIDTH = 1.0 / 255.0  # half a bin on the [-1, 1] scale of 256 levels
MIN_LOG_SCALE = -7.0


class PixelLikelihood:
    """Turns decoder output maps into log p(x|params) per image, a mean image and samples."""

    name: str = ""
    params_per_channel: int = 1

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | params) summed over pixels: shape N."""
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The image the decoder predicts, in [0, 1]."""
        raise NotImplementedError

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError


class Bernoulli(PixelLikelihood):
    name = "bernoulli"

    def log_prob(self, params, x):
        return -F.binary_cross_entropy_with_logits(params, x, reduction="none").flatten(1).sum(1)

    def mean(self, params):
        return torch.sigmoid(params)

    def sample(self, params, generator=None):
        return torch.bernoulli(torch.sigmoid(params), generator=generator)


class Discretized(PixelLikelihood):
    """A location-scale family discretised into 256 bins on [-1, 1], edge bins open to ±∞."""

    params_per_channel = 2

    def __init__(self, log_cdf: Callable, log_pdf: Callable, icdf: Callable):
        self._log_cdf, self._log_pdf, self._icdf = log_cdf, log_pdf, icdf

    def _split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, log_scale = params.chunk(2, dim=1)
        return loc, log_scale.clamp(min=MIN_LOG_SCALE)

    def log_prob(self, params, x):
        loc, log_scale = self._split(params)
        x = x * 2 - 1
        inv_scale = torch.exp(-log_scale)
        upper = inv_scale * (x - loc + BIN_HALF_WIDTH)
        lower = inv_scale * (x - loc - BIN_HALF_WIDTH)
        log_cdf_upper = self._log_cdf(upper)
        log_sf_lower = self._log_cdf(-lower)  # symmetric families: 1 - F(t) = F(-t)
        # Bin mass F(upper) - F(lower), computed on the side of the median where it does not cancel:
        # log F(u) + log(1 - F(l)/F(u)) left of the centre, log S(l) + log(1 - S(u)/S(l)) right of it.
        left = upper + lower < 0
        big = torch.where(left, log_cdf_upper, log_sf_lower)
        small = torch.where(left, self._log_cdf(lower), self._log_cdf(-upper))
        log_mass = big + torch.log(-torch.expm1((small - big).clamp(max=-1e-30)))
        # Where the mass underflows, the density at the bin centre times its width is exact enough.
        log_mid = self._log_pdf(inv_scale * (x - loc)) - log_scale + math.log(2 * BIN_HALF_WIDTH)
        log_mass = torch.where(log_mass > -30, log_mass, log_mid)
        out = torch.where(x < -0.999, log_cdf_upper, torch.where(x > 0.999, log_sf_lower, log_mass))
        return out.flatten(1).sum(1)

    def mean(self, params):
        loc, _ = self._split(params)
        return ((loc.clamp(-1, 1) + 1) / 2)

    def sample(self, params, generator=None):
        loc, log_scale = self._split(params)
        u = torch.rand(loc.shape, generator=generator, dtype=loc.dtype, device=loc.device).clamp(1e-5, 1 - 1e-5)
        x = loc + torch.exp(log_scale) * self._icdf(u)
        return torch.round((x.clamp(-1, 1) + 1) / 2 * 255) / 255


def _logistic() -> Discretized:
    d = Discretized(
        log_cdf=F.logsigmoid,
        log_pdf=lambda t: -t - 2 * F.softplus(-t),
        icdf=lambda u: torch.log(u) - torch.log1p(-u),
    )
    d.name = "logistic"
    return d


def _gaussian() -> Discretized:
    d = Discretized(
        log_cdf=torch.special.log_ndtr,
        log_pdf=lambda t: -0.5 * t**2 - 0.5 * math.log(2 * math.pi),
        icdf=torch.special.ndtri,
    )
    d.name = "gaussian"
    return d


LIKELIHOODS: dict[str, Callable[[], PixelLikelihood]] = {
    "bernoulli": Bernoulli,
    "logistic": _logistic,
    "gaussian": _gaussian,
}


def get_likelihood(name: str) -> PixelLikelihood:
    try:
        return LIKELIHOODS[name]()
    except KeyError:
        raise ConfigError(f"Unknown likelihood {name!r}; choose one of {sorted(LIKELIHOODS)}.") from None
