"""Editing verbs (issue 20): interpolation, traversal, attribute vectors, class edits and inversion, for every
family with a latent code, their clear errors, and the CLI verbs end to end on tiny runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentforge.errors import ConfigError, IntegrityError
from latentforge.jobs.attributes import (
    apply_attribute,
    attribute_vector,
    list_attributes,
    load_attribute,
    save_attribute,
)
from latentforge.jobs.edit import class_edit, interpolate, traverse
from latentforge.jobs.invert import invert
from latentforge.jobs.latent_space import latent_space
from latentforge.models import Capability, GenerativeModel, ModelConfig, build_model, latent_of
from test_cli import run

SHAPE = (1, 16, 16)
CLASSES = 3
_CONV = {"latent_dim": 4, "channels": 4, "blocks": 0}
TINY = {
    "ae": _CONV, "vae": _CONV, "cvae": {**_CONV, "num_classes": CLASSES},
    "vq-vae": {**_CONV, "codebook_size": 8, "prior_channels": 4, "prior_layers": 1},
    "hvae": {"channels": 4, "blocks": 0, "latent_layers": 2, "latent_channels": 2, "latent_scales": 1},
    "dcgan": {"latent_dim": 4, "channels": 4}, "cgan": {"latent_dim": 4, "channels": 4, "num_classes": CLASSES},
    "fcvae": _CONV,
}
STEPS = 5  # inversion steps in these tests: enough to exercise the path, not to fit


def tiny(name: str) -> GenerativeModel:
    torch.manual_seed(0)
    return build_model(name, {**TINY[name], "image_shape": SHAPE}).eval()


def images(n: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


class QuadrantModel(GenerativeModel):
    """A hand-made model whose latent is the mean brightness of each image quadrant, decoded as flat quadrants:
    attribute vectors on it have a known answer."""

    name = "quadrants"
    capabilities = frozenset({Capability.RECONSTRUCT, Capability.EDIT})

    def __init__(self):
        super().__init__(ModelConfig(image_shape=SHAPE))
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def encode(self, x):
        return torch.nn.functional.avg_pool2d(x, SHAPE[1] // 2).flatten(1)

    def decode(self, z):
        return torch.nn.functional.interpolate(z.view(-1, 1, 2, 2), scale_factor=SHAPE[1] // 2).clamp(0, 1)


def reconstructions(name: str, model: GenerativeModel, x: torch.Tensor) -> torch.Tensor:
    """What each family's interpolation must start and end on."""
    with torch.no_grad():
        if name in ("dcgan", "cgan"):
            labels = None if name == "dcgan" else latent_space(model, invert_steps=STEPS).infer_labels(x)
            return invert(model, x, steps=STEPS, labels=labels).reconstructions
        if name == "cvae":
            labels = latent_space(model).infer_labels(x)
            return model.decode(model.encode(x, labels).mean, labels)
        return model.decode(latent_of(model.encode(x))) if name != "vq-vae" else model.decode(model.encode(x))


