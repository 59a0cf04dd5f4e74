"""One whole photo of any size through a fully convolutional VAE trained on crops of other photos.

The photos are scikit-image's bundled colour pictures (the ``bench`` extra). The model (``fcvae``: a spatial
latent of 12 channels at 1/4 of the resolution) trains on random 48×48 crops (``data.crop_size``, new crops
every epoch) of five of them, written as PNG files to ``RUN_DIR/../photos/train/`` and read back through
``folder:PATH``:

    astronaut, rocket, immunohistochemistry, hubble_deep_field, retina

``chelsea`` (300×451) is the validation photo (``photos/test/``, the run's test split). The reported photo,
``coffee`` (400×600), is never seen in training or validation. Its reconstruction comes from
``latentforge.jobs.reconstruct.reconstruct_whole`` at the photo's own size, in one pass and in overlapping
tiles (256 pixels, overlap 64), with PSNR over the whole photo.

Baseline, in the same run on the same photos: bicubic downscaling by 2 and bicubic upscaling back (Pillow).
It keeps 3/4 of a number per pixel (three channels at a quarter of the pixels), as many numbers as the
model's latent map (12 channels at 1/16 of the pixels): the classical way to store a photo in that many
numbers without learning anything. The model's latents are real numbers with posterior noise, so the
comparison is of representations of equal size, not of bits.

    python benchmarks/whole_photo.py                    # train (or resume) in ~/lf-runs/whole-photo, then measure
    python benchmarks/whole_photo.py --no-train         # measure a finished (or stopped) run
    python benchmarks/whole_photo.py --quick            # smoke check: a few steps, output in a temp folder
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import common

NAME = "whole_photo"
TRAIN_PHOTOS = ("astronaut", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")
VALIDATION_PHOTO = "chelsea"
REPORTED_PHOTO = "coffee"
RUN_DIR = Path.home() / "lf-runs" / "whole-photo" / "fcvae"
MODEL = {"latent_dim": 12, "channels": 24, "blocks": 1, "downsamples": 2, "kl_warmup_steps": 500}
CROP, CROPS_PER_IMAGE, BATCH, EPOCHS = 48, 128, 16, 100
TILE, OVERLAP = 256, 64
IMAGE_PATH = common.ROOT / "docs" / "images" / "whole_photo.png"


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def photo(name: str) -> np.ndarray:
    import skimage.data

    return getattr(skimage.data, name)()


def write_photos(folder: Path) -> Path:
    """The training and validation photos as PNG files under ``folder/train`` and ``folder/test``."""
    from latentforge.data.images import array_to_png_bytes
    from latentforge.io import atomic_write_bytes

    for split, names in (("train", TRAIN_PHOTOS), ("test", (VALIDATION_PHOTO,))):
        for name in names:
            path = folder / split / f"{name}.png"
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(path, array_to_png_bytes(photo(name)))
    return folder


def train(run_dir: Path, args: argparse.Namespace) -> None:
    import latentforge as lf
    from latentforge.training import find_checkpoint

    photos = write_photos(run_dir.parent / "photos")
    resume = find_checkpoint(run_dir / "model") is not None
    log(f"{'resuming' if resume else 'training'} {run_dir}")
    lf.train("fcvae", f"folder:{photos}", out=run_dir, resume=resume, epochs=args.epochs, batch_size=BATCH,
             seed=args.seed, crop_size=CROP, crops_per_image=args.crops_per_image, model_config=MODEL,
             train_config={"threads": args.threads, "eval_every": 10, "max_steps": args.max_steps,
                           "checkpoint_every": 200},
             progress=False)


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(255)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    from latentforge.metrics.reconstruction import psnr as psnr_per_image

    return float(psnr_per_image(a[None], b[None])[0])


def bicubic_down_up(arr: np.ndarray, factor: int = 2) -> torch.Tensor:
    im = Image.fromarray(arr)
    w, h = im.size
    small = im.resize((round(w / factor), round(h / factor)), Image.Resampling.BICUBIC)
    return to_tensor(np.asarray(small.resize((w, h), Image.Resampling.BICUBIC)))


def measure(run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    import latentforge as lf
    from latentforge.api import training_record
    from latentforge.jobs.reconstruct import reconstruct_whole

    torch.set_num_threads(args.threads)
    model = lf.load(run_dir / "model")
    record = training_record(run_dir / "model")
    rows = []
    for role, name in (("validation", VALIDATION_PHOTO), ("reported", REPORTED_PHOTO)):
        arr = photo(name)
        x = to_tensor(arr)
        start = time.perf_counter()
        recon, err = reconstruct_whole(model, x, tile=None)
        one_pass_s = time.perf_counter() - start
        start = time.perf_counter()
        tiled, tiled_err = reconstruct_whole(model, x, tile=TILE, overlap=OVERLAP)
        tiled_s = time.perf_counter() - start
        rows.append({
            "photo": name, "role": role, "height": arr.shape[0], "width": arr.shape[1],
            "psnr_fcvae": err["psnr"], "psnr_fcvae_tiled": tiled_err["psnr"],
            "psnr_bicubic_x2": psnr(bicubic_down_up(arr), x),
            "tiled_vs_one_pass_max_abs": float((tiled - recon).abs().max()),
            "tiled_vs_one_pass_psnr": psnr(tiled, recon),
            "seconds_one_pass": one_pass_s, "seconds_tiled": tiled_s,
        })
        if role == "reported" and not args.quick:
            write_picture(x, recon, IMAGE_PATH)
    reported = rows[-1]
    summary = {
        "photo": f"{REPORTED_PHOTO} {reported['height']}×{reported['width']}",
        "psnr_fcvae": reported["psnr_fcvae"],
        "psnr_bicubic_x2": reported["psnr_bicubic_x2"],
        "gain_db": reported["psnr_fcvae"] - reported["psnr_bicubic_x2"],
        "psnr_fcvae_tiled": reported["psnr_fcvae_tiled"],
        "numbers_per_pixel": MODEL["latent_dim"] / 4 ** MODEL["downsamples"] / 3,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_steps": record.get("steps"),
        "train_seconds": record.get("train_seconds"),
        "test_elbo_nats_per_crop": (record.get("final_metrics") or {}).get("elbo"),
    }
    return common.make_result(NAME, summary=summary, rows=rows, threads=args.threads,
                              versions_extra={"scikit-image": skimage_version()})


def skimage_version() -> str:
    import skimage

    return skimage.__version__


def write_picture(x: torch.Tensor, recon: torch.Tensor, path: Path) -> None:
    """Input | reconstruction, side by side at half size."""
    from latentforge.data import to_uint8
    from latentforge.io import atomic_write_bytes

    pair = torch.cat([x, torch.ones(3, x.shape[1], 8), recon], 2)
    arr = to_uint8(pair).permute(1, 2, 0).numpy()
    im = Image.fromarray(arr)
    im = im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
    import io

    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    atomic_write_bytes(path, buf.getvalue())


def render(result: dict[str, Any]) -> str:
    s = result["summary"]
    intro = f"""A fully convolutional VAE (`fcvae`, {s['parameters']:,} parameters: latent map of
{MODEL['latent_dim']} channels at 1/{2 ** MODEL['downsamples']} of the resolution) trained on random
{CROP}×{CROP} crops ({CROPS_PER_IMAGE} per photo and epoch, new ones every epoch) of five of scikit-image's bundled
photos ({', '.join(TRAIN_PHOTOS)}), validated on `{VALIDATION_PHOTO}`, reconstructs the whole `{REPORTED_PHOTO}`
photo ({s['photo']}), which it never saw, at its own size: **{s['psnr_fcvae']:.2f} dB** against
**{s['psnr_bicubic_x2']:.2f} dB** for bicubic ×2 down and up, the baseline that keeps as many numbers per pixel
({s['numbers_per_pixel']:.2f} per colour value) as the latent map. Trained {s['train_steps']} steps in
{(s['train_seconds'] or 0) / 60:.0f} minutes on a shared CPU. Tiles of {TILE} pixels with an overlap of {OVERLAP}
give {s['psnr_fcvae_tiled']:.2f} dB (the table compares tiled with one pass).

![coffee: input | fcvae reconstruction](images/whole_photo.png)

Reproduce: `pip install -e .[bench]; python benchmarks/whole_photo.py` (trains in `~/lf-runs/whole-photo/`,
resumable; `--no-train` measures the run as it is)."""
    return common.render_result(result, intro)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run-dir", type=Path, default=RUN_DIR, help=f"run folder (default {RUN_DIR})")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument("--crops-per-image", type=int, default=CROPS_PER_IMAGE)
    p.add_argument("--max-steps", type=int, default=0, help="stop training after this many steps (0: all epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-train", action="store_true", help="measure the run as it is")
    p.add_argument("--quick", action="store_true", help="a few steps into a temp folder; writes nothing here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.run_dir = Path(tempfile.mkdtemp(prefix="whole_photo_")) / "fcvae"
        args.epochs, args.crops_per_image, args.max_steps = 1, 4, 3
    if not args.no_train:
        train(args.run_dir, args)
    result = measure(args.run_dir, args)
    log(result["summary"])
    if args.quick:
        return 0
    path = common.write_result(result)
    common.write_docs_section(NAME, render(result))
    log(f"wrote {path} and its section of {common.DOCS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
