"""The pictures of docs/editing.md: a traversal, an attribute edit ("sleeves"), a class edit and interpolations.

    python benchmarks/edit_pictures.py --data-dir /work/shared/data --runs ~/lf-runs/edit

Three small models, trained here when their run is missing (resumed when it stopped early; about 5 minutes
an epoch on one CPU core), as with the CLI::

    latentforge train --config vae-fashion-mnist --latent-dim 16 --set model.channels=16 --epochs 3 --seed 0 \\
        --out RUNS/vae-fashion
    latentforge train --model cvae --data mnist --latent-dim 4 --set model.channels=16 --epochs 2 \\
        --batch-size 128 --seed 0 --out RUNS/cvae-mnist-z4
    latentforge train --model dcgan --data mnist --latent-dim 32 --set model.channels=16 --epochs 3 \\
        --batch-size 64 --seed 0 --out RUNS/dcgan-mnist

(The pictures in the docs come from a DCGAN trained for 1 epoch and then extended to 3 with
``--resume --epochs 3``, whose learning-rate schedule differs slightly from a 3-epoch run's; the VAE likewise
from 1 epoch extended to 3.) A first cvae with 8 latent dimensions, trained for 1 epoch, kept much of the class
in its style latent, so many of its class edits showed the source digit; 4 dimensions and 2 epochs gave the
picture in the docs (which of the two changes mattered was not measured).

The pictures use test images only for what is edited; the attribute vector and the traversal's ranking of
dimensions come from training images. The facts behind them (the attribute's group sizes and norm, the ranked
dimensions and their KL, the GAN inversion's PSNR) go to ``benchmarks/results/edit_pictures.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

import latentforge as lf
from latentforge import api
from latentforge.data import load_dataset, to_float
from latentforge.data.images import save_grid

from common import ROOT, make_result, run_finished, run_record, write_result

RUNS: dict[str, dict[str, Any]] = {  # run name → lf.train arguments (the commands in the docstring)
    "vae-fashion": {"config": "vae-fashion-mnist", "overrides": {"model.latent_dim": 16, "model.channels": 16},
                    "epochs": 3, "seed": 0},
    "cvae-mnist-z4": {"model": "cvae", "data": "mnist", "overrides": {"model.latent_dim": 4, "model.channels": 16},
                      "epochs": 2, "batch_size": 128, "seed": 0},
    "dcgan-mnist": {"model": "dcgan", "data": "mnist", "overrides": {"model.latent_dim": 32, "model.channels": 16},
                    "epochs": 3, "batch_size": 64, "seed": 0},
}
SHIRT, TOP = 6, 0  # Fashion-MNIST classes: "Shirt" (long sleeves) and "T-shirt/top" (short or none)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="folder of the canonical datasets (mnist, fashion-mnist)")
    parser.add_argument("--runs", type=Path, default=Path.home() / "lf-runs" / "edit", help="run folders")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "editing", help="picture folder")
    parser.add_argument("--results-dir", type=Path, default=None, help="default benchmarks/results")
    parser.add_argument("--invert-steps", type=int, default=500, help="GAN inversion steps per image")
    parser.add_argument("--attribute-images", type=int, default=2000, help="training images per attribute group")
    args = parser.parse_args(argv)
    if args.invert_steps < 1 or args.attribute_images < 1:
        parser.error("--invert-steps and --attribute-images must be ≥ 1")
    return args


def ensure_run(name: str, args: argparse.Namespace) -> Path:
    """The run folder of ``name``, trained (or resumed) first when it is not finished."""
    out = args.runs / name
    if not run_finished(run_record(out)):
        resume = api.can_resume(out)
        print(f"{name}: {'resuming' if resume else 'training'} in {out}", file=sys.stderr)
        if resume:
            lf.train(out=out, resume=True)
        else:
            spec = dict(RUNS[name])
            lf.train(out=out, data_dir=args.data_dir, overrides=spec.pop("overrides"), **spec)
    return out


def labelled_test_images(data: str, args: argparse.Namespace, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images of ``data`` (floats in [0, 1]) and their labels."""
    test = load_dataset(data, "test", data_dir=args.data_dir)
    return to_float(test.images[:n]), test.labels[:n]


def of_class(images_labels: tuple[torch.Tensor, torch.Tensor], label: int, n: int) -> torch.Tensor:
    images, labels = images_labels
    return images[(labels == label).nonzero().flatten()[:n]]


