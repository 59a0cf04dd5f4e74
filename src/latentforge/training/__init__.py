"""Training: the Trainer, its config, checkpoints and metric logs."""

from .checkpoint import find_checkpoint, read_checkpoint, write_checkpoint
from .logging import MetricsLog, read_metrics
from .train_config import TrainConfig
from .trainer import Trainer, resolve_device

__all__ = ["MetricsLog", "TrainConfig", "Trainer", "find_checkpoint", "read_checkpoint", "read_metrics",
           "resolve_device", "write_checkpoint"]
