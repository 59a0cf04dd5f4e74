"""The Python API the CLI and the web app call: train, load, and the jobs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import platform
import shutil
import warnings
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from . import __version__
from .data import ImageDataset, load_dataset, read_image, to_float
from .data.folder import list_images
from .devices import resolve_device
from .errors import ConfigError, OutputError
from .io import atomic_write_bytes, read_json
from .jobs import edit as edit_jobs
from .jobs import generate, interpolate, reconstruct
from .jobs import represent as represent_jobs
from .jobs.attributes import (
    Attribute,
    apply_attribute,
    attribute_vector,
    check_name,
    list_attributes,
    load_attribute,
    save_attribute,
)
from .jobs.edit import editable_space
from .jobs.evaluate import SHARD_MOMENTS, evaluate_model, evaluator, importance_sampled_nll, sample_quality
from .jobs.invert import invert as invert_job
from .jobs.latent_space import latent_space
from .jobs.output import (
    check_grid_output,
    check_image_output,
    check_output_target,
    non_finite_to_none,
    write_grid,
    write_image,
    write_json,
)
from .jobs.reconstruct import comparison_grid, reconstruct_whole
from .jobs.report import write_report
from .jobs.restore import Grey, LowResolution, Masked, Noisy, Restoration, solve
from .jobs.restore.files import file_targets, known_mask, restore_files
from .jobs.restore.problems import check_observed
from .jobs.whole_image import DEFAULT_OVERLAP, DEFAULT_TILE
from .metrics.ood import auprc, auroc
from .metrics.probes import knn_probe, linear_probe
from .metrics.reconstruction import psnr
from .models import GenerativeModel, load_model
from .models.saving import resolve_model_dir
from .run_config import RunConfig, load_run_config
from .training import find_checkpoint
from .training.events import EventHandler
from .training.run import Run, build_run_config, config_source, dotted_overrides, train_run
from .validation import MAX_SEED, at_least, check_value


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


def evaluate(model: GenerativeModel | str | os.PathLike, data: str | None = None, *, split: str = "test",
             data_dir: str | None = None, max_images: int | None = None, batch_size: int = 500,
             seed: int = 0, binarize: bool | None = None, fid: bool = False, samples: int = 10000,
             inception_weights: str | os.PathLike | None = None, extractor: str = "auto", nll: bool = False,
             k: int = 1000, device: str | torch.device | None = None, progress: bool = True) -> dict[str, Any]:
    """Test-split figures: loss (−ELBO for VAEs) in nats/image, bits/dim, reconstruction MSE/PSNR.

    ``model`` is a saved model's path or a model object. ``data`` defaults to the data the model was trained on
    (known for a path or a model from :func:`load`). ``binarize`` defaults to how the model was trained
    (dynamically binarised MNIST is evaluated on a test set binarised once with ``seed``); for a model object
    whose training is unknown it is False, with a warning when the model has a Bernoulli likelihood, as its
    figures on grey levels are not comparable with those on binarised images. ``fid=True`` adds sample
    quality from ``samples`` generated images (``fid-lenet`` or, with ``extractor`` ``resnet`` (the ``auto``
    choice for RGB data), ``fid-resnet``, the matching ``kid-``, precision, recall, ``fid_floor``; ``fid-inception``
    with ``inception_weights``): see docs/evaluation.md. ``nll=True`` adds the
    importance-sampled NLL from ``k`` samples per image (``nll``, ``nll_bits_per_dim``, ``active_units``,
    ``latent_dims``, ``k``, ``nll_seconds``) on the same (binarised) test images. ``device`` (auto, cpu, cuda,
    cuda:N, mps) is where a path is loaded (default auto) or a model object is moved (default: where it is).
    Bad arguments raise ConfigError before any work.
    """
    check_evaluate_arguments(split=split, max_images=max_images, batch_size=batch_size, seed=seed, k=k,
                             samples=samples)
    record = _record_of(model)
    if not isinstance(model, GenerativeModel):
        model = load(model, device=device or "auto")
    elif device is not None:
        model = model.to(resolve_device(device))
    name, data_dir = _data_source(record, data, data_dir, unknown=(
        "Which data should the model be evaluated on? Pass data= (CLI: --data); it is known by itself only for a "
        "model path or a model from lf.load."))
    binarize = _binarize_for(model, record, binarize)
    dataset = _dataset_at_model_shape(model, name, split, data_dir, record)
    result = evaluate_model(model, dataset, batch_size=batch_size, seed=seed, max_images=max_images,
                            binarize=binarize, progress=progress)
    if nll:
        found = importance_sampled_nll(model, dataset, k=k, max_images=max_images, seed=seed, binarize=binarize,
                                       progress=progress)
        found["nll_seconds"] = found.pop("seconds")
        result.update({key: value for key, value in found.items() if key not in result and key not in SHARD_MOMENTS})
    if fid:
        result.update(sample_quality(model, name, n=samples, data_dir=data_dir, seed=seed, extractor=extractor,
                                     inception_weights=inception_weights, progress=progress))
    return result


def check_evaluate_arguments(*, split: str, max_images: int | None, batch_size: int, seed: int, k: int,
                             samples: int) -> None:
    """ConfigError for an argument of :func:`evaluate` out of its range (checked before the long passes)."""
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}.")
    if max_images is not None:
        check_value("max_images", max_images, int, at_least(1))
    check_value("batch_size", batch_size, int, at_least(1))
    check_value("seed", seed, int, at_least(0, MAX_SEED))
    check_value("k (importance samples per image)", k, int, at_least(1))
    check_value("samples (generated images for FID)", samples, int, at_least(2))


def _binarize_for(model: GenerativeModel, record: dict[str, Any] | None, binarize: bool | None) -> bool:
    """``binarize`` if given, else how the model was trained; unknown training of a Bernoulli model warns."""
    if binarize is not None:
        return bool(binarize)
    if record is not None:
        return (record.get("train") or {}).get("binarize", "none") != "none"
    if getattr(getattr(model, "config", None), "likelihood", None) == "bernoulli":
        warnings.warn(
            f"evaluate: how this {model.name} model was trained is unknown (a model object not from lf.load), so "
            "it is evaluated on grey levels. If it was trained with dynamic binarisation (train.binarize=dynamic), "
            "pass binarize=True: its ELBO and NLL on grey levels are not comparable with published figures.",
            UserWarning, stacklevel=3)
    return False


# ``lf.generate`` is the generate job itself (:func:`latentforge.jobs.generate.generate`); ``lf.sample`` is its
# earlier name, kept as an alias (as the CLI's ``sample`` verb is).
sample = generate


def dataset_images(model: GenerativeModel | str | os.PathLike, data: str | None = None, *, split: str = "test",
                   n: int = 16, data_dir: str | None = None) -> torch.Tensor:
    """The first ``n`` images (fewer if the split is smaller) of ``data`` at the model's image shape, floats in
    [0, 1]; ``data`` defaults to the data the model was trained on (for a path or a model from :func:`load`)."""
    check_value("n (the number of images)", n, int, at_least(1))
    record = _record_of(model)
    name, data_dir = _data_source(record, data, data_dir,
                                  unknown="Which images? The model's training data is unknown: give image files or "
                                          "--data.")
    if not isinstance(model, GenerativeModel):
        model = load(model)
    return to_float(_dataset_at_model_shape(model, name, split, data_dir, record).images[:n])


def _data_source(record: dict[str, Any] | None, data: str | None, data_dir: str | None, *,
                 unknown: str) -> tuple[str, str | None]:
    """The dataset name and folder: those given, else the ones in the model's training record; ConfigError
    ``unknown`` when neither names the data."""
    spec = (record or {}).get("data") or {}
    name = data or spec.get("name")
    if not name:
        raise ConfigError(unknown)
    return name, data_dir or spec.get("data_dir")


def _dataset_at_model_shape(model: GenerativeModel, name: str, split: str, data_dir: str | None,
                            record: dict[str, Any] | None = None) -> ImageDataset:
    """``split`` of dataset ``name`` resized to the model's image shape (load_dataset refuses an empty split); a
    model trained on crops of that dataset (its ``record``) gets the fixed crops it was tested on in training."""
    c, h, _ = model.image_shape
    spec = (record or {}).get("data") or {}
    if spec.get("crop_size") and spec.get("name") == name:
        return load_dataset(name, split, data_dir=data_dir, image_size=spec.get("image_size"), channels=c,
                            crop_size=spec["crop_size"], crops_per_image=spec.get("crops_per_image") or 1)
    return load_dataset(name, split, data_dir=data_dir, image_size=h, channels=c)


def images_for_reconstruction(model: GenerativeModel, files: Sequence[str | os.PathLike] = (), data: str | None = None,
                              *, split: str = "test", n: int = 16, data_dir: str | None = None) -> torch.Tensor:
    """The images to reconstruct, floats in [0, 1] at the model's image shape: the image ``files`` when there are
    any, else the first ``n`` images of a dataset split (:func:`dataset_images`)."""
    if not files:
        return dataset_images(model, data, split=split, n=n, data_dir=data_dir)
    c, h, _ = model.image_shape
    return to_float(torch.stack([read_image(p, size=h, channels=c) for p in files]))


def reconstruct_to_grid(model: GenerativeModel, images: torch.Tensor, out: str | os.PathLike, *,
                        nrow: int | None = None, scale: int = 1) -> dict[str, Any]:
    """Reconstruct ``images`` and write originals above reconstructions as a grid image to ``out``; returns the
    mean errors: ``{"out", "images", "mse", "psnr"}``."""
    recon, err = reconstruct(model, images)
    grid, per_row = comparison_grid(images, recon, nrow)
    write_grid(grid, out, nrow=per_row, scale=scale)
    return {"out": str(out), "images": images.shape[0], "mse": float(err["mse"].mean()),
            "psnr": float(err["psnr"].mean())}


def reconstruct_whole_image(model: GenerativeModel | str | os.PathLike, image: torch.Tensor, *,
                            tile: int | None = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                            progress: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
    """One image (C×H×W, floats in [0, 1] or uint8) of any height and width through a fully convolutional model
    (``fcvae``; ``isinstance(model, SupportsAnySize)``): padded to the model's multiple, in overlapping tiles
    when a side exceeds ``tile`` (None: one pass), cropped back. Returns the C×H×W reconstruction and
    ``{"mse", "psnr"}``. Other models take only images of their own shape (else a DataError saying what to do)."""
    if not isinstance(model, GenerativeModel):
        model = load(model)
    return reconstruct_whole(model, image, tile=tile, overlap=overlap, progress=progress)


def reconstruct_files(model: GenerativeModel | str | os.PathLike, files: Sequence[str | os.PathLike],
                      out: str | os.PathLike, *, tile: int | None = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP,
                      progress: bool = False) -> dict[str, Any]:
    """Reconstruct each image file at its own size (:func:`reconstruct_whole_image`) and write it to ``out``
    (one file) or ``OUT-NAME.EXT`` per file, NAME the input's file name without extension (several files).
    Returns ``{"out": [...], "images", "mse", "psnr"}`` (means) and ``"per_image"`` rows."""
    if not isinstance(model, GenerativeModel):
        model = load(model)
    files = [Path(f) for f in files]
    targets = file_targets(out, files)
    for target in targets:
        check_image_output(target)  # every bad target fails before the work
    c = model.image_shape[0]
    rows = []
    for source, target in zip(files, targets):
        image = to_float(read_image(source, channels=c))
        recon, err = reconstruct_whole(model, image, tile=tile, overlap=overlap, progress=progress)
        write_image(recon, target)
        rows.append({"file": str(source), "out": str(target), "height": image.shape[1], "width": image.shape[2],
                     **err})
    return {"out": [r["out"] for r in rows], "images": len(rows), "mse": sum(r["mse"] for r in rows) / len(rows),
            "psnr": sum(r["psnr"] for r in rows) / len(rows), "per_image": rows}


# What a demo run writes into its folder; a later demo replaces these and nothing else.
DEMO_OUTPUTS = ("run.yaml", "metrics.jsonl", "model", "report")


def demo(out: str | os.PathLike = "runs/demo", *, epochs: int | None = None, progress: bool = True) -> Run:
    """Train the ``demo`` preset into ``out`` with a report. A previous demo run there is replaced (its own
    outputs only); any other non-empty folder is refused: the demo never deletes what it did not write."""
    if epochs is not None:
        check_value("epochs", epochs, int, at_least(1))
    clear_previous_demo(Path(out))
    return train(config="demo", out=out, epochs=epochs, report=True, progress=progress)


def clear_previous_demo(out: Path) -> None:
    """Remove the outputs of an earlier demo run in ``out``; OutputError if ``out`` holds anything else."""
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"The demo folder {out} is a file; give a folder with --out.")
    others = sorted(p.name for p in out.iterdir() if p.name not in DEMO_OUTPUTS and not _is_housekeeping(p.name))
    if not others and not any((out / name).exists() for name in DEMO_OUTPUTS):
        return
    if others or not _is_demo_run(out):
        listed = f"{', '.join(others[:5])}{' …' if len(others) > 5 else ''}"
        what = f"it holds {listed}" if others else "it holds another run"
        raise OutputError(f"{out} is not empty and is not a previous demo run ({what}); the demo never deletes "
                          "files it did not write. Choose another --out, or empty the folder yourself.")
    for name in DEMO_OUTPUTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def _is_housekeeping(name: str) -> bool:
    """A run's lock or temporary file (hidden), which the run machinery manages itself."""
    return name.startswith(".") and ("lock" in name or name.endswith(".tmp"))


