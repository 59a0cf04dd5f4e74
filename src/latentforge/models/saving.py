"""The saved-model directory: model.safetensors + config.json + training.json (DESIGN.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import CheckpointError, ConfigError
from ..io import atomic_write_json, load_tensors, read_json, save_tensors
from .base import GenerativeModel
from .registry import config_from_dict, get_model_class

FORMAT_VERSION = 1


def save_model(model: GenerativeModel, path: str | os.PathLike, training: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a saved-model directory; each file is written atomically."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_tensors(path / "model.safetensors", model.state_dict())
    atomic_write_json(path / "config.json", {
        "format_version": FORMAT_VERSION,
        "model": model.name,
        "config": model.config_dict(),
        "data_shape": list(model.image_shape),
        "latentforge_version": __version__,
    })
    if training is not None:
        atomic_write_json(path / "training.json", training)
    return path


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> GenerativeModel:
    """Load a saved-model directory (or a run directory containing ``model/``) in eval mode."""
    path = resolve_model_dir(path)
    meta = read_json(path / "config.json", "Model config")
    if not isinstance(meta, dict) or "model" not in meta or "config" not in meta:
        raise CheckpointError(f"{path / 'config.json'} lacks the 'model' and 'config' entries; it is not a latentforge model.")
    if meta.get("format_version", 1) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was saved by a newer latentforge ({meta.get('latentforge_version')}); upgrade to load it."
        )
    try:
        cls = get_model_class(meta["model"])
        model = cls(config_from_dict(cls.config_class, meta["config"], where=f"{meta['model']} config"))
    except ConfigError as e:
        raise CheckpointError(f"Cannot rebuild the model saved in {path}: {e}") from e
    state = load_tensors(path / "model.safetensors", "Model weights")
    load_matching_state(model, state, path / "model.safetensors", "do not match its config.json",
                        "the files come from different models.")
    return model.to(device).eval()


def init_weights_from(model: GenerativeModel, path: str | os.PathLike) -> Path:
    """Copy the weights of the saved model (or run) at ``path`` into ``model``: fine-tuning. The networks must
    be the same, tensor by tensor; the model type may differ where they share them (a vae's weights start an
    iwae). Returns the model directory the weights came from."""
    path = resolve_model_dir(path)
    state = load_tensors(path / "model.safetensors", "Model weights")
    load_matching_state(model, state, path / "model.safetensors", f"do not fit the {model.name} model of this run",
                        "train.init_from needs a saved model with the same networks (same channels, blocks, "
                        "latent_dim and image shape).")
    return path


def load_matching_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path, problem: str,
                        advice: str) -> None:
    """``model.load_state_dict(state)`` after checking every name and shape, with an error that lists them."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"Weights in {source} {problem} (missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shape {wrong[:5]}); {advice}"
        )
    model.load_state_dict(state)


def resolve_model_dir(path: str | os.PathLike) -> Path:
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    if (path / "model" / "config.json").is_file():
        return path / "model"
    raise CheckpointError(
        f"No saved model at {path}: expected {path / 'config.json'} (a model directory) or "
        f"{path / 'model' / 'config.json'} (a run directory)."
    )
