"""GANs on Fashion-MNIST: fid-lenet, kid-lenet and precision/recall of DCGAN, WGAN-GP, SNGAN and a
projection cGAN, each trained to a stated budget, against the conv VAE of the foundation issue.

Every GAN is trained with ``latentforge.train`` exactly as

    latentforge train --model M --data fashion-mnist --data-dir DIR --epochs 3 --batch-size 64 --seed 0 \\
        --set train.threads=1 --out runs/bench/gan_fashion/M --no-progress

into ``runs/bench/gan_fashion/M``. A run found there is reused when its training record says it reached
the configured epochs, resumed (``resume=True``) when it stopped early, and trained when it is missing; a
run folder written to in the last few minutes and not finished is taken for a training in progress and left
alone. The VAE baseline is ``--vae-run`` (trained there, 10 epochs, batch 128, if it is missing).

Each model then gets ``sample_quality`` (``--samples`` generated images against the 10,000 test images, in
the feature space of the LeNet classifier trained on Fashion-MNIST and cached once per dataset) and a
seeded 8×8 grid of samples (the cGAN: one row per class) in ``docs/images/gan_fashion/``. The headline is
the best GAN's fid-lenet over the VAE's (the issue's target: ≤ 0.5) and the real-vs-real floor.

    python benchmarks/gan_fashion.py --vae-run /tmp/fashion   # full run: writes benchmarks/results/ and docs/
    python benchmarks/gan_fashion.py --quick       # smoke check: tiny data, 64 samples, output in a temp folder
    python benchmarks/gan_fashion.py --docs-only   # regenerate the docs section from the JSON
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

import common

NAME = "gan_fashion"
DATA = "fashion-mnist"
GANS: dict[str, str] = {  # model → the paper it follows (details in the model's module docstring)
    "dcgan": "DCGAN (Radford et al., 2016)",
    "wgan-gp": "WGAN-GP (Gulrajani et al., 2017)",
    "sngan": "SNGAN (Miyato et al., 2018)",
    "cgan": "projection cGAN (Miyato & Koyama, 2018)",
}
VAE = "vae"
VAE_PAPER = "conv VAE (Kingma & Welling, 2014)"
TARGET_RATIO = 0.5  # the issue: best GAN fid-lenet ≤ 0.5 × the VAE's
BUSY_SECONDS = 300  # an unfinished run written to more recently than this is taken to be training right now
RUNS_DIR = common.ROOT / "runs" / "bench" / NAME
GRID_SUBDIR = Path("images") / NAME  # relative to the docs page
CLASSES = 10
SLOWED = 0.75  # a run whose mean training images/s fall below this share of its median was slowed by other work
SOURCE_RECORD = "training.json train_seconds (wall seconds across resumes, evaluation and checkpoints included)"
SOURCE_METRICS = ("metrics.jsonl: the sum over train events of images since the previous event / images_per_s "
                  "(the Trainer's own timer; training steps only, evaluation and checkpoint writes excluded)")


def rel(path: Path) -> str:
    """A path as a reader would type it from the repository root."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(common.ROOT))
    except ValueError:
        return str(path)


# -- runs: reuse, resume or train ------------------------------------------------------------------
def train_spec(model: str, args: argparse.Namespace, *, epochs: int, batch_size: int) -> dict[str, Any]:
    """What the run must have been trained with (the CLI command of the module docstring)."""
    return {"model": model, "data": args.data, "data_dir": args.data_dir, "epochs": epochs,
            "batch_size": batch_size, "seed": args.seed, "threads": args.threads}


def train_command(spec: dict[str, Any], out: Path, max_steps: int | None = None) -> str:
    """The ``latentforge train`` command that makes (or made) this run."""
    cmd = ["latentforge", "train", "--model", spec["model"], "--data", spec["data"]]
    if spec.get("data_dir"):
        cmd += ["--data-dir", str(spec["data_dir"])]
    cmd += ["--epochs", str(spec["epochs"]), "--batch-size", str(spec["batch_size"]), "--seed", str(spec["seed"])]
    if spec.get("threads"):
        cmd += ["--set", f"train.threads={spec['threads']}"]
    if max_steps:
        cmd += ["--max-steps", str(max_steps)]
    cmd += ["--out", rel(out), "--no-progress"]
    prefix = f"OMP_NUM_THREADS={spec['threads']} " if spec.get("threads") else ""
    return prefix + shlex.join(cmd)


