"""GANs at 32×32 RGB on CIFAR-10: which family serves best on a short budget (chosen on a validation
measure), and the long run of the chosen preset (test FID of 10,000 samples, a sample grid).

The runs are trained by the CLI beforehand, in the background (hours on one CPU core), e.g.

    latentforge train --config gan-cifar10 --data-dir DIR --out RUN            # the long run (resumable)
    latentforge train --config gan-cifar10 --data-dir DIR --max-steps 782 --set model.n_critic=1 ... --out RUN_B

and this script only evaluates them at their latest checkpoint:

- every ``--run NAME=DIR`` (the comparison; give them the same number of steps) gets the *validation* figures:
  FID and KID of ``--val-samples`` samples against as many training images (a fixed seeded subset), never the
  test split. The family with the lowest validation FID is the pick;
- ``--long DIR`` gets ``sample_quality``: ``--samples`` samples against the 10,000 test images (FID, KID,
  precision/recall, the real-vs-real floor) and the seeded 8×8 grid ``docs/images/cifar10_gan_samples.png``.

Features come from the CIFAR-10 classifier the project trains itself (``--extractor``; the metric is named after
it, e.g. ``fid-lenet``): its figures are not comparable with Inception FID.

    python benchmarks/gan_cifar10.py --data-dir /work/shared/data/cifar10 --run sngan=RUN_A --run wgan-gp=RUN_C \\
        --long RUN
    python benchmarks/gan_cifar10.py --quick       # smoke check: two tiny runs on 640 images, in a temp folder
    python benchmarks/gan_cifar10.py --docs-only   # regenerate the docs section from the JSON
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

import common

NAME = "gan_cifar10"
DATA = "cifar10"
GRID = Path("images") / "cifar10_gan_samples.png"  # relative to the docs page
# What the comparison's runs change in the gan-cifar10 preset (the CLI's --set; the commands in docs/models.md).
ARMS: dict[str, dict[str, Any]] = {
    "sngan": {},
    "sngan-ndis1": {"model.n_critic": 1, "model.betas": [0.5, 0.999]},
    "sngan-diffaug": {"model.diffaugment": "color,translation,cutout"},
    "wgan-gp": {"model.name": "wgan-gp", "model.loss": "wasserstein", "model.d_norm": "none", "model.gp_weight": 10,
                "model.d_lr": 1e-4, "model.g_lr": 1e-4},
}


def run_row(name: str, run_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The run's model at its latest checkpoint and what it was trained with."""
    from latentforge.api import load

    model = load(run_dir)
    record = common.run_record(run_dir)
    cfg, n_critic = model.config, model.config.n_critic
    steps = int(record.get("steps") or 0)
    row = {
        "run": name, "model": model.name, "arch": cfg.arch, "loss": cfg.loss, "d_norm": cfg.d_norm,
        "n_critic": n_critic, "betas": list(cfg.betas), "diffaugment": cfg.diffaugment or None,
        "channels": cfg.channels, "params_generator": sum(p.numel() for p in model.generator.parameters()),
        "params_discriminator": sum(p.numel() for p in model.discriminator.parameters()),
        "steps": steps, "generator_steps": steps // n_critic,
        "batch_size": (record.get("train") or {}).get("batch_size"),
        "train_hours": round(float(record.get("train_seconds") or 0) / 3600, 3),
        "run_dir": str(run_dir),
    }
    return model, row


def validation_quality(model: Any, train: Any, extractor: Any, n: int, seed: int) -> dict[str, float]:
    """FID and KID of ``n`` samples against ``n`` training images (a seeded subset): the selection measure."""
    from latentforge.jobs.evaluate.features import feature_array
    from latentforge.jobs.evaluate.sample_quality import generated_images
    from latentforge.metrics.fid import fid_from_features
    from latentforge.metrics.kid import kid

    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    real = feature_array(extractor(train.images.index_select(0, idx)))
    fake = feature_array(extractor(generated_images(model, n, seed=seed)))
    kid_mean, kid_std = kid(real, fake, subsets=100, subset_size=min(1000, n), seed=seed)
    return {"val_fid": fid_from_features(real, fake), "val_kid": kid_mean, "val_kid_std": kid_std}


