"""Reusable blocks: conv backbones by resolution, latent distributions and pixel likelihoods."""

from .backbones import ConvDecoder, ConvEncoder, stage_plan
from .distributions import DiagonalGaussian
from .likelihoods import LIKELIHOODS, PixelLikelihood, get_likelihood

__all__ = [
    "ConvDecoder", "ConvEncoder", "stage_plan", "DiagonalGaussian", "LIKELIHOODS", "PixelLikelihood",
    "get_likelihood",
]
