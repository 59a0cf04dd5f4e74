"""The latent code of an image, for every family that has one: images ↔ flat N×D latent vectors.

Editing and representation jobs work on flat vectors; :func:`latent_space` picks how a model gets them:

- encoders (ae, vae and its variants, hvae): the posterior mean, or the code itself, flattened — for the
  hierarchical VAE every layer's map along the posterior-mean path, coarsest first (``HVAE.encode``);
- codecs with discrete codes (vq-vae, :class:`~latentforge.models.SupportsContinuousCode`): the continuous
  pre-quantisation map z_e(x), snapped to the codebook when decoded, so a code decodes to the reconstruction;
- class-conditional VAEs (cvae): the style latent of q(z | x, y), decoded under a label; when an image's label
  is not given it is the label under which the image is most likely (the largest ELBO at the posterior mean);
- generators without an encoder (the GANs): the latent found by inversion (:mod:`latentforge.jobs.invert`),
  for a class-conditional GAN under the given label, or under the label whose inversion fits best.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ..errors import ConfigError
from ..models import GenerativeModel, SupportsContinuousCode, SupportsLatentGeneration, latent_of
from ..models.vae import VAE
from .common import check_images
from .invert import invert


class LatentSpace:
    """Images ↔ flat latents (N×D) of one model: the posterior mean or code of an encoder (the default)."""

    kind = "encoder"
    #: what a code is, for messages and saved metadata
    description = "the posterior mean (or the code) of the encoder"

    def __init__(self, model: GenerativeModel):
        self.model = model
        self.conditional = getattr(model, "num_classes", 0) > 0
        self._shape: tuple[int, ...] | None = None

    @property
    def num_classes(self) -> int:
        return getattr(self.model, "num_classes", 0)

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one image's latent before flattening (found by encoding one blank image)."""
        if self._shape is None:
            with torch.no_grad():
                blank = torch.zeros(1, *self.model.image_shape, device=self.device)
                self._shape = tuple(self._encode(blank, self._blank_labels(1)).shape[1:])
        return self._shape

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- the two maps --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """N×D latents of N×C×H×W images in [0, 1] (``labels``: class-conditional models; inferred when None)."""
        self.model.eval()
        images = check_images(self.model, images)
        labels = self.labels_for(images, labels)
        code = self._encode(images, labels)
        self._shape = tuple(code.shape[1:])
        return code.flatten(1).float()

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N×C×H×W in [0, 1], on the CPU) of N×D latents; class-conditional models need ``labels``."""
        self.model.eval()
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ConfigError(f"A {self.model.name} model's latents are N×{self.dim} vectors, got {tuple(z.shape)}.")
        if self.conditional and labels is None:
            raise ConfigError(f"{self.model.name} is class-conditional: decoding needs a label for every latent.")
        z = z.to(self.device).reshape(z.shape[0], *self.shape)
        return self._decode(z, None if labels is None else self._label_tensor(labels, z.shape[0])).cpu()

    def labels_for(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
        """The labels to encode ``images`` under: None for unconditional models, those given, or inferred ones."""
        if not self.conditional:
            if labels is not None:
                raise ConfigError(f"A {self.model.name} model is not class-conditional; give no labels.")
            return None
        if labels is None:
            return self.infer_labels(images)
        return self._label_tensor(labels, images.shape[0])

    def infer_labels(self, images: torch.Tensor) -> torch.Tensor:
        raise ConfigError(f"{self.model.name} needs the class label of every image; give labels.")

    def _best_label(self, images: torch.Tensor, score: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Per image, the label y with the highest ``score(labels)`` when every image is given label y."""
        scores = [score(torch.full((images.shape[0],), y, device=images.device)) for y in range(self.num_classes)]
        return torch.stack(scores).argmax(0).to(images.device)

    def _label_tensor(self, labels: Any, n: int) -> torch.Tensor:
        labels = torch.as_tensor(labels, device=self.device).long().reshape(-1)
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n or labels.min() < 0 or labels.max() >= self.num_classes:
            raise ConfigError(f"{self.model.name} takes {n} labels in 0..{self.num_classes - 1}, got "
                              f"{labels.tolist()[:10]}.")
        return labels

    def _blank_labels(self, n: int) -> torch.Tensor | None:
        return torch.zeros(n, dtype=torch.long, device=self.device) if self.conditional else None

    # -- what the kinds change ------------------------------------------------------------------------
    def _encode(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return latent_of(self.model.encode(images))

    def _decode(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self.model.decode(z)

    @torch.no_grad()
    def activity(self, images: torch.Tensor, labels: torch.Tensor | None = None,
                 codes: torch.Tensor | None = None) -> tuple[torch.Tensor, str]:
        """How much each latent dimension is used over ``images`` (whose ``codes`` may be given): the mean
        KL(q(z_d | x) ‖ N(0, 1)) in nats for VAEs with a standard-normal prior, else the variance of the codes.
        Returns (D scores, the measure)."""
        z = self.encode(images, labels) if codes is None else codes
        return z.var(0, unbiased=False), "variance of the latent codes over the images"


class VAELatentSpace(LatentSpace):
    """Posterior means of a VAE whose prior is N(0, I): dimensions are ranked by their KL."""

    kind = "posterior mean"
    description = "the posterior mean of q(z | x)"

    @torch.no_grad()
    def activity(self, images, labels=None, codes=None):
        self.model.eval()
        images = check_images(self.model, images)
        q = self.model.posterior((images, self.labels_for(images, labels)))
        return q.kl_standard_normal().mean(0).float(), "mean KL(q(z_d | x) ‖ N(0, 1)) over the images, nats"


class ConditionalLatentSpace(VAELatentSpace):
    """The style latent of a class-conditional VAE: the mean of q(z | x, y), decoded by p(x | z, y')."""

    kind = "style latent"
    description = "the posterior mean of q(z | x, y), the style latent"

    def _encode(self, images, labels):
        return latent_of(self.model.encode(images, labels))

    def _decode(self, z, labels):
        return self.model.decode(z, labels)

    @torch.no_grad()
    def infer_labels(self, images: torch.Tensor) -> torch.Tensor:
        """argmax_y ELBO(x | y) at the posterior mean: the label under which each image is most likely."""
        def elbo(labels: torch.Tensor) -> torch.Tensor:
            q = self.model.posterior((images, labels))
            log_px = self.model.likelihood.log_prob(self.model.likelihood_params(q.mean, (images, labels)), images)
            return log_px - self.model.kl_terms(q, q.mean).sum(1)

        return self._best_label(images, elbo)


class ContinuousCodeSpace(LatentSpace):
    """A codec's continuous pre-quantisation map, quantised when decoded."""

    kind = "pre-quantisation"
    description = "the continuous pre-quantisation map z_e(x), quantised when decoded"

    def _encode(self, images, labels):
        return self.model.encode_continuous(images)

    def _decode(self, z, labels):
        return self.model.decode_continuous(z)


class InvertedLatentSpace(LatentSpace):
    """A generator's latents, found for an image by optimisation (GAN inversion)."""

    kind = "inversion"
    description = "the latent found by inverting the generator"

    def __init__(self, model: GenerativeModel, *, steps: int = 300, lr: float = 0.05, seed: int = 0):
        if steps < 1:
            raise ConfigError(f"A {model.name} model has no encoder: its latents are found by inversion, which needs "
                              f"at least 1 optimisation step (got {steps}); use e.g. 300 (--invert-steps).")
        super().__init__(model)
        self.steps, self.lr, self.seed = steps, lr, seed
        self._shape = (model.latent_dim,)
        self.last_error: torch.Tensor | None = None  # pixel MSE of the latest inversion, per image

    def _encode(self, images, labels):
        result = invert(self.model, images, steps=self.steps, lr=self.lr, seed=self.seed, labels=labels)
        self.last_error = result.error
        return result.z

    def _decode(self, z, labels):
        return self.model.generate_from_latent(z, labels)

    @torch.no_grad()
    def infer_labels(self, images: torch.Tensor) -> torch.Tensor:
        """The label whose inversion reproduces each image best (one inversion per class)."""
        return self._best_label(images, lambda labels: -invert(self.model, images, steps=self.steps, lr=self.lr,
                                                               seed=self.seed, labels=labels).error.to(images.device))


def latent_space(model: GenerativeModel, *, invert_steps: int = 300, invert_lr: float = 0.05,
                 seed: int = 0) -> LatentSpace:
    """How ``model`` maps images to flat latents and back; a ConfigError for a model without a latent code.

    ``invert_steps``, ``invert_lr`` and ``seed`` set the inversion of generators without an encoder (GANs).
    """
    if isinstance(model, SupportsContinuousCode):
        return ContinuousCodeSpace(model)
    if isinstance(model, SupportsLatentGeneration):
        return InvertedLatentSpace(model, steps=invert_steps, lr=invert_lr, seed=seed)
    if not _overrides(model, "encode") or not _overrides(model, "decode"):
        raise ConfigError(f"A {model.name} model has no latent code for an image (no encoder and decoder, and no "
                          "generator to invert).")
    if isinstance(model, VAE) and type(model).prior_log_prob is VAE.prior_log_prob:
        return ConditionalLatentSpace(model) if getattr(model, "num_classes", 0) else VAELatentSpace(model)
    return LatentSpace(model)


def _overrides(model: GenerativeModel, method: str) -> bool:
    return getattr(type(model), method) is not getattr(GenerativeModel, method)
