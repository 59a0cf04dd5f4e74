"""Test log-likelihood on dynamically binarised MNIST: the single-latent conv VAE and the hierarchical VAE.

The protocol of the literature (Burda et al., 2016; Sønderby et al., 2016): training pixels are drawn
as Bernoulli(grey level) afresh every time an image is seen, the test split is binarised once with a fixed
seed, and the NLL is the importance-sampled estimate −log (1/k) Σ p(x, z_i)/q(z_i|x) with k = 1000 on
the whole test set, in nats per image. Each model trains from a preset (``vae-mnist-nll``,
``hvae-mnist``) into ``runs/bench/nll_mnist/<model>/``; a finished run there is reused and an unfinished
one resumed, so the script can be stopped and started again. Training time is the run's own record
(wall seconds across resumes, evaluation included).

    python benchmarks/nll_mnist.py --data-dir /work/shared/data/mnist            # both models, full protocol
    python benchmarks/nll_mnist.py --data-dir ... --models conv_vae --device cuda
    python benchmarks/nll_mnist.py --quick                                       # smoke check on mnist-5k
    python benchmarks/nll_mnist.py --docs-only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

import common

NAME = "nll_mnist"
RUNS = common.ROOT / "runs" / "bench" / NAME
MODELS = {  # key → (preset, target NLL in nats, what it is)
    "conv_vae": ("vae-mnist-nll", 82.0, "single-latent residual conv VAE, 32-d latent"),
    "hierarchical_vae": ("hvae-mnist", 79.5, "hierarchical VAE, 6 stochastic layers at 7×7 and 14×14"),
}
FIGURES = Path("images") / NAME  # relative to the docs page: <model>-samples.png and <model>-curves.png
REFERENCES = ("VAE 86.76 and IWAE (k=50) 84.78 with one stochastic layer (Burda et al., 2016); "
              "ladder VAEs about 79–80 (Sønderby et al., 2016); NVAE 78.0 (Vahdat & Kautz, 2020)")


def train_or_reuse(key: str, args) -> Path:
    from latentforge import api

    preset = MODELS[key][0]
    run_dir = args.runs / key
    if common.run_finished(common.run_record(run_dir)):
        print(f"{key}: reusing the finished run in {run_dir}", file=sys.stderr)
        return run_dir
    resume = (run_dir / "model").is_dir()
    overrides = {"train.device": args.device, "data.data_dir": args.data_dir, "train.threads": args.threads}
    if args.epochs:
        overrides["train.epochs"] = args.epochs
    if args.quick:
        overrides.update({"data.name": "mnist-5k", "train.epochs": 1, "train.max_steps": 5})
    overrides = {k: v for k, v in overrides.items() if v is not None}
    print(f"{key}: {'resuming' if resume else 'training'} {preset} in {run_dir}", file=sys.stderr)
    api.train(config=None if resume else preset, out=run_dir, overrides=None if resume else overrides,
              resume=resume, progress=args.progress)
    return run_dir


def measure(key: str, run_dir: Path, model, args) -> dict[str, Any]:
    from latentforge import api
    from latentforge.data import load_dataset
    from latentforge.metrics.likelihood import importance_sampled_nll

    record = api.training_record(run_dir)
    data = record.get("data") or {}
    test = load_dataset(data.get("name", "mnist"), "test", data_dir=data.get("data_dir") or args.data_dir)
    found = importance_sampled_nll(model, test, k=args.k, max_images=args.max_images, binarize=True,
                                   batch_size=args.nll_batch_size, progress=args.progress)
    preset, target, what = MODELS[key]
    train = record.get("train", {})
    return {"model": key, "what": what, "preset": preset, "name": record.get("model"),
            "parameters": sum(p.numel() for p in model.parameters()),
            "epochs": record.get("epochs_completed"), "steps": record.get("steps"),
            "train_seconds": record.get("train_seconds"), "train_device": train.get("device"),
            "nll": round(found["nll"], 3), "target": target, "met": found["nll"] <= target and found["images"] == len(test),
            "nll_bits_per_dim": round(found["nll_bits_per_dim"], 5), "elbo": round(found["elbo"], 3),
            "kl": round(found["kl"], 3), "active_units": found.get("active_units"),
            "latent_dims": found.get("latent_dims"), "k": found["k"], "test_images": found["images"],
            "whole_test_set": found["images"] == len(test), "nll_seconds": round(found["seconds"], 1),
            "nll_device": str(args.device)}


def save_figures(key: str, run_dir: Path, model, docs: Path, seed: int = 0) -> None:
    """Seeded prior samples (Bernoulli means) and the run's training curves, beside the docs page."""
    from latentforge.jobs.report import plot_curves
    from latentforge.training import read_metrics

    folder = docs.parent / FIGURES
    common.save_sample_grid(model, folder / f"{key}-samples.png", seed)
    plot_curves(read_metrics(run_dir / "metrics.jsonl"), folder / f"{key}-curves.png")


