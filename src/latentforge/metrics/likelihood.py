"""Likelihood formulas: nats to bits per dimension, a chunked log-mean-exp, active latent units."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. (2016): a unit is active if Cov_x(E_q[z_d|x]) > 0.01


def bits_per_dim(nats: float, image_shape: Sequence[int]) -> float:
    """A negative log-likelihood in nats per image as bits per pixel channel."""
    return nats / (math.prod(image_shape) * math.log(2))


def log_mean_exp(chunks: Iterable[torch.Tensor], count: int) -> torch.Tensor:
    """log (1/count) Σ_i exp(w_i) over dim 0 of the chunks of weights (each n_j×N, Σ n_j = count), merged by
    a running logsumexp in float64, so memory stays bounded however many weights there are."""
    running = None
    for w in chunks:
        part = torch.logsumexp(w.double(), dim=0)
        running = part if running is None else torch.logaddexp(running, part)
    if running is None:
        raise ValueError("log_mean_exp needs at least one chunk of weights.")
    return running - math.log(count)


def active_units(means: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """How many latent dimensions have Cov_x(E_q[z_d|x]) > ``threshold`` over the images (rows of ``means``)."""
    if means.shape[0] < 2:
        return 0
    return int((means.double().var(dim=0, unbiased=True) > threshold).sum())


def active_units_from_moments(total: torch.Tensor, squares: torch.Tensor, count: int,
                              threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """:func:`active_units` from the sums of the posterior means and of their squares over ``count`` images."""
    variance = (squares - total.pow(2) / count) / (count - 1)  # unbiased, as active_units uses
    return int((variance > threshold).sum())
