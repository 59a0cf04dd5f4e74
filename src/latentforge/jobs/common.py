"""Checks shared by the jobs: images have the shape the model expects (``require_capability``, in
:mod:`latentforge.models.capabilities`, checks that it can do the job)."""

from __future__ import annotations

import torch

from ..data import to_float
from ..errors import DataError
from ..models import GenerativeModel


def check_images(model: GenerativeModel, images: torch.Tensor) -> torch.Tensor:
    """Validate N×C×H×W float images in [0, 1] against the model's image shape (C×H×W adds N=1)."""
    if not isinstance(images, torch.Tensor):
        raise DataError(f"Expected a torch.Tensor of images, got {type(images).__name__}.")
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4 or tuple(images.shape[1:]) != model.image_shape:
        raise DataError(
            f"Images of shape {tuple(images.shape)} do not fit this model, which expects "
            f"N×{'×'.join(map(str, model.image_shape))}. "
            "Resize/convert them first (the CLI does this for image files)."
        )
    images = to_float(images)
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise DataError("Images must be finite floats in [0, 1] (or uint8); rescale them first.")
    device = next(model.parameters()).device
    return images.to(device)
