"""The restoration degradations (jobs/restore/operators.py): shapes, values, reproducibility and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from latentforge.errors import ConfigError, DataError
from latentforge.jobs.restore import mask_files
from latentforge.nn import degradations as ops


def images(n=3, c=1, h=28, w=28, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_gaussian_noise_has_its_sigma_is_clipped_and_reproducible():
    clean = torch.full((200, 1, 16, 16), 0.5)
    noisy, sigmas = ops.gaussian_noise(clean, 25 / 255, generator=torch.Generator().manual_seed(0))
    assert (sigmas == 25 / 255).all() and noisy.min() >= 0 and noisy.max() <= 1
    assert (noisy - clean).std().item() == pytest.approx(25 / 255, rel=0.02)
    again, _ = ops.gaussian_noise(clean, 25 / 255, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)
    _, ranged = ops.gaussian_noise(clean, (0.0, 0.2), generator=torch.Generator().manual_seed(1))
    assert ranged.min() >= 0 and ranged.max() <= 0.2 and ranged.std() > 0.03
    for bad in (-0.1, float("nan"), (0.3, 0.1), 2.0):
        with pytest.raises(ConfigError, match="noise level"):
            ops.gaussian_noise(clean, bad)


def test_salt_and_pepper_hits_the_fraction_with_extremes():
    out = ops.salt_and_pepper(torch.full((4, 3, 32, 32), 0.5), 0.2, generator=torch.Generator().manual_seed(0))
    changed = (out != 0.5).all(1)
    assert changed.float().mean().item() == pytest.approx(0.2, abs=0.03)
    assert set(out[:, 0][changed].unique().tolist()) == {0.0, 1.0}
    with pytest.raises(ConfigError):
        ops.salt_and_pepper(out, 1.5)


def test_masks():
    box = ops.centred_box_mask(28, 28, 14)
    assert box.shape == (1, 1, 28, 28) and (~box).sum() == 196 and not box[0, 0, 7:21, 7:21].any()
    with pytest.raises(ConfigError, match="inside"):
        ops.box_mask(28, 28, (20, 20, 10, 10))
    pixels = ops.random_pixel_mask(10, 28, 28, 0.5, generator=torch.Generator().manual_seed(0))
    assert (~pixels).float().mean().item() == pytest.approx(0.5, abs=0.02)
    strokes = ops.stroke_mask(4, 32, 32, generator=torch.Generator().manual_seed(0))
    missing = (~strokes).float().mean().item()
    assert strokes.shape == (4, 1, 32, 32) and 0.02 < missing < 0.9
    assert torch.equal(strokes, ops.stroke_mask(4, 32, 32, generator=torch.Generator().manual_seed(0)))
    x = images()
    kept = ops.apply_mask(x, box)
    assert torch.equal(kept[..., 0, 0], x[..., 0, 0]) and (kept[..., 14, 14] == 0).all()
    with pytest.raises(DataError, match="boolean"):
        ops.apply_mask(x, box.float())


def test_mask_files_round_trip_and_bad_masks_are_refused(tmp_path):
    known = ops.stroke_mask(1, 37, 53, generator=torch.Generator().manual_seed(2))
    mask_files.write_mask(known, tmp_path / "m.png")
    assert torch.equal(mask_files.read_mask(tmp_path / "m.png", 37, 53), known)
    with pytest.raises(DataError, match="same size"):
        mask_files.read_mask(tmp_path / "m.png", 53, 37)
    Image.fromarray(np.full((37, 53), 128, np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(DataError, match="neither black"):
        mask_files.read_mask(tmp_path / "grey.png", 37, 53)
    colour = np.zeros((37, 53, 3), np.uint8)
    colour[..., 0] = 255
    Image.fromarray(colour).save(tmp_path / "red.png")
    with pytest.raises(DataError, match="colours"):
        mask_files.read_mask(tmp_path / "red.png", 37, 53)
    Image.fromarray(np.zeros((37, 53), np.uint16)).save(tmp_path / "deep.png")  # 16-bit grey
    with pytest.raises(DataError, match="mode"):
        mask_files.read_mask(tmp_path / "deep.png", 37, 53)


def test_downsample_is_block_means_and_refuses_bad_factors_and_sizes():
    x = images(2, 3, 8, 12)
    small = ops.downsample(x, 4)
    assert small.shape == (2, 3, 2, 3)
    assert small[0, 1, 1, 2].item() == pytest.approx(x[0, 1, 4:8, 8:12].mean().item())
    with pytest.raises(ConfigError, match="factor"):
        ops.downsample(x, 3)
    with pytest.raises(DataError, match="multiples"):
        ops.downsample(images(1, 1, 37, 53), 2)


def test_grey_matches_pillow_luma():
    rgb = images(1, 3, 5, 7)
    as_uint8 = (rgb[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    pillow = np.asarray(Image.fromarray(as_uint8).convert("L"), dtype=np.float64) / 255
    ours = ops.to_grey(torch.from_numpy(as_uint8 / 255.0).permute(2, 0, 1).unsqueeze(0).float())[0, 0].numpy()
    assert np.abs(ours - pillow).max() <= 1 / 255 + 1e-6
    with pytest.raises(DataError, match="RGB"):
        ops.to_grey(images(1, 1))


def test_restore_benchmark_degrades_every_task_with_the_operators():
    """The benchmark's tasks (benchmarks/restore.py) on a few images: shapes, kept pixels and seeded noise."""
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        restore = importlib.import_module("restore")
    finally:
        sys.path.pop(0)
    x = images(4, 1, 28, 28)
    for task in restore.TASKS:
        degraded, known, clean = restore.degrade(task, x, seed=0)
        size = 28 // int(task[2:]) if task.startswith("sr") else 28
        assert degraded.shape == (4, 1, size, size) and torch.equal(clean, x)
        assert (known is None) == (not task.startswith("inpaint"))
        if known is not None:
            keep = known.expand_as(x)
            assert torch.equal(degraded[keep], x[keep]) and (degraded[~keep] == 0).all() and (~keep).any()
    a, _, _ = restore.degrade("denoise50", x, seed=3)
    b, _, _ = restore.degrade("denoise50", x, seed=3)
    assert (a == b).all()
