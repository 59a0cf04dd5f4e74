"""Random crops of photos of any size: reproducible from the seed, new every epoch, inside the photo."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import latentforge as lf
from latentforge.data import iterate_batches, load_dataset
from latentforge.data.crops import PhotoCrops
from latentforge.errors import ConfigError, DataError

SIZES = [(40, 60), (33, 90), (64, 48)]  # (height, width) of each photo


def coordinate_photo(h: int, w: int, index: int) -> torch.Tensor:
    """Channel 0 holds the row, channel 1 the column, channel 2 the photo's index: a crop tells where it came from."""
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([ys, xs, torch.full_like(ys, index)]).to(torch.uint8)


def photos() -> list[torch.Tensor]:
    return [coordinate_photo(h, w, i) for i, (h, w) in enumerate(SIZES)]


def test_crops_are_squares_cut_from_inside_their_own_photo():
    crops = PhotoCrops(photos(), crop_size=16, crops_per_image=50)
    drawn = crops.draw(seed=0, epoch=0)
    assert drawn.shape == (150, 3, 16, 16) and drawn.dtype == torch.uint8
    tops, lefts = {}, {}
    for i, crop in enumerate(drawn):
        index = i // 50
        h, w = SIZES[index]
        assert (crop[2] == index).all()  # photo by photo, 50 each
        y0, x0 = int(crop[0, 0, 0]), int(crop[1, 0, 0])
        assert 0 <= y0 <= h - 16 and 0 <= x0 <= w - 16
        assert torch.equal(crop[0], (torch.arange(16) + y0).view(16, 1).expand(16, 16).to(torch.uint8))
        assert torch.equal(crop[1], (torch.arange(16) + x0).view(1, 16).expand(16, 16).to(torch.uint8))
        tops.setdefault(index, set()).add(y0)
        lefts.setdefault(index, set()).add(x0)
    assert all(len(tops[i]) > 5 and len(lefts[i]) > 5 for i in tops)  # positions vary, not one fixed crop


def test_crops_repeat_for_the_same_seed_and_epoch_and_differ_otherwise():
    crops = PhotoCrops(photos(), crop_size=16, crops_per_image=4)
    first = crops.draw(seed=1, epoch=0)
    assert torch.equal(first, PhotoCrops(photos(), 16, 4).draw(seed=1, epoch=0))
    assert not torch.equal(first, crops.draw(seed=1, epoch=1))
    assert not torch.equal(first, crops.draw(seed=2, epoch=0))
    assert torch.equal(crops.fixed(), crops.fixed())


def test_a_photo_that_fits_the_crop_exactly_gives_the_whole_photo():
    photo = coordinate_photo(16, 16, 0)
    assert torch.equal(PhotoCrops([photo], 16, 3).draw(0, 5), photo.expand(3, -1, -1, -1))


def test_photos_smaller_than_the_crop_are_refused_by_name(tmp_path):
    folder = write_folder(tmp_path)
    with pytest.raises(DataError, match=r"2 of 3 photos are smaller than the 41×41 crop: train/a\.png \(60×40\), "
                                        r"train/b\.png \(90×33\)\. Lower crop_size to at most 33"):
        load_dataset(f"folder:{folder}", "train", crop_size=41)
    with pytest.raises(ConfigError, match="crop_size 40 is larger than image_size 32"):
        load_dataset(f"folder:{folder}", "train", crop_size=40, image_size=32)
    with pytest.raises(ConfigError, match="crops_per_image must be a positive integer"):
        load_dataset(f"folder:{folder}", "train", crop_size=8, crops_per_image=0)


def write_folder(root, sizes=SIZES, cls=""):
    """train/ with one photo per size (different sizes), test/ with one more (in a class folder ``cls``)."""
    rng = np.random.default_rng(0)
    for split, names in (("train", "abc"), ("test", "d")):
        (root / split / cls).mkdir(parents=True)
        for name, (h, w) in zip(names, sizes):
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / split / cls / f"{name}.png")
    return root