@pytest.mark.parametrize("name", ["ae", "vae", "hvae", "vq-vae", "cvae", "dcgan", "cgan"])
@pytest.mark.parametrize("method", ["slerp", "lerp"])
def test_interpolation_endpoints_are_the_reconstructions(name, method):
    model, x = tiny(name), images(2)
    path = interpolate(model, x[0], x[1], steps=5, method=method, invert_steps=STEPS)
    assert path.shape == (5, *SHAPE)
    ends = reconstructions(name, model, x)
    torch.testing.assert_close(path[0], ends[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(path[-1], ends[1], atol=1e-4, rtol=0)


def test_interpolation_passes_through_the_latents_between():
    model = QuadrantModel()
    x = model.decode(torch.tensor([[0.8, 0.8, 0.1, 0.1], [0.8, 0.1, 0.8, 0.1]]))  # top bright, left bright
    z = model.encode(x)
    lerp = interpolate(model, x[0], x[1], steps=3, method="lerp")
    torch.testing.assert_close(lerp[1], model.decode((z[:1] + z[1:]) / 2)[0])
    slerp = interpolate(model, x[0], x[1], steps=3, method="slerp")
    mid = model.encode(slerp[1:2])[0]
    cos = torch.nn.functional.cosine_similarity
    assert torch.isclose(cos(mid, z[0], dim=0), cos(mid, z[1], dim=0), atol=1e-4)  # halfway in angle
    assert mid.norm() > ((z[0] + z[1]) / 2).norm()  # on the arc, outside the chord


def test_hvae_interpolates_every_layer():
    model = tiny("hvae")
    space = latent_space(model)
    assert space.dim == model.latent_dim > 2 * 8 * 8  # both layers' maps, not the top one alone


def test_vq_vae_interpolates_before_quantisation():
    model, x = tiny("vq-vae"), images(2)
    z = latent_space(model).encode(x)
    torch.testing.assert_close(z, model.encoder(x).flatten(1))  # continuous, not code indices


def test_attribute_vector_points_from_one_group_to_the_other():
    model = QuadrantModel()
    space = latent_space(model)
    g = torch.Generator().manual_seed(0)
    without = torch.rand(20, *SHAPE, generator=g) * 0.3  # dark everywhere
    with_ = without.clone()
    with_[:, :, : SHAPE[1] // 2] += 0.6  # ... and bright on top
    attr = attribute_vector(space, "bright-top", with_, without)
    torch.testing.assert_close(attr.vector, torch.tensor([0.6, 0.6, 0.0, 0.0]), atol=1e-5, rtol=0)
    assert attr.sizes == {"with": 20, "without": 20}
    strip = apply_attribute(space, without[0], attr, [0.0, 1.0])
    torch.testing.assert_close(strip[0], model.decode(model.encode(without[:1]))[0])
    torch.testing.assert_close(strip[1], model.decode(model.encode(with_[:1]))[0], atol=1e-5, rtol=0)
    assert strip[1][:, :8].mean() > strip[0][:, :8].mean() + 0.5 and torch.allclose(strip[1][:, 8:], strip[0][:, 8:])


def test_attribute_save_load_round_trip_without_pickle(tmp_path):
    space = latent_space(tiny("vae"))
    attr = attribute_vector(space, "blobs", images(5, 1), images(6, 2), made={"with": "a", "without": "b"})
    record = save_attribute(tmp_path, attr)
    tensors = tmp_path / "attributes" / "blobs.safetensors"
    assert record == tmp_path / "attributes" / "blobs.json" and tensors.is_file()
    assert tensors.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    loaded = load_attribute(tmp_path, "blobs", space.model)
    assert torch.equal(loaded.vector, attr.vector) and loaded.sizes == {"with": 5, "without": 6}
    assert loaded.made == {"with": "a", "without": "b"} and loaded.model == "vae"
    assert [row["name"] for row in list_attributes(tmp_path)] == ["blobs"]

    with pytest.raises(ConfigError, match="No attribute 'sleeves'.*saved ones: blobs"):
        load_attribute(tmp_path, "sleeves")
    with pytest.raises(ConfigError, match="attribute name"):
        load_attribute(tmp_path, "../blobs")
    with pytest.raises(ConfigError, match="made with a vae model"):
        load_attribute(tmp_path, "blobs", tiny("ae"))
    data = bytearray(tensors.read_bytes())
    data[-1] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_attribute(tmp_path, "blobs")


def test_attribute_for_another_model_is_refused():
    space = latent_space(tiny("vae"))
    attr = attribute_vector(space, "x", images(2, 1), images(2, 2))
    with pytest.raises(ConfigError, match="4 dimensions but this hvae"):
        apply_attribute(latent_space(tiny("hvae")), images(1)[0], attr, [1.0])


@pytest.mark.parametrize("name", ["cvae", "cgan"])
def test_class_edit_gives_one_image_per_label(name):
    model, x = tiny(name), images(2)
    result = class_edit(model, x, torch.tensor([0, 2]), invert_steps=STEPS)
    assert result.rows.shape == (2, 1 + CLASSES, *SHAPE) and result.labels == [0, 2]
    torch.testing.assert_close(result.rows[:, 0], x)
    space = latent_space(model, invert_steps=STEPS)
    z = space.encode(x[:1], torch.tensor([0]))
    for label in range(CLASSES):  # column 1 + k is the style decoded under label k
        torch.testing.assert_close(result.rows[0, 1 + label], space.decode(z, torch.tensor([label]))[0])
    assert len(class_edit(model, x, invert_steps=STEPS).labels) == 2  # labels inferred when not given


def test_traverse_ranks_dimensions_and_varies_one_per_row():
    model, x = tiny("vae"), images(8)
    result = traverse(model, x[0], x, dims=3, steps=4)
    assert result.images.shape == (12, *SHAPE) and len(result.dims) == 3
    assert result.scores == sorted(result.scores, reverse=True) and "KL" in result.measure
    assert result.values.shape == (3, 4) and (result.values[:, 1:] > result.values[:, :-1]).all()
    ae = traverse(tiny("ae"), x[0], x, dims=2, steps=3)
    assert "variance" in ae.measure


def test_clear_errors_for_models_that_cannot_do_the_job():
    x = images(2)
    with pytest.raises(ConfigError, match="at least 1 optimisation step"):
        interpolate(tiny("dcgan"), x[0], x[1], invert_steps=0)
    with pytest.raises(ConfigError, match="at least 1 optimisation step"):
        traverse(tiny("dcgan"), x[0], x, invert_steps=0)
    with pytest.raises(ConfigError, match="no class labels"):
        class_edit(tiny("vae"), x)
    with pytest.raises(ConfigError, match="cannot edit"):
        interpolate(tiny("fcvae"), x[0], x[1])
    with pytest.raises(ConfigError, match="cannot edit"):
        traverse(tiny("fcvae"), x[0], x)
    with pytest.raises(ConfigError, match="not inverted by optimisation"):
        invert(tiny("vq-vae"), x, steps=2)
    with pytest.raises(ConfigError, match="no latent code"):
        latent_space(NoLatent(ModelConfig(image_shape=SHAPE)))


class NoLatent(GenerativeModel):
    """A model with neither encoder and decoder nor a generator to invert."""

    name = "nolatent"


# -- the CLI verbs end to end --------------------------------------------------------------------------------------
TRAIN = ["--set", "model.latent_dim=4", "--set", "model.channels=4", "--batch-size", "16", "--no-progress",
         "--epochs", "1", "--image-size", "16"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny vae and cvae trained through the CLI on labelled blobs, and two image files."""
    from conftest import blob_images

    tmp = tmp_path_factory.mktemp("edit")
    data = tmp / "blobs.npz"
    np.savez(data, x_train=blob_images(48, seed=0)[:, 0].numpy(), x_test=blob_images(16, seed=1)[:, 0].numpy(),
             y_train=np.arange(48) % 3, y_test=np.arange(16) % 3)
    for model in ("vae", "cvae"):
        run("train", "--model", model, "--data", f"npz:{data}", "--out", tmp / model, *TRAIN)
    files = []
    for i, image in enumerate(blob_images(2, size=16, seed=5)[:, 0].numpy()):
        files.append(tmp / f"im{i}.png")
        Image.fromarray(image).save(files[-1])
    return tmp, files


def test_cli_interpolate_traverse_and_invert(runs, tmp_path):
    tmp, (a, b) = runs
    run("interpolate", tmp / "vae", a, b, "--steps", "5", "-o", tmp_path / "i.png", "--scale", "1")
    assert Image.open(tmp_path / "i.png").size == (7 * 18 + 2, 20)  # A, 5 steps, B
    out = json.loads(run("traverse", tmp / "vae", a, "--dims", "3", "--steps", "4", "-n", "10", "-o",
                         tmp_path / "t.png", "--scale", "1").output)
    assert len(out["dims"]) == 3 and len(out["activity"]) == 3 and "KL" in out["measure"]
    assert Image.open(tmp_path / "t.png").size == (4 * 18 + 2, 3 * 18 + 2)
    out = json.loads(run("invert", tmp / "vae", a, b, "--steps", "20", "--prior-weight", "0.1", "-o",
                         tmp_path / "inv.png").output)
    assert out["images"] == 2 and out["psnr"] > 0 and len(out["per_image"]) == 2


def test_cli_attribute_make_list_and_edit(runs, tmp_path):
    tmp, (a, _) = runs
    made = json.loads(run("attribute", tmp / "vae", "class2", "--with-class", "2", "--without-class", "0",
                          "-n", "8", "--no-progress").output)
    assert made["sizes"] == {"with": 8, "without": 8} and made["dims"] == 4 and "class 2" in made["made"]["with"]
    listed = json.loads(run("attribute", tmp / "vae", "--list").output)
    assert [row["name"] for row in listed] == ["class2"]
    assert (tmp / "vae" / "model" / "attributes" / "class2.safetensors").is_file()
    run("edit", tmp / "vae", a, "--attribute", "class2", "--strength", "0", "--strength", "2", "-o",
        tmp_path / "e.png", "--scale", "1")
    assert Image.open(tmp_path / "e.png").size == (3 * 18 + 2, 20)  # the image and 2 strengths
    for group, value in (("bright", 255), ("dark", 0)):
        (tmp_path / group).mkdir()
        for i in range(3):
            Image.new("L", (16, 16), value).save(tmp_path / group / f"{i}.png")
    made = json.loads(run("attribute", tmp / "vae", "bright", "--with-folder", tmp_path / "bright", "--without-folder",
                          tmp_path / "dark", "--no-progress").output)
    assert made["sizes"] == {"with": 3, "without": 3} and "folder" in made["made"]["with"] and made["norm"] > 0
    listed = json.loads(run("attribute", tmp / "vae", "--list").output)
    assert [row["name"] for row in listed] == ["bright", "class2"]
    bad = run("attribute", tmp / "vae", "x", "--with-class", "1", ok=False)  # no "without" group
    assert bad.exit_code == 2 and "either a class" in bad.output
    bad = run("edit", tmp / "vae", a, "--attribute", "nope", "-o", tmp_path / "e2.png", ok=False)
    assert bad.exit_code == 2 and "No attribute 'nope'" in bad.output and "class2" in bad.output
    assert not (tmp_path / "e2.png").exists()


def test_cli_class_edit(runs, tmp_path):
    tmp, (a, b) = runs
    out = json.loads(run("class-edit", tmp / "cvae", a, b, "-o", tmp_path / "c.png", "--scale", "1").output)
    assert out["images"] == 2 and len(out["labels"]) == 2
    assert Image.open(tmp_path / "c.png").size == ((1 + CLASSES) * 18 + 2, 2 * 18 + 2)
    bad = run("class-edit", tmp / "vae", a, "-o", tmp_path / "c2.png", ok=False)
    assert bad.exit_code == 2 and "no class labels" in bad.output
