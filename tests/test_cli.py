"""The CLI end to end on tiny data, and its messages for bad input."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from PIL import Image

from latentforge.cli import main

TINY = ["--set", "model.latent_dim=4", "--set", "model.channels=4", "--batch-size", "16", "--no-progress"]


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny training run through the CLI that later tests reuse."""
    import numpy as np

    from conftest import blob_images

    tmp = tmp_path_factory.mktemp("cli")
    data = tmp / "blobs.npz"
    np.savez(data, x_train=blob_images(64, seed=0)[:, 0].numpy(), x_test=blob_images(32, seed=1)[:, 0].numpy())
    out = tmp / "run"
    result = run("train", "--model", "vae", "--data", f"npz:{data}", "--epochs", "2", "--out", out, "--report", *TINY)
    return out, data, result


def test_train_writes_model_metrics_and_report(trained):
    out, _, result = trained
    metrics = json.loads(result.output[result.output.index("{"):])
    assert metrics["images"] == 32 and metrics["psnr"] > 0
    for name in ("samples.png", "reconstructions.png", "interpolation.png", "curves.png", "report.html",
                 "metrics.json"):
        assert (out / "report" / name).is_file(), name
    html = (out / "report" / "report.html").read_text()
    assert 'src="samples.png"' in html and "psnr" in html


def test_sample_reconstruct_evaluate_info(trained, tmp_path):
    out, data, _ = trained
    run("sample", out / "model", "-n", "6", "-o", tmp_path / "grid.png", "--nrow", "3")
    assert Image.open(tmp_path / "grid.png").size == (3 * 30 + 2, 2 * 30 + 2)

    result = run("reconstruct", out, "-n", "5", "-o", tmp_path / "rec.png")
    assert json.loads(result.output)["images"] == 5

    Image.new("L", (40, 50), 200).save(tmp_path / "photo.png")
    result = run("reconstruct", out, tmp_path / "photo.png", "-o", tmp_path / "rec2.png")
    assert json.loads(result.output)["images"] == 1

    result = run("evaluate", out, "--max-images", "10", "-o", tmp_path / "eval.json")
    figures = json.loads(result.output)
    assert figures["images"] == 10 and {"loss", "elbo", "psnr", "mse", "bits_per_dim"} <= set(figures)
    assert json.loads((tmp_path / "eval.json").read_text()) == figures

    result = run("info", out, "--json")
    info = json.loads(result.output)
    assert info["model"] == "vae" and info["trained_on"]["name"] == f"npz:{data}" and info["steps"] == 8


def test_resume_continues_a_stopped_run(tiny_npz, tmp_path):
    out = tmp_path / "run"
    run("train", "--data", f"npz:{tiny_npz}", "--epochs", "2", "--max-steps", "3", "--out", out, *TINY)
    run("train", "--out", out, "--resume", "--no-progress")
    info = json.loads(run("info", out, "--json").output)
    assert info["steps"] == 8 and info["epochs_completed"] == 2


def test_yaml_config_and_flags_override_it(tiny_npz, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {{name: ae, latent_dim: 3, channels: 4}}\ndata: {{name: 'npz:{tiny_npz}'}}\n"
                      "train: {epochs: 5, batch_size: 32}\n")
    out = tmp_path / "run"
    run("train", "--config", config, "--epochs", "1", "--out", out, "--no-progress")
    info = json.loads(run("info", out, "--json").output)
    assert info["model"] == "ae" and info["config"]["latent_dim"] == 3 and info["steps"] == 2


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "mnsit"], "Did you mean 'mnist'"),
    (["train", "--model", "gann"], "Unknown model 'gann'"),
    (["train", "--set", "model.latent_dimm=3"], "latent_dimm"),
    (["train", "--set", "train.lr=-1"], "train.lr must be a number in (0, 10], got -1"),
    (["train", "--set", "optim.lr=1"], "must look like section.key"),
    (["train", "--set", "data.colour=1"], "Unknown data key(s) ['colour']"),
    (["train", "--set", "data.name=mnsit"], "Did you mean 'mnist'"),
    (["train", "--config", "no-such-preset"], "preset name"),
    (["sample", "."], "No saved model"),
    (["train", "--init-from", "no-such-run"], "'no-such-run' does not exist"),
])
def test_bad_input_gets_a_clear_message_and_exit_code_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args, ok=False)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_corrupt_image_file_is_named(trained, tmp_path):
    out, _, _ = trained
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    result = run("reconstruct", out, bad, ok=False)
    assert result.exit_code == 2 and "broken.png" in result.output


def test_every_verb_has_help():
    for verb in ("train", "sample", "reconstruct", "evaluate", "demo", "info"):
        assert "Usage:" in run(verb, "--help").output


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "latentforge", "--version"], capture_output=True, text=True, check=True)
    assert "latentforge" in out.stdout


def test_sample_a_class_from_a_conditional_model(tiny_npz, tmp_path):
    out = tmp_path / "run"
    run("train", "--model", "cvae", "--data", f"npz:{tiny_npz}", "--epochs", "1", "--out", out, *TINY)
    run("sample", out, "-n", "4", "--label", "2", "-o", tmp_path / "two.png")
    run("sample", out, "-n", "4", "--label", "3", "-o", tmp_path / "three.png")
    assert (tmp_path / "two.png").read_bytes() != (tmp_path / "three.png").read_bytes()
    result = run("sample", out, "-n", "4", "--label", "9", "-o", tmp_path / "nine.png", ok=False)
    assert result.exit_code == 2 and "label" in result.output.lower()


def test_generation_has_one_name_and_keeps_sample_as_its_alias():
    import latentforge as lf
    from latentforge.jobs import generate

    assert lf.generate is generate and lf.sample is generate
    assert main.commands["sample"] is main.commands["generate"]
