"""GAN inversion: find the latent z whose image G(z) matches a given image.

A generator has no encoder, so inversion is an optimisation over z (Zhu et al., 2016; Creswell &
Bharath, 2018): minimise the per-image pixel MSE ‖G(z) − x‖² / D (plus an optional prior penalty
λ‖z‖² / d that keeps z where N(0, I) puts its mass) with Adam, starting from N(0, I) draws or from an
encoder's guess. A learned encoder trained on (z, G(z)) pairs (:func:`train_inversion_encoder`) gives a
better starting point (Zhu et al., 2016, "hybrid" inversion).

Any model with a mapping from latents to images works: ``generate_from_latent(z, labels)`` (the GANs,
through their averaged generator) or ``decode(z)`` (VAEs, autoencoders) — see :func:`latent_to_image`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from ..errors import ConfigError
from ..models import GenerativeModel, SupportsContinuousCode, SupportsLatentGeneration, latent_of
from ..models.base import seeded_eval
from ..nn import ConvEncoder
from .common import check_images


class Inversion(NamedTuple):
    z: torch.Tensor  # N×latent_dim, the best latent found per image
    reconstructions: torch.Tensor  # N×C×H×W in [0, 1], the model's image for z
    error: torch.Tensor  # N, pixel MSE between the images and their reconstructions


def latent_to_image(model: GenerativeModel,
                    labels: torch.Tensor | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model's differentiable latent → image map: ``generate_from_latent`` or ``decode``."""
    if isinstance(model, SupportsLatentGeneration):
        return lambda z: model.generate_from_latent(z, labels)
    if type(model).decode is not GenerativeModel.decode:
        if labels is not None:
            raise ConfigError(f"A {model.name} model's decoder takes no labels; invert without labels.")
        return model.decode
    raise ConfigError(f"A {model.name} model has no map from latents to images (generate_from_latent or decode) "
                      "to invert.")


def latent_dim_of(model: GenerativeModel) -> int:
    dim = getattr(model, "latent_dim", None)
    if isinstance(model, SupportsContinuousCode):
        raise ConfigError(f"A {model.name} model's latents are code maps, not vectors drawn from N(0, I); it is not "
                          "inverted by optimisation. Use its encoder (latentforge reconstruct).")
    if not isinstance(dim, int):
        raise ConfigError(f"A {model.name} model does not say its latent size (latent_dim); it cannot be inverted.")
    return dim


def invert(model: GenerativeModel, images: torch.Tensor, *, steps: int = 500, lr: float = 0.05,
           encoder: Callable[[torch.Tensor], object] | None = None, seed: int = 0,
           labels: torch.Tensor | None = None, prior_weight: float = 0.0,
           operator: Callable[[torch.Tensor], torch.Tensor] | None = None,
           start: torch.Tensor | None = None) -> Inversion:
    """Optimise one latent per image so the model reproduces ``images`` (N×C×H×W in [0, 1]).

    Starts from ``encoder(images)`` (its mean if it returns a distribution) or from N(0, I) draws seeded
    by ``seed``; runs ``steps`` Adam steps at ``lr`` on the per-image MSE + ``prior_weight``·‖z‖²/d, and
    returns the latent with the lowest MSE seen for each image. The model's weights are not changed.

    Projection onto the model's range (Bora et al., 2017): with a differentiable forward ``operator`` A (a
    mask, a downsampling, greying) the MSE is between A(G(z)) and ``images``, which are then observations of
    whatever shape A gives; the encoder starts from ``start`` (a first guess of the clean images at the
    model's shape) instead, and ``error`` is the MSE in the observed space.
    """
    if steps < 0 or not lr > 0 or prior_weight < 0:
        raise ConfigError(f"Inversion needs steps ≥ 0, lr > 0 and prior_weight ≥ 0; got steps {steps}, lr {lr}, "
                          f"prior_weight {prior_weight}.")
    if operator is None:
        images = check_images(model, images)
        operator, start = (lambda x: x), images
    elif start is None:
        raise ConfigError("Projection through a forward operator needs a first guess of the clean images (start).")
    else:
        start = check_images(model, start)
        images = images.to(start.device)
    g = latent_to_image(model, labels)
    latent_dim_of(model)  # a model whose latents are not vectors fails here, before the work
    was_training = model.training
    model.eval()  # batch norm uses its running statistics: each image is inverted on its own
    try:
        with torch.no_grad():
            if encoder is not None:
                z0 = latent_of(encoder(start)).detach().float()
            else:
                gen = torch.Generator(device=images.device).manual_seed(seed)
                z0 = torch.randn(images.shape[0], latent_dim_of(model), generator=gen, device=images.device)
        # Not the Trainer: this optimises a latent tensor per image, not a model's weights, and keeps no run.
        z = z0.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([z], lr=lr)
        best_z, best_err = z0.clone(), torch.full((images.shape[0],), float("inf"), device=images.device)
        for step in range(steps + 1):
            with torch.enable_grad():  # also when called under torch.no_grad()
                err = (operator(g(z)) - images).pow(2).flatten(1).mean(1)
                loss = err.sum() + prior_weight * z.pow(2).flatten(1).mean(1).sum()
            with torch.no_grad():  # keep the best latent so far (the error of z before this update)
                better = err < best_err
                best_err = torch.where(better, err.detach(), best_err)
                best_z[better] = z.detach()[better]
            if step == steps:
                break
            # Gradients for z only: the model's parameters keep no .grad from inversion.
            (z.grad,) = torch.autograd.grad(loss, z)
            optimizer.step()
        with torch.no_grad():
            reconstructions = g(best_z)
            error = (operator(reconstructions) - images).pow(2).flatten(1).mean(1)
    finally:
        model.train(was_training)
    return Inversion(best_z, reconstructions.cpu(), error.cpu())


def train_inversion_encoder(model: GenerativeModel, *, steps: int = 1000, batch_size: int = 64, lr: float = 1e-3,
                            channels: int = 16, seed: int = 0, labels: bool = False) -> ConvEncoder:
    """Train a conv encoder E with E(G(z)) ≈ z on fresh (z, G(z)) pairs, z ~ N(0, I), by MSE.

    Its output is a starting point for :func:`invert`. For class-conditional models set ``labels=True``
    so that the training images cover random classes. Runs under its own seed; global RNG is untouched.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be ≥ 1")
    d = latent_dim_of(model)
    with seeded_eval(model, seed) as device, torch.enable_grad():
        encoder = ConvEncoder(model.image_shape, d, channels, blocks=0).to(device)
        # Not the Trainer: no dataset (fresh (z, G(z)) pairs each step), no run directory, a helper in memory.
        optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
        num_classes = getattr(model, "num_classes", 0) if labels else 0
        for _ in range(steps):
            z = torch.randn(batch_size, d, device=device)
            y = torch.randint(num_classes, (batch_size,), device=device) if num_classes else None
            with torch.no_grad():
                x = latent_to_image(model, y)(z)
            loss = (encoder(x) - z).pow(2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return encoder.eval()
