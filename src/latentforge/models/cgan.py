"""Class-conditional GAN: conditional batch norm in the generator (de Vries et al., 2017; Miyato &
Koyama, 2018) and a projection discriminator (Miyato & Koyama, 2018) with spectral norm and the hinge
loss, as in their cGAN with projection.

Fakes in both players' steps are drawn for the labels of the real batch, so classes are seen in the
proportions of the data. ``sample(n, labels=...)`` takes one class for all images, a tensor of N labels,
or None for uniformly random classes.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from ..errors import ConfigError, DataError
from ..validation import MAX_CLASSES, Limit, at_least
from .labels import class_labels
from .registry import register
from .sngan import SNGAN, SNGANConfig


@dataclasses.dataclass
class CGANConfig(SNGANConfig):
    num_classes: int = 10  # filled from the dataset by ``latentforge.train``

    limits: ClassVar[dict[str, Limit]] = {"num_classes": at_least(2, MAX_CLASSES)}


@register("cgan")
class ConditionalGAN(SNGAN):
    config_class = CGANConfig

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def _conditioning_labels(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        if y is None:
            raise DataError("cgan trains on labelled images, but this batch has no labels; use a labelled dataset "
                            "(mnist, fashion-mnist, digits, npz with y_*) or an unconditional GAN.")
        return class_labels(y, n, self.num_classes, self.name, y.device, error=DataError)

    def _check_labels(self, labels, n: int) -> torch.Tensor:
        if labels is None:
            raise ConfigError("cgan is class-conditional: pass labels (one int or a tensor of N class indices).")
        return class_labels(labels, n, self.num_classes, self.name, next(self.parameters()).device)

    def sample_labels(self, n: int, labels=None, generator: torch.Generator | None = None) -> torch.Tensor:
        if labels is None:
            device = next(self.parameters()).device
            return torch.randint(self.num_classes, (n,), generator=generator, device=device)
        return self._check_labels(labels, n)
