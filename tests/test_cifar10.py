"""CIFAR-10: tiny synthetic archives in both versions, the whitelisting unpickler, damaged files.

Hermetic like test_data.py: own HOME, XDG cache and system dataset folder, no LATENTFORGE_DATA, no
network. The real count of 10,000 rows per batch is patched down to ROWS so archives stay tiny.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from latentforge.data import cifar, download, load_dataset, locate
from latentforge.data.safe_pickle import RefusedGlobalError, safe_load
from latentforge.errors import DataError

from conftest import isolate_dataset_search

ROWS = 3
NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]


@pytest.fixture(autouse=True)
def hermetic(monkeypatch, tmp_path):
    isolate_dataset_search(monkeypatch, tmp_path)
    monkeypatch.setattr(cifar, "ROWS_PER_BATCH", ROWS)

    def offline(url, *args, **kwargs):
        raise AssertionError(f"test tried to reach the network: {url}")

    monkeypatch.setattr(download, "urlopen", offline)


def content(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Batch name -> (pixels rows × 3,072 uint8, labels), the same for both versions."""
    rng = np.random.default_rng(seed)
    return {name: (rng.integers(0, 256, (ROWS, cifar.PIXELS), dtype=np.uint8), rng.integers(0, 10, ROWS))
            for name in [*TRAIN, "test_batch"]}


def py_members(batches, str_keys: bool = False, protocol: int = 2) -> dict[str, bytes]:
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    name = (lambda n: n) if str_keys else (lambda n: n.encode())
    out = {n: pickle.dumps({key("batch_label"): name(n), key("data"): px, key("labels"): [int(v) for v in lab]},
                           protocol=protocol) for n, (px, lab) in batches.items()}
    out["batches.meta"] = pickle.dumps(
        {key("label_names"): [name(n) for n in NAMES], key("num_cases_per_batch"): ROWS, key("num_vis"): 3072},
        protocol=protocol)
    return out


def bin_members(batches) -> dict[str, bytes]:
    out = {f"{n}.bin": np.concatenate([lab.astype(np.uint8)[:, None], px], axis=1).tobytes()
           for n, (px, lab) in batches.items()}
    out["batches.meta.txt"] = ("\n".join(NAMES) + "\n\n").encode()
    return out


def write_folder(path: Path, members: dict[str, bytes]) -> Path:
    path.mkdir(parents=True)
    for name, data in members.items():
        (path / name).write_bytes(data)
    return path


