"""Run orchestration: a run config from its sources, the model it builds for the data (config guessing),
the checks a run needs before it writes anything, the run record, and the clean-up of a run that wrote
nothing. ``api.train`` is a thin façade over :func:`train_run`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..data import ImageDataset, load_dataset
from ..errors import CheckpointError, DataError, OutputError, TrainingError
from ..models import GenerativeModel, build_model, get_model_class
from ..models.saving import init_weights_from
from ..run_config import RunConfig, apply_overrides, load_run_config, run_config_from_dict
from ..validation import MAX_CLASSES
from ..version import __version__
from .checkpoint import find_checkpoint
from .events import EventHandler
from .logging import read_metrics
from .trainer import Trainer

Evaluate = Callable[[GenerativeModel, ImageDataset], dict[str, float]]


@dataclasses.dataclass
class Run:
    """A finished (or stopped) training run; ``test_data`` is the split it was evaluated on."""

    dir: Path
    model: GenerativeModel
    config: RunConfig
    metrics: dict[str, float]
    report: Path | None = None
    test_data: ImageDataset | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def model_dir(self) -> Path:
        return self.dir / "model"

    @property
    def history(self) -> list[dict[str, Any]]:
        return read_metrics(self.dir / "metrics.jsonl")


def build_run_config(config: str | os.PathLike | dict | RunConfig | None = None,
                     overrides: dict[str, Any] | None = None) -> RunConfig:
    """Combine a YAML file / dict / RunConfig with dotted overrides (``{"train.lr": 3e-4}``)."""
    if isinstance(config, RunConfig):
        values = config.to_dict()
    elif isinstance(config, dict):
        values = config
    elif config is not None:
        values = load_run_config(config)
    else:
        values = {}
    return run_config_from_dict(apply_overrides(values, overrides or {}))


def config_source(out: str | os.PathLike | None, config: str | os.PathLike | dict | RunConfig | None,
                  resume: bool) -> str | os.PathLike | dict | RunConfig | None:
    """The config a run starts from: ``config``, or on resume without one the run's own run.yaml."""
    if resume and out is not None and config is None and (Path(out) / "run.yaml").is_file():
        return Path(out) / "run.yaml"
    return config


def dotted_overrides(extra: dict[str, Any] | None, model_config: dict[str, Any] | None,
                     train_config: dict[str, Any] | None, **named: Any) -> dict[str, Any]:
    """Dotted overrides: the named arguments, then model_config/train_config, then ``extra`` (--set) win."""
    overrides = dict(named)
    overrides.update({f"model.{k}": v for k, v in (model_config or {}).items()})
    overrides.update({f"train.{k}": v for k, v in (train_config or {}).items()})
    overrides.update(extra or {})
    return overrides


def load_data(config: RunConfig, split: str) -> ImageDataset:
    d = config.data
    return load_dataset(d.name, split, data_dir=d.data_dir, image_size=d.image_size, channels=d.channels,
                        crop_size=d.crop_size, crops_per_image=d.crops_per_image)


def model_for(config: RunConfig, data: ImageDataset) -> GenerativeModel:
    """The model the config names, sized for ``data``: the likelihood and the number of classes default to
    the data's own unless the config sets them; the train seed gives the initial weights."""
    options = {**config.model_options, "image_shape": data.shape}
    field_names = {f.name for f in dataclasses.fields(get_model_class(config.model_name).config_class)}
    if "likelihood" in field_names and "likelihood" not in options:
        options["likelihood"] = data.likelihood_hint
    if "num_classes" in field_names and "num_classes" not in options and data.num_classes:
        options["num_classes"] = data.num_classes
    torch.manual_seed(config.train.seed)  # the same seed gives the same initial weights
    return build_model(config.model_name, options)


def num_classes_for(config: RunConfig, data: ImageDataset) -> int | None:
    """The classes a class-conditional model will be built with (None for other models)."""
    fields = {f.name: f for f in dataclasses.fields(get_model_class(config.model_name).config_class)}
    if "num_classes" not in fields:
        return None
    return int(config.model_options.get("num_classes") or data.num_classes or fields["num_classes"].default)


def default_run_dir(config: RunConfig) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.model_name}-{config.data.name.replace(':', '-').replace('/', '_')}-{stamp}"


