"""The saved-model directory: model.safetensors + config.json + training.json (DESIGN.md).

config.json records the SHA-256 of model.safetensors ("sha256": {"model.safetensors": ...}); loading
checks it, and refuses weights that are not finite. Models saved before digests were recorded still load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError
from ..io import (
    atomic_write_json,
    check_finite,
    read_json,
    read_tensors,
    recorded_sha256,
    save_tensors,
    verify_sha256,
)
from ..version import __version__
from .base import GenerativeModel
from .registry import build_model

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"


def save_model(model: GenerativeModel, path: str | os.PathLike, training: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a saved-model directory; each file is written atomically."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    digest = save_tensors(path / WEIGHTS, model.state_dict())
    atomic_write_json(path / "config.json", {
        "format_version": FORMAT_VERSION,
        "model": model.name,
        "config": model.config_dict(),
        "data_shape": list(model.image_shape),
        "latentforge_version": __version__,
        "sha256": {WEIGHTS: digest},
    })
    if training is not None:
        atomic_write_json(path / "training.json", training)
    return path


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> GenerativeModel:
    """Load a saved-model directory (or a run directory containing ``model/``) in eval mode.

    Everything is checked before the model is built for real: the config (on a weightless skeleton), the
    weights' names and shapes, their SHA-256 and that they are finite."""
    path = resolve_model_dir(path)
    meta = read_model_meta(path)
    try:
        skeleton = build_model(meta["model"], meta["config"], where=f"{meta['model']} config", meta=True)
    except ConfigError as e:
        raise CheckpointError(f"Cannot rebuild the model saved in {path}: {e}") from e
    state = read_checked_weights(skeleton, path, recorded_sha256(meta, WEIGHTS, path / "config.json"),
                                 "do not match its config.json", "the files come from different models.")
    model = type(skeleton)(skeleton.config)
    model.load_state_dict(state)
    return model.to(device).eval()


def read_model_meta(path: Path) -> dict[str, Any]:
    """config.json of the model directory ``path``, its entries checked for type before anything uses them."""
    record = path / "config.json"
    meta = read_json(record, "Model config")
    if not isinstance(meta, dict) or "model" not in meta or "config" not in meta:
        raise CheckpointError(f"{record} lacks the 'model' and 'config' entries; it is not a latentforge model.")
    if not isinstance(meta["model"], str) or not isinstance(meta["config"], dict):
        raise CheckpointError(
            f"{record} is corrupt: 'model' must be a model name and 'config' a mapping, got {meta['model']!r} and "
            f"{type(meta['config']).__name__}. Restore the directory from a copy or retrain."
        )
    version = meta.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{record} is corrupt: 'format_version' must be an integer, got {version!r}.")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was saved by a newer latentforge ({meta.get('latentforge_version')}); upgrade to load it."
        )
    return meta


def read_checked_weights(model: GenerativeModel, path: Path, sha256: str | None, problem: str,
                         advice: str) -> dict[str, torch.Tensor]:
    """The tensors of ``path/model.safetensors`` once they are known to fit ``model`` (names and shapes), to
    match the recorded SHA-256 (when there is one) and to be finite."""
    weights = path / WEIGHTS
    state, actual = read_tensors(weights, "Model weights")
    check_matching_state(model, state, weights, problem, advice)
    verify_sha256(weights, "Model weights", actual, sha256)
    check_finite(state, weights, "Model weights")
    return state


def init_weights_from(model: GenerativeModel, path: str | os.PathLike) -> Path:
    """Copy the weights of the saved model (or run) at ``path`` into ``model``: fine-tuning. The networks must
    be the same, tensor by tensor; the model type may differ where they share them (a vae's weights start an
    iwae). Returns the model directory the weights came from."""
    path = resolve_model_dir(path)
    meta = read_json(path / "config.json", "Model config")
    model.load_state_dict(read_checked_weights(
        model, path, recorded_sha256(meta, WEIGHTS, path / "config.json"),
        f"do not fit the {model.name} model of this run",
        "train.init_from needs a saved model with the same networks (same channels, blocks, latent_dim and image "
        "shape)."))
    return path


def check_matching_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path, problem: str,
                         advice: str) -> None:
    """CheckpointError listing the names and shapes of ``state`` that do not fit ``model``."""
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"Weights in {source} {problem} (missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shape {wrong[:5]}); {advice}"
        )


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
