"""``folder:PATH``: every image file under a folder, recursively.

Split: the ``train/`` and ``test/`` subfolders when both exist (other files are ignored), else about
10% of files by a hash of their relative path. Labels: the first-level subfolder (below ``train/`` and
``test/`` where those exist) when every image sits in one and there are at least two; else unlabelled.
Shape: decided from all files of both splits, so train and test always agree. With ``crop_size`` the photos
keep their own size (or ``image_size``) and the dataset is their random crops (``data/crops.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch
from PIL import Image
from PIL.ImageFile import StubImageFile

from ..errors import DataError
from .crops import cropped
from .dataset import ImageDataset, LoadOptions
from .images import GRAY_MODES, REPLACE, UnreadableImageError, image_header, read_image
from .splits import hash_is_test

# Pillow formats it can identify but not decode: a video (MPEG) and a vector document (EPS, via Ghostscript).
UNDECODED_FORMATS = frozenset({"MPEG", "EPS"})
DEFAULT_SIZE = 64  # used when the images differ in size and no image_size is given
MAX_LISTED = 10
Unreadable = tuple[PurePosixPath, UnreadableImageError]


@dataclass(frozen=True)
class ImageFile:
    rel: PurePosixPath  # relative to the dataset folder
    split: str
    key: PurePosixPath  # relative to the split's folder; its first part is the class, where labelled


def load_folder(path: str, opts: LoadOptions) -> ImageDataset:
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"Dataset folder:{path}: {root} {what}. Give the path of a folder of images.")
    files = plan(root, list_images(root))
    class_names = sorted({f.key.parts[0] for f in files}) if all(len(f.key.parts) > 1 for f in files) else None
    if class_names is not None and len(class_names) < 2:
        class_names = None  # one subfolder is just where the images live, not a class
    size, channels, bad = decide_shape(root, files, opts)
    chosen = [f for f in files if f.split == opts.split]
    if not chosen:
        raise_unreadable(root, bad, len(files))
        raise DataError(
            f"The {opts.split} split of folder {root} is empty ({len(files)} images in all). "
            "Add more images, or put them in train/ and test/ subfolders to choose the split yourself."
        )
    images = read_all(root, chosen, size, channels, bad, len(files))
    labels = None
    if class_names is not None:
        index = {name: i for i, name in enumerate(class_names)}
        labels = torch.tensor([index[f.key.parts[0]] for f in chosen], dtype=torch.int64)
    fields = {"name": f"folder:{path}", "split": opts.split, "num_classes": len(class_names) if class_names else None,
              "likelihood_hint": "logistic", "class_names": class_names}
    if opts.crop_size is not None:
        return cropped(images, labels, opts.crop_size, opts.crops_per_image,
                       names=[str(f.rel) for f in chosen], **fields)
    return ImageDataset(images=torch.stack(images), labels=labels, **fields)


def list_images(root: Path) -> list[PurePosixPath]:
    """Relative paths of the image files under ``root``, sorted; hidden files and folders are skipped.

    Symlinked folders are followed, each real folder once, so a link cycle cannot loop forever.
    """
    found: list[PurePosixPath] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = PurePosixPath(Path(dirpath).relative_to(root).as_posix())
        found += [rel_dir / f for f in filenames if is_image_name(f)]
    if not found:
        raise DataError(
            f"No images found under {root} (looked recursively for files of the {len(IMAGE_EXTENSIONS)} extensions "
            "Pillow reads, such as .png, .jpg, .pgm, .ppm, .tif, .webp). Give a folder that holds images."
        )
    return sorted(found)


def image_extensions() -> frozenset[str]:
    """The file extensions of every format this Pillow decodes (its plugins and installed codecs)."""
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if is_decodable(fmt))


def is_decodable(fmt: str) -> bool:
    """Whether Pillow can open and decode ``fmt`` itself (stub formats need a handler nobody installs)."""
    opener = Image.OPEN.get(fmt)
    if opener is None or fmt in UNDECODED_FORMATS:
        return False
    return not (isinstance(opener[0], type) and issubclass(opener[0], StubImageFile))


IMAGE_EXTENSIONS = image_extensions()


def is_image_name(filename: str) -> bool:
    return not filename.startswith(".") and Path(filename).suffix.lower() in IMAGE_EXTENSIONS


def plan(root: Path, rels: list[PurePosixPath]) -> list[ImageFile]:
    """Assign each file its split and its path below the split's folder."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        return [ImageFile(r, r.parts[0], PurePosixPath(*r.parts[1:])) for r in rels if r.parts[0] in ("train", "test")]
    return [ImageFile(r, "test" if hash_is_test(r.as_posix()) else "train", r) for r in rels]


def decide_shape(root: Path, files: list[ImageFile], opts: LoadOptions) -> tuple[int | None, int, list[Unreadable]]:
    """(size to resize to or None for native, channels, unreadable files), reading only the headers."""
    sizes, modes, bad = set(), set(), []
    for f in files:
        try:
            size, mode = image_header(root / f.rel)
        except UnreadableImageError as e:
            bad.append((f.rel, e))
            continue
        sizes.add(size)
        modes.add(mode)
    native = len(sizes) <= 1 or opts.crop_size is not None  # crops are cut from photos of any size
    size = opts.image_size if opts.image_size is not None else (None if native else DEFAULT_SIZE)
    channels = opts.channels if opts.channels is not None else (1 if modes <= GRAY_MODES else 3)
    return size, channels, bad


def read_all(
    root: Path, files: list[ImageFile], size: int | None, channels: int, bad: list[Unreadable], total: int
) -> list[torch.Tensor]:
    """Decode ``files`` (skipping those already in ``bad``); every failure, old and new, in one error."""
    skip = {rel for rel, _ in bad}
    images, bad = [], list(bad)
    for f in files:
        if f.rel in skip:
            continue
        try:
            images.append(read_image(root / f.rel, size=size, channels=channels))
        except UnreadableImageError as e:
            bad.append((f.rel, e))
    raise_unreadable(root, sorted(bad, key=lambda b: b[0]), total)
    return images


def raise_unreadable(root: Path, bad: list[Unreadable], total: int) -> None:
    """One error naming every unreadable file (the first ``MAX_LISTED``) and why, not just the first."""
    if not bad:
        return
    names = ", ".join(f"{rel} ({e.reason})" for rel, e in bad[:MAX_LISTED])
    more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    special = dict.fromkeys(e.advice for _, e in bad if e.advice != REPLACE)  # each distinct one once
    advice = " ".join(["Remove or replace them.", *special])
    raise DataError(f"Cannot read {len(bad)} of {total} image files under {root}: {names}{more}. {advice}")
