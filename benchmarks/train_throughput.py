"""Training throughput: images/s of ``Trainer.fit()`` against a hand-written PyTorch loop, in one run.

Both train the default conv VAE (``build_model("vae")``, 1×28×28) with Adam on mnist-5k's 4,000 training
digits in batches of 128, on ``--threads`` CPU threads, each from a freshly built model with the same
seed. "ours" is the whole ``Trainer.fit()`` call timed wall-clock, so batching, the learning-rate
schedule, gradient clipping, the NaN checks, metric logging and the final checkpoint write all count.
The plain loop is what a user would write by hand (randperm, index a uint8 tensor, ``.float()/255``,
``objective → zero_grad → backward → step``), once in contiguous memory format and once in channels_last,
the format the Trainer uses by default: ours / plain channels_last isolates the framework's overhead
(the issue aims at ≥ 0.95); ours / plain contiguous shows what the default buys a user.

Every contestant first runs ``--warmup`` untimed steps; then ``--repeats`` rounds run every contestant
once, the order rotating by one each round, and the summary uses medians, so drift on a shared machine
hits all alike. The Trainer with its progress bar on is timed once, in the middle round.

    python benchmarks/train_throughput.py            # full run: writes benchmarks/results/ and docs/
    python benchmarks/train_throughput.py --quick    # smoke check: a few steps, output in a temp folder
    python benchmarks/train_throughput.py --docs-only  # regenerate the docs section from the JSON
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import common

NAME = "train_throughput"
MODEL = "vae"
IMAGE_SHAPE = (1, 28, 28)
LR = 1e-3
CONTENDED = 0.75  # a run whose CPU seconds per wall second fall below this share of its threads was crowded out


@dataclass(frozen=True)
class Contestant:
    key: str
    runner: str  # "trainer" or "plain"
    channels_last: bool
    progress: bool = False

    @property
    def memory_format(self) -> str:
        return "channels_last" if self.channels_last else "contiguous"

    @property
    def label(self) -> str:
        if self.runner == "trainer":
            return "Trainer.fit()" + (" + progress bar" if self.progress else "")
        return "plain PyTorch loop"


OURS = Contestant("ours", "trainer", channels_last=True)
OURS_CONTIGUOUS = Contestant("ours_contiguous", "trainer", channels_last=False)
OURS_PROGRESS = Contestant("ours_progress_bar", "trainer", channels_last=True, progress=True)
PLAIN = Contestant("plain_channels_last", "plain", channels_last=True)
PLAIN_CONTIGUOUS = Contestant("plain_contiguous", "plain", channels_last=False)
ROUND = [OURS, PLAIN, OURS_CONTIGUOUS, PLAIN_CONTIGUOUS]  # rotated by one each repeat


def images_in_steps(n: int, batch_size: int, steps: int) -> int:
    """Images seen in ``steps`` steps over epochs of ``n`` items whose last batch may be short."""
    per_epoch = math.ceil(n / batch_size)
    full, rest = divmod(steps, per_epoch)
    return full * n + min(n, rest * batch_size)


def fresh_model(seed: int, channels_last: bool) -> torch.nn.Module:
    from latentforge.models import build_model

    torch.manual_seed(seed)
    model = build_model(MODEL, {"image_shape": IMAGE_SHAPE})
    return model.to(memory_format=torch.channels_last) if channels_last else model


def time_trainer(ds, c: Contestant, steps: int, batch_size: int, seed: int, threads: int) -> tuple[float, float]:
    """Wall and CPU seconds of one ``Trainer.fit()`` that stops at ``steps`` via ``max_steps``."""
    from latentforge.training import TrainConfig, Trainer

    per_epoch = math.ceil(len(ds) / batch_size)
    # More epochs than needed, so that max_steps (not the last epoch) ends the run: no end-of-training
    # pass over the data, just the checkpoint that any stopped run writes. Eval is off (no test split).
    config = TrainConfig(epochs=steps // per_epoch + 2, batch_size=batch_size, lr=LR, max_steps=steps,
                         eval_every=0, channels_last=c.channels_last, threads=threads, seed=seed, device="cpu")
    model = fresh_model(seed, channels_last=False)  # the Trainer converts it itself
    with tempfile.TemporaryDirectory(prefix="latentforge-bench-") as tmp:
        trainer = Trainer(model, ds, None, config, Path(tmp) / "run", progress=c.progress)
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.fit()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if trainer.step != steps:
            raise RuntimeError(f"Trainer stopped at step {trainer.step}, expected {steps}")
    return wall, cpu


def time_plain(ds, c: Contestant, steps: int, batch_size: int, seed: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``steps`` steps of the loop a user would write by hand."""
    model = fresh_model(seed, c.channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    images = ds.images  # uint8 N×1×28×28
    n = len(images)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    done = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while done < steps:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            if done == steps:
                break
            x = images[perm[i:i + batch_size]].float() / 255
            if c.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            loss = model((x, None), done)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
    return time.perf_counter() - wall, time.process_time() - cpu


def run_one(ds, c: Contestant, steps: int, args) -> tuple[float, float]:
    if c.runner == "trainer":
        return time_trainer(ds, c, steps, args.batch_size, args.seed, args.threads)
    return time_plain(ds, c, steps, args.batch_size, args.seed)


def measure(ds, args) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    for c in ROUND if args.warmup else []:
        common.log(f"warm-up {c.key}: {args.warmup} steps")
        run_one(ds, c, args.warmup, args)
    images = images_in_steps(len(ds), args.batch_size, args.steps)
    rows: list[dict[str, Any]] = []
    for r in range(args.repeats):
        order = ROUND[r % len(ROUND):] + ROUND[:r % len(ROUND)]
        if r == args.repeats // 2:
            order = order + [OURS_PROGRESS]
        for c in order:
            load = common.load_average()
            wall, cpu = run_one(ds, c, args.steps, args)
            row = {"contestant": c.key, "runner": c.label, "memory_format": c.memory_format,
                   "progress_bar": c.progress, "repeat": r + 1, "steps": args.steps, "images": images,
                   "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
                   "cpu_per_wall": round(cpu / wall, 2), "contended": cpu / wall < CONTENDED * args.threads,
                   "load_1m_before": load[0] if load else None,
                   "images_per_s": round(images / wall, 1)}
            rows.append(row)
            common.log(f"repeat {r + 1} {c.key:>20}: {row['images_per_s']:8.1f} images/s "
                       f"({wall:.1f} s, cpu/wall {row['cpu_per_wall']}, load {row['load_1m_before']})")
    medians = []
    for c in ROUND + [OURS_PROGRESS]:
        mine = [row for row in rows if row["contestant"] == c.key]
        ips = [row["images_per_s"] for row in mine]
        medians.append({"contestant": c.key, "runner": c.label, "memory_format": c.memory_format,
                        "progress_bar": c.progress, "repeat": "median", "steps": args.steps, "images": images,
                        "seconds": round(common.median(row["seconds"] for row in mine), 3),
                        "cpu_seconds": round(common.median(row["cpu_seconds"] for row in mine), 3),
                        "cpu_per_wall": round(common.median(row["cpu_per_wall"] for row in mine), 2),
                        "load_1m_before": None, "images_per_s": round(common.median(ips), 1),
                        "images_per_s_min": min(ips), "images_per_s_max": max(ips), "runs": len(mine)})
    med = {row["contestant"]: row["images_per_s"] for row in medians}
    # Per-round ratios pair runs that ran back to back, a check on the ratio of medians under drift.
    paired = [a["images_per_s"] / b["images_per_s"] for a in rows for b in rows
              if a["contestant"] == OURS.key and b["contestant"] == PLAIN.key and a["repeat"] == b["repeat"]]
    summary = {
        "ratio_vs_plain_loop": round(med[OURS.key] / med[PLAIN.key], 3),
        "ratio_vs_plain_loop_contiguous": round(med[OURS.key] / med[PLAIN_CONTIGUOUS.key], 3),
        "images_per_s": med[OURS.key],
        "images_per_s_plain_loop": med[PLAIN.key],
        "images_per_s_plain_loop_contiguous": med[PLAIN_CONTIGUOUS.key],
        "images_per_s_contiguous": med[OURS_CONTIGUOUS.key],
        "images_per_s_progress_bar": med[OURS_PROGRESS.key],
        "ratio_vs_plain_loop_paired_median": round(common.median(paired), 3),
        "ratio_contiguous_vs_plain_loop_contiguous": round(med[OURS_CONTIGUOUS.key] / med[PLAIN_CONTIGUOUS.key], 3),
    }
    return rows + medians, summary


# -- the docs section -----------------------------------------------------------------------------
DESCRIPTION = """\
Images/s of a training step of the default conv VAE (`build_model("vae")`, 28×28, batches of 128, Adam)
on mnist-5k's 4,000 training digits, against a hand-written PyTorch loop of the same network and optimiser
in the same run. "Trainer.fit()" is the whole call timed wall-clock (batching, learning-rate schedule,
gradient clipping, NaN checks, logging and the final checkpoint included); the plain loop is
`randperm → index → .float()/255 → objective → zero_grad → backward → step`. The ratio against the plain
loop in the same memory format (channels_last, the Trainer's default) is the framework's overhead; the
issue aims at ≥ 0.95. Each contestant runs a few untimed warm-up steps first; then every contestant runs
once per round, in an order that rotates each round, and the figures are medians over rounds."""


def render(result: dict[str, Any]) -> str:
    s, rows = result["summary"], result["rows"]
    medians = [r for r in rows if r["repeat"] == "median"]
    plain_ips = {r["memory_format"]: r["images_per_s"] for r in medians if r["contestant"].startswith("plain")}
    table = [{**r, "vs_plain": r["images_per_s"] / plain_ips[r["memory_format"]],
              "range": f"{r['images_per_s_min']:.0f}–{r['images_per_s_max']:.0f}"} for r in medians]
    steps = medians[0]["steps"] if medians else "?"
    load = result["machine"].get("load_average", {})
    threads = result["machine"].get("threads") or 1
    runs = [{**r, "contended": r["cpu_per_wall"] < CONTENDED * threads} for r in rows if r["repeat"] != "median"]
    parts = [
        "## Training throughput (`train_throughput`)",
        DESCRIPTION,
        f"**Trainer.fit() trains at {s['images_per_s']:,.0f} images/s: {s['ratio_vs_plain_loop']:.3f}× a plain "
        f"loop in the same memory format (channels_last; target ≥ 0.95) and "
        f"{s['ratio_vs_plain_loop_contiguous']:.3f}× a plain loop in the default contiguous format.** "
        f"Paired by round, ours / plain channels_last has median {s['ratio_vs_plain_loop_paired_median']:.3f}.",
        f"Medians over rounds of {steps} steps each (`images/s` range is min–max over rounds):",
        common.markdown_table(table, ["runner", "memory_format", "images_per_s", "vs_plain", "range", "runs",
                                      "cpu_per_wall"],
                              {"runner": "contestant", "memory_format": "memory format",
                               "images_per_s": "images/s", "vs_plain": "× plain loop, same format",
                               "range": "images/s range", "cpu_per_wall": "CPU s / wall s"}),
        noise_note(runs, threads),
        "<details><summary>Every run</summary>\n\n" + common.markdown_table(
            runs, ["repeat", "runner", "memory_format", "seconds", "images_per_s", "cpu_per_wall", "contended",
                   "load_1m_before"],
            {"memory_format": "memory format", "images_per_s": "images/s", "cpu_per_wall": "CPU s / wall s",
             "load_1m_before": "load (1 min) before"}) + "\n\n</details>",
        common.provenance_markdown(result),
    ]
    if load:
        parts[-1] += (f"\n- Load average (1, 5, 15 min) at start {load.get('start')}, at end {load.get('end')}; "
                      f"the benchmark itself adds about {threads}, so more than that means other work shared "
                      "the cores (CPU s / wall s per run says which runs it hit).")
    return "\n\n".join(parts)


def noise_note(runs: list[dict[str, Any]], threads: int) -> str:
    """Say which runs another process slowed and how far clean rounds of one contestant disagree."""
    notes = []
    hit = [r for r in runs if r["contended"]]
    if hit:
        which = ", ".join(f"round {r['repeat']} {r['runner']} {r['memory_format']} "
                          f"({r['cpu_per_wall']} CPU s / wall s)" for r in hit)
        notes.append(f"{len(hit)} of {len(runs)} runs got less than {CONTENDED:.0%} of {threads} threads' CPU time, "
                     f"so another process was using the cores: {which}. The medians rest on the other rounds.")
    spreads = []
    for key in dict.fromkeys(r["contestant"] for r in runs):
        ips = [r["images_per_s"] for r in runs if r["contestant"] == key and not r["contended"]]
        if len(ips) > 1:
            spreads.append(max(ips) / min(ips) - 1)
    if spreads:
        notes.append(f"Among uncontended runs, rounds of the same contestant differ by up to {max(spreads):.0%} "
                     "in images/s: ratios closer to 1 than that are within the noise (more `--repeats` narrow it).")
    return " ".join(notes)


# -- main -----------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per run (default 150; --quick 6)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps per contestant first (default 10)")
    p.add_argument("--repeats", type=int, default=None, help="rounds over all contestants (default 3)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="mnist-5k", help="a 1×28×28 dataset name for load_dataset (train split)")
    p.add_argument("--quick", action="store_true",
                   help="smoke check: 6 steps, 2 warm-up, 1 round; writes to a temp folder unless --results-dir")
    common.add_output_arguments(p)
    args = p.parse_args(argv)
    common.fill_mode_defaults(args, {"steps": (150, 6), "warmup": (10, 2), "repeats": (3, 1)})
    common.check_minimums(p, args, {"steps": 1, "repeats": 1, "threads": 1, "batch_size": 1, "warmup": 0})
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results_dir, docs, _ = common.places_or_docs_only(NAME, render, args)

    from latentforge.data import load_dataset

    command = common.script_command(argv)
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.data, "train")
    if ds.shape != IMAGE_SHAPE:
        raise SystemExit(f"{args.data} has images of shape {ds.shape}; this benchmark needs {IMAGE_SHAPE}")
    load_start, date = common.load_average(), common.utc_now()
    rows, summary = measure(ds, args)
    load_end = common.load_average()
    result = common.make_result(
        NAME, summary=summary, rows=rows, threads=args.threads, date=date, command=command,
        machine_extra={"torch_threads": torch.get_num_threads(),
                       "load_average": {"start": load_start, "end": load_end}},
    )
    result["setup"] = {"model": MODEL, "image_shape": list(IMAGE_SHAPE), "data": f"{args.data} train ({len(ds)})",
                       "batch_size": args.batch_size, "optimizer": f"Adam lr={LR}", "steps": args.steps,
                       "warmup_steps": args.warmup, "repeats": args.repeats, "seed": args.seed}
    path = common.write_result(result, results_dir)
    common.sync_docs(results_dir, docs, renderers={NAME: render})  # this section, and any result without one
    print(f"ours {summary['images_per_s']:.1f} images/s; ratio vs plain loop (channels_last) "
          f"{summary['ratio_vs_plain_loop']:.3f}, vs plain contiguous {summary['ratio_vs_plain_loop_contiguous']:.3f}")
    print(f"wrote {path} and {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
