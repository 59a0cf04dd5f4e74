"""Pixel likelihoods p(x|z) whose log-probabilities are honest: in nats over the data the model sees.

- ``bernoulli``: for binary or binarised data (MNIST protocol); on grey levels it is the usual
  cross-entropy surrogate, not a likelihood of 8-bit data.
- ``logistic``: discretised logistic over 256 levels (Salimans et al., 2017, PixelCNN++), a proper
  probability mass for 8-bit images.
- ``gaussian``: discretised Gaussian over 256 levels, the same construction with a normal CDF.
- ``logistic_mixture``: a mixture of 10 discretised logistics per pixel with the channels of an RGB pixel
  coupled linearly (Salimans et al., 2017, PixelCNN++, section 2.2): the mean of green depends on red, of blue on
  red and green, so one mixture component models a pixel's colour, not three independent channels.
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

    def param_channels(self, channels: int) -> int:
        """Decoder output maps needed for images of ``channels`` channels."""
        return channels * self.params_per_channel

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
        return self.log_mass(loc, log_scale, x * 2 - 1).flatten(1).sum(1)

    def log_mass(self, loc: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Elementwise log-probability of the bin of ``x`` (on the [-1, 1] scale) under loc and log-scale."""
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
        return torch.where(x < -0.999, log_cdf_upper, torch.where(x > 0.999, log_sf_lower, log_mass))

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


class LogisticMixture(PixelLikelihood):
    """K discretised logistics per pixel; for RGB, channel c's mean is shifted by a linear function of the
    channels before it (coefficients squashed by tanh), as in PixelCNN++. Parameter maps per pixel: K mixture
    logits, then K·C means, K·C log-scales and K·C(C−1)/2 coupling coefficients."""

    name = "logistic_mixture"

    def __init__(self, components: int = 10):
        self.components = components
        self._logistic = _logistic()

    def param_channels(self, channels: int) -> int:
        return self.components * (1 + 2 * channels + channels * (channels - 1) // 2)

    def _split(self, params: torch.Tensor, channels: int):
        k = self.components
        n, _, h, w = params.shape
        logits = params[:, :k]
        rest = params[:, k:].reshape(n, k, -1, h, w)
        loc, log_scale = rest[:, :, :channels], rest[:, :, channels: 2 * channels].clamp(min=MIN_LOG_SCALE)
        coeffs = torch.tanh(rest[:, :, 2 * channels:])
        return logits, loc, log_scale, coeffs

    @staticmethod
    def _channels(params: torch.Tensor, components: int) -> int:
        per_component = params.shape[1] // components
        return {3: 1, 10: 3}.get(per_component, 0)

    def _coupled_loc(self, loc: torch.Tensor, coeffs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Means of each channel given the channels before it (x: N×1×C×H×W on the [-1, 1] scale)."""
        if loc.shape[2] == 1:
            return loc
        r, g = x[:, :, 0], x[:, :, 1]
        return torch.stack([loc[:, :, 0], loc[:, :, 1] + coeffs[:, :, 0] * r,
                            loc[:, :, 2] + coeffs[:, :, 1] * r + coeffs[:, :, 2] * g], dim=2)

    def _check(self, params: torch.Tensor, channels: int) -> None:
        if channels not in (1, 3) or params.shape[1] != self.param_channels(channels):
            raise ConfigError(f"logistic_mixture takes {self.param_channels(1)} (grey) or {self.param_channels(3)} "
                              f"(RGB) parameter maps for {self.components} components, got {params.shape[1]}.")

    def log_prob(self, params, x):
        channels = x.shape[1]
        self._check(params, channels)
        logits, loc, log_scale, coeffs = self._split(params, channels)
        x = (x * 2 - 1).unsqueeze(1)  # N×1×C×H×W
        per_channel = self._logistic.log_mass(self._coupled_loc(loc, coeffs, x), log_scale, x)
        joint = per_channel.sum(2) + F.log_softmax(logits, dim=1)  # N×K×H×W
        return torch.logsumexp(joint, dim=1).flatten(1).sum(1)

    def mean(self, params):
        """The mixture's mean image, each channel's coupling taken at the means of the channels before it (the
        logistic mean is its location; clipping at the edge bins is ignored)."""
        channels = self._channels(params, self.components)
        self._check(params, channels)
        logits, loc, _, coeffs = self._split(params, channels)
        weights = F.softmax(logits, dim=1)  # N×K×H×W

        def mix(component_means: torch.Tensor) -> torch.Tensor:
            return (weights * component_means).sum(1, keepdim=True).clamp(-1, 1)  # N×1×H×W

        means = [mix(loc[:, :, 0])]
        if channels == 3:
            means.append(mix(loc[:, :, 1] + coeffs[:, :, 0] * means[0]))
            means.append(mix(loc[:, :, 2] + coeffs[:, :, 1] * means[0] + coeffs[:, :, 2] * means[1]))
        return (torch.cat(means, dim=1) + 1) / 2

    def sample(self, params, generator=None):
        channels = self._channels(params, self.components)
        self._check(params, channels)
        logits, loc, log_scale, coeffs = self._split(params, channels)
        n, k, _, h, w = loc.shape
        u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
        pick = (logits - torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-10)))).argmax(1, keepdim=True)  # Gumbel-max
        index = pick.unsqueeze(2).expand(n, 1, loc.shape[2], h, w)
        loc, log_scale = loc.gather(1, index)[:, 0], log_scale.gather(1, index)[:, 0]
        coeffs = coeffs.gather(1, pick.unsqueeze(2).expand(n, 1, coeffs.shape[2], h, w))[:, 0]
        noise = torch.rand(loc.shape, generator=generator, dtype=loc.dtype, device=loc.device).clamp(1e-5, 1 - 1e-5)
        draws = loc + torch.exp(log_scale) * (torch.log(noise) - torch.log1p(-noise))
        x = [draws[:, 0].clamp(-1, 1)]
        if channels == 3:
            x.append((draws[:, 1] + coeffs[:, 0] * x[0]).clamp(-1, 1))
            x.append((draws[:, 2] + coeffs[:, 1] * x[0] + coeffs[:, 2] * x[1]).clamp(-1, 1))
        return torch.round((torch.stack(x, dim=1) + 1) / 2 * 255) / 255


LIKELIHOODS: dict[str, Callable[[], PixelLikelihood]] = {
    "bernoulli": Bernoulli,
    "logistic": _logistic,
    "gaussian": _gaussian,
    "logistic_mixture": LogisticMixture,
}


def get_likelihood(name: str) -> PixelLikelihood:
    try:
        return LIKELIHOODS[name]()
    except KeyError:
        raise ConfigError(f"Unknown likelihood {name!r}; choose one of {sorted(LIKELIHOODS)}.") from None