def compare(runs: list[tuple[str, Path]], args: argparse.Namespace) -> list[dict[str, Any]]:
    from latentforge.data import load_dataset
    from latentforge.jobs.evaluate.features import check_extractor_accuracy, get_extractor

    train = load_dataset(args.data, "train", data_dir=args.data_dir)
    test = load_dataset(args.data, "test", data_dir=args.data_dir)
    extractor = get_extractor(args.data, train.shape, extractor=args.extractor, data_dir=args.data_dir,
                              train=train, test=test, cache_dir=args.extractor_cache)
    check_extractor_accuracy(extractor)
    rows = []
    for name, run_dir in runs:
        model, row = run_row(name, run_dir)
        start = time.perf_counter()
        row.update(validation_quality(model, train, extractor, args.val_samples, args.seed))
        row["eval_seconds"] = round(time.perf_counter() - start, 1)
        common.log(f"{name}: step {row['steps']}, validation {args.extractor} FID {row['val_fid']:.3f}, "
                   f"KID {row['val_kid']:.4f} ± {row['val_kid_std']:.4f}")
        rows.append(row)
    return rows


def evaluate_long(run_dir: Path, args: argparse.Namespace, grid_path: Path) -> dict[str, Any]:
    from latentforge.jobs.evaluate import sample_quality

    model, row = run_row("long", run_dir)
    start = time.perf_counter()
    q = sample_quality(model, args.data, n=args.samples, extractor=args.extractor, data_dir=args.data_dir,
                       seed=args.seed, cache_dir=args.extractor_cache)
    name = q["extractor"]
    row.update({"test_fid": q[f"fid-{name}"], "test_kid": q[f"kid-{name}"], "test_kid_std": q[f"kid-{name}_std"],
                "precision": q["precision"], "recall": q["recall"], "fid_floor": q["fid_floor"],
                "samples": q["n"], "real_images": q["n_real"], "extractor": name,
                "extractor_accuracy": q["extractor_accuracy"], "eval_seconds": round(time.perf_counter() - start, 1)})
    common.save_sample_grid(model, grid_path, args.seed)
    common.log(f"long run: step {row['steps']}, test fid-{name} {row['test_fid']:.3f} (floor {row['fid_floor']:.3f})")
    return row


def summarize(rows: list[dict[str, Any]], long: dict[str, Any] | None, extractor: str) -> dict[str, Any]:
    summary: dict[str, Any] = {"metric": f"fid-{extractor}"}
    if rows:
        best = min(rows, key=lambda r: r["val_fid"])
        summary.update(best_family=best["run"], best_family_val_fid=best["val_fid"], compare_steps=best["steps"])
    if long is not None:
        summary.update(fid_best_gan=long["test_fid"], kid_best_gan=long["test_kid"], fid_floor=long["fid_floor"],
                       best_gan_steps=long["steps"], best_gan_generator_steps=long["generator_steps"],
                       train_hours=long["train_hours"])
    return summary


COMPARE_COLUMNS = ["run", "model", "loss", "n_critic", "betas", "diffaugment", "steps", "generator_steps",
                   "train_hours", "val_fid", "val_kid"]
LONG_COLUMNS = ["model", "arch", "channels", "params_generator", "params_discriminator", "steps", "generator_steps",
                "train_hours", "test_fid", "test_kid", "precision", "recall", "fid_floor", "samples"]


