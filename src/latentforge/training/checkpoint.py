"""Training checkpoints: a saved-model directory plus trainer.safetensors / trainer.json.

The directory is written to a temporary sibling (``.model.XXXXXXXX``) and swapped in, so a crash mid-write
leaves the previous checkpoint whole; a sibling left by a killed write is removed when training starts
again (:func:`remove_stale_temp_dirs`, under the run lock). trainer.json records the SHA-256 of
trainer.safetensors, checked on resume. Optimiser state goes into safetensors (tensors) and JSON (everything else):
nothing is pickled. With weight averaging the saved model holds the averaged weights and
trainer.safetensors also the raw ones the optimiser works on.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, LatentforgeError, OutputError
from ..io import (
    atomic_write_json,
    check_finite,
    current_umask,
    load_tensors,
    read_json,
    recorded_sha256,
    save_tensors,
    write_error,
)
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
TRAINER_TENSORS = "trainer.safetensors"


def _temp_prefix(path: Path) -> str:
    """Name prefix of the temporary directories a checkpoint write at ``path`` makes beside it."""
    return f".{path.name}."


def _is_temp_dir_name(path: Path, name: str) -> bool:
    """Whether ``name`` is one of those temporary directories: the prefix and mkdtemp's 8 random characters
    (``.model.old``, the previous checkpoint kept during the swap, is not one)."""
    return re.fullmatch(re.escape(_temp_prefix(path)) + r"[a-z0-9_]{8}", name) is not None


def remove_stale_temp_dirs(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary directories that killed checkpoint writes at ``path`` left beside it; call it
    only while holding the run lock (no other writer). Returns what was removed."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    stale = [p for p in path.parent.iterdir()
             if _is_temp_dir_name(path, p.name) and p.is_dir() and not p.is_symlink()]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def write_checkpoint(path: str | os.PathLike, model: GenerativeModel, optimizers: dict[str, torch.optim.Optimizer],
                     trainer_state: dict[str, Any], training_info: dict[str, Any],
                     training_model: GenerativeModel | None = None) -> Path:
    """Write model + optimiser + RNG state to ``path`` atomically (directory swap).

    ``training_model``: the raw weights when ``model`` holds an average of them (EMA).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
        tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; the checkpoint is an ordinary folder
    except OSError as e:
        raise _checkpoint_write_error(path, e) from e
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
        meta["sha256"] = {TRAINER_TENSORS: save_tensors(tmp / TRAINER_TENSORS, tensors)}
        atomic_write_json(tmp / "trainer.json", meta)
        _swap_in(tmp, path)
    except OSError as e:
        raise _checkpoint_write_error(path, e) from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _swap_in(tmp: Path, path: Path) -> None:
    """Replace the directory ``path`` by ``tmp``; the old one moves aside to ``.NAME.old`` for the moment
    between the two renames (find_checkpoint falls back to it) and comes back if the second rename fails."""
    old = path.with_name(f".{path.name}.old")
    if path.exists():
        if old.exists():  # a stale copy; when ``path`` is missing, ``old`` is the only checkpoint: kept
            shutil.rmtree(old)
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        if old.exists() and not path.exists():
            os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _checkpoint_write_error(path: Path, e: OSError) -> OutputError:
    reason = str(e) if isinstance(e, LatentforgeError) else str(write_error(path, e))
    return OutputError(f"Could not write the checkpoint {path}; the previous checkpoint (if any) is kept. {reason}")


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
            f"model being trained ({model.name}, {model.config_dict()}). Resume with the same settings or use a "
            "new --out."
        )
    model.load_state_dict(saved.state_dict())
    meta = read_trainer_meta(found)
    tensors = load_tensors(found / TRAINER_TENSORS, "Trainer state",
                           sha256=recorded_sha256(meta, TRAINER_TENSORS, found / "trainer.json"))
    check_finite(tensors, found / TRAINER_TENSORS, "Trainer state tensors")
    if "rng.torch" not in tensors:
        raise CheckpointError(f"{found / TRAINER_TENSORS} lacks the random state 'rng.torch'; it is corrupt. "
                              "Restore the run from a copy or start a new one.")
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
        try:
            opt.load_state_dict(optimizer_state_from_flat(tensors, meta["optimizers"][name], f"optim.{name}"))
        except (KeyError, ValueError, TypeError, AttributeError, RuntimeError) as e:
            raise CheckpointError(f"The optimiser state {name!r} in {found} cannot be restored ({e}); it is corrupt "
                                  "or from another version. Restore the run from a copy or start a new one.") from e
    torch.set_rng_state(tensors["rng.torch"])
    return meta


def read_trainer_meta(found: Path) -> dict[str, Any]:
    """trainer.json of the checkpoint ``found``, with the entries resuming needs checked for type."""
    record = found / "trainer.json"
    meta = read_json(record, "Trainer state")
    step = meta.get("step") if isinstance(meta, dict) else None
    if (not isinstance(meta, dict) or isinstance(step, bool) or not isinstance(step, int) or step < 0
            or not isinstance(meta.get("optimizers", {}), dict)):
        raise CheckpointError(f"{record} is corrupt (it needs a step count and optimiser state). Restore the run "
                              "from a copy or start a new one.")
    return meta
