"""Verbs of runs and saved models: train, generate, reconstruct, evaluate, demo, info."""

from __future__ import annotations

import contextlib
import json
import sys

import click

from .base import (
    DEVICE_HELP,
    POSITIVE,
    SEED,
    FiniteFloat,
    ListingOption,
    _device_option,
    _echo_json,
    _finite_figures,
    _models_listing,
    _presets_listing,
    main,
)


@main.command()
@click.option("--config", "config_path", cls=ListingOption, listing=_presets_listing,
              help="YAML run config file, or a preset name.")
@click.option("--model", cls=ListingOption, listing=_models_listing, help="Model name (default: vae).")
@click.option("--data",
              help="Dataset: mnist-5k (default), mnist, fashion-mnist, cifar10, digits, folder:PATH, npz:PATH.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder holding the canonical dataset files.")
@click.option("--image-size", type=click.IntRange(min=4), help="Resize images to this square size (multiple of 4).")
@click.option("--channels", type=click.Choice(["1", "3"]), help="Force grayscale (1) or RGB (3).")
@click.option("--crop-size", type=POSITIVE, help="Train on random square crops of this side, new ones each epoch "
              "(photos of any size; see docs/data.md).")
@click.option("--crops-per-image", type=POSITIVE, help="Crops per image and epoch with --crop-size (default 1).")
@click.option("--epochs", type=POSITIVE, help="Passes over the training data (default: the config's).")
@click.option("--batch-size", type=POSITIVE, help="Images per step (default: the config's).")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), help="Peak learning rate (Adam).")
@click.option("--seed", type=SEED, help="Seed of the initial weights and data order.")
@click.option("--latent-dim", type=POSITIVE, help="Latent dimensions.")
@click.option("--beta", type=FiniteFloat(min=0), help="KL weight for VAEs (1 = ELBO).")
@click.option("--likelihood", type=click.Choice(["bernoulli", "logistic", "gaussian", "logistic_mixture"]),
              help="Pixel likelihood (default: what suits the data).")
@click.option("--max-steps", type=POSITIVE, help="Stop (with a checkpoint) after this many steps in total.")
@click.option("--device", help=f"{DEVICE_HELP} [default: auto]")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any config value, e.g. --set train.grad_clip=50.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/<model>-<data>-<time>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--init-from", type=click.Path(exists=True, file_okay=False),
              help="Start from the weights of this saved model or run (fine-tuning; same networks).")
@click.option("--report", is_flag=True, help="Write report/report.html with samples, reconstructions and curves.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print only the final figures as JSON on stdout (messages go "
              "to stderr), e.g. to pipe into jq.")
def train(config_path, model, data, data_dir, image_size, channels, crop_size, crops_per_image, epochs, batch_size, lr,
          seed, latent_dim, beta, likelihood, max_steps, device, sets, out, resume, init_from, report, progress,
          as_json) -> None:
    """Train a model; the saved model lands in OUT/model."""
    from ..api import train as api_train
    from ..run_config import parse_set_option

    flags = {"model.latent_dim": latent_dim, "model.beta": beta, "model.likelihood": likelihood,
             "train.max_steps": max_steps, "train.device": device, "train.init_from": init_from}
    overrides = {**flags, **dict(parse_set_option(s) for s in sets)}  # --set wins over the named flags
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        run = api_train(
            model=model, data=data, out=out, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, data_dir=data_dir,
            image_size=image_size, channels=None if channels is None else int(channels), crop_size=crop_size,
            crops_per_image=crops_per_image, config=config_path,
            overrides=overrides, resume=resume, report=report, progress=progress,
        )
    click.echo(f"saved model: {run.model_dir}", err=as_json)
    if run.report:
        click.echo(f"report: {run.report}", err=as_json)
    _echo_json(_finite_figures(run.metrics))



@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.option("-n", "n", type=POSITIVE, default=64, help="Number of images.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="samples.png",
              help="Grid image file; the extension picks the format (.png, .jpg, .webp, .bmp, .tif).")
@click.option("--temperature", type=FiniteFloat(min=0), default=1.0,
              help="Scale of the prior noise, a finite number ≥ 0 (0 gives the prior's mode).")
@click.option("--seed", type=SEED, default=0, help="Seed of the prior noise; the same seed gives the same images.")
@click.option("--nrow", type=POSITIVE, help="Images per row (default: a square grid).")
@click.option("--scale", type=POSITIVE, default=1, help="Upscale the grid by this integer factor.")
@click.option("--label", type=click.IntRange(min=0),
              help="Class to generate (class-conditional models such as cvae and cgan only).")
@_device_option
def generate(model_path, n, out, temperature, seed, nrow, scale, label, device) -> None:
    """Generate N images from a saved model into a grid image (``sample`` is the same verb)."""
    from ..api import check_grid_output, load, write_grid
    from ..api import generate as generate_images

    model = load(model_path, device=device)
    check_grid_output(out, n, model.image_shape, nrow, scale)  # a bad -o or a huge grid fails before the work
    images = generate_images(model, n, labels=label, temperature=temperature, seed=seed)
    click.echo(f"wrote {write_grid(images, out, nrow=nrow, scale=scale)} ({n} images)")


