"""Test log-likelihood on dynamically binarised MNIST: the single-latent conv VAE and the hierarchical VAE.

The protocol of the literature (Burda et al., 2016; Sønderby et al., 2016): training pixels are drawn
as Bernoulli(grey level) afresh every time an image is seen, the test split is binarised once with a fixed
seed, and the NLL is the importance-sampled estimate −log (1/k) Σ p(x, z_i)/q(z_i|x) with k = 1000 on
the whole test set, in nats per image. Each model trains from its presets in turn, each stage starting from
the weights of the one before (the conv VAE: ``vae-mnist-nll`` on the ELBO, then on the IWAE bound with
k = 5, ``iwae-mnist-nll``, two epochs with k = 50, ``iwae50-mnist-nll`` run twice in turn, and four
more, each a warm restart with weight averaging, ``iwae50ema-mnist-nll`` run four times in turn; the
hierarchical VAE: ``hvae-mnist``), into ``runs/bench/nll_mnist/<model>[_<stage>]/``; a finished run there
is reused and an unfinished one resumed, and the NLL estimate is saved in shards of 500 test images
(``<run>/nll/``, reused only for the same weights), so the script can be stopped and started again at any
point.
Training time is the sum of the runs' own records (wall seconds across resumes, evaluation included).

    python benchmarks/nll_mnist.py --data-dir DIR/mnist                         # both models, full protocol
    python benchmarks/nll_mnist.py --data-dir ... --models conv_vae --device cuda
    python benchmarks/nll_mnist.py --quick                                       # smoke check on mnist-5k
    python benchmarks/nll_mnist.py --docs-only
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import torch

import common

NAME = "nll_mnist"
RUNS = common.ROOT / "runs" / "bench" / NAME


@dataclasses.dataclass(frozen=True)
class Entry:
    stages: tuple[str, ...]  # presets trained in turn, each from the weights of the stage before
    target: float  # NLL in nats the issue asks for
    what: str

    @property
    def preset(self) -> str:
        return " → ".join(self.stages)


MODELS = {
    "conv_vae": Entry(("vae-mnist-nll", "iwae-mnist-nll") + ("iwae50-mnist-nll",) * 2 + ("iwae50ema-mnist-nll",) * 4,
                      82.0,
                      "single-latent residual conv VAE, 32-d latent; ELBO, then fine-tuned on the IWAE bound, "
                      "k = 5, then six epochs with k = 50, the last four with weight averaging"),
    "hierarchical_vae": Entry(("hvae-mnist",), 79.5, "hierarchical VAE, 6 stochastic layers at 7×7 and 14×14"),
}
NLL_SEED = 0  # binarises the test split once and seeds the importance samples; part of a saved shard's key
FIGURES = Path("images") / NAME  # relative to the docs page: <model>-samples.png and <model>-curves.png
REFERENCES = ("VAE 86.76 and IWAE (k=50) 84.78 with one stochastic layer (Burda et al., 2016); "
              "ladder VAEs about 79–80 (Sønderby et al., 2016); NVAE 78.0 (Vahdat & Kautz, 2020)")


def stage_dirs(key: str, runs: Path) -> list[Path]:
    """One run folder per stage: ``<key>`` for the first, ``<key>_<model of the preset>`` after it, and
    ``_<n>`` added when a preset is repeated (another pass of the same recipe from the last one's weights)."""
    stages = MODELS[key].stages
    dirs = [runs / key]
    for i, preset in enumerate(stages[1:], start=1):
        repeat = stages[1:i].count(preset) + 1
        dirs.append(runs / f"{key}_{preset.split('-')[0]}{'' if repeat == 1 else f'_{repeat}'}")
    return dirs


def train_or_reuse(key: str, args) -> list[Path]:
    """Train (or reuse, or resume) every stage of ``key``; returns the stage run folders in order."""
    from latentforge import api

    dirs = stage_dirs(key, args.runs)
    for i, (preset, run_dir) in enumerate(zip(MODELS[key].stages, dirs)):
        if common.run_finished(common.run_record(run_dir)):
            print(f"{key}: reusing the finished {preset} run in {run_dir}", file=sys.stderr)
            continue
        resume = (run_dir / "model").is_dir()
        overrides = {"train.device": args.device, "data.data_dir": args.data_dir, "train.threads": args.threads,
                     "train.init_from": str(dirs[i - 1]) if i else None}
        if args.epochs:
            overrides["train.epochs"] = args.epochs
        if args.quick:
            overrides.update({"data.name": "mnist-5k", "train.epochs": 1, "train.max_steps": 5})
        overrides = {k: v for k, v in overrides.items() if v is not None}
        print(f"{key}: {'resuming' if resume else 'training'} {preset} in {run_dir}", file=sys.stderr)
        api.train(config=None if resume else preset, out=run_dir, overrides=None if resume else overrides,
                  resume=resume, progress=args.progress)
    return dirs


def measure(key: str, dirs: list[Path], model, args) -> dict[str, Any]:
    """The NLL of the last stage's model, with the training cost of all stages."""
    from latentforge import api
    from latentforge.data import load_dataset

    records = [api.training_record(run_dir) for run_dir in dirs]
    record = records[-1]
    data = record.get("data") or {}
    test = load_dataset(data.get("name", "mnist"), "test", data_dir=data.get("data_dir") or args.data_dir)
    found = sharded_nll(model, test, dirs[-1], args)
    entry = MODELS[key]
    train = record.get("train", {})
    stages = [{"preset": preset, "model": r.get("model"), "epochs": r.get("epochs_completed"), "steps": r.get("steps"),
               "train_seconds": r.get("train_seconds")} for preset, r in zip(entry.stages, records)]
    return {"model": key, "what": entry.what, "preset": entry.preset, "name": record.get("model"),
            "parameters": sum(p.numel() for p in model.parameters()),
            "epochs": " + ".join(str(stage["epochs"]) for stage in stages),
            "steps": sum(int(stage["steps"] or 0) for stage in stages),
            "train_seconds": round(sum(float(stage["train_seconds"] or 0) for stage in stages), 1),
            "train_device": record.get("device") or train.get("device"), "stages": stages,
            "nll": round(found["nll"], 3), "target": entry.target,
            "met": found["nll"] <= entry.target and found["images"] == len(test),
            "nll_bits_per_dim": round(found["nll_bits_per_dim"], 5), "elbo": round(found["elbo"], 3),
            "kl": round(found["kl"], 3), "active_units": found.get("active_units"),
            "latent_dims": found.get("latent_dims"), "k": found["k"], "test_images": found["images"],
            "whole_test_set": found["images"] == len(test), "nll_seconds": round(found["seconds"], 1),
            "nll_device": str(args.device)}


def sharded_nll(model, test, run_dir: Path, args) -> dict[str, Any]:
    """The NLL estimate in shards of ``--shard-images`` images, each kept in ``<run>/nll/`` once done, so a
    stopped estimate (hours on a CPU) goes on where it stopped. A shard is reused only for the same weights,
    k, seed and image range."""
    import hashlib

    from latentforge.io import atomic_write_bytes
    from latentforge.jobs.evaluate import importance_sampled_nll, merge_shards

    total = len(test) if args.max_images is None else min(args.max_images, len(test))
    weights = hashlib.sha256((run_dir / "model" / "model.safetensors").read_bytes()).hexdigest()
    shards = []
    for start in range(0, total, args.shard_images):
        end = min(total, start + args.shard_images)
        path = run_dir / "nll" / f"k{args.k}-{start:05d}-{end:05d}.json"
        key = {"weights_sha256": weights, "k": args.k, "seed": NLL_SEED, "start": start, "end": end}
        saved = json.loads(path.read_text()) if path.is_file() else {}
        if saved.get("key") != key:
            found = importance_sampled_nll(model, test, k=args.k, max_images=end, start=start, binarize=True,
                                           seed=NLL_SEED, batch_size=args.nll_batch_size, progress=args.progress)
            saved = {"key": key, "result": found}
            atomic_write_bytes(path, (json.dumps(saved) + "\n").encode("utf-8"))
            print(f"  NLL of images {start}–{end}: {found['nll']:.3f} nats ({found['seconds']:.0f} s)",
                  file=sys.stderr)
        shards.append(saved["result"])
    return merge_shards(shards, test.shape)


def save_figures(key: str, dirs: list[Path], model, docs: Path, seed: int = 0) -> None:
    """Seeded prior samples (Bernoulli means) and the training curves of all stages, beside the docs page."""
    from latentforge.jobs.report import plot_curves

    folder = docs.parent / FIGURES
    common.save_sample_grid(model, folder / f"{key}-samples.png", seed)
    plot_curves(stage_history(dirs), folder / f"{key}-curves.png")


def stage_history(dirs: list[Path]) -> list[dict[str, Any]]:
    """The metrics records of the stages end to end, each stage's steps counted on from the last one's."""
    from latentforge.training import read_metrics

    history: list[dict[str, Any]] = []
    offset = 0
    for run_dir in dirs:
        records = [{**r, "step": r["step"] + offset} if "step" in r else r
                   for r in read_metrics(run_dir / "metrics.jsonl")]
        history += records
        offset = max((r["step"] for r in records if "step" in r), default=offset)
    return history


def kept_rows(results_dir: Path, measured: list[str]) -> list[dict[str, Any]]:
    """Rows of the models not measured now, from the last result file, so that measuring one model (hours on a
    CPU) does not drop the other's figure; each keeps the date and command it was measured with."""
    if not common.result_path(NAME, results_dir).is_file():
        return []
    last = common.read_result(NAME, results_dir)
    return [{"measured_at": last.get("date"), "command": last.get("command"), **row} for row in last.get("rows", [])
            if row.get("model") in MODELS and row.get("model") not in measured]


def render(result: dict[str, Any]) -> str:
    rows = result["rows"]
    lines = ["## Likelihood on dynamically binarised MNIST (`nll_mnist`)", __doc__.split("\n\n")[1].strip()]
    for row in rows:
        scope = "the whole test set" if row["whole_test_set"] else f"**only {row['test_images']} test images**"
        lines.append(f"- **{row['model']}** ({row['what']}): NLL **{row['nll']:.2f} nats** "
                     f"({row['nll_bits_per_dim']:.4f} bits/dim), k = {row['k']} on {scope}; target ≤ "
                     f"{row['target']}: {'met' if row['met'] else '**not met**'}. Trained {row['epochs']} epochs "
                     f"({row['steps']} steps) in "
                     f"{common.format_value(row['train_seconds'])} s on "
                     f"{row['train_device']}." + (f" Measured {row['measured_at']}: `{row['command']}`."
                                                  if len({r.get('measured_at') for r in rows}) > 1 else ""))
    measured = {row["model"] for row in rows}
    for key, entry in MODELS.items():
        if key not in measured:
            lines.append(f"- **{key}** ({entry.what}, preset `{entry.preset}`): **not measured in this run**; "
                         f"target ≤ {entry.target} not shown.")
    lines.append(common.markdown_table(rows, ["model", "preset", "parameters", "epochs", "train_seconds", "nll",
                                              "elbo", "kl", "active_units", "k", "test_images", "nll_seconds"],
                                       {"train_seconds": "train s", "nll": "NLL (nats)", "elbo": "ELBO (nats)",
                                        "kl": "KL (nats)", "active_units": "active units",
                                        "test_images": "test images", "nll_seconds": "NLL s"},
                                       digits=4))  # NLLs differ in the second decimal
    lines.append(f"For reference: {REFERENCES}.")
    if rows:
        lines.append("Samples from the prior (Bernoulli means, seed 0) and training curves, stages end to end (test "
                     "points are the loss on the once-binarised test split: the −ELBO, and −L_k in an IWAE "
                     "stage):\n\n"
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
    p.add_argument("--shard-images", type=int, default=500,
                   help="test images per saved piece of the NLL estimate (a stopped estimate resumes)")
    p.add_argument("--runs", type=Path, default=None, help=f"run folders (default {RUNS})")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke check: mnist-5k, 1 epoch, k=4, 64 images, temp folder")
    common.add_output_arguments(p)
    args = p.parse_args(argv)
    common.fill_mode_defaults(args, {"k": (1000, 4)})
    if args.quick:
        args.max_images = args.max_images or 64
    common.check_minimums(p, args, {"k": 1, "nll_batch_size": 1, "shard_images": 1})
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results_dir, docs, scratch = common.places_or_docs_only(NAME, render, args)
    args.runs = args.runs or (scratch / "runs" if scratch else RUNS)
    command = common.script_command(argv)
    date = common.utc_now()
    from latentforge import api

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for key in args.models:
        dirs = train_or_reuse(key, args)
        model = api.load(dirs[-1], device=args.device)
        rows.append(measure(key, dirs, model, args))
        save_figures(key, dirs, model, docs)
        print(f"{key}: NLL {rows[-1]['nll']:.2f} nats on {rows[-1]['test_images']} images (k={args.k})")
    for row in rows:
        row.update(measured_at=date, command=command)
    rows = sorted(kept_rows(results_dir, args.models) + rows, key=lambda row: list(MODELS).index(row["model"]))
    by_key = {row["model"]: row for row in rows}
    summary = {"nll_conv_vae": by_key.get("conv_vae", {}).get("nll"),
               "nll_hierarchical_vae": by_key.get("hierarchical_vae", {}).get("nll"),
               "k": min(row["k"] for row in rows), "test_images": min(row["test_images"] for row in rows),
               "whole_test_set": all(row["whole_test_set"] for row in rows),
               "target_conv_vae": MODELS["conv_vae"].target,
               "target_hierarchical_vae": MODELS["hierarchical_vae"].target}
    result = common.make_result(NAME, summary=summary, rows=rows, threads=torch.get_num_threads(), date=date,
                                command=command)
    common.publish(NAME, result, render, results_dir, docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
