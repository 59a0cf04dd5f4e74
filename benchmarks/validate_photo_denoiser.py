"""Validation PSNR of grey photo denoisers beside BM3D, for choosing a photo denoiser before ``restore.py`` reports
one: never on the photos that ``restore.py`` reports.

Two sets of centre crops (``--side``, default 256): the texture photos of ``restore_photos.VALIDATION_PHOTOS`` and,
with ``--held-out DIR``, photos held out of a ``folder:`` training set (e.g. some of those that
``photo_training_set.py`` writes, moved to their own folder). Each crop gets its own fixed noise (seed 1, 2, …,
clipped to [0, 1]), the same for every method. Prints one Markdown row per set: mean PSNR (dB) of BM3D (oracle σ, when
the ``bm3d`` package is installed) and of each model.

    python benchmarks/validate_photo_denoiser.py RUNS/photos/denoiser --held-out ~/lf-data/photos-val
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import restore_classical as classical
import restore_photos as photos

import common


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="saved photo denoisers (or run folders holding model/)")
    p.add_argument("--held-out", type=Path, default=None, help="folder of held-out photos (PNG or JPEG)")
    p.add_argument("--sigma", type=float, default=25.0, help="noise std on the 0–255 scale (default 25)")
    p.add_argument("--side", type=int, default=256, help="side of the centre crops (default 256)")
    args = p.parse_args(argv)
    if not 0 < args.sigma <= 255 or args.side < 16:
        p.error(f"--sigma must be in (0, 255] and --side ≥ 16 (got {args.sigma:g} and {args.side}).")
    return args


def held_out_crops(folder: Path, side: int) -> list[np.ndarray]:
    from PIL import Image

    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"No PNG or JPEG photos in {folder}.")
    return [photos.centre_crop(np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) / 255 @ photos.LUMA, side)
            for f in files]


def noisy_crops(crops: list[np.ndarray], sigma: float):
    import torch

    from latentforge.nn.degradations import gaussian_noise

    return [gaussian_noise(torch.from_numpy(c).float()[None, None], sigma,
                           generator=torch.Generator().manual_seed(1 + i))[0] for i, c in enumerate(crops)]


def mean_psnr(denoise, noisy, crops) -> str:
    """Mean PSNR (dB, two decimals) of ``denoise`` (1×1×H×W tensor → H×W array) over the crops."""
    return f"{np.mean([classical.psnr(denoise(y), c) for y, c in zip(noisy, crops)]):.2f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    import latentforge as lf

    sigma = args.sigma / 255
    sets = {"textures": photos.validation_photos(args.side)}
    if args.held_out is not None:
        sets["held-out photos"] = held_out_crops(args.held_out, args.side)
    models = {path: lf.load(path) for path in args.models}
    bm3d = classical.optional("bm3d")
    rows = []
    for name, crops in sets.items():
        noisy = noisy_crops(crops, sigma)
        row = {"set": name, "crops": len(crops)}
        if bm3d is not None:
            row["bm3d (oracle σ)"] = mean_psnr(lambda y: bm3d.bm3d(y[0, 0].double().numpy(), sigma), noisy, crops)
        for path, model in models.items():
            row[path] = mean_psnr(lambda y, m=model: lf.denoise(m, y, sigma=sigma).images[0, 0].double().numpy(),
                                  noisy, crops)
        rows.append(row)
        common.log(f"{name}: done")
    print(common.markdown_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
