"""The small ResNet whose penultimate features serve sample-quality metrics on natural images (``fid-resnet``;
its training and cache are :mod:`latentforge.jobs.evaluate.features`).

ResNet-9 of the DAWNBench CIFAR-10 entries (Page, 2018, "How to train your ResNet"): a prep conv, three stages
that each double the width and halve the resolution (conv–BN–ReLU, max-pool), the first and last followed by a
residual block of two conv–BN–ReLU, a global max-pool, then — as in the LeNet extractor — a linear feature layer
(the extractor's output) and a class head.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetClassifier(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], num_classes: int,
                 widths: tuple[int, int, int, int] = (64, 128, 256, 512), feature_dim: int = 256,
                 dropout: float = 0.0):
        super().__init__()
        c, h, w = image_shape
        if min(h, w) < 8:
            raise ConfigError(f"The resnet feature extractor needs images of at least 8×8 pixels, got {h}×{w}.")
        prep, *stages = widths
        layers: list[nn.Module] = [conv_bn(c, prep)]
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], stages)):
            layers += [conv_bn(c_in, c_out), nn.MaxPool2d(2)]
            if i != 1:  # residual blocks after the first and the last stage
                layers.append(Residual(c_out))
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.embed = nn.Linear(widths[-1], feature_dim)
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
