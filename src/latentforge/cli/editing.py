"""Editing verbs (issue 20): interpolate, traverse, attribute, edit, class-edit, invert."""

from __future__ import annotations

import click

from .base import POSITIVE, SEED, FiniteFloat, _device_option, _echo_json, _finite_figures, main


def torch_cat(parts):
    import torch

    return torch.cat([p.cpu() for p in parts])


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
    from ..api import check_image_output, load, read_images, write_grid
    from ..api import interpolate as api_interpolate

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
    from ..api import check_image_output, load, read_images, write_grid
    from ..api import traverse as api_traverse

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
    from ..api import attributes, load, make_attribute

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
    from ..api import check_image_output, load, read_images, write_grid
    from ..api import edit as api_edit

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
    from ..api import check_image_output, images_for_reconstruction, load, write_grid
    from ..api import class_edit as api_class_edit

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
    from ..api import check_image_output, comparison_grid, images_for_reconstruction, load, write_grid
    from ..api import invert as api_invert

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
