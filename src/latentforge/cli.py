"""The command line: thin verbs over the Python API (``latentforge --help``).

Exit codes: 0 done, 2 an error latentforge explains in one ``error:`` line (bad option, file or data),
130 interrupted (Ctrl-C, SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading

import click

from . import __version__
from .errors import LatentforgeError
from .validation import MAX_SEED

STOPPED = "the last checkpoint is kept (continue with --resume)."


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the work stops the way Ctrl-C stops it (finally blocks run)."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_exception():
    """Turn SIGTERM into :class:`Terminated` while a verb runs (main thread only; the old handler returns)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class FriendlyGroup(click.Group):
    """Prints latentforge's own errors, and OS errors such as a full disk, as one clear line (exit code 2)
    instead of a traceback; Ctrl-C exits with 130 and SIGTERM with 143, saying what is kept. Anything else
    is a bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            with sigterm_as_exception():
                return super().invoke(ctx)
        except LatentforgeError as e:
            _fail(str(e))
        except OSError as e:  # permission denied, disk full, ...: the user's to fix, not a bug
            _fail(f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}")
        except KeyboardInterrupt:
            click.echo(f"interrupted; {STOPPED}", err=True)
            sys.exit(130)
        except Terminated:
            click.echo(f"terminated (SIGTERM); {STOPPED}", err=True)
            sys.exit(143)


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(2)


class FiniteFloat(click.FloatRange):
    """A float range that also refuses NaN and infinities (which compare as in range)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class ListingOption(click.Option):
    """An option whose help ends with a list computed only when help is shown (listing models imports torch)."""

    def __init__(self, *args, listing, **kwargs):
        super().__init__(*args, **kwargs)
        self.listing, self.base_help = listing, self.help

    def get_help_record(self, ctx):
        self.help = f"{self.base_help} {self.listing()}"
        return super().get_help_record(ctx)


def _models_listing() -> str:
    from .models import available_models

    return f"Registered: {', '.join(available_models())}."


def _presets_listing() -> str:
    from .run_config import available_presets

    return f"Presets: {', '.join(available_presets())}."


POSITIVE = click.IntRange(min=1)
SEED = click.IntRange(0, MAX_SEED)
DEVICE_HELP = "Where to run: auto (a GPU when there is one), cpu, cuda, cuda:N or mps."


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="latentforge")
def main() -> None:
    """latentforge: train autoencoders, VAEs and GANs on images, and use them to generate, reconstruct, edit,
    restore and represent images.

    Exit codes: 0 done, 2 error (one line starting with "error:"), 130 interrupted, 143 terminated.
    """


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _finite_figures(figures: dict) -> dict:
    """The figures with NaN/inf as null (valid JSON), and a warning on stderr naming those figures."""
    from .api import non_finite_to_none

    cleaned, bad = non_finite_to_none(figures)
    if bad:
        click.secho(f"warning: {', '.join(bad)} not finite (written as null): the model gives NaN or infinite "
                    "values on these images, e.g. from NaN weights or an overflow; check its training.",
                    fg="yellow", err=True)
    return cleaned


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
    from .api import train as api_train
    from .run_config import parse_set_option

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


def _device_option(command):
    return click.option("--device", default="auto", help=DEVICE_HELP)(command)


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
    from .api import check_grid_output, load, write_grid
    from .api import generate as generate_images

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
    from .api import check_image_output, images_for_reconstruction, load, reconstruct_files, reconstruct_to_grid
    from .models import SupportsAnySize

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
    from .api import check_output_target, write_json
    from .api import evaluate as api_evaluate

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

    from .api import demo as api_demo

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
    from .api import info as api_info

    result = api_info(model_path)
    if as_json:
        _echo_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key:>17}: {json.dumps(value, default=str) if isinstance(value, (dict, list)) else value}")


