"""Representation (issue 20): embeddings, probes, classification, anomaly scores, latent maps."""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..data import to_float
from ..errors import ConfigError
from ..io import atomic_write_bytes
from ..jobs import represent as represent_jobs
from ..jobs.latent_space import latent_space
from ..jobs.output import (
    check_image_output,
    write_grid,
)
from ..metrics.ood import auprc, auroc
from ..metrics.probes import knn_probe, linear_probe
from ..models import GenerativeModel
from ..validation import at_least, check_value
from .images import _data_source, _dataset_at_model_shape, read_images
from .runs import _model_and_dir, _record_of


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
    """Linear-probe and k-NN test accuracy of the model's latent codes (trained on the train split, C, k and the
    k-NN distance chosen on a held-out tenth of it), beside the same probes on raw pixels; ``save`` keeps the
    linear probe beside the model under that name for :func:`classify`."""
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
