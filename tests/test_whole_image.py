"""Whole-image inference: padding to the model's multiple, tiles with overlap and blending, any-size models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from latentforge.errors import DataError
from latentforge.jobs.reconstruct import reconstruct_whole
from latentforge.jobs.whole_image import apply_whole_image, blend_weights, cores, model_multiple, pad_to_multiple
from latentforge.models import SupportsAnySize, build_model


def fcvae(channels: int, downsamples: int = 2):
    torch.manual_seed(0)
    return build_model("fcvae", {"image_shape": (channels, 16, 16), "latent_dim": 3, "channels": 4, "blocks": 1,
                                 "downsamples": downsamples}).eval()


def small_net() -> nn.Module:
    """A fully convolutional net with a stride-2 stage: receptive radius well under 12 pixels of the input,
    and it commutes with shifts by 2 (zero padding only matters near the borders of what it is given)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.SiLU(), nn.Conv2d(8, 8, 4, stride=2, padding=1), nn.SiLU(),
                         nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1), nn.SiLU(), nn.Conv2d(8, 3, 3, padding=1))


@pytest.mark.parametrize("channels", [3, 1])
def test_a_37_by_53_image_comes_back_37_by_53(channels):
    model = fcvae(channels)
    image = torch.rand(channels, 37, 53, generator=torch.Generator().manual_seed(1))
    recon, err = reconstruct_whole(model, image)
    assert recon.shape == (channels, 37, 53)
    assert 0 <= recon.min() and recon.max() <= 1
    assert err["psnr"] > 0 and err["mse"] == pytest.approx(float(((recon - image) ** 2).mean()), rel=1e-5)
    # The padding is cropped off: the result is the one-pass output of the padded image, top-left part.
    with torch.no_grad():
        padded = pad_to_multiple(image[None], 4)
        assert padded.shape[2:] == (40, 56)
        full = model.decode(model.encode(padded).mean)[0, :, :37, :53]
    torch.testing.assert_close(recon, full)


def test_padding_reflects_and_falls_back_to_repetition_for_tiny_images():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (1, 1, 4, 4)
    assert torch.equal(padded[0, 0, 3], padded[0, 0, 1])  # 2 rows cannot reflect 2 rows: repeated
    y = torch.arange(20.0).view(1, 1, 4, 5)
    padded = pad_to_multiple(y, 4)
    assert padded.shape == (1, 1, 4, 8)
    torch.testing.assert_close(padded[0, 0, :, 5:], y[0, 0, :, [3, 2, 1]])  # reflected about the last column


def test_tiles_equal_one_pass_for_a_pointwise_model():
    """A 1×1 convolution is exactly translation-equivariant: tiles with blending reproduce one pass."""
    torch.manual_seed(0)
    net = nn.Conv2d(3, 3, 1)
    x = torch.rand(1, 3, 70, 90)
    with torch.no_grad():
        one = apply_whole_image(net, x, tile=None)
        tiled = apply_whole_image(net, x, tile=32, overlap=8)
    torch.testing.assert_close(tiled, one, atol=1e-6, rtol=0)


