"""Exponential moving average of a network's weights: the one mechanism behind GAN generator averages
(Yazıcı et al., 2019) and the Trainer's ``train.ema_decay`` (a plain function on two modules: no wrapper
module, so the average saves and loads like any model)."""

from __future__ import annotations

import torch
from torch import nn


def ema_decay(decay: float, updates: int) -> float:
    """The decay for the ``updates``-th update, min(decay, (1 + t)/(10 + t)).

    The warm-up (as in TensorFlow's ExponentialMovingAverage with ``num_updates``) keeps the average from
    clinging to the random initial weights in short runs; it changes nothing once t ≫ 1/(1 − decay).
    """
    return min(decay, (1 + updates) / (10 + updates))


@torch.no_grad()
def update_ema(average: nn.Module, source: nn.Module, decay: float) -> None:
    """average ← decay · average + (1 − decay) · source, for parameters and float buffers (batch-norm
    statistics); integer buffers (batch counters) are copied."""
    for a, s in zip(average.parameters(), source.parameters()):
        a.lerp_(s, 1 - decay)
    for a, s in zip(average.buffers(), source.buffers()):
        if a.is_floating_point():
            a.lerp_(s, 1 - decay)
        else:
            a.copy_(s)