def run_record(config: RunConfig, train: ImageDataset, test: ImageDataset) -> dict[str, Any]:
    """What training.json records about the run besides the Trainer's own figures."""
    return {
        "model": config.model_name,
        "data": dataclasses.asdict(config.data),
        "train_images": len(train),
        "test_images": len(test),
        "latentforge_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }


def train_run(run_config: RunConfig, out: str | os.PathLike | None = None, *, resume: bool = False,
              progress: bool = True, on_event: EventHandler | None = None,
              should_stop: Callable[[], bool] | None = None, evaluate: Evaluate | None = None) -> Run:
    """Check, build and train one run into ``out`` (by default a new folder under ``runs/``).

    Nothing is written before the run directory, the data, the model and the config have been checked.
    ``evaluate(model, test_data)`` gives the test figures (the caller picks the evaluation job);
    ``should_stop()`` is polled between steps: True checkpoints and returns, as ``train.max_steps`` does."""
    run_dir = Path(out) if out is not None else default_run_dir(run_config)
    check_run_dir(run_dir, resume)
    if resume and (run_dir / "run.yaml").is_file():
        run_config.check_resume(build_run_config(run_dir / "run.yaml"), str(run_dir / "run.yaml"))
    train_data, test_data = load_data(run_config, "train"), load_data(run_config, "test")
    check_training_data(train_data, test_data, num_classes_for(run_config, train_data))
    run_config.validate(train_data.shape)  # the model options against the real image shape
    net = model_for(run_config, train_data)
    if run_config.train.init_from and not resume:
        init_weights_from(net, run_config.train.init_from)
    trainer = Trainer(net, train_data, test_data, run_config.train, run_dir,
                      run_info=run_record(run_config, train_data, test_data), progress=progress, on_event=on_event,
                      recipe=run_config.recipe(), evaluate=evaluate, should_stop=should_stop)
    with removed_if_unused(run_dir):
        metrics = trainer.fit(resume=resume)
    trained = trainer.evaluation_model.to(memory_format=torch.contiguous_format).eval()
    return Run(dir=run_dir, model=trained, config=run_config, metrics=metrics, test_data=test_data)


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """A new run needs a free ``run_dir``; a resumed one a checkpoint in it. Checked before anything is written,
    so that a refused call leaves an existing run (and its run.yaml) untouched."""
    if run_dir.exists() and not run_dir.is_dir():
        raise OutputError(f"The run directory {run_dir} is a file; give a folder with --out.")
    has_run = find_checkpoint(run_dir / "model") is not None
    if resume and not has_run:
        raise CheckpointError(f"Nothing to resume: no checkpoint (model/trainer.json) in {run_dir}. "
                              "Train without --resume.")
    if not resume and has_run:
        raise TrainingError(
            f"{run_dir} already holds a training run; pass --resume to continue it or choose another --out."
        )


def check_training_data(train: ImageDataset, test: ImageDataset, num_classes: int | None) -> None:
    """Both splits hold images, and a class-conditional model (``num_classes`` not None) gets labels that are
    class indices 0..K−1: refused here, before training, rather than in the middle of it."""
    for split in (train, test):
        if len(split) == 0:
            raise DataError(f"The {split.split} split of {split.name!r} holds no images; training needs images in "
                            "both the train and the test split (see docs/data.md for how splits are made).")
    if num_classes is not None:
        for split in (train, test):
            check_labels(split, num_classes)


def check_labels(split: ImageDataset, num_classes: int) -> None:
    if split.labels is None:
        raise DataError(f"This model is class-conditional, but the {split.split} split of {split.name!r} has no "
                        "labels; use a labelled dataset (mnist, fashion-mnist, digits, npz with y_train/y_test).")
    if not 2 <= num_classes <= MAX_CLASSES:
        raise DataError(
            f"The labels of {split.name!r} give {num_classes} classes; a class-conditional model needs 2 to "
            f"{MAX_CLASSES:,} classes numbered 0, 1, 2, …  Renumber the labels as class indices."
        )
    low, high = int(split.labels.min()), int(split.labels.max())
    if low < 0 or high >= num_classes:
        raise DataError(f"The {split.split} labels of {split.name!r} lie in {low}..{high}, outside the class indices "
                        f"0..{num_classes - 1}; labels must number the classes 0, 1, 2, …")


@contextmanager
def removed_if_unused(run_dir: Path) -> Iterator[None]:
    """Remove ``run_dir`` again if the block fails, this call created it and no training result (checkpoint
    or metrics record) landed in it: failed commands leave no empty run directories behind."""
    created = not run_dir.exists()
    try:
        yield
    except BaseException:
        if created and run_dir.is_dir() and not _holds_results(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _holds_results(run_dir: Path) -> bool:
    metrics = run_dir / "metrics.jsonl"
    return find_checkpoint(run_dir / "model") is not None or (metrics.is_file() and metrics.stat().st_size > 0)
