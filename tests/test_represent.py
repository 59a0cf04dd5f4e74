"""Representation (issue 20): probes, AUROC/AUPRC, saved probes and classify, embeddings, anomaly scores, latent
maps, their clear errors, and the CLI verbs end to end on a tiny run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentforge.errors import CheckpointError, ConfigError, IntegrityError
from latentforge.jobs import represent
from latentforge.metrics.ood import auprc, auroc, knn_distance
from latentforge.metrics.probes import knn_probe, linear_probe
from latentforge.models import build_model
from test_cli import run

TRAIN = ("--epochs", "1", "--batch-size", "16", "--latent-dim", "4", "--set", "model.channels=4",
         "--set", "model.blocks=0", "--no-progress")


def separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes at far-apart centres in 5-D with small noise: any sound probe gets them all right."""
    g = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return np.eye(5)[y] * 20 + g.normal(0, 0.5, (n, 5)), y


def test_probes_reach_100_percent_on_a_separable_set():
    train_x, train_y = separable(120, 0)
    test_x, test_y = separable(60, 1)
    assert linear_probe(train_x, train_y, test_x, test_y).accuracy == 1.0
    assert knn_probe(train_x, train_y, test_x, test_y).accuracy == 1.0


def test_knn_probe_picks_the_cosine_distance_where_only_direction_carries_the_class():
    """Four classes are directions (±e1, ±e2 in 16-D, with noise) and lengths span two decades: Euclidean
    neighbours of a short code come from every class, cosine neighbours mostly from its own."""
    def rays(n, seed):
        g = np.random.default_rng(seed)
        y = np.arange(n) % 4
        direction = np.eye(16)[y // 2] * np.where(y % 2, -1.0, 1.0)[:, None] + g.normal(0, 1.5 / 4, (n, 16))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        return direction * 10 ** g.uniform(-1, 1, n)[:, None], y

    train_x, train_y = rays(600, 0)
    test_x, test_y = rays(400, 1)
    chosen = knn_probe(train_x, train_y, test_x, test_y)
    euclidean = knn_probe(train_x, train_y, test_x, test_y, metrics=("euclidean",))
    assert chosen.metric == "cosine" and euclidean.metric == "euclidean"
    assert chosen.accuracy > euclidean.accuracy + 0.05


def test_probes_are_at_chance_on_random_labels():
    g = np.random.default_rng(0)
    x, y = g.normal(size=(400, 5)), g.integers(0, 2, 400)
    assert linear_probe(x[:300], y[:300], x[300:], y[300:]).accuracy < 0.7


def test_probe_errors_name_the_problem():
    with pytest.raises(ValueError, match="one label per row"):
        linear_probe(np.zeros((5, 2)), np.zeros(4), np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        knn_probe(np.full((5, 2), np.nan), np.zeros(5), np.zeros((2, 2)), np.zeros(2))


def test_auroc_of_a_perfect_score_is_one_and_of_identical_sets_one_half():
    assert auroc([0.1, 0.2, 0.3], [1.0, 2.0]) == 1.0 and auprc([0.1, 0.2, 0.3], [1.0, 2.0]) == 1.0
    assert auroc([1.0, 2.0], [0.1, 0.2]) == 0.0
    same = np.random.default_rng(0).normal(size=200)
    assert auroc(same, same) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="finite"):
        auroc([0.0, np.nan], [1.0])


def test_knn_distance_is_zero_on_the_reference_and_grows_away_from_it():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 4)) + np.array([5.0, 0, 0, 0])  # a cluster around the first axis
    near, far = reference[:5] * 2.0, rng.normal(size=(5, 4)) - np.array([5.0, 0, 0, 0])
    assert np.allclose(knn_distance(reference, near, k=1), 0, atol=1e-9)  # scale does not matter: normalised
    assert knn_distance(reference, far, k=3).min() > knn_distance(reference, reference[5:10], k=3).max()
    assert auroc(knn_distance(reference, reference[:10], 2), knn_distance(reference, far, 2)) == 1.0
    with pytest.raises(ValueError, match="k must be"):
        knn_distance(reference, far, k=51)


def test_saved_probe_round_trip_without_pickle_predicts_the_same(tmp_path):
    x, y = separable(90, 0)
    probe = represent.LinearProbe.fit("shapes", x, y, c=1.0, class_names=["a", "b", "c"])
    represent.save_probe(tmp_path, probe)
    assert represent.list_probes(tmp_path) == ["shapes"]
    loaded = represent.load_probe(tmp_path, "shapes")
    assert np.array_equal(loaded.predict(x), probe.predict(x)) and (loaded.predict(x) == y).all()
    assert loaded.label_name(2) == "c"
    np.testing.assert_allclose(loaded.probabilities(x).sum(1), 1.0)
    with pytest.raises(ConfigError, match="fitted for another model"):
        loaded.predict(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="saved ones: shapes"):
        represent.load_probe(tmp_path, "other")
    with pytest.raises(ConfigError, match="probe name"):
        represent.load_probe(tmp_path, "../escape")
    tensors = tmp_path / "probes" / "shapes.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 1
    tensors.write_bytes(bytes(data))
    with pytest.raises((IntegrityError, CheckpointError)):
        represent.load_probe(tmp_path, "shapes")


