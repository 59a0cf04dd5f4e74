"""Quality measures: reconstruction error (MSE/PSNR) and likelihood figures in nats and bits/dim."""

from .evaluation import evaluate_model
from .reconstruction import psnr

__all__ = ["evaluate_model", "psnr"]
