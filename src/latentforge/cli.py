"""The command line: thin verbs over the Python API (``latentforge --help``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .errors import LatentforgeError


class FriendlyGroup(click.Group):
    """Prints latentforge's own errors as one clear line (exit code 2) instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LatentforgeError as e:
            click.secho(f"error: {e}", fg="red", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted; the last checkpoint is kept (continue with --resume).", err=True)
            sys.exit(130)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="latentforge")
def main() -> None:
    """latentforge: train autoencoders, VAEs and GANs on images, and use them to generate and reconstruct."""


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


@main.command()
@click.option("--config", "config_path", help="YAML run config, or a preset name (see configs/).")
@click.option("--model", help="Model name, e.g. vae or ae.")
@click.option("--data", help="Dataset: mnist-5k (default), mnist, fashion-mnist, digits, folder:PATH, npz:PATH.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder holding the canonical dataset files.")
@click.option("--image-size", type=int, help="Resize images to this square size (multiple of 4).")
@click.option("--channels", type=click.Choice(["1", "3"]), help="Force grayscale (1) or RGB (3).")
@click.option("--epochs", type=int)
@click.option("--batch-size", type=int)
@click.option("--lr", type=float, help="Peak learning rate (Adam).")
@click.option("--seed", type=int)
@click.option("--latent-dim", type=int)
@click.option("--beta", type=float, help="KL weight for VAEs (1 = ELBO).")
@click.option("--likelihood", type=click.Choice(["bernoulli", "logistic", "gaussian"]), help="Pixel likelihood.")
@click.option("--max-steps", type=int, help="Stop (with a checkpoint) after this many steps in total.")
@click.option("--device", help="auto (default), cpu, cuda or cuda:N.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Any config value, e.g. --set train.grad_clip=50.")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/<model>-<data>-<time>).")
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--init-from", type=click.Path(exists=True, file_okay=False),
              help="Start from the weights of this saved model or run (fine-tuning; same networks).")
@click.option("--report", is_flag=True, help="Write report/report.html with samples, reconstructions and curves.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def train(config_path, model, data, data_dir, image_size, channels, epochs, batch_size, lr, seed, latent_dim, beta,
          likelihood, max_steps, device, sets, out, resume, init_from, report, progress) -> None:
    """Train a model; the saved model lands in OUT/model."""
    from .api import train as api_train
    from .config import parse_set_option

    flags = {"model.latent_dim": latent_dim, "model.beta": beta, "model.likelihood": likelihood,
             "train.max_steps": max_steps, "train.device": device, "train.init_from": init_from}
    overrides = {**flags, **dict(parse_set_option(s) for s in sets)}  # --set wins over the named flags
    run = api_train(
        model=model, data=data, out=out, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, data_dir=data_dir,
        image_size=image_size, channels=None if channels is None else int(channels), config=config_path,
        overrides=overrides, resume=resume, report=report, progress=progress,
    )
    click.echo(f"saved model: {run.model_dir}")
    if run.report:
        click.echo(f"report: {run.report}")
    _echo_json(run.metrics)


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.option("-n", "n", type=int, default=64, show_default=True, help="Number of images.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="samples.png", show_default=True, help="PNG grid.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="Scale of the prior noise.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--nrow", type=int, help="Images per row (default: square).")
@click.option("--scale", type=int, default=1, show_default=True, help="Upscale the grid by this integer factor.")
@click.option("--label", type=int, help="Class to generate (class-conditional models such as cvae and cgan).")
def sample(model_path, n, out, temperature, seed, nrow, scale, label) -> None:
    """Generate N images from a saved model into a PNG grid."""
    import torch

    from .api import load, sample as api_sample
    from .data import save_grid

    labels = None if label is None else torch.full((n,), label, dtype=torch.long)
    images = api_sample(load(model_path), n, labels=labels, temperature=temperature, seed=seed)
    click.echo(f"wrote {save_grid(images, out, nrow=nrow, scale=scale)} ({n} images)")


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--data", help="Take images from this dataset instead of files (default: the training data).")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("-n", "n", type=int, default=16, show_default=True, help="How many dataset images.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), default="reconstructions.png", show_default=True)
@click.option("--scale", type=int, default=1, show_default=True)
def reconstruct(model_path, images, data, data_dir, split, n, out, scale) -> None:
    """Reconstruct image files (or dataset images): originals above reconstructions in a PNG; errors as JSON."""
    import torch

    from .api import load, reconstruct as api_reconstruct, training_data_config
    from .data import load_dataset, read_image, save_grid

    model = load(model_path)
    c, h, _ = model.image_shape
    if images:
        x = torch.stack([read_image(p, size=h, channels=c) for p in images]).float() / 255
    else:
        spec = training_data_config(model_path)
        name = data or spec.get("name")
        if not name:
            raise click.UsageError("give image files or --data")
        ds = load_dataset(name, split, data_dir=data_dir or spec.get("data_dir"), image_size=h, channels=c)
        x = ds.images[:n].float() / 255
    recon, err = api_reconstruct(model, x)
    save_grid(torch.cat([x, recon]), out, nrow=x.shape[0], scale=scale)
    _echo_json({"out": out, "images": x.shape[0], "mse": float(err["mse"].mean()), "psnr": float(err["psnr"].mean())})


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--data", help="Dataset (default: the one the model was trained on).")
@click.option("--data-dir", type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--max-images", type=int, help="Evaluate on the first N images only.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Also write the JSON here.")
@click.option("--fid", is_flag=True, help="Also sample quality: fid-lenet, kid-lenet, precision/recall, fid_floor.")
@click.option("-n", "--samples", type=int, default=10000, show_default=True, help="Generated images for --fid.")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False),
              help="FID Inception-v3 weights (.safetensors): standard fid-inception instead of fid-lenet.")
