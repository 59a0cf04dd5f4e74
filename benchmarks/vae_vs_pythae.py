"""latentforge against pythae 0.1.2: the same conv VAE, data, epochs, batch, optimiser and seed, in one run.

The network is latentforge's default conv VAE for 1×28×28 images with a Bernoulli decoder (32-d latent):
pythae gets the very same encoder and decoder modules, wrapped in its ``BaseEncoder``/``BaseDecoder``
(the encoder's scale head is handed over as ``log_covariance = 2 log std``), and both start from the same
initial weights. Data: MNIST binarised once with a fixed seed (train and test), so that the Bernoulli
likelihood is a real likelihood for both. Each library trains with its own trainer and default recipe:
latentforge's ``Trainer`` (warm-up + cosine learning rate, gradient clipping, channels_last) and pythae's
``BaseTrainer`` (constant learning rate; its default is 1e-4, and a second pythae run uses our peak rate
1e-3 so that the comparison does not rest on pythae's default rate alone). Both evaluate the test −ELBO
after each epoch, which is what the per-epoch times include.

Afterwards every trained network is evaluated by the same code (latentforge's, with pythae's weights
loaded into the identical modules): test ELBO, reconstruction MSE and the importance-sampled NLL with k
samples on the first ``--nll-images`` test images.

    python benchmarks/vae_vs_pythae.py --data-dir DIR/mnist                  # full run (pythae installed)
    python benchmarks/vae_vs_pythae.py --quick                                # smoke check on mnist-5k
    python benchmarks/vae_vs_pythae.py --docs-only

pythae is not a dependency of latentforge: ``pip install pythae==0.1.2 -c <(echo torch==2.13.0)`` (the
``make bench`` target does this) so that it does not pull another torch.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from latentforge.data import to_float

import common

NAME = "vae_vs_pythae"
IMAGE_SHAPE = (1, 28, 28)
PYTHAE_VERSION = "0.1.2"
PYTHAE_DEFAULT_LR = 1e-4  # pythae.trainers.BaseTrainerConfig.learning_rate


# -- data ------------------------------------------------------------------------------------------
def binarised(ds, seed: int, limit: int | None = None):
    """The split with every pixel drawn once as Bernoulli(grey level), as uint8 0/255 (a fixed binary set)."""
    images = ds.images[:limit] if limit else ds.images
    labels = None if ds.labels is None else (ds.labels[:limit] if limit else ds.labels)
    gen = torch.Generator().manual_seed(seed)
    bits = torch.rand(images.shape, generator=gen) < to_float(images)
    return dataclasses.replace(ds, images=bits.to(torch.uint8) * 255, labels=labels, likelihood_hint="bernoulli")


# -- the network, shared -------------------------------------------------------------------------
def build_ours(seed: int):
    from latentforge.models import build_model

    torch.manual_seed(seed)
    return build_model("vae", {"image_shape": IMAGE_SHAPE, "likelihood": "bernoulli"})


def pythae_model(ours, latent_dim: int):
    """A pythae VAE whose encoder and decoder are copies of ``ours``'s (same weights)."""
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            mean, raw = self.net(x).chunk(2, dim=1)
            std = torch.nn.functional.softplus(raw) + 1e-5  # latentforge's DiagonalGaussian scale
            return ModelOutput(embedding=mean, log_covariance=2 * std.log())

    class Decoder(BaseDecoder):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    config = VAEConfig(input_dim=IMAGE_SHAPE, latent_dim=latent_dim, reconstruction_loss="bce")
    return VAE(config, encoder=Encoder(copy.deepcopy(ours.encoder)), decoder=Decoder(copy.deepcopy(ours.decoder)))


# -- training ------------------------------------------------------------------------------------
def train_ours(train, test, args, seed: int) -> tuple[Any, list[dict[str, Any]], float]:
    from latentforge.jobs.evaluate import evaluator
    from latentforge.training import TrainConfig, Trainer

    model = build_ours(seed)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, eval_every=1,
                         threads=args.threads, seed=seed, device="cpu")
    curve: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="latentforge-bench-") as tmp:

        def on_log(event: str, record: dict) -> None:
            if event == "eval":  # train_seconds: the Trainer's wall clock since fit() began
                curve.append({"epoch": record["epoch"], "seconds": record["train_seconds"],
                              "test_neg_elbo": record["loss"]})

        trainer = Trainer(model, train, test, config, Path(tmp) / "run", progress=args.progress, on_log=on_log,
                          evaluate=evaluator(config))
        trainer.fit()
        total = trainer.train_seconds
    return model, curve, total