main.add_command(generate, name="sample")  # the verb's earlier name, kept as an alias


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--data", help="Take images from this dataset instead of files (default: the training data).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder holding the canonical dataset files.")
@click.option("--split", type=click.Choice(["train", "test"]), default="test",
              help="Dataset split to take images from.")
@click.option("-n", "n", type=POSITIVE, default=16, help="How many dataset images (the first N of the split).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="reconstructions.png",
              help="Grid image file; the extension picks the format (.png, .jpg, .webp, .bmp, .tif).")
@click.option("--nrow", type=POSITIVE, help="Images per row: rows of originals alternate with their reconstructions "
              "(default: all in one row).")
@click.option("--scale", type=POSITIVE, default=1, help="Upscale the grid by this integer factor.")
@click.option("--tile", type=click.IntRange(min=16), default=512, show_default=True,
              help="Whole-image models: photos with a side over this many pixels run in overlapping tiles.")
@click.option("--overlap", type=click.IntRange(min=0), default=64, show_default=True,
              help="Whole-image models: pixels neighbouring tiles share (blended across).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar over tiles.")
@_device_option
def reconstruct(model_path, images, data, data_dir, split, n, out, nrow, scale, tile, overlap, progress,
                device) -> None:
    """Reconstruct image files (or dataset images): originals above reconstructions in a grid; errors as JSON.

    With a fully convolutional model (fcvae) image files are reconstructed whole, at their own size: OUT is
    the reconstruction (several files: OUT-NAME.EXT each), and the JSON gives the PSNR of each."""
    from ..api import check_image_output, images_for_reconstruction, load, reconstruct_files, reconstruct_to_grid
    from ..models import SupportsAnySize

    model = load(model_path, device=device)
    check_image_output(out)  # a bad -o fails before the work
    if images and isinstance(model, SupportsAnySize):
        _echo_json(_finite_figures(reconstruct_files(model, images, out, tile=tile, overlap=overlap,
                                                     progress=progress)))
        return
    x = images_for_reconstruction(model, images, data, split=split, n=n, data_dir=data_dir)
    _echo_json(_finite_figures(reconstruct_to_grid(model, x, out, nrow=nrow, scale=scale)))


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--data", help="Dataset (default: the one the model was trained on).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder holding the canonical dataset files.")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", help="Dataset split to evaluate on.")
@click.option("--max-images", type=POSITIVE, help="Evaluate on the first N images only (default: the whole split).")
@click.option("--seed", type=SEED, default=0, help="Seed of the evaluation (binarisation, samples).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Also write the JSON to this file.")
@click.option("--fid", is_flag=True, help="Also sample quality: FID, KID, precision/recall, fid_floor.")
@click.option("--extractor", type=click.Choice(["auto", "lenet", "resnet"]), default="auto",
              help="--fid features: a classifier trained once on the data (auto: resnet for RGB, lenet for grey).")
@click.option("-n", "--samples", type=click.IntRange(min=2), default=10000, help="Generated images for --fid.")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False),
              help="FID Inception-v3 weights (.safetensors): standard fid-inception instead.")
@click.option("--nll", is_flag=True, help="Also the importance-sampled NLL (VAE family; slow: k passes per image).")
@click.option("--k", type=POSITIVE, default=1000, help="Importance samples per image for --nll.")
@_device_option
@click.option("--progress/--no-progress", default=None, show_default="on a terminal",
              help="Show progress bars on stderr.")
def evaluate(model_path, data, data_dir, split, max_images, seed, out, fid, extractor, samples, inception_weights,
             nll, k, device, progress) -> None:
    """Test-split loss/ELBO (nats/image, bits/dim), reconstruction MSE/PSNR; with --fid FID/KID/PR and with
    --nll the importance-sampled NLL; as JSON (a figure that is not finite is null, with a warning)."""
    from ..api import check_output_target, write_json
    from ..api import evaluate as api_evaluate

    if out is not None:
        check_output_target(out)  # before the long passes
    result = api_evaluate(model_path, data, split=split, data_dir=data_dir, max_images=max_images, seed=seed,
                          fid=fid or inception_weights is not None, samples=samples, extractor=extractor,
                          inception_weights=inception_weights,
                          nll=nll, k=k, device=device, progress=sys.stderr.isatty() if progress is None else progress)
    result = _finite_figures(result)
    if out is not None:
        write_json(out, result)
    _echo_json(result)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo",
              help="Run folder: empty, new, or a previous demo run (whose outputs are replaced).")
@click.option("--epochs", type=POSITIVE, help="Override the demo preset's epochs.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def demo(out, epochs, progress) -> None:
    """Train the demo VAE on the bundled MNIST digits and write OUT/report/report.html."""
    import time

    from ..api import demo as api_demo

    start = time.perf_counter()
    run = api_demo(out, epochs=epochs, progress=progress)
    click.echo(f"demo finished in {time.perf_counter() - start:.0f} s; "
               f"test PSNR {run.metrics.get('psnr', float('nan')):.2f} dB, "
               f"-ELBO {run.metrics.get('loss', float('nan')):.1f} nats/image")
    click.echo(f"open the report: {run.report}")


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(model_path, as_json) -> None:
    """What a saved model is: family, config, parameters, what it was trained on, final metrics."""
    from ..api import info as api_info

    result = api_info(model_path)
    if as_json:
        _echo_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key:>17}: {json.dumps(value, default=str) if isinstance(value, (dict, list)) else value}")
