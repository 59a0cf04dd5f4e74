"""CIFAR-10 from its canonical archives: the python version (pickled batches) or the binary version.

Python version: ``cifar-10-python.tar.gz`` holding ``cifar-10-batches-py/`` (``data_batch_1`` ..
``data_batch_5``, ``test_batch``, ``batches.meta``), each batch a pickled dict with ``data`` (uint8,
10,000 × 3,072: the 1,024 red values, then green, then blue, each plane row-major) and ``labels``; keys
are bytes in the official files, str in some re-saved copies. The pickles are read with a whitelist
(``safe_pickle``), never with plain ``pickle.load``.

Binary version: ``cifar-10-binary.tar.gz`` holding ``cifar-10-batches-bin/`` (``data_batch_1.bin`` ..
``data_batch_5.bin``, ``test_batch.bin``, ``batches.meta.txt``), each record one label byte and the
same 3,072 pixel bytes.

Archives are read as they are, member by member from the gzip stream (nothing is extracted to disk);
extracted folders work too. Local files are validated by structure, counts and shapes, not checksums
(re-saved pickles differ byte-wise from the official ones); a download is checked against the
published MD5 of the official archive.
"""

from __future__ import annotations

import functools
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ..errors import DataError
from .dataset import ImageDataset, LoadOptions
from .download import DownloadError, download_md5
from .locate import how_to_provide, search_places, searched_lines, user_cache_dir
from .safe_pickle import safe_load

NAME = "cifar10"
TITLE = "CIFAR-10"
URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
MD5 = "c58f30108f718f92721af3b95e74349a"  # of cifar-10-python.tar.gz, as published on the dataset page

PY_ARCHIVE, PY_FOLDER = "cifar-10-python.tar.gz", "cifar-10-batches-py"
BIN_ARCHIVE, BIN_FOLDER = "cifar-10-binary.tar.gz", "cifar-10-batches-bin"
PY_META, BIN_META = "batches.meta", "batches.meta.txt"

SIDE = 32
PIXELS = 3 * SIDE * SIDE  # 3,072 bytes per image: R plane, G plane, B plane
NUM_CLASSES = 10
ROWS_PER_BATCH = 10_000  # the real archives' count, checked strictly (tests patch it for tiny archives)
NUM_TRAIN_BATCHES = 5


@dataclass(frozen=True)
class Source:
    """Where CIFAR-10 was found: an archive file or a folder of batches, python or binary version."""

    path: Path
    binary: bool
    archive: bool

    @property
    def folder_name(self) -> str:
        """The folder the members sit in inside the archive."""
        return BIN_FOLDER if self.binary else PY_FOLDER


def batch_names(split: str, binary: bool) -> list[str]:
    names = [f"data_batch_{i}" for i in range(1, NUM_TRAIN_BATCHES + 1)] if split == "train" else ["test_batch"]
    return [f"{n}.bin" for n in names] if binary else names


def find_source(folder: Path) -> Source | None:
    """The first CIFAR-10 form in ``folder``: extracted python folder, python archive, then the binary ones.

    A folder that itself holds the batches (``--data-dir`` pointed at ``cifar-10-batches-py/``) also counts.
    """
    candidates = (
        (folder / PY_FOLDER, False, False),
        (folder / PY_ARCHIVE, False, True),
        (folder / BIN_FOLDER, True, False),
        (folder / BIN_ARCHIVE, True, True),
    )
    for path, binary, archive in candidates:
        if path.is_file() if archive else path.is_dir():
            return Source(path, binary, archive)
    for meta, binary in ((PY_META, False), (BIN_META, True)):
        if (folder / meta).is_file():
            return Source(folder, binary, False)
    return None


def load_cifar10(opts: LoadOptions) -> ImageDataset:
    source = locate_or_download(opts)
    images, labels, class_names = read_cached(source, opts.split)
    return ImageDataset(
        images=torch.from_numpy(images.copy()),  # a copy: the parsed arrays stay cached
        labels=torch.from_numpy(labels.copy()),
        name=NAME,
        split=opts.split,
        num_classes=NUM_CLASSES,
        likelihood_hint="logistic",
        class_names=list(class_names),
    )


def locate_or_download(opts: LoadOptions) -> Source:
    places = search_places(NAME, opts.data_dir)
    for place in places:
        if (source := find_source(place.path)) is not None:
            return source
    if not opts.download:
        failure = "downloading is off (download=False)"
    else:
        dest = user_cache_dir(NAME) / PY_ARCHIVE
        try:
            return Source(download_md5(list(URLS), dest, MD5), binary=False, archive=True)
        except DownloadError as e:
            failure = f"the download failed: {e}"
    lines = [f"Cannot find {TITLE}: neither {PY_ARCHIVE} nor its extracted {PY_FOLDER}/, nor the binary version "
             f"({BIN_ARCHIVE} or {BIN_FOLDER}/)."]
    lines += searched_lines(places, opts.data_dir, lambda folder: "none of them")
    lines.append(f"Not downloaded: {failure}.")
    lines.append(
        f"To provide {TITLE}, download {URLS[0]} (md5 {MD5}) on a machine that is online, then "
        + how_to_provide(NAME, f"the archive as it is (or its extracted {PY_FOLDER}/ folder)")
        + f"; or, when online, let latentforge download it into {user_cache_dir(NAME)}."
    )
    raise DataError("\n".join(lines))


