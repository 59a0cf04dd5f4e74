"""Small named artefacts saved beside a model (attribute vectors, fitted probes, ...): tensors in
``MODEL/FOLDER/NAME.safetensors`` and a record in ``NAME.json`` that holds the name, what the artefact is and
the SHA-256 of the tensor file. Both are written atomically and read without unpickling; a missing name is a
ConfigError that lists the saved ones."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError
from ..io import atomic_write_json, load_tensors, read_json, recorded_sha256, save_tensors

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str, what: str) -> str:
    """``name`` when it can name a file: 1–64 letters, digits, '_', '.' or '-', starting with a letter or digit."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"The {what} name must be 1–64 letters, digits, '_', '.' or '-' starting with a letter or "
                          f"digit (it names a file), got {name!r}.")
    return name


def artefact_paths(model_dir: str | os.PathLike, folder: str, name: str, what: str) -> tuple[Path, Path]:
    """(tensor file, JSON record) of artefact ``name`` in ``model_dir/folder``."""
    check_name(name, what)
    base = Path(model_dir) / folder
    return base / f"{name}.safetensors", base / f"{name}.json"


def save_beside(model_dir: str | os.PathLike, folder: str, name: str, what: str, tensors: dict[str, torch.Tensor],
                record: dict[str, Any]) -> Path:
    """Write ``tensors`` and ``record`` (plus the name and the tensor file's SHA-256) as artefact ``name``,
    replacing one of the same name; returns the record's path."""
    tensor_path, record_path = artefact_paths(model_dir, folder, name, what)
    tensor_path.parent.mkdir(exist_ok=True)
    digest = save_tensors(tensor_path, tensors)
    atomic_write_json(record_path, {**record, "name": name, "sha256": {tensor_path.name: digest}})
    return record_path


def read_beside(model_dir: str | os.PathLike, folder: str, name: str, what: str,
                how_to_make: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors (checked against the recorded SHA-256) and the record of artefact ``name``: a ConfigError naming
    the saved ones and ``how_to_make`` when there is none, a CheckpointError when its files are corrupt."""
    tensor_path, record_path = artefact_paths(model_dir, folder, name, what)
    if not record_path.is_file():
        saved = saved_records(model_dir, folder, what)
        listing = f"saved ones: {', '.join(r['name'] for r in saved)}" if saved else "none is saved yet"
        raise ConfigError(f"No {what} {name!r} beside the model in {model_dir} ({listing}). {how_to_make}")
    meta = read_json(record_path, f"{what.capitalize()} {name!r}")
    if not isinstance(meta, dict) or meta.get("name") != name:
        raise CheckpointError(f"{record_path} is not the record of {what} {name!r}; the file is corrupt. "
                              f"{how_to_make}")
    tensors = load_tensors(tensor_path, f"{what.capitalize()} {name!r}",
                           recorded_sha256(meta, tensor_path.name, record_path))
    return tensors, meta


def saved_records(model_dir: str | os.PathLike, folder: str, what: str) -> list[dict[str, Any]]:
    """The records of the artefacts saved in ``model_dir/folder``, by name."""
    base = Path(model_dir) / folder
    records = []
    for path in sorted(base.glob("*.json")) if base.is_dir() else []:
        meta = read_json(path, f"{what.capitalize()} record {path.name}")
        if isinstance(meta, dict) and meta.get("name") == path.stem:
            records.append(meta)
    return records