def test_tiles_equal_one_pass_when_the_overlap_covers_the_receptive_field():
    """Each contributing tile sees at least overlap/4 = 12 pixels of context, more than this net's receptive
    radius, and tiles start on multiples of 2: the blend equals one pass up to float rounding."""
    net = small_net()
    x = torch.rand(1, 3, 75, 101, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        one = apply_whole_image(net, x, multiple=2, tile=None)
        tiled = apply_whole_image(net, x, multiple=2, tile=40, overlap=48)
        too_little = apply_whole_image(net, x, multiple=2, tile=40, overlap=4)
    assert tiled.shape == one.shape == (1, 3, 75, 101)
    torch.testing.assert_close(tiled, one, atol=1e-5, rtol=0)
    assert (too_little - one).abs().max() > 1e-3  # the test can fail: too little context shows at the seams


def test_tiles_are_close_to_one_pass_for_the_fully_convolutional_vae():
    """The fcvae's receptive field is wider than a quarter of this overlap: close, not exact (about 1e-7 for this
    freshly built model, whose residual blocks start as identities; benchmarks/whole_photo.py measures a
    trained one)."""
    model = fcvae(3)
    x = torch.rand(3, 90, 130, generator=torch.Generator().manual_seed(3))
    one, _ = reconstruct_whole(model, x, tile=None)
    tiled, _ = reconstruct_whole(model, x, tile=48, overlap=32)
    assert tiled.shape == one.shape and (tiled - one).abs().max() < 1e-3


def test_blend_weights_sum_to_one_across_every_border():
    length, half, multiple = 200, 16, 4
    parts = cores(length, 64, half, multiple)
    assert parts[0][0] == 0 and parts[-1][1] == length and all(a % multiple == 0 for a, _ in parts)
    total = torch.zeros(length)
    for core in parts:
        window = (max(0, core[0] - half), min(length, core[1] + half))
        total[window[0] : window[1]] += blend_weights(core, window, length, half // 2)
    torch.testing.assert_close(total, torch.ones(length))


def test_an_upscaling_network_with_another_channel_count_goes_through_tiles():
    def up(t):  # grey → colour, ×2: three different planes, nearest-neighbour upscaled
        return torch.cat([t, 1 - t, t * 0.5], 1).repeat_interleave(2, 2).repeat_interleave(2, 3)

    x = torch.rand(1, 1, 45, 61)
    one = apply_whole_image(up, x, tile=None, scale=2)
    tiled = apply_whole_image(up, x, tile=24, overlap=8, scale=2, progress=True)
    assert one.shape == tiled.shape == (1, 3, 90, 122)
    torch.testing.assert_close(tiled, one, atol=1e-6, rtol=0)


def test_a_model_that_is_not_fully_convolutional_refuses_another_size():
    torch.manual_seed(0)
    vae = build_model("vae", {"image_shape": (1, 16, 16), "latent_dim": 2, "channels": 4, "blocks": 0})
    assert not isinstance(vae, SupportsAnySize) and isinstance(fcvae(1), SupportsAnySize)
    with pytest.raises(DataError, match=r"works on 16×16 images only.*fcvae"):
        reconstruct_whole(vae, torch.rand(1, 37, 53))
    recon, _ = reconstruct_whole(vae, torch.rand(1, 16, 16))  # its own size works
    assert recon.shape == (1, 16, 16)
    with pytest.raises(DataError, match="1 channel"):
        model_multiple(vae, torch.rand(1, 3, 16, 16))


def test_bad_input_is_refused_clearly():
    model = fcvae(1)
    with pytest.raises(DataError, match="one image"):
        reconstruct_whole(model, torch.rand(2, 1, 16, 16))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        reconstruct_whole(model, torch.full((1, 20, 20), 2.0))
    with pytest.raises(DataError, match="whole-image network must give"):
        apply_whole_image(lambda t: t[:, :, :-1], torch.rand(1, 1, 8, 8))


def test_cli_reconstructs_a_photo_of_any_size_at_its_size(tmp_path):
    import json

    import numpy as np
    from click.testing import CliRunner
    from PIL import Image

    from latentforge.cli import main
    from latentforge.models import save_model

    save_model(fcvae(3), tmp_path / "model")
    rng = np.random.default_rng(0)
    for name, (h, w) in (("a", (37, 53)), ("b", (20, 31))):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    result = CliRunner().invoke(main, ["reconstruct", str(tmp_path / "model"), str(tmp_path / "a.png"),
                                       "-o", str(tmp_path / "out.png"), "--no-progress"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["images"] == 1 and figures["per_image"][0]["height"] == 37 and figures["psnr"] > 0
    assert Image.open(tmp_path / "out.png").size == (53, 37)
    result = CliRunner().invoke(main, ["reconstruct", str(tmp_path / "model"), str(tmp_path / "a.png"),
                                       str(tmp_path / "b.png"), "-o", str(tmp_path / "r.jpg"), "--tile", "16",
                                       "--overlap", "8", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "r-a.jpg").size == (53, 37) and Image.open(tmp_path / "r-b.jpg").size == (31, 20)
