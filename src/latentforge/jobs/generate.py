"""Generate new images from a model's prior or generator."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import ConfigError
from ..models import Capability, GenerativeModel, require_capability
from ..models.labels import class_labels
from ..validation import MAX_SEED, at_least, check_value

# At most this many pixel values in one call (4 GiB of float32): more is a typo or calls for batches.
MAX_GENERATED_VALUES = 2**30


@torch.no_grad()
def generate(model: GenerativeModel, n: int = 64, *, labels: int | Sequence[int] | torch.Tensor | None = None,
             temperature: float = 1.0, seed: int | None = 0) -> torch.Tensor:
    """``n`` new images in [0, 1] (N×C×H×W, on the CPU); the same seed gives the same images.

    ``temperature`` scales the prior noise: a finite number ≥ 0 (0 gives the prior's mode). ``labels``, for
    class-conditional models only, is one class index or ``n`` of them, each in [0, num_classes).
    """
    require_capability(model, Capability.GENERATE)
    check_generate_arguments(model, n, temperature, seed)
    labels = check_labels(model, labels, n)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    model.eval()
    return model.sample(n, labels=labels, temperature=temperature, generator=generator).cpu()


def check_generate_arguments(model: GenerativeModel, n: int, temperature: float, seed: int | None) -> None:
    """ConfigError unless ``n`` ≥ 1 images fit in memory, ``temperature`` is finite and ≥ 0 and ``seed`` is an
    integer in [0, 2⁶³)."""
    check_value("n (the number of images)", n, int, at_least(1))
    if n * math.prod(model.image_shape) > MAX_GENERATED_VALUES:
        most = MAX_GENERATED_VALUES // math.prod(model.image_shape)
        raise ConfigError(f"{n} images of shape {tuple(model.image_shape)} are too many for one call; generate "
                          f"at most {most} at a time (in batches with different seeds).")
    check_value("temperature", temperature, float, at_least(0))
    if seed is not None:
        check_value("seed", seed, int, at_least(0, MAX_SEED))


def check_labels(model: GenerativeModel, labels, n: int) -> torch.Tensor | None:
    """``labels`` as ``n`` class indices (one label is repeated) for a class-conditional model; a ConfigError
    for labels given to an unconditional model, labels that are not integers, or classes out of range."""
    if labels is None:
        return None
    classes = int(getattr(model, "num_classes", 0) or 0)
    if classes < 1:
        raise ConfigError(f"A {model.name} model is not class-conditional; sample without labels "
                          "(class-conditional models: cvae, cgan).")
    return class_labels(labels, n, classes, model.name, next(model.parameters()).device)
