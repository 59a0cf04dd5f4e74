"""Latent-space edits: interpolation (lerp or slerp), traversals of the most used dimensions, class edits.

Every edit works on the flat latent code of :mod:`latentforge.jobs.latent_space` (posterior means, codes,
pre-quantisation maps, or inverted generator latents), so one implementation serves every family that has one.
Attribute vectors are in :mod:`latentforge.jobs.attributes`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..errors import ConfigError
from ..models import Capability, GenerativeModel, SupportsLatentGeneration, require_capability
from ..validation import at_least, check_value
from .common import check_images
from .latent_space import LatentSpace, latent_space


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake, 1985), suited to Gaussian latents (White, 2016); linear where the
    two vectors are (nearly) parallel or one is zero, where the spherical formula is undefined."""
    a_n = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b_n = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    spherical = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return torch.where(so > 1e-4, spherical, torch.lerp(a, b, t))


def editable_space(model: GenerativeModel, *, invert_steps: int = 300, invert_lr: float = 0.05,
                   seed: int = 0) -> LatentSpace:
    """The latent space edits work in; a ConfigError for a model that cannot be edited.

    Models with the EDIT capability edit through their encoder; generators (GANs) through inversion
    (``invert_steps`` ≥ 1); class-conditional VAEs through their style latent.
    """
    conditional_vae = getattr(model, "num_classes", 0) > 0 and not isinstance(model, SupportsLatentGeneration)
    if not (Capability.EDIT in model.capabilities or isinstance(model, SupportsLatentGeneration) or conditional_vae):
        require_capability(model, Capability.EDIT)
    return latent_space(model, invert_steps=invert_steps, invert_lr=invert_lr, seed=seed)


def path_between(a: torch.Tensor, b: torch.Tensor, steps: int, method: str) -> torch.Tensor:
    """``steps`` latents from ``a`` to ``b`` (1×D each), both ends included."""
    if method not in ("lerp", "slerp"):
        raise ConfigError(f"method must be 'lerp' or 'slerp', got {method!r}")
    check_value("steps", steps, int, at_least(2))
    t = torch.linspace(0, 1, steps, device=a.device).unsqueeze(1)
    return slerp(a, b, t) if method == "slerp" else torch.lerp(a, b, t)


@torch.no_grad()
def interpolate(model: GenerativeModel, start: torch.Tensor, end: torch.Tensor, steps: int = 8,
                method: str = "slerp", *, labels: torch.Tensor | None = None, invert_steps: int = 300,
                seed: int = 0) -> torch.Tensor:
    """``steps`` images going from ``start`` to ``end`` (single images C×H×W) through the latent space.

    The ends are the two images' reconstructions. A class-conditional model takes the two images' ``labels``
    (inferred when None) and decodes the first half of the path under the first label, the rest under the second.
    """
    space = editable_space(model, invert_steps=invert_steps, seed=seed)
    pair = check_images(model, torch.stack([start, end]))
    pair_labels = space.labels_for(pair, labels)
    z = space.encode(pair, pair_labels)
    path = path_between(z[:1], z[1:], steps, method)
    path_labels = None
    if pair_labels is not None:
        path_labels = torch.where(torch.linspace(0, 1, steps) < 0.5, pair_labels[0].cpu(), pair_labels[1].cpu())
    return space.decode(path, path_labels)


class Traversal(NamedTuple):
    images: torch.Tensor  # (dims·steps)×C×H×W, one row per dimension
    dims: list[int]  # the dimensions varied, most used first
    scores: list[float]  # their activity (see ``measure``)
    measure: str  # how activity was measured
    values: torch.Tensor  # dims×steps, the latent values of each row


@torch.no_grad()
def traverse(model: GenerativeModel, image: torch.Tensor, reference: torch.Tensor, *, dims: int = 8, steps: int = 7,
             span: float = 3.0, label: int | None = None, invert_steps: int = 300, seed: int = 0) -> Traversal:
    """Vary each of the ``dims`` most used latent dimensions of ``image`` (C×H×W) in turn, one row each.

    Use is measured over the ``reference`` images (N×C×H×W, e.g. test images): the mean KL of each posterior
    dimension for VAEs with a N(0, I) prior, else the variance of the codes. A row sweeps its dimension over
    the reference codes' mean ± ``span`` standard deviations in ``steps`` values, the others kept at the image's.
    """
    check_value("dims", dims, int, at_least(1))
    check_value("steps", steps, int, at_least(2))
    if not span > 0:
        raise ConfigError(f"span must be a positive number of standard deviations, got {span}")
    space = editable_space(model, invert_steps=invert_steps, seed=seed)
    if reference.ndim != 4 or reference.shape[0] < 2:
        raise ConfigError("traverse needs at least 2 reference images to measure how each dimension is used.")
    codes = space.encode(reference)
    scores, measure = space.activity(reference, codes=codes)
    top = scores.argsort(descending=True)[: min(dims, space.dim)]
    image = check_images(model, image)
    labels = space.labels_for(image, None if label is None else torch.tensor([label]))
    z0 = space.encode(image, labels)
    mean, std = codes.mean(0), codes.std(0)
    ramp = torch.linspace(-span, span, steps, device=codes.device)
    values = mean[top, None] + ramp * std[top, None]  # dims×steps
    z = z0.repeat(len(top) * steps, 1).view(len(top), steps, -1)
    for row, d in enumerate(top.tolist()):
        z[row, :, d] = values[row]
    images = space.decode(z.flatten(0, 1), None if labels is None else labels.expand(z.shape[0] * steps))
    return Traversal(images, top.tolist(), scores[top].tolist(), measure, values.cpu())


class ClassEdit(NamedTuple):
    rows: torch.Tensor  # N×(1 + K)×C×H×W: each image, then its style decoded under labels 0 … K−1
    labels: list[int]  # the label each image was encoded under (given or inferred)


@torch.no_grad()
def class_edit(model: GenerativeModel, images: torch.Tensor, labels: torch.Tensor | None = None, *,
               invert_steps: int = 300, seed: int = 0) -> ClassEdit:
    """Keep each image's style latent and decode it under every label of a class-conditional model (cvae:
    the encoder's q(z | x, y); cgan: inversion). ``labels`` are the images' own (inferred when None)."""
    if not getattr(model, "num_classes", 0):
        raise ConfigError(f"A {model.name} model has no class labels: a class edit needs a class-conditional model "
                          "(cvae or cgan) trained on a labelled dataset.")
    space = editable_space(model, invert_steps=invert_steps, seed=seed)
    images = check_images(model, images)
    own = space.labels_for(images, labels)
    z = space.encode(images, own)
    k = space.num_classes
    decoded = space.decode(z.repeat_interleave(k, 0), torch.arange(k).repeat(z.shape[0]))
    rows = torch.cat([images.cpu().unsqueeze(1), decoded.view(z.shape[0], k, *decoded.shape[1:])], dim=1)
    return ClassEdit(rows, own.tolist())
