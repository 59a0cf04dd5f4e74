"""Restoration (issue 21): a dedicated model, or projection onto any VAE or GAN (:mod:`latentforge.jobs.restore`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ConfigError
from ..jobs.restore import Grey, LowResolution, Masked, Noisy, Restoration, solve
from ..jobs.restore.files import known_mask, restore_files
from ..jobs.restore.problems import check_observed
from ..models import GenerativeModel
from .runs import _model_and_dir


def denoise(model: GenerativeModel | str | os.PathLike, images: torch.Tensor, sigma: float | None = None, *,
            method: str = "auto", **options: Any) -> Restoration:
    """Denoise ``images`` (C×H×W or N×C×H×W in [0, 1] or uint8; any size with a dedicated model) carrying
    Gaussian noise of std ``sigma`` ([0, 1] scale: 25/255 for "σ = 25"; None: estimated per image).
    ``method``: ``auto``, ``model`` (a denoiser) or ``projection`` (any VAE/GAN, at its own size); ``options``
    go to the solver (:func:`latentforge.jobs.restore.solve`)."""
    return solve(_model_and_dir(model)[0], Noisy(images, sigma), method, **options)


def inpaint(model: GenerativeModel | str | os.PathLike, images: torch.Tensor, known: torch.Tensor | None = None, *,
            box: Sequence[int] | None = None, mask_file: str | os.PathLike | None = None,
            random_pixels: float | None = None, seed: int = 0, method: str = "auto", **options: Any) -> Restoration:
    """Fill the missing pixels of ``images``, given by exactly one of ``known`` (boolean N×1×H×W, True = known),
    ``box`` (x, y, w, h missing), ``mask_file`` (white = missing) or ``random_pixels`` (that fraction dropped at
    random, seeded by ``seed``). Known pixels come back exactly as given."""
    images = check_observed(images)
    mask = known_mask(*images.shape[-2:], known=known, box=box, mask_file=mask_file, random_pixels=random_pixels,
                      seed=seed)
    return solve(_model_and_dir(model)[0], Masked(images, mask), method, **options)


def upscale(model: GenerativeModel | str | os.PathLike, images: torch.Tensor, factor: int, *, method: str = "auto",
            **options: Any) -> Restoration:
    """``images`` ×``factor`` (2 or 4) larger, as if they had been area-downsampled from the result."""
    return solve(_model_and_dir(model)[0], LowResolution(images, factor), method, **options)


def colorize(model: GenerativeModel | str | os.PathLike, images: torch.Tensor, *, method: str = "auto",
             **options: Any) -> Restoration:
    """Colour images whose BT.601 luma is the grey ``images`` (RGB input is greyed first)."""
    return solve(_model_and_dir(model)[0], Grey(images), method, **options)


def restore_image_files(model: GenerativeModel | str | os.PathLike, task: str, files: Sequence[str | os.PathLike],
                        out: str | os.PathLike, *, sigma: float | None = None, factor: int | None = None,
                        box: Sequence[int] | None = None, mask_file: str | os.PathLike | None = None,
                        random_pixels: float | None = None, seed: int = 0, method: str = "auto",
                        **options: Any) -> dict[str, Any]:
    """The CLI's restoring verbs over image files at their own sizes: ``task`` is denoise, inpaint, upscale or
    colorize, with that task's arguments; see :func:`latentforge.jobs.restore.files.restore_files`."""
    model = _model_and_dir(model)[0]
    makers = {
        "denoise": lambda image, _: Noisy(image, sigma),
        "inpaint": lambda image, _: Masked(image, known_mask(*image.shape[-2:], box=box, mask_file=mask_file,
                                                             random_pixels=random_pixels, seed=seed)),
        "upscale": lambda image, _: LowResolution(image, factor),
        "colorize": lambda image, _: Grey(image),
    }
    if task not in makers:
        raise ConfigError(f"Unknown restoration task {task!r}; choose one of {', '.join(makers)}.")
    channels = 1 if task == "colorize" else model.image_shape[0]
    return restore_files(model, files, out, makers[task], channels=channels, method=method, **options)