def read_cached(source: Source, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Parse the split once per process, keyed by the files' stamps so a replaced file is re-read."""
    wanted = [*batch_names(split, source.binary), BIN_META if source.binary else PY_META]
    paths = [source.path] if source.archive else [source.path / n for n in wanted]
    try:
        stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    except OSError:  # a missing member: read it uncached, which names what is missing
        return _read(source, split, ROWS_PER_BATCH)
    return _read_cached(source, split, ROWS_PER_BATCH, stamp)


@functools.lru_cache(maxsize=4)
def _read_cached(source: Source, split: str, rows: int, stamp: tuple) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    return _read(source, split, rows)


def _read(source: Source, split: str, rows: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    batches = batch_names(split, source.binary)
    meta = BIN_META if source.binary else PY_META
    data = read_members(source, [*batches, meta])
    parse = parse_bin_batch if source.binary else parse_py_batch
    parsed = [parse(data[n], member_label(source, n), rows) for n in batches]
    class_names = (parse_bin_meta if source.binary else parse_py_meta)(data[meta], member_label(source, meta))
    for (_, labels), n in zip(parsed, batches, strict=True):
        if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
            bad = labels[(labels < 0) | (labels >= NUM_CLASSES)][0]
            raise DataError(
                f"{member_label(source, n)} has label {bad}, but {TITLE} labels are 0..{NUM_CLASSES - 1}. "
                f"The file is damaged or not {TITLE}: get the official archive again."
            )
    images = np.concatenate([p for p, _ in parsed]).reshape(-1, 3, SIDE, SIDE)
    labels = np.concatenate([lab for _, lab in parsed]).astype(np.int64)
    return images, labels, class_names


def member_label(source: Source, name: str) -> str:
    """How a member is named in errors: the file, or ``archive!folder/member``."""
    return f"{source.path}!{source.folder_name}/{name}" if source.archive else str(source.path / name)


def read_members(source: Source, wanted: list[str]) -> dict[str, bytes]:
    """The bytes of each member in ``wanted``, from the folder or streamed from the archive."""
    out: dict[str, bytes] = {}
    if not source.archive:
        for name in wanted:
            path = source.path / name
            if not path.is_file():
                raise DataError(
                    f"{path} is missing: the {TITLE} folder {source.path} must hold {', '.join(wanted)}. "
                    f"Extract the official archive again (or give the archive itself)."
                )
            try:
                out[name] = path.read_bytes()
            except OSError as e:
                raise DataError(f"Cannot read {path}: {e}. Check that it is a readable file.") from e
        return out
    try:
        with tarfile.open(source.path, "r|gz") as tar:  # a stream: members in archive order, never extracted
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if (member.isfile() and len(parts) >= 2 and parts[-2] == source.folder_name
                        and parts[-1] in wanted and parts[-1] not in out):
                    fileobj = tar.extractfile(member)
                    assert fileobj is not None  # a regular file always has one
                    out[parts[-1]] = fileobj.read()
                    if len(out) == len(wanted):
                        break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{source.path} is truncated or not a valid tar.gz archive ({e}). Delete it and get it again."
        ) from e
    missing = [f"{source.folder_name}/{n}" for n in wanted if n not in out]
    if missing:
        raise DataError(
            f"{source.path} lacks {', '.join(missing)}: it is truncated or not the {TITLE} archive "
            f"({PY_ARCHIVE if not source.binary else BIN_ARCHIVE}). Delete it and get it again."
        )
    return out


def _field(batch: dict, key: str, where: str) -> object:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DataError(f"{where} has no {key!r} entry (keys: {sorted(map(str, batch))}); it is not a {TITLE} batch.")


def parse_py_batch(raw: bytes, where: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch: ``data`` uint8 rows × 3,072 and ``labels`` of the same length."""
    batch = safe_load(raw, where)
    if not isinstance(batch, dict):
        raise DataError(f"{where} holds a {type(batch).__name__}, not the dict of a {TITLE} batch.")
    pixels = _field(batch, "data", where)
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.shape != (rows, PIXELS):
        got = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise DataError(
            f"{where}: 'data' must be uint8 of shape ({rows}, {PIXELS}), got {got}; the file is truncated or "
            f"not a {TITLE} batch."
        )
    labels = _labels(_field(batch, "labels", where), where, rows)
    return pixels, labels


def _labels(value: object, where: str, rows: int) -> np.ndarray:
    arr = np.asarray(value) if isinstance(value, list | tuple | np.ndarray) else None
    if arr is None or arr.ndim != 1 or arr.dtype.kind not in "iu" or len(arr) != rows:
        got = f"{arr.dtype} {arr.shape}" if arr is not None else type(value).__name__
        raise DataError(f"{where}: 'labels' must be {rows} integers, got {got}; the file is not a {TITLE} batch.")
    return arr.astype(np.int64)


def parse_bin_batch(raw: bytes, where: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch: ``rows`` records of a label byte and 3,072 pixel bytes."""
    record = 1 + PIXELS
    if len(raw) != rows * record:
        raise DataError(
            f"{where} has {len(raw)} bytes, but {rows} records of {record} bytes need {rows * record}; "
            f"it is truncated or not a {TITLE} binary batch."
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(rows, record)
    return records[:, 1:], records[:, 0].astype(np.int64)


def _class_names(names: list[str], where: str) -> tuple[str, ...]:
    if len(names) != NUM_CLASSES:
        raise DataError(f"{where} lists {len(names)} class names, {TITLE} has {NUM_CLASSES}.")
    return tuple(names)


def parse_py_meta(raw: bytes, where: str) -> tuple[str, ...]:
    meta = safe_load(raw, where)
    names = _field(meta, "label_names", where) if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, bytes | str) for n in names):
        raise DataError(f"{where}: 'label_names' must be a list of names; the file is not {TITLE}'s batches.meta.")
    return _class_names([n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names], where)


def parse_bin_meta(raw: bytes, where: str) -> tuple[str, ...]:
    names = [line.strip() for line in raw.decode("utf-8", "replace").splitlines() if line.strip()]
    return _class_names(names, where)