def run_recipe(run_dir: Path) -> dict[str, Any]:
    """What the run says it is: its training record (written with each checkpoint), else its run.yaml."""
    record = common.run_record(run_dir)
    if record:
        return {"model": record.get("model"), "data": (record.get("data") or {}).get("name"),
                "train": record.get("train") or {}}
    if (run_dir / "run.yaml").is_file():
        values = yaml.safe_load((run_dir / "run.yaml").read_text(encoding="utf-8")) or {}
        return {"model": (values.get("model") or {}).get("name"), "data": (values.get("data") or {}).get("name"),
                "train": values.get("train") or {}}
    return {}


def last_write_age(run_dir: Path) -> float | None:
    """Seconds since anything in the run folder (or its model/) was last written."""
    paths = [p for p in (run_dir / "metrics.jsonl", run_dir / "run.yaml", run_dir / "model") if p.exists()]
    paths += [p for p in (run_dir / "model").glob("*")] if (run_dir / "model").is_dir() else []
    paths += [p for p in run_dir.glob(".model.*")]  # a checkpoint being written
    if not paths:
        return None
    return time.time() - max(p.stat().st_mtime for p in paths)


def check_recipe(run_dir: Path, spec: dict[str, Any], strict: bool) -> None:
    """Refuse a run that was trained with other settings than the benchmark states (``strict``: epochs,
    batch size and seed too; the VAE baseline is only checked for model and data)."""
    found = run_recipe(run_dir)
    if not found:
        return
    train = found["train"]
    wanted = {"model": spec["model"], "data": spec["data"]}
    seen = {"model": found.get("model"), "data": found.get("data")}
    if strict:
        wanted.update(epochs=spec["epochs"], batch_size=spec["batch_size"], seed=spec["seed"])
        seen.update(epochs=train.get("epochs"), batch_size=train.get("batch_size"), seed=train.get("seed"))
    wrong = {k: (seen[k], v) for k, v in wanted.items() if seen[k] != v}
    if wrong:
        what = ", ".join(f"{k} {a!r} (wanted {b!r})" for k, (a, b) in wrong.items())
        raise SystemExit(f"{rel(run_dir)} holds a run with {what}. Move it away or pass another folder.")


def preflight(run_dir: Path, spec: dict[str, Any], args: argparse.Namespace, strict: bool) -> bool:
    """True when the run is finished; raises SystemExit when it must not or cannot be trained now."""
    check_recipe(run_dir, spec, strict)
    if common.run_finished(common.run_record(run_dir)):
        return True
    age = last_write_age(run_dir) if run_dir.exists() else None
    if age is not None and age < BUSY_SECONDS and not args.ignore_busy:
        raise SystemExit(f"{rel(run_dir)} is not finished and was written to {age:.0f} s ago: it looks like it is "
                         f"being trained right now. Wait until it finishes (or pass --ignore-busy).")
    if args.no_train:
        raise SystemExit(f"{rel(run_dir)} has no finished run and --no-train was given.")
    return False


def ensure_run(run_dir: Path, spec: dict[str, Any], args: argparse.Namespace, *, strict: bool = True) -> dict[str, Any]:
    """Reuse, resume or train the run in ``run_dir``; returns how, and the wall seconds this call trained."""
    from latentforge.api import can_resume, train

    if preflight(run_dir, spec, args, strict):
        common.log(f"{spec['model']}: reusing the finished run in {rel(run_dir)}")
        return {"status": "reused", "trained_seconds_now": None}
    resume = can_resume(run_dir)
    if not resume:
        # Stopped before its first checkpoint: start again, without the records of the lost attempt.
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    status = "resumed" if resume else "trained"
    common.log(f"{spec['model']}: {'resuming the unfinished run' if resume else 'training'} in {rel(run_dir)}: "
               f"{train_command(spec, run_dir)}{' --resume' if resume else ''}")
    start = time.perf_counter()
    if resume:
        train(out=run_dir, resume=True, progress=False)
    else:
        train(model=spec["model"], data=spec["data"], data_dir=spec["data_dir"], epochs=spec["epochs"],
              batch_size=spec["batch_size"], seed=spec["seed"], overrides={"train.threads": spec["threads"]},
              out=run_dir, progress=False)
    seconds = time.perf_counter() - start
    if not common.run_finished(common.run_record(run_dir)):
        raise SystemExit(f"{rel(run_dir)} did not reach its epochs after training; see its metrics.jsonl.")
    return {"status": status, "trained_seconds_now": round(seconds, 1)}


