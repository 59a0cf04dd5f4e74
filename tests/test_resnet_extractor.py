"""The resnet feature extractor (``fid-resnet``, natural images): the classifier, its augmentation, training,
cache and use by sample quality, on tiny RGB data with a tiny recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentforge.errors import ConfigError
from latentforge.jobs.evaluate import features as feat
from latentforge.jobs.evaluate.sample_quality import sample_quality
from latentforge.nn.resnet_classifier import ResNetClassifier
from latentforge.nn.views import random_crop_flip

from conftest import blob_images

TINY = feat.ResNetRecipe(widths=(4, 8, 8, 8), feature_dim=8, epochs=2, batch_size=16, lr=0.05)


@pytest.fixture(scope="module")
def rgb_npz(tmp_path_factory):
    """Colour blobs whose label is the colour channel they are drawn in: a classifier can learn it."""
    def coloured(n, seed):
        grey = blob_images(n, size=16, seed=seed)[:, 0]
        images = np.zeros((n, 16, 16, 3), np.uint8)
        labels = np.arange(n) % 3
        images[np.arange(n), :, :, labels] = grey.numpy()
        return images, labels

    (x_train, y_train), (x_test, y_test) = coloured(96, 0), coloured(30, 1)
    path = tmp_path_factory.mktemp("rgb") / "rgb.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return f"npz:{path}"


def test_the_classifier_gives_features_and_logits_at_any_size_from_8_pixels():
    net = ResNetClassifier((3, 32, 32), 10, (4, 8, 8, 8), feature_dim=6)
    assert net.features(torch.rand(2, 3, 32, 32)).shape == (2, 6) and net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ConfigError, match="at least 8×8"):
        ResNetClassifier((3, 4, 4), 10)


def test_random_crops_and_mirrors_move_whole_pixels_and_repeat_with_the_seed():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    a = random_crop_flip(x, 2, generator=torch.Generator().manual_seed(0))
    b = random_crop_flip(x, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    assert set(a.unique().tolist()) <= set(x.unique().tolist())  # integer shifts and reflections: no blending
    flat = torch.full((4, 1, 8, 8), 0.3)
    assert torch.equal(random_crop_flip(flat, 3), flat)


def test_the_resnet_extractor_trains_caches_and_serves_sample_quality(rgb_npz, tmp_path, monkeypatch):
    extractor = feat.get_extractor(rgb_npz, (3, 16, 16), extractor="resnet", recipe=TINY, cache_dir=tmp_path)
    assert extractor.name == "resnet" and extractor.info["augmentation"].startswith("random crops")
    assert extractor.accuracy > 0.5  # three colours, chance is 1/3
    images = torch.rand(5, 3, 16, 16)
    monkeypatch.setattr(feat, "train_resnet", None)  # a valid cache is not retrained
    again = feat.get_extractor(rgb_npz, (3, 16, 16), extractor="resnet", recipe=TINY, cache_dir=tmp_path)
    assert torch.equal(again(images), extractor(images))
    with pytest.raises(ConfigError, match="not a recipe for the resnet extractor"):
        feat.get_extractor(rgb_npz, (3, 16, 16), extractor="resnet", recipe=feat.LeNetRecipe(), cache_dir=tmp_path)
    from latentforge.data import load_dataset

    test = load_dataset(rgb_npz, "test")
    result = sample_quality(test.images, rgb_npz, n=30, recipe=TINY, cache_dir=tmp_path, kid_subsets=2,
                            kid_subset_size=10)
    assert result["extractor"] == "resnet" and result["fid-resnet"] == pytest.approx(0.0, abs=1e-6)
