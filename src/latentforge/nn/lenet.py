"""The LeNet-style classifier whose penultimate features serve sample-quality metrics (its training and cache
are :mod:`latentforge.jobs.evaluate.features`)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


class LeNet(nn.Module):
    """LeNet-style classifier: three (conv 3×3 → max-pool 2 → BN → ReLU) stages, a linear feature layer
    (the extractor's output, taken before its ReLU) and a linear class head. Pooling before BN/ReLU gives the
    same function class as after but costs a quarter of the elementwise work, which dominates on a CPU."""

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int,
                 widths: tuple[int, int, int] = (32, 64, 128),
                 feature_dim: int = 128, dropout: float = 0.25):
        super().__init__()
        c, h, w = image_shape
        if min(h, w) < 8:
            raise ConfigError(f"The lenet feature extractor needs images of at least 8×8 pixels, got {h}×{w}.")
        layers: list[nn.Module] = []
        for c_in, c_out in zip((c, *widths[:-1]), widths):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True)]
        fh, fw = min(h // 8, 4), min(w // 8, 4)  # larger images are average-pooled to at most 4×4 here
        if (fh, fw) != (h // 8, w // 8):
            layers.append(nn.AdaptiveAvgPool2d((fh, fw)))
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        self.embed = nn.Linear(widths[-1] * fh * fw, feature_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