# -- editing (issue 20) ------------------------------------------------------------------------------------
def _edit_options(command):
    """Options every edit verb shares: the output grid, how GAN latents are found, the device."""
    for option in reversed([
        click.option("--scale", type=POSITIVE, default=2, help="Upscale the picture by this integer factor."),
        click.option("--invert-steps", type=POSITIVE, default=300,
                     help="GANs (no encoder): optimisation steps that find an image's latent."),
        click.option("--seed", type=SEED, default=0, help="Seed of the inversion's starting latents (GANs)."),
    ]):
        command = option(command)
    return _device_option(command)


def _image_choice(command):
    """MODEL_PATH IMAGES..., or the first -n images of a dataset split (default: the model's training data)."""
    for option in reversed([
        click.argument("model_path", type=click.Path(exists=True)),
        click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False)),
        click.option("--data", help="Take images from this dataset instead of files (default: the training data)."),
        click.option("--data-dir", type=click.Path(file_okay=False), help="Canonical dataset folder."),
        click.option("--split", type=click.Choice(["train", "test"]), default="test", help="Dataset split."),
    ]):
        command = option(command)
    return command


def _out_option(default: str):
    return click.option("-o", "--out", type=click.Path(dir_okay=False), default=default,
                        help="Picture file; the extension picks the format (.png, .jpg, .webp, .bmp, .tif).")


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.argument("start", type=click.Path(exists=True, dir_okay=False))
@click.argument("end", type=click.Path(exists=True, dir_okay=False))
@click.option("--steps", type=click.IntRange(min=2), default=8, help="Images on the path, both ends included.")
@click.option("--method", type=click.Choice(["slerp", "lerp"]), default="slerp",
              help="Spherical (suits Gaussian latents) or linear interpolation.")
@click.option("--label", "labels", type=click.IntRange(min=0), multiple=True,
              help="Class-conditional models: the labels of START and END (give twice; default: inferred).")
@_out_option("interpolation.png")
@_edit_options
def interpolate(model_path, start, end, steps, method, labels, out, scale, invert_steps, seed, device) -> None:
    """A strip from image START to image END through the latent space: START, the decoded path, END."""
    from .api import check_image_output, load, read_images, write_grid
    from .api import interpolate as api_interpolate

    model = load(model_path, device=device)
    check_image_output(out)
    if labels and len(labels) != 2:
        raise click.BadParameter("give --label twice (START's and END's) or not at all.", param_hint="--label")
    pair = read_images(model, [start, end])
    path = api_interpolate(model, pair[0], pair[1], steps=steps, method=method, labels=list(labels) or None,
                           invert_steps=invert_steps, seed=seed)
    strip = torch_cat([pair[:1], path, pair[1:]])
    click.echo(f"wrote {write_grid(strip, out, nrow=len(strip), scale=scale)} ({steps} steps, {method})")


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--dims", type=POSITIVE, default=8, help="How many of the most used latent dimensions (one row each).")
@click.option("--steps", type=click.IntRange(min=2), default=7, help="Values per dimension (images per row).")
@click.option("--span", type=FiniteFloat(min=0, min_open=True), default=3.0,
              help="Each row sweeps its dimension over the data's mean ± SPAN standard deviations.")
@click.option("--data", help="Dataset whose images rank the dimensions (default: the training data).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder holding the canonical dataset files.")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", help="Dataset split for the ranking.")
@click.option("-n", "n", type=click.IntRange(min=2), default=500, help="Images that rank the dimensions.")
@click.option("--label", type=click.IntRange(min=0), help="Class-conditional models: the image's label (default: "
              "inferred).")