def test_a_folder_of_photos_of_different_sizes_gives_crops_new_each_training_epoch(tmp_path):
    folder = write_folder(tmp_path)
    ds = load_dataset(f"folder:{folder}", "train", crop_size=24, crops_per_image=5)
    assert ds.shape == (3, 24, 24) and len(ds) == 15 and ds.crops is not None
    assert [tuple(p.shape[1:]) for p in ds.crops.photos] == SIZES  # kept whole, at their own size, as uint8
    assert all(p.dtype == torch.uint8 for p in ds.crops.photos)

    def epoch(e, seed=0, start=0):
        return torch.cat([x for x, _ in iterate_batches(ds, 4, shuffle=True, seed=seed, epoch=e, start_batch=start)])

    assert torch.equal(epoch(0), epoch(0))
    assert not torch.equal(epoch(0), epoch(1))
    assert not torch.equal(epoch(0), epoch(0, seed=1))
    assert torch.equal(epoch(2, start=2), epoch(2)[8:])  # a resumed epoch replays the same crops
    fixed = torch.cat([x for x, _ in iterate_batches(ds, 4, shuffle=False)])
    assert torch.equal(fixed, lf.data.to_float(ds.images))  # evaluation uses the fixed crops
    test = load_dataset(f"folder:{folder}", "test", crop_size=24, crops_per_image=5)
    assert len(test) == 5


def test_an_image_size_resizes_before_cropping_and_labels_follow_their_crops(tmp_path):
    for cls, sizes in (("cats", SIZES), ("dogs", SIZES[:2])):
        write_folder(tmp_path, sizes, cls)
    ds = load_dataset(f"folder:{tmp_path}", "train", crop_size=8, crops_per_image=3, image_size=20)
    assert [tuple(p.shape[1:]) for p in ds.crops.photos] == [(20, 20)] * 5
    assert ds.class_names == ["cats", "dogs"]
    assert ds.labels.tolist() == [0] * 9 + [1] * 6


def test_crops_of_a_dataset_of_equal_sized_images():
    ds = load_dataset("digits", "test", crop_size=6, crops_per_image=2, channels=3)
    whole = load_dataset("digits", "test")
    assert ds.shape == (3, 6, 6) and len(ds) == 2 * len(whole)
    assert torch.equal(ds.labels, whole.labels.repeat_interleave(2))


def test_training_on_crops_draws_each_epochs_own_crops(tmp_path, monkeypatch):
    folder = write_folder(tmp_path / "photos")
    drawn = []
    original = PhotoCrops.draw

    def spy(self, seed, epoch, stream="crops"):
        drawn.append((seed, epoch, stream))
        return original(self, seed, epoch, stream)

    monkeypatch.setattr(PhotoCrops, "draw", spy)
    run = lf.train("fcvae", f"folder:{folder}", out=tmp_path / "run", epochs=2, batch_size=8, seed=3,
                   crop_size=16, crops_per_image=2, model_config={"channels": 4, "latent_dim": 2, "blocks": 0},
                   train_config={"eval_every": 0}, progress=False, on_event=lambda *_: None)
    assert run.model.image_shape == (3, 16, 16)
    assert [(s, e) for s, e, stream in drawn if stream == "crops"] == [(3, 0), (3, 1)]
    assert run.config.data.crop_size == 16 and run.config.data.crops_per_image == 2
    assert lf.api.training_record(run.model_dir)["data"]["crop_size"] == 16


def test_a_model_trained_on_crops_is_evaluated_on_the_fixed_test_crops(tmp_path):
    folder = write_folder(tmp_path / "photos")
    run = lf.train("fcvae", f"folder:{folder}", out=tmp_path / "run", epochs=1, batch_size=8, crop_size=16,
                   crops_per_image=3, model_config={"channels": 4, "latent_dim": 2, "blocks": 0},
                   progress=False, on_event=lambda *_: None)
    images = lf.api.dataset_images(run.model_dir, n=100)
    test = load_dataset(f"folder:{folder}", "test", crop_size=16, crops_per_image=3)
    assert torch.equal(images, lf.data.to_float(test.images))  # 3 crops of the one test photo, not it resized
    figures = lf.evaluate(run.model_dir, progress=False)
    assert figures["psnr"] == pytest.approx(run.metrics["psnr"], rel=1e-4)


def test_crop_settings_are_checked_in_the_run_config():
    from latentforge.run_config import run_config_from_dict

    config = run_config_from_dict({"data": {"name": "digits", "crop_size": 6, "crops_per_image": 4}})
    assert (config.data.crop_size, config.data.crops_per_image) == (6, 4)
    for bad in ({"crop_size": 0}, {"crops_per_image": 0}, {"crop_size": 2.5}):
        with pytest.raises(ConfigError):
            run_config_from_dict({"data": {"name": "digits", **bad}}).validate()
