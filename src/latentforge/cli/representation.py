"""Representation verbs (issue 20): embed, probe, classify, anomaly, latent-map."""

from __future__ import annotations

import click

from .base import POSITIVE, SEED, _echo_json, _finite_figures, main
from .editing import _image_choice, _out_option


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
    from ..api import embed as api_embed

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
    """Linear-probe and k-NN test accuracy of the model's latents (C, k and the distance chosen on held-out images),
    beside the same probes on raw pixels, as JSON."""
    from ..api import probe as api_probe

    _echo_json(api_probe(model_path, data, data_dir=data_dir, max_train=max_train, max_test=max_test, seed=seed,
                         pixels=pixels, save=save, progress=progress))


@main.command()
@click.argument("model_path", type=click.Path(exists=True))
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--probe", "probe_name", default="default", help="The saved probe's name (`probe --save NAME`).")
def classify(model_path, images, probe_name) -> None:
    """Predict the label of each image with a linear probe saved beside the model."""
    from ..api import classify as api_classify

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
    from ..api import anomaly as api_anomaly

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
    from ..api import latent_map as api_latent_map

    _echo_json(api_latent_map(model_path, out, data, split=split, method=method, max_images=n, data_dir=data_dir,
                              seed=seed))
