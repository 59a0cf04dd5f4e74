"""Training checkpoints: a saved-model directory plus trainer.safetensors / trainer.json.

The directory is written to a temporary sibling and swapped in, so a crash mid-write leaves the
previous checkpoint whole. Optimiser state goes into safetensors (tensors) and JSON (everything else):
nothing is pickled. With weight averaging the saved model holds the averaged weights and
trainer.safetensors also the raw ones the optimiser works on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..io import atomic_write_json, load_tensors, read_json, save_tensors
from ..models import GenerativeModel, load_model, save_model


def optimizer_state_to_flat(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_state_from_flat(tensors: dict[str, torch.Tensor], meta: dict, prefix: str) -> dict:
    state: dict[int, dict[str, Any]] = {}
    head = f"{prefix}.state."
    for name, value in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head):].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for name, value in meta.get("scalars", {}).items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


TRAINING_WEIGHTS = "training_weights."  # prefix of the raw weights in trainer.safetensors when averaging


def write_checkpoint(path: str | os.PathLike, model: GenerativeModel, optimizers: dict[str, torch.optim.Optimizer],
                     trainer_state: dict[str, Any], training_info: dict[str, Any],
                     training_model: GenerativeModel | None = None) -> Path:
    """Write model + optimiser + RNG state to ``path`` atomically (directory swap).

    ``training_model``: the raw weights when ``model`` holds an average of them (EMA).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_model(model, tmp, training_info)
        tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state()}
        if training_model is not None:
            tensors.update({TRAINING_WEIGHTS + k: v.contiguous() for k, v in training_model.state_dict().items()})
        meta: dict[str, Any] = {"optimizers": {}, **trainer_state}
        for name, opt in optimizers.items():
            t, m = optimizer_state_to_flat(opt, f"optim.{name}")
            tensors.update(t)
            meta["optimizers"][name] = m
        save_tensors(tmp / "trainer.safetensors", tensors)
        atomic_write_json(tmp / "trainer.json", meta)
        old = path.with_name(f".{path.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def find_checkpoint(path: str | os.PathLike) -> Path | None:
    """The checkpoint directory, or the previous one if a crash hit between the two renames."""
    path = Path(path)
    for candidate in (path, path.with_name(f".{path.name}.old")):
        if (candidate / "trainer.json").is_file():
            return candidate
    return None


def read_checkpoint(path: str | os.PathLike, model: GenerativeModel,
                    optimizers: dict[str, torch.optim.Optimizer],
                    training_model: GenerativeModel | None = None) -> dict[str, Any]:
    """Restore weights, optimiser state and RNG from a checkpoint into ``model``/``optimizers``.

    ``training_model`` (weight averaging): receives the raw weights while ``model`` gets the averaged ones.
    """
    found = find_checkpoint(path)
    if found is None:
        raise CheckpointError(f"Nothing to resume: no checkpoint (trainer.json) in {path}. Train without --resume.")
    saved = load_model(found)
    if saved.name != model.name or saved.config_dict() != model.config_dict():
        raise CheckpointError(
            f"The checkpoint in {found} is a {saved.name} with config {saved.config_dict()}, which differs from the "
            f"model being trained ({model.name}, {model.config_dict()}). Resume with the same settings or use a new --out."
        )
    model.load_state_dict(saved.state_dict())
    meta = read_json(found / "trainer.json", "Trainer state")
    tensors = load_tensors(found / "trainer.safetensors", "Trainer state")
    raw = {k[len(TRAINING_WEIGHTS):]: v for k, v in tensors.items() if k.startswith(TRAINING_WEIGHTS)}
    if (training_model is not None) != bool(raw):
        raise CheckpointError(
            f"The checkpoint in {found} was written {'with' if raw else 'without'} weight averaging "
            f"(train.ema_decay), and this run is {'without' if raw else 'with'} it. Resume with the same settings."
        )
    if training_model is not None:
        training_model.load_state_dict(raw)
    for name, opt in optimizers.items():
        if name not in meta.get("optimizers", {}):
            raise CheckpointError(f"{found} has no optimiser state for {name!r}; it was written by another trainer.")
        opt.load_state_dict(optimizer_state_from_flat(tensors, meta["optimizers"][name], f"optim.{name}"))
    torch.set_rng_state(tensors["rng.torch"])
    return meta