def render(result: dict[str, Any]) -> str:
    s, setup = result["summary"], result["setup"]
    parts = ["## GANs on CIFAR-10 (`gan_cifar10`)",
             f"Features: the `{setup['extractor']}` classifier trained on CIFAR-10 by the project "
             f"(test accuracy {common.format_value(setup.get('extractor_accuracy'))}); figures named `{s['metric']}` "
             "are not Inception FIDs. Runs are trained beforehand with the CLI (commands in docs/models.md, "
             "\"GANs at 32×32 RGB\") and evaluated at their latest checkpoint."]
    if result.get("rows"):
        parts.append(f"Family comparison at equal steps, validation measure (FID/KID of {setup['val_samples']:,} "
                     f"samples against as many training images, not the test split); pick: **{s['best_family']}**.")
        parts.append(common.markdown_table(result["rows"], COMPARE_COLUMNS))
    if result.get("long"):
        parts.append(f"Long run of the chosen preset, test split ({setup['samples']:,} samples against the "
                     f"10,000 test images):")
        parts.append(common.markdown_table([result["long"]], LONG_COLUMNS))
        parts.append(f"![CIFAR-10 GAN samples]({GRID.as_posix()})")
    parts.append(common.provenance_markdown(result))
    return "\n\n".join(parts)


def quick_runs(scratch: Path, args: argparse.Namespace) -> list[tuple[str, Path]]:
    """Every arm of ``ARMS`` at ResNet width 8 for a few steps on a small CIFAR-shaped npz of noisy
    class colours (so that the extractor trained on it passes its accuracy check)."""
    from latentforge.api import train

    args.data, args.data_dir = f"npz:{common.class_colour_npz(scratch / 'quick.npz')}", None
    runs = []
    for arm, changes in ARMS.items():
        out = scratch / "runs" / arm
        train(config="gan-cifar10", data=args.data, out=out, progress=False,
              overrides={**changes, "model.channels": 8, "train.max_steps": 6, "train.epochs": 1,
                         "train.batch_size": 32, "train.eval_every": 0})
        runs.append((arm, out))
    return runs


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="CIFAR-10's files (default: latentforge's search)")
    p.add_argument("--run", action="append", default=[], metavar="NAME=DIR",
                   help="a comparison run (same steps for all); repeatable")
    p.add_argument("--long", type=Path, default=None, help="the long run of the chosen preset")
    p.add_argument("--extractor", default=None, choices=("resnet", "lenet"),
                   help="feature extractor for CIFAR-10 (default resnet; quick lenet, which learns the toy set "
                        "in its few steps)")
    p.add_argument("--val-samples", type=int, default=None, help="samples per comparison run (default 5000)")
    p.add_argument("--samples", type=int, default=None, help="samples of the long run (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="smoke check on tiny runs, in a temp folder")
    common.add_output_arguments(p)
    args = p.parse_args(argv)
    common.fill_mode_defaults(args, {"val_samples": (5000, 64), "samples": (10000, 64),
                                     "extractor": ("resnet", "lenet")})
    common.check_minimums(p, args, {"val_samples": 2, "samples": 2, "threads": 1})
    runs = []
    for item in args.run:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            p.error(f"--run {item!r}: expected NAME=DIR")
        runs.append((name, Path(folder)))
    args.run = runs
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    command, results_dir, docs, scratch = common.start_run(NAME, render, args, argv, DATA)
    if scratch is not None:
        args.run = quick_runs(scratch, args)
        args.long = args.long or args.run[0][1]
        args.extractor_cache = scratch / "extractors"
    if not args.run and args.long is None:
        raise SystemExit("Nothing to evaluate: give --run NAME=DIR (repeatable) and/or --long DIR.")
    date = common.utc_now()
    rows = compare(args.run, args) if args.run else []
    long = evaluate_long(args.long, args, docs.parent / GRID) if args.long is not None else None
    extractor = long["extractor"] if long else args.extractor
    result = common.make_result(NAME, summary=summarize(rows, long, extractor), rows=rows, threads=args.threads,
                                date=date, command=command)
    result["long"] = long
    result["setup"] = {"data": args.data, "data_dir": args.data_dir, "extractor": extractor,
                       "extractor_accuracy": long["extractor_accuracy"] if long else None,
                       "val_samples": args.val_samples, "samples": args.samples, "seed": args.seed,
                       "grid": GRID.as_posix() if long else None}
    common.publish(NAME, result, render, results_dir, docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
