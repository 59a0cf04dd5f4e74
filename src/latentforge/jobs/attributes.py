"""Attribute vectors: the difference of the mean latents of two groups of images ("with" minus "without"),
as in White (2016) and Larsen et al. (2016); adding it to an image's latent adds the attribute.

A vector is saved beside the model it belongs to, in ``MODEL/attributes/NAME.safetensors`` with
``NAME.json`` (its name, the model family, the latent space, how it was made, the group sizes and the
SHA-256 of the tensor file); both are written atomically and read without unpickling.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..errors import CheckpointError, ConfigError
from ..io import atomic_write_json, load_tensors, read_json, recorded_sha256, save_tensors
from ..models import GenerativeModel
from .latent_space import LatentSpace

FOLDER = "attributes"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
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


def check_name(name: str, what: str = "attribute") -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"The {what} name must be 1–64 letters, digits, '_', '.' or '-' starting with a letter or "
                          f"digit (it names a file), got {name!r}.")
    return name


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


# -- saved beside the model ---------------------------------------------------------------------------
def attribute_paths(model_dir: str | os.PathLike, name: str) -> tuple[Path, Path]:
    folder = Path(model_dir) / FOLDER
    check_name(name)
    return folder / f"{name}.safetensors", folder / f"{name}.json"


def save_attribute(model_dir: str | os.PathLike, attribute: Attribute) -> Path:
    """Write the vector and its JSON record into ``model_dir/attributes/`` (replacing one of the same name)."""
    tensors, record = attribute_paths(model_dir, attribute.name)
    tensors.parent.mkdir(exist_ok=True)
    digest = save_tensors(tensors, {"vector": attribute.vector.float()})
    atomic_write_json(record, {"format": FORMAT, **attribute.summary(), "sha256": {tensors.name: digest}})
    return record


def load_attribute(model_dir: str | os.PathLike, name: str, model: GenerativeModel | None = None) -> Attribute:
    """The attribute ``name`` saved beside the model; a ConfigError listing the saved ones when there is none."""
    tensors, record = attribute_paths(model_dir, name)
    if not record.is_file():
        known = list_attributes(model_dir)
        listing = f"saved ones: {', '.join(a['name'] for a in known)}" if known else "none is saved yet"
        raise ConfigError(f"No attribute {name!r} beside the model in {model_dir} ({listing}). Make one with "
                          "`latentforge attribute MODEL NAME ...` (lf.make_attribute).")
    meta = read_json(record, f"Attribute {name!r}")
    if not isinstance(meta, dict) or meta.get("name") != name:
        raise CheckpointError(f"{record} is not the record of attribute {name!r}; the file is corrupt. Make the "
                              "attribute again.")
    vector = load_tensors(tensors, f"Attribute {name!r}", recorded_sha256(meta, tensors.name, record)).get("vector")
    if vector is None or vector.ndim != 1 or not torch.isfinite(vector).all():
        raise CheckpointError(f"{tensors} holds no finite 1-D 'vector'; the file is corrupt. Make the attribute again.")
    if model is not None and meta.get("model") != model.name:
        raise ConfigError(f"Attribute {name!r} was made with a {meta.get('model')} model, not this {model.name} "
                          "model; make it again for this one.")
    return Attribute(name, vector, str(meta.get("model")), str(meta.get("latent")), dict(meta.get("made") or {}),
                     {k: int(v) for k, v in (meta.get("sizes") or {}).items()})


def list_attributes(model_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records (name, norm, how made, group sizes) of the attributes saved beside the model, by name."""
    folder = Path(model_dir) / FOLDER
    rows = []
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        meta = read_json(record, f"Attribute record {record.name}")
        if isinstance(meta, dict) and meta.get("name") == record.stem:
            rows.append({k: meta.get(k) for k in ("name", "model", "latent", "dims", "norm", "made", "sizes")})
    return rows