@_out_option("traversal.png")
@_edit_options
def traverse(model_path, image, dims, steps, span, data, data_dir, split, n, label, out, scale, invert_steps, seed,
             device) -> None:
    """Vary each of the most used latent dimensions of IMAGE in turn, one row per dimension; the ranking as JSON
    (mean KL per dimension for VAEs, else the variance of the codes over the dataset's images)."""
    from .api import check_image_output, load, read_images, write_grid
    from .api import traverse as api_traverse

    model = load(model_path, device=device)
    check_image_output(out)
    result = api_traverse(model, read_images(model, [image])[0], data=data, split=split, n=n, data_dir=data_dir,
                          dims=dims, steps=steps, span=span, label=label, invert_steps=invert_steps, seed=seed)
    write_grid(result.images, out, nrow=steps, scale=scale)
    _echo_json(_finite_figures({"out": str(out), "dims": result.dims, "activity": result.scores,
                                "measure": result.measure}))


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.argument("name", required=False)
@click.option("--with-class", "with_label", help="The group with the attribute: a class (index or name).")
@click.option("--without-class", "without_label", help="The group without it: a class (index or name).")
@click.option("--with-folder", type=click.Path(exists=True, file_okay=False), help="... or a folder of images.")
@click.option("--without-folder", type=click.Path(exists=True, file_okay=False), help="... or a folder of images.")
@click.option("--data", help="Labelled dataset of the classes (default: the training data).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder holding the canonical dataset files.")
@click.option("--split", type=click.Choice(["train", "test"]), default="train", help="Dataset split of the classes.")
@click.option("-n", "n", type=POSITIVE, default=1000, help="Images per group (at most).")
@click.option("--list", "listing", is_flag=True, help="List the attributes saved beside the model.")
@click.option("--invert-steps", type=POSITIVE, default=300, help="GANs: optimisation steps per image's latent.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar over the images encoded.")
@_device_option
def attribute(model_path, name, with_label, without_label, with_folder, without_folder, data, data_dir, split, n,
              listing, invert_steps, progress, device) -> None:
    """Make the attribute vector NAME (mean latent "with" − mean latent "without") and save it beside the model,
    or --list the saved ones; as JSON. Apply one with ``latentforge edit``."""
    from .api import attributes, load, make_attribute

    if listing:
        _echo_json(attributes(load(model_path, device=device)))
        return
    if name is None:
        raise click.UsageError("give the attribute's NAME (or --list).")
    result = make_attribute(load(model_path, device=device), name, with_label=_class_spec(with_label),
                            without_label=_class_spec(without_label), with_folder=with_folder,
                            without_folder=without_folder, data=data, split=split, n=n, data_dir=data_dir,
                            invert_steps=invert_steps, progress=progress)
    _echo_json(_finite_figures(result.summary()))


def _class_spec(value: str | None) -> int | str | None:
    """A class given on the command line: an index when it is a number, else a class name."""
    return int(value) if value is not None and value.isdigit() else value


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--attribute", "name", required=True, help="The attribute's name (see `latentforge attribute --list`).")
@click.option("--strength", "strengths", type=FiniteFloat(), multiple=True,
              help="How much of the attribute to add (repeat for a strip; default -2 -1 0 1 2).")
@click.option("--label", type=click.IntRange(min=0), help="Class-conditional models: the image's label (default: "
              "inferred).")
@_out_option("edit.png")
@_edit_options
def edit(model_path, image, name, strengths, label, out, scale, invert_steps, seed, device) -> None:
    """Add an attribute vector to IMAGE's latent: a strip of IMAGE, then its decoding at each strength."""
    from .api import check_image_output, load, read_images, write_grid
    from .api import edit as api_edit

    model = load(model_path, device=device)
    check_image_output(out)
    x = read_images(model, [image])
    edited = api_edit(model, x[0], name, strengths or (-2, -1, 0, 1, 2), label=label, invert_steps=invert_steps,
                      seed=seed)
    strip = torch_cat([x, edited])
    click.echo(f"wrote {write_grid(strip, out, nrow=len(strip), scale=scale)} (strengths "
               f"{', '.join(f'{s:g}' for s in strengths or (-2, -1, 0, 1, 2))})")


@main.command(name="class-edit")
@_image_choice
@click.option("-n", "n", type=POSITIVE, default=8, help="How many dataset images (the first N of the split).")
@click.option("--label", "labels", type=click.IntRange(min=0), multiple=True,
              help="The images' own labels, one per image (default: inferred).")
