"""Reconstruction error on images in [0, 1]."""

from __future__ import annotations

import torch


def mse_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x.float() - y.float()).pow(2).flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB, for a peak value of 1."""
    return -10 * torch.log10(mse_per_image(x, y) + eps)
