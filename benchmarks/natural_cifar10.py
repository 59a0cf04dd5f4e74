"""Natural images on CIFAR-10, in one run: test bits/dim of the conv VAE and of the hierarchical VAE (the ELBO and
the importance-sampled bound, the better one reported), the CIFAR-10 classifier the project trains as its FID
feature extractor (with its test accuracy), and FID of the best GAN beside the VAEs' FIDs, with sample grids and
test reconstructions for each model.

The runs are trained beforehand with the CLI (resumable; hours on CPU, the place for them is a GPU):

    latentforge train --config fcvae-cifar10 --data-dir DIR --out ~/lf-runs/cifar/fcvae1 --epochs 4 --no-progress
    latentforge train --config hvae-cifar10 --data-dir DIR --out ~/lf-runs/cifar/hvae  --no-progress
    latentforge train --config gan-cifar10  --data-dir DIR --out ~/lf-runs/cifar/gan   --no-progress

and this script evaluates them at their latest checkpoint:

    python benchmarks/natural_cifar10.py --data-dir DIR --vae ~/lf-runs/cifar/fcvae1 --hvae ~/lf-runs/cifar/hvae \\
        --gan ~/lf-runs/cifar/gan --k 1000
    python benchmarks/natural_cifar10.py --quick       # tiny runs on a CIFAR-shaped toy set, in a temp folder
    python benchmarks/natural_cifar10.py --docs-only   # the docs section from the JSON

Bits/dim are on 8-bit pixels (discretised likelihoods), the ELBO over all test images and the importance-sampled
NLL from ``--k`` samples over the first ``--nll-images``; FIDs are ``fid-resnet`` (features of the project's own
classifier, not Inception: not comparable with published FIDs) of ``--samples`` samples against the test split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import common

NAME = "natural_cifar10"
DATA = "cifar10"
IMAGES = Path("images")  # relative to the docs page
TARGETS = {"bpd_conv_vae": 4.3, "bpd_hvae": 3.7, "classifier_acc_cifar10": 0.90}
ROLES = ("conv_vae", "hvae", "gan")
RECONSTRUCTED = 16  # test images shown above their reconstructions
COLUMNS = ["role", "model", "parameters", "steps", "train_hours", "bpd_elbo", "bpd_nll", "k", "nll_images",
           "psnr", "fid", "kid", "precision", "recall"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="CIFAR-10's files (default: latentforge's search)")
    p.add_argument("--vae", type=Path, default=None, help="run folder of the conv VAE (fcvae-cifar10 or vae-cifar10)")
    p.add_argument("--hvae", type=Path, default=None, help="run folder of the hierarchical VAE (hvae-cifar10)")
    p.add_argument("--gan", type=Path, default=None, help="run folder of the best GAN (gan-cifar10)")
    p.add_argument("--k", type=int, default=None, help="importance samples per test image (default 1000; quick 4)")
    p.add_argument("--nll-images", type=int, default=None, help="test images of the importance-sampled NLL "
                   "(default all 10,000; quick 32)")
    p.add_argument("--samples", type=int, default=None, help="samples per model for FID (default 10000)")
    p.add_argument("--extractor", default=None, choices=("resnet", "lenet"),
                   help="FID features (default resnet; quick lenet, which learns the toy set in its few steps)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    p.add_argument("--quick", action="store_true", help="smoke check on tiny runs, in a temp folder")
    common.add_output_arguments(p)
    args = p.parse_args(argv)
    common.fill_mode_defaults(args, {"k": (1000, 4), "nll_images": (10000, 32), "samples": (10000, 64),
                                     "extractor": ("resnet", "lenet")})
    common.check_minimums(p, args, {"k": 1, "nll_images": 1, "samples": 2, "threads": 1})
    if not (args.docs_only or args.quick) and args.vae is args.hvae is args.gan is None:
        p.error("nothing to evaluate: give --vae, --hvae and/or --gan (run folders)")
    return args


def quick_runs(scratch: Path, args: argparse.Namespace) -> None:
    """The three presets, narrowed, for a few steps on a CIFAR-shaped toy set."""
    from latentforge.api import train

    args.data, args.data_dir = f"npz:{common.class_colour_npz(scratch / 'quick.npz')}", None
    small = {"train.max_steps": 4, "train.epochs": 1, "train.batch_size": 32, "train.eval_every": 0}
    narrow = {"conv_vae": ("vae-cifar10", {"model.channels": 8, "model.latent_dim": 8}),
              "hvae": ("hvae-cifar10", {"model.channels": 8, "model.latent_layers": 2}),
              "gan": ("gan-cifar10", {"model.channels": 8})}
    for role, (preset, changes) in narrow.items():
        out = scratch / "runs" / role
        train(config=preset, data=args.data, out=out, progress=False, overrides={**changes, **small})
        setattr(args, {"conv_vae": "vae"}.get(role, role), out)


def model_row(role: str, run_dir: Path, args: argparse.Namespace, docs_dir: Path) -> dict[str, Any]:
    """Everything measured for one run: likelihood (VAEs), sample quality, pictures."""
    import latentforge as lf
    from latentforge.api import reconstruct_to_grid
    from latentforge.data import load_dataset, to_float
    from latentforge.jobs.evaluate import sample_quality

    model = lf.load(run_dir, device=args.device)
    record = common.run_record(run_dir)
    row: dict[str, Any] = {"role": role, "model": model.name, "parameters": model.trained_parameter_count(),
                           "steps": record.get("steps"),
                           "train_hours": round(float(record.get("train_seconds") or 0) / 3600, 3),
                           "run_dir": str(run_dir)}
    start = time.perf_counter()
    if role != "gan":
        full = lf.evaluate(model, args.data, data_dir=args.data_dir, seed=args.seed, progress=False)
        row.update(bpd_elbo=full["bits_per_dim"], psnr=full.get("psnr"))
        found = lf.evaluate(model, args.data, data_dir=args.data_dir, seed=args.seed, nll=True, k=args.k,
                            max_images=args.nll_images, progress=False)
        row.update(bpd_nll=found["nll_bits_per_dim"], k=found["k"], nll_images=min(args.nll_images, found["images"]),
                   bpd_elbo_same_images=found["bits_per_dim"], active_units=found.get("active_units"))
        test = to_float(load_dataset(args.data, "test", data_dir=args.data_dir).images[:RECONSTRUCTED])
        row["reconstructions"] = (IMAGES / f"cifar10_natural_{role}_reconstructions.png").as_posix()
        reconstruct_to_grid(model, test, docs_dir / row["reconstructions"], nrow=RECONSTRUCTED // 2, scale=2)
        common.log(f"{role}: test bits/dim ELBO {row['bpd_elbo']:.4f}, IS-NLL (k={row['k']}) {row['bpd_nll']:.4f}")
    q = sample_quality(model, args.data, n=args.samples, extractor=args.extractor, data_dir=args.data_dir,
                       seed=args.seed, cache_dir=args.extractor_cache)
    name = q["extractor"]
    row.update(fid=q[f"fid-{name}"], kid=q[f"kid-{name}"], extractor=name, precision=q["precision"], recall=q["recall"],
               fid_floor=q["fid_floor"], extractor_accuracy=q["extractor_accuracy"])
    row["samples_grid"] = (IMAGES / f"cifar10_natural_{role}_samples.png").as_posix()
    common.save_sample_grid(model, docs_dir / row["samples_grid"], args.seed)
    row["eval_seconds"] = round(time.perf_counter() - start, 1)
    common.log(f"{role}: fid-{row['extractor']} {row['fid']:.3f} (floor {row['fid_floor']:.3f})")
    return row


def best_bound(row: dict[str, Any] | None) -> tuple[float | None, str | None]:
    """The tighter of the two upper bounds on test bits/dim and how it was measured."""
    if row is None:
        return None, None
    if row["nll_images"] >= 10000 and row["bpd_nll"] < row["bpd_elbo"]:
        return row["bpd_nll"], f"importance-sampled NLL, k={row['k']}, all test images"
    if row["nll_images"] < 10000 and row["bpd_nll"] < row["bpd_elbo_same_images"]:
        return row["bpd_elbo"], (f"ELBO over all test images (the importance-sampled NLL, k={row['k']}, on the "
                                 f"first {row['nll_images']:,} is {row['bpd_nll']:.4f} there)")
    return row["bpd_elbo"], "ELBO, all test images"


def summarize(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    vae, hvae, gan = (rows.get(role) for role in ROLES)
    bpd_vae, how_vae = best_bound(vae)
    bpd_hvae, how_hvae = best_bound(hvae)
    accuracy = next((r["extractor_accuracy"] for r in rows.values()), None)
    summary = {"bpd_conv_vae": bpd_vae, "bpd_hvae": bpd_hvae,
               "bpd_method": {"conv_vae": how_vae, "hvae": how_hvae},
               "classifier_acc_cifar10": accuracy, "fid_best_gan": gan and gan["fid"], "fid_vae": vae and vae["fid"],
               "fid_hvae": hvae and hvae["fid"],
               "fid_metric": next((f"fid-{r['extractor']}" for r in rows.values()), None),
               "train_hours": round(sum(r["train_hours"] for r in rows.values()), 3),
               "parameters": {role: r["parameters"] for role, r in rows.items()}, "targets": TARGETS}
    summary["targets_met"] = {key: summary[key] is not None and (summary[key] >= bar if key.endswith("acc_cifar10")
                                                                 else summary[key] <= bar)
                              for key, bar in TARGETS.items()}
    return summary


def render(result: dict[str, Any]) -> str:
    s = result["summary"]
    parts = ["## Natural images: CIFAR-10 (`natural_cifar10`)",
             f"Test bits/dim (8-bit pixels; lower is better): conv VAE **{common.format_value(s['bpd_conv_vae'])}** "
             f"(target ≤ {TARGETS['bpd_conv_vae']}; {s['bpd_method']['conv_vae']}), hierarchical VAE "
             f"**{common.format_value(s['bpd_hvae'])}** (target ≤ {TARGETS['bpd_hvae']}; {s['bpd_method']['hvae']}). "
             "For reference: IAF-VAE 3.11, BIVA 3.08, NVAE 2.91, VDVAE 2.87 (39M parameters, a week on two GPUs).",
             f"FID features (`{s['fid_metric']}`): the classifier the project trains on CIFAR-10, test accuracy "
             f"**{common.format_value(s['classifier_acc_cifar10'])}** (target ≥ {TARGETS['classifier_acc_cifar10']}); "
             f"these FIDs are not comparable with Inception FIDs. Best GAN {common.format_value(s['fid_best_gan'])}, "
             f"conv VAE {common.format_value(s['fid_vae'])}, hierarchical VAE {common.format_value(s['fid_hvae'])}. "
             f"Training time of the runs together: {common.format_value(s['train_hours'])} h.",
             common.markdown_table(result["rows"], COLUMNS)]
    for row in result["rows"]:
        parts.append(f"{row['role']}: samples ![{row['role']} samples]({row['samples_grid']})"
                     + (f" and test images above their reconstructions "
                        f"![{row['role']} reconstructions]({row['reconstructions']})" if "reconstructions" in row
                        else ""))
    parts.append(common.provenance_markdown(result))
    return "\n\n".join(parts)


def main(argv=None) -> int:
    args = parse_args(argv)
    command, results_dir, docs, scratch = common.start_run(NAME, render, args, argv, DATA)
    docs_dir = docs.parent
    if scratch is not None:
        quick_runs(scratch, args)
        args.extractor_cache, docs_dir = scratch / "extractors", scratch
    runs = {"conv_vae": args.vae, "hvae": args.hvae, "gan": args.gan}
    runs = {role: run for role, run in runs.items() if run is not None}
    date = common.utc_now()
    rows = {role: model_row(role, run, args, docs_dir) for role, run in runs.items()}
    result = common.make_result(NAME, summary=summarize(rows), rows=list(rows.values()), threads=args.threads,
                                date=date, command=command)
    result["setup"] = {"data": args.data, "data_dir": args.data_dir, "k": args.k, "nll_images": args.nll_images,
                       "samples": args.samples, "seed": args.seed}
    common.publish(NAME, result, render, results_dir, docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