def train_pythae(ours_init, train, test, args, seed: int, lr: float) -> tuple[Any, list[dict[str, Any]], float]:
    from pythae.data.datasets import BaseDataset
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    model = pythae_model(ours_init, ours_init.latent_dim)
    curve: list[dict[str, Any]] = []
    start = [0.0]

    class Clock(TrainingCallback):
        def on_log(self, training_config, logs, **kwargs):
            curve.append({"epoch": kwargs.get("global_step"), "seconds": time.perf_counter() - start[0],
                          "test_neg_elbo": logs["eval_epoch_loss"]})

    def dataset(ds):
        x = to_float(ds.images)
        return BaseDataset(x, torch.zeros(len(x)))

    with tempfile.TemporaryDirectory(prefix="latentforge-bench-pythae-") as tmp:
        config = BaseTrainerConfig(output_dir=tmp, num_epochs=args.epochs, learning_rate=lr,
                                   per_device_train_batch_size=args.batch_size,
                                   per_device_eval_batch_size=args.batch_size, optimizer_cls="Adam",
                                   seed=seed, no_cuda=True)
        trainer = BaseTrainer(model, dataset(train), dataset(test), config, callbacks=[Clock()])
        start[0] = time.perf_counter()
        trainer.train()
        total = time.perf_counter() - start[0]
        trained = trainer._best_model  # what pythae saves as final_model (best test loss over epochs)
    return trained, curve, total


def as_ours(pythae_vae, seed: int):
    """pythae's trained encoder/decoder weights in latentforge's identical VAE, for one shared evaluator."""
    model = build_ours(seed)
    model.encoder.load_state_dict(pythae_vae.encoder.net.state_dict())
    model.decoder.load_state_dict(pythae_vae.decoder.net.state_dict())
    return model


# -- figures -------------------------------------------------------------------------------------
def epoch_seconds(curve: list[dict[str, Any]]) -> list[float]:
    times = [row["seconds"] for row in curve]
    return [b - a for a, b in zip([0.0] + times[:-1], times)]


def time_to_reach(curve: list[dict[str, Any]], target: float) -> float | None:
    """Wall seconds until the first epoch whose test −ELBO is at or below ``target`` (None if never)."""
    for row in curve:
        if row["test_neg_elbo"] <= target:
            return row["seconds"]
    return None


def shared_evaluation(model, test, args) -> dict[str, float]:
    from latentforge.jobs.evaluate import evaluate_model, importance_sampled_nll

    ev = evaluate_model(model, test, seed=args.seed)
    nll = importance_sampled_nll(model, test, k=args.k, max_images=args.nll_images, seed=args.seed,
                                 progress=args.progress)
    return {"test_neg_elbo": ev["loss"], "test_mse": ev["mse"], "nll": nll["nll"],
            "nll_bits_per_dim": nll["nll_bits_per_dim"], "nll_images": nll["images"],
            "active_units": nll.get("active_units"), "nll_seconds": nll["seconds"]}


