"""The house (issue 18): api.train's stop request, and the one schedule, conversion and weight average."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import latentforge as lf
from latentforge.data import to_float, to_uint8
from latentforge.models import load_model
from latentforge.nn.ema import update_ema
from latentforge.nn.schedules import cosine_decay
from latentforge.training import TrainConfig

from conftest import TINY_MODEL, blob_images


@pytest.fixture
def npz(tmp_path):
    path = tmp_path / "blobs.npz"
    np.savez(path, x_train=blob_images(64, seed=0)[:, 0].numpy(), x_test=blob_images(16, seed=1)[:, 0].numpy())
    return f"npz:{path}"


def train(npz, out, **kwargs):
    return lf.train("vae", npz, out=out, epochs=2, batch_size=16, model_config=dict(TINY_MODEL), progress=False,
                    train_config={"warmup_steps": 0, "eval_batch_size": 64}, **kwargs)


def test_should_stop_checkpoints_and_returns_like_max_steps(npz, tmp_path):
    polls, events = [], []

    def should_stop():
        polls.append(len(polls))
        return len(polls) > 3  # asked before each step: three steps run, the fourth question stops

    run = train(npz, tmp_path / "split", should_stop=should_stop, on_event=lambda kind, info: events.append(kind))
    assert run.metrics["step"] == 3 and run.metrics["total_steps"] == 8
    assert len(polls) == 4 and events[-1] == "stopped"
    assert lf.api.can_resume(tmp_path / "split")
    # The stopped run resumes to the same weights as a run never stopped.
    train(npz, tmp_path / "split", resume=True, on_event=lambda kind, info: None)
    train(npz, tmp_path / "full", on_event=lambda kind, info: None)
    a, b = load_model(tmp_path / "full" / "model").state_dict(), load_model(tmp_path / "split" / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_should_stop_never_true_changes_nothing(npz, tmp_path):
    run = train(npz, tmp_path / "run", should_stop=lambda: False, on_event=lambda kind, info: None)
    assert "step" not in run.metrics  # a finished run reports its test figures only


def test_one_cosine_schedule_gives_the_trainer_its_learning_rates():
    assert cosine_decay(0, 10) == 1.0 and cosine_decay(10, 10) == 0.0 and cosine_decay(20, 10) == 0.0
    assert cosine_decay(5, 10) == pytest.approx(0.5)
    cfg = TrainConfig(lr=1e-3, warmup_steps=4, lr_min_ratio=0.1)
    assert cfg.learning_rate(4, 104) == 1e-3
    assert cfg.learning_rate(54, 104) == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi / 2)))


def test_to_float_is_the_inverse_of_to_uint8():
    images = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    floats = to_float(images)
    assert floats.dtype == torch.float32 and float(floats.min()) == 0.0 and float(floats.max()) == 1.0
    assert torch.equal(to_uint8(floats), images)
    assert torch.equal(floats, images.float() / 255)  # the values the scattered conversions gave
    assert to_float(floats) is floats  # float images pass through


def test_update_ema_with_decay_zero_copies_and_integer_buffers_follow():
    source = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    average = copy.deepcopy(source)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(1.0)
    source[1].num_batches_tracked.fill_(7)
    update_ema(average, source, 0.0)
    assert all(torch.equal(a, s) for a, s in zip(average.state_dict().values(), source.state_dict().values()))