def train_seconds_from_metrics(history: list[dict[str, Any]], train_images: int, batch_size: int) -> tuple[float, int]:
    """Training seconds and images seen, from the Trainer's train events: each covers the steps since the
    previous one (every epoch's last step is logged, and its batch may be short)."""
    spe = math.ceil(train_images / batch_size)
    short = spe * batch_size - train_images  # images missing from each epoch's last batch
    seconds, images, previous = 0.0, 0, 0
    for event in history:
        if event.get("event") != "train":
            continue
        step = int(event["step"])
        n = (step - previous) * batch_size - short * (step // spe - previous // spe)
        if event.get("images_per_s"):
            seconds += n / float(event["images_per_s"])
            images += n
        previous = step
    return seconds, images


def median_rate(history: list[dict[str, Any]]) -> float | None:
    """Median images/s over train events: what the run trained at when nothing else slowed it."""
    rates = [float(e["images_per_s"]) for e in history if e.get("event") == "train" and e.get("images_per_s")]
    return round(common.median(rates), 1) if rates else None


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Trained parameters (a GAN's generator and discriminator, not its weight-averaged generator copy)."""
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    if hasattr(model, "generator") and hasattr(model, "discriminator"):
        g, d = count(model.generator), count(model.discriminator)
        return {"params": g + d, "params_generator": g, "params_discriminator": d}
    return {"params": count(model), "params_generator": count(model.decoder) if hasattr(model, "decoder") else None,
            "params_discriminator": None}


# -- evaluation -----------------------------------------------------------------------------------
def evaluate_run(name: str, paper: str, run_dir: Path, how: dict[str, Any], args: argparse.Namespace,
                 grid_dir: Path, docs_dir: Path) -> dict[str, Any]:
    from latentforge.api import load
    from latentforge.jobs.evaluate import sample_quality
    from latentforge.training import read_metrics

    model = load(run_dir)
    record = common.run_record(run_dir)
    cfg = record.get("train") or {}
    history = read_metrics(run_dir / "metrics.jsonl")
    seconds, images = train_seconds_from_metrics(history, int(record["train_images"]), int(cfg["batch_size"]))
    common.log(f"{name}: sample quality from {args.samples} samples")
    start = time.perf_counter()
    q = sample_quality(model, args.data, n=args.samples, data_dir=args.data_dir, seed=args.seed,
                       cache_dir=args.extractor_cache)
    eval_seconds = time.perf_counter() - start
    grid = common.save_sample_grid(model, grid_dir / f"{name}.png", args.seed)
    n_critic = getattr(model.config, "n_critic", None)
    row = {
        "model": name,
        "kind": "vae" if name == VAE else "gan",
        "paper": paper,
        **parameter_counts(model),
        "epochs": record.get("epochs_completed"),
        "steps": record.get("steps"),
        "n_critic": n_critic,
        "generator_steps": record.get("steps") // n_critic if n_critic else None,
        "batch_size": cfg.get("batch_size"),
        "train_seconds": round(float(record["train_seconds"]), 1) if record.get("train_seconds") else round(seconds, 1),
        "train_seconds_source": "record" if record.get("train_seconds") else "metrics",
        "train_seconds_metrics": round(seconds, 1),
        "train_images_seen": images,
        "train_images_per_s": round(images / seconds, 1) if seconds else None,
        "train_images_per_s_median": median_rate(history),
        "train_threads": cfg.get("threads"),
        "run_status": how["status"],
        "trained_seconds_this_invocation": how["trained_seconds_now"],
        "fid_lenet": q["fid-lenet"],
        "kid_lenet": q["kid-lenet"],
        "kid_std": q["kid-lenet_std"],
        "precision": q["precision"],
        "recall": q["recall"],
        "fid_floor": q["fid_floor"],
        "fid_ratio_vs_vae": None,  # filled in once the VAE's figure is known
        "samples": q["n"],
        "real_images": q["n_real"],
        "eval_seconds": round(eval_seconds, 1),
        "grid": Path(grid).resolve().relative_to(docs_dir.resolve()).as_posix(),
        "run_dir": rel(run_dir),
        "train_command": train_command({"model": record.get("model", name), "data": record["data"]["name"],
                                        "data_dir": record["data"].get("data_dir"), "epochs": cfg.get("epochs"),
                                        "batch_size": cfg.get("batch_size"), "seed": cfg.get("seed"),
                                        "threads": cfg.get("threads")}, run_dir),
        "extractor_accuracy": q["extractor_accuracy"],
    }
    common.log(f"{name}: fid-lenet {row['fid_lenet']:.3f}, kid-lenet {row['kid_lenet']:.4f} ± {row['kid_std']:.4f}, "
               f"precision {row['precision']:.3f}, recall {row['recall']:.3f} ({eval_seconds:.0f} s)")
    return row


def classifier_accuracy(dataset: str, data_dir: str | None, *, build: bool) -> float | None:
    """The cached LeNet's recorded test accuracy; ``build``: train and cache it first if there is none."""
    from latentforge.errors import CheckpointError
    from latentforge.jobs.evaluate.features import (
        extractor_dir,
        get_extractor,
        load_extractor,
    )

    if build:
        return get_extractor(dataset, (1, 28, 28), data_dir=data_dir).accuracy
    folder = extractor_dir(dataset, (1, 28, 28))
    try:
        return load_extractor(folder).accuracy if (folder / "info.json").is_file() else None
    except CheckpointError:
        return None


def summarize(rows: list[dict[str, Any]], acc_mnist: float | None, acc_fashion: float | None,
              budget_epochs: int) -> dict[str, Any]:
    vae = next(r for r in rows if r["kind"] == "vae")
    gans = [r for r in rows if r["kind"] == "gan"]
    common_budget = [r for r in gans if r["epochs"] == budget_epochs]
    best_common = min(common_budget, key=lambda r: r["fid_lenet"]) if common_budget else None
    for r in rows:
        r["fid_ratio_vs_vae"] = round(r["fid_lenet"] / vae["fid_lenet"], 4)
    best = min(gans, key=lambda r: r["fid_lenet"])
    floors = {round(r["fid_floor"], 9) for r in rows}
    if len(floors) != 1:  # same seed and n for every model: the floor must come out the same each time
        common.log(f"warning: fid_floor differs between models: {sorted(floors)}")
    ratio = best["fid_lenet"] / vae["fid_lenet"]
    return {
        "fid_floor": rows[0]["fid_floor"],
        "fid_best_gan": best["fid_lenet"],
        "best_gan": best["model"],
        "fid_vae": vae["fid_lenet"],
        "best_gan_vs_vae": round(ratio, 4),
        "target_best_gan_vs_vae": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        "gans_meeting_target": [r["model"] for r in gans if r["fid_ratio_vs_vae"] <= TARGET_RATIO],
        "best_gan_epochs": best["epochs"],
        "common_budget_epochs": budget_epochs,
        "best_gan_at_common_budget": best_common and best_common["model"],
        "fid_best_gan_at_common_budget": best_common and best_common["fid_lenet"],
        "best_gan_at_common_budget_vs_vae": best_common and round(best_common["fid_lenet"] / vae["fid_lenet"], 4),
        "kid_best_gan": best["kid_lenet"],
        "kid_vae": vae["kid_lenet"],
        "classifier_acc_mnist": acc_mnist,
        "classifier_acc_fashion": acc_fashion,
        "samples": rows[0]["samples"],
    }


# -- the docs section -----------------------------------------------------------------------------
def plural(n: Any, word: str) -> str:
    return f"{n if n is not None else '?'} {word}{'' if n == 1 else 's'}"


def minutes_note(rows: list[dict[str, Any]]) -> str:
    sources = {r.get("train_seconds_source", "metrics") for r in rows}
    record = "the run's own record of its training wall time (`training.json`, evaluation and checkpoints included)"
    metrics = ("the Trainer's timing of its steps summed from `metrics.jsonl` (evaluation and checkpoint writes "
               "excluded)")
    if sources == {"record"}:
        return f"Training minutes are {record}."
    if sources == {"metrics"}:
        return f"Training minutes are {metrics}."
    which = ", ".join(f"`{r['model']}`" for r in rows if r.get("train_seconds_source") == "record")
    return f"Training minutes are {record} for {which}, and elsewhere {metrics}."


def render(result: dict[str, Any]) -> str:
    s, rows, setup = result["summary"], result["rows"], result.get("setup", {})
    gans = [r for r in rows if r["kind"] == "gan"]
    vae = next((r for r in rows if r["kind"] == "vae"), {})
    budget = setup.get("gan_budget", {})
    floor_ratio = s["fid_best_gan"] / s["fid_floor"] if s.get("fid_floor") else None
    verdict = "meets" if s["meets_target"] else "misses"
    acc = lambda v: "?" if v is None else f"{100 * v:.2f} %"  # noqa: E731
    at_budget = [r for r in gans if r["epochs"] == budget.get("epochs")]
    longer = [r for r in gans if r not in at_budget]
    names = ", ".join(f"`{r['model']}`" for r in at_budget)
    threads = sorted({r.get("train_threads") for r in gans if r.get("train_threads")})
    train_images = setup.get("train_images")
    thread_count = threads[0] if len(threads) == 1 else "/".join(map(str, threads)) or "default"
    description = (
        f"{names} trained on Fashion-MNIST's {f'{train_images:,} ' if train_images else ''}"
        f"training images for {plural(budget.get('epochs'), 'epoch')} in batches of "
        f"{budget.get('batch_size', '?')} "
        f"(seed {budget.get('seed', '?')}, {plural(thread_count, 'torch thread')} "
        "for training, CPU; each model's defaults)"
        + "".join(f"; `{r['model']}` is the same recipe trained for {plural(r['epochs'], 'epoch')}" for r in longer)
        + ", "
        f"against the conv VAE `vae` of the foundation issue ({plural(vae.get('epochs'), 'epoch')}, batch "
        f"{vae.get('batch_size', '?')}, {plural(vae.get('train_threads') or 'default', 'thread')}). "
        f"Each model draws {s['samples']:,} samples, compared with the "
        f"{vae.get('real_images') or 10000:,} test images by `sample_quality`: FID and KID (mean ± std over 100 "
        "subsets of 1,000) and k-NN precision/recall (k = 3) in the 128-d feature space of a LeNet classifier "
        f"trained on the dataset itself and cached (test accuracy {acc(s.get('classifier_acc_fashion'))} on "
        f"Fashion-MNIST; the MNIST one reaches {acc(s.get('classifier_acc_mnist'))}). **fid-lenet is not "
        "Inception FID**: the numbers are not comparable with published FIDs, only with each other (same "
        f"extractor, same n). The floor is the same FID between {s['samples']:,} training images and the test "
        f"images: {s['fid_floor']:.3g}, what perfect samples would score."
    )
    headline = (
        f"**Best GAN: `{s['best_gan']}` with fid-lenet {s['fid_best_gan']:.3g}, {s['best_gan_vs_vae']:.3f}× the "
        f"VAE's {s['fid_vae']:.3g}: it {verdict} the target of ≤ {s.get('target_best_gan_vs_vae', TARGET_RATIO)}× "
        "the VAE.**"
        + (f" It is still {floor_ratio:.1f}× the real-vs-real floor ({s['fid_floor']:.3g})." if floor_ratio else "")
    )
    if s.get("best_gan_at_common_budget") and s["best_gan_at_common_budget"] != s["best_gan"]:
        headline += (f" At the common budget of {plural(s['common_budget_epochs'], 'epoch')} the best GAN is "
                     f"`{s['best_gan_at_common_budget']}` with {s['fid_best_gan_at_common_budget']:.3g}, "
                     f"{s['best_gan_at_common_budget_vs_vae']:.3f}× the VAE's "
                     f"({'meets' if s['best_gan_at_common_budget_vs_vae'] <= TARGET_RATIO else 'misses'} the target).")
    table_rows = [{**r, "params": f"{r['params']:,}", "kid": f"{r['kid_lenet']:.4f} ± {r['kid_std']:.4f}",
                   "minutes": r["train_seconds"] / 60 if r.get("train_seconds") is not None else None}
                  for r in rows]
    table = common.markdown_table(
        table_rows, ["model", "paper", "params", "epochs", "steps", "minutes", "fid_lenet", "fid_ratio_vs_vae",
                     "kid", "precision", "recall"],
        {"params": "parameters (trained)", "minutes": "training min", "fid_lenet": "fid-lenet ↓",
         "fid_ratio_vs_vae": "× VAE fid", "kid": "kid-lenet ± std ↓", "precision": "precision ↑",
         "recall": "recall ↑"})
    critics = [f"`{r['model']}` (one per {r['n_critic']})" for r in gans if (r.get("n_critic") or 1) > 1]
    notes = (
        "Parameters count what is trained (a GAN's generator and discriminator; the weight-averaged copy of the "
        "generator that samples are drawn from is not counted again). A GAN's steps are discriminator steps, "
        "each followed by a generator step" + (", except in " + ", ".join(critics) if critics else "")
        + ". " + minutes_note(rows)
    )
    slowed = [r for r in rows if r.get("train_images_per_s") and r.get("train_images_per_s_median")
              and r["train_images_per_s"] < SLOWED * r["train_images_per_s_median"]]
    if slowed:
        notes += (" Other work on the machine slowed some trainings for a while (mean images/s well below the median "
                  "over logged intervals): " + ", ".join(
                      f"`{r['model']}` {r['train_images_per_s']:.0f} mean vs {r['train_images_per_s_median']:.0f} "
                      "median" for r in slowed) + "; those minutes overstate what the training needs.")
    has_cgan = any(r["model"].startswith("cgan") for r in rows)
    by_class = "; class-conditional rows: one row per class, T-shirt/top to ankle boot" if has_cgan else ""
    grids = (f"Samples (seeded{by_class}):\n\n"
             + "| " + " | ".join(r["model"] for r in rows) + " |\n"
             + "|" + "|".join("---" for _ in rows) + "|\n"
             + "| " + " | ".join(f"![{r['model']} samples]({r['grid']})" for r in rows) + " |")
    commands = "\n".join(r["train_command"] for r in rows)
    reproduce = ("Reproduce (the benchmark reuses finished runs in these folders, resumes stopped ones and trains "
                 "missing ones itself):\n\n```sh\n" + commands + "\n" + result.get("command", "") + "\n```")
    provenance = common.provenance_markdown(result)
    load = result.get("machine", {}).get("load_average")
    if load:
        provenance += f"\n- Load average (1, 5, 15 min) at start {load.get('start')}, at end {load.get('end')}"
    provenance += "\n- Runs: " + "; ".join(f"{r['model']} {r['run_status']} (`{r['run_dir']}`)" for r in rows)
    return "\n\n".join(["## GANs on Fashion-MNIST (`gan_fashion`)", description, headline, table, notes, grids,
                        reproduce, provenance])


# -- quick mode -----------------------------------------------------------------------------------
def quick_dataset(folder: Path, data_dir: str | None) -> tuple[str, str]:
    """A small labelled npz (Fashion-MNIST subset, else synthetic) and what it is."""
    from latentforge.data import load_dataset
    from latentforge.errors import DataError

    n_train, n_test = 640, 320
    try:
        train, test = (load_dataset(DATA, split, data_dir=data_dir) for split in ("train", "test"))
        x_train, y_train = train.images[:n_train].numpy(), train.labels[:n_train].numpy()
        x_test, y_test = test.images[:n_test].numpy(), test.labels[:n_test].numpy()
        what = f"the first {n_train} training and {n_test} test images of {DATA}"
    except DataError:
        rng = np.random.default_rng(0)
        y_train, y_test = rng.integers(0, CLASSES, n_train), rng.integers(0, CLASSES, n_test)
        base = rng.integers(0, 256, (CLASSES, 1, 28, 28))
        x_train, x_test = (np.clip(base[y] + rng.normal(0, 40, (len(y), 1, 28, 28)), 0, 255).astype(np.uint8)
                           for y in (y_train, y_test))
        what = f"{n_train} + {n_test} synthetic labelled images ({DATA} not found)"
    path = folder / "quick.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return f"npz:{path}", what


# -- main -----------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(GANS), help=f"comma-separated GANs (default {','.join(GANS)})")
    p.add_argument("--data-dir", default=None,
                   help="Fashion-MNIST's files (default: latentforge's search: $LATENTFORGE_DATA, the user cache, the "
                        "system dataset folder)")
    p.add_argument("--mnist-data-dir", default=None,
                   help="MNIST's files, for the MNIST extractor's accuracy (only read if it is not cached; default: "
                        "latentforge's search)")
    p.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help=f"GAN run folders (default {rel(RUNS_DIR)})")
    p.add_argument("--vae-run", type=Path, default=None,
                   help=f"the VAE baseline's run folder (default {rel(RUNS_DIR / VAE)}, trained there if missing)")
    p.add_argument("--epochs", type=int, default=None, help="GAN epochs (default 3; --quick 1)")
    p.add_argument("--batch-size", type=int, default=64, help="GAN batch size (default 64)")
    p.add_argument("--longer", action="append", default=[], metavar="MODEL:EPOCHS",
                   help="also a row for MODEL trained EPOCHS epochs (run folder MODEL-EPOCHS-epochs); repeatable")
    p.add_argument("--vae-epochs", type=int, default=None, help="epochs when the VAE must be trained (default 10)")
    p.add_argument("--vae-batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0, help="training, sampling and subset seed (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads for training and evaluation (default 1)")
    p.add_argument("--samples", type=int, default=None, help="generated images per model (default 10000; --quick 64)")
    p.add_argument("--no-train", action="store_true", help="only use finished runs; never train or resume")
    p.add_argument("--ignore-busy", action="store_true",
                   help=f"resume an unfinished run even if it was written to in the last {BUSY_SECONDS} s")
    p.add_argument("--quick", action="store_true",
                   help="smoke check: a small npz subset, 1 epoch, 64 samples; everything in a temp folder")
    common.add_output_arguments(p, f"; grids go to images/{NAME}/ beside it")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in GANS]
    if unknown or not args.models:
        p.error(f"--models: unknown {unknown}; choose from {', '.join(GANS)}")
    common.fill_mode_defaults(args, {"epochs": (3, 1), "vae_epochs": (10, 1), "samples": (10000, 64)})
    common.check_minimums(p, args, {"epochs": 1, "vae_epochs": 1, "batch_size": 1, "vae_batch_size": 1,
                                    "threads": 1, "samples": 2})
    longer = []
    for item in args.longer:
        model, _, epochs = item.partition(":")
        if model not in GANS or not epochs.isdigit() or int(epochs) < 1:
            p.error(f"--longer {item!r}: expected MODEL:EPOCHS with MODEL one of {', '.join(GANS)}, e.g. cgan:6")
        longer.append((model, int(epochs)))
    args.longer = longer
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    command, results_dir, docs, scratch = common.start_run(NAME, render, args, argv, DATA)
    if scratch is not None and args.runs_dir == RUNS_DIR:
        args.runs_dir = scratch / "runs"
    load_start, date = common.load_average(), common.utc_now()
    quick_note = None
    if args.quick:
        # Tiny labelled data in an npz; its LeNet extractor (cheap on 640 images) is cached in the scratch
        # folder, never in ~/.cache. The first GAN is stopped after 3 steps and then resumed, and the VAE is
        # trained before the benchmark looks at it, so that reuse, resume and training all run.
        args.data, quick_note = quick_dataset(scratch, args.data_dir)
        args.data_dir = None
        args.extractor_cache = scratch / "extractors"
        args.ignore_busy = True  # the runs below were written a moment ago, by this process
        from latentforge.api import train

        first = args.models[0]
        train(model=first, data=args.data, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
              overrides={"train.threads": args.threads, "train.max_steps": 3}, out=args.runs_dir / first,
              progress=False)
        if args.vae_run is None:
            args.vae_run = args.runs_dir / VAE
            train(model=VAE, data=args.data, epochs=args.vae_epochs, batch_size=args.vae_batch_size, seed=args.seed,
                  overrides={"train.threads": args.threads}, out=args.vae_run, progress=False)
    vae_run = args.vae_run or args.runs_dir / VAE
    grid_dir = docs.parent / GRID_SUBDIR

    plan = [(model, GANS[model], args.runs_dir / model,
             train_spec(model, args, epochs=args.epochs, batch_size=args.batch_size), True) for model in args.models]
    for model, epochs in args.longer:  # extra rows: one family trained past the common budget
        name = f"{model}-{epochs}-epochs"
        plan.append((name, GANS[model], args.runs_dir / name,
                     train_spec(model, args, epochs=epochs, batch_size=args.batch_size), True))
    plan.append((VAE, VAE_PAPER, vae_run, train_spec(VAE, args, epochs=args.vae_epochs,
                                                    batch_size=args.vae_batch_size), False))
    for _, _, run_dir, spec, strict in plan:  # refuse early, before hours of training or evaluation
        preflight(run_dir, spec, args, strict)
    done = [ensure_run(run_dir, spec, args, strict=strict) for _, _, run_dir, spec, strict in plan]
    torch.set_num_threads(args.threads)  # a resumed run's own setting may have changed it
    rows = [evaluate_run(name, paper, run_dir, how, args, grid_dir, docs.parent)
            for (name, paper, run_dir, _, _), how in zip(plan, done)]

    acc_fashion = classifier_accuracy(DATA, None if args.quick else args.data_dir, build=not args.quick)
    acc_mnist = classifier_accuracy("mnist", args.mnist_data_dir, build=not args.quick)
    summary = summarize(rows, acc_mnist, acc_fashion, args.epochs)
    load_end = common.load_average()
    record = common.run_record(args.runs_dir / args.models[0])
    result = common.make_result(
        NAME, summary=summary, rows=rows, threads=args.threads, date=date, command=command,
        machine_extra={"torch_threads": torch.get_num_threads(),
                       "load_average": {"start": load_start, "end": load_end}},
    )
    result["setup"] = {
        "data": args.data,
        "data_dir": args.data_dir,
        "quick_data": quick_note,
        "train_images": record.get("train_images"),
        "test_images": record.get("test_images"),
        "gan_budget": {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
                       "threads": args.threads, "model_config": "each model's defaults"},
        "vae_run": rel(vae_run),
        "samples": args.samples,
        "seed": args.seed,
        "extractor": "lenet (LeNet classifier trained on the dataset, cached; not Inception)",
        "extractor_accuracy_used": rows[0]["extractor_accuracy"],
        "train_seconds_sources": {"record": SOURCE_RECORD, "metrics": SOURCE_METRICS},
        "grids": f"{GRID_SUBDIR.as_posix()}/<model>.png beside the docs page; 8 columns, seed {args.seed}, "
                 f"cgan one row per class",
        "target": f"best GAN fid-lenet ≤ {TARGET_RATIO} × the VAE's",
    }
    path = common.write_result(result, results_dir)
    common.sync_docs(results_dir, docs, renderers={NAME: render})  # this section, and any result without one
    print(f"floor {summary['fid_floor']:.3f}; best GAN {summary['best_gan']} fid-lenet {summary['fid_best_gan']:.3f}, "
          f"VAE {summary['fid_vae']:.3f}, ratio {summary['best_gan_vs_vae']:.3f} (target ≤ {TARGET_RATIO}: "
          f"{'met' if summary['meets_target'] else 'missed'})")
    print(f"wrote {path}, {docs} and {len(rows)} grids in {grid_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
