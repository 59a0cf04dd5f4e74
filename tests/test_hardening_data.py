"""Hardening of the data layer (issue 17): deep images are scaled, bad files are one DataError naming them.

Every bad input here (16-bit, 32-bit and float images, decompression bombs, truncated, empty and
non-image files, NaN in npz, empty splits, damaged IDX and gzip files) must end in correct data or in
a DataError that names the file; never in a traceback or a silently wrong tensor.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from latentforge.data import load_dataset, read_image, register_dataset, registry
from latentforge.data.dataset import ImageDataset
from latentforge.data.folder import IMAGE_EXTENSIONS
from latentforge.data.idx import parse_idx, read_idx
from latentforge.errors import DataError

RAMP_8 = np.arange(256, dtype=np.int64).reshape(16, 16)  # every 8-bit level once
DARK_RAMP_8 = RAMP_8 // 2  # 0..127: scaling by the image's own maximum would stretch it to 0..255


def assert_ramp(t: torch.Tensor, expected: np.ndarray) -> None:
    assert t.dtype == torch.uint8
    assert np.abs(t.numpy().astype(np.int64) - expected).max() <= 1


def png_16bit_rgb(rgb16: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pgm_16bit(grey16: np.ndarray) -> bytes:
    h, w = grey16.shape
    return f"P5\n{w} {h}\n65535\n".encode() + grey16.astype(">u2").tobytes()


def save_pil(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


def image_bytes(fmt: str, size: tuple[int, int] = (12, 10), seed: int = 0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


# ---------------------------------------------------------------- deep images scaled, not clipped


@pytest.mark.parametrize(
    "name, write, expected",
    [
        ("grey16.png", lambda p, r: save_pil(p, (r * 257).astype(np.uint16)), RAMP_8),
        ("dark16.png", lambda p, r: save_pil(p, (r * 257).astype(np.uint16)), DARK_RAMP_8),
        ("grey16.pgm", lambda p, r: p.write_bytes(pgm_16bit(r * 257)), RAMP_8),
        ("dark32.tif", lambda p, r: save_pil(p, (r * 16843009).astype(np.int32)), DARK_RAMP_8),
        ("float.tif", lambda p, r: save_pil(p, (r / 255).astype(np.float32)), RAMP_8),
    ],
)
def test_deep_grey_images_come_back_as_the_8bit_ramp(tmp_path, name, write, expected):
    path = tmp_path / name
    write(path, expected)
    t = read_image(path)
    assert t.shape == (1, 16, 16)
    assert_ramp(t[0], expected)
    assert_ramp(read_image(path, channels=3), np.stack([expected] * 3))


def test_16bit_rgb_png_comes_back_as_the_8bit_ramp_per_channel(tmp_path):
    rgb8 = np.stack([RAMP_8, RAMP_8[::-1], DARK_RAMP_8], axis=-1)
    path = tmp_path / "rgb16.png"
    path.write_bytes(png_16bit_rgb(rgb8 * 257))
    assert_ramp(read_image(path), rgb8.transpose(2, 0, 1))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -0.5, 1.5, 255.0])
def test_float_images_outside_unit_range_are_refused_not_clipped(tmp_path, bad):
    arr = np.full((4, 4), 0.5, np.float32)
    arr[1, 2] = bad
    path = save_pil(tmp_path / "float.tif", arr)
    with pytest.raises(DataError, match=r"float.*\[0, 1\]") as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_negative_32bit_pixels_are_refused(tmp_path):
    path = save_pil(tmp_path / "signed.tif", np.full((4, 4), -7, np.int32))
    with pytest.raises(DataError, match="bit depth") as err:
        read_image(path)
    assert str(path) in str(err.value)


# ---------------------------------------------------------------- bombs, truncated, empty, not images


# 64×64 = 4096 pixels: over twice the limit (Pillow's error), over the limit only (Pillow's warning).
@pytest.mark.parametrize("limit", [1000, 3000])
def test_decompression_bomb_is_a_data_error_saying_downscale(tmp_path, monkeypatch, limit):
    path = save_pil(tmp_path / "bomb.png", np.zeros((64, 64), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(DataError, match="(?i)downscale") as err:
        read_image(path)
    assert str(path) in str(err.value)


def truncated(tmp_path: Path, fmt: str, ext: str) -> Path:
    data = image_bytes(fmt, size=(64, 48))
    path = tmp_path / f"half{ext}"
    path.write_bytes(data[: len(data) // 2])
    return path


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def folder(path: Path) -> Path:
    path.mkdir()
    return path


BAD_FILES = {
    "zero-byte": (lambda d: written(d / "empty.png", b""), "empty"),
    "text": (lambda d: written(d / "notes.png", b"not an image"), "not an image"),
    "truncated png": (lambda d: truncated(d, "PNG", ".png"), "truncated"),
    "truncated jpeg": (lambda d: truncated(d, "JPEG", ".jpg"), "truncated"),
    "folder": (lambda d: folder(d / "dir.png"), "folder"),
    "missing": (lambda d: d / "missing.png", "no such file"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_image_file_is_one_data_error_naming_it_and_why(tmp_path, kind):
    make, reason = BAD_FILES[kind]
    path = make(tmp_path)
    with pytest.raises(DataError, match=reason) as err:
        read_image(path)
    assert str(path) in str(err.value) and "Remove or replace" in str(err.value)


def test_truncated_images_are_not_loaded_silently():
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # importing latentforge must not switch it on


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's TIFF reader warns about the damage it skips
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    base=st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "PPM", "WEBP"]),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6),
    noise=st.binary(max_size=64),
)
def test_any_bytes_as_an_image_give_a_uint8_image_or_a_data_error(tmp_path, base, cut, flips, noise):
    data = bytearray(image_bytes(base))
    data = data[: max(1, int(len(data) * cut))] if cut < 0.9 else data + noise
    for where, value in flips:
        data[min(len(data) - 1, int(len(data) * where))] = value
    path = tmp_path / f"fuzz.{base.lower()}"
    path.write_bytes(bytes(data))
    try:
        t = read_image(path)
    except DataError as e:
        assert str(path) in str(e)
    else:
        assert t.dtype == torch.uint8 and t.ndim == 3 and t.shape[0] in (1, 3) and t.is_contiguous()


# ---------------------------------------------------------------- folder datasets


def test_folder_extensions_are_pillows_decodable_formats():
    assert {".pgm", ".ppm", ".pbm", ".png", ".jpg", ".tif", ".webp"} <= IMAGE_EXTENSIONS
    assert not {".pdf", ".h5", ".mpg"} & IMAGE_EXTENSIONS  # written only, stubs without a handler, video


def make_split_folder(root: Path, ext: str, channels: int, n: int = 3) -> Path:
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        for i in range(n):
            shape = (8, 6) if channels == 1 else (8, 6, 3)
            save_pil(root / split / f"{i}{ext}", np.full(shape, 30 * i + 10, np.uint8))
    return root


@pytest.mark.parametrize("ext, channels", [(".pgm", 1), (".ppm", 3), (".pbm", 1)])
def test_folder_of_netpbm_images_loads(tmp_path, ext, channels):
    root = make_split_folder(tmp_path / "faces", ext, channels)
    if ext == ".pbm":  # a bitmap: save 1-bit images instead
        for p in root.rglob("*.pbm"):
            Image.fromarray(np.eye(8, 6, dtype=bool)).save(p)
    for split in ("train", "test"):
        ds = load_dataset(f"folder:{root}", split)
        assert len(ds) == 3 and ds.shape == (channels, 8, 6)


def test_folder_lists_every_unreadable_file_with_its_reason_in_one_error(tmp_path, monkeypatch):
    root = make_split_folder(tmp_path / "data", ".png", 1, n=2)
    (root / "train" / "empty.png").write_bytes(b"")
    (root / "train" / "notes.jpg").write_text("not an image")
    truncated(root / "train", "PNG", ".png")  # header fine, pixels missing: found only by decoding
    save_pil(root / "train" / "bomb.png", np.zeros((64, 64), np.uint8))
    (root / "test" / "empty.pgm").write_bytes(b"")  # the other split: its headers are read too
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3500)  # bomb.png has 4096 pixels, half.png 3072
    with pytest.raises(DataError, match="Cannot read 5 of 9") as err:
        load_dataset(f"folder:{root}", "train", image_size=8)  # a resize to 64×64 would itself be over the limit
    msg = str(err.value)
    reasons = {
        "train/empty.png": "empty",
        "train/notes.jpg": "not an image",
        "train/half.png": "truncated",
        "train/bomb.png": "4,096 pixels, over the safe decoding limit PIL.Image.MAX_IMAGE_PIXELS = 3,500",
        "test/empty.pgm": "empty",
    }
    for name, reason in reasons.items():
        assert f"{name} ({reason}" in msg
    assert "Remove or replace them" in msg and "Downscale" in msg


# ---------------------------------------------------------------- npz


@pytest.mark.parametrize("bad, counts", [(np.nan, "2 NaN and 0 infinite"), (np.inf, "0 NaN and 2 infinite"),
                                         (-np.inf, "0 NaN and 2 infinite")])
def test_npz_nan_and_inf_are_counted_by_array_not_called_out_of_range(tmp_path, bad, counts):
    x = np.full((5, 4, 4), 0.5, np.float32)
    x[3, 1, 1] = x[3, 2, 2] = bad
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x, x_test=x[:2])
    with pytest.raises(DataError) as err:
        load_dataset(f"npz:{path}", "train")
    msg = str(err.value)
    assert "[x_train]" in msg and counts in msg and "1 of 5 images" in msg and "index 3" in msg
    assert "outside" not in msg and "nan_to_num" in msg
    assert len(load_dataset(f"npz:{path}", "test")) == 2  # the clean array still loads


@pytest.mark.parametrize(
    "content, expected",
    [(b"", "empty"), (b"hello, not numpy", "not an .npz"), (None, "single .npy array")],
)
def test_npz_file_that_is_not_an_archive_says_what_it_is(tmp_path, content, expected):
    path = tmp_path / "d.npz"
    if content is None:
        with path.open("wb") as fh:
            np.save(fh, np.zeros((3, 4, 4), np.uint8))
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=expected) as err:
        load_dataset(f"npz:{path}")
    assert str(path) in str(err.value) and "numpy.savez" in str(err.value)


def test_npz_zero_size_images_are_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((10, 0, 4), np.uint8))
    with pytest.raises(DataError, match="no pixels"):
        load_dataset(f"npz:{path}")


# ---------------------------------------------------------------- empty splits


def empty_test_folder(tmp_path: Path) -> str:
    root = make_split_folder(tmp_path / "f", ".png", 1, n=2)
    for p in (root / "test").iterdir():
        p.unlink()
    return f"folder:{root}"


def npz_of(tmp_path: Path, **arrays) -> str:
    np.savez(tmp_path / "d.npz", **arrays)
    return f"npz:{tmp_path / 'd.npz'}"


EMPTY_TEST_SPLITS = {
    "folder with an empty test/": empty_test_folder,
    "npz too small to split": lambda d: npz_of(d, images=np.zeros((3, 4, 4), np.uint8)),
    "npz with an empty x_test": lambda d: npz_of(d, x_train=np.zeros((3, 4, 4), np.uint8),
                                                  x_test=np.zeros((0, 4, 4), np.uint8)),
    "empty IDX test files": lambda d: "mnist",
}


@pytest.mark.filterwarnings("ignore:.*not the official MNIST file:UserWarning")
@pytest.mark.parametrize("case", EMPTY_TEST_SPLITS)
def test_empty_test_split_is_refused_at_load_time(tmp_path, monkeypatch, case):
    spec = EMPTY_TEST_SPLITS[case](tmp_path)
    if spec == "mnist":
        write_idx_pair(tmp_path / "mnist", ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"), n=0)
        monkeypatch.setenv("LATENTFORGE_DATA", str(tmp_path))
    with pytest.raises(DataError, match="(?i)test split.*(empty|no images)|no images") as err:
        load_dataset(spec, "test", download=False)
    assert "test" in str(err.value)


def test_a_registered_loader_returning_no_images_is_refused(monkeypatch):
    monkeypatch.setattr(registry, "DATASETS", dict(registry.DATASETS))

    def nothing(opts):
        return ImageDataset(images=torch.zeros(0, 1, 4, 4, dtype=torch.uint8), labels=None, name="nothing",
                            split=opts.split, num_classes=None, likelihood_hint="logistic")

    register_dataset("nothing", nothing)
    with pytest.raises(DataError, match="The test split of dataset 'nothing' holds no images"):
        load_dataset("nothing", "test")


# ---------------------------------------------------------------- IDX files


def idx_bytes(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes() + arr.tobytes()


def write_idx_pair(folder: Path, names: tuple[str, str], n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / names[0]).write_bytes(idx_bytes(np.zeros((n, 28, 28), np.uint8)))
    (folder / names[1]).write_bytes(idx_bytes(np.zeros(n, np.uint8)))


IDX_DAMAGE = {
    "zero-byte": lambda data: b"",
    "truncated": lambda data: data[: len(data) // 2],
    "gz that is not gzip": lambda data: b"\x1f\x8b" + b"plain text, not deflate",
    "truncated gzip": lambda data: gzip.compress(data)[:30],
    "text": lambda data: b"this is not an IDX file at all",
    "huge dimensions": lambda data: bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3 + data[16:],
}


@pytest.mark.parametrize("damage", IDX_DAMAGE)
def test_damaged_idx_file_is_one_data_error_naming_it(tmp_path, damage):
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(IDX_DAMAGE[damage](idx_bytes(np.arange(5 * 6 * 7, dtype=np.uint8).reshape(5, 6, 7))))
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_unreadable_idx_path_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="Cannot read"):
        read_idx(tmp_path)  # a folder


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_parse_as_an_idx_array_or_a_data_error(data):
    try:
        arr = parse_idx(data, "x.idx")
    except DataError as e:
        assert "x.idx" in str(e)
    else:
        assert isinstance(arr, np.ndarray)