def vae_pictures(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    run = ensure_run("vae-fashion", args)
    model = lf.load(run)
    pair_images = labelled_test_images("fashion-mnist", args, 400)

    reference = api.dataset_images(model, "fashion-mnist", split="train", n=2000, data_dir=args.data_dir)
    trav = api.traverse(model, pair_images[0][0], reference, dims=6, steps=9, span=2.5)
    save_grid(trav.images, args.out / "vae-traversal.png", nrow=9, scale=2)
    rows.append({"picture": "vae-traversal.png", "model": "vae (fashion-mnist)", "dims": trav.dims,
                 "activity": [round(s, 3) for s in trav.scores], "measure": trav.measure})

    attribute = api.make_attribute(model, "sleeves", with_label=SHIRT, without_label=TOP, data="fashion-mnist",
                                   split="train", n=args.attribute_images, data_dir=args.data_dir)
    strengths = [-1.0, 0.0, 1.0, 1.5, 2.0]
    tops = of_class(pair_images, TOP, 4)
    strips = [torch.cat([top[None], api.edit(model, top, "sleeves", strengths)]) for top in tops]
    save_grid(torch.cat(strips), args.out / "vae-sleeves.png", nrow=len(strengths) + 1, scale=2)
    rows.append({"picture": "vae-sleeves.png", "model": "vae (fashion-mnist)", "attribute": attribute.summary(),
                 "strengths": strengths})

    pairs = [(of_class(pair_images, a, 1)[0], of_class(pair_images, b, 1)[0]) for a, b in ((0, 8), (7, 5), (1, 3))]
    strips = [torch.cat([a[None], lf.interpolate(model, a, b, steps=8), b[None]]) for a, b in pairs]
    save_grid(torch.cat(strips), args.out / "vae-interpolation.png", nrow=10, scale=2)
    rows.append({"picture": "vae-interpolation.png", "model": "vae (fashion-mnist)", "method": "slerp", "steps": 8})


def cvae_pictures(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    model = lf.load(ensure_run("cvae-mnist-z4", args))
    images, labels = labelled_test_images("mnist", args, 8)
    result = api.class_edit(model, images)  # labels inferred by the model (argmax ELBO)
    save_grid(result.rows.flatten(0, 1), args.out / "cvae-class-edit.png", nrow=result.rows.shape[1], scale=2)
    truth = labels.tolist()
    rows.append({"picture": "cvae-class-edit.png", "model": "cvae (mnist)", "inferred_labels": result.labels,
                 "true_labels": truth, "inferred_correct": sum(a == b for a, b in zip(result.labels, truth))})


def gan_pictures(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    model = lf.load(ensure_run("dcgan-mnist", args))
    images, _ = labelled_test_images("mnist", args, 6)
    inverted = api.invert(model, images, steps=args.invert_steps)
    strips = [torch.cat([images[i: i + 1], lf.interpolate(model, images[i], images[i + 1], steps=8,
                                                          invert_steps=args.invert_steps), images[i + 1: i + 2]])
              for i in (0, 2, 4)]
    save_grid(torch.cat(strips), args.out / "gan-interpolation.png", nrow=10, scale=2)
    rows.append({"picture": "gan-interpolation.png", "model": "dcgan (mnist)", "invert_steps": args.invert_steps,
                 "inversion_psnr": [round(float(p), 2) for p in inverted["psnr"]],
                 "inversion_psnr_mean": round(float(inverted["psnr"].mean()), 2)})


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    vae_pictures(args, rows)
    cvae_pictures(args, rows)
    gan_pictures(args, rows)
    by_picture = {r["picture"]: r for r in rows}
    summary = {"sleeves_norm": round(by_picture["vae-sleeves.png"]["attribute"]["norm"], 3),
               "traversal_top_dims": by_picture["vae-traversal.png"]["dims"],
               "cvae_inferred_labels_correct": by_picture["cvae-class-edit.png"]["inferred_correct"],
               "gan_inversion_psnr": by_picture["gan-interpolation.png"]["inversion_psnr_mean"]}
    path = write_result(make_result("edit_pictures", summary=summary, rows=rows, threads=1),
                        args.results_dir or ROOT / "benchmarks" / "results")
    print(f"pictures in {args.out}; facts in {path}")


if __name__ == "__main__":
    main()