def render(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = ["## Likelihood on dynamically binarised MNIST (`nll_mnist`)", __doc__.split("\n\n")[1].strip()]
    for row in rows:
        scope = "the whole test set" if row["whole_test_set"] else f"**only {row['test_images']} test images**"
        lines.append(f"- **{row['model']}** ({row['what']}): NLL **{row['nll']:.2f} nats** "
                     f"({row['nll_bits_per_dim']:.4f} bits/dim), k = {row['k']} on {scope}; target ≤ "
                     f"{row['target']}: {'met' if row['met'] else '**not met**'}. Trained {row['epochs']} epochs "
                     f"({row['steps']} steps) in {common.format_value(row['train_seconds'])} s on "
                     f"{row['train_device']}.")
    measured = {row["model"] for row in rows}
    for key, (preset, target, what) in MODELS.items():
        if key not in measured:
            lines.append(f"- **{key}** ({what}, preset `{preset}`): **not measured in this run**; target ≤ {target} "
                         "not shown.")
    lines.append(common.markdown_table(rows, ["model", "preset", "parameters", "epochs", "train_seconds", "nll",
                                              "elbo", "kl", "active_units", "k", "test_images", "nll_seconds"],
                                       {"train_seconds": "train s", "nll": "NLL (nats)", "elbo": "ELBO (nats)",
                                        "kl": "KL (nats)", "active_units": "active units",
                                        "test_images": "test images", "nll_seconds": "NLL s"}))
    lines.append(f"For reference: {REFERENCES}.")
    if rows:
        lines.append("Samples from the prior (Bernoulli means, seed 0) and training curves (test points are the "
                     "−ELBO on the once-binarised test split):\n\n"
                     + "\n".join(f"![{row['model']} samples]({(FIGURES / (row['model'] + '-samples.png')).as_posix()}) "
                                  f"![{row['model']} curves]({(FIGURES / (row['model'] + '-curves.png')).as_posix()})"
                                  for row in rows))
    lines.append(common.provenance_markdown(result))
    return "\n\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    p.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (training and NLL)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads for training")
    p.add_argument("--epochs", type=int, default=None, help="override the presets' epochs")
    p.add_argument("--k", type=int, default=None, help="importance samples (default 1000; --quick 4)")
    p.add_argument("--max-images", type=int, default=None, help="only the first N test images (not the protocol)")
    p.add_argument("--nll-batch-size", type=int, default=32)
    p.add_argument("--runs", type=Path, default=None, help=f"run folders (default {RUNS})")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke check: mnist-5k, 1 epoch, k=4, 64 images, temp folder")
    p.add_argument("--results-dir", type=Path, default=None, help=f"default {common.RESULTS_DIR}")
    p.add_argument("--docs", type=Path, default=None, help=f"docs page to update (default {common.DOCS_PATH})")
    p.add_argument("--docs-only", action="store_true", help="only regenerate the docs section from the JSON")
    args = p.parse_args(argv)
    if args.k is None:
        args.k = 4 if args.quick else 1000
    if args.quick:
        args.max_images = args.max_images or 64
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results_dir, docs, scratch = common.output_places(args)
    args.runs = args.runs or (scratch / "runs" if scratch else RUNS)
    if args.docs_only:
        return common.rebuild_docs_section(NAME, render, results_dir, docs)
    command = common.command_line([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    date = common.utc_now()
    from latentforge import api

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for key in args.models:
        run_dir = train_or_reuse(key, args)
        model = api.load(run_dir, device=args.device)
        rows.append(measure(key, run_dir, model, args))
        save_figures(key, run_dir, model, docs)
        print(f"{key}: NLL {rows[-1]['nll']:.2f} nats on {rows[-1]['test_images']} images (k={args.k})")
    by_key = {row["model"]: row for row in rows}
    summary = {"nll_conv_vae": by_key.get("conv_vae", {}).get("nll"),
               "nll_hierarchical_vae": by_key.get("hierarchical_vae", {}).get("nll"),
               "k": args.k, "test_images": min(row["test_images"] for row in rows),
               "whole_test_set": all(row["whole_test_set"] for row in rows),
               "target_conv_vae": MODELS["conv_vae"][1], "target_hierarchical_vae": MODELS["hierarchical_vae"][1]}
    result = common.make_result(NAME, summary=summary, rows=rows, threads=torch.get_num_threads(), date=date,
                                command=command)
    path = common.write_result(result, results_dir)
    common.write_docs_section(NAME, render(result), docs)
    print(f"wrote {path} and {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