def run(args) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    from latentforge.data import load_dataset

    torch.set_num_threads(args.threads)
    train = binarised(load_dataset(args.data, "train", data_dir=args.data_dir), args.seed + 1, args.train_images)
    test = binarised(load_dataset(args.data, "test", data_dir=args.data_dir), args.seed + 2, args.test_images)
    if train.shape != IMAGE_SHAPE:
        raise SystemExit(f"{args.data} has images of shape {train.shape}; this benchmark needs {IMAGE_SHAPE}")
    setup = {"data": f"{args.data}, binarised once (train seed {args.seed + 1}, test seed {args.seed + 2})",
             "train_images": len(train), "test_images": len(test), "epochs": args.epochs,
             "batch_size": args.batch_size, "optimizer": "Adam", "seed": args.seed, "threads": args.threads,
             "network": "latentforge build_model('vae', likelihood='bernoulli'), latent 32",
             "parameters": sum(p.numel() for p in build_ours(args.seed).parameters()),
             "nll_k": args.k, "nll_images": min(args.nll_images, len(test))}

    contestants = [("latentforge", "ours", None), ("pythae", "pythae", PYTHAE_DEFAULT_LR),
                   ("pythae", "pythae_lr_1e-3", args.lr)]
    rows: list[dict[str, Any]] = []
    for library, key, lr in contestants:
        common.log(f"training {key} ...")
        if library == "latentforge":
            model, curve, total = train_ours(train, test, args, args.seed)
            recipe = f"Adam, peak lr {args.lr}, warm-up + cosine, grad clip, channels_last"
        else:
            trained, curve, total = train_pythae(build_ours(args.seed), train, test, args, args.seed, lr)
            model = as_ours(trained, args.seed)
            recipe = f"Adam, lr {lr} constant" + (" (pythae default)" if lr == PYTHAE_DEFAULT_LR else "")
        per_epoch = epoch_seconds(curve)
        common.log(f"{key}: {total:.1f} s, epochs {[round(s, 1) for s in per_epoch]}, "
                   f"test -ELBO {[round(r['test_neg_elbo'], 2) for r in curve]}")
        common.log(f"evaluating {key} (NLL k={args.k} on {setup['nll_images']} images) ...")
        figures = shared_evaluation(model, test, args)
        common.log(f"{key}: {figures}")
        rows.append({"contestant": key, "library": library, "recipe": recipe, "train_seconds": round(total, 2),
                     "seconds_per_epoch": round(common.median(per_epoch), 2),
                     "epoch_seconds": [round(s, 2) for s in per_epoch],
                     "test_neg_elbo_by_epoch": [round(r["test_neg_elbo"], 3) for r in curve],
                     "seconds_by_epoch": [round(r["seconds"], 2) for r in curve],
                     **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items()}})

    ours = rows[0]
    for row in rows[1:]:
        target = row["test_neg_elbo_by_epoch"][-1]
        reached = time_to_reach([{"seconds": s, "test_neg_elbo": e} for s, e in
                                 zip(ours["seconds_by_epoch"], ours["test_neg_elbo_by_epoch"])], target)
        row["ours_time_to_this_final_elbo_s"] = None if reached is None else round(reached, 2)
        row["time_to_elbo_ratio"] = None if reached is None else round(reached / row["seconds_by_epoch"][-1], 3)
        row["epoch_time_ratio"] = round(ours["seconds_per_epoch"] / row["seconds_per_epoch"], 3)
    pythae = rows[1]
    summary = {
        "epoch_time_ratio": pythae["epoch_time_ratio"],
        "time_to_elbo_ratio": pythae["time_to_elbo_ratio"],
        "nll_ours": ours["nll"],
        "nll_pythae": pythae["nll"],
        "seconds_per_epoch_ours": ours["seconds_per_epoch"],
        "seconds_per_epoch_pythae": pythae["seconds_per_epoch"],
        "epoch_time_ratio_vs_pythae_lr_1e-3": rows[2]["epoch_time_ratio"],
        "time_to_elbo_ratio_vs_pythae_lr_1e-3": rows[2]["time_to_elbo_ratio"],
        "nll_pythae_lr_1e-3": rows[2]["nll"],
        "nll_k": args.k,
        "nll_images": setup["nll_images"],
    }
    return rows, summary, setup


