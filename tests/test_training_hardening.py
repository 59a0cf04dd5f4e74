"""Issue 17, training side: nothing lost, nothing silent. Refused runs leave no trace, every numeric config
value is validated, messages appear without a terminal, collapse and meaningless FIDs are called out."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

import latentforge as lf
from latentforge import api
from latentforge.data import ImageDataset
from latentforge.errors import CheckpointError, ConfigError, DataError, TrainingError
from latentforge.jobs.evaluate import evaluator
from latentforge.jobs.evaluate import features as feat
from latentforge.jobs.report import write_report
from latentforge.models import available_models, build_model, get_model_class
from latentforge.models.vae import VAE
from latentforge.run_config import run_config_from_dict
from latentforge.training import TrainConfig, Trainer, read_metrics
from latentforge.training import run as training_run
from latentforge.validation import limits_of, numeric_fields

from conftest import TINY_MODEL, blob_images, tiny_dataset

# the module, not the function of the same name that latentforge.jobs.evaluate exports
sq = importlib.import_module("latentforge.jobs.evaluate.sample_quality")

FAST = {"batch_size": 32, "train_config": {"warmup_steps": 0, "eval_batch_size": 64}, "progress": False}


def write_npz(path, n_train: int = 64, n_test: int = 16, size: int = 28, train_labels=None):
    labels = np.arange(n_train) % 4 if train_labels is None else train_labels
    np.savez(path, x_train=blob_images(n_train, size, seed=0)[:, 0].numpy(),
             x_test=blob_images(n_test, size, seed=1)[:, 0].numpy().reshape(n_test, size, size),
             y_train=labels, y_test=np.arange(n_test) % 4)
    return f"npz:{path}"


@pytest.fixture
def npz(tmp_path):
    return write_npz(tmp_path / "blobs.npz")


def quick_train(npz, out, **kwargs):
    options = {**FAST, "model_config": dict(TINY_MODEL), **kwargs}
    return lf.train("vae", npz, out=out, on_event=lambda kind, info: None, **options)


# -- nothing lost, nothing left behind ------------------------------------------------------------------------

def test_a_refused_train_leaves_the_existing_run_yaml_untouched(npz, tmp_path):
    out = tmp_path / "run"
    quick_train(npz, out, train_config={**FAST["train_config"], "max_steps": 1})
    before = (out / "run.yaml").read_bytes()
    with pytest.raises(TrainingError, match="already holds a training run"):
        quick_train(npz, out, lr=0.05)
    assert (out / "run.yaml").read_bytes() == before


@pytest.mark.parametrize("failure", ["empty test split", "bad option for the data", "nan loss"])
def test_failed_commands_leave_no_empty_run_directory(npz, tmp_path, monkeypatch, failure):
    out = tmp_path / "never"
    if failure == "empty test split":
        empty = ImageDataset(blob_images(0), torch.zeros(0, dtype=torch.long), "blobs", "test", 4, "bernoulli")
        real = training_run.load_data
        monkeypatch.setattr(training_run, "load_data",
                            lambda config, split: empty if split == "test" else real(config, split))
        expected = DataError
    elif failure == "bad option for the data":  # three latent scales need 64×64 images, these are 28×28
        expected = ConfigError
    else:
        monkeypatch.setattr(VAE, "objective",
                            lambda self, batch, step=0, player="main": {"loss": torch.tensor(math.nan)})
        expected = TrainingError
    with pytest.raises(expected):
        if failure == "bad option for the data":
            lf.train("hvae", npz, out=out, model_config={"latent_scales": 3, "channels": 4}, progress=False)
        else:
            quick_train(npz, out)
    assert not out.exists()


def test_an_empty_split_is_refused_before_training(tmp_path, monkeypatch):
    train, empty = tiny_dataset(16), ImageDataset(blob_images(0), None, "blobs", "test", None, "bernoulli")
    monkeypatch.setattr(training_run, "load_data", lambda config, split: train if split == "train" else empty)
    with pytest.raises(DataError, match="test split of 'blobs' holds no images"):
        lf.train("vae", "blobs", out=tmp_path / "run", progress=False)


def test_cvae_labels_outside_the_class_range_are_refused_before_training(tmp_path):
    labels = np.arange(64) % 4
    labels[5] = 10**12
    spec = write_npz(tmp_path / "huge.npz", train_labels=labels)
    with pytest.raises(DataError, match="classes numbered 0, 1, 2"):
        lf.train("cvae", spec, out=tmp_path / "run", progress=False)
    with pytest.raises(DataError, match=r"lie in 0\.\.3, outside the class indices 0\.\.1"):
        lf.train("cvae", write_npz(tmp_path / "ok.npz"), out=tmp_path / "run", model_config={"num_classes": 2},
                 progress=False)
    assert not (tmp_path / "run").exists()


# -- every numeric config value is validated ------------------------------------------------------------------

def config_classes():
    classes = {TrainConfig, *(get_model_class(name).config_class for name in available_models())}
    return sorted(classes, key=lambda cls: cls.__name__)


def bad_values(kind: type, limit) -> list:
    """Values outside the field's class: wrong types, non-finite numbers, and just past each bound."""
    values = [math.nan, math.inf, -math.inf, "3", True] if kind is not bool else ["yes", 1]
    if kind is int:
        values.append(1.5)
    if limit is not None and limit.low is not None:
        values.append(limit.low if limit.low_open else limit.low - (1 if kind is int else 1e-3))
    if limit is not None and limit.high is not None:
        values.append(limit.high if limit.high_open else limit.high * 2 + 1)
    return values


