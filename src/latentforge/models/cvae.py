"""Conditional VAE (Sohn, Lee & Yan, 2015, "Learning structured output representation using deep
conditional generative models"): q(z | x, y), p(x | z, y) and p(z) = N(0, I) for a class label y.

The label enters the encoder as one-hot extra input channels and the decoder as a one-hot vector
concatenated with z. Its ELBO and importance-sampled likelihood are conditional: log p(x | y).
``sample(n)`` without labels cycles through the classes (0, 1, …, K−1, 0, …) so a grid shows all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from ..nn import DiagonalGaussian
from ..validation import MAX_CLASSES, Limit, at_least
from .capabilities import Capability
from .labels import class_labels
from .registry import register
from .vae import VAE, VAEConfig


@dataclasses.dataclass
class CVAEConfig(VAEConfig):
    num_classes: int = 0  # filled in from the training data; must be ≥ 2 when the model is built

    limits: ClassVar[dict[str, Limit]] = {"num_classes": at_least(0, MAX_CLASSES)}  # 0 = from the data


@register("cvae")
class CVAE(VAE):
    config_class = CVAEConfig
    # Encoding and decoding need the label, which the reconstruct job does not pass; the edit jobs work on its
    # style latent with given or inferred labels (jobs/latent_space.py), without the EDIT capability.
    capabilities = frozenset({Capability.GENERATE, Capability.LIKELIHOOD})

    def __init__(self, config: CVAEConfig):
        if config.num_classes < 2:
            raise ConfigError(
                f"cvae needs class labels: num_classes is {config.num_classes}. Train it on a labelled dataset "
                "(num_classes is then taken from the data) or set model.num_classes."
            )
        super().__init__(config)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def backbone_options(self) -> dict:
        return {"cond_dim": self.num_classes}

    def one_hot(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        """Validate ``n`` integer labels and return them one-hot (N×num_classes)."""
        if labels is None:
            raise DataError(
                "cvae needs a class label for every image, but none were given: train and evaluate it on a "
                "labelled dataset (mnist, fashion-mnist, npz with y_train/y_test, ...), and pass labels= to "
                "encode/decode."
            )
        labels = class_labels(labels, n, self.num_classes, self.name, labels.device, error=DataError)
        return F.one_hot(labels, self.num_classes).to(next(self.parameters()).dtype)

    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> DiagonalGaussian:
        return DiagonalGaussian(self.encoder(x, self.one_hot(labels, x.shape[0])))

    def decode_params(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z, self.one_hot(labels, z.shape[0]))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.likelihood.mean(self.decode_params(z, labels))

    def posterior(self, batch):
        return self.encode(batch[0], batch[1])

    def likelihood_params(self, z, batch):
        return self.decode_params(z, batch[1])

    def sample_labels(self, n: int, labels: int | Sequence[int] | torch.Tensor | None) -> torch.Tensor:
        """``labels`` as n class indices: None cycles through the classes; one label is repeated n times."""
        device = next(self.parameters()).device
        if labels is None:
            return torch.arange(n, device=device) % self.num_classes
        return class_labels(labels, n, self.num_classes, self.name, device)

    @torch.no_grad()
    def sample(self, n, *, labels=None, temperature=1.0, generator=None):
        labels = self.sample_labels(n, labels)
        return self.decode(self.prior_sample(n, temperature, generator), labels)
