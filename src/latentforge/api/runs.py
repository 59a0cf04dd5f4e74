"""Training runs and saved models: train, load, what a model is and how it was trained."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data import ImageDataset
from ..devices import resolve_device
from ..io import read_json
from ..jobs.evaluate import evaluator
from ..jobs.report import write_report
from ..models import GenerativeModel, load_model
from ..models.saving import resolve_model_dir
from ..run_config import RunConfig
from ..training import find_checkpoint
from ..training.events import EventHandler
from ..training.run import Run, build_run_config, config_source, dotted_overrides, train_run


def train(model: str | None = None, data: str | None = None, *, out: str | os.PathLike | None = None,
          epochs: int | None = None, batch_size: int | None = None, lr: float | None = None, seed: int | None = None,
          data_dir: str | None = None, image_size: int | None = None, channels: int | None = None,
          crop_size: int | None = None, crops_per_image: int | None = None,
          model_config: dict[str, Any] | None = None, train_config: dict[str, Any] | None = None,
          config: str | os.PathLike | dict | RunConfig | None = None, overrides: dict[str, Any] | None = None,
          resume: bool = False, report: bool = False, progress: bool = True,
          on_event: EventHandler | None = None, should_stop: Callable[[], bool] | None = None) -> Run:
    """Train a model and return the :class:`Run`. Keyword arguments override ``config`` (YAML path or dict);
    ``overrides`` (dotted keys such as ``{"train.grad_clip": 50}``, the CLI's ``--set``) override both.

    With ``resume=True`` and no ``config``, the run's own ``run.yaml`` is used, so training continues exactly;
    ``epochs`` (or ``train.max_steps``) may extend it, other changes to the recipe are refused. Nothing is
    written before the run directory, the data, the model and the config have been checked. Progress
    messages (start summary, a line per epoch, warnings) go to ``on_event(kind, info)``, by default to stderr
    (see :mod:`latentforge.training.events`); ``should_stop()`` is asked between steps, and True checkpoints
    the run and returns it (resumable), as ``train.max_steps`` does. The orchestration is
    :func:`latentforge.training.run.train_run`.
    """
    run_config = build_run_config(config_source(out, config, resume), dotted_overrides(
        overrides, model_config, train_config, **{
            "model.name": model, "data.name": data, "data.data_dir": data_dir, "data.image_size": image_size,
            "data.channels": channels, "data.crop_size": crop_size, "data.crops_per_image": crops_per_image,
            "train.epochs": epochs, "train.batch_size": batch_size, "train.lr": lr,
            "train.seed": seed}))
    run = train_run(run_config, out, resume=resume, progress=progress, on_event=on_event, should_stop=should_stop,
                    evaluate=evaluator(run_config.train))
    if (run.model_dir / "training.json").is_file():
        _TRAINING_RECORDS[run.model] = training_record(run.model_dir)  # so evaluate(run.model) knows its binarisation
    if report:
        run.report = write_run_report(run, run.test_data)
    return run


def write_run_report(run: Run, test_data: ImageDataset, out: str | os.PathLike | None = None) -> Path:
    """The run's HTML report (``out``, by default ``<run>/report``): figures, curves, test metrics, how and when
    it was trained (time, versions, images, learning rate, batch, device) and its configuration as YAML."""
    record = training_record(run.model_dir) if (run.model_dir / "training.json").is_file() else {}
    cfg = run.config.train
    info = {
        "model": run.config.model_name,
        "parameters": f"{run.model.trained_parameter_count():,}",
        "data": run.config.data.name,
        "images": f"{record.get('train_images', '?')} training, {record.get('test_images', len(test_data))} test",
        "epochs": f"{record.get('epochs_completed', '?')} of {cfg.epochs} ({record.get('steps', '?')} steps)",
        "training time": _duration(record.get("train_seconds")),
        "learning rate": f"{cfg.lr:g} ({cfg.schedule}, {cfg.warmup_steps} warm-up steps)",
        "batch size": cfg.batch_size,
        "device": record.get("device", cfg.device),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "versions": f"latentforge {__version__}, torch {torch.__version__}, python {platform.python_version()}",
        "report date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "run directory": str(run.dir),
    }
    if getattr(run.model.config, "likelihood", None) == "bernoulli" and cfg.binarize == "none":
        info["note"] = ("Bernoulli likelihood on grey levels: the loss is a cross-entropy surrogate, not a likelihood "
                        "of 8-bit images. Train with --set train.binarize=dynamic for NLLs comparable to the "
                        "literature.")
    config = {"model": {"name": run.model.name, **run.model.config_dict()},
              "data": dataclasses.asdict(run.config.data), "train": dataclasses.asdict(cfg)}
    return write_report(run.model, test_data, run.history, run.metrics, out or run.dir / "report",
                        title=f"latentforge: {run.config.model_name} on {run.config.data.name}", info=info,
                        config=config)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> GenerativeModel:
    """Load a saved model directory (or a run directory holding ``model/``) on ``device`` (auto, cpu, cuda,
    cuda:N, mps; a ConfigError names the devices this machine has). The model remembers its training record,
    so that :func:`evaluate` finds its data and binarisation."""
    model = load_model(path, device=resolve_device(device))
    _TRAINING_RECORDS[model] = training_record(path)
    _MODEL_DIRS[model] = resolve_model_dir(path)
    return model


# What lf.load read beside each model (training.json), for jobs given the model object rather than its path.
_TRAINING_RECORDS: weakref.WeakKeyDictionary[GenerativeModel, dict[str, Any]] = weakref.WeakKeyDictionary()
# ... and the folder it was loaded from (where its attribute vectors are saved).
_MODEL_DIRS: weakref.WeakKeyDictionary[GenerativeModel, Path] = weakref.WeakKeyDictionary()


def _record_of(model: GenerativeModel | str | os.PathLike) -> dict[str, Any] | None:
    """The training record of a model path or of a model object from :func:`load`; None when unknown."""
    if isinstance(model, GenerativeModel):
        return _TRAINING_RECORDS.get(model)
    return training_record(model)


def training_record(path: str | os.PathLike) -> dict[str, Any]:
    """A saved model's training.json (empty when the model was saved outside a training run)."""
    model_dir = resolve_model_dir(path)
    return read_json(model_dir / "training.json", "Training record") if (model_dir / "training.json").is_file() else {}


def can_resume(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` holds a checkpoint that ``train(out=run_dir, resume=True)`` continues."""
    return find_checkpoint(Path(run_dir) / "model") is not None


def training_data_config(path: str | os.PathLike) -> dict[str, Any]:
    """The data section a saved model was trained on (from its training.json)."""
    return training_record(path).get("data") or {}


def info(path: str | os.PathLike) -> dict[str, Any]:
    """What a saved model is: family, config, parameters, capabilities, what it was trained on, final metrics."""
    model_dir = resolve_model_dir(path)
    model = load(model_dir)
    training = training_record(model_dir)
    return {
        "path": str(model_dir),
        "model": model.name,
        "config": model.config_dict(),
        "parameters": model.trained_parameter_count(),
        "capabilities": sorted(c.value for c in model.capabilities),
        "trained_on": training.get("data"),
        "steps": training.get("steps"),
        "epochs_completed": training.get("epochs_completed"),
        "final_metrics": training.get("final_metrics"),
    }


def _model_and_dir(model: GenerativeModel | str | os.PathLike, device: str | torch.device = "cpu"
                   ) -> tuple[GenerativeModel, Path | None]:
    if isinstance(model, GenerativeModel):
        return model, _MODEL_DIRS.get(model)
    return load(model, device=device), resolve_model_dir(model)
