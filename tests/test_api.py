"""The Python API: train/load/sample/reconstruct/evaluate/interpolate, and the bundled default data."""

import pytest
import torch

import latentforge as lf
from latentforge.errors import CheckpointError, ConfigError, DataError
from latentforge.models import build_model

from conftest import TINY_MODEL


def test_train_returns_a_run_and_load_gives_the_same_model(tiny_npz, tmp_path):
    run = lf.train("ae", f"npz:{tiny_npz}", out=tmp_path / "r", epochs=2, batch_size=16, model_config=TINY_MODEL,
                   progress=False)
    assert run.model_dir.is_dir() and run.metrics["images"] == 32
    assert [r["epoch"] for r in run.history if r["event"] == "eval"] == [1, 2]
    loaded = lf.load(run.dir)
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(loaded.decode(loaded.encode(x)), run.model.decode(run.model.encode(x)))
    assert torch.equal(lf.sample(loaded, 4, seed=1), lf.sample(run.model, 4, seed=1))
    assert not torch.equal(lf.sample(loaded, 4, seed=1), lf.sample(loaded, 4, seed=2))


def test_init_from_starts_an_iwae_run_from_a_trained_vae(tiny_npz, tmp_path):
    vae = lf.train("vae", f"npz:{tiny_npz}", out=tmp_path / "vae", epochs=1, batch_size=16, model_config=TINY_MODEL,
                   progress=False)
    tuned = lf.train("iwae", f"npz:{tiny_npz}", out=tmp_path / "iwae", epochs=1, batch_size=16, lr=1e-9,
                     model_config={**TINY_MODEL, "k": 3}, train_config={"init_from": str(vae.dir), "warmup_steps": 0},
                     progress=False)
    start, end = lf.load(vae.dir).state_dict(), lf.load(tuned.dir).state_dict()
    assert start.keys() == end.keys()
    assert all(torch.allclose(start[key], end[key], atol=1e-6) for key in start)  # lr 1e-9: it began from the vae
    fresh = build_model("iwae", {**TINY_MODEL, "k": 3}).state_dict()
    assert not all(torch.equal(fresh[key], end[key]) for key in fresh)

    with pytest.raises(CheckpointError, match=r"do not fit the iwae model.*wrong shape.*same networks"):
        lf.train("iwae", f"npz:{tiny_npz}", out=tmp_path / "bad", epochs=1, batch_size=16,
                 model_config={**TINY_MODEL, "latent_dim": 5}, train_config={"init_from": str(vae.dir)},
                 progress=False)
    assert not (tmp_path / "bad").exists()  # refused before anything was written


def test_reconstruct_and_interpolate():
    model = build_model("vae", TINY_MODEL).eval()
    x = torch.rand(4, 1, 28, 28)
    recon, err = lf.reconstruct(model, x)
    assert recon.shape == x.shape and err["psnr"].shape == (4,)
    path = lf.interpolate(model, x[0], x[1], steps=5)
    assert path.shape == (5, 1, 28, 28)
    enc = model.encode(x[:2]).mean
    assert torch.allclose(model.decode(enc), torch.stack([path[0], path[-1]]), atol=1e-5)


def test_wrong_image_shape_is_explained():
    model = build_model("vae", TINY_MODEL)
    with pytest.raises(DataError, match=r"expects N×1×28×28"):
        lf.reconstruct(model, torch.rand(2, 3, 32, 32))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        lf.reconstruct(model, torch.rand(2, 1, 28, 28) * 5)


def test_likelihood_follows_the_data(tiny_npz, tmp_path):
    run = lf.train("vae", f"npz:{tiny_npz}", out=tmp_path / "r", epochs=1, batch_size=32, model_config=TINY_MODEL,
                   progress=False)
    assert run.model.config.likelihood == "logistic"  # npz data is 8-bit grey, not binary digits


def test_evaluate_a_saved_model_on_its_training_data(tiny_npz, tmp_path):
    run = lf.train("vae", f"npz:{tiny_npz}", out=tmp_path / "r", epochs=1, batch_size=32, model_config=TINY_MODEL,
                   progress=False)
    figures = lf.evaluate(run.model_dir, max_images=8)
    assert figures["images"] == 8 and figures["loss"] > 0
    # the trained model object knows its data and training record, as a loaded one does
    assert lf.evaluate(run.model, max_images=8) == pytest.approx(figures)


def test_bad_train_arguments(tmp_path):
    with pytest.raises(ConfigError, match="epochs"):
        lf.train("vae", "digits", out=tmp_path / "r", epochs=0)
    with pytest.raises(ConfigError, match="Unknown config section"):
        lf.train(config={"modle": {"name": "vae"}}, out=tmp_path / "r")


@pytest.mark.slow
def test_default_vae_learns_digits_on_the_bundled_data(tmp_path):
    """The real default path: mnist-5k, the default VAE, a short run that must clearly learn."""
    run = lf.train(config="demo", out=tmp_path / "r", epochs=2, progress=False)
    assert run.config.data.name == "mnist-5k" and run.metrics["images"] == 1000
    assert run.metrics["loss"] < 200  # an untrained model scores ~550 nats/image; 2 epochs measured ~155
    assert run.metrics["psnr"] > 11.5  # an untrained model: ~7 dB; 2 epochs measured 13.0 dB


def test_info_and_reconstruction_images_come_from_the_api(tiny_npz, tmp_path):
    """The CLI's info record and its images for reconstruct are API functions (the CLI only prints)."""
    from PIL import Image

    from latentforge import api

    run = lf.train("ae", f"npz:{tiny_npz}", out=tmp_path / "r", epochs=1, batch_size=16, model_config=TINY_MODEL,
                   progress=False)
    record = api.info(run.dir)
    assert record["model"] == "ae" and record["path"] == str(run.model_dir) and record["steps"] > 0
    assert record["final_metrics"]["images"] == run.metrics["images"]
    model = lf.load(run.dir)
    from_data = api.images_for_reconstruction(model, n=5)
    assert from_data.shape == (5, 1, 28, 28) and torch.equal(from_data, api.dataset_images(model, n=5))
    Image.fromarray((from_data[0, 0] * 255).round().byte().numpy()).resize((56, 56)).save(tmp_path / "a.png")
    from_file = api.images_for_reconstruction(model, [tmp_path / "a.png"], n=5)
    assert from_file.shape == (1, 1, 28, 28) and 0 <= float(from_file.min()) <= float(from_file.max()) <= 1
    figures = api.reconstruct_to_grid(model, from_data, tmp_path / "grid.png", nrow=5)
    assert (tmp_path / "grid.png").is_file() and figures["images"] == 5 and figures["psnr"] > 0
