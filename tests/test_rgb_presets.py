"""The CIFAR-10 presets load, validate and build at 32×32×3 with the logistic mixture likelihood."""

from __future__ import annotations

import pytest

from latentforge.models import build_model
from latentforge.run_config import load_run_config


@pytest.mark.parametrize("preset,family", [("vae-cifar10", "vae"), ("hvae-cifar10", "hvae"),
                                           ("fcvae-cifar10", "fcvae")])
def test_cifar10_presets_build_rgb_models_with_the_mixture(preset, family):
    config = load_run_config(preset)
    model_config, data = config["model"], config["data"]
    assert model_config["name"] == family and data["name"] == "cifar10" and config["train"]["checkpoint_every"] > 0
    assert model_config["likelihood"] == "logistic_mixture" and model_config["kl_warmup_steps"] > 0
    model = build_model(family, {k: v for k, v in model_config.items() if k != "name"} | {"image_shape": (3, 32, 32)})
    assert model.sample(1).shape == (1, 3, 32, 32)