@pytest.mark.parametrize("cls", config_classes(), ids=lambda cls: cls.__name__)
def test_every_numeric_field_of_every_config_has_a_range_and_refuses_values_outside_it(cls):
    section = "train" if cls is TrainConfig else "model"
    limits = limits_of(cls)
    for name, (kind, _, is_tuple) in numeric_fields(cls).items():
        if kind is not bool:
            assert name in limits, f"{cls.__name__}.{name} has no declared range"
        for bad in bad_values(kind, limits.get(name)):
            value = (bad,) * len(getattr(cls(), name)) if is_tuple else bad
            config = dataclasses.replace(cls(), **{name: value})
            with pytest.raises(ConfigError, match=re.escape(f"{section}.{name} must be")):
                config.validate()


@pytest.mark.parametrize("override", [{"train.grad_clip": -1}, {"train.lr_min_ratio": 1.5}, {"model.beta": "nan"},
                                      {"train.weight_decay": -0.1}, {"model.latent_dim": 0}, {"train.epochs": True}])
def test_bad_values_from_set_are_refused_with_the_key_named(override):
    key = next(iter(override))
    with pytest.raises(ConfigError, match=re.escape(key)):
        api.build_run_config(None, override)


def test_cli_refuses_a_nan_beta_in_one_line(npz, tmp_path):
    from latentforge.cli import main

    result = CliRunner().invoke(main, ["train", "--data", npz, "--beta", "nan", "--out", str(tmp_path / "r"),
                                       "--no-progress"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_hvae_options_are_validated_against_the_real_image_shape():
    config = run_config_from_dict({"model": {"name": "hvae", "latent_scales": 3, "channels": 4}})
    config.validate((1, 64, 64))  # 64 → 32 → 16 → 8: three latent scales fit
    model = build_model("hvae", {**config.model_options, "image_shape": (1, 64, 64)})
    assert len({shape[-1] for shape in model.latent_shapes}) == 3
    with pytest.raises(ConfigError, match="latent_scales must be between 1 and 2 for 28×28"):
        config.validate((1, 28, 28))


# -- resume and extending a run -------------------------------------------------------------------------------

def test_resume_with_more_epochs_extends_the_run_and_records_them(npz, tmp_path):
    out = tmp_path / "run"
    quick_train(npz, out, epochs=1)
    steps_one = json.loads((out / "model" / "training.json").read_text())["steps"]
    lf.train(out=out, resume=True, epochs=2, progress=False, on_event=lambda kind, info: None)
    assert yaml.safe_load((out / "run.yaml").read_text())["train"]["epochs"] == 2
    record = json.loads((out / "model" / "training.json").read_text())
    assert record["steps"] == 2 * steps_one and record["epochs_completed"] == 2
    before = (out / "run.yaml").read_bytes()
    with pytest.raises(ConfigError, match=r"train\.lr: 0\.001 → 0\.01.*only .*train\.epochs"):
        lf.train(out=out, resume=True, lr=0.01, progress=False)
    assert (out / "run.yaml").read_bytes() == before
    with pytest.raises(CheckpointError, match="Nothing to resume"):
        lf.train("vae", npz, out=tmp_path / "none", resume=True, progress=False)


# -- messages without a terminal ------------------------------------------------------------------------------

def test_start_summary_and_epoch_lines_go_to_stderr_without_progress_bars(npz, tmp_path, capfd):
    lf.train("vae", npz, out=tmp_path / "run", epochs=2, model_config=dict(TINY_MODEL), batch_size=32,
             progress=False)
    out, err = capfd.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert re.match(r"training vae \([\d,]+ parameters, \w+ likelihood\) on 64 training images, 16 test "
                    r"images; device cpu; 2 epochs \(4 steps\) of batch 32, lr 0\.001", lines[0])
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(",")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert all(re.search(r"train loss [\d.]+; test loss [\d.]+.*psnr.*\([\d.]+ s\)", line) for line in epochs)


def test_a_run_stopped_by_max_steps_returns_and_prints_its_last_figures(npz, tmp_path):
    events = []
    run = lf.train("vae", npz, out=tmp_path / "run", model_config=dict(TINY_MODEL), batch_size=16, progress=False,
                   train_config={"max_steps": 3}, on_event=lambda kind, info: events.append((kind, info)))
    assert run.metrics["step"] == 3 and math.isfinite(run.metrics["train_loss"]) and "train_kl" in run.metrics
    stopped = [info for kind, info in events if kind == "stopped"]
    assert len(stopped) == 1 and stopped[0]["step"] == 3 and stopped[0]["train"]["loss"] == run.metrics["train_loss"]


# -- posterior collapse ---------------------------------------------------------------------------------------

def train_collecting_events(tmp_path, epochs: int = 3, **config) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    torch.manual_seed(0)
    model = build_model("vae", {**TINY_MODEL, **config})
    train_config = TrainConfig(epochs=epochs, batch_size=16, warmup_steps=0, lr=3e-3, schedule="constant",
                               eval_every=0, channels_last=False)
    Trainer(model, tiny_dataset(64), tiny_dataset(16, "test", seed=1), train_config, tmp_path, progress=False,
            on_event=lambda kind, info: events.append((kind, info)), evaluate=evaluator(train_config)).fit()
    return events


def test_posterior_collapse_is_reported_as_a_warning_and_in_the_metrics(tmp_path, monkeypatch):
    original = VAE.objective

    def collapsed(self, batch, step=0, player="main"):
        out = original(self, batch, step)
        return {**out, "kl": out["kl"] * 0}  # what a collapsed posterior reports

    monkeypatch.setattr(VAE, "objective", collapsed)
    events = train_collecting_events(tmp_path)
    warnings = [info for kind, info in events if kind == "warning"]
    # not in the first epoch, where a fresh encoder still sits at the prior
    assert [w["epoch"] for w in warnings] == [2, 3] and all(w["warning"] == "posterior_collapse" for w in warnings)
    logged = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["event"] == "warning"]
    assert [r["epoch"] for r in logged] == [2, 3]


def test_no_collapse_warning_on_a_normal_run_or_during_the_kl_warm_up(tmp_path, monkeypatch):
    events = train_collecting_events(tmp_path / "normal")
    assert not [info for kind, info in events if kind == "warning"]
    epoch_kl = [info["train"]["kl"] for kind, info in events if kind == "epoch"]
    assert min(epoch_kl[1:]) > 0.1  # the case the check is about: the posterior carries information

    original = VAE.objective
    monkeypatch.setattr(VAE, "objective", lambda self, batch, step=0, player="main": {**original(self, batch, step),
                                                                        "kl": torch.tensor(0.0)})
    events = train_collecting_events(tmp_path / "warm", kl_warmup_steps=8)  # 4 steps an epoch: epoch 3 is past it
    assert [info["epoch"] for kind, info in events if kind == "warning"] == [3]


# -- interruption ---------------------------------------------------------------------------------------------

def test_a_sigterm_during_training_keeps_the_last_checkpoint_and_the_run(npz, tmp_path, monkeypatch):
    from latentforge.cli import Terminated

    original = VAE.objective

    def terminated_at_step_3(self, batch, step=0, player="main"):
        if step == 3:
            raise Terminated()
        return original(self, batch, step)

    monkeypatch.setattr(VAE, "objective", terminated_at_step_3)
    out = tmp_path / "run"
    with pytest.raises(Terminated):
        quick_train(npz, out, batch_size=16, train_config={"checkpoint_every": 2, "warmup_steps": 0})
    assert json.loads((out / "model" / "training.json").read_text())["steps"] == 2
    monkeypatch.setattr(VAE, "objective", original)
    run = lf.train(out=out, resume=True, epochs=1, progress=False, on_event=lambda kind, info: None)
    assert "loss" in run.metrics


# -- the report -----------------------------------------------------------------------------------------------

def test_the_report_works_with_a_three_image_test_split(tmp_path):
    spec = write_npz(tmp_path / "three.npz", n_test=3)
    run = quick_train(spec, tmp_path / "run", epochs=1, report=True)
    page = run.report.read_text()
    for expected in ("training time", "report date", "torch", "python", "64 training, 3 test", "batch size",
                     "learning rate", "device", "<h2>Configuration</h2>", "latent_dim: 4"):
        assert expected in page
    assert "{&#x27;" not in page and "{&quot;" not in page  # no Python dict or JSON repr
    assert "train:\n  epochs: 1\n" in page and "data: {" not in page  # every section as an indented block
    assert (run.report.parent / "interpolation.png").is_file()  # one pair
    assert (run.report.parent / "reconstructions.png").is_file()

    one = ImageDataset(blob_images(1), None, "blobs", "test", None, "bernoulli")
    page = write_report(run.model, one, [], {}, tmp_path / "one").read_text()
    assert "No interpolation: it needs 2 test images" in page


# -- sample quality -------------------------------------------------------------------------------------------

TINY_RECIPE = feat.LeNetRecipe(widths=(4, 8, 8), feature_dim=8, epochs=1, batch_size=32)


def test_fid_is_refused_when_the_feature_extractor_is_no_better_than_chance(npz, tmp_path):
    """The blobs' labels (index mod 4) say nothing about the images: the classifier cannot beat chance."""
    model = build_model("vae", TINY_MODEL)
    with pytest.raises(DataError, match=r"reaches only [\d.]+% test accuracy on its 4 classes .*not reported"):
        sq.sample_quality(model, npz, n=8, recipe=TINY_RECIPE, cache_dir=tmp_path / "cache", kid_subsets=2,
                          kid_subset_size=4)


def test_fid_data_is_checked_before_generating_or_training(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("generated or trained before the data was checked")

    monkeypatch.setattr(sq, "generated_images", never)
    monkeypatch.setattr(feat, "train_lenet", never)
    model = build_model("vae", TINY_MODEL)
    one_class = write_npz(tmp_path / "one.npz", train_labels=np.zeros(64, dtype=int))
    with pytest.raises(DataError, match="1 class"):
        sq.sample_quality(model, one_class, n=8, cache_dir=tmp_path / "cache")
    sparse = write_npz(tmp_path / "sparse.npz", train_labels=np.r_[np.zeros(60, dtype=int), np.ones(4, dtype=int)])
    with pytest.raises(DataError, match="class 1: 4"):
        sq.sample_quality(model, sparse, n=8, cache_dir=tmp_path / "cache")