@click.option("--nll", is_flag=True, help="Also the importance-sampled NLL (VAE family; slow: k passes per image).")
@click.option("--k", type=int, default=1000, show_default=True, help="Importance samples per image for --nll.")
def evaluate(model_path, data, data_dir, split, max_images, seed, out, fid, samples, inception_weights, nll, k) -> None:
    """Test-split loss/ELBO (nats/image, bits/dim), reconstruction MSE/PSNR; with --fid FID/KID/PR and with
    --nll the importance-sampled NLL; as JSON."""
    from .api import evaluate as api_evaluate
    from .io import atomic_write_json

    result = api_evaluate(model_path, data, split=split, data_dir=data_dir, max_images=max_images, seed=seed,
                          fid=fid or inception_weights is not None, samples=samples, inception_weights=inception_weights,
                          nll=nll, k=k)
    if out:
        atomic_write_json(out, result)
    _echo_json(result)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo", show_default=True)
@click.option("--epochs", type=int, help="Override the demo preset's epochs.")
@click.option("--progress/--no-progress", default=True)
def demo(out, epochs, progress) -> None:
    """Train the demo VAE on the bundled MNIST digits and write OUT/report/report.html."""
    import shutil
    import time

    from .api import train as api_train

    if Path(out, "model").exists():
        shutil.rmtree(Path(out))  # the demo always starts fresh
    start = time.perf_counter()
    run = api_train(config="demo", out=out, epochs=epochs, report=True, progress=progress)
    click.echo(f"demo finished in {time.perf_counter() - start:.0f} s; test PSNR {run.metrics.get('psnr', float('nan')):.2f} dB, "
               f"-ELBO {run.metrics.get('loss', float('nan')):.1f} nats/image")
    click.echo(f"open the report: {run.report}")


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(model_path, as_json) -> None:
    """What a saved model is: family, config, parameters, what it was trained on, final metrics."""
    from .api import load
    from .io import read_json
    from .models.saving import resolve_model_dir

    model_dir = resolve_model_dir(model_path)
    model = load(model_dir)
    training = read_json(model_dir / "training.json", "Training record") if (model_dir / "training.json").is_file() else {}
    result = {
        "path": str(model_dir),
        "model": model.name,
        "config": model.config_dict(),
        "parameters": model.trained_parameter_count(),
        "capabilities": sorted(model.capabilities),
        "trained_on": training.get("data"),
        "steps": training.get("steps"),
        "epochs_completed": training.get("epochs_completed"),
        "final_metrics": training.get("final_metrics"),
    }
    if as_json:
        _echo_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key:>17}: {json.dumps(value, default=str) if isinstance(value, (dict, list)) else value}")


if __name__ == "__main__":
    main()
