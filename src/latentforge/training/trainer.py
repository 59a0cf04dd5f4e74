"""The Trainer: one loop for every single-player model (Adam, clipping, schedule, eval, checkpoints)."""

from __future__ import annotations

import copy
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from ..data import ImageDataset, iterate_batches, num_batches
from ..devices import resolve_device  # the one resolver: unknown or absent devices are a ConfigError
from ..errors import TrainingError
from ..io import atomic_write_bytes
from ..models import GenerativeModel, latent_of
from ..nn.ema import update_ema
from .checkpoint import find_checkpoint, read_checkpoint, remove_stale_temp_dirs, write_checkpoint
from .events import EventHandler, print_event
from .lock import RunLock
from .logging import MetricsLog, truncate_metrics
from .train_config import TrainConfig

# Posterior collapse: a VAE whose training KL stays below this many nats per image over a whole epoch (after
# any KL warm-up, and after the first epoch, in which a fresh encoder still sits at the prior) encodes next to
# nothing about its input.
COLLAPSE_KL = 0.1


class Trainer:
    """Trains ``model`` on ``train_data``, evaluating on ``test_data``; everything lands in ``run_dir``.

    ``run_dir/model`` is both the saved model and the resumable checkpoint; ``run_dir/metrics.jsonl``
    holds one record per logged step and per evaluation. ``evaluate(model, test_data)`` gives the test
    figures at the end of an evaluated epoch (None: no evaluation); the orchestration above passes it in
    (``latentforge.jobs.evaluate.evaluator(config)``), so the one evaluation loop lives with the jobs.
    ``recipe`` (the run config as plain values) is
    written to ``run_dir/run.yaml`` once the run directory is known to be free (or resumable). Messages (a
    start summary, a line per epoch, warnings) go to ``on_event(kind, info)``; by default to stderr.
    ``should_stop()`` is polled between steps: when it returns True the run checkpoints and returns, as at
    ``max_steps`` (a web app's cancel button).
    """

    def __init__(self, model: GenerativeModel, train_data: ImageDataset, test_data: ImageDataset | None,
                 config: TrainConfig, run_dir: str | Path, *, run_info: dict[str, Any] | None = None,
                 progress: bool = True, on_log: Callable[[str, dict], None] | None = None,
                 on_event: EventHandler | None = None, recipe: dict[str, Any] | None = None,
                 evaluate: Callable[[GenerativeModel, ImageDataset], dict[str, float]] | None = None,
                 should_stop: Callable[[], bool] | None = None):
        config.validate()
        self.config = config
        self.device = resolve_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.model = model.to(self.device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # Weight averaging (train.ema_decay): the average is what gets evaluated and saved.
        self.ema = copy.deepcopy(self.model) if config.ema_decay else None
        self.train_data, self.test_data = train_data, test_data
        self.run_dir = Path(run_dir)
        self.run_info = run_info or {}
        self.progress, self.on_log = progress, on_log
        self.on_event = on_event or print_event
        self.recipe = recipe
        self.evaluate = evaluate
        self.should_stop = should_stop
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.base_lrs: dict[str, float] = {}
        for player in model.players:
            settings = {"lr": config.lr, "weight_decay": config.weight_decay, **model.optimizer_settings(player)}
            self.optimizers[player] = torch.optim.Adam(model.player_parameters(player), **settings)
            self.base_lrs[player] = settings["lr"]
        self.steps_per_epoch = num_batches(len(train_data), config.batch_size)
        # The schedule's horizon is the full run even when max_steps stops it early, so that a stopped and
        # resumed run follows the same learning rates as an uninterrupted one.
        self.total_steps = config.epochs * self.steps_per_epoch
        self.step = 0
        self.last_eval: dict[str, float] = {}
        self.last_train: dict[str, float] = {}  # mean training figures of the last (possibly partial) epoch
        self._seconds_before = 0.0  # training wall seconds of earlier sessions of this run (resume)
        self._session_start = time.perf_counter()

    @property
    def evaluation_model(self) -> GenerativeModel:
        """The weights that are evaluated and saved: their moving average when ``ema_decay`` is set."""
        return self.model if self.ema is None else self.ema

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "model"

    def _batch_to_device(self, x: torch.Tensor, y: torch.Tensor | None):
        x = x.to(self.device, non_blocking=True)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, (None if y is None else y.to(self.device, non_blocking=True))

    def fit(self, resume: bool = False) -> dict[str, float]:
        """Train to the configured number of epochs (or ``max_steps``); returns the last test metrics.

        The run directory is locked for the whole call (a second trainer gets RunLockedError), and the
        temporary directories of checkpoint writes killed in an earlier session are removed first."""
        with RunLock(self.run_dir):
            remove_stale_temp_dirs(self.checkpoint_dir)
            return self._fit(resume)

    def _fit(self, resume: bool) -> dict[str, float]:
        cfg = self.config
        if resume:
            meta = read_checkpoint(self.checkpoint_dir, self.evaluation_model, self.optimizers,
                                   training_model=None if self.ema is None else self.model)
            self.step = int(meta["step"])
            self.last_eval = meta.get("last_eval", {})
            self._seconds_before = float(meta.get("train_seconds", 0.0))
            truncate_metrics(self.run_dir / "metrics.jsonl", self.step)
        elif find_checkpoint(self.checkpoint_dir) is not None:
            raise TrainingError(
                f"{self.run_dir} already holds a training run; pass --resume to continue it or choose another --out."
            )
        else:
            torch.manual_seed(cfg.seed)
        self._write_recipe()
        self.on_event("start", self._start_summary())
        log = MetricsLog(self.run_dir / "metrics.jsonl")
        self._session_start = time.perf_counter()
        try:
            self._loop(log)
        finally:
            log.close()
        return self._result()

    def _write_recipe(self) -> None:
        if self.recipe is not None:
            atomic_write_bytes(self.run_dir / "run.yaml", yaml.safe_dump(self.recipe, sort_keys=False).encode())

    def _start_summary(self) -> dict[str, Any]:
        cfg, model = self.config, self.model
        return {
            "model": model.name, "parameters": model.trained_parameter_count(),
            "likelihood": getattr(model.config, "likelihood", None),
            "train_images": len(self.train_data), "test_images": len(self.test_data or ()),
            "device": str(self.device), "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr,
            "steps": self.total_steps, "start_step": self.step, "max_steps": cfg.max_steps,
        }

    @property
    def stopped_before_end(self) -> bool:
        return self.step < self.total_steps

    def _result(self) -> dict[str, Any]:
        """The last test figures; a run stopped before its end adds its last training figures and step."""
        if not self.stopped_before_end:
            return self.last_eval
        train = {f"train_{k}": v for k, v in self.last_train.items() if not k.endswith("grad_norm")}
        return {**self.last_eval, **train, "step": self.step, "total_steps": self.total_steps}

    def _loop(self, log: MetricsLog) -> None:
        cfg, spe = self.config, self.steps_per_epoch
        self.model.train()
        stopped_early = False
        for epoch in range(self.step // spe, cfg.epochs):
            start = self.step - epoch * spe
            bar = tqdm(total=spe, initial=start, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not self.progress,
                       unit="batch", dynamic_ncols=True, leave=False,
                       mininterval=0.1 if sys.stderr.isatty() else 15.0)  # logs get a line every 15 s, not every step
            window, epoch_parts = RunningMeans(), RunningMeans()  # since the last record; over the epoch
            tick, images_since, epoch_start = time.perf_counter(), 0, time.perf_counter()
            for x, y in iterate_batches(self.train_data, cfg.batch_size, shuffle=True, seed=cfg.seed,
                                        epoch=epoch, start_batch=start):
                if (cfg.max_steps and self.step >= cfg.max_steps) or (self.should_stop and self.should_stop()):
                    stopped_early = True
                    break
                if cfg.binarize == "dynamic":
                    x = torch.bernoulli(x)  # a fresh binarisation every time an image is seen
                parts = self._train_step(*self._batch_to_device(x, y))
                window.add(parts)
                epoch_parts.add(parts)
                images_since += x.shape[0]
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step % spe == 0:
                    elapsed = time.perf_counter() - tick
                    record = window.means()
                    record.update(epoch=epoch + 1, images_per_s=images_since / max(elapsed, 1e-9),
                                  **self._learning_rates())
                    log.write("train", self.step, record)
                    losses = {k: f"{v:.3g}" for k, v in record.items() if k.endswith("loss")}
                    bar.set_postfix(**losses, img_s=f"{record['images_per_s']:.0f}")
                    window = RunningMeans()
                    tick, images_since = time.perf_counter(), 0
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step % spe:
                    self._checkpoint(epoch)
            bar.close()
            if epoch_parts:
                self.last_train = epoch_parts.means()
            if stopped_early:
                break
            if start == 0:  # a whole epoch was seen in this session
                self._check_collapse(epoch, log)
            last_epoch = epoch + 1 == cfg.epochs
            evaluated = self.test_data is not None and self.evaluate is not None and (
                last_epoch or bool(cfg.eval_every and (epoch + 1) % cfg.eval_every == 0))
            if evaluated:
                self.last_eval = self.evaluate(self.evaluation_model, self.test_data)
                seconds = round(self.train_seconds, 2)
                log.write("eval", self.step, {"epoch": epoch + 1, "split": "test", "train_seconds": seconds,
                                              **self.last_eval})
                if self.on_log:
                    self.on_log("eval", {"epoch": epoch + 1, "train_seconds": seconds, **self.last_eval})
            self.on_event("epoch", {"epoch": epoch + 1, "epochs": cfg.epochs, "step": self.step,
                                    "train": self.last_train, "test": self.last_eval if evaluated else {},
                                    "seconds": time.perf_counter() - epoch_start})
            if last_epoch:
                self._fit_prior()
            self._checkpoint(epoch + 1 if self.step % spe == 0 else epoch)
            if cfg.max_steps and self.step >= cfg.max_steps:
                break
        if stopped_early:
            self._checkpoint(self.step // spe)
        if self.stopped_before_end:
            self.on_event("stopped", {"step": self.step, "total_steps": self.total_steps, "train": self.last_train,
                                      "test": self.last_eval, "checkpoint": str(self.checkpoint_dir)})

    def _check_collapse(self, epoch: int, log: MetricsLog) -> None:
        """Warn (a message and a metrics record) when a VAE's KL stayed near zero over a whole epoch."""
        kl = next((v for k, v in self.last_train.items() if k == "kl" or k.endswith("_kl")), None)
        warmup = getattr(self.model.config, "kl_warmup_steps", 0)
        if kl is None or kl >= COLLAPSE_KL or epoch == 0 or epoch * self.steps_per_epoch < warmup:
            return
        info = {"warning": "posterior_collapse", "epoch": epoch + 1, "kl": kl}
        log.write("warning", self.step, info)
        self.on_event("warning", info)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        cfg = self.config
        factor = cfg.learning_rate(self.step, self.total_steps) / cfg.lr
        single = len(self.optimizers) == 1
        parts: dict[str, float] = {}
        for player, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.base_lrs[player] * factor
            out = self.model((x, y), self.step, player=player)
            if out is None:
                continue
            loss = out["loss"]
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"Non-finite {'' if single else player + ' '}loss ({float(loss.detach())}) "
                    f"at step {self.step + 1}; "
                    f"training stopped. The last good checkpoint is kept in {self.checkpoint_dir} (if one was "
                    "written). Lower --lr, set train.grad_clip, or check the data for NaNs, then resume with --resume."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            prefix = "" if single else f"{player}_"
            parts.update({prefix + k: float(v.detach()) for k, v in out.items()})
            if cfg.grad_clip:
                params = [p for group in optimizer.param_groups for p in group["params"]]
                norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
                parts[prefix + "grad_norm"] = norm
                if not math.isfinite(norm):
                    raise TrainingError(
                        f"Non-finite gradient at step {self.step + 1}; training stopped with the last good checkpoint "
                        f"kept in {self.checkpoint_dir}. Lower --lr and resume with --resume."
                    )
            optimizer.step()
        self.model.after_step(self.step)
        if self.ema is not None:  # the first step's weights start the average (decay 0 copies them)
            update_ema(self.ema, self.model, cfg.ema_decay if self.step else 0.0)
        self.step += 1
        return parts

    @property
    def train_seconds(self) -> float:
        """Wall seconds this run has trained so far (evaluation and checkpoints included), across resumes."""
        return self._seconds_before + time.perf_counter() - self._session_start

    def _learning_rates(self) -> dict[str, float]:
        """The rate each optimiser used last: ``lr``, or ``<player>_lr`` for adversarial models."""
        single = len(self.optimizers) == 1
        return {"lr" if single else f"{player}_lr": optimizer.param_groups[0]["lr"]
                for player, optimizer in self.optimizers.items()}

    @torch.no_grad()
    def _fit_prior(self) -> None:
        """Give the model the training latents to fit its sampling prior on (the AE's Gaussian, the VQ-VAE's
        PixelCNN)."""
        model = self.evaluation_model
        if not model.fits_prior:
            return
        was_training = model.training
        model.eval()
        latents = [latent_of(model.encode(self._batch_to_device(x, None)[0])).float().cpu()
                   for x, _ in iterate_batches(self.train_data, self.config.eval_batch_size, shuffle=False)]
        model.fit_prior(torch.cat(latents))
        model.train(was_training)

    def _checkpoint(self, epochs_done: int) -> None:
        cfg = self.config
        training_info = {
            **self.run_info,
            "steps": self.step,
            "epochs_completed": epochs_done,
            "train": asdict(cfg),
            "device": str(self.device),  # the one "auto" resolved to
            "final_metrics": self.last_eval,
            "train_seconds": round(self.train_seconds, 2),
        }
        write_checkpoint(self.checkpoint_dir, self.evaluation_model, self.optimizers,
                         {"step": self.step, "epoch": epochs_done, "last_eval": self.last_eval,
                          "train_seconds": training_info["train_seconds"]}, training_info,
                         training_model=None if self.ema is None else self.model)


class RunningMeans:
    """Means of training figures over some steps, per key (a player may skip steps, e.g. n_critic)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, parts: dict[str, float]) -> None:
        for key, value in parts.items():
            self.sums[key] += value
            self.counts[key] += 1

    def __bool__(self) -> bool:
        return bool(self.counts)

    def means(self) -> dict[str, float]:
        return {key: value / self.counts[key] for key, value in self.sums.items()}
