"""MNIST and Fashion-MNIST from their canonical IDX files: found locally, else downloaded and checked."""

from __future__ import annotations

import functools
import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .dataset import ImageDataset, LoadOptions
from .download import DownloadError, download_gz
from .idx import parse_idx, read_maybe_gzipped
from .locate import (
    Place,
    find_files,
    find_in_folder,
    how_to_provide,
    search_places,
    searched_lines,
    user_cache_dir,
)

IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class CanonicalSpec:
    name: str
    title: str
    mirrors: tuple[str, ...]
    sha256: dict[str, str]  # file name -> sha256 of its uncompressed content (see download.py)
    class_names: tuple[str, ...]
    likelihood_hint: str
    system_package: str | None = None  # a Debian package that installs the files


# Content hashes of the official files; for MNIST they equal the widely published sha256 values,
# for Fashion-MNIST the uncompressed files match the official md5 values.
MNIST = CanonicalSpec(
    name="mnist",
    title="MNIST",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    sha256={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    class_names=tuple(str(d) for d in range(10)),
    likelihood_hint="bernoulli",
)
FASHION_MNIST = CanonicalSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    sha256={
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
    ),
    likelihood_hint="logistic",
    system_package="dataset-fashion-mnist",
)


def load_canonical(spec: CanonicalSpec, opts: LoadOptions) -> ImageDataset:
    filenames = IDX_FILES[opts.split]
    paths = locate_or_download(spec, filenames, opts)
    images = read_checked(spec, paths[filenames[0]])
    labels = read_checked(spec, paths[filenames[1]])
    if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"{paths[filenames[0]]} and {paths[filenames[1]]} are not a matching image/label pair "
            f"(images {images.dtype} {images.shape}, labels {labels.dtype} {labels.shape}). Replace them with the "
            f"official {spec.title} files."
        )
    if labels.size and labels.max() >= len(spec.class_names):
        raise DataError(
            f"{paths[filenames[1]]} has label {labels.max()}, but {spec.title} has {len(spec.class_names)} classes."
        )
    return ImageDataset(
        images=torch.from_numpy(images).unsqueeze(1).clone(),  # a copy: the parsed arrays stay cached
        labels=torch.from_numpy(labels.astype(np.int64)),
        name=spec.name,
        split=opts.split,
        num_classes=len(spec.class_names),
        likelihood_hint=spec.likelihood_hint,
        class_names=list(spec.class_names),
    )


def locate_or_download(spec: CanonicalSpec, filenames: tuple[str, ...], opts: LoadOptions) -> dict[str, Path]:
    places = search_places(spec.name, opts.data_dir)
    found = find_files(places, filenames)
    if found is not None:
        return found
    if not opts.download:
        failure = "downloading is off (download=False)"
    else:
        cache = user_cache_dir(spec.name)
        try:
            return {f: find_in_folder(cache, f) or download(spec, f, cache) for f in filenames}
        except DownloadError as e:
            failure = f"the download failed: {e}"
    raise DataError(not_found_message(spec, filenames, places, failure, opts))


def download(spec: CanonicalSpec, filename: str, cache: Path) -> Path:
    urls = [f"{mirror}{filename}.gz" for mirror in spec.mirrors]
    return download_gz(urls, cache / f"{filename}.gz", spec.sha256[filename])


def not_found_message(
    spec: CanonicalSpec, filenames: tuple[str, ...], places: list[Place], failure: str, opts: LoadOptions
) -> str:
    lines = [f"Cannot find the {spec.title} {opts.split} files ({', '.join(f + '[.gz]' for f in filenames)})."]
    lines += searched_lines(places, opts.data_dir, functools.partial(folder_state, filenames))
    lines.append(f"Not downloaded: {failure}.")
    how = "To provide the files, " + how_to_provide(spec.name, "them")
    if spec.system_package:
        how += f", or install them system-wide with `apt-get install {spec.system_package}`"
    lines.append(how + f"; or, when online, let latentforge download them from {', '.join(spec.mirrors)}.")
    return "\n".join(lines)


def folder_state(filenames: tuple[str, ...], folder: Path) -> str:
    have = [f for f in filenames if find_in_folder(folder, f) is not None]
    return f"has {', '.join(have)} but not the rest" if have else "none of the files"


def read_checked(spec: CanonicalSpec, path: Path) -> np.ndarray:
    st = path.stat()
    filename = path.name.removesuffix(".gz")
    return _read_idx_cached(str(path), st.st_mtime_ns, st.st_size, spec.sha256.get(filename), spec.title)


@functools.lru_cache(maxsize=16)
def _read_idx_cached(path: str, mtime_ns: int, size: int, sha256: str | None, title: str) -> np.ndarray:
    """Parse one IDX file once per process (keyed by path and stamp, so a replaced file is re-read).

    A content hash that differs from the official one only warns: the files may be a deliberate variant,
    but the warning catches MNIST files in a folder given for Fashion-MNIST and the like.
    """
    data = read_maybe_gzipped(path)
    arr = parse_idx(data, path)  # a damaged file is an error, not just a warning
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        warnings.warn(
            f"{path} is not the official {title} file (its content sha256 differs); using it anyway. "
            f"If it belongs to another dataset, point --data-dir at the {title} files.",
            UserWarning,
            stacklevel=2,
        )
    return arr

