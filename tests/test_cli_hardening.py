"""Issue 17, the CLI's part: every bad option, output target or device ends in one clear error line (exit code 2,
no traceback) or in correct behaviour; the API makes the same checks; nothing outside the output is touched."""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import time
import warnings

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import latentforge as lf
import latentforge.api
from latentforge.cli import main
from latentforge.errors import ConfigError, DataError, OutputError
from latentforge.jobs.output import non_finite_to_none
from latentforge.models import build_model

from conftest import TINY_MODEL, blob_images

HUGE = 10**30
# Each class of bad number: zero, negative, NaN, infinite, huge.
BAD_COUNTS = ["0", "-5", "nan", "inf", str(HUGE)]  # for options that must be integers ≥ 1 (huge: see below)
BAD_REALS = ["nan", "inf", "-inf", "-1"]


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def assert_clear_error(result, *, needle: str | None = None):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "error:" in result.output or "Error:" in result.output, result.output
    if needle is not None:
        assert needle.lower() in result.output.lower(), result.output


def snapshot(*folders) -> dict[str, tuple[int, int]]:
    """Every file under ``folders`` with its size and modification time."""
    found = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                path = os.path.join(root, name)
                st_ = os.lstat(path)
                found[path] = (st_.st_size, st_.st_mtime_ns)
    return found


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Tiny saved vae and cvae runs (one epoch on 64 blobs with 4 classes), made once for the whole file."""
    tmp = tmp_path_factory.mktemp("hardening")
    data = tmp / "blobs.npz"
    np.savez(data, x_train=blob_images(64, seed=0)[:, 0].numpy(), x_test=blob_images(32, seed=1)[:, 0].numpy(),
             y_train=np.arange(64) % 4, y_test=np.arange(32) % 4)
    runs = {}
    for name in ("vae", "cvae"):
        runs[name] = lf.train(name, f"npz:{data}", out=tmp / name, epochs=1, batch_size=16, model_config=TINY_MODEL,
                              progress=False).dir
    return runs


# -- numeric options -----------------------------------------------------------------------------------------

SAMPLE_BAD = [(opt, v) for opt in ("-n", "--nrow", "--scale") for v in BAD_COUNTS[:4]] + \
             [("--temperature", v) for v in BAD_REALS] + [("--seed", v) for v in ("-1", "nan", str(HUGE))] + \
             [("--label", v) for v in ("-1", "nan", "1e12")]


@pytest.mark.parametrize("option, value", SAMPLE_BAD)
def test_sample_refuses_bad_numbers_before_writing(models, tmp_path, option, value):
    result = invoke("sample", models["vae"], option, value, "-o", tmp_path / "s.png")
    assert_clear_error(result)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("option, value", [(opt, v) for opt in ("-n", "--nrow", "--scale") for v in BAD_COUNTS[:4]])
def test_reconstruct_refuses_bad_numbers(models, tmp_path, option, value):
    assert_clear_error(invoke("reconstruct", models["vae"], option, value, "-o", tmp_path / "r.png"))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("option, value", [(opt, v) for opt in ("--max-images", "--k", "-n") for v in BAD_COUNTS[:4]]
                         + [("-n", "1"), ("--seed", "-1"), ("--seed", str(HUGE))])
def test_evaluate_refuses_bad_numbers(models, tmp_path, option, value):
    assert_clear_error(invoke("evaluate", models["vae"], option, value, "-o", tmp_path / "e.json"))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("option, value", [(opt, v) for opt in ("--epochs", "--batch-size", "--latent-dim",
                                                                  "--max-steps", "--image-size")
                                           for v in BAD_COUNTS[:4]]
                         + [(opt, v) for opt in ("--lr", "--beta") for v in BAD_REALS] + [("--lr", "0"),
                                                                                          ("--seed", "-1")])
def test_train_refuses_bad_numbers_before_writing(tmp_path, monkeypatch, option, value):
    monkeypatch.chdir(tmp_path)
    assert_clear_error(invoke("train", "--data", "digits", option, value, "--out", tmp_path / "run"))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("value", BAD_COUNTS[:4])
def test_demo_refuses_bad_epochs(tmp_path, value):
    assert_clear_error(invoke("demo", "--epochs", value, "--out", tmp_path / "demo"))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args, needle", [
    (["-n", str(10**9)], "megapixels"),
    (["--scale", "2000"], "megapixels"),
    (["-n", "64", "--nrow", "1", "--scale", "60"], "megapixels"),
])
def test_huge_grids_are_refused_at_once(models, tmp_path, args, needle):
    start = time.perf_counter()
    assert_clear_error(invoke("sample", models["vae"], *args, "-o", tmp_path / "s.png"), needle=needle)
    assert not any(tmp_path.iterdir())
    assert time.perf_counter() - start < 60  # the grid is never built (it used to take minutes)


def test_huge_but_harmless_values_work(models, tmp_path):
    out = tmp_path / "s.png"
    assert invoke("sample", models["vae"], "-n", "3", "--nrow", str(HUGE), "-o", out).exit_code == 0
    assert Image.open(out).size == (3 * 30 + 2, 30 + 2)  # at most n images per row
    result = invoke("reconstruct", models["vae"], "-n", str(10**9), "-o", tmp_path / "r.png")
    assert result.exit_code == 0 and json.loads(result.stdout)["images"] == 32  # the whole (small) split
    result = invoke("evaluate", models["vae"], "--max-images", str(HUGE), "--k", str(HUGE))
    assert result.exit_code == 0 and json.loads(result.stdout)["images"] == 32


def test_the_api_makes_the_same_checks(models):
    vae, cvae = lf.load(models["vae"]), lf.load(models["cvae"])
    for n in (0, -5, 1.5, True, 10**12):
        with pytest.raises(ConfigError):
            lf.sample(vae, n)
    for temperature in (math.nan, math.inf, -math.inf, -1.0):
        with pytest.raises(ConfigError, match="temperature"):
            lf.sample(vae, 2, temperature=temperature)
    assert torch.isfinite(lf.sample(vae, 2, temperature=0.0)).all()  # 0: the prior's mode
    with pytest.raises(ConfigError, match="not class-conditional"):
        lf.sample(vae, 2, labels=1)
    for labels in (4, -1, 10**12, 1e12, 1.0, True, torch.tensor([0.0, 1.0]), torch.tensor([0, 9]), [0, 1, 2]):
        with pytest.raises(ConfigError, match="[Ll]abel"):
            lf.sample(cvae, 2, labels=labels)
    assert lf.sample(cvae, 2, labels=torch.tensor([3, 0])).shape == (2, 1, 28, 28)
    bad_evaluate = [{"max_images": 0}, {"max_images": -1}, {"k": 0}, {"samples": 1}, {"seed": -1},
                    {"split": "validation"}, {"batch_size": 0}, {"max_images": 2.5}]
    for kwargs in bad_evaluate:
        with pytest.raises(ConfigError):
            lf.evaluate(models["vae"], **kwargs)
    with pytest.raises(ConfigError):
        latentforge.api.dataset_images(vae, n=0)
    with pytest.raises(ConfigError, match="megapixels"):
        latentforge.api.write_grid(torch.zeros(64, 1, 28, 28), "never.png", scale=2000)


# -- output targets ------------------------------------------------------------------------------------------

def verb_writing(kind: str, model, out) -> list:
    return {"sample": ["sample", model, "-n", "4", "-o", out],
            "reconstruct": ["reconstruct", model, "-n", "4", "-o", out],
            "evaluate": ["evaluate", model, "--max-images", "4", "-o", out]}[kind]


VERBS = ("sample", "reconstruct", "evaluate")


def _suffix(kind: str) -> str:
    return ".json" if kind == "evaluate" else ".png"


@pytest.mark.parametrize("kind", VERBS)
def test_bad_output_targets_are_refused(models, tmp_path, kind):
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("keep")
    device = tmp_path / f"device{_suffix(kind)}"
    device.symlink_to(os.devnull)
    for target in ["", tmp_path / "folder", device, tmp_path / "afile" / f"x{_suffix(kind)}"]:
        before = snapshot(tmp_path)
        assert_clear_error(invoke(*verb_writing(kind, models["vae"], target)))
        assert snapshot(tmp_path) == before, target
    assert os.path.realpath(device) == os.path.realpath(os.devnull) and not os.path.isfile(os.devnull)
    assert (tmp_path / "afile").read_text() == "keep"


@pytest.mark.parametrize("kind", VERBS)
def test_missing_folders_are_created(models, tmp_path, kind):
    out = tmp_path / "new" / "deeper" / f"out{_suffix(kind)}"
    assert invoke(*verb_writing(kind, models["vae"], out)).exit_code == 0
    assert out.is_file()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write into read-only folders")
@pytest.mark.parametrize("kind", VERBS)
def test_read_only_folder_is_one_error_line(models, tmp_path, kind):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert_clear_error(invoke(*verb_writing(kind, models["vae"], folder / f"x{_suffix(kind)}")), needle="writ")
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("kind", VERBS)
@pytest.mark.parametrize("code", [errno.EACCES, errno.ENOSPC, errno.EROFS])
def test_failing_writes_are_one_error_line_and_leave_nothing(models, tmp_path, monkeypatch, kind, code):
    """A read-only folder (also as root), a full disk: the rename or write fails with an OSError."""
    def fail(*args):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", fail)
    assert_clear_error(invoke(*verb_writing(kind, models["vae"], tmp_path / f"x{_suffix(kind)}")))
    assert not any(tmp_path.iterdir())  # no temp file left behind


def test_an_os_error_reaching_the_cli_is_one_line_but_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.setattr(latentforge.api, "evaluate", lambda *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device", "/some/file")))
    result = invoke("evaluate", ".")
    assert_clear_error(result, needle="No space left on device")
    monkeypatch.setattr(latentforge.api, "evaluate", lambda *a, **k: {}["bug"])
    assert isinstance(invoke("evaluate", ".").exception, KeyError)


@pytest.mark.parametrize("suffix, fmt", [(".jpg", "JPEG"), (".jpeg", "JPEG"), (".png", "PNG"), (".webp", "WEBP")])
def test_grid_format_follows_the_extension(models, tmp_path, suffix, fmt):
    out = tmp_path / f"s{suffix}"
    assert invoke("sample", models["vae"], "-n", "4", "-o", out).exit_code == 0
    assert Image.open(out).format == fmt


def test_unknown_image_extension_lists_the_formats(models, tmp_path):
    result = invoke("sample", models["vae"], "-n", "4", "-o", tmp_path / "s.gif")
    assert_clear_error(result, needle=".png, .jpg")
    assert not any(tmp_path.iterdir())


# -- devices, config files, signals --------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["tpu9", "cuda:x", "cpu:1", "cuda:99"]
                         + ([] if torch.cuda.is_available() else ["cuda"]))
def test_unknown_or_absent_devices_are_refused(models, tmp_path, monkeypatch, device):
    monkeypatch.chdir(tmp_path)
    for args in (["sample", models["vae"]], ["reconstruct", models["vae"]], ["evaluate", models["vae"]],
                 ["train", "--data", "digits", "--out", tmp_path / "run"]):
        assert_clear_error(invoke(*args, "--device", device), needle="device")
    assert not any(tmp_path.iterdir())


def test_cpu_device_works(models, tmp_path):
    assert invoke("sample", models["vae"], "-n", "2", "--device", "cpu", "-o", tmp_path / "s.png").exit_code == 0
    assert lf.load(models["vae"], device="auto").image_shape == (1, 28, 28)


def test_binary_config_file_is_a_config_error(tmp_path):
    config = tmp_path / "weights.bin"
    config.write_bytes(bytes(range(256)) * 4)
    assert_clear_error(invoke("train", "--config", config, "--out", tmp_path / "run"), needle="weights.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.bin"]


@pytest.mark.parametrize("signum, code, word",
                         [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_signals_stop_with_a_message_and_their_exit_code(monkeypatch, signum, code, word):
    def long_evaluation(*args, **kwargs):
        os.kill(os.getpid(), signum)
        time.sleep(30)  # interrupted by the signal

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(latentforge.api, "evaluate", long_evaluation)
    # A job started in the background by a non-interactive shell (`make test &`) inherits SIGINT ignored and
    # Python then installs no KeyboardInterrupt handler; the test runs with the handler an interactive run has.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = invoke("evaluate", ".")
    finally:
        signal.signal(signal.SIGINT, previous_int)
    assert result.exit_code == code and word in result.output and "checkpoint is kept" in result.output
    assert "Traceback" not in result.output
    assert signal.getsignal(signal.SIGTERM) is before  # the CLI's handler is only there while a verb runs


# -- demo ----------------------------------------------------------------------------------------------------

def test_demo_refuses_a_folder_that_is_not_a_demo_run(models, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    (mine / "model").mkdir()  # what used to trigger the deletion of the whole folder
    before = snapshot(tmp_path)
    assert_clear_error(invoke("demo", "--out", mine, "--epochs", "1"), needle="thesis.tex")
    assert snapshot(tmp_path) == before
    assert_clear_error(invoke("demo", "--out", models["vae"], "--epochs", "1"), needle="not a previous demo run")
    assert (models["vae"] / "model" / "model.safetensors").is_file()


def test_a_previous_demo_run_loses_only_its_own_outputs(tmp_path):
    out = tmp_path / "demo"
    (out / "model").mkdir(parents=True)
    (out / "report").mkdir()
    (out / "model" / "config.json").write_text("{}")
    (out / "metrics.jsonl").write_text("")
    (out / ".lock").write_text("")
    preset = latentforge.run_config.load_run_config("demo")
    (out / "run.yaml").write_text(json.dumps({**preset, "train": {"epochs": 3}}))
    latentforge.api.clear_previous_demo(out)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
    (out / "notes.txt").write_text("mine")
    (out / "run.yaml").write_text(json.dumps(preset))
    with pytest.raises(OutputError, match="notes.txt"):
        latentforge.api.clear_previous_demo(out)
    assert (out / "run.yaml").is_file() and (out / "notes.txt").read_text() == "mine"


# -- evaluate's output ---------------------------------------------------------------------------------------

def test_evaluate_prints_no_accumulators(models):
    result = invoke("evaluate", models["vae"], "--max-images", "4", "--nll", "--k", "2")
    figures = json.loads(result.stdout)
    assert {"nll", "active_units", "latent_dims", "k"} <= set(figures)
    assert not any("sum" in key for key in figures), sorted(figures)
    assert all(not isinstance(value, list) for value in figures.values())


def test_non_finite_figures_are_null_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(latentforge.api, "evaluate",
                        lambda *a, **k: {"loss": math.nan, "psnr": math.inf, "mse": 0.5, "images": 4})
    result = invoke("evaluate", ".", "-o", tmp_path / "e.json")
    assert result.exit_code == 0
    figures = json.loads(result.stdout)  # valid JSON: no NaN token
    assert figures == {"loss": None, "psnr": None, "mse": 0.5, "images": 4}
    assert json.loads((tmp_path / "e.json").read_text()) == figures
    assert "warning" in result.stderr and "loss" in result.stderr and "psnr" in result.stderr
    assert non_finite_to_none({"a": [1.0, -math.inf], "b": {"c": math.nan}}) == ({"a": [1.0, None], "b": {"c": None}},
                                                                                 ["a", "b.c"])


def test_evaluate_shows_progress_when_asked(models):
    result = invoke("evaluate", models["vae"], "--max-images", "4", "--progress")
    assert "evaluate" in result.stderr and "img" in result.stderr
    assert json.loads(result.stdout)["images"] == 4


def test_evaluate_of_a_model_object_knows_its_training(models):
    path = models["vae"]
    by_path = lf.evaluate(path, max_images=6, nll=True, k=2, progress=False)
    by_object = lf.evaluate(lf.load(path), max_images=6, nll=True, k=2, progress=False)  # no data= needed
    assert by_object == pytest.approx({**by_path, "nll_seconds": by_object["nll_seconds"]})
    stranger = build_model("vae", {**TINY_MODEL, "likelihood": "bernoulli"})
    with pytest.warns(UserWarning, match="binarize=True"):
        lf.evaluate(stranger, "digits", max_images=4, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lf.evaluate(stranger, "digits", max_images=4, binarize=False, progress=False)
    with pytest.raises(ConfigError, match="data="):
        lf.evaluate(stranger, max_images=4, progress=False)


def test_empty_split_is_a_data_error(models, tmp_path):
    data = tmp_path / "empty.npz"
    np.savez(data, x_train=blob_images(8)[:, 0].numpy(), x_test=blob_images(8)[:0, 0].numpy())
    with pytest.raises(DataError):
        lf.evaluate(models["vae"], f"npz:{data}", progress=False)


# -- help, --json, --nrow ------------------------------------------------------------------------------------

def test_every_option_has_help_and_the_lists_are_shown():
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help, f"{name} {param.opts}"
    assert "[default: 64" in invoke("sample", "--help").output
    train_help = "".join(invoke("train", "--help").output.split())  # without the wrapping
    assert "vq-vae" in train_help and "cgan" in train_help and "vae-mnist-nll" in train_help
    assert "--nrow" in invoke("reconstruct", "--help").output


def test_train_json_prints_the_json_alone(tmp_path):
    data = tmp_path / "blobs.npz"
    np.savez(data, x_train=blob_images(32, seed=0)[:, 0].numpy(), x_test=blob_images(8, seed=1)[:, 0].numpy())
    result = invoke("train", "--data", f"npz:{data}", "--epochs", "1", "--batch-size", "16", "--out", tmp_path / "run",
                    "--set", "model.latent_dim=2", "--set", "model.channels=4", "--no-progress", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"] == 8
    assert "saved model" in result.stderr


def test_reconstruct_nrow_pairs_rows(models, tmp_path):
    out = tmp_path / "r.png"
    assert invoke("reconstruct", models["vae"], "-n", "5", "--nrow", "2", "-o", out).exit_code == 0
    assert Image.open(out).size == (2 * 30 + 2, 6 * 30 + 2)  # 3 rows of originals, each above its reconstructions


# -- the property: any numbers, never a traceback, nothing else touched ---------------------------------------

NUMBERS = st.one_of(st.integers(-(10**6), 10**6), st.sampled_from([0, -1, 1, 2, 10**18, HUGE]),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["nan", "inf", "-inf", "1e12"]))
OPTIONS = {
    "sample": ["-n", "--nrow", "--scale", "--temperature", "--seed", "--label"],
    "reconstruct": ["-n", "--nrow", "--scale"],
    "evaluate": ["--max-images", "--seed", "--samples", "--k"],
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_numeric_options_end_in_output_or_one_error(models, tmp_path_factory, data):
    verb = data.draw(st.sampled_from(sorted(OPTIONS)))
    chosen = data.draw(st.lists(st.sampled_from(OPTIONS[verb]), min_size=1, max_size=3, unique=True))
    args = [verb, models["cvae" if "--label" in chosen else "vae"]]
    for option in chosen:
        args += [option, str(data.draw(NUMBERS))]
    if verb == "evaluate":
        args += ["--max-images", "3"] if "--max-images" not in chosen else []
    folder = tmp_path_factory.mktemp("prop")
    out = folder / ("out.json" if verb == "evaluate" else "out.png")
    watched = snapshot(folder, models["vae"], models["cvae"])
    result = invoke(*args, "-o", out)
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        assert out.is_file()
    else:
        assert_clear_error(result)
        assert not out.exists()
    after = snapshot(folder, models["vae"], models["cvae"])
    after.pop(str(out), None)
    assert after == watched
