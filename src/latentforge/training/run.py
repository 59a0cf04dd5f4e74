"""Checks a training run needs before it writes anything, and the clean-up of a run that wrote nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..data import ImageDataset
from ..errors import CheckpointError, DataError, OutputError, TrainingError
from ..validation import MAX_CLASSES
from .checkpoint import find_checkpoint


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
