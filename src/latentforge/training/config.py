"""Training settings. Defaults train the default conv VAE well on a laptop CPU."""

from __future__ import annotations

import dataclasses
import math

from ..errors import ConfigError

SCHEDULES = ("constant", "cosine")
BINARIZE = ("none", "dynamic")


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"  # learning rate: constant, or cosine decay to lr_min_ratio·lr
    lr_min_ratio: float = 0.05
    warmup_steps: int = 100  # linear learning-rate warm-up
    grad_clip: float = 200.0  # max global gradient norm (losses are nats per image); 0 disables
    seed: int = 0
    eval_every: int = 1  # epochs between test-split evaluations; 0 = only at the end
    eval_batch_size: int = 500
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints; 0 = at each epoch end only
    max_steps: int = 0  # stop (and checkpoint) after this many steps in total; 0 = no limit
    log_every: int = 50  # steps between training-metric records
    channels_last: bool = True  # NHWC memory format; see docs/benchmarks.md for its measured effect
    threads: int = 0  # torch CPU threads; 0 = torch's default
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    # "dynamic": training pixels are sampled as Bernoulli(grey level) at every step and the test split is
    # binarised once with a fixed seed: the protocol behind published MNIST likelihoods.
    binarize: str = "none"
    # A saved model (or run folder) whose weights start this run instead of a random initialisation:
    # fine-tuning, e.g. a trained vae continued under the iwae bound. Ignored when resuming.
    init_from: str | None = None
    # Polyak averaging: the trainer keeps an exponential moving average of the weights with this decay per
    # step, and evaluation and the saved model use the average (NVAE, Vahdat & Kautz 2020, uses 0.9999).
    # 0 = off. The raw training weights are kept in the checkpoint so that --resume continues exactly.
    ema_decay: float = 0.0

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be ≥ 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Unknown schedule {self.schedule!r}; choose one of {SCHEDULES}.")
        if min(self.warmup_steps, self.checkpoint_every, self.max_steps, self.eval_every, self.threads) < 0:
            raise ConfigError("warmup_steps, checkpoint_every, max_steps, eval_every and threads must be ≥ 0")
        if self.binarize not in BINARIZE:
            raise ConfigError(f"Unknown binarize {self.binarize!r}; choose one of {BINARIZE}.")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1) (0 turns averaging off), got {self.ema_decay}")
        if self.log_every < 1:
            raise ConfigError("log_every must be ≥ 1")

    def learning_rate(self, step: int, total_steps: int) -> float:
        """Learning rate at ``step``: a pure function of the step, so resuming needs no scheduler state."""
        if self.warmup_steps and step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "constant":
            return self.lr
        span = max(1, total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        low = self.lr * self.lr_min_ratio
        return low + 0.5 * (self.lr - low) * (1 + math.cos(math.pi * progress))
