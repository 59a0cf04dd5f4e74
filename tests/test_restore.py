"""Restoration (issue 21): the dedicated models and projection onto a VAE through the solvers, the API and the CLI
verbs, at any image size, with clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import latentforge as lf
from latentforge.errors import ConfigError, DataError
from latentforge.jobs.restore import Grey, LowResolution, Masked, Noisy, solve
from latentforge.metrics.reconstruction import psnr
from latentforge.models import build_model, save_model
from latentforge.nn import degradations as ops
from test_cli import run

from conftest import blob_images

TINY = {"width": 8, "levels": 1, "blocks": 1}


def blobs(n=32, size=16, channels=1, seed=0) -> torch.Tensor:
    return blob_images(n, size, channels, seed).float() / 255


@pytest.fixture(scope="module")
def denoiser():
    """A tiny denoiser trained for 200 steps on soft blobs: enough to remove noise, which an untrained one
    (the identity, its output layer starts at zero) does not."""
    torch.manual_seed(0)
    model = build_model("denoiser", {**TINY, "image_shape": (1, 16, 16), "sigma_range": [0.0, 0.3]})
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = blobs(256)
    for step in range(200):
        batch = data[torch.randint(len(data), (32,))]
        loss = model(( batch, None), step)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory, denoiser):
    """Saved tiny restorers of every task (untrained but the denoiser, their output layers random) and a tiny VAE,
    by name."""
    root = tmp_path_factory.mktemp("restorers")
    torch.manual_seed(0)
    models = {
        "denoiser": denoiser,
        "inpainter": build_model("inpainter", {**TINY, "image_shape": (1, 16, 16)}),
        "super-resolver": build_model("super-resolver", {**TINY, "image_shape": (1, 16, 16)}),
        "colorizer": build_model("colorizer", {**TINY, "image_shape": (3, 16, 16)}),
        "vae": build_model("vae", {"latent_dim": 4, "channels": 4, "blocks": 0, "image_shape": (1, 16, 16)}),
    }
    paths = {}
    for name in ("inpainter", "super-resolver", "colorizer"):  # not the identity that a zero output layer gives
        torch.nn.init.normal_(models[name].net.tail[-1].weight, std=0.05)
    for name, model in models.items():
        paths[name] = root / name
        save_model(model, paths[name])
    return paths


def photo(tmp_path, h=37, w=53, mode="L", name="photo.png"):
    rng = np.random.default_rng(0)
    shape = (h, w) if mode == "L" else (h, w, 3)
    path = tmp_path / name
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    return path


def test_the_trained_denoiser_removes_noise_and_leaves_a_clean_image_nearly_as_it_is(denoiser):
    clean = blobs(16, seed=5)  # images it never saw
    noisy, _ = ops.gaussian_noise(clean, 0.2, generator=torch.Generator().manual_seed(0))
    restored = solve(denoiser, Noisy(noisy, 0.2))
    assert restored.method == "model (denoiser)"
    assert psnr(restored.images, clean).mean() > psnr(noisy, clean).mean() + 3
    untouched = lf.denoise(denoiser, clean, sigma=0.0).images
    assert (untouched - clean).pow(2).mean() < 1e-3
    assert psnr(untouched, clean).mean() > psnr(noisy, clean).mean() + 15


def test_estimated_sigma_is_close_to_the_true_one():
    smooth = torch.linspace(0.2, 0.8, 64).view(1, 1, 1, 64).expand(4, 1, 64, 64).contiguous()
    for sigma in (10 / 255, 25 / 255):
        noisy, _ = ops.gaussian_noise(smooth, sigma, generator=torch.Generator().manual_seed(1))
        assert ops.estimate_sigma(noisy) == pytest.approx(torch.full((4,), sigma), rel=0.1)
    assert Noisy(noisy).sigma_estimated and not Noisy(noisy, 0.1).sigma_estimated


@pytest.mark.parametrize("name", ["inpainter", "vae"])
def test_inpainting_keeps_every_known_pixel_exactly(saved, name):
    model = lf.load(saved[name])
    images = blobs(4, seed=2)
    known = ops.random_pixel_mask(4, 16, 16, 0.5, generator=torch.Generator().manual_seed(0))
    out = lf.inpaint(model, images, known, steps=3).images
    assert torch.equal(out[known.expand_as(out)], images[known.expand_as(images)])
    assert not torch.equal(out, ops.apply_mask(images, known)), "missing pixels were filled"
    box = lf.inpaint(model, images[0], box=(2, 3, 5, 6), steps=3).images[0]
    assert torch.equal(box[:, :3], images[0, :, :3]) and torch.equal(box[:, :, 7:], images[0, :, :, 7:])


def test_projection_reports_its_method_and_fits_the_observation(saved):
    vae = lf.load(saved["vae"])
    target = lf.load(saved["vae"]).decode(torch.randn(2, 4, generator=torch.Generator().manual_seed(3))).detach()
    low = ops.downsample(target, 2)
    few = solve(vae, LowResolution(low, 2), "projection", steps=1)
    many = solve(vae, LowResolution(low, 2), "projection", steps=150, prior_weight=0.0)
    assert many.method.startswith("projection (Bora et al. 2017) through vae")
    assert many.images.shape == (2, 1, 16, 16)
    assert sum(many.details["observed_mse"]) < sum(few.details["observed_mse"])


def test_colorized_output_keeps_the_grey_input_as_its_luma(saved):
    grey = blobs(3, seed=4)
    out = lf.colorize(saved["colorizer"], grey).images
    assert out.shape == (3, 3, 16, 16)
    assert torch.allclose(ops.to_grey(out), grey, atol=1e-5)
    rgb = blobs(2, channels=3, seed=6)
    assert torch.allclose(ops.to_grey(solve(lf.load(saved["colorizer"]), Grey(rgb)).images), ops.to_grey(rgb),
                          atol=1e-5)


def test_a_37_by_53_photo_comes_back_37_by_53_from_every_verb(saved, tmp_path):
    grey, colour = photo(tmp_path), photo(tmp_path, mode="RGB", name="colour.png")
    cases = [("denoise", "denoiser", grey, ["--sigma", "25"], (53, 37)),
             ("denoise", "denoiser", grey, [], (53, 37)),
             ("denoise", "denoiser", grey, ["--sigma", "25", "--ensemble", "8"], (53, 37)),
             ("inpaint", "inpainter", grey, ["--box", "10,10,8,8"], (53, 37)),
             ("inpaint", "inpainter", grey, ["--random-pixels", "0.3"], (53, 37)),
             ("upscale", "super-resolver", grey, ["--factor", "2"], (106, 74)),
             ("upscale", "super-resolver", grey, ["--factor", "4"], (212, 148)),
             ("upscale", "super-resolver", grey, ["--factor", "2", "--tile", "16", "--overlap", "8"], (106, 74)),
             ("inpaint", "inpainter", grey, ["--box", "3,4,20,9", "--tile", "16", "--overlap", "8"], (53, 37)),
             ("colorize", "colorizer", colour, [], (53, 37))]
    for i, (verb, model, image, extra, size) in enumerate(cases):
        out = tmp_path / f"out{i}.png"
        result = run(verb, saved[model], image, "-o", out, "--no-progress", *extra)
        report = json.loads(result.output)
        assert report["method"] == f"model ({model})"
        assert Image.open(out).size == size, (verb, extra)
        if verb == "inpaint":
            assert report["per_image"][0]["missing_fraction"] > 0
    tiled = tmp_path / "tiled.png"  # a tile of 16 pixels forces the overlapping-tile path
    run("denoise", saved["denoiser"], grey, "-o", tiled, "--tile", "16", "--overlap", "8", "--sigma", "25")
    assert Image.open(tiled).size == (53, 37)


def test_several_images_give_one_file_each(saved, tmp_path):
    a, b = photo(tmp_path, name="a.png"), photo(tmp_path, 20, 24, name="b.png")
    report = json.loads(run("denoise", saved["denoiser"], a, b, "-o", tmp_path / "clean.png", "--sigma", "10").output)
    assert [Image.open(p).size for p in report["out"]] == [(53, 37), (24, 20)]


def test_bad_masks_sigmas_factors_and_methods_get_clear_errors(saved, tmp_path):
    image = photo(tmp_path)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(small)
    grey_values = tmp_path / "grey.png"
    Image.fromarray(np.full((37, 53), 128, np.uint8)).save(grey_values)
    colours = tmp_path / "colours.png"
    Image.fromarray(np.stack([np.zeros((37, 53)), np.full((37, 53), 255), np.zeros((37, 53))], -1).astype(np.uint8),
                    ).save(colours)
    cmyk = tmp_path / "cmyk.tif"
    Image.new("CMYK", (53, 37)).save(cmyk)
    for mask, message in ((small, "is 10×10 but the image is 53×37"), (grey_values, "neither black"),
                          (colours, "has colours"), (cmyk, "mode CMYK")):
        result = run("inpaint", saved["inpainter"], image, "--mask", mask, "-o", tmp_path / "o.png", ok=False)
        assert result.exit_code == 2 and message in result.output, result.output
    for args, message in ((["denoise", "--sigma", "-5"], "-5"), (["upscale", "--factor", "3"], "'3' is not one of"),
                          (["inpaint", "--box", "1,2,3"], "x,y,w,h"), (["inpaint"], "exactly one way"),
                          (["inpaint", "--box", "50,30,10,10"], "inside"),
                          (["upscale", "--factor", "2", "--method", "projection"], "own size")):
        verb, *options = args
        model = {"denoise": "denoiser", "upscale": "super-resolver", "inpaint": "inpainter"}[verb]
        if "projection" in options:
            model = "vae"
        result = run(verb, saved[model], image, "-o", tmp_path / "o.png", *options, ok=False)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    with pytest.raises(ConfigError, match="noise level"):
        lf.denoise(saved["denoiser"], blobs(1), sigma=-0.1)
    with pytest.raises(ConfigError, match="not supported"):
        lf.upscale(saved["super-resolver"], blobs(1), 3)
    with pytest.raises(ConfigError, match="not a dedicated model for denoise"):
        lf.denoise(saved["inpainter"], blobs(1), 0.1, method="model")
    with pytest.raises(ConfigError, match="no latent vector to project onto"):
        lf.denoise(saved["inpainter"], blobs(1), 0.1, method="projection")
    with pytest.raises(ConfigError, match="Unknown restoration method"):
        lf.denoise(saved["denoiser"], blobs(1), 0.1, method="magic")
    with pytest.raises(ConfigError, match="No restoration solver takes"):
        lf.denoise(saved["denoiser"], blobs(1), 0.1, stepz=3)
    with pytest.raises(DataError, match="nothing to inpaint"):
        Masked(blobs(1), torch.ones(1, 1, 16, 16, dtype=torch.bool))
    with pytest.raises(DataError, match="boolean"):
        Masked(blobs(1), torch.ones(1, 1, 8, 8))
    with pytest.raises(DataError, match="finite values in \\[0, 1\\]"):
        Noisy(blobs(1) * 2, 0.1)
    with pytest.raises(DataError, match="works on grey images"):
        lf.denoise(saved["denoiser"], blobs(1, channels=3), 0.1)


def test_an_unshuffled_denoiser_runs_on_sub_images_and_keeps_any_size():
    model = build_model("denoiser", {**TINY, "unshuffle": 2, "image_shape": (1, 16, 16)})
    torch.nn.init.normal_(model.net.tail[-1].weight, std=0.05)
    assert model.size_multiple == 4 and model.net.head.in_channels == 2 * 4
    noisy = torch.rand(1, 1, 37, 53)
    out = lf.denoise(model, noisy, 0.1).images
    assert out.shape == noisy.shape and not torch.equal(out, noisy)
    with pytest.raises(ConfigError, match="multiples of 4"):
        build_model("denoiser", {**TINY, "unshuffle": 2, "image_shape": (1, 18, 18)})


def test_a_self_ensemble_makes_the_model_mirror_equivariant(saved):
    model = lf.load(saved["inpainter"])
    images, known = blobs(3, seed=7), ops.random_pixel_mask(3, 16, 16, 0.4, generator=torch.Generator().manual_seed(1))
    plain = lf.inpaint(model, images, known).images
    mirrored = lf.inpaint(model, images.flip(-1), known.flip(-1)).images.flip(-1)
    assert not torch.allclose(plain, mirrored, atol=1e-4)  # the network alone is not equivariant
    for ensemble in (2, 8):
        out = lf.inpaint(model, images, known, ensemble=ensemble).images
        again = lf.inpaint(model, images.flip(-1), known.flip(-1), ensemble=ensemble).images.flip(-1)
        assert torch.allclose(out, again, atol=1e-5)
    with pytest.raises(ConfigError, match="ensemble must be"):
        lf.inpaint(model, images, known, ensemble=3)
