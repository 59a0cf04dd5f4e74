"""Size and channel conversions of uint8 N×C×H×W image tensors (the same rules as ``read_image``)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .images import resize_and_crop


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to ``size`` and centre-crop a square, image by image with Pillow."""
    n, c, h, w = images.shape
    if (h, w) == (size, size):
        return images
    arr = images.permute(0, 2, 3, 1).numpy()
    out = np.empty((n, size, size, c), dtype=np.uint8)
    for i in range(n):
        im = Image.fromarray(arr[i, :, :, 0] if c == 1 else arr[i])
        res = np.asarray(resize_and_crop(im, size), dtype=np.uint8)
        out[i] = res[:, :, None] if c == 1 else res
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def set_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Gray to RGB repeats the plane; RGB to gray uses Pillow's ITU-R 601-2 luma weights."""
    c = images.shape[1]
    if c == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([299, 587, 114], dtype=torch.int32).view(1, 3, 1, 1)
    luma = (images.to(torch.int32) * weights).sum(dim=1, keepdim=True)
    return ((luma + 500) // 1000).to(torch.uint8)


def convert_images(images: torch.Tensor, image_size: int | None, channels: int | None) -> torch.Tensor:
    """Apply the requested size and channel count; None leaves that property as it is."""
    # Resize with as few channels as possible: drop colour before, add it after.
    if channels is not None and channels < images.shape[1]:
        images = set_channels(images, channels)
    if image_size is not None:
        images = resize_images(images, image_size)
    if channels is not None:
        images = set_channels(images, channels)
    return images