def _is_demo_run(out: Path) -> bool:
    """Whether ``out/run.yaml`` records the demo preset's model and data."""
    try:
        recipe = yaml.safe_load((out / "run.yaml").read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    preset = load_run_config("demo")
    return (isinstance(recipe, dict) and recipe.get("model") == preset["model"]
            and (recipe.get("data") or {}).get("name") == preset["data"]["name"])


# -- editing (issue 20): interpolate is the job itself; the rest load images and models by path ----------------
def _model_and_dir(model: GenerativeModel | str | os.PathLike, device: str | torch.device = "cpu"
                   ) -> tuple[GenerativeModel, Path | None]:
    if isinstance(model, GenerativeModel):
        return model, _MODEL_DIRS.get(model)
    return load(model, device=device), resolve_model_dir(model)


def _model_dir(model: GenerativeModel | str | os.PathLike) -> Path:
    model_dir = _model_and_dir(model)[1]
    if model_dir is None:
        raise ConfigError("Attributes are saved beside a saved model: pass the model's path (or a model from lf.load).")
    return model_dir


def read_images(model: GenerativeModel, files: Sequence[str | os.PathLike]) -> torch.Tensor:
    """Image files as floats in [0, 1] at the model's image shape (resized and converted)."""
    return images_for_reconstruction(model, files) if files else torch.empty(0, *model.image_shape)


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


# -- representation (issue 20): embeddings, probes, classify, anomaly scores, latent maps -------------------
def _split_of(model: GenerativeModel, data: str | None, split: str, data_dir: str | None,
              max_images: int | None = None) -> tuple[torch.Tensor, np.ndarray | None, list[str] | None]:
    """Images (floats at the model's shape), labels and class names of a dataset split (default: the model's
    training data), the first ``max_images`` when given."""
    record = _record_of(model)
    name, data_dir = _data_source(record, data, data_dir, unknown="Which images? The model's training data is "
                                  "unknown: give --data (a dataset name, folder:PATH or npz:PATH).")
    dataset = _dataset_at_model_shape(model, name, split, data_dir, record)
    n = dataset.images.shape[0] if max_images is None else min(max_images, dataset.images.shape[0])
    labels = None if dataset.labels is None else dataset.labels[:n].numpy()
    return to_float(dataset.images[:n]), labels, dataset.class_names


def embed(model: GenerativeModel | str | os.PathLike, data: str | None = None, *, split: str = "test",
          files: Sequence[str | os.PathLike] = (), max_images: int | None = None, data_dir: str | None = None,
          out: str | os.PathLike | None = None, progress: bool = False) -> dict[str, Any]:
    """Latent codes of image ``files`` or of a dataset split: ``{"embeddings": N×D, "labels", "files"}``, written
    to ``out`` as ``.npz`` when given."""
    model, _ = _model_and_dir(model)
    if files:
        images, labels, names = read_images(model, files), None, [str(f) for f in files]
    else:
        images, labels, _ = _split_of(model, data, split, data_dir, max_images)
        names = None
    z = represent_jobs.embed(model, images, progress=progress)
    result = {"embeddings": z, "labels": labels, "files": names}
    if out is not None:
        arrays = {"embeddings": z, **({"labels": labels} if labels is not None else {}),
                  **({"files": np.asarray(names)} if names else {})}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(out, buffer.getvalue())
    return result


def probe(model: GenerativeModel | str | os.PathLike, data: str | None = None, *, data_dir: str | None = None,
          max_train: int | None = None, max_test: int | None = None, seed: int = 0, pixels: bool = True,
          save: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Linear-probe and k-NN test accuracy of the model's latent codes (trained on the train split, C and k chosen
    on a held-out tenth of it), beside the same probes on raw pixels; ``save`` keeps the linear probe beside
    the model under that name for :func:`classify`."""
    model, model_dir = _model_and_dir(model)
    if save is not None:
        represent_jobs.check_name(save, "probe")
        if model_dir is None:
            raise ConfigError("A probe is saved beside a saved model: pass the model's path (or a model from lf.load).")
    train_x, train_y, names = _split_of(model, data, "train", data_dir, max_train)
    test_x, test_y, _ = _split_of(model, data, "test", data_dir, max_test)
    if train_y is None or test_y is None:
        raise ConfigError("Probes need labelled data; this dataset has no labels (give a labelled --data).")
    train_z = represent_jobs.embed(model, train_x, progress=progress)
    test_z = represent_jobs.embed(model, test_x, progress=progress)
    linear = linear_probe(train_z, train_y, test_z, test_y, seed=seed)
    knn = knn_probe(train_z, train_y, test_z, test_y, seed=seed)
    result: dict[str, Any] = {"embedding_dims": int(train_z.shape[1]), "train_images": int(train_z.shape[0]),
                              "test_images": int(test_z.shape[0]), "linear": dataclasses.asdict(linear),
                              "knn": dataclasses.asdict(knn)}
    if pixels:
        flat_train, flat_test = train_x.flatten(1).numpy(), test_x.flatten(1).numpy()
        result["pixels_linear"] = dataclasses.asdict(linear_probe(flat_train, train_y, flat_test, test_y, seed=seed))
        result["pixels_knn"] = dataclasses.asdict(knn_probe(flat_train, train_y, flat_test, test_y, seed=seed))
    if save is not None:
        fitted = represent_jobs.LinearProbe.fit(save, train_z, train_y, c=linear.setting, seed=seed, class_names=names,
                                                info={"test_accuracy": linear.accuracy, "train_images": len(train_y)})
        result["saved"] = str(represent_jobs.save_probe(model_dir, fitted))
    return result


def classify(model: GenerativeModel | str | os.PathLike, files: Sequence[str | os.PathLike], *,
             probe: str = "default") -> list[dict[str, Any]]:
    """Predicted labels of image ``files`` by the linear probe saved beside the model under ``probe``."""
    model, model_dir = _model_and_dir(model)
    if model_dir is None:
        raise ConfigError("classify reads a probe saved beside the model: pass the model's path.")
    if not files:
        raise ConfigError("Give at least one image file to classify.")
    fitted = represent_jobs.load_probe(model_dir, probe)
    p = fitted.probabilities(represent_jobs.embed(model, read_images(model, files)))
    labels = np.asarray(fitted.classes)[p.argmax(1)]
    return [{"file": str(f), "label": int(y), "name": fitted.label_name(int(y)), "probability": float(q.max())}
            for f, y, q in zip(files, labels, p)]


def anomaly(model: GenerativeModel | str | os.PathLike, ood: str, data: str | None = None, *,
            data_dir: str | None = None, ood_dir: str | None = None, split: str = "test",
            max_images: int | None = None, k: int = 16, scores: Sequence[str] = represent_jobs.SCORES,
            reference_images: int = 10000, neighbours: int = represent_jobs.KNN_NEIGHBOURS, seed: int = 0,
            progress: bool = False) -> dict[str, Any]:
    """Anomaly scores of an in-distribution ``split`` and of an OOD set (a dataset name, folder:PATH, npz:PATH, or
    ``flipped``: the in-distribution images flipped upside down), with the AUROC and AUPRC of each score
    (OOD = positive; higher score = more anomalous). The ``knn`` score compares latent codes with those of the
    first ``reference_images`` training images of the in-distribution data (``neighbours``-th nearest)."""
    model, _ = _model_and_dir(model)
    check_value("reference_images", reference_images, int, at_least(1))
    check_value("neighbours", neighbours, int, at_least(1))
    inside, _, _ = _split_of(model, data, split, data_dir, max_images)
    if ood == "flipped":
        outside = inside.flip(-2)
    else:
        outside = to_float(_dataset_at_model_shape(model, ood, split, ood_dir or data_dir).images[:max_images])
    reference = None
    if "knn" in scores:
        reference = represent_jobs.embed(model, _split_of(model, data, "train", data_dir, reference_images)[0],
                                         progress=progress)
    kwargs = dict(scores=tuple(scores), k=k, reference=reference, neighbours=neighbours, seed=seed, progress=progress)
    s_in = represent_jobs.anomaly_scores(model, inside, **kwargs)
    s_out = represent_jobs.anomaly_scores(model, outside, **kwargs)
    rows = {name: {"auroc": auroc(s_in[name], s_out[name]), "auprc": auprc(s_in[name], s_out[name]),
                   "mean_in": float(np.mean(s_in[name])), "mean_out": float(np.mean(s_out[name]))} for name in s_in}
    return {"ood": ood, "in_images": int(inside.shape[0]), "ood_images": int(outside.shape[0]), "k": k,
            "scores": rows, "in_scores": s_in, "ood_scores": s_out}


def latent_map(model: GenerativeModel | str | os.PathLike, out: str | os.PathLike, data: str | None = None, *,
               split: str = "test", method: str = "pca", max_images: int = 2000, data_dir: str | None = None,
               seed: int = 0) -> dict[str, Any]:
    """A PNG map of the latent space: for a 2-D latent the decoded manifold grid, else a 2-D map (``pca`` or
    ``tsne``) of a split's embeddings coloured by label."""
    model, _ = _model_and_dir(model)
    out = check_image_output(out)
    if latent_space(model).dim == 2 and method == "grid":
        write_grid(represent_jobs.manifold_grid(model), out, nrow=15)
        return {"out": str(out), "kind": "manifold grid"}
    images, labels, names = _split_of(model, data, split, data_dir, max_images)
    coords = represent_jobs.project_2d(represent_jobs.embed(model, images), method, seed)
    represent_jobs.write_latent_map(coords, labels, out, title=f"{model.name} latents ({method})", class_names=names)
    return {"out": str(out), "kind": f"{method} map", "images": int(images.shape[0])}


__all__ = ["Attribute", "Run", "anomaly", "attributes", "build_run_config", "check_grid_output", "check_image_output",
           "check_output_target", "class_edit", "classify", "comparison_grid", "dataset_images", "demo", "edit",
           "embed", "evaluate", "generate", "group_images", "interpolate", "invert", "latent_map", "load",
           "make_attribute", "non_finite_to_none", "probe", "read_images", "reconstruct", "reconstruct_files",
           "reconstruct_whole_image", "sample", "train", "traverse", "write_grid", "write_image", "write_json",
           "denoise", "inpaint", "upscale", "colorize", "restore_image_files"]


# -- restoration (issue 21): a dedicated model, or projection onto any VAE or GAN (jobs/restore) --------------
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
