"""Sample-quality metrics: FID, KID, precision/recall, the cached lenet extractor, the FID Inception network."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from latentforge.errors import CheckpointError, ConfigError, DataError
from latentforge.jobs.evaluate import features as feat
from latentforge.jobs.evaluate import inception
from latentforge.jobs.evaluate.sample_quality import sample_quality
from latentforge.metrics.fid import fid_from_features, frechet_distance
from latentforge.metrics.kid import kid, mmd2, polynomial_kernel
from latentforge.metrics.precision_recall import precision_recall
from latentforge.nn import inception as inception_net

from conftest import TINY_MODEL, blob_images, tiny_dataset

TINY_RECIPE = feat.LeNetRecipe(widths=(4, 8, 8), feature_dim=8, epochs=2, batch_size=32)


def correlated_gaussian(n: int, d: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).normal(size=(d, d))  # the same distribution for every seed
    return g.normal(size=(n, d)) @ mixing + 1.0


# -- FID ---------------------------------------------------------------------------------------------------

def test_fid_is_zero_against_itself_and_grows_with_noise():
    x = correlated_gaussian(2000, 16, seed=0)
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-8)
    noise = np.random.default_rng(1).normal(size=x.shape)
    scores = [fid_from_features(x, x + s * noise) for s in (0.1, 0.3, 1.0, 3.0)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] > 0


def test_frechet_distance_matches_the_closed_form():
    g = np.random.default_rng(0)
    mu1, mu2 = g.normal(size=5), g.normal(size=5)
    a, b = g.normal(size=(5, 5)), g.normal(size=(5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)  # non-commuting SPD covariances
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-9)
    # diagonal covariances: ‖μ₁−μ₂‖² + Σ(√a − √b)²
    d1, d2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    assert frechet_distance(np.zeros(3), np.diag(d1), np.ones(3), np.diag(d2)) == pytest.approx(3 + 1 + 0 + 4)
    # from samples of two known Gaussians, FID approaches the closed form
    x = g.multivariate_normal(mu1, s1, size=40000)
    y = g.multivariate_normal(mu2, s2, size=40000)
    assert fid_from_features(x, y) == pytest.approx(reference, rel=0.03)


def test_fid_with_fewer_samples_than_dimensions_equals_the_covariance_route():
    g = np.random.default_rng(2)
    x, y = g.normal(size=(12, 40)), g.normal(size=(9, 40)) + 0.2
    from latentforge.metrics.fid import gaussian_stats

    assert fid_from_features(x, y) == pytest.approx(frechet_distance(*gaussian_stats(x), *gaussian_stats(y)), rel=1e-6)


def test_fid_rejects_bad_shapes():
    with pytest.raises(DataError, match="N ≥ 2"):
        fid_from_features(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(DataError, match="same D"):
        fid_from_features(np.zeros((4, 3)), np.zeros((5, 2)))
    with pytest.raises(DataError, match="Mismatched"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# -- KID ---------------------------------------------------------------------------------------------------

def test_unbiased_mmd_averages_to_zero_for_one_distribution_while_the_biased_one_does_not():
    unbiased, biased = [], []
    for seed in range(300):
        g = np.random.default_rng(seed)
        x, y = g.normal(size=(30, 8)), g.normal(size=(30, 8))
        unbiased.append(mmd2(x, y))
        biased.append(mmd2(x, y, unbiased=False))
    se = np.std(unbiased) / np.sqrt(len(unbiased))
    assert abs(np.mean(unbiased)) < 3 * se  # unbiased: the mean over seeds is 0 within 3 standard errors
    assert np.mean(biased) > 10 * np.std(biased) / np.sqrt(len(biased))  # biased: clearly positive


def test_unbiased_mmd_matches_the_closed_form_for_discrete_distributions():
    # x uniform over A, y uniform over B: MMD² = mean k(A, A) + mean k(B, B) − 2 mean k(A, B), all pairs
    g = np.random.default_rng(0)
    a, b = g.normal(size=(4, 6)), g.normal(size=(4, 6)) + 0.5
    exact = polynomial_kernel(a, a).mean() + polynomial_kernel(b, b).mean() - 2 * polynomial_kernel(a, b).mean()
    draws = [mmd2(a[g.integers(0, 4, 20)], b[g.integers(0, 4, 20)]) for _ in range(400)]
    se = np.std(draws) / np.sqrt(len(draws))
    assert exact > 10 * se  # a real difference to find
    assert abs(np.mean(draws) - exact) < 3 * se


def test_kid_over_subsets():
    x = correlated_gaussian(400, 8, seed=0)
    same, same_std = kid(x, correlated_gaussian(400, 8, seed=1), subsets=20, subset_size=100)
    shifted, _ = kid(x, correlated_gaussian(400, 8, seed=1) + 1.0, subsets=20, subset_size=100)
    assert abs(same) < 3 * same_std and same_std > 0
    assert shifted > 10 * same_std
    assert kid(x, x + 1.0, subsets=5, subset_size=50, seed=3) == kid(x, x + 1.0, subsets=5, subset_size=50, seed=3)
    with pytest.raises(ConfigError):
        kid(x, x, subsets=0)


# -- precision / recall ------------------------------------------------------------------------------------

def test_precision_and_recall():
    g = np.random.default_rng(0)
    centres = g.normal(size=(4, 8)) * 10
    real = np.concatenate([c + g.normal(size=(150, 8)) for c in centres])
    assert precision_recall(real, real.copy()) == (1.0, 1.0)

    fake = np.concatenate([c + g.normal(size=(150, 8)) for c in centres])
    p_good, r_good = precision_recall(real, fake)
    assert p_good > 0.8 and r_good > 0.8

    off = fake + 6.0  # moved off the real manifold
    p_off, _ = precision_recall(real, off)
    assert p_off < p_good - 0.5

    collapsed = centres[0] + g.normal(size=(600, 8))  # one mode of four
    p_col, r_col = precision_recall(real, collapsed)
    assert p_col > 0.8 and r_col < 0.4
    with pytest.raises(ConfigError, match="k must be"):
        precision_recall(real[:3], fake[:3])


# -- the lenet extractor and its cache ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def npz_spec(tmp_path_factory):
    """A tiny labelled dataset as ``npz:PATH`` (the conftest ``tiny_npz`` data, module-scoped)."""
    path = tmp_path_factory.mktemp("data") / "blobs.npz"
    np.savez(path, x_train=blob_images(64, seed=0)[:, 0].numpy(), x_test=blob_images(32, seed=1)[:, 0].numpy(),
             y_train=np.arange(64) % 4, y_test=np.arange(32) % 4)
    return f"npz:{path}"


@pytest.fixture(scope="module")
def trained_cache(npz_spec, tmp_path_factory):
    """One tiny extractor training, cached; tests copy the cache instead of training again."""
    root = tmp_path_factory.mktemp("extractors")
    extractor = feat.get_extractor(npz_spec, (1, 28, 28), recipe=TINY_RECIPE, cache_dir=root)
    return root, extractor


@pytest.fixture
def any_accuracy(monkeypatch):
    """The tiny blobs' labels (index mod 4) say nothing about the images, so their extractor scores chance and
    sample_quality refuses it; tests of the FID/KID arithmetic accept it here."""
    monkeypatch.setattr(feat, "required_accuracy", lambda num_classes: 0.0)


@pytest.fixture
def cache_copy(trained_cache, tmp_path):
    root, extractor = trained_cache
    shutil.copytree(root, tmp_path / "extractors")
    return tmp_path / "extractors", extractor


def test_the_cache_lives_under_xdg_cache_home(npz_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert feat.cache_root() == tmp_path / "xdg" / "latentforge" / "extractors"
    assert feat.extractor_dir("mnist", (1, 28, 28)) == feat.cache_root() / "mnist-lenet-1x28x28"
    folder = feat.extractor_dir(npz_spec, (1, 28, 28), recipe=TINY_RECIPE)
    assert folder.parent == feat.cache_root() and "-lenet-1x28x28-" in folder.name and ":" not in folder.name


def test_extractor_round_trips_through_the_cache_and_trains_deterministically(npz_spec, cache_copy, monkeypatch):
    root, trained = cache_copy
    folder = feat.extractor_dir(npz_spec, (1, 28, 28), recipe=TINY_RECIPE, root=root)
    info = json.loads((folder / "info.json").read_text())
    assert 0 <= info["test_accuracy"] <= 1 and info["recipe"]["widths"] == [4, 8, 8]
    assert info["train_images"] == 64 and len(info["weights_sha256"]) == 64 and info["latentforge_version"]

    images = blob_images(10, seed=5)
    f1 = trained(images)
    assert f1.shape == (10, 8) and torch.isfinite(f1).all()
    assert torch.equal(trained(images.float() / 255), f1)  # uint8 and [0, 1] floats are the same images
    assert trained(blob_images(64, seed=0)).pow(2).mean() == pytest.approx(1.0, rel=1e-4)  # scaled: ‖f‖²/d ≈ 1

    def no_training(*args, **kwargs):
        raise AssertionError("a valid cache must not be retrained")

    with monkeypatch.context() as m:
        m.setattr(feat, "train_lenet", no_training)
        loaded = feat.get_extractor(npz_spec, (1, 28, 28), recipe=TINY_RECIPE, cache_dir=root)
    assert torch.equal(loaded(images), f1)

    # same data + recipe + seed → same weights
    again = feat.train_lenet(tiny_dataset(64, seed=0), tiny_dataset(32, "test", seed=1), TINY_RECIPE)
    assert all(torch.equal(a, b) for a, b in zip(again.net.state_dict().values(), trained.net.state_dict().values()))


def test_a_corrupt_cache_gives_a_clear_error_and_is_retrained_with_a_warning(npz_spec, cache_copy):
    root, trained = cache_copy
    folder = feat.extractor_dir(npz_spec, (1, 28, 28), recipe=TINY_RECIPE, root=root)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        feat.load_extractor(folder)
    with pytest.warns(UserWarning, match="unusable"):
        fresh = feat.get_extractor(npz_spec, (1, 28, 28), recipe=TINY_RECIPE, cache_dir=root)
    images = blob_images(4, seed=2)
    assert torch.equal(fresh(images), trained(images))  # retrained deterministically
    assert torch.equal(feat.load_extractor(folder)(images), trained(images))  # and cached again

    (folder / "info.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        feat.load_extractor(folder)


def test_a_stale_cache_is_retrained_when_the_training_data_changes(npz_spec, cache_copy):
    root, _ = cache_copy
    other = tiny_dataset(64, seed=7)
    with pytest.warns(UserWarning, match="training data has changed"):
        ext = feat.get_extractor(npz_spec, (1, 28, 28), recipe=TINY_RECIPE, cache_dir=root, train=other,
                                 test=tiny_dataset(32, "test", seed=1))
    assert ext.info["train_fingerprint"] == feat.data_fingerprint(other)


def test_unlabelled_data_cannot_train_the_extractor():
    from latentforge.data import ImageDataset

    unlabelled = ImageDataset(images=blob_images(8), labels=None, name="x", split="train", num_classes=None,
                              likelihood_hint="logistic")
    with pytest.raises(DataError, match="inception-weights"):
        feat.train_lenet(unlabelled, unlabelled, TINY_RECIPE)


# -- the high-level function, the API and the CLI ------------------------------------------------------------

def test_sample_quality_of_test_images_against_themselves(npz_spec, trained_cache, monkeypatch, any_accuracy):
    from latentforge.data import load_dataset

    root, _ = trained_cache
    monkeypatch.setattr(feat, "train_lenet", None)  # the cached tiny extractor is used, not retrained
    test = load_dataset(npz_spec, "test")
    options = dict(cache_dir=root, recipe=TINY_RECIPE, kid_subsets=5, kid_subset_size=16)
    result = sample_quality(test.images, npz_spec, n=32, **options)
    assert set(result) >= {"fid-lenet", "kid-lenet", "kid-lenet_std", "precision", "recall", "fid_floor",
                           "extractor_accuracy", "n"}
    assert result["fid-lenet"] == pytest.approx(0.0, abs=1e-6)
    assert result["precision"] == 1.0 and result["recall"] == 1.0
    assert result["fid_floor"] > 0 and result["n"] == 32 and 0 <= result["extractor_accuracy"] <= 1

    def uniform_noise(count, seed):
        return torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(seed))

    noise = sample_quality(uniform_noise, npz_spec, n=32, **options)
    assert noise["fid-lenet"] > result["fid_floor"] > result["fid-lenet"]
    with pytest.raises(ConfigError, match="inception_weights"):
        sample_quality(test.images, npz_spec, n=8, extractor="inception")


def test_api_and_cli_evaluate_with_fid(npz_spec, tmp_path, monkeypatch, any_accuracy):
    import latentforge as lf
    from latentforge.cli import main
    from latentforge.models import build_model, save_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the default recipe, on 64 tiny images
    torch.manual_seed(0)
    model = build_model("vae", {**TINY_MODEL, "image_shape": (1, 28, 28)})
    figures = lf.evaluate(model, npz_spec, max_images=8, fid=True, samples=16, binarize=False)
    assert figures["n"] == 16 and figures["fid-lenet"] > 0 and "loss" in figures

    save_model(model, tmp_path / "model")
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path / "model"), "--data", npz_spec, "--max-images", "8",
                                       "--fid", "-n", "16"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    assert out["fid-lenet"] == pytest.approx(figures["fid-lenet"]) and out["extractor"] == "lenet"


# -- the FID Inception network ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """Random weights in the expected (torchvision Inception3) names, as a safetensors file."""
    torch.manual_seed(0)
    net = inception_net.FIDInceptionV3()
    path = tmp_path_factory.mktemp("inception") / "fid_inception.safetensors"
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)  # present in the real file
    save_file(state, str(path))
    return path, net


def test_inception_gives_2048_features_for_gray_and_rgb_images(inception_weights, monkeypatch):
    _, net = inception_weights
    gray = torch.rand(1, 1, 28, 28)
    with torch.no_grad():
        features = net.eval()(gray)  # the real path: 299×299 bilinear resize
        assert features.shape == (1, 2048) and torch.isfinite(features).all()
        monkeypatch.setattr(inception_net, "INPUT_SIZE", 75)  # smallest input the network takes: a cheap second pass
        assert torch.allclose(net(gray), net(gray.expand(-1, 3, -1, -1)))  # grayscale = the plane repeated in RGB
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, 2048)


def test_inception_weights_load_and_bad_files_say_what_is_wrong(inception_weights, tmp_path):
    path, net = inception_weights
    loaded = inception.load_fid_inception(path)
    assert torch.equal(loaded.Mixed_7c.branch_pool.conv.weight, net.Mixed_7c.branch_pool.conv.weight)

    state = {k: v for k, v in net.state_dict().items() if k.startswith("Conv2d_1a")}
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(CheckpointError, match="missing Conv2d_2a_3x3.bn.bias.*465 in all"):
        inception.load_fid_inception(tmp_path / "partial.safetensors")

    state["Conv2d_1a_3x3.conv.weight"] = torch.zeros(32, 1, 3, 3)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"unexpected extra\.weight.*wrong shape Conv2d_1a_3x3\.conv\.weight"):
        inception.load_fid_inception(tmp_path / "bad.pth")

    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pth")  # not a plain state dict
    with pytest.raises(CheckpointError, match="weights_only"):
        inception.load_fid_inception(tmp_path / "pickled.pth")


def test_pytorch_fid_wrapper_names_are_understood():
    assert inception._canonical_name("blocks.0.2.conv.weight") == "Conv2d_2b_3x3.conv.weight"
    assert inception._canonical_name("blocks.2.7.branch_pool.bn.bias") == "Mixed_6e.branch_pool.bn.bias"
    assert inception._canonical_name("module.blocks.3.2.branch1x1.conv.weight") == "Mixed_7c.branch1x1.conv.weight"


def test_sample_quality_uses_inception_features_when_given_weights(inception_weights, npz_spec, monkeypatch):
    path, _ = inception_weights
    monkeypatch.setattr(inception_net, "INPUT_SIZE", 75)  # the smallest input the network takes: keeps the test fast
    images = blob_images(6, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no lenet extractor is trained or loaded
        result = sample_quality(images, npz_spec, n=6, inception_weights=path, kid_subsets=2, kid_subset_size=6)
    assert "fid-inception" in result and "kid-inception" in result and "fid-lenet" not in result
    assert result["extractor"] == "inception" and result["extractor_accuracy"] is None
    assert result["fid-inception"] >= 0 and np.isfinite(result["fid_floor"])
