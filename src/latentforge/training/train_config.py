"""Training settings. Defaults train the default conv VAE well on a laptop CPU."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from ..errors import ConfigError
from ..nn.schedules import cosine_decay
from ..validation import (
    MAX_BATCH,
    MAX_SEED,
    MAX_STEPS,
    Limit,
    above,
    at_least,
    check_fields,
    fraction,
)

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

    limits: ClassVar[dict[str, Limit]] = {
        "epochs": at_least(1, 10**6),
        "batch_size": at_least(1, MAX_BATCH),
        "lr": above(0, 10),
        "weight_decay": at_least(0, 10),
        "lr_min_ratio": fraction(),
        "warmup_steps": at_least(0, MAX_STEPS),
        "grad_clip": at_least(0),
        "seed": at_least(0, MAX_SEED),
        "eval_every": at_least(0, 10**6),
        "eval_batch_size": at_least(1, MAX_BATCH),
        "checkpoint_every": at_least(0, MAX_STEPS),
        "max_steps": at_least(0, MAX_STEPS),
        "log_every": at_least(1, MAX_STEPS),
        "threads": at_least(0, 4096),
        "ema_decay": fraction(high_open=True),
    }

    def validate(self) -> None:
        check_fields(self, "train")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Unknown train.schedule {self.schedule!r}; choose one of {SCHEDULES}.")
        if self.binarize not in BINARIZE:
            raise ConfigError(f"Unknown train.binarize {self.binarize!r}; choose one of {BINARIZE}.")

    def learning_rate(self, step: int, total_steps: int) -> float:
        """Learning rate at ``step``: a pure function of the step, so resuming needs no scheduler state."""
        if self.warmup_steps and step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "constant":
            return self.lr
        low = self.lr * self.lr_min_ratio
        return low + (self.lr - low) * cosine_decay(step - self.warmup_steps, total_steps - self.warmup_steps)