# -- the docs section -----------------------------------------------------------------------------
def render(result: dict[str, Any]) -> str:
    s, rows, setup = result["summary"], result["rows"], result.get("setup", {})
    met = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    t2e = s["time_to_elbo_ratio"]
    lines = [
        "## latentforge vs pythae (`vae_vs_pythae`)",
        __doc__.split("\n\n")[0].strip() + "\n\n" + " ".join(__doc__.split("\n\n")[1:3]).strip(),
        f"Setup: {setup.get('data')}; {setup.get('train_images')} training and {setup.get('test_images')} test "
        f"images; {setup.get('epochs')} epochs, batch {setup.get('batch_size')}, Adam, seed {setup.get('seed')}, "
        f"{setup.get('threads')} CPU thread(s); {setup.get('parameters'):,} parameters. NLL: k = {s['nll_k']} "
        f"importance samples on the first {s['nll_images']} test images.",
        f"**Seconds per epoch, ours ÷ pythae: {s['epoch_time_ratio']:.3f}** "
        f"(target ≤ 0.9: {met(s['epoch_time_ratio'] <= 0.9)}). "
        f"**Wall time to reach pythae's final test ELBO, ours ÷ pythae's: "
        f"{'never reached' if t2e is None else f'{t2e:.3f}'}** (target ≤ 0.5: {met(t2e is not None and t2e <= 0.5)}). "
        f"NLL: ours {s['nll_ours']:.2f}, pythae {s['nll_pythae']:.2f} nats "
        f"({met(s['nll_ours'] <= s['nll_pythae'])}: equal or better). Against pythae at our peak learning rate "
        f"(1e-3): epoch-time ratio {s['epoch_time_ratio_vs_pythae_lr_1e-3']}, time-to-ELBO ratio "
        f"{s['time_to_elbo_ratio_vs_pythae_lr_1e-3']}, its NLL {s['nll_pythae_lr_1e-3']:.2f} nats.",
        common.markdown_table(rows, ["contestant", "recipe", "seconds_per_epoch", "train_seconds", "test_neg_elbo",
                                     "nll", "nll_bits_per_dim", "test_mse", "active_units", "epoch_time_ratio",
                                     "time_to_elbo_ratio"],
                              {"seconds_per_epoch": "s/epoch (median)", "train_seconds": "total s",
                               "test_neg_elbo": "test −ELBO (nats)", "nll": f"NLL k={s['nll_k']} (nats)",
                               "nll_bits_per_dim": "bits/dim", "test_mse": "recon. MSE",
                               "active_units": "active units", "epoch_time_ratio": "ours ÷ this, s/epoch",
                               "time_to_elbo_ratio": "ours ÷ this, time to its final ELBO"}),
        "Test −ELBO after each epoch (each trainer's own single-sample estimate), with the wall seconds at that "
        "point:",
        common.markdown_table([{"contestant": r["contestant"],
                                "curve": ", ".join(f"{e:.2f} @ {t:.0f} s" for e, t in
                                                   zip(r["test_neg_elbo_by_epoch"], r["seconds_by_epoch"]))}
                               for r in rows]),
        *(["Notes on this run:\n\n" + "\n".join(f"- {note}" for note in result["notes"])]
          if result.get("notes") else []),
        common.provenance_markdown(result) + load_line(result),
    ]
    return "\n\n".join(lines)


def load_line(result: dict[str, Any]) -> str:
    load = result.get("machine", {}).get("load_average") or {}
    if not load:
        return ""
    return (f"\n- Load average (1, 5, 15 min) at start {load.get('start')}, at end {load.get('end')} "
            f"on {result['machine'].get('logical_cpus')} logical CPUs: more than the benchmark's own thread means "
            "other work shared the cores while it ran.")


# -- main -----------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="mnist", help="a 1×28×28 dataset (default mnist)")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files")
    p.add_argument("--epochs", type=int, default=None, help="default 5 (--quick 1)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3, help="latentforge's peak learning rate (its default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-images", type=int, default=None, help="use only the first N training images")
    p.add_argument("--test-images", type=int, default=None, help="use only the first N test images")
    p.add_argument("--k", type=int, default=None, help="importance samples for the NLL (default 1000; --quick 8)")
    p.add_argument("--nll-images", type=int, default=None, help="test images for the NLL (default 500)")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    p.add_argument("--quick", action="store_true", help="smoke check on mnist-5k, output in a temp folder")
    common.add_output_arguments(p)
    args = p.parse_args(argv)
    if args.quick:
        args.data = "mnist-5k"
        args.train_images = args.train_images or 512
        args.test_images = args.test_images or 256
    common.fill_mode_defaults(args, {"epochs": (5, 1), "k": (1000, 8), "nll_images": (500, 32)})
    common.check_minimums(p, args, dict.fromkeys(("epochs", "batch_size", "threads", "k", "nll_images"), 1))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results_dir, docs, _ = common.places_or_docs_only(NAME, render, args)
    from importlib.metadata import version
    from importlib.util import find_spec

    if find_spec("pythae") is None:
        raise SystemExit("pythae is not installed: pip install pythae==0.1.2 -c <(echo torch==2.13.0)")

    command = common.script_command(argv)
    load_start, date = common.load_average(), common.utc_now()
    rows, summary, setup = run(args)
    result = common.make_result(NAME, summary=summary, rows=rows, threads=args.threads, date=date, command=command,
                                machine_extra={"load_average": {"start": load_start, "end": common.load_average()}},
                                versions_extra={"pythae": version("pythae")})
    result["setup"] = setup
    print(f"epoch_time_ratio {summary['epoch_time_ratio']}, time_to_elbo_ratio {summary['time_to_elbo_ratio']}, "
          f"NLL ours {summary['nll_ours']:.2f} vs pythae {summary['nll_pythae']:.2f}")
    common.publish(NAME, result, render, results_dir, docs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
