"""Restoring verbs (issue 21): denoise, inpaint, upscale, colorize."""

from __future__ import annotations

import click

from .base import POSITIVE, SEED, FiniteFloat, _device_option, _echo_json, main


def _restore_options(command):
    """Options every restoring verb shares: files in and out, the method and its settings, the device."""
    for option in reversed([
        click.argument("model_path", type=click.Path(exists=True)),
        click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False)),
        click.option("-o", "--out", type=click.Path(dir_okay=False), default="restored.png",
                     help="Output image (several inputs: OUT-NAME.EXT each); the extension picks the format."),
        click.option("--method", type=click.Choice(["auto", "model", "projection"]), default="auto",
                     help="model: a dedicated restoration model, any image size; projection: any VAE or GAN as a "
                     "prior (Bora et al. 2017), at the model's own size; auto: model when it is one."),
        click.option("--tile", type=click.IntRange(min=16), default=512,
                     help="Dedicated models: images with a side over this many pixels run in overlapping tiles."),
        click.option("--overlap", type=click.IntRange(min=0), default=64, help="Pixels neighbouring tiles share."),
        click.option("--ensemble", type=click.Choice(["1", "2", "8"]), default="1",
                     help="Dedicated models: average over mirrored (2) or all rotated and mirrored (8) inputs."),
        click.option("--steps", type=POSITIVE, default=300, help="Projection: optimisation steps."),
        click.option("--prior-weight", type=FiniteFloat(min=0), default=0.01,
                     help="Projection: weight λ of λ‖z‖²/d, which keeps the latent where the prior has mass."),
        click.option("--seed", type=SEED, default=0, help="Seed of projection starts and --random-pixels."),
        click.option("--progress/--no-progress", default=True, help="Show a progress bar over tiles."),
    ]):
        command = option(command)
    return _device_option(command)


def _restore(task, model_path, images, out, method, tile, overlap, ensemble, steps, prior_weight, seed, progress,
             device, **problem):
    from ..api import load, restore_image_files

    model = load(model_path, device=device)
    _echo_json(restore_image_files(model, task, images, out, method=method, tile=tile, overlap=overlap,
                                   ensemble=int(ensemble), steps=steps, prior_weight=prior_weight, seed=seed,
                                   progress=progress, **problem))


@main.command()
@_restore_options
@click.option("--sigma", type=FiniteFloat(min=0, max=255),
              help="Noise standard deviation on the 0–255 scale (25 for 'σ = 25'); default: estimated per image.")
def denoise(sigma, **kwargs) -> None:
    """Remove Gaussian noise from IMAGES (a denoiser at any size, or projection onto a VAE/GAN)."""
    _restore("denoise", sigma=None if sigma is None else sigma / 255, **kwargs)


@main.command()
@_restore_options
@click.option("--mask", "mask_file", type=click.Path(exists=True, dir_okay=False),
              help="Mask image of the same size: white = missing (to fill), black = known.")
@click.option("--box", help="The missing box as x,y,w,h in pixels (instead of --mask).")
@click.option("--random-pixels", type=FiniteFloat(min=0, max=1, max_open=True),
              help="Drop this fraction of the pixels at random and fill them (to try it on complete images).")
def inpaint(mask_file, box, random_pixels, **kwargs) -> None:
    """Fill the missing pixels of IMAGES; known pixels are kept exactly."""
    if box is not None:
        try:
            box = [int(v) for v in box.split(",")]
        except ValueError:
            raise click.BadParameter(f"{box!r} is not x,y,w,h (four integers, e.g. 7,7,14,14).",
                                     param_hint="--box") from None
    _restore("inpaint", mask_file=mask_file, box=box, random_pixels=random_pixels, **kwargs)


@main.command()
@_restore_options
@click.option("--factor", type=click.Choice(["2", "4"]), required=True, help="Upscaling factor.")
def upscale(factor, **kwargs) -> None:
    """Super-resolve IMAGES ×2 or ×4 (outputs FACTOR times wider and taller)."""
    _restore("upscale", factor=int(factor), **kwargs)


@main.command()
@_restore_options
def colorize(**kwargs) -> None:
    """Colour grey IMAGES (RGB inputs are greyed first); the output's luma equals the input."""
    _restore("colorize", **kwargs)