def write_tar(path: Path, folder: str, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def load(split: str, data_dir: Path, **kwargs):
    return load_dataset("cifar10", split, data_dir=data_dir, download=False, **kwargs)


def expected(batches, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = TRAIN if split == "train" else ["test_batch"]
    px = np.concatenate([batches[n][0] for n in names]).reshape(-1, 3, 32, 32)
    return px, np.concatenate([batches[n][1] for n in names])


@pytest.mark.parametrize("str_keys", [False, True])
@pytest.mark.parametrize("split", ["train", "test"])
def test_python_archive_and_folder_give_the_same_arrays(tmp_path, str_keys, split):
    batches = content()
    members = py_members(batches, str_keys=str_keys)
    write_tar(tmp_path / "a" / "cifar-10-python.tar.gz", "cifar-10-batches-py", members)
    write_folder(tmp_path / "b" / "cifar-10-batches-py", members)
    from_tar, from_folder = load(split, tmp_path / "a"), load(split, tmp_path / "b")
    px, labels = expected(batches, split)
    for ds in (from_tar, from_folder):
        assert ds.images.dtype == torch.uint8 and ds.labels.dtype == torch.int64
        assert tuple(ds.images.shape) == (len(px), 3, 32, 32)
        assert np.array_equal(ds.images.numpy(), px) and np.array_equal(ds.labels.numpy(), labels)
        assert ds.class_names == NAMES and ds.num_classes == 10 and ds.name == "cifar10" and ds.split == split
        assert ds.likelihood_hint == "logistic"


@pytest.mark.parametrize("protocol", [4, 5])
def test_other_pickle_protocols_load(tmp_path, protocol):
    batches = content(1)
    write_folder(tmp_path / "cifar-10-batches-py", py_members(batches, protocol=protocol))
    assert np.array_equal(load("test", tmp_path).images.numpy(), expected(batches, "test")[0])


@pytest.mark.parametrize("split", ["train", "test"])
def test_binary_version_matches_the_python_version(tmp_path, split):
    batches = content(2)
    write_folder(tmp_path / "py" / "cifar-10-batches-py", py_members(batches))
    write_folder(tmp_path / "bin" / "cifar-10-batches-bin", bin_members(batches))
    write_tar(tmp_path / "bintar" / "cifar-10-binary.tar.gz", "cifar-10-batches-bin", bin_members(batches))
    ref = load(split, tmp_path / "py")
    for where in ("bin", "bintar"):
        ds = load(split, tmp_path / where)
        assert torch.equal(ds.images, ref.images) and torch.equal(ds.labels, ref.labels)
        assert ds.class_names == NAMES


def test_pixel_layout_is_r_g_b_planes_row_major(tmp_path):
    batches = content(3)
    px = batches["test_batch"][0]
    px[:] = 0
    n, y, x = 1, 5, 7
    px[n, 0 * 1024 + y * 32 + x] = 200  # red plane
    px[n, 1 * 1024 + y * 32 + x] = 100  # green plane
    px[n, 2 * 1024 + y * 32 + x] = 50  # blue plane
    px[2, :1024] = 255  # image 2 all red
    write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", py_members(batches))
    ds = load("test", tmp_path)
    assert [int(ds.images[n, c, y, x]) for c in range(3)] == [200, 100, 50]
    assert int(ds.images.sum()) == 350 + 255 * 1024
    red = ds.images[2]
    assert bool((red[0] == 255).all()) and int(red[1:].sum()) == 0  # a red image stays red


def test_size_and_channel_options_convert_cifar(tmp_path):
    write_folder(tmp_path / "cifar-10-batches-py", py_members(content()))
    ds = load("train", tmp_path, image_size=16, channels=1)
    assert tuple(ds.images.shape) == (5 * ROWS, 1, 16, 16) and ds.class_names == NAMES


def test_search_order_and_dataset_subfolder(tmp_path, monkeypatch):
    a, b = content(4), content(5)
    write_folder(tmp_path / "env" / "cifar-10-batches-py", py_members(a))
    write_tar(tmp_path / "given" / "cifar10" / "cifar-10-python.tar.gz", "cifar-10-batches-py", py_members(b))
    monkeypatch.setenv("LATENTFORGE_DATA", str(tmp_path / "env"))
    assert np.array_equal(load("test", tmp_path / "given").labels.numpy(), b["test_batch"][1])  # --data-dir first
    ds = load_dataset("cifar10", "test", download=False)
    assert np.array_equal(ds.labels.numpy(), a["test_batch"][1])
    # --data-dir pointed at the extracted folder itself
    ds = load("test", tmp_path / "env" / "cifar-10-batches-py")
    assert np.array_equal(ds.labels.numpy(), a["test_batch"][1])


def test_not_found_offline_names_every_place_and_how_to_provide(tmp_path):
    with pytest.raises(DataError) as err:
        load("train", tmp_path / "nowhere")
    msg = str(err.value)
    assert "cifar-10-python.tar.gz" in msg and "cifar-10-batches-bin" in msg
    for place in (tmp_path / "nowhere" / "cifar10", tmp_path / "nowhere", locate.user_cache_dir("cifar10"),
                  locate.SYSTEM_DATASET_DIR / "cifar10"):
        assert str(place) in msg
    assert "LATENTFORGE_DATA is not set" in msg and "--data-dir" in msg and cifar.MD5 in msg and cifar.URLS[0] in msg


def test_download_checks_the_md5_and_failure_says_so(tmp_path, monkeypatch):
    members = py_members(content(6))
    archive = write_tar(tmp_path / "mirror" / "cifar-10-python.tar.gz", "cifar-10-batches-py", members)
    monkeypatch.setattr(cifar, "URLS", (archive.as_uri(),))
    monkeypatch.setattr(download, "urlopen", urllib.request.urlopen)
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("cifar10", "test", data_dir=tmp_path / "empty")
    assert not (locate.user_cache_dir("cifar10") / "cifar-10-python.tar.gz").exists()
    monkeypatch.setattr(cifar, "MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    ds = load_dataset("cifar10", "test", data_dir=tmp_path / "empty")
    assert len(ds) == ROWS and (locate.user_cache_dir("cifar10") / "cifar-10-python.tar.gz").is_file()


class Hostile:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["system", "eval", "popen"])
def test_hostile_pickle_is_refused_without_running_code(tmp_path, how):
    marker = tmp_path / "MARKER"
    payload = {
        "system": Hostile(marker),
        "eval": type("E", (), {"__reduce__": lambda self: (eval, (f"open({str(marker)!r}, 'w')",))})(),
        "popen": type("P", (), {"__reduce__": lambda self: (subprocess.Popen, (["touch", str(marker)],))})(),
    }[how]
    members = py_members(content())
    members["test_batch"] = pickle.dumps({b"data": payload, b"labels": [0]}, protocol=2)
    write_folder(tmp_path / "cifar-10-batches-py", members)
    # protocol 2 names Python 2 modules (__builtin__, commands); the refusal quotes what the file asks for
    refused = {"system": ("posix.system", "os.system"), "eval": ("__builtin__.eval", "builtins.eval"),
               "popen": ("commands.Popen", "subprocess.Popen")}[how]
    with pytest.raises(RefusedGlobalError) as err:
        load("test", tmp_path)
    assert str(tmp_path / "cifar-10-batches-py" / "test_batch") in str(err.value)
    assert any(name in str(err.value) for name in refused) and "refused" in str(err.value)
    assert not marker.exists()


def test_restricted_unpickler_refuses_codecs_tricks_and_reads_plain_values(tmp_path):
    assert safe_load(pickle.dumps({"a": [1, 2.5, b"x", "y", None, (True,)]}, protocol=2), "f") == {
        "a": [1, 2.5, b"x", "y", None, (True,)]}
    # _codecs.encode is admitted only as the latin-1 of protocol-2 bytes
    evil = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x04\x00\x00\x00zlibq\x01\x86R."
    with pytest.raises(DataError, match="not a valid pickle"):
        safe_load(evil, "f")
    with pytest.raises(RefusedGlobalError, match="numpy.load"):
        safe_load(b"\x80\x02cnumpy\nload\n.", "f")


def test_truncated_archive_is_a_data_error(tmp_path):
    archive = write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", py_members(content()))
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
        load("test", tmp_path)


def test_archive_missing_a_batch_names_it(tmp_path):
    members = py_members(content())
    del members["data_batch_3"]
    write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", members)
    with pytest.raises(DataError, match="lacks cifar-10-batches-py/data_batch_3"):
        load("train", tmp_path)
    assert len(load("test", tmp_path)) == ROWS  # the test split does not need it


def test_folder_missing_a_batch_names_it(tmp_path):
    members = bin_members(content())
    del members["test_batch.bin"]
    write_folder(tmp_path / "cifar-10-batches-bin", members)
    with pytest.raises(DataError, match="test_batch.bin is missing"):
        load("test", tmp_path)


def test_truncated_member_and_wrong_counts(tmp_path, monkeypatch):
    batches = content()
    bins = bin_members(batches)
    bins["test_batch.bin"] = bins["test_batch.bin"][:-5]
    write_folder(tmp_path / "b" / "cifar-10-batches-bin", bins)
    with pytest.raises(DataError, match="test_batch.bin has .* bytes"):
        load("test", tmp_path / "b")
    write_folder(tmp_path / "p" / "cifar-10-batches-py", py_members(batches))
    monkeypatch.setattr(cifar, "ROWS_PER_BATCH", 10_000)  # the real, strict count
    with pytest.raises(DataError, match=r"must be uint8 of shape \(10000, 3072\)"):
        load("test", tmp_path / "p")
    monkeypatch.setattr(cifar, "ROWS_PER_BATCH", ROWS)
    members = py_members(batches)
    members["test_batch"] = members["test_batch"][:-10]
    write_folder(tmp_path / "t" / "cifar-10-batches-py", members)
    with pytest.raises(DataError, match="test_batch is truncated or not a valid pickle"):
        load("test", tmp_path / "t")


@pytest.mark.parametrize("version", ["py", "bin"])
def test_bad_label_is_a_data_error(tmp_path, version):
    batches = content()
    batches["test_batch"][1][1] = 10
    if version == "py":
        write_folder(tmp_path / "cifar-10-batches-py", py_members(batches))
    else:
        write_folder(tmp_path / "cifar-10-batches-bin", bin_members(batches))
    with pytest.raises(DataError, match="has label 10, but CIFAR-10 labels are 0..9"):
        load("test", tmp_path)


def test_labels_not_matching_rows_and_bad_meta(tmp_path):
    members = py_members(content())
    members["test_batch"] = pickle.dumps({b"data": content()["test_batch"][0], b"labels": [1, 2]}, protocol=2)
    write_folder(tmp_path / "a" / "cifar-10-batches-py", members)
    with pytest.raises(DataError, match="'labels' must be 3 integers"):
        load("test", tmp_path / "a")
    members = py_members(content())
    members["batches.meta"] = pickle.dumps({b"label_names": [b"cat"]}, protocol=2)
    write_folder(tmp_path / "b" / "cifar-10-batches-py", members)
    with pytest.raises(DataError, match="lists 1 class names"):
        load("test", tmp_path / "b")


def test_not_gzip_archive(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(gzip.compress(b"not a tar file at all" * 40))
    with pytest.raises(DataError, match="lacks|not a valid tar.gz"):
        load("test", tmp_path)
