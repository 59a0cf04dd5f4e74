"""Attribute vectors: the difference of the mean latents of two groups of images ("with" minus "without"),
as in White (2016) and Larsen et al. (2016); adding it to an image's latent adds the attribute.

A vector is saved beside the model it belongs to, in ``MODEL/attributes/NAME.safetensors`` with
``NAME.json`` (its name, the model family, the latent space, how it was made, the group sizes and the
SHA-256 of the tensor file); both are written atomically and read without unpickling.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..errors import CheckpointError, ConfigError
from ..models import GenerativeModel
from .beside_model import check_name as check_artefact_name
from .beside_model import read_beside, save_beside, saved_records
from .latent_space import LatentSpace

FOLDER, WHAT = "attributes", "attribute"
FORMAT = 1


@dataclasses.dataclass
class Attribute:
    """An attribute vector for one model: ``vector`` (D) = mean latent of ``with`` − mean latent of ``without``."""

    name: str
    vector: torch.Tensor
    model: str  # the model family it was computed with
    latent: str  # the latent space (see latentforge.jobs.latent_space)
    made: dict[str, Any]  # how: the groups' sources, e.g. {"with": "fashion-mnist train label 6", ...}
    sizes: dict[str, int]  # images in each group

    @property
    def norm(self) -> float:
        return float(self.vector.norm())

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "latent": self.latent, "dims": self.vector.numel(),
                "norm": self.norm, "made": self.made, "sizes": self.sizes}


def check_name(name: str, what: str = WHAT) -> str:
    """``name`` when it can name the files of an attribute (or of another ``what`` saved beside a model)."""
    return check_artefact_name(name, what)


@torch.no_grad()
def attribute_vector(space: LatentSpace, name: str, with_images: torch.Tensor, without_images: torch.Tensor, *,
                     made: dict[str, Any] | None = None, with_labels: torch.Tensor | None = None,
                     without_labels: torch.Tensor | None = None, batch_size: int = 256,
                     progress: bool = False) -> Attribute:
    """The attribute ``name`` = mean latent of ``with_images`` − mean latent of ``without_images`` (N×C×H×W);
    ``progress`` shows a bar over the images encoded (slow for GANs, whose latents come from inversion)."""
    check_name(name)
    for group, images in (("with", with_images), ("without", without_images)):
        if images.ndim != 4 or images.shape[0] < 1:
            raise ConfigError(f"The {group!r} group of attribute {name!r} holds no images; give at least one.")
    total = with_images.shape[0] + without_images.shape[0]
    with tqdm(total=total, desc=f"attribute {name}", unit="img", disable=not progress, dynamic_ncols=True,
              leave=False) as bar:
        means = [_mean_latent(space, images, labels, batch_size, bar)
                 for images, labels in ((with_images, with_labels), (without_images, without_labels))]
    return Attribute(name, (means[0] - means[1]).cpu(), space.model.name, space.kind, dict(made or {}),
                     {"with": int(with_images.shape[0]), "without": int(without_images.shape[0])})


def _mean_latent(space: LatentSpace, images: torch.Tensor, labels: torch.Tensor | None, batch_size: int, bar):
    total = None
    for i in range(0, images.shape[0], batch_size):
        part = None if labels is None else labels[i: i + batch_size]
        z = space.encode(images[i: i + batch_size], part).double().sum(0)
        total = z if total is None else total + z
        bar.update(min(batch_size, images.shape[0] - i))
    return (total / images.shape[0]).float()


@torch.no_grad()
def apply_attribute(space: LatentSpace, image: torch.Tensor, attribute: Attribute, strengths: list[float], *,
                    label: torch.Tensor | None = None) -> torch.Tensor:
    """``image`` (C×H×W) decoded from z + s·vector for each strength s: a strip of len(strengths) images."""
    if attribute.vector.numel() != space.dim:
        raise ConfigError(f"Attribute {attribute.name!r} has {attribute.vector.numel()} dimensions but this "
                          f"{space.model.name} model's latents have {space.dim}: it was made for another model.")
    if not strengths:
        raise ConfigError("Give at least one strength.")
    image = image.unsqueeze(0) if image.ndim == 3 else image
    labels = space.labels_for(image.to(space.device), label)
    z = space.encode(image, labels)
    s = torch.tensor([float(v) for v in strengths], device=z.device).unsqueeze(1)
    edited = z + s * attribute.vector.to(z.device)
    return space.decode(edited, None if labels is None else labels.expand(len(strengths)))


# -- saved beside the model (jobs/beside_model.py) ---------------------------------------------------------
HOW_TO_MAKE = "Make one with `latentforge attribute MODEL NAME ...` (lf.make_attribute)."


def save_attribute(model_dir: str | os.PathLike, attribute: Attribute) -> Path:
    """Write the vector and its JSON record into ``model_dir/attributes/`` (replacing one of the same name)."""
    return save_beside(model_dir, FOLDER, attribute.name, WHAT, {"vector": attribute.vector.float()},
                       {"format": FORMAT, **attribute.summary()})


def load_attribute(model_dir: str | os.PathLike, name: str, model: GenerativeModel | None = None) -> Attribute:
    """The attribute ``name`` saved beside the model; a ConfigError listing the saved ones when there is none."""
    tensors, meta = read_beside(model_dir, FOLDER, name, WHAT, HOW_TO_MAKE)
    vector = tensors.get("vector")
    if vector is None or vector.ndim != 1 or not torch.isfinite(vector).all():
        raise CheckpointError(f"Attribute {name!r} in {model_dir} holds no finite 1-D 'vector'; the file is corrupt. "
                              f"{HOW_TO_MAKE}")
    if model is not None and meta.get("model") != model.name:
        raise ConfigError(f"Attribute {name!r} was made with a {meta.get('model')} model, not this {model.name} "
                          "model; make it again for this one.")
    return Attribute(name, vector, str(meta.get("model")), str(meta.get("latent")), dict(meta.get("made") or {}),
                     {k: int(v) for k, v in (meta.get("sizes") or {}).items()})


def list_attributes(model_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records (name, norm, how made, group sizes) of the attributes saved beside the model, by name."""
    keys = ("name", "model", "latent", "dims", "norm", "made", "sizes")
    return [{k: meta.get(k) for k in keys} for meta in saved_records(model_dir, FOLDER, WHAT)]
