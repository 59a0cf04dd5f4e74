"""Editing (issue 20): traversals, attribute vectors and edits, class edits, GAN inversion; interpolation is the
job itself (:func:`latentforge.jobs.interpolate`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..data import to_float
from ..data.folder import list_images
from ..errors import ConfigError
from ..jobs import edit as edit_jobs
from ..jobs.attributes import (
    Attribute,
    apply_attribute,
    attribute_vector,
    check_name,
    list_attributes,
    load_attribute,
    save_attribute,
)
from ..jobs.edit import editable_space
from ..jobs.invert import invert as invert_job
from ..metrics.reconstruction import psnr
from ..models import GenerativeModel
from ..validation import at_least, check_value
from .images import _data_source, _dataset_at_model_shape, dataset_images, read_images
from .runs import _model_and_dir, _record_of


def _model_dir(model: GenerativeModel | str | os.PathLike) -> Path:
    model_dir = _model_and_dir(model)[1]
    if model_dir is None:
        raise ConfigError("Attributes are saved beside a saved model: pass the model's path (or a model from lf.load).")
    return model_dir


def traverse(model: GenerativeModel | str | os.PathLike, image: torch.Tensor, reference: torch.Tensor | None = None,
             *, data: str | None = None, split: str = "test", n: int = 500, data_dir: str | None = None,
             dims: int = 8, steps: int = 7, span: float = 3.0, label: int | None = None, invert_steps: int = 300,
             seed: int = 0) -> edit_jobs.Traversal:
    """A latent traversal of ``image`` (:func:`latentforge.jobs.edit.traverse`); dimensions are ranked over
    ``reference`` images, by default the first ``n`` of ``data``'s ``split`` (the training data's)."""
    model, _ = _model_and_dir(model)
    if reference is None:
        reference = dataset_images(model, data, split=split, n=n, data_dir=data_dir)
    return edit_jobs.traverse(model, image, reference, dims=dims, steps=steps, span=span, label=label,
                              invert_steps=invert_steps, seed=seed)


def class_edit(model: GenerativeModel | str | os.PathLike, images: torch.Tensor, labels: Sequence[int] | None = None,
               *, invert_steps: int = 300, seed: int = 0) -> edit_jobs.ClassEdit:
    """Each image's style decoded under every label of a class-conditional model (cvae, cgan)."""
    model, _ = _model_and_dir(model)
    return edit_jobs.class_edit(model, images, None if labels is None else torch.as_tensor(labels),
                                invert_steps=invert_steps, seed=seed)


