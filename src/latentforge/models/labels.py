"""The one check of class labels for conditional models (cvae, cgan), used by them and by the generate job."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

from ..errors import ConfigError, LatentforgeError


def class_labels(labels, n: int, num_classes: int, model_name: str, device: torch.device | str | None = None, *,
                 error: type[LatentforgeError] = ConfigError) -> torch.Tensor:
    """``labels`` (one class index or ``n`` of them: an int, a sequence or an integer tensor) as ``n`` int64
    class indices on ``device``; ``error`` (ConfigError for arguments, DataError for a dataset's labels) names
    what is wrong: not integers, out of 0..num_classes − 1, or neither one nor ``n`` of them."""
    rule = f"class indices 0..{num_classes - 1} for this {model_name} model"
    if isinstance(labels, torch.Tensor):
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
            raise error(f"Labels must be integer {rule}, got a tensor of {labels.dtype}.")
        values = labels.detach().flatten().long()
        bad = values[(values < 0) | (values >= num_classes)]
        if bad.numel():
            raise error(f"Labels must be {rule}, got {int(bad[0])!r}.")
    else:
        items = [labels] if isinstance(labels, numbers.Number) or not isinstance(labels, Sequence) else list(labels)
        for value in items:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < num_classes:
                raise error(f"Labels must be {rule}, got {value!r}.")
        values = torch.tensor([int(v) for v in items], dtype=torch.long)
    if values.numel() == 1:
        values = values.repeat(n)
    if values.numel() != n:
        raise error(f"Give one label or {n} labels (one per image), got {values.numel()}.")
    return values.to(device)
