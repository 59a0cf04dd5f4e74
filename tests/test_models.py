"""Model contract, registry, configs and the saved-model format."""

import json

import pytest
import torch

from latentforge.data.registry import available_datasets
from latentforge.errors import CheckpointError, ConfigError
from latentforge.models import available_models, build_model, latent_of, load_model, save_model
from latentforge.nn.backbones import stage_plan
from latentforge.run_config import available_presets, load_run_config, run_config_from_dict

from conftest import TINY_MODEL


@pytest.mark.parametrize("name", ["ae", "vae"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 64, 64), (3, 64, 64)])
def test_contract_shapes(name, shape):
    model = build_model(name, {"image_shape": shape, "likelihood": "logistic", **TINY_MODEL})
    x = torch.rand(2, *shape)
    out = model.objective((x, None))
    assert set(out) >= {"loss"} and out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    z = model.encode(x)
    z = latent_of(z)
    assert z.shape == (2, 4)
    decoded = model.decode(z)
    assert decoded.shape == (2, *shape) and 0 <= decoded.min() and decoded.max() <= 1
    samples = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, *shape)


def test_stage_plan_by_resolution():
    assert stage_plan(28) == (2, 7)
    assert stage_plan(32) == (3, 4)
    assert stage_plan(64) == (4, 4)
    with pytest.raises(ConfigError, match="multiple of 4"):
        stage_plan(30)


def test_sampling_is_reproducible_with_a_generator():
    model = build_model("vae", TINY_MODEL)
    a = model.sample(4, generator=torch.Generator().manual_seed(3))
    b = model.sample(4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_vae_elbo_parts_add_up_and_warmup_scales_kl():
    torch.manual_seed(0)
    model = build_model("vae", {**TINY_MODEL, "kl_warmup_steps": 10, "beta": 2.0})
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(1)
    out = model.objective((x, None), step=5)
    assert out["elbo"].item() == pytest.approx(-(out["rec"] + out["kl"]).item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx((out["rec"] + 1.0 * out["kl"]).item(), rel=1e-5)  # 2.0 · 5/10
    assert model.kl_weight(0) == 0 and model.kl_weight(100) == 2.0


def test_unknown_model_and_config_keys_are_clear():
    with pytest.raises(ConfigError, match="Did you mean 'vae'"):
        build_model("vea")
    with pytest.raises(ConfigError, match="latent_dimm"):
        build_model("vae", {"latent_dimm": 3})
    with pytest.raises(ConfigError, match="latent_dim must be of type int"):
        build_model("vae", {"latent_dim": "many"})
    assert {"ae", "vae"} <= set(available_models())


@pytest.mark.parametrize("preset", available_presets())
def test_every_bundled_preset_is_a_valid_run_config(preset):
    config = run_config_from_dict(load_run_config(preset))  # validates the model and training sections
    assert config.data.name in available_datasets()


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    torch.manual_seed(0)
    model = build_model("ae", TINY_MODEL)
    model.fit_prior(torch.randn(50, 4) * 3 + 1)  # buffers must survive too
    save_model(model, tmp_path / "m", training={"steps": 1})
    loaded = load_model(tmp_path / "m")
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for key in original:
        assert torch.equal(original[key], restored[key]), key
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(model.eval().decode(model.encode(x)), loaded.decode(loaded.encode(x)))


def test_truncated_weights_give_a_clear_error(tmp_path):
    save_model(build_model("vae", TINY_MODEL), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_model(tmp_path / "m")


def test_weights_from_another_model_are_rejected(tmp_path):
    save_model(build_model("vae", TINY_MODEL), tmp_path / "a")
    save_model(build_model("vae", {**TINY_MODEL, "latent_dim": 5}), tmp_path / "b")
    (tmp_path / "a" / "model.safetensors").write_bytes((tmp_path / "b" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "a")


def test_bad_config_json_and_missing_dir(tmp_path):
    with pytest.raises(CheckpointError, match="No saved model"):
        load_model(tmp_path / "nowhere")
    save_model(build_model("vae", TINY_MODEL), tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"model": "nope", "config": {}}))
    with pytest.raises(CheckpointError, match="Unknown model 'nope'"):
        load_model(tmp_path / "m")


def test_loading_never_unpickles(tmp_path):
    save_model(build_model("vae", TINY_MODEL), tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["config.json", "model.safetensors"]
    assert (tmp_path / "m" / "model.safetensors").read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle stream


def test_ae_samples_follow_fitted_prior():
    torch.manual_seed(0)
    model = build_model("ae", TINY_MODEL)
    latents = torch.randn(5000, 4) * torch.tensor([1.0, 2.0, 0.5, 3.0]) + torch.tensor([5.0, -1.0, 0.0, 2.0])
    model.fit_prior(latents)
    z = model.prior_sample(5000, 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), latents.mean(0), atol=0.15)
    assert torch.allclose(z.std(0), latents.std(0), rtol=0.08)
