"""The photo track of ``restore.py``: photos of their own sizes and CIFAR-10 test images.

Photos are scikit-image's bundled pictures (the ``bench`` extra). Reported, never seen in training or in choosing
a setting: ``REPORTED_PHOTOS`` (grey ones as they are; colour ones greyed with BT.601 for the grey tasks).
Validation (the TV weight and NL-means h for photos): the centre 256×256 of ``VALIDATION_PHOTOS``. Our photo
models train on CIFAR-10 training images only, so every photo here is new to them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

REPORTED_PHOTOS = ("camera", "moon", "coins", "astronaut", "chelsea", "coffee", "rocket")
COLOUR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
VALIDATION_PHOTOS = ("grass", "gravel", "brick", "hubble_deep_field", "immunohistochemistry")
LUMA = np.array([0.299, 0.587, 0.114])


def skimage_photo(name: str, grey: bool) -> np.ndarray:
    """A bundled picture as floats in [0, 1]: H×W when ``grey`` (colour greyed), else H×W×3."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float64) / 255
    if image.ndim == 3:
        image = image[..., :3]
        return image @ LUMA if grey else image
    return image if grey else np.repeat(image[..., None], 3, -1)


def centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return image[top: top + side, left: left + side]


def grey_photos() -> dict[str, np.ndarray]:
    return {name: skimage_photo(name, grey=True) for name in REPORTED_PHOTOS}


def colour_photos() -> dict[str, np.ndarray]:
    return {name: skimage_photo(name, grey=False) for name in COLOUR_PHOTOS}


def validation_photos(side: int = 256) -> list[np.ndarray]:
    return [centre_crop(skimage_photo(name, grey=True), side) for name in VALIDATION_PHOTOS]


def cifar_test(n: int, data_dir: str | None, grey: bool) -> dict[str, np.ndarray]:
    """The first ``n`` CIFAR-10 test images, named by index, H×W (grey, BT.601) or H×W×3 floats in [0, 1]."""
    from latentforge.data import load_dataset

    images = load_dataset("cifar10", "test", data_dir=data_dir).images[:n].numpy().astype(np.float64) / 255
    images = images.transpose(0, 2, 3, 1)
    if grey:
        images = images @ LUMA
    return {f"cifar10-test-{i}": image for i, image in enumerate(images)}


def summarise(rows: list[dict[str, Any]], data: str, task: str) -> list[dict[str, Any]]:
    """One row per method: mean PSNR, SSIM and seconds over the images of ``data`` for ``task``."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows if r["data"] == data and r["task"] == task):
        mine = [r for r in rows if r["data"] == data and r["task"] == task and r["method"] == method]
        out.append({"data": data, "task": task, "method": method, "kind": mine[0]["kind"],
                    "psnr": float(np.mean([r["psnr"] for r in mine])),
                    "ssim": float(np.mean([r["ssim"] for r in mine])),
                    "seconds_per_image": float(np.mean([r["seconds"] for r in mine])), "images": len(mine)})
    return out