def group_images(model: GenerativeModel, *, label: int | str | None = None, folder: str | os.PathLike | None = None,
                 data: str | None = None, split: str = "train", n: int = 1000,
                 data_dir: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """One group of an attribute: the first ``n`` images of class ``label`` (index or class name) of a labelled
    dataset, or of an image ``folder``; returns (images, their labels or None, a description)."""
    check_value("n (images per group)", n, int, at_least(1))
    if (label is None) == (folder is None):
        raise ConfigError("A group is either a class of a labelled dataset or a folder of images: give one.")
    if folder is not None:
        root = Path(folder)
        if not root.is_dir():
            raise ConfigError(f"{root} is not a folder of images.")
        files = [root / rel for rel in list_images(root)[:n]]
        return read_images(model, files), None, f"folder {root} ({len(files)} images)"
    name, data_dir = _data_source(_record_of(model), data, data_dir,
                                  unknown="Which dataset do the classes come from? The model's training data is "
                                          "unknown: give --data.")
    ds = _dataset_at_model_shape(model, name, split, data_dir)
    if ds.labels is None:
        raise ConfigError(f"{name} has no labels: make the attribute from two folders instead.")
    names = list(ds.class_names or [])
    index = names.index(label) if isinstance(label, str) and label in names else label
    try:
        index = int(index)
    except (TypeError, ValueError):
        raise ConfigError(f"{label!r} is neither a class index nor a class name of {name} "
                          f"({', '.join(names) or 'no names'}).") from None
    chosen = (ds.labels == index).nonzero().flatten()[:n]
    if not len(chosen):
        raise ConfigError(f"The {split} split of {name} has no images of class {label!r}.")
    title = f" ({names[index]})" if 0 <= index < len(names) else ""
    return (to_float(ds.images[chosen]), ds.labels[chosen],
            f"{name} {split} class {index}{title} ({len(chosen)} images)")


def make_attribute(model: GenerativeModel | str | os.PathLike, name: str, *, with_label: int | str | None = None,
                   without_label: int | str | None = None, with_folder: str | os.PathLike | None = None,
                   without_folder: str | os.PathLike | None = None, data: str | None = None, split: str = "train",
                   n: int = 1000, data_dir: str | None = None, save: bool = True, invert_steps: int = 300,
                   seed: int = 0, progress: bool = False) -> Attribute:
    """The attribute vector ``name`` = mean latent of the "with" group − mean latent of the "without" group,
    each a class of a labelled dataset or a folder (:func:`group_images`); saved beside the model by default."""
    check_name(name)
    model, model_dir = _model_and_dir(model)
    space = editable_space(model, invert_steps=invert_steps, seed=seed)
    if save and model_dir is None:
        _model_dir(model)  # the clear error, before the work
    groups = {}
    for group, label, folder in (("with", with_label, with_folder), ("without", without_label, without_folder)):
        groups[group] = group_images(model, label=label, folder=folder, data=data, split=split, n=n,
                                     data_dir=data_dir)
    made = {group: description for group, (_, _, description) in groups.items()}
    made["latent"] = space.description
    attribute = attribute_vector(space, name, groups["with"][0], groups["without"][0], made=made,
                                 with_labels=groups["with"][1] if space.conditional else None,
                                 without_labels=groups["without"][1] if space.conditional else None,
                                 progress=progress)
    if save:
        save_attribute(model_dir, attribute)
    return attribute


def attributes(model: GenerativeModel | str | os.PathLike) -> list[dict[str, Any]]:
    """The attributes saved beside a model: name, norm, how each was made, group sizes."""
    return list_attributes(_model_dir(model))


def edit(model: GenerativeModel | str | os.PathLike, image: torch.Tensor, attribute: str | Attribute,
         strengths: Sequence[float] = (-2, -1, 0, 1, 2), *, label: int | None = None, invert_steps: int = 300,
         seed: int = 0) -> torch.Tensor:
    """``image`` (C×H×W) with ``strength`` × the attribute vector added to its latent, one image per strength."""
    model, model_dir = _model_and_dir(model)
    space = editable_space(model, invert_steps=invert_steps, seed=seed)
    if isinstance(attribute, str):
        attribute = load_attribute(_model_dir(model) if model_dir is None else model_dir, attribute, model)
    return apply_attribute(space, image, attribute, list(strengths),
                           label=None if label is None else torch.tensor([label]))


def invert(model: GenerativeModel | str | os.PathLike, images: torch.Tensor, *, steps: int = 500, lr: float = 0.05,
           labels: Sequence[int] | int | None = None, seed: int = 0, prior_weight: float = 0.0) -> dict[str, Any]:
    """The latents that best reproduce ``images`` under a generator (GAN inversion, :mod:`latentforge.jobs.invert`;
    ``prior_weight`` λ adds λ‖z‖²/d to keep z where N(0, I) has mass): ``{"z", "reconstructions", "mse", "psnr"}``
    per image."""
    model, _ = _model_and_dir(model)
    if labels is not None:
        labels = torch.as_tensor(labels, device=next(model.parameters()).device).reshape(-1)
        labels = labels.expand(images.shape[0]) if labels.numel() == 1 else labels
    result = invert_job(model, images, steps=steps, lr=lr, labels=labels, seed=seed, prior_weight=prior_weight)
    return {"z": result.z.cpu(), "reconstructions": result.reconstructions, "mse": result.error,
            "psnr": psnr(result.reconstructions, to_float(images).reshape(result.reconstructions.shape).cpu())}