def test_two_class_probe_keeps_both_classes(tmp_path):
    x, y = separable(60, 0)
    keep = y < 2
    probe = represent.LinearProbe.fit("two", x[keep], y[keep], c=1.0)
    assert probe.weight.shape[0] == 1 and (probe.predict(x[keep]) == y[keep]).all()


def test_png_bits_grow_with_image_complexity():
    flat = torch.zeros(1, 1, 28, 28)
    noise = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    bits = represent.png_bits(torch.cat([flat, noise]))
    assert bits[0] < bits[1] and bits[1] > 28 * 28 * 6


def test_anomaly_scores_shapes_and_errors():
    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 3, "channels": 4, "blocks": 0, "image_shape": (1, 16, 16)}).eval()
    x = torch.rand(5, 1, 16, 16)
    reference = represent.embed(model, torch.rand(20, 1, 16, 16))
    scores = represent.anomaly_scores(model, x, k=4, reference=reference, neighbours=3)
    assert set(scores) == {"elbo", "iwae", "complexity", "knn"} and all(s.shape == (5,) for s in scores.values())
    assert (scores["knn"] >= 0).all() and (scores["knn"] <= 2).all()  # distances between unit vectors
    assert (scores["iwae"] <= scores["elbo"] + 1e-6).all()  # the k-sample bound is at least the ELBO
    again = represent.anomaly_scores(model, x, k=4, scores=("iwae",))
    np.testing.assert_array_equal(scores["iwae"], again["iwae"])  # seeded
    with pytest.raises(ConfigError, match="Unknown anomaly score"):
        represent.anomaly_scores(model, x, scores=("bogus",))
    gan = build_model("dcgan", {"latent_dim": 4, "channels": 4, "image_shape": (1, 16, 16)})
    with pytest.raises(ConfigError, match="cannot score anomalies"):
        represent.anomaly_scores(gan, x)
    with pytest.raises(ConfigError, match="needs reference embeddings"):
        represent.anomaly_scores(model, x, scores=("knn",))


def test_embed_and_project():
    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 3, "channels": 4, "blocks": 0, "image_shape": (1, 16, 16)}).eval()
    z = represent.embed(model, torch.rand(7, 1, 16, 16), batch_size=3)
    assert z.shape == (7, 3) and z.dtype == np.float32
    assert represent.project_2d(z, "pca").shape == (7, 2)
    with pytest.raises(ConfigError, match="method"):
        represent.project_2d(z, "umapx")
    with pytest.raises(ConfigError, match="2-D latent"):
        represent.manifold_grid(model)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    from conftest import blob_images

    tmp = tmp_path_factory.mktemp("represent")
    data = tmp / "blobs.npz"
    np.savez(data, x_train=blob_images(48, size=16, seed=0)[:, 0].numpy(),
             x_test=blob_images(24, size=16, seed=1)[:, 0].numpy(), y_train=np.arange(48) % 3,
             y_test=np.arange(24) % 3)
    run("train", "--model", "vae", "--data", f"npz:{data}", "--out", tmp / "vae", *TRAIN)
    image = tmp / "im.png"
    Image.fromarray(blob_images(1, size=16, seed=5)[0, 0].numpy()).save(image)
    return tmp, image


def test_cli_embed_probe_classify_anomaly_and_map(vae_run, tmp_path):
    tmp, image = vae_run
    out = json.loads(run("embed", tmp / "vae", "--split", "test", "-o", tmp_path / "z.npz", "--no-progress").output)
    assert out == {"out": str(tmp_path / "z.npz"), "images": 24, "dims": 4}
    saved = np.load(tmp_path / "z.npz")
    assert saved["embeddings"].shape == (24, 4) and (saved["labels"] == np.arange(24) % 3).all()
    files = np.load(_embed_files(tmp, image, tmp_path))
    assert list(files["files"]) == [str(image)]
    probe = json.loads(run("probe", tmp / "vae", "--save", "default", "--no-progress").output)
    assert probe["embedding_dims"] == 4 and 0 <= probe["linear"]["accuracy"] <= 1 and "pixels_knn" in probe
    predicted = json.loads(run("classify", tmp / "vae", image).output)
    assert predicted[0]["label"] in (0, 1, 2) and 0 < predicted[0]["probability"] <= 1
    scores = json.loads(run("anomaly", tmp / "vae", "--ood", "flipped", "--k", "2", "--no-progress").output)
    assert set(scores["scores"]) == {"elbo", "iwae", "complexity", "knn"} and scores["ood_images"] == 24
    run("latent-map", tmp / "vae", "-o", tmp_path / "map.png")
    assert Image.open(tmp_path / "map.png").size[0] > 100


def _embed_files(tmp, image, tmp_path):
    run("embed", tmp / "vae", image, "-o", tmp_path / "f.npz", "--no-progress")
    return tmp_path / "f.npz"


def test_cli_errors_are_one_line(vae_run):
    tmp, image = vae_run
    result = run("classify", tmp / "vae", image, "--probe", "nothing", ok=False)
    assert result.exit_code == 2 and "No probe 'nothing'" in result.output
    result = run("anomaly", tmp / "vae", "--ood", "flipped", "--score", "elbo", "--k", "0", ok=False)
    assert result.exit_code == 2
