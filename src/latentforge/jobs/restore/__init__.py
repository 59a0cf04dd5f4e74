"""Restoration: the problems (degradations and their forward operators, ``problems``), the solvers (a dedicated
model or projection onto any VAE or GAN, ``solvers``) and mask files (``mask_files``)."""

from .problems import Grey, LowResolution, Masked, Noisy, Problem
from .solvers import METHODS, Restoration, solve

__all__ = ["METHODS", "Grey", "LowResolution", "Masked", "Noisy", "Problem", "Restoration", "solve"]