@_out_option("class-edit.png")
@_edit_options
def class_edit(model_path, images, data, data_dir, split, n, labels, out, scale, invert_steps, seed, device) -> None:
    """Keep each image's style and decode it under every label of a class-conditional model (cvae, cgan): a row
    per image, the image first; the labels it was encoded under as JSON."""
    from .api import check_image_output, images_for_reconstruction, load, write_grid
    from .api import class_edit as api_class_edit

    model = load(model_path, device=device)
    check_image_output(out)
    x = images_for_reconstruction(model, images, data, split=split, n=n, data_dir=data_dir)
    result = api_class_edit(model, x, list(labels) or None, invert_steps=invert_steps, seed=seed)
    write_grid(result.rows.flatten(0, 1), out, nrow=result.rows.shape[1], scale=scale)
    _echo_json({"out": str(out), "images": len(result.labels), "labels": result.labels})


@main.command()
@_image_choice
@click.option("-n", "n", type=POSITIVE, default=8, help="How many dataset images (the first N of the split).")
@click.option("--steps", type=click.IntRange(min=0), default=500, help="Adam steps on each image's latent.")
@click.option("--lr", type=FiniteFloat(min=0, min_open=True), default=0.05, help="Adam's learning rate.")
@click.option("--label", type=click.IntRange(min=0), help="Class-conditional GANs: the class to invert under.")
@click.option("--prior-weight", type=FiniteFloat(min=0), default=0.0,
              help="Weight of ‖z‖²/d in the loss: keeps latents where N(0, I) has mass (0: pixels only).")
@click.option("--seed", type=SEED, default=0, help="Seed of the starting latents.")
@click.option("--scale", type=POSITIVE, default=2, help="Upscale the picture by this integer factor.")
@_out_option("inversion.png")
@_device_option
def invert(model_path, images, data, data_dir, split, n, steps, lr, label, prior_weight, seed, scale, out,
           device) -> None:
    """Find the latent whose image best reproduces each image (GAN inversion): originals above their inversions
    in a picture; the pixel MSE and PSNR per image as JSON."""
    from .api import check_image_output, comparison_grid, images_for_reconstruction, load, write_grid
    from .api import invert as api_invert

    model = load(model_path, device=device)
    check_image_output(out)
    x = images_for_reconstruction(model, images, data, split=split, n=n, data_dir=data_dir)
    result = api_invert(model, x, steps=steps, lr=lr, labels=label, seed=seed, prior_weight=prior_weight)
    grid, per_row = comparison_grid(x, result["reconstructions"], None)
    write_grid(grid, out, nrow=per_row, scale=scale)
    _echo_json(_finite_figures({"out": str(out), "images": len(x), "steps": steps,
                                "mse": float(result["mse"].mean()), "psnr": float(result["psnr"].mean()),
                                "per_image": [{"mse": float(m), "psnr": float(p)}
                                              for m, p in zip(result["mse"], result["psnr"])]}))


# -- representation (issue 20) -----------------------------------------------------------------------------
def _data_options(command):
    """--data / --data-dir: the dataset (default: the model's training data) and its folder."""
    for option in reversed([
        click.option("--data", help="Dataset (default: the model's training data)."),
        click.option("--data-dir", type=click.Path(file_okay=False), help="Canonical dataset folder."),
    ]):
        command = option(command)
    return command


@main.command()
@_image_choice
@click.option("-n", "n", type=POSITIVE, help="At most this many dataset images (default: the whole split).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="embeddings.npz",
              help="The .npz file: embeddings (N×D), labels and file names where known.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def embed(model_path, images, data, data_dir, split, n, out, progress) -> None:
    """Write the latent codes (posterior means) of image files or of a dataset split to an .npz file."""
    from .api import embed as api_embed

    result = api_embed(model_path, data, split=split, files=images, max_images=n, data_dir=data_dir, out=out,
                       progress=progress)
    _echo_json({"out": str(out), "images": int(result["embeddings"].shape[0]),
                "dims": int(result["embeddings"].shape[1])})


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@_data_options
@click.option("--max-train", type=POSITIVE, help="At most this many training images (default: all).")
@click.option("--max-test", type=POSITIVE, help="At most this many test images (default: all).")
@click.option("--pixels/--no-pixels", default=True, help="Also probe raw pixels, the bar to clear.")
@click.option("--save", help="Keep the linear probe beside the model under this name (for `classify`).")
@click.option("--seed", type=SEED, default=0, help="Seed of the validation split.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def probe(model_path, data, data_dir, max_train, max_test, pixels, save, seed, progress) -> None:
    """Linear-probe and k-NN test accuracy of the model's latents (C and k chosen on held-out training images),
    beside the same probes on raw pixels, as JSON."""
    from .api import probe as api_probe

    _echo_json(api_probe(model_path, data, data_dir=data_dir, max_train=max_train, max_test=max_test, seed=seed,
                         pixels=pixels, save=save, progress=progress))


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--probe", "probe_name", default="default", help="The saved probe's name (`probe --save NAME`).")
def classify(model_path, images, probe_name) -> None:
    """Predict the label of each image with a linear probe saved beside the model."""
    from .api import classify as api_classify

    _echo_json(api_classify(model_path, images, probe=probe_name))


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--ood", required=True,
              help="The out-of-distribution set: a dataset name, folder:PATH, npz:PATH, or 'flipped' (the "
                   "in-distribution images upside down).")
@_data_options
@click.option("--ood-dir", type=click.Path(file_okay=False), help="Folder of the OOD dataset's files.")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", help="Split of both sets.")
@click.option("-n", "n", type=POSITIVE, help="At most this many images of each set.")
@click.option("--k", type=POSITIVE, default=16, help="Importance samples per image.")
@click.option("--score", "scores", type=click.Choice(["elbo", "iwae", "complexity", "knn"]), multiple=True,
              help="Scores to compute (repeatable; default: all).")
@click.option("--reference", "reference_images", type=POSITIVE, default=10000,
              help="knn: training images whose latent codes are the in-distribution reference.")
@click.option("--neighbours", type=POSITIVE, default=50, help="knn: distance to this nearest reference code.")
@click.option("--seed", type=SEED, default=0, help="Seed of the importance samples.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def anomaly(model_path, ood, data, data_dir, ood_dir, split, n, k, scores, reference_images, neighbours, seed,
            progress) -> None:
    """AUROC and AUPRC of anomaly scores (negative ELBO, importance-sampled NLL, input-complexity corrected, latent
    k-NN distance) separating an OOD set from the in-distribution split, as JSON."""
    from .api import anomaly as api_anomaly

    kwargs = {"scores": scores} if scores else {}
    result = api_anomaly(model_path, ood, data, data_dir=data_dir, ood_dir=ood_dir, split=split, max_images=n, k=k,
                         reference_images=reference_images, neighbours=neighbours, seed=seed, progress=progress,
                         **kwargs)
    _echo_json(_finite_figures({key: result[key] for key in ("ood", "in_images", "ood_images", "k", "scores")}))


@main.command(name="latent-map")
@click.argument("model_path", type=click.Path(exists=True))
@_data_options
@click.option("--split", type=click.Choice(["train", "test"]), default="test", help="Dataset split.")
@click.option("--method", type=click.Choice(["pca", "tsne", "grid"]), default="pca",
              help="pca or tsne map of the embeddings; grid: the decoded manifold of a 2-D latent.")
@click.option("-n", "n", type=POSITIVE, default=2000, help="Images on the map.")
@click.option("--seed", type=SEED, default=0, help="Seed of t-SNE.")
@_out_option("latent_map.png")
def latent_map(model_path, data, data_dir, split, method, n, seed, out) -> None:
    """A picture of the latent space: a 2-D map of test embeddings coloured by label, or the manifold grid."""
    from .api import latent_map as api_latent_map

    _echo_json(api_latent_map(model_path, out, data, split=split, method=method, max_images=n, data_dir=data_dir,
                              seed=seed))


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
    from .api import load, restore_image_files

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


def torch_cat(parts):
    import torch

    return torch.cat([p.cpu() for p in parts])


if __name__ == "__main__":
    main()
